/*
 * ccroute_events.c: call events, queued by SIP workers and sent in batches (see the header).
 */
#include <stdio.h>
#include <string.h>

#include "core/dprint.h"

#include "ccroute_breaker.h"
#include "ccroute_db.h"
#include "ccroute_events.h"
#include "ccroute_queue.h"
#include "ccroute_rpc.h"

/* An entry sent more than this long after it happened counts as late (the database was away
 * or behind). */
#define LATE_US 1000000LL

static int batchable(const char *event)
{
	return strcmp(event, "ringing") == 0 || strcmp(event, "answered") == 0
		   || strcmp(event, "ended") == 0 || strcmp(event, "abandoned") == 0;
}

static int immediate(const char *event)
{
	return strcmp(event, "no_answer") == 0 || strcmp(event, "busy") == 0
		   || strcmp(event, "rejected") == 0;
}

/* Sends one event now on this process's connection: 0 taken, -1 database unavailable, -2
 * refused by the database. */
static int send_now(const char *tenant, const char *call, const char *event, long long deadline)
{
	const char *params[3] = {tenant, call, event};
	PGresult *res;
	int refused;

	res = ccr_db_run(CCR_STMT_EVENT, "call_event", 3, params, 1, deadline, &refused);
	if(res == NULL)
		return refused ? -2 : -1;
	PQclear(res);
	return 0;
}

int ccr_event_report(const char *tenant, const char *call, const char *event)
{
	long long deadline = ccr_now_ms() + ccr_db_timeout_ms();
	int rc;

	if(batchable(event)) {
		LM_DBG("call %s of tenant %s: %s queued\n", call, tenant, event);
		ccr_queue_push(CCR_PENDING_EVENT, tenant, call, event);
		return 0;
	}
	if(!immediate(event)) {
		LM_ERR("unknown call event '%s'\n", event);
		return -1;
	}
	if(!ccr_breaker_allows()) {
		counter_inc(ccr_cnt.breaker_skipped);
		rc = -1;
	} else if(ccr_db_ensure(deadline) < 0) {
		rc = -1;
	} else {
		rc = send_now(tenant, call, event, deadline);
		if(rc != -1)
			counter_inc(rc == 0 ? ccr_cnt.events : ccr_cnt.events_failed);
	}
	/* Unsent, it waits its turn behind the batched events (the time it happened goes with it
	 * only as its place in the queue: call_event records the time it arrives). */
	if(rc == -1)
		ccr_queue_push(CCR_PENDING_EVENT, tenant, call, event);
	return rc == 0 ? 0 : -1;
}

/* Appends "x" or ",x" to an array literal being built; 0, or -1 when it would not fit. */
static int append(char *buf, size_t size, size_t *len, const char *item)
{
	int n = snprintf(buf + *len, size - *len, "%s%s", *len > 1 ? "," : "", item);

	if(n < 0 || (size_t)n >= size - *len)
		return -1;
	*len += n;
	return 0;
}

/* Sends batch[0..n) (events that call_events takes) in one statement: 0 taken, -1 database
 * unavailable, -2 refused. */
static int send_batch(const ccr_pending_t *batch, int n, long long deadline)
{
	/* Ids are digits (checked where the config hands them over), events plain words, times
	 * quoted: no element needs escaping. */
	static char tenants[CCR_EVENT_BATCH * 24 + 4], calls[CCR_EVENT_BATCH * 24 + 4],
			events[CCR_EVENT_BATCH * 16 + 4], times[CCR_EVENT_BATCH * 40 + 4];
	size_t lt = 1, lc = 1, le = 1, lm = 1;
	const char *params[4] = {tenants, calls, events, times};
	char at[40], quoted[44];
	PGresult *res;
	int i, refused;

	tenants[0] = calls[0] = events[0] = times[0] = '{';
	for(i = 0; i < n; i++) {
		ccr_time_text(at, sizeof(at), batch[i].at_us);
		snprintf(quoted, sizeof(quoted), "\"%s\"", at);
		if(append(tenants, sizeof(tenants) - 1, &lt, batch[i].a) < 0
				|| append(calls, sizeof(calls) - 1, &lc, batch[i].b) < 0
				|| append(events, sizeof(events) - 1, &le, batch[i].event) < 0
				|| append(times, sizeof(times) - 1, &lm, quoted) < 0)
			return -2;
	}
	strcpy(tenants + lt, "}");
	strcpy(calls + lc, "}");
	strcpy(events + le, "}");
	strcpy(times + lm, "}");
	res = ccr_db_run(CCR_STMT_EVENTS, "call_events", 4, params, 1, deadline, &refused);
	if(res == NULL)
		return refused ? -2 : -1;
	LM_DBG("%d call events sent, %s applied: %s %s\n", n, PQgetvalue(res, 0, 0), calls, events);
	PQclear(res);
	return 0;
}

/* Sends what peek gave, in order: how many of the first entries are done (taken, or refused
 * and dropped); fewer than n when the database stopped answering at the next one. */
static int send_entries(const ccr_pending_t *batch, int n, long long deadline)
{
	int i, j, rc, start;

	if(batch[0].kind == CCR_PENDING_WITHDRAW) {
		const char *params[2] = {batch[0].a, batch[0].b};
		int refused;
		PGresult *res = ccr_db_run(
				CCR_STMT_WITHDRAW, "withdraw_call", 2, params, 1, deadline, &refused);

		if(res == NULL && !refused)
			return 0;
		PQclear(res);
		return 1;
	}
	/* Runs of events call_events takes go together; those it does not (a no answer that
	 * waited out an outage) go one at a time, in their place. */
	for(start = 0; start < n; start = i) {
		for(i = start; i < n && batchable(batch[i].event); i++)
			;
		if(i == start) {
			rc = send_now(batch[i].a, batch[i].b, batch[i].event, deadline);
			i++;
		} else {
			rc = send_batch(batch + start, i - start, deadline);
			if(rc == -2 && i - start > 1) {
				/* One bad entry must not hold back the others: each alone. */
				for(j = start; j < i; j++) {
					rc = send_batch(batch + j, 1, deadline);
					if(rc == -1)
						return j;
					counter_inc(rc == 0 ? ccr_cnt.events : ccr_cnt.events_failed);
				}
				continue;
			}
		}
		if(rc == -1)
			return start;
		counter_add(rc == 0 ? ccr_cnt.events : ccr_cnt.events_failed, i - start);
	}
	return n;
}

/* Sends what waits, batch after batch (see below for how long): how many entries were sent,
 * or -1 when the database stopped answering (what was not sent stays; what was, is removed, so
 * it is never sent twice). One process sends at a time: the event process, or the probe
 * draining the queue before it closes the breaker. */
static int send_waiting(long long until, int past_breaker, int drain)
{
	static ccr_pending_t batch[CCR_EVENT_BATCH];
	long long now_us;
	int n, i, done, sent = 0;

	ccr_queue_lock_sending();
	while(ccr_now_ms() < until && ccr_queue_length() > 0) {
		long long deadline = ccr_now_ms() + ccr_db_timeout_ms();

		if(past_breaker ? ccr_db_ensure_past_breaker(deadline) < 0
						: (!ccr_breaker_allows() || ccr_db_ensure(deadline) < 0)) {
			sent = -1;
			break;
		}
		n = ccr_queue_peek(batch, CCR_EVENT_BATCH);
		if(n == 0)
			break;
		done = send_entries(batch, n, deadline);
		now_us = ccr_wall_us();
		for(i = 0; i < done; i++)
			if(now_us - batch[i].at_us > LATE_US)
				counter_inc(ccr_cnt.events_late);
		if(done > 0)
			ccr_queue_pop_through(batch[done - 1].seq);
		if(done < n) {
			sent = -1; /* the database is away again: the rest stays */
			break;
		}
		sent += n;
		/* In the normal run, one batch per step: what arrives during a commit waits for the
		 * next step and goes with others (sending again at once would make a commit per event
		 * or two). A backlog (a full batch, a withdrawal, many waiting) goes at once. */
		if(!drain && n < CCR_EVENT_BATCH && batch[0].kind == CCR_PENDING_EVENT
				&& ccr_queue_length() < CCR_EVENT_BATCH / 4)
			break;
	}
	ccr_queue_unlock_sending();
	return sent;
}

void ccr_events_flush(unsigned int ticks, void *param)
{
	/* While the breaker is open the probe decides when the database is back (and sends the
	 * backlog first: ccr_events_drain). Within about one deadline, so that the step ends. */
	if(send_waiting(ccr_now_ms() + ccr_db_timeout_ms(), 0, 0) > 0)
		ccr_breaker_success();
}

int ccr_events_drain(long long until)
{
	if(send_waiting(until, 1, 1) < 0 || ccr_queue_length() > 0)
		return -1;
	return 0;
}
