/*
 * row_access.c: the per-call path's reads and row changes without a plan.
 *
 * Each statement that goes through SPI, even with a plan kept for the backend's life, pays
 * the executor's start and end: a node tree built, expression states compiled, row-level
 * security quals added, check constraints and trigger conditions parsed again from their
 * stored text. The router and the end of a call are a handful of rows read and changed by
 * key; in a perf profile of whole calls at one client, their statements' start-up, joins and
 * expressions took more time than the rows' own reads and writes.
 *
 * So the few statements of the per-call path are done here the way logical replication
 * applies a row change (PostgreSQL's execReplication.c, whose functions these call): rows
 * are found through an index by key, locked with the executor's own table access calls, and
 * written by ExecSimpleRelationInsert/Update/Delete, which check the constraints, keep every
 * index (partial ones too) and queue the row triggers, fired at row_work_end as at the end of
 * a statement. Inserts into a partitioned table go through the executor's tuple routing.
 *
 * Row-level security does not apply here: these functions see every tenant's rows. They are
 * called only from the router's and the events' SECURITY DEFINER functions, which name the
 * tenant in every key they look up (the dialed number's tenant, or the proxy's event's).
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/execPartition.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "row_access.h"
#include "row_exprs.h"

static Oid
ccroute_namespace(void)
{
	return get_namespace_oid("ccroute", false);
}

Oid
row_relid(const char *name)
{
	Oid			oid = get_relname_relid(name, ccroute_namespace());

	if (!OidIsValid(oid))
		elog(ERROR, "ccroute: relation \"%s\" is missing", name);
	return oid;
}

AttrNumber
row_att(RowRel *r, const char *name)
{
	TupleDesc	desc = RelationGetDescr(r->rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return a->attnum;
	}
	elog(ERROR, "ccroute: column \"%s\" of \"%s\" is missing", name, RelationGetRelationName(r->rel));
	return InvalidAttrNumber;	/* not reached */
}

void
row_work_begin(RowWork *w, int n, const char *const *tables, const bool *writable)
{
	Oid			nsp = ccroute_namespace();
	List	   *rtable = NIL;
	MemoryContext old;

	Assert(n <= ROW_MAX_RELS);
	memset(w, 0, sizeof(*w));
	w->cxt = AllocSetContextCreate(CurrentMemoryContext, "ccroute row work", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(w->cxt);

	/* As SPI does for each statement of a volatile function: see what came before. */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());

	w->estate = CreateExecutorState();
	w->estate->es_snapshot = GetActiveSnapshot();
	w->estate->es_output_cid = GetCurrentCommandId(true);
	w->nrels = n;
	for (int i = 0; i < n; i++)
	{
		Oid			relid = get_relname_relid(tables[i], nsp);
		LOCKMODE	mode = writable[i] ? RowExclusiveLock : AccessShareLock;
		RangeTblEntry *rte = makeNode(RangeTblEntry);

		if (!OidIsValid(relid))
			elog(ERROR, "ccroute: table \"%s\" is missing", tables[i]);
		/* What the executor checks before any write, with the same SQLSTATE (25006): the
		 * proxy takes it for a server it must leave (a standby, or a primary set read-only).
		 * The message is only made for the refusal, not on every call. */
		if (writable[i] && (XactReadOnly || IsInParallelMode()))
		{
			char	   *what = psprintf("writes to ccroute.%s", tables[i]);

			PreventCommandIfReadOnly(what);
			PreventCommandIfParallelMode(what);
		}
		w->rels[i].rel = table_open(relid, mode);
		rte->rtekind = RTE_RELATION;
		rte->relid = relid;
		rte->relkind = w->rels[i].rel->rd_rel->relkind;
		rte->rellockmode = mode;
		rtable = lappend(rtable, rte);
		w->rels[i].found = table_slot_create(w->rels[i].rel, &w->estate->es_tupleTable);
		w->rels[i].next = table_slot_create(w->rels[i].rel, &w->estate->es_tupleTable);
	}
	ExecInitRangeTable(w->estate, rtable);
	for (int i = 0; i < n; i++)
	{
		RowRel	   *r = &w->rels[i];

		if (!writable[i])
			continue;
		r->rri = makeNode(ResultRelInfo);
		InitResultRelInfo(r->rri, r->rel, i + 1, NULL, 0);
		/* A partitioned table's rows and index entries are its partitions'. */
		if (r->rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
			ExecOpenIndices(r->rri, false);
		row_exprs_attach(r->rri, w->estate->es_query_cxt);
	}
	EvalPlanQualInit(&w->epq, w->estate, NULL, NIL, -1);
	AfterTriggerBeginQuery();
	MemoryContextSwitchTo(old);
}

void
row_work_refresh(RowWork *w)
{
	CommandCounterIncrement();
	PopActiveSnapshot();
	PushActiveSnapshot(GetTransactionSnapshot());
	w->estate->es_snapshot = GetActiveSnapshot();
	w->estate->es_output_cid = GetCurrentCommandId(true);
}

void
row_work_fire(RowWork *w)
{
	MemoryContext old = MemoryContextSwitchTo(w->cxt);

	AfterTriggerEndQuery(w->estate);
	AfterTriggerBeginQuery();
	MemoryContextSwitchTo(old);
}

void
row_work_end(RowWork *w)
{
	MemoryContext old = MemoryContextSwitchTo(w->cxt);

	AfterTriggerEndQuery(w->estate);
	EvalPlanQualEnd(&w->epq);
	for (int i = 0; i < w->nrels; i++)
	{
		/* After the triggers, which may still use the partitions' relations. */
		if (w->rels[i].routing)
			ExecCleanupTupleRouting(w->rels[i].routing_node, w->rels[i].routing);
		if (w->rels[i].rri)
			ExecCloseIndices(w->rels[i].rri);
		/* Locks are kept until the transaction ends, as a statement's are. */
		table_close(w->rels[i].rel, NoLock);
	}
	ExecCloseResultRelations(w->estate);
	ExecCloseRangeTableRelations(w->estate);
	ExecResetTupleTable(w->estate->es_tupleTable, false);
	FreeExecutorState(w->estate);
	PopActiveSnapshot();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(w->cxt);
}

/* Equality keys on the first nkeys columns of the index, by its operator classes. */
static void
equality_keys(Relation index, int nkeys, const Datum *keys, ScanKey skey)
{
	for (int i = 0; i < nkeys; i++)
	{
		Oid			type = index->rd_opcintype[i];
		Oid			op = get_opfamily_member(index->rd_opfamily[i], type, type, BTEqualStrategyNumber);

		if (!OidIsValid(op))
			elog(ERROR, "ccroute: no equality operator for column %d of index \"%s\"", i + 1,
				 RelationGetRelationName(index));
		ScanKeyInit(&skey[i], i + 1, BTEqualStrategyNumber, get_opcode(op), keys[i]);
		skey[i].sk_collation = index->rd_indcollation[i];
	}
}

IndexScanDesc
row_scan_begin(RowWork *w, RowRel *r, Oid indexoid, int nkeys, const Datum *keys)
{
	Relation	index = index_open(indexoid, AccessShareLock);
	ScanKeyData skey[INDEX_MAX_KEYS];
	IndexScanDesc scan;

	Assert(nkeys <= IndexRelationGetNumberOfKeyAttributes(index));
	equality_keys(index, nkeys, keys, skey);
	scan = index_beginscan(r->rel, index, w->estate->es_snapshot, nkeys, 0);
	index_rescan(scan, skey, nkeys, NULL, 0);
	return scan;
}

bool
row_scan_next(IndexScanDesc scan, RowRel *r)
{
	return index_getnext_slot(scan, ForwardScanDirection, r->found);
}

void
row_scan_end(IndexScanDesc scan)
{
	Relation	index = scan->indexRelation;

	index_endscan(scan);
	index_close(index, NoLock);
}

bool
row_fetch(RowWork *w, RowRel *r, Oid index, int nkeys, const Datum *keys)
{
	IndexScanDesc scan = row_scan_begin(w, r, index, nkeys, keys);
	bool		found = row_scan_next(scan, r);

	row_scan_end(scan);
	return found;
}

bool
row_lock(RowWork *w, RowRel *r, LockWaitPolicy wait)
{
	TM_FailureData tmfd;
	TM_Result	res;
	int			flags = 0;

	/* As the executor locks a row for UPDATE: in read committed, the row's latest version. */
	if (!IsolationUsesXactSnapshot())
		flags |= TUPLE_LOCK_FLAG_FIND_LAST_VERSION;
	res = table_tuple_lock(r->rel, &r->found->tts_tid, w->estate->es_snapshot, r->found,
						   w->estate->es_output_cid, LockTupleExclusive, wait, flags, &tmfd);
	switch (res)
	{
		case TM_Ok:
			/* The row's own copy: it is written from after the buffer's lock is let go. */
			ExecMaterializeSlot(r->found);
			return true;
		case TM_WouldBlock:
			return false;
		case TM_SelfModified:
			/* Changed by a later command of this transaction: not this call's to take. */
			return false;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			return false;
		default:
			elog(ERROR, "ccroute: unexpected row lock result %d", (int) res);
	}
	return false;				/* not reached */
}

Datum
row_get(RowRel *r, AttrNumber att, bool *isnull)
{
	return slot_getattr(r->found, att, isnull);
}

/* The row to write, emptied, with no column changed yet. */
static TupleTableSlot *
next_cleared(RowRel *r)
{
	r->changed = NULL;
	return ExecClearTuple(r->next);
}

void
row_next_from_found(RowRel *r)
{
	TupleTableSlot *s = next_cleared(r);
	int			natts = s->tts_tupleDescriptor->natts;

	slot_getallattrs(r->found);
	memcpy(s->tts_values, r->found->tts_values, sizeof(Datum) * natts);
	memcpy(s->tts_isnull, r->found->tts_isnull, sizeof(bool) * natts);
	ExecStoreVirtualTuple(s);
}

void
row_next_empty(RowRel *r)
{
	TupleTableSlot *s = next_cleared(r);
	int			natts = s->tts_tupleDescriptor->natts;

	memset(s->tts_values, 0, sizeof(Datum) * natts);
	memset(s->tts_isnull, true, sizeof(bool) * natts);
	ExecStoreVirtualTuple(s);
}

void
row_set(RowRel *r, AttrNumber att, Datum value, bool isnull)
{
	r->changed = bms_add_member(r->changed, att - FirstLowInvalidHeapAttributeNumber);
	r->next->tts_values[att - 1] = isnull ? (Datum) 0 : value;
	r->next->tts_isnull[att - 1] = isnull;
}

Datum
row_get_col(RowRel *r, const char *column, bool *isnull)
{
	return row_get(r, row_att(r, column), isnull);
}

void
row_set_col(RowRel *r, const char *column, Datum value, bool isnull)
{
	row_set(r, row_att(r, column), value, isnull);
}

void
row_insert(RowWork *w, RowRel *r)
{
	EState	   *estate = w->estate;
	ResultRelInfo *target = r->rri;
	TupleTableSlot *slot = r->next;

	if (r->rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		TupleConversionMap *map;

		/* The executor's routing, set up once for the work, with the stand-in for a plan node
		 * that logical replication's apply uses too. */
		if (r->routing == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(w->cxt);
			ModifyTableState *mt = makeNode(ModifyTableState);

			mt->ps.plan = NULL;
			mt->ps.state = estate;
			mt->operation = CMD_INSERT;
			mt->resultRelInfo = r->rri;
			mt->rootResultRelInfo = r->rri;
			r->routing_node = mt;
			r->routing = ExecSetupPartitionTupleRouting(estate, r->rel);
			MemoryContextSwitchTo(old);
		}
		target = ExecFindPartition(r->routing_node, r->rri, r->routing, slot, estate);
		map = target->ri_RootToPartitionMap;
		if (map)
		{
			TupleTableSlot *part = target->ri_PartitionTupleSlot;

			if (part == NULL)
				part = table_slot_create(target->ri_RelationDesc, &estate->es_tupleTable);
			slot = execute_attr_map_slot(map->attrMap, slot, part);
		}
	}
	ExecSimpleRelationInsert(target, estate, slot);
	ResetPerTupleExprContext(estate);
}

void
row_update(RowWork *w, RowRel *r)
{
	RangeTblEntry *rte = exec_rt_fetch(r->rri->ri_RangeTableIndex, w->estate);

	/* The columns changed, as an UPDATE's SET list names them: column triggers (UPDATE OF)
	 * look at them. (The tables have no generated columns, whose extraUpdatedCols this does
	 * not fill.) */
	rte->updatedCols = r->changed;
	ExecSimpleRelationUpdate(r->rri, w->estate, &w->epq, r->found, r->next);
	ResetPerTupleExprContext(w->estate);
}

void
row_delete(RowWork *w, RowRel *r)
{
	ExecSimpleRelationDelete(r->rri, w->estate, &w->epq, r->found);
	ResetPerTupleExprContext(w->estate);
}

bool
row_text_is(Datum d, const char *s)
{
	text	   *t = DatumGetTextPP(d);
	size_t		len = VARSIZE_ANY_EXHDR(t);

	return len == strlen(s) && memcmp(VARDATA_ANY(t), s, len) == 0;
}
