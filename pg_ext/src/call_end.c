/*
 * call_end.c: the end of one call (the proxy's BYE or CANCEL), the commonest event, written
 * row by row through row_access.c instead of the batch's statement (call_events.c), which
 * it equals: the live call leaves live_call for call_history, and its agent is freed, into
 * wrap-up with the day's counters updated after an answered call, or ready again keeping
 * its place after one that only rang.
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "call_end.h"
#include "row_access.h"

enum
{
	LIVE, HISTORY, AGENT_STATE, AGENT, TENANT
};

/* The columns a live call carries into its history as they are. */
static const char *const carried[] = {
	"tenant_id", "call_seq", "call_id", "caller", "dialed", "facts", "action", "target",
	"skill_id", "agent_id", "attempts", "explanation", "arrived_at", "offered_at", "ringing_at",
	"answered_at"
};

/* Microseconds as seconds in a numeric column: the exact decimal, rounded to the column's
 * scale as an SQL cast of extract(epoch ...) is. */
static Datum
seconds_numeric(int64 usecs, int32 typmod)
{
	char		buf[64];
	uint64		a = usecs < 0 ? -(uint64) usecs : (uint64) usecs;

	snprintf(buf, sizeof(buf), "%s" UINT64_FORMAT ".%06u", usecs < 0 ? "-" : "",
			 a / USECS_PER_SEC, (unsigned) (a % USECS_PER_SEC));
	return DirectFunctionCall3(numeric_in, CStringGetDatum(buf), ObjectIdGetDatum(InvalidOid),
							   Int32GetDatum(typmod));
}

/* Whole seconds, rounded half away from zero as numeric's cast to integer is. */
static int32
seconds_int(int64 usecs)
{
	return (int32) (usecs >= 0 ? (usecs + USECS_PER_SEC / 2) / USECS_PER_SEC
					: -((-usecs + USECS_PER_SEC / 2) / USECS_PER_SEC));
}

static Datum
get(RowRel *r, const char *column, bool *isnull)
{
	return row_get(r, row_att(r, column), isnull);
}

static void
set(RowRel *r, const char *column, Datum value, bool isnull)
{
	row_set(r, row_att(r, column), value, isnull);
}

/* The agent's wrap-up seconds (false if the agent is gone) and the tenant's day at the call's
 * end, for an answered call. */
static bool
answered_call_facts(RowWork *w, int64 tenant, int64 agent, TimestampTz ended_at,
					int32 *wrapup, DateADT *day)
{
	RowRel	   *a = &w->rels[AGENT];
	RowRel	   *t = &w->rels[TENANT];
	Datum		keys[2] = {Int64GetDatum(tenant), Int64GetDatum(agent)};
	bool		isnull;
	bool		found;
	Datum		zone;

	*wrapup = 0;
	found = row_fetch(w, a, row_relid("agent_pkey"), 2, keys);
	if (found)
		*wrapup = DatumGetInt32(get(a, "wrapup_seconds", &isnull));
	if (!row_fetch(w, t, row_relid("tenant_pkey"), 1, keys))
		elog(ERROR, "ccroute: tenant " INT64_FORMAT " is missing", tenant);
	zone = get(t, "time_zone", &isnull);
	*day = DatumGetDateADT(DirectFunctionCall1(timestamp_date,
											   DirectFunctionCall2(timestamptz_zone, zone,
																   TimestampTzGetDatum(ended_at))));
	return found;
}

int64
ccroute_end_call(int64 tenant, int64 call_seq, TimestampTz at, bool has_status, int32 status)
{
	static const char *const tables[] = {"live_call", "call_history", "agent_state", "agent", "tenant"};
	static const bool writable[] = {true, true, true, false, false};
	RowWork		w;
	RowRel	   *live = &w.rels[LIVE];
	RowRel	   *hist = &w.rels[HISTORY];
	RowRel	   *st = &w.rels[AGENT_STATE];
	Datum		keys[2] = {Int64GetDatum(tenant), Int64GetDatum(call_seq)};
	bool		isnull;
	bool		answered;
	bool		has_agent;
	int64		agent = 0;
	TimestampTz arrived_at,
				answered_at = 0,
				ended_at,
				now = GetCurrentTimestamp();
	int32		wrapup = 0;
	bool		has_wrapup = false;
	DateADT		day = 0;
	const char *outcome;

	row_work_begin(&w, lengthof(tables), tables, writable);
	if (!row_fetch(&w, live, row_relid("live_call_pkey"), 2, keys) ||
		!row_lock(&w, live, LockWaitBlock))
	{
		row_work_end(&w);
		return 0;				/* already ended */
	}

	arrived_at = DatumGetTimestampTz(get(live, "arrived_at", &isnull));
	{
		Datum		v = get(live, "answered_at", &isnull);

		answered = !isnull;
		if (answered)
			answered_at = DatumGetTimestampTz(v);
	}
	{
		Datum		v = get(live, "agent_id", &isnull);

		has_agent = !isnull;
		if (has_agent)
			agent = DatumGetInt64(v);
	}
	/* Not before the call began (or was answered), nor after now. */
	ended_at = Max(answered ? answered_at : arrived_at, Min(at, now));
	if (answered)
		outcome = "answered";
	else if (row_text_is(get(live, "state", &isnull), "failed"))
		outcome = "no_answer";
	else
		outcome = "abandoned";
	if (answered && has_agent)
		has_wrapup = answered_call_facts(&w, tenant, agent, ended_at, &wrapup, &day);

	/* The history row. */
	row_next_empty(hist);
	for (int i = 0; i < (int) lengthof(carried); i++)
	{
		Datum		v = get(live, carried[i], &isnull);

		set(hist, carried[i], v, isnull);
	}
	set(hist, "sip_status", Int32GetDatum(status), !has_status);
	set(hist, "outcome", CStringGetTextDatum(outcome), false);
	set(hist, "ended_at", TimestampTzGetDatum(ended_at), false);
	{
		AttrNumber	wait = row_att(hist, "wait_seconds");
		AttrNumber	talk = row_att(hist, "talk_seconds");
		TupleDesc	d = RelationGetDescr(hist->rel);

		row_set(hist, wait, seconds_numeric((answered ? answered_at : ended_at) - arrived_at,
											TupleDescAttr(d, wait - 1)->atttypmod), false);
		row_set(hist, talk, answered ? seconds_numeric(ended_at - answered_at,
													   TupleDescAttr(d, talk - 1)->atttypmod) : 0,
				!answered);
	}
	set(hist, "wrap_up_seconds", Int32GetDatum(wrapup), !has_wrapup);

	row_delete(&w, live);
	row_insert(&w, hist);

	/* The agent: freed after an answered call; after one that only rang, only if it is still
	 * reserved for it (a no-answer may already have freed it). */
	if (has_agent)
	{
		Datum		akeys[2] = {Int64GetDatum(tenant), Int64GetDatum(agent)};

		if (row_fetch(&w, st, row_relid("agent_state_pkey"), 2, akeys) &&
			row_lock(&w, st, LockWaitBlock) &&
			(answered || row_text_is(get(st, "state", &isnull), "reserved")))
		{
			row_next_from_found(st);
			set(st, "since", TimestampTzGetDatum(ended_at), false);
			set(st, "reserved_until", (Datum) 0, true);
			if (answered)
			{
				TimestampTz free_at = ended_at + (int64) wrapup * USECS_PER_SEC;
				Datum		v = get(st, "stats_day", &isnull);
				bool		same_day = !isnull && DatumGetDateADT(v) == day;
				int32		calls = same_day ? DatumGetInt32(get(st, "calls_today", &isnull)) : 0;
				int32		talk = same_day ? DatumGetInt32(get(st, "talk_seconds_today", &isnull)) : 0;

				set(st, "state", CStringGetTextDatum(wrapup > 0 ? "wrap_up" : "ready"), false);
				set(st, "available_at", TimestampTzGetDatum(free_at), wrapup <= 0);
				set(st, "idle_since", TimestampTzGetDatum(free_at), false);
				set(st, "calls_today", Int32GetDatum(calls + 1), false);
				set(st, "talk_seconds_today", Int32GetDatum(talk + seconds_int(ended_at - answered_at)),
					false);
				set(st, "stats_day", DateADTGetDatum(day), false);
			}
			else
			{
				set(st, "state", CStringGetTextDatum("ready"), false);
				set(st, "available_at", (Datum) 0, true);
			}
			row_update(&w, st);
		}
	}
	row_work_end(&w);
	return 1;
}
