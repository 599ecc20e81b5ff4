/*
 * row_access.h: the per-call path's reads and row changes without a plan (see row_access.c).
 */
#ifndef CCROUTE_ROW_ACCESS_H
#define CCROUTE_ROW_ACCESS_H

#include "postgres.h"

#include "access/genam.h"
#include "access/tableam.h"
#include "executor/executor.h"
#include "nodes/lockoptions.h"
#include "utils/rel.h"

#define ROW_MAX_RELS 5

typedef struct RowRel
{
	Relation	rel;
	ResultRelInfo *rri;			/* NULL for a table only read */
	TupleTableSlot *found;		/* the row read or locked */
	TupleTableSlot *next;		/* the row to write */
	Bitmapset  *changed;		/* the columns row_set changed in next (as updatedCols) */
	struct ModifyTableState *routing_node;	/* a partitioned table's tuple routing */
	struct PartitionTupleRouting *routing;
} RowRel;

typedef struct RowWork
{
	EState	   *estate;
	EPQState	epq;
	int			nrels;
	RowRel		rels[ROW_MAX_RELS];
	MemoryContext cxt;
} RowWork;

/* Opens the tables (ccroute's, by name; writable[i]: rows of it are changed) under a new
 * snapshot that sees the transaction's earlier work. rels[i] is tables[i]. */
extern void row_work_begin(RowWork *w, int n, const char *const *tables, const bool *writable);
/* A new snapshot, as a next statement would take, seeing what came before (SPI statements
 * run in between included). */
extern void row_work_refresh(RowWork *w);
/* Fires the row triggers queued so far, as at the end of a statement (before the caller
 * changes what they would see, such as the tenant's context). */
extern void row_work_fire(RowWork *w);
/* Fires the queued row triggers and closes everything. */
extern void row_work_end(RowWork *w);

/* A relation of ccroute's (an index, a sequence) by its name. */
extern Oid	row_relid(const char *name);
/* A column's number by its name (an error if there is none). */
extern AttrNumber row_att(RowRel *r, const char *name);

/* Reads into r->found the row whose first nkeys index columns equal keys; false if none. */
extern bool row_fetch(RowWork *w, RowRel *r, Oid index, int nkeys, const Datum *keys);

/* An ordered scan of an index whose first nkeys columns equal keys. */
extern IndexScanDesc row_scan_begin(RowWork *w, RowRel *r, Oid index, int nkeys, const Datum *keys);
extern bool row_scan_next(IndexScanDesc scan, RowRel *r);
extern void row_scan_end(IndexScanDesc scan);

/* Locks the row in r->found for update and reads its latest version into it. LockWaitSkip:
 * false when another transaction holds it; LockWaitBlock: waits. false too when the row was
 * deleted meanwhile. */
extern bool row_lock(RowWork *w, RowRel *r, LockWaitPolicy wait);

/* The column of r->found, and of r->next, the row to write (a copy of the found one after
 * row_next_from_found, empty after row_next_empty). */
extern Datum row_get(RowRel *r, AttrNumber att, bool *isnull);
extern void row_next_from_found(RowRel *r);
extern void row_next_empty(RowRel *r);
extern void row_set(RowRel *r, AttrNumber att, Datum value, bool isnull);
/* The same, by column name. */
extern Datum row_get_col(RowRel *r, const char *column, bool *isnull);
extern void row_set_col(RowRel *r, const char *column, Datum value, bool isnull);

/* Writes r->next: as a new row, or over the locked r->found; or deletes r->found. Constraints,
 * indexes and row triggers as an INSERT, UPDATE or DELETE would keep them; row-level security
 * does not apply (the caller names the tenant in its keys). */
extern void row_insert(RowWork *w, RowRel *r);
extern void row_update(RowWork *w, RowRel *r);
extern void row_delete(RowWork *w, RowRel *r);

/* Text datum equality with a C string. */
extern bool row_text_is(Datum d, const char *s);

#endif
