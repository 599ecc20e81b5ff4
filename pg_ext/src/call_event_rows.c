/*
 * call_event_rows.c: what each call event does, row by row through row_access.c (the batch
 * is read and grouped by call_events.c):
 *   ringing: an offered call rings (a ringing from before the offer, meant for an agent the
 *            call was offered to earlier, is ignored);
 *   answered: the call is answered, its agent is on the call;
 *   end (ended or abandoned): the live call leaves live_call for call_history, and its agent
 *            is freed, into wrap-up with the day's counters updated after an answered call,
 *            or ready again keeping its place after one that only rang.
 * Each event's time is the proxy's, kept between when the call began and now.
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "call_event_rows.h"
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
		*wrapup = DatumGetInt32(row_get_col(a, "wrapup_seconds", &isnull));
	if (!row_fetch(w, t, row_relid("tenant_pkey"), 1, keys))
		elog(ERROR, "ccroute: tenant " INT64_FORMAT " is missing", tenant);
	zone = row_get_col(t, "time_zone", &isnull);
	*day = DatumGetDateADT(DirectFunctionCall1(timestamp_date,
											   DirectFunctionCall2(timestamptz_zone, zone,
																   TimestampTzGetDatum(ended_at))));
	return found;
}

void
event_rows_begin(RowWork *w)
{
	static const char *const tables[] = {"live_call", "call_history", "agent_state", "agent", "tenant"};
	static const bool writable[] = {true, true, true, false, false};

	row_work_begin(w, lengthof(tables), tables, writable);
}

void
event_rows_end(RowWork *w)
{
	row_work_end(w);
}

/* The live call, locked (its latest version), as the event sees it; false if it is gone. */
static bool
lock_live_call(RowWork *w, int64 tenant, int64 call_seq)
{
	Datum		keys[2] = {Int64GetDatum(tenant), Int64GetDatum(call_seq)};
	RowRel	   *live = &w->rels[LIVE];

	row_work_refresh(w);
	return row_fetch(w, live, row_relid("live_call_pkey"), 2, keys) && row_lock(w, live, LockWaitBlock);
}

/* When the call was offered (or, if never, arrived). */
static TimestampTz
offered_at(RowRel *live)
{
	bool		isnull;
	Datum		v = row_get_col(live, "offered_at", &isnull);

	if (isnull)
		v = row_get_col(live, "arrived_at", &isnull);
	return DatumGetTimestampTz(v);
}

int64
ccroute_ring_call(RowWork *w, int64 tenant, int64 call_seq, TimestampTz at)
{
	RowRel	   *live = &w->rels[LIVE];
	bool		isnull;

	if (!lock_live_call(w, tenant, call_seq) ||
		!row_text_is(row_get_col(live, "state", &isnull), "offered") || at < offered_at(live))
		return 0;
	row_next_from_found(live);
	row_set_col(live, "state", CStringGetTextDatum("ringing"), false);
	row_set_col(live, "ringing_at", TimestampTzGetDatum(Min(at, GetCurrentTimestamp())), false);
	row_update(w, live);
	return 1;
}

int64
ccroute_answer_call(RowWork *w, int64 tenant, int64 call_seq, TimestampTz at)
{
	RowRel	   *live = &w->rels[LIVE];
	RowRel	   *st = &w->rels[AGENT_STATE];
	bool		isnull;
	TimestampTz answered_at;
	Datum		agent;

	if (!lock_live_call(w, tenant, call_seq) ||
		row_text_is(row_get_col(live, "state", &isnull), "answered"))
		return 0;
	answered_at = Max(offered_at(live), Min(at, GetCurrentTimestamp()));
	agent = row_get_col(live, "agent_id", &isnull);
	row_next_from_found(live);
	row_set_col(live, "state", CStringGetTextDatum("answered"), false);
	row_set_col(live, "answered_at", TimestampTzGetDatum(answered_at), false);
	row_update(w, live);
	if (!isnull)
	{
		Datum		keys[2] = {Int64GetDatum(tenant), agent};

		if (row_fetch(w, st, row_relid("agent_state_pkey"), 2, keys) && row_lock(w, st, LockWaitBlock))
		{
			row_next_from_found(st);
			row_set_col(st, "state", CStringGetTextDatum("on_call"), false);
			row_set_col(st, "since", TimestampTzGetDatum(answered_at), false);
			row_set_col(st, "reserved_until", (Datum) 0, true);
			row_set_col(st, "no_answer_streak", Int32GetDatum(0), false);
			row_update(w, st);
		}
	}
	return 1;
}

int64
ccroute_end_call(RowWork *w, int64 tenant, int64 call_seq, TimestampTz at, bool has_status, int32 status)
{
	RowRel	   *live = &w->rels[LIVE];
	RowRel	   *hist = &w->rels[HISTORY];
	RowRel	   *st = &w->rels[AGENT_STATE];
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

	if (!lock_live_call(w, tenant, call_seq))
		return 0;				/* already ended */

	arrived_at = DatumGetTimestampTz(row_get_col(live, "arrived_at", &isnull));
	{
		Datum		v = row_get_col(live, "answered_at", &isnull);

		answered = !isnull;
		if (answered)
			answered_at = DatumGetTimestampTz(v);
	}
	{
		Datum		v = row_get_col(live, "agent_id", &isnull);

		has_agent = !isnull;
		if (has_agent)
			agent = DatumGetInt64(v);
	}
	/* Not before the call began (or was answered), nor after now. */
	ended_at = Max(answered ? answered_at : arrived_at, Min(at, now));
	if (answered)
		outcome = "answered";
	else if (row_text_is(row_get_col(live, "state", &isnull), "failed"))
		outcome = "no_answer";
	else
		outcome = "abandoned";
	if (answered && has_agent)
		has_wrapup = answered_call_facts(w, tenant, agent, ended_at, &wrapup, &day);

	/* The history row. */
	row_next_empty(hist);
	for (int i = 0; i < (int) lengthof(carried); i++)
	{
		Datum		v = row_get_col(live, carried[i], &isnull);

		row_set_col(hist, carried[i], v, isnull);
	}
	row_set_col(hist, "sip_status", Int32GetDatum(status), !has_status);
	row_set_col(hist, "outcome", CStringGetTextDatum(outcome), false);
	row_set_col(hist, "ended_at", TimestampTzGetDatum(ended_at), false);
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
	row_set_col(hist, "wrap_up_seconds", Int32GetDatum(wrapup), !has_wrapup);

	row_delete(w, live);
	row_insert(w, hist);

	/* The agent: freed after an answered call; after one that only rang, only if it is still
	 * reserved for it (a no-answer may already have freed it). */
	if (has_agent)
	{
		Datum		akeys[2] = {Int64GetDatum(tenant), Int64GetDatum(agent)};

		if (row_fetch(w, st, row_relid("agent_state_pkey"), 2, akeys) &&
			row_lock(w, st, LockWaitBlock) &&
			(answered || row_text_is(row_get_col(st, "state", &isnull), "reserved")))
		{
			row_next_from_found(st);
			row_set_col(st, "since", TimestampTzGetDatum(ended_at), false);
			row_set_col(st, "reserved_until", (Datum) 0, true);
			if (answered)
			{
				TimestampTz free_at = ended_at + (int64) wrapup * USECS_PER_SEC;
				Datum		v = row_get_col(st, "stats_day", &isnull);
				bool		same_day = !isnull && DatumGetDateADT(v) == day;
				int32		calls = same_day ? DatumGetInt32(row_get_col(st, "calls_today", &isnull)) : 0;
				int32		talk = same_day ? DatumGetInt32(row_get_col(st, "talk_seconds_today", &isnull)) : 0;

				row_set_col(st, "state", CStringGetTextDatum(wrapup > 0 ? "wrap_up" : "ready"), false);
				row_set_col(st, "available_at", TimestampTzGetDatum(free_at), wrapup <= 0);
				row_set_col(st, "idle_since", TimestampTzGetDatum(free_at), false);
				row_set_col(st, "calls_today", Int32GetDatum(calls + 1), false);
				row_set_col(st, "talk_seconds_today", Int32GetDatum(talk + seconds_int(ended_at - answered_at)),
					false);
				row_set_col(st, "stats_day", DateADTGetDatum(day), false);
			}
			else
			{
				row_set_col(st, "state", CStringGetTextDatum("ready"), false);
				row_set_col(st, "available_at", (Datum) 0, true);
			}
			row_update(w, st);
		}
	}
	return 1;
}
