/*
 * ccroute_batch.c: INVITEs decided in batches by the router processes (see the header).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sem_clockwait: a deadline on the monotonic clock, as every other here */
#endif
#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cfg/cfg_struct.h"
#include "core/dprint.h"
#include "core/locking.h"
#include "core/mem/shm_mem.h"
#include "core/pt.h"
#include "core/sr_module.h"

#include "ccroute_batch.h"
#include "ccroute_breaker.h"
#include "ccroute_queue.h"
#include "ccroute_route.h"
#include "ccroute_rpc.h"

/* A slot's life: a worker queues its call, a router takes it, decides and marks it done; the
 * worker reads the decision and the slot is idle again. A worker that stops waiting makes it
 * idle itself, and the router then drops the decision it was making. */
enum { SLOT_IDLE, SLOT_QUEUED, SLOT_TAKEN, SLOT_DONE };

typedef struct ccr_request
{
	char call_id[CCR_FIELD_MAX];
	char caller[CCR_FIELD_MAX];
	char dialed[CCR_FIELD_MAX];
	char facts[CCR_MAX_FACTS][CCR_FIELD_MAX];
	unsigned char has_fact[CCR_MAX_FACTS];
	long long deadline; /* the worker's, monotonic milliseconds */
} ccr_request_t;

typedef struct ccr_slot
{
	int state;
	unsigned int seq;		  /* the worker's request number: a decision is for the one it names */
	unsigned long long order; /* when it was queued, among every slot's requests */
	sem_t woken;			  /* posted when the decision is there */
	ccr_request_t req;
	int rc;					  /* ccr_db_route()'s: 0 decided, -1 database unavailable */
	ccr_decision_t decision;
} ccr_slot_t;

typedef struct ccr_batcher
{
	gen_lock_t lock;	   /* held for moments: never during a query */
	sem_t work;			   /* posted once per queued call */
	unsigned long long queued;
	int nslots;
	ccr_slot_t slots[];	/* one per Kamailio process, by process_no */
} ccr_batcher_t;

static ccr_batcher_t *batcher;
static int routers;
static int wait_us;

int ccr_batch_configure(int n, int wait, int timeout_ms)
{
	if(n < 0 || n > 16) {
		LM_ERR("routers must be between 0 (no batches) and 16, not %d\n", n);
		return -1;
	}
	/* The wait is part of every call's deadline: within the quarter a call may have left when a
	 * router takes it (min_left_ms). */
	if(wait < 0 || wait > timeout_ms * 250) {
		LM_ERR("batch_wait_us must be between 0 and a quarter of timeout_ms (%d us), not %d\n",
				timeout_ms * 250, wait);
		return -1;
	}
	routers = n;
	wait_us = wait;
	if(routers > 0) {
		register_procs(routers);
		cfg_register_child(routers);
	}
	return 0;
}

int ccr_batch_init(void)
{
	int i, n = get_max_procs();

	if(routers == 0)
		return 0;
	batcher = shm_malloc(sizeof(*batcher) + n * sizeof(ccr_slot_t));
	if(batcher == NULL) {
		LM_ERR("no shared memory for %d routing slots\n", n);
		return -1;
	}
	memset(batcher, 0, sizeof(*batcher) + n * sizeof(ccr_slot_t));
	batcher->nslots = n;
	/* Shared memory is one mapping in every process: process-shared semaphores work there. */
	if(lock_init(&batcher->lock) == NULL || sem_init(&batcher->work, 1, 0) < 0)
		return -1;
	for(i = 0; i < n; i++)
		if(sem_init(&batcher->slots[i].woken, 1, 0) < 0)
			return -1;
	return 0;
}

void ccr_batch_destroy(void)
{
	if(batcher) {
		shm_free(batcher);
		batcher = NULL;
	}
}

static struct timespec monotonic_at(long long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	return ts;
}

int ccr_batch_route(const char *call_id, const char *caller, const char *dialed,
		const char *const *facts, ccr_decision_t *out)
{
	long long deadline = ccr_now_ms() + ccr_db_timeout_ms();
	struct timespec until = monotonic_at(deadline);
	ccr_slot_t *s;
	unsigned int seq;
	int i, was, rc, timed_out;

	if(batcher == NULL || process_no < 0 || process_no >= batcher->nslots)
		return ccr_db_route(call_id, caller, dialed, facts, out);
	if(!ccr_breaker_allows()) {
		counter_inc(ccr_cnt.breaker_skipped);
		return -1;
	}
	s = &batcher->slots[process_no];
	/* A wake-up meant for a request this worker stopped waiting for. */
	while(sem_trywait(&s->woken) == 0)
		;
	lock_get(&batcher->lock);
	seq = ++s->seq;
	/* The values were checked by the caller: C strings shorter than CCR_FIELD_MAX. */
	strcpy(s->req.call_id, call_id);
	strcpy(s->req.caller, caller);
	strcpy(s->req.dialed, dialed);
	for(i = 0; i < ccr_fact_count(); i++) {
		s->req.has_fact[i] = facts[i] != NULL;
		if(facts[i])
			strcpy(s->req.facts[i], facts[i]);
	}
	s->req.deadline = deadline;
	s->order = batcher->queued++;
	s->state = SLOT_QUEUED;
	lock_release(&batcher->lock);
	sem_post(&batcher->work);

	for(;;) {
		timed_out = 0;
		if(sem_clockwait(&s->woken, CLOCK_MONOTONIC, &until) < 0) {
			if(errno == EINTR)
				continue;
			timed_out = 1;
		}
		lock_get(&batcher->lock);
		if(s->state == SLOT_DONE && s->seq == seq) {
			rc = s->rc;
			if(rc == 0)
				*out = s->decision;
			s->state = SLOT_IDLE;
			lock_release(&batcher->lock);
			return rc;
		}
		if(!timed_out) {
			lock_release(&batcher->lock);
			continue;
		}
		was = s->state;
		s->state = SLOT_IDLE;
		lock_release(&batcher->lock);
		LM_WARN("no routing decision within %d ms (the routers are %s)\n", ccr_db_timeout_ms(),
				was == SLOT_TAKEN ? "waiting for the database" : "behind");
		/* A router is asking for it: the decision may still commit, its agent is freed once
		 * the database hears of the withdrawal. */
		if(was == SLOT_TAKEN)
			ccr_queue_push(CCR_PENDING_WITHDRAW, call_id, dialed, NULL);
		return -1;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* The router processes. */

typedef struct ccr_taken
{
	int slot;
	unsigned int seq;
	unsigned long long order;
} ccr_taken_t;

static int by_order(const void *a, const void *b)
{
	const ccr_taken_t *x = a, *y = b;

	return x->order < y->order ? -1 : x->order > y->order;
}

/* A batch must commit before its earliest call's deadline: a call with less than this left
 * would cut the time of the whole batch short (and a query sent with almost no time left fails,
 * counting against the database). Such a call gets no answer from the database, at once: its
 * worker uses the fallback, as it would a moment later anyway. */
static long long min_left_ms(void)
{
	return ccr_db_timeout_ms() / 4 + 1;
}

/* Whether the worker that queued taken[i] still waits for it. */
static int still_waiting(const ccr_taken_t *t)
{
	int rc;

	lock_get(&batcher->lock);
	rc = batcher->slots[t->slot].state == SLOT_TAKEN && batcher->slots[t->slot].seq == t->seq;
	lock_release(&batcher->lock);
	return rc;
}

/* Takes the queued calls, oldest first, up to a batch: their requests are copied out, since a
 * worker that stops waiting may queue its next call in the same slot meanwhile. Calls with
 * too little time left are answered at once, unasked (see min_left_ms). */
static int take(ccr_taken_t *taken, ccr_request_t *reqs)
{
	static ccr_taken_t queued[1024];
	long long now = ccr_now_ms();
	int i, n = 0, m = 0;

	lock_get(&batcher->lock);
	for(i = 0; i < batcher->nslots && n < (int)(sizeof(queued) / sizeof(queued[0])); i++) {
		ccr_slot_t *s = &batcher->slots[i];

		if(s->state != SLOT_QUEUED)
			continue;
		if(s->req.deadline - now < min_left_ms()) {
			s->rc = -1;
			s->state = SLOT_DONE;
			sem_post(&s->woken);
			continue;
		}
		queued[n].slot = i;
		queued[n].seq = s->seq;
		queued[n].order = s->order;
		n++;
	}
	qsort(queued, n, sizeof(queued[0]), by_order);
	for(m = 0; m < n && m < CCR_BATCH_MAX; m++) {
		ccr_slot_t *s = &batcher->slots[queued[m].slot];

		taken[m] = queued[m];
		reqs[m] = s->req;
		s->state = SLOT_TAKEN;
	}
	lock_release(&batcher->lock);
	return m;
}

/* Appends one element to an array literal being built: quoted, with " and \ escaped (the
 * element may hold anything but NUL: Call-IDs may have both), or NULL. 0, or -1 if it would
 * not fit. */
static int append_element(char *buf, size_t size, size_t *len, const char *v)
{
	size_t need = 3 + (v ? 2 * strlen(v) + 2 : 4), l = *len;

	if(l + need >= size)
		return -1;
	if(l > 1)
		buf[l++] = ',';
	if(v == NULL) {
		memcpy(buf + l, "NULL", 4);
		l += 4;
	} else {
		buf[l++] = '"';
		for(; *v; v++) {
			if(*v == '"' || *v == '\\')
				buf[l++] = '\\';
			buf[l++] = *v;
		}
		buf[l++] = '"';
	}
	buf[l] = '\0';
	*len = l;
	return 0;
}

#define ARRAY_SIZE (CCR_BATCH_MAX * (2 * CCR_FIELD_MAX + 4) + 4)

static void decide_alone(const ccr_request_t *req, int *rc, ccr_decision_t *out)
{
	const char *facts[CCR_MAX_FACTS];
	int j;

	for(j = 0; j < ccr_fact_count(); j++)
		facts[j] = req->has_fact[j] ? req->facts[j] : NULL;
	*rc = ccr_db_route_by(req->call_id, req->caller, req->dialed, facts, req->deadline, out);
}

/* Decides reqs[0..n) in one statement; each rc as ccr_db_route() returns it. */
static void decide(const ccr_taken_t *taken, const ccr_request_t *reqs, int n, int *rc,
		ccr_decision_t *out)
{
	static char arrays[3 + CCR_MAX_FACTS][ARRAY_SIZE];
	const char *params[4 + CCR_MAX_FACTS];
	size_t len[3 + CCR_MAX_FACTS];
	char deadline_at[64];
	long long deadline = reqs[0].deadline;
	int i, j, refused, nf = ccr_fact_count(), ncols = 3 + nf;
	PGresult *res;

	for(i = 0; i < n; i++)
		rc[i] = -1;
	for(i = 1; i < n; i++)
		if(reqs[i].deadline < deadline)
			deadline = reqs[i].deadline;
	if(!ccr_breaker_allows()) {
		counter_add(ccr_cnt.breaker_skipped, n);
		return;
	}
	if(ccr_db_ensure(deadline) < 0)
		return;
	if(n == 1 || !ccr_db_batches_ok()) {
		for(i = 0; i < n; i++)
			decide_alone(&reqs[i], &rc[i], &out[i]);
		return;
	}

	for(j = 0; j < ncols; j++) {
		arrays[j][0] = '{';
		arrays[j][1] = '\0';
		len[j] = 1;
	}
	for(i = 0; i < n; i++) {
		/* Each value is shorter than CCR_FIELD_MAX: the arrays always hold a full batch. */
		append_element(arrays[0], ARRAY_SIZE - 1, &len[0], reqs[i].call_id);
		append_element(arrays[1], ARRAY_SIZE - 1, &len[1], reqs[i].caller);
		append_element(arrays[2], ARRAY_SIZE - 1, &len[2], reqs[i].dialed);
		for(j = 0; j < nf; j++)
			append_element(arrays[3 + j], ARRAY_SIZE - 1, &len[3 + j],
					reqs[i].has_fact[j] ? reqs[i].facts[j] : NULL);
	}
	for(j = 0; j < ncols; j++)
		strcpy(arrays[j] + len[j], "}");
	ccr_db_deadline_text(deadline_at, sizeof(deadline_at), deadline);
	params[0] = arrays[0];
	params[1] = arrays[1];
	params[2] = arrays[2];
	params[3] = deadline_at;
	for(j = 0; j < nf; j++)
		params[4 + j] = arrays[3 + j];

	res = ccr_db_run_rows(CCR_STMT_ROUTE_BATCH, "route_calls", 4 + nf, params, n, 6, deadline,
			&refused);
	if(res) {
		for(i = 0; i < n; i++) {
			ccr_db_decision(res, i, &out[i]);
			rc[i] = 0;
		}
		PQclear(res);
		ccr_breaker_success();
		return;
	}
	if(refused) {
		/* One call's error undid the batch: each alone, so that it costs that call only; not
		 * those whose worker stopped waiting or whose time is nearly up (the refusal may be
		 * the batch's commit deadline). */
		for(i = 0; i < n; i++)
			if(reqs[i].deadline - ccr_now_ms() >= min_left_ms() && still_waiting(&taken[i]))
				decide_alone(&reqs[i], &rc[i], &out[i]);
		return;
	}
	/* No answer in time: had the batch committed all the same, its agents are freed once the
	 * database hears of the withdrawals. */
	for(i = 0; i < n; i++)
		ccr_queue_push(CCR_PENDING_WITHDRAW, reqs[i].call_id, reqs[i].dialed, NULL);
}

static void router_loop(void)
{
	static ccr_taken_t taken[CCR_BATCH_MAX];
	static ccr_request_t reqs[CCR_BATCH_MAX];
	static ccr_decision_t out[CCR_BATCH_MAX];
	static int rc[CCR_BATCH_MAX];
	/* Up to a quarter of a 10 s deadline: seconds apart (nanosleep refuses 1e9 ns or more). */
	struct timespec gather = {wait_us / 1000000, (long)(wait_us % 1000000) * 1000};
	int i, n, last = 0;

	for(;;) {
		if(sem_wait(&batcher->work) < 0)
			continue; /* EINTR */
		/* Settings changed by cfg.set reach this process as they reach the workers. */
		cfg_update();
		/* Calls came together last time: more are on their way. Letting them gather a moment
		 * costs each call that much latency and saves a statement and a commit per call that
		 * joins, which the database and this process pay in CPU (a millisecond took the batches
		 * from 4.0 to 5.6 calls at 2,000 calls a second, and the CPU per call, database and
		 * proxy, from 0.52 to 0.44 ms: tests/bench/sip_load.sh, CCROUTE_BATCH_WAIT_US). A
		 * quiet proxy's lone calls never wait.
		 * (A signal cuts the wait short: the calls go as they are.) */
		if(wait_us > 0 && last >= 2)
			nanosleep(&gather, NULL);
		n = take(taken, reqs);
		if(n == 0)
			continue; /* a call another router took, with its batch */
		last = n;
		memset(out, 0, n * sizeof(out[0]));
		decide(taken, reqs, n, rc, out);
		counter_inc(ccr_cnt.batches);
		counter_add(ccr_cnt.batched_calls, n);
		lock_get(&batcher->lock);
		for(i = 0; i < n; i++) {
			ccr_slot_t *s = &batcher->slots[taken[i].slot];

			if(s->state != SLOT_TAKEN || s->seq != taken[i].seq)
				continue; /* the worker stopped waiting */
			s->rc = rc[i];
			s->decision = out[i];
			s->state = SLOT_DONE;
			sem_post(&s->woken);
		}
		lock_release(&batcher->lock);
	}
}

int ccr_batch_start(void)
{
	int i, pid;

	for(i = 0; i < routers; i++) {
		pid = fork_process(PROC_NOCHLDINIT, "ccroute router", 1);
		if(pid < 0)
			return -1;
		if(pid == 0) {
			if(cfg_child_init())
				return -1;
			ccr_db_use_batches();
			ccr_db_child_init();
			router_loop();
		}
	}
	return 0;
}
