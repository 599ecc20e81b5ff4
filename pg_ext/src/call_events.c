/*
 * call_events.c: ccroute.call_events, the batches of call events the proxy sends (ringing,
 * answered, ended, abandoned), each applied with the time the proxy saw it.
 *
 * Until 0.7 this was PL/pgSQL, then one kept statement per kind of event a tenant had in the
 * batch. Each statement's executor start-up cost more than its few rows (perf), so now the
 * batch is checked and grouped here, and each event is applied row by row
 * (call_event_rows.c). A tenant's events are applied as the statements applied them: for each
 * call, its earliest ringing, then its earliest answer, then its earliest end (with the
 * highest SIP status among its ends), so that a call answered and ended in one batch is
 * answered first.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "call_event_rows.h"
#include "tenant_context.h"

PG_FUNCTION_INFO_V1(ccroute_call_events);

/* The number of elements of an array argument, -1 for NULL (SQL's cardinality(NULL)). */
static int
arg_count(FunctionCallInfo fcinfo, int i)
{
	ArrayType  *a;

	if (PG_ARGISNULL(i))
		return -1;
	a = PG_GETARG_ARRAYTYPE_P(i);
	return ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
}

static void
refuse_bad_event(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("call events: each needs a tenant, a call, a time, and one of ringing, answered, ended or abandoned"),
			 errhint("A no answer, a busy or a rejection goes through call_event, one at a time.")));
}

/* The event's kind: 'r'inging, 'a'nswered, 'e'nded or abandoned; refuses any other. */
static char
event_kind(Datum ev)
{
	text	   *t = DatumGetTextPP(ev);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);

#define IS(word) (len == (int) strlen(word) && memcmp(s, word, len) == 0)
	if (IS("ringing"))
		return 'r';
	if (IS("answered"))
		return 'a';
	if (IS("ended") || IS("abandoned"))
		return 'e';
#undef IS
	refuse_bad_event();
	return 0;					/* not reached */
}

/* One call's events of one kind in the batch, merged: the earliest time, the highest status. */
typedef struct CallEvent
{
	struct
	{
		int64		tenant_id;
		int64		call_seq;
		char		kind;
	}			key;				/* hash key: zeroed before it is filled, padding too */
	int			tenant_rank;	/* the order the tenants first appear in */
	int			first;			/* where this call's event of this kind first appears */
	TimestampTz at;
	bool		has_status;
	int32		status;
} CallEvent;

typedef struct TenantRank
{
	int64		tenant_id;		/* hash key */
	int			rank;
} TenantRank;

static int
kind_order(char kind)
{
	return kind == 'r' ? 0 : kind == 'a' ? 1 : 2;
}

/* Tenant by tenant, each tenant's ringings, then answers, then ends, each in call order. */
static int
compare_events(const void *a, const void *b)
{
	const CallEvent *x = *(const CallEvent *const *) a;
	const CallEvent *y = *(const CallEvent *const *) b;

	if (x->tenant_rank != y->tenant_rank)
		return x->tenant_rank - y->tenant_rank;
	if (x->key.kind != y->key.kind)
		return kind_order(x->key.kind) - kind_order(y->key.kind);
	/* Within a kind, in call order: two batches that share calls lock them in one order. */
	if (x->key.call_seq != y->key.call_seq)
		return x->key.call_seq < y->key.call_seq ? -1 : 1;
	return x->first - y->first;
}

static HTAB *
batch_hash(const char *name, Size keysize, Size entrysize, int n)
{
	HASHCTL		ctl = {.keysize = keysize, .entrysize = entrysize, .hcxt = CurrentMemoryContext};

	return hash_create(name, n, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * call_events(tenants, calls, events, times, sip_statuses): the number of events applied. A
 * batch with a missing value or an event of another kind is refused whole (22023).
 */
Datum
ccroute_call_events(PG_FUNCTION_ARGS)
{
	int			n = arg_count(fcinfo, 0);
	Datum	   *tenants,
			   *calls,
			   *events,
			   *times;
	bool	   *tnull,
			   *cnull,
			   *enull,
			   *anull;
	int			nt,
				nc,
				ne,
				na;
	Datum	   *statuses = NULL;
	bool	   *snull = NULL;
	int			nstatuses = 0;
	HTAB	   *ranks;
	HTAB	   *by_call;
	CallEvent **merged;
	int			ntenants = 0;
	int			nmerged = 0;
	int64		applied = 0;
	int64		context = 0;
	RowWork		w;

	if (arg_count(fcinfo, 1) != n || arg_count(fcinfo, 2) != n || arg_count(fcinfo, 3) != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("call events: the four arrays must have the same length")));
	if (n <= 0)
		PG_RETURN_INT32(0);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &tenants, &tnull, &nt);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &calls, &cnull, &nc);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false, TYPALIGN_INT,
					  &events, &enull, &ne);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &times, &anull, &na);
	/* The statuses may be fewer than the events: the others' are null. */
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), INT4OID, 4, true, TYPALIGN_INT,
						  &statuses, &snull, &nstatuses);

	/* The whole batch is checked before anything is applied, and merged per call and kind. */
	ranks = batch_hash("ccroute batch tenants", sizeof(int64), sizeof(TenantRank), n);
	by_call = batch_hash("ccroute batch calls", sizeof(((CallEvent *) 0)->key), sizeof(CallEvent), n);
	merged = palloc(sizeof(CallEvent *) * n);
	for (int i = 0; i < n; i++)
	{
		CallEvent	key;
		CallEvent  *e;
		TenantRank *r;
		bool		found;
		bool		has_status = i < nstatuses && !snull[i];
		int32		status = has_status ? DatumGetInt32(statuses[i]) : 0;
		TimestampTz at;

		if (tnull[i] || cnull[i] || enull[i] || anull[i])
			refuse_bad_event();
		memset(&key.key, 0, sizeof(key.key));
		key.key.kind = event_kind(events[i]);
		key.key.tenant_id = DatumGetInt64(tenants[i]);
		key.key.call_seq = DatumGetInt64(calls[i]);
		at = DatumGetTimestampTz(times[i]);
		r = hash_search(ranks, &key.key.tenant_id, HASH_ENTER, &found);
		if (!found)
			r->rank = ntenants++;
		e = hash_search(by_call, &key.key, HASH_ENTER, &found);
		if (!found)
		{
			e->tenant_rank = r->rank;
			e->first = i;
			e->at = at;
			e->has_status = has_status;
			e->status = status;
			merged[nmerged++] = e;
			continue;
		}
		e->at = Min(e->at, at);
		if (has_status && (!e->has_status || status > e->status))
		{
			e->has_status = true;
			e->status = status;
		}
	}
	qsort(merged, nmerged, sizeof(CallEvent *), compare_events);

	event_rows_begin(&w);
	for (int m = 0; m < nmerged; m++)
	{
		CallEvent  *e = merged[m];

		/* The row triggers a tenant's changes queued fire in that tenant's context, which then
		 * moves to the next tenant (a trigger's insert is held to its tenant's rows). */
		if (m == 0 || e->key.tenant_id != context)
		{
			if (m > 0)
				row_work_fire(&w);
			ccroute_set_tenant_context(context = e->key.tenant_id);
		}
		if (e->key.kind == 'r')
			applied += ccroute_ring_call(&w, e->key.tenant_id, e->key.call_seq, e->at);
		else if (e->key.kind == 'a')
			applied += ccroute_answer_call(&w, e->key.tenant_id, e->key.call_seq, e->at);
		else
			applied += ccroute_end_call(&w, e->key.tenant_id, e->key.call_seq, e->at,
										e->has_status, e->status);
	}
	event_rows_end(&w);
	PG_RETURN_INT32((int32) applied);
}
