/*
 * call_events.c: ccroute.call_events, the batches of call events the proxy sends (ringing,
 * answered, ended, abandoned), each applied with the time the proxy saw it.
 *
 * Until 0.7 this was PL/pgSQL. For the commonest batch, a single end, it ran three statements
 * around its one real one: a query to check the batch, a query to group it by tenant and a
 * set_config per tenant, each a trip through the executor (the function took 27% of a whole
 * call's backend time in a perf profile at one client). Here the batch is checked and grouped
 * in C, and each tenant's statements are plans kept for the backend's life (generic: they
 * differ only by the tenant, like the router's). The statements are the PL/pgSQL version's,
 * one per kind of event a tenant has in the batch, in the same order (ringing, answered, then
 * ends), so that a call answered and ended in one batch is answered first; the end reads an
 * answered call's wrap-up and day once instead of twice, and skips them for a call never
 * answered.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "call_end.h"
#include "spi_util.h"
#include "tenant_context.h"

PG_FUNCTION_INFO_V1(ccroute_call_events);

/* Each statement takes the tenant ($1) and the whole batch ($2-$6), and counts what it did. */
#define BATCH_TYPES (Oid[]) {INT8OID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, \
							 TIMESTAMPTZARRAYOID, INT4ARRAYOID}
/* (unnest of several arrays is syntax, not a function: it cannot be qualified.) */
#define BATCH_EVENTS(kinds) \
	"SELECT c, min(at) AS at, max(st) AS st " \
	"  FROM unnest($2, $3, $4, $5, $6) AS u(tn, c, ev, at, st) " \
	" WHERE tn OPERATOR(pg_catalog.=) $1 AND ev IN " kinds " GROUP BY c"

static SPIPlanPtr ringing_plan;
static SPIPlanPtr answered_plan;
static SPIPlanPtr end_plan;

/* The statement that ends calls, over the events "e" that events_sql gives. */
static SPIPlanPtr
prepare_end(const char *events_sql, int nargs, Oid *types)
{
	return ccroute_prepare_kept(psprintf(
		"WITH e AS (%s), "
		"gone AS ("
		"  DELETE FROM ccroute.live_call l USING e "
		"   WHERE l.tenant_id OPERATOR(pg_catalog.=) $1 AND l.call_seq OPERATOR(pg_catalog.=) e.c "
		"  RETURNING l.*, greatest(coalesce(l.answered_at, l.arrived_at), "
		"                          least(e.at, pg_catalog.clock_timestamp())) AS ended_at, "
		"            e.st AS end_status), "
		/* What only an answered call needs, its agent's wrap-up and the tenant's day, read once
		 * for both the history and the agent's state. */
		"ended AS ("
		"  SELECT g.*, w.wrapup_seconds, "
		"         CASE WHEN g.answered_at IS NOT NULL THEN "
		"             (SELECT (g.ended_at AT TIME ZONE tt.time_zone)::date FROM ccroute.tenant tt "
		"               WHERE tt.tenant_id OPERATOR(pg_catalog.=) g.tenant_id) END AS local_day "
		"    FROM gone g "
		"   CROSS JOIN LATERAL (SELECT CASE WHEN g.answered_at IS NOT NULL THEN "
		"             (SELECT a.wrapup_seconds FROM ccroute.agent a "
		"               WHERE a.tenant_id OPERATOR(pg_catalog.=) g.tenant_id "
		"                 AND a.agent_id OPERATOR(pg_catalog.=) g.agent_id) END AS wrapup_seconds) w), "
		"history AS ("
		"  INSERT INTO ccroute.call_history (tenant_id, call_seq, call_id, caller, dialed, facts, "
		"      action, target, sip_status, reason, skill_id, agent_id, attempts, outcome, "
		"      explanation, arrived_at, offered_at, ringing_at, answered_at, ended_at, "
		"      wait_seconds, talk_seconds, wrap_up_seconds) "
		"  SELECT g.tenant_id, g.call_seq, g.call_id, g.caller, g.dialed, g.facts, g.action, "
		"         g.target, g.end_status, NULL, g.skill_id, g.agent_id, g.attempts, "
		"         CASE WHEN g.answered_at IS NOT NULL THEN 'answered' "
		"              WHEN g.state OPERATOR(pg_catalog.=) 'failed' THEN 'no_answer' "
		"              ELSE 'abandoned' END, "
		"         g.explanation, g.arrived_at, g.offered_at, g.ringing_at, g.answered_at, g.ended_at, "
		"         extract(epoch FROM coalesce(g.answered_at, g.ended_at) OPERATOR(pg_catalog.-) g.arrived_at), "
		"         extract(epoch FROM g.ended_at OPERATOR(pg_catalog.-) g.answered_at), "
		"         g.wrapup_seconds "
		"    FROM ended g "
		"  RETURNING 1), "
		"freed AS ("
		"  UPDATE ccroute.agent_state s "
		"     SET state = CASE WHEN g.answered_at IS NOT NULL AND g.wrapup_seconds OPERATOR(pg_catalog.>) 0 "
		"                      THEN 'wrap_up' ELSE 'ready' END, "
		"         available_at = CASE WHEN g.answered_at IS NOT NULL AND g.wrapup_seconds OPERATOR(pg_catalog.>) 0 "
		"                             THEN g.ended_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => g.wrapup_seconds) END, "
		"         since = g.ended_at, reserved_until = NULL, "
		"         idle_since = CASE WHEN g.answered_at IS NULL THEN s.idle_since "
		"                           ELSE g.ended_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => g.wrapup_seconds) END, "
		"         calls_today = CASE WHEN g.answered_at IS NULL THEN s.calls_today "
		"                            ELSE CASE WHEN s.stats_day OPERATOR(pg_catalog.=) g.local_day THEN s.calls_today ELSE 0 END "
		"                                 OPERATOR(pg_catalog.+) 1 END, "
		"         talk_seconds_today = CASE WHEN g.answered_at IS NULL THEN s.talk_seconds_today "
		"                                   ELSE CASE WHEN s.stats_day OPERATOR(pg_catalog.=) g.local_day THEN s.talk_seconds_today ELSE 0 END "
		"                                        OPERATOR(pg_catalog.+) extract(epoch FROM g.ended_at OPERATOR(pg_catalog.-) g.answered_at)::integer END, "
		"         stats_day = CASE WHEN g.answered_at IS NULL THEN s.stats_day ELSE g.local_day END "
		"    FROM ended g "
		"   WHERE s.tenant_id OPERATOR(pg_catalog.=) g.tenant_id AND s.agent_id OPERATOR(pg_catalog.=) g.agent_id "
		"     AND (g.answered_at IS NOT NULL OR s.state OPERATOR(pg_catalog.=) 'reserved')) "
		"SELECT count(*) FROM history", events_sql), nargs, types);
}

static void
prepare_event_plans(void)
{
	if (end_plan)
		return;
	/* A ringing that arrives after the call was offered to the next agent is not that agent's:
	 * it is ignored. */
	ringing_plan = ccroute_prepare_kept(
		"WITH e AS (" BATCH_EVENTS("('ringing')") "), "
		"rung AS ("
		"  UPDATE ccroute.live_call l "
		"     SET state = 'ringing', ringing_at = least(e.at, pg_catalog.clock_timestamp()) "
		"    FROM e "
		"   WHERE l.tenant_id OPERATOR(pg_catalog.=) $1 AND l.call_seq OPERATOR(pg_catalog.=) e.c "
		"     AND l.state OPERATOR(pg_catalog.=) 'offered' "
		"     AND e.at OPERATOR(pg_catalog.>=) coalesce(l.offered_at, l.arrived_at) "
		"  RETURNING 1) "
		"SELECT count(*) FROM rung",
		6, BATCH_TYPES);
	answered_plan = ccroute_prepare_kept(
		"WITH e AS (" BATCH_EVENTS("('answered')") "), "
		"answered AS ("
		"  UPDATE ccroute.live_call l "
		"     SET state = 'answered', "
		"         answered_at = greatest(coalesce(l.offered_at, l.arrived_at), "
		"                                           least(e.at, pg_catalog.clock_timestamp())) "
		"    FROM e "
		"   WHERE l.tenant_id OPERATOR(pg_catalog.=) $1 AND l.call_seq OPERATOR(pg_catalog.=) e.c "
		"     AND l.state OPERATOR(pg_catalog.<>) 'answered' "
		"  RETURNING l.agent_id, l.answered_at), "
		"on_call AS ("
		"  UPDATE ccroute.agent_state s "
		"     SET state = 'on_call', since = a.answered_at, reserved_until = NULL, no_answer_streak = 0 "
		"    FROM answered a "
		"   WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 AND s.agent_id OPERATOR(pg_catalog.=) a.agent_id) "
		"SELECT count(*) FROM answered",
		6, BATCH_TYPES);

	/*
	 * An answered agent goes to wrap-up (or is ready at once) with its day's counters updated;
	 * an agent whose phone was still ringing is free again, keeping its place. The calls that
	 * end come from "e": the batch's ends of the tenant. (A tenant's single end, the commonest
	 * batch, is done row by row instead: end_one.)
	 */
	end_plan = prepare_end(BATCH_EVENTS("('ended', 'abandoned')"), 6, BATCH_TYPES);
}

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

typedef struct TenantEvents
{
	int64		tenant_id;
	bool		ringing;
	bool		answered;
	bool		end;
	int			nends;
	int			last_end;		/* the position of its last end in the batch */
} TenantEvents;

static int64
run_count(SPIPlanPtr plan, Datum *values, const char *nulls)
{
	bool		isnull;

	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "ccroute: call event statement failed");
	return DatumGetInt64(col(0, 1, &isnull));
}

/* A tenant's one end in the batch, the commonest batch, row by row (call_end.c): the same
 * change as end_plan's, without a statement's start-up. Its status is null when the batch has
 * none for it (the statuses may be fewer than the events). */
static int64
end_one(TenantEvents *g, Datum *calls, Datum *times, Datum *statuses, int nstatuses, bool *snull)
{
	int			i = g->last_end;
	bool		has_status = i < nstatuses && !snull[i];

	return ccroute_end_call(g->tenant_id, DatumGetInt64(calls[i]), DatumGetTimestampTz(times[i]),
							has_status, has_status ? DatumGetInt32(statuses[i]) : 0);
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
	TenantEvents *groups;
	int			ngroups = 0;
	int64		applied = 0;
	Datum		v[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Datum	   *statuses = NULL;
	bool	   *snull = NULL;
	int			nstatuses = 0;

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

	/* The whole batch is checked before anything is applied; then grouped by tenant. */
	groups = palloc0(sizeof(TenantEvents) * n);
	for (int i = 0; i < n; i++)
	{
		char		kind;
		int64		t;
		int			g;

		if (tnull[i] || cnull[i] || enull[i] || anull[i])
			refuse_bad_event();
		kind = event_kind(events[i]);
		t = DatumGetInt64(tenants[i]);
		for (g = 0; g < ngroups && groups[g].tenant_id != t; g++)
			;
		if (g == ngroups)
			groups[ngroups++].tenant_id = t;
		groups[g].ringing |= kind == 'r';
		groups[g].answered |= kind == 'a';
		groups[g].end |= kind == 'e';
		if (kind == 'e')
		{
			groups[g].nends++;
			groups[g].last_end = i;
		}
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "ccroute: SPI_connect failed");
	prepare_event_plans();
	v[1] = PG_GETARG_DATUM(0);
	v[2] = PG_GETARG_DATUM(1);
	v[3] = PG_GETARG_DATUM(2);
	v[4] = PG_GETARG_DATUM(3);
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
	{
		v[5] = PG_GETARG_DATUM(4);
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), INT4OID, 4, true, TYPALIGN_INT,
						  &statuses, &snull, &nstatuses);
	}
	else
	{
		v[5] = (Datum) 0;
		nulls[5] = 'n';			/* no statuses: each end's is null */
	}
	for (int g = 0; g < ngroups; g++)
	{
		/* Row-level security shows each statement this tenant's rows only. */
		ccroute_set_tenant_context(groups[g].tenant_id);
		v[0] = Int64GetDatum(groups[g].tenant_id);
		if (groups[g].ringing)
			applied += run_count(ringing_plan, v, nulls);
		if (groups[g].answered)
			applied += run_count(answered_plan, v, nulls);
		if (groups[g].nends == 1)
			applied += end_one(&groups[g], calls, times, statuses, nstatuses, snull);
		else if (groups[g].end)
			applied += run_count(end_plan, v, nulls);
	}
	SPI_finish();
	PG_RETURN_INT32((int32) applied);
}
