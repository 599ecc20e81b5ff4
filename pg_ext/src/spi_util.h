/*
 * spi_util.h: what the router's C code needs around SPI: plans prepared once and kept, and
 * the columns of the current result read as C values (NULL reads as 0).
 */
#ifndef CCROUTE_SPI_UTIL_H
#define CCROUTE_SPI_UTIL_H

#include "postgres.h"

#include "executor/spi.h"

/* A generic plan, kept for the backend's life (see spi_util.c for why generic). */
extern SPIPlanPtr ccroute_prepare_kept(const char *sql, int nargs, Oid *types);

static inline Datum
col(int row, int c, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, c, isnull);
}

static inline int64
col_int8(int row, int c)
{
	bool		isnull;
	Datum		d = col(row, c, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static inline int
col_int4(int row, int c)
{
	bool		isnull;
	Datum		d = col(row, c, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/* The column as text, palloc'd in the current context; NULL for NULL. */
static inline char *
col_text(int row, int c)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, c);
}

#endif
