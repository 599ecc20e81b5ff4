/*
 * ccroute_db.c: one libpq connection per SIP worker, driven without blocking.
 *
 * Every step (connect, prepare, query) runs against one deadline with poll(), so a database
 * that is down, frozen or slow costs a call at most the configured time. After a failure the
 * connection is dropped and reconnection waits out a growing backoff, so a dead database costs
 * calls almost nothing: they go straight to the fallback until the next retry is due. Failures
 * also feed the breaker all workers share (ccroute_breaker.c), which stops every worker asking
 * a database that is gone, and lets them all retry at once when it is back.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include <libpq-fe.h>

#include "core/dprint.h"

#include "ccroute_breaker.h"
#include "ccroute_db.h"
#include "ccroute_queue.h"
#include "ccroute_route.h"
#include "ccroute_rpc.h"

#define STMT_ROUTE "ccroute_route_call"
#define STMT_CREDENTIALS "ccroute_sip_credentials"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static const char *db_conninfo;
static int db_timeout_ms;

static PGconn *conn;
static long long next_retry_ms;
static int backoff_ms = BACKOFF_MIN_MS;
static unsigned int breaker_generation;

#define now_ms ccr_now_ms

void ccr_db_configure(const char *conninfo, int timeout_ms)
{
	db_conninfo = conninfo;
	db_timeout_ms = timeout_ms;
}

int ccr_db_timeout_ms(void)
{
	return db_timeout_ms;
}

void ccr_db_close(void)
{
	if(conn) {
		PQfinish(conn);
		conn = NULL;
		ccr_breaker_connected(-1);
	}
}

static void give_up(const char *what)
{
	/* The message, not the connection string: the latter may hold a password. */
	LM_ERR("database %s failed: %s\n", what,
			conn ? PQerrorMessage(conn) : "no connection");
	counter_inc(ccr_cnt.db_failures);
	ccr_db_close();
	next_retry_ms = now_ms() + backoff_ms;
	backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
	ccr_breaker_failure();
}

/* Waits until the socket is ready for `events` or the deadline passes. */
static int wait_socket(PGconn *c, short events, long long deadline)
{
	struct pollfd pfd;
	long long left;
	int rc;

	pfd.fd = PQsocket(c);
	pfd.events = events;
	for(;;) {
		left = deadline - now_ms();
		if(left <= 0)
			return -1;
		rc = poll(&pfd, 1, (int)left);
		if(rc > 0)
			return 0;
		if(rc < 0 && errno != EINTR)
			return -1;
	}
}

/* Starts a connection and drives it until it is made, fails, or the deadline passes; the
 * caller checks PQstatus (a failed connection is returned too, for its error message). */
static PGconn *connect_by(long long deadline)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	PGconn *c = PQconnectStart(db_conninfo);

	if(c == NULL)
		return NULL;
	while(PQstatus(c) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		if(wait_socket(c, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline) < 0)
			break;
		st = PQconnectPoll(c);
	}
	if(st == PGRES_POLLING_OK)
		PQsetnonblocking(c, 1);
	return c;
}

/* Sends what libpq buffered, then collects the one result of the command sent. */
static PGresult *result_by(PGconn *c, long long deadline)
{
	PGresult *res, *extra;
	int f;

	while((f = PQflush(c)) == 1)
		if(wait_socket(c, POLLIN | POLLOUT, deadline) < 0 || PQconsumeInput(c) == 0)
			return NULL;
	if(f < 0)
		return NULL;
	while(PQisBusy(c)) {
		if(wait_socket(c, POLLIN, deadline) < 0 || PQconsumeInput(c) == 0)
			return NULL;
	}
	res = PQgetResult(c);
	while((extra = PQgetResult(c)) != NULL)
		PQclear(extra);
	return res;
}

/* Prepares one statement on this worker's connection within the deadline. */
static int prepare_one(const char *name, const char *sql, int nparams, long long deadline)
{
	PGresult *res;
	int ok;

	if(!PQsendPrepare(conn, name, sql, nparams, NULL))
		return -1;
	res = result_by(conn, deadline);
	ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	return ok ? 0 : -1;
}

static int prepare_by(long long deadline)
{
	char sql[1024], *p = sql;
	int i;

	/* $4: the proxy's own deadline, so the router reserves nobody for a call that has
	 * already gone to the fallback when its answer comes too late. $5...: the facts' values,
	 * made a JSON object by PostgreSQL (their names were checked at start-up; absent ones,
	 * NULL, are left out). */
	p += sprintf(p, "SELECT action, target, sip_status, reason, tenant_id, call_seq"
					" FROM ccroute.route_call($1, $2, $3, ");
	if(ccr_fact_count() == 0)
		p += sprintf(p, "'{}'::jsonb");
	else {
		p += sprintf(p, "pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(");
		for(i = 0; i < ccr_fact_count(); i++)
			p += sprintf(p, "%s'%s', $%d::text", i ? ", " : "", ccr_fact_name(i), 5 + i);
		p += sprintf(p, "))");
	}
	sprintf(p, ", $4::timestamptz)");
	if(prepare_one(STMT_ROUTE, sql, 4 + ccr_fact_count(), deadline) < 0
			|| prepare_one(CCR_STMT_EVENT, "SELECT ccroute.call_event($1::bigint, $2::bigint, $3)", 3,
					   deadline)
					   < 0
			|| prepare_one(CCR_STMT_EVENTS,
					   "SELECT ccroute.call_events($1::bigint[], $2::bigint[], $3::text[],"
					   " $4::timestamptz[])",
					   4, deadline)
					   < 0
			|| prepare_one(STMT_CREDENTIALS, "SELECT ccroute.sip_credentials($1, $2)", 2, deadline)
					   < 0
			|| prepare_one(CCR_STMT_WITHDRAW, "SELECT ccroute.withdraw_call($1, $2)", 2, deadline) < 0)
		return -1;
	return 0;
}

static int ensure(long long deadline, int past_breaker);

int ccr_db_ensure(long long deadline)
{
	return ensure(deadline, 0);
}

int ccr_db_ensure_past_breaker(long long deadline)
{
	return ensure(deadline, 1);
}

static int ensure(long long deadline, int past_breaker)
{
	if(conn && PQstatus(conn) == CONNECTION_OK)
		return 0;
	ccr_db_close();
	if(breaker_generation != ccr_breaker_generation()) {
		/* The breaker closed since: the database is back, no need to wait. */
		breaker_generation = ccr_breaker_generation();
		next_retry_ms = 0;
		backoff_ms = BACKOFF_MIN_MS;
	}
	if(!past_breaker && (now_ms() < next_retry_ms || !ccr_breaker_allows()))
		return -1;
	conn = connect_by(deadline);
	if(conn)
		ccr_breaker_connected(1);
	if(conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		give_up("connect");
		return -1;
	}
	if(prepare_by(deadline) < 0) {
		give_up("prepare");
		return -1;
	}
	backoff_ms = BACKOFF_MIN_MS;
	LM_INFO("connected to the routing database\n");
	return 0;
}

void ccr_db_child_init(void)
{
	breaker_generation = ccr_breaker_generation();
	ccr_db_ensure(now_ms() + db_timeout_ms);
}

int ccr_db_probe(void)
{
	long long deadline = now_ms() + db_timeout_ms;
	PGconn *c = connect_by(deadline);
	PGresult *res = NULL;
	int ok = 0;

	if(c && PQstatus(c) == CONNECTION_OK && PQsendQuery(c, "SELECT 1"))
		res = result_by(c, deadline);
	ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	if(c)
		PQfinish(c);
	return ok ? 0 : -1;
}

static void copy_field(char *dst, size_t size, const PGresult *res, int col)
{
	snprintf(dst, size, "%s", PQgetisnull(res, 0, col) ? "" : PQgetvalue(res, 0, col));
}


/*
 * Runs a prepared statement on this worker's connection within the deadline and returns its
 * one-row result (the caller clears it). NULL when the database did not answer in time or the
 * connection broke (the connection is then given up: mid-query, only a new one is in a known
 * state), or when it answered with an error (logged; *refused set).
 */
PGresult *ccr_db_run(const char *stmt, const char *what, int n, const char *const *params,
		int columns, long long deadline, int *refused)
{
	PGresult *res;

	*refused = 0;
	if(!PQsendQueryPrepared(conn, stmt, n, params, NULL, NULL, 0)) {
		give_up("send");
		return NULL;
	}
	res = result_by(conn, deadline);
	if(res == NULL) {
		give_up(what);
		return NULL;
	}
	if(PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != columns) {
		LM_ERR("%s failed: %s\n", what, PQresultErrorMessage(res));
		PQclear(res);
		if(PQstatus(conn) != CONNECTION_OK)
			give_up(what);
		else
			*refused = 1;
		return NULL;
	}
	return res;
}

void ccr_time_text(char *buf, size_t size, long long at_us)
{
	time_t sec = (time_t)(at_us / 1000000);
	struct tm tm;
	char date[24];

	gmtime_r(&sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, size, "%s.%06d+00", date, (int)(at_us % 1000000));
}

long long ccr_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int ccr_db_route(const char *call_id, const char *caller, const char *dialed,
		const char *const *facts, ccr_decision_t *out)
{
	long long deadline = now_ms() + db_timeout_ms;
	char deadline_at[64];
	const char *params[4 + CCR_MAX_FACTS] = {call_id, caller, dialed, deadline_at};
	PGresult *res;
	int i, refused;

	for(i = 0; i < ccr_fact_count(); i++)
		params[4 + i] = facts[i];

	if(!ccr_breaker_allows()) {
		counter_inc(ccr_cnt.breaker_skipped);
		return -1;
	}
	if(ccr_db_ensure(deadline) < 0)
		return -1;
	/* The same deadline on the wall clock, as PostgreSQL reads a timestamptz. */
	ccr_time_text(deadline_at, sizeof(deadline_at), ccr_wall_us() + (long long)(deadline - now_ms()) * 1000);
	res = ccr_db_run(STMT_ROUTE, "route_call", 4 + ccr_fact_count(), params, 6, deadline, &refused);
	if(res == NULL) {
		/* The call goes to the fallback; had the decision committed all the same, its agent
		 * is freed once the database hears of it. */
		if(!refused)
			ccr_queue_push(CCR_PENDING_WITHDRAW, call_id, dialed, NULL);
		return -1;
	}
	copy_field(out->action, sizeof(out->action), res, 0);
	copy_field(out->target, sizeof(out->target), res, 1);
	out->sip_status = PQgetisnull(res, 0, 2) ? 0 : atoi(PQgetvalue(res, 0, 2));
	copy_field(out->reason, sizeof(out->reason), res, 3);
	copy_field(out->tenant, sizeof(out->tenant), res, 4);
	copy_field(out->call, sizeof(out->call), res, 5);
	PQclear(res);
	ccr_breaker_success();
	return 0;
}

int ccr_db_credentials(const char *domain, const char *user, char *ha1, size_t size)
{
	long long deadline = now_ms() + db_timeout_ms;
	const char *params[2] = {domain, user};
	PGresult *res;
	int rc, refused;

	if(!ccr_breaker_allows()) {
		counter_inc(ccr_cnt.breaker_skipped);
		return -2;
	}
	if(ccr_db_ensure(deadline) < 0)
		return -2;
	res = ccr_db_run(STMT_CREDENTIALS, "sip_credentials", 2, params, 1, deadline, &refused);
	if(res == NULL)
		return -2;
	rc = PQgetisnull(res, 0, 0) ? -1 : 0;
	if(rc == 0)
		snprintf(ha1, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	ccr_breaker_success();
	return rc;
}
