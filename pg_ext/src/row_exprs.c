/*
 * row_exprs.c: the compiled check constraints, trigger conditions and partial-index
 * predicates of the tables row_access.c writes, kept for the backend's life.
 *
 * The executor compiles these per statement, from their stored text (stringToNode, the
 * planner's expression pass, ExecInitExpr), into the ResultRelInfo it is writing through, and
 * only when the ResultRelInfo has none yet. A routed call's rows are written through new
 * ResultRelInfos each time; compiling agent_state's three checks, its trigger condition and
 * its partial indexes' predicates again took a tenth of a whole call's backend time (perf).
 * So they are compiled once here, in the way the executor would (execMain.c's ExecRelCheck,
 * trigger.c's TriggerEnabled, execIndexing.c's ExecInsertIndexTuples), and handed to each
 * ResultRelInfo before the executor looks. The typcache keeps domain checks the same way.
 *
 * A relcache invalidation of the table (ALTER TABLE, a new trigger or index, ...) drops its
 * entry, and a changed function (which the planner may have inlined) drops them all; the next
 * use compiles afresh. An entry also checks that the table still has the
 * same triggers and indexes in the same order before it is used.
 */
#include "postgres.h"

#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteManip.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "row_exprs.h"

typedef struct RelExprs
{
	Oid			relid;			/* hash key */
	bool		valid;			/* no invalidation since it was compiled */
	bool		complete;		/* its compile finished */
	MemoryContext cxt;
	int			ncheck;
	ExprState **checks;
	int			ntrig;
	Oid		   *trigger_oids;
	ExprState **when;			/* NULL for a trigger without a condition */
	int			nindex;
	Oid		   *index_oids;
	ExprState **predicates;		/* NULL for an index that is not partial */
} RelExprs;

static HTAB *rel_exprs = NULL;

static void
forget(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	RelExprs   *e;

	if (rel_exprs == NULL)
		return;
	if (OidIsValid(relid))
	{
		e = hash_search(rel_exprs, &relid, HASH_FIND, NULL);
		if (e)
			e->valid = false;
		return;
	}
	hash_seq_init(&seq, rel_exprs);
	while ((e = hash_seq_search(&seq)) != NULL)
		e->valid = false;
}

static void
forget_all(Datum arg, int cacheid, uint32 hashvalue)
{
	forget(arg, InvalidOid);
}

/* Compiles what rri's table has, as the executor would. */
static void
compile(RelExprs *e, ResultRelInfo *rri)
{
	Relation	rel = rri->ri_RelationDesc;
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	TriggerDesc *trig = rri->ri_TrigDesc;
	MemoryContext old;

	/* Unusable until it is whole: a compile that fails leaves it to be compiled again. */
	e->complete = false;
	if (e->cxt)
		MemoryContextDelete(e->cxt);
	e->cxt = NULL;
	e->cxt = AllocSetContextCreate(CacheMemoryContext, "ccroute row expressions", ALLOCSET_SMALL_SIZES);
	/* Valid from before it is read, so that an invalidation arriving meanwhile is kept. */
	e->valid = true;
	old = MemoryContextSwitchTo(e->cxt);

	e->ncheck = constr ? constr->num_check : 0;
	e->checks = palloc0(sizeof(ExprState *) * (e->ncheck + 1));
	for (int i = 0; i < e->ncheck; i++)
		e->checks[i] = ExecInitExpr(expression_planner(stringToNode(constr->check[i].ccbin)), NULL);

	e->ntrig = trig ? trig->numtriggers : 0;
	e->trigger_oids = palloc0(sizeof(Oid) * (e->ntrig + 1));
	e->when = palloc0(sizeof(ExprState *) * (e->ntrig + 1));
	for (int i = 0; i < e->ntrig; i++)
	{
		Node	   *qual;

		e->trigger_oids[i] = trig->triggers[i].tgoid;
		if (trig->triggers[i].tgqual == NULL)
			continue;
		/* OLD and NEW as the trigger code evaluates them: the inner and outer tuples. */
		qual = stringToNode(trig->triggers[i].tgqual);
		ChangeVarNodes(qual, PRS2_OLD_VARNO, INNER_VAR, 0);
		ChangeVarNodes(qual, PRS2_NEW_VARNO, OUTER_VAR, 0);
		qual = (Node *) make_ands_implicit((Expr *) qual);
		e->when[i] = ExecInitQual((List *) expression_planner((Expr *) qual), NULL);
	}

	e->nindex = rri->ri_NumIndices;
	e->index_oids = palloc0(sizeof(Oid) * (e->nindex + 1));
	e->predicates = palloc0(sizeof(ExprState *) * (e->nindex + 1));
	for (int i = 0; i < e->nindex; i++)
	{
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];

		e->index_oids[i] = RelationGetRelid(rri->ri_IndexRelationDescs[i]);
		if (ii->ii_Predicate != NIL)
			e->predicates[i] = ExecInitQual((List *) expression_planner((Expr *) copyObject(ii->ii_Predicate)),
											NULL);
	}
	MemoryContextSwitchTo(old);
	e->complete = true;
}

/* Whether the entry was compiled for the table as rri now has it. */
static bool
matches(RelExprs *e, ResultRelInfo *rri)
{
	TupleConstr *constr = RelationGetDescr(rri->ri_RelationDesc)->constr;
	TriggerDesc *trig = rri->ri_TrigDesc;

	if (!e->valid || !e->complete || e->ncheck != (constr ? constr->num_check : 0) ||
		e->ntrig != (trig ? trig->numtriggers : 0) || e->nindex != rri->ri_NumIndices)
		return false;
	for (int i = 0; i < e->ntrig; i++)
		if (e->trigger_oids[i] != trig->triggers[i].tgoid)
			return false;
	for (int i = 0; i < e->nindex; i++)
		if (e->index_oids[i] != RelationGetRelid(rri->ri_IndexRelationDescs[i]))
			return false;
	return true;
}

void
row_exprs_attach(ResultRelInfo *rri, MemoryContext query_cxt)
{
	Oid			relid = RelationGetRelid(rri->ri_RelationDesc);
	RelExprs   *e;
	bool		found;

	if (rel_exprs == NULL)
	{
		HASHCTL		ctl = {.keysize = sizeof(Oid), .entrysize = sizeof(RelExprs)};

		rel_exprs = hash_create("ccroute row expressions", 16, &ctl, HASH_ELEM | HASH_BLOBS);
		CacheRegisterRelcacheCallback(forget, (Datum) 0);
		/* The planner inlines simple SQL functions: a function replaced changes them too. */
		CacheRegisterSyscacheCallback(PROCOID, forget_all, (Datum) 0);
	}
	e = hash_search(rel_exprs, &relid, HASH_ENTER, &found);
	if (!found)
	{
		e->cxt = NULL;
		e->complete = false;
	}
	if (!found || !matches(e, rri))
		compile(e, rri);

	if (e->ncheck > 0)
	{
		/* The executor's array: its own, in the statement's memory; the states are shared. */
		rri->ri_ConstraintExprs = MemoryContextAlloc(query_cxt, sizeof(ExprState *) * e->ncheck);
		memcpy(rri->ri_ConstraintExprs, e->checks, sizeof(ExprState *) * e->ncheck);
	}
	for (int i = 0; i < e->ntrig; i++)
		if (e->when[i])
			rri->ri_TrigWhenExprs[i] = e->when[i];
	for (int i = 0; i < e->nindex; i++)
		if (e->predicates[i])
			rri->ri_IndexRelationInfo[i]->ii_PredicateState = e->predicates[i];
}
