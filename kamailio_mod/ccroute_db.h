/*
 * ccroute_db.h: this worker's one libpq connection to the ccroute extension, used with a
 * deadline so that a slow or absent database never holds a SIP worker for long.
 */
#ifndef CCROUTE_DB_H
#define CCROUTE_DB_H

#include <stddef.h>
#include <libpq-fe.h>

#define CCR_FIELD_MAX 256

#define CCR_STMT_EVENT "ccroute_call_event"
#define CCR_STMT_EVENTS "ccroute_call_events"
#define CCR_STMT_WITHDRAW "ccroute_withdraw_call"
#define CCR_STMT_ROUTE_BATCH "ccroute_route_calls"

/* What route_call() decided, copied out of libpq's result. */
typedef struct ccr_decision
{
	char action[32];
	char target[CCR_FIELD_MAX];
	int sip_status;
	char reason[128];
	char tenant[24];	/* with call: the ids that later events name the call by */
	char call[24];
} ccr_decision_t;

/* Remembers the connection string; called once, before the fork. */
void ccr_db_configure(const char *conninfo, int timeout_ms);

/* This process decides batches (a router): its connection prepares route_calls too. */
void ccr_db_use_batches(void);

/* Whether this process's connection can decide batches (route_calls was prepared). */
int ccr_db_batches_ok(void);

/* Opens this worker's connection if it can within the deadline; a failure is not fatal. */
void ccr_db_child_init(void);

/* Asks route_call() for a decision; facts holds ccr_fact_count() values (NULL: absent). 0 on success, -1 when the database could not answer in
 * time (down, slow, or erroring): the caller then uses its fallback. */
int ccr_db_route(const char *call_id, const char *caller, const char *dialed,
		const char *const *facts, ccr_decision_t *out);

/* The same with a deadline of the caller's (monotonic milliseconds, ccr_now_ms()). */
int ccr_db_route_by(const char *call_id, const char *caller, const char *dialed,
		const char *const *facts, long long deadline, ccr_decision_t *out);

/* Row `row` of a route_call or route_calls result. */
void ccr_db_decision(const PGresult *res, int row, ccr_decision_t *out);

/* A monotonic deadline as a timestamptz literal. */
void ccr_db_deadline_text(char *buf, size_t size, long long deadline);

/* The HA1 of the phone registering as `user` in SIP domain `domain` (the digest realm): 0 and
 * ha1 set, -1 no such phone, -2 database unavailable. */
int ccr_db_credentials(const char *domain, const char *user, char *ha1, size_t size);

/* Makes sure this process holds a connection, within the deadline and if the breaker and the
 * backoff allow: 0 connected, -1 not. */
int ccr_db_ensure(long long deadline);

/* The same for the process that probes the database while the breaker is open: it ignores the
 * breaker and the backoff. */
int ccr_db_ensure_past_breaker(long long deadline);

/*
 * Runs a prepared statement on this process's connection within the deadline and returns its
 * one-row result of `columns` columns (the caller clears it). NULL when the database did not
 * answer in time or the connection broke (the connection is then given up), or when it
 * answered with an error (logged; *refused set).
 */
PGresult *ccr_db_run(const char *stmt, const char *what, int n, const char *const *params,
		int columns, long long deadline, int *refused);

/* The same for a result of `rows` rows. */
PGresult *ccr_db_run_rows(const char *stmt, const char *what, int n, const char *const *params,
		int rows, int columns, long long deadline, int *refused);

int ccr_db_timeout_ms(void);

/* A wall-clock time in microseconds since 1970, as PostgreSQL reads a timestamptz. */
void ccr_time_text(char *buf, size_t size, long long at_us);
long long ccr_wall_us(void);

/* One bounded attempt, on a connection of its own, to reach the database: 0 if it answered. */
int ccr_db_probe(void);

void ccr_db_close(void);

#endif
