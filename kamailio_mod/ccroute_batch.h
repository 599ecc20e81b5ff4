/*
 * ccroute_batch.h: INVITEs decided in batches by the module's router processes.
 *
 * Without batches every SIP worker asks route_call() on its own connection: one round trip and
 * one durable commit per call, and under load the database spends more on starting, committing
 * and flushing those transactions than on the calls' rows. With `routers` > 0 a worker hands its
 * call's facts to a slot of its own in shared memory and sleeps on it; a router process takes
 * every call waiting, asks route_calls() for all of them in one statement (one transaction, one
 * commit), and wakes each worker with its decision. Nobody waits for a batch to fill: a batch
 * is what arrived while the previous one was being decided (one call when the proxy is quiet,
 * dozens at its limit), like PostgreSQL's own group commit. Under load (the previous batch
 * had two calls or more) a router lets the calls gather for `batch_wait_us` before taking
 * them, as PostgreSQL's commit_delay does: a millisecond more per call, and fewer, fuller
 * statements and commits. Several routers overlap one batch's commit with the next batch's
 * work.
 *
 * The worker keeps its deadline: it stops waiting when the deadline passes, as it would stop
 * waiting for its own query, and the call goes to the fallback (with a withdrawal queued, in
 * case the decision commits all the same). The breaker, the backoff and the reconnection are
 * the same as for the worker's own connection, applied in the router.
 */
#ifndef CCROUTE_BATCH_H
#define CCROUTE_BATCH_H

#include "ccroute_db.h"

#define CCR_BATCH_MAX 64

/* In mod_init: how many router processes (0: no batches; each worker asks on its own), and
 * how long a router lets calls gather once they arrive together (microseconds, 0: never; at
 * most a quarter of the deadline). */
int ccr_batch_configure(int routers, int wait_us, int timeout_ms);

/* In child_init(PROC_INIT), once the number of processes is known: the shared slots. */
int ccr_batch_init(void);
void ccr_batch_destroy(void);

/* In child_init(PROC_MAIN): forks the router processes. */
int ccr_batch_start(void);

/* Asks for the call's decision through a router, within this worker's deadline (without
 * routers, or in a process without a slot, on this process's own connection); the same
 * contract as ccr_db_route(). */
int ccr_batch_route(const char *call_id, const char *caller, const char *dialed,
		const char *const *facts, ccr_decision_t *out);

#endif
