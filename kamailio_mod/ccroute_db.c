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

/* The servers the connection string lists (see connect_by), parsed once before the fork. */
#define MAX_SERVERS 8

static PQconninfoOption *parsed; /* the string's options */
static int nservers;
static int add_read_write; /* the string names no target_session_attrs: see ccr_db_configure */
static char *server_host[MAX_SERVERS], *server_addr[MAX_SERVERS], *server_port[MAX_SERVERS];

static PGconn *conn;
static int use_batches;
static int batches_ok = 1; /* this connection prepared route_calls */
static long long next_retry_ms;
static int backoff_ms = BACKOFF_MIN_MS;
static unsigned int breaker_generation;

#define now_ms ccr_now_ms

static int count_servers(void);

void ccr_db_configure(const char *conninfo, int timeout_ms)
{
	PQconninfoOption *o;
	const char *attrs = NULL;

	db_conninfo = conninfo;
	db_timeout_ms = timeout_ms;
	/* Parsed once, before the fork. Several servers are tried at once and the first made is
	 * kept: without target_session_attrs that is whichever answers first, a standby as often
	 * as not, which refuses every call (SQLSTATE 25006: the module reconnects, to the same
	 * race) and never passes the probe, so the breaker would stay open with the primary up.
	 * The module needs a server that takes writes: it asks each one for a read-write session
	 * unless the string asks for something else, which is warned about. */
	if(count_servers() > 1) {
		for(o = parsed; o->keyword; o++)
			if(o->val && strcmp(o->keyword, "target_session_attrs") == 0)
				attrs = o->val;
		if(attrs == NULL)
			add_read_write = 1;
		else if(strcmp(attrs, "read-write") != 0 && strcmp(attrs, "primary") != 0)
			LM_WARN("db_url lists %d servers with target_session_attrs=%s: a standby may be"
					" kept, which takes no call\n",
					nservers, attrs);
	}
}

void ccr_db_use_batches(void)
{
	use_batches = 1;
}

int ccr_db_batches_ok(void)
{
	return use_batches && batches_ok;
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
	const char *msg = conn ? PQerrorMessage(conn) : "no connection";

	/* The message, not the connection string: the latter may hold a password. libpq has no
	 * message when the deadline passed first (a server frozen or cut off, a commit waiting for
	 * its standby): said so, rather than an empty one. */
	LM_ERR("database %s failed: %s\n", what, *msg ? msg : "no answer within the deadline");
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

/*
 * The servers of a multi-host connection string ("host=db1,db2 port=5432,5433
 * target_session_attrs=read-write"), each reached on its own. libpq tries the hosts of such a
 * string one after the other, and with a non-blocking connect it has no time-out of its own: a
 * first server that stopped answering (frozen, powered off, cut off) would hold every attempt
 * until the deadline, and the promoted standby behind it would never be reached. So the module
 * connects to all of them at once and keeps the first that is made; libpq still checks each
 * one against target_session_attrs (a standby refuses a read-write session).
 */

/* Splits a comma-separated list in place into at most MAX_SERVERS items; how many. */
static int split_list(char *list, char **items)
{
	int n = 0;

	if(list == NULL)
		return 0;
	for(;;) {
		char *comma = strchr(list, ',');

		if(n == MAX_SERVERS)
			return -1;
		items[n++] = list;
		if(comma == NULL)
			return n;
		*comma = '\0';
		list = comma + 1;
	}
}

/* How many servers the string names (1 when it is not a keyword=value list of several). */
static int count_servers(void)
{
	PQconninfoOption *o;
	int nh = 0, na = 0, np = 0;

	if(parsed || nservers)
		return nservers;
	nservers = 1;
	parsed = PQconninfoParse(db_conninfo, NULL);
	if(parsed == NULL)
		return nservers;
	for(o = parsed; o->keyword; o++) {
		if(o->val == NULL)
			continue;
		if(strcmp(o->keyword, "host") == 0)
			nh = split_list(o->val, server_host);
		else if(strcmp(o->keyword, "hostaddr") == 0)
			na = split_list(o->val, server_addr);
		else if(strcmp(o->keyword, "port") == 0)
			np = split_list(o->val, server_port);
	}
	if(nh < 0 || na < 0 || np < 0) {
		LM_WARN("db_url lists more than %d servers: they are tried one after the other\n",
				MAX_SERVERS);
		return nservers;
	}
	nservers = nh > na ? nh : na;
	if(nservers < 2 || (nh && na && nh != na) || (np > 1 && np != nservers))
		nservers = 1; /* one server, or lists libpq itself would refuse: left to libpq */
	return nservers;
}

/* Starts the connection to server i of the list (all of the string's options, with that
 * server's host, hostaddr and port, and target_session_attrs=read-write if it had none). */
static PGconn *start_server(int i)
{
	const char *keywords[64], *values[64];
	PQconninfoOption *o;
	int n = 0;

	for(o = parsed; o->keyword && n < 62; o++) {
		const char *v = o->val;

		if(v == NULL)
			continue;
		if(strcmp(o->keyword, "host") == 0)
			v = server_host[i];
		else if(strcmp(o->keyword, "hostaddr") == 0)
			v = server_addr[i];
		else if(strcmp(o->keyword, "port") == 0 && server_port[1])
			v = server_port[i];
		keywords[n] = o->keyword;
		values[n++] = v;
	}
	if(add_read_write) {
		keywords[n] = "target_session_attrs";
		values[n++] = "read-write";
	}
	keywords[n] = values[n] = NULL;
	return PQconnectStartParams(keywords, values, 0);
}

/* Starts a connection (to every server listed, at once) and drives it until one is made, all
 * failed, or the deadline passes; the caller checks PQstatus (a failed connection is returned
 * too, for its error message). */
static PGconn *connect_by(long long deadline)
{
	PostgresPollingStatusType st[MAX_SERVERS];
	PGconn *c[MAX_SERVERS], *made = NULL;
	struct pollfd pfd[MAX_SERVERS];
	int who[MAX_SERVERS];
	int n = count_servers(), i, k, rc;
	long long left;

	for(i = 0; i < n; i++) {
		c[i] = n == 1 ? PQconnectStart(db_conninfo) : start_server(i);
		st[i] = PGRES_POLLING_WRITING;
	}
	for(;;) {
		for(i = 0, k = 0; i < n && made == NULL; i++) {
			if(c[i] == NULL || PQstatus(c[i]) == CONNECTION_BAD || st[i] == PGRES_POLLING_FAILED)
				continue;
			if(st[i] == PGRES_POLLING_OK) {
				made = c[i];
				break;
			}
			pfd[k].fd = PQsocket(c[i]);
			pfd[k].events = st[i] == PGRES_POLLING_READING ? POLLIN : POLLOUT;
			pfd[k].revents = 0;
			who[k++] = i;
		}
		left = deadline - now_ms();
		if(made || k == 0 || left <= 0)
			break;
		rc = poll(pfd, k, (int)left);
		if(rc < 0 && errno != EINTR)
			break;
		for(i = 0; i < k && rc > 0; i++)
			if(pfd[i].revents)
				st[who[i]] = PQconnectPoll(c[who[i]]);
	}
	if(made)
		PQsetnonblocking(made, 1);
	/* Keep the one made, or else the first attempt, for its error message. */
	for(i = 0; i < n; i++)
		if(c[i] && c[i] != made && (made || i > 0))
			PQfinish(c[i]);
	return made ? made : c[0];
}

/* True when the error says that this server cannot take the statement but another connection
 * may: it takes no writes (25006, read_only_sql_transaction: a standby, or a primary demoted
 * under the connection), it is shutting down or starting (57P01-57P03), or the connection
 * failed (class 08). Also any FATAL, whatever its SQLSTATE (an idle-in-transaction or
 * idle-session time-out, ...): the server ends the session after it, so the connection must
 * go, not serve the next call; and it is no refusal, so a decision asked for is withdrawn as
 * for no answer. */
static int reconnect_error(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

	if(severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
		return 1;
	return state
		   && (strcmp(state, "25006") == 0 || strncmp(state, "57P0", 4) == 0
				   || strncmp(state, "08", 2) == 0);
}

/* Waits, within the deadline, until libpq can hand over the next result without blocking. */
static int ready_by(PGconn *c, long long deadline)
{
	while(PQisBusy(c)) {
		if(wait_socket(c, POLLIN, deadline) < 0 || PQconsumeInput(c) == 0)
			return -1;
	}
	return 0;
}

/*
 * Sends what libpq buffered, then collects the one result of the command sent, and its
 * commit. A prepared statement's rows come before its transaction commits (the extended
 * protocol commits at Sync), and the commit may still fail (route_call's commit deadline) or
 * wait (for a synchronous standby, which may be lost, or for a server about to crash): the
 * result counts only once the commit is done, within the same deadline. A failed commit is
 * returned as the error it is; one not done in time, as no answer (NULL).
 */
static PGresult *result_by(PGconn *c, long long deadline)
{
	PGresult *res, *extra;
	int f;

	while((f = PQflush(c)) == 1)
		if(wait_socket(c, POLLIN | POLLOUT, deadline) < 0 || PQconsumeInput(c) == 0)
			return NULL;
	if(f < 0 || ready_by(c, deadline) < 0)
		return NULL;
	res = PQgetResult(c);
	for(;;) {
		if(ready_by(c, deadline) < 0) {
			PQclear(res);
			return NULL;
		}
		extra = PQgetResult(c);
		if(extra == NULL)
			break;
		if(PQresultStatus(extra) == PGRES_FATAL_ERROR) {
			PQclear(res);
			res = extra;
		} else {
			PQclear(extra);
		}
	}
	return res;
}

/* Prepares one statement on this worker's connection within the deadline. */
static int prepare_one(const char *name, const char *sql, int nparams, long long deadline)
{
	PGresult *res;
	const char *state;
	int rc;

	if(!PQsendPrepare(conn, name, sql, nparams, NULL))
		return -1;
	res = result_by(conn, deadline);
	rc = res && PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
	/* 42883: no such function (the extension is older than the statement). */
	state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if(rc < 0 && state && strcmp(state, "42883") == 0)
		rc = -2;
	PQclear(res);
	return rc;
}

static int prepare_by(long long deadline)
{
	char sql[2048], *p = sql;
	int i, rc;

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
	if(prepare_one(STMT_ROUTE, sql, 4 + ccr_fact_count(), deadline) < 0)
		return -1;
	/* The same for a batch: one array per column, the facts' arrays made one JSON object per
	 * call by PostgreSQL, in the calls' order; one row per call, in the same order. */
	p = sql;
	p += sprintf(p, "SELECT r.action, r.target, r.sip_status, r.reason, r.tenant_id, r.call_seq"
					" FROM ccroute.route_calls($1::text[], $2::text[], $3::text[], ");
	if(ccr_fact_count() == 0)
		p += sprintf(p, "NULL");
	else {
		p += sprintf(p, "ARRAY(SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(");
		for(i = 0; i < ccr_fact_count(); i++)
			p += sprintf(p, "%s'%s', f.v%d", i ? ", " : "", ccr_fact_name(i), i);
		p += sprintf(p, ")) FROM pg_catalog.unnest(");
		for(i = 0; i < ccr_fact_count(); i++)
			p += sprintf(p, "%s$%d::text[]", i ? ", " : "", 5 + i);
		p += sprintf(p, ") WITH ORDINALITY AS f(");
		for(i = 0; i < ccr_fact_count(); i++)
			p += sprintf(p, "v%d, ", i);
		p += sprintf(p, "n) ORDER BY f.n)");
	}
	sprintf(p, ", $4::timestamptz) WITH ORDINALITY AS r(action, target, sip_status, reason,"
			   " tenant_id, call_seq, agent_id, n) ORDER BY r.n");
	/* Only a router process asks for batches (route_calls is new in extension 0.8: the
	 * workers of a proxy with routers = 0 keep working with an older one). */
	if(use_batches) {
		rc = prepare_one(CCR_STMT_ROUTE_BATCH, sql, 4 + ccr_fact_count(), deadline);
		if(rc == -1)
			return -1;
		/* An extension older than 0.8 has no route_calls: this router asks for each call
		 * alone until it is updated (and the router reconnects). */
		if(rc == -2 && batches_ok)
			LM_WARN("ccroute.route_calls is missing (extension older than 0.8; ALTER EXTENSION"
					" ccroute UPDATE): the router asks for each call alone\n");
		batches_ok = rc == 0;
	}
	if(prepare_one(CCR_STMT_EVENT, "SELECT ccroute.call_event($1::bigint, $2::bigint, $3)", 3,
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

/* An idle connection has nothing to read (the module listens to no notifications, and the
 * server reports changed settings only with a statement's answer): when its socket is readable
 * all the same, the server is ending it (it crashed, was stopped or restarted, or a standby was
 * promoted and the old primary is gone). The readable socket itself is the sign, not what
 * libpq makes of it: a server that ends a connection first says why (a FATAL message), and
 * libpq reads that message without seeing the close that follows, so it still calls the
 * connection good. Seen here, before a query, it costs the call nothing: a new connection is
 * made at once (were it ever wrong, it would cost a reconnection, never a call). */
static int still_open(void)
{
	struct pollfd pfd;

	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if(poll(&pfd, 1, 0) > 0) {
		LM_INFO("the routing database is closing the connection: reconnecting\n");
		return 0;
	}
	return 1;
}

static int ensure(long long deadline, int past_breaker)
{
	if(conn && PQstatus(conn) == CONNECTION_OK && still_open())
		return 0;
	ccr_db_close();
	if(breaker_generation != ccr_breaker_generation()) {
		/* The breaker closed since: the database is back, no need to wait. */
		breaker_generation = ccr_breaker_generation();
		next_retry_ms = 0;
		backoff_ms = BACKOFF_MIN_MS;
	}
	if(!past_breaker && !ccr_breaker_allows())
		return -1;
	if(!past_breaker && now_ms() < next_retry_ms) {
		/* Waiting out the backoff, this process cannot ask for the call either: a failure
		 * like the one that started the wait. Otherwise a lone router (or worker) would open
		 * the breaker only after `failures` reconnections, seconds of growing backoff. */
		ccr_breaker_failure();
		return -1;
	}
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

	/* A standby answers too, but takes no call: only a primary closes the breaker (for a
	 * db_url without target_session_attrs=read-write). */
	if(c && PQstatus(c) == CONNECTION_OK && PQsendQuery(c, "SELECT pg_catalog.pg_is_in_recovery()"))
		res = result_by(c, deadline);
	ok = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
		 && strcmp(PQgetvalue(res, 0, 0), "f") == 0;
	PQclear(res);
	if(c)
		PQfinish(c);
	return ok ? 0 : -1;
}

static void copy_field(char *dst, size_t size, const PGresult *res, int row, int col)
{
	snprintf(dst, size, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

void ccr_db_decision(const PGresult *res, int row, ccr_decision_t *out)
{
	copy_field(out->action, sizeof(out->action), res, row, 0);
	copy_field(out->target, sizeof(out->target), res, row, 1);
	out->sip_status = PQgetisnull(res, row, 2) ? 0 : atoi(PQgetvalue(res, row, 2));
	copy_field(out->reason, sizeof(out->reason), res, row, 3);
	copy_field(out->tenant, sizeof(out->tenant), res, row, 4);
	copy_field(out->call, sizeof(out->call), res, row, 5);
}

/*
 * Runs a prepared statement on this worker's connection within the deadline and returns its
 * result of `rows` rows (the caller clears it). NULL when the database did not answer in time or
 * the connection broke (the connection is then given up: mid-query, only a new one is in a known
 * state), or when it answered with an error (logged; *refused set).
 */
PGresult *ccr_db_run_rows(const char *stmt, const char *what, int n, const char *const *params,
		int rows, int columns, long long deadline, int *refused)
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
	if(PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != rows || PQnfields(res) != columns) {
		LM_ERR("%s failed: %s\n", what, PQresultErrorMessage(res));
		if(PQstatus(conn) != CONNECTION_OK || reconnect_error(res)) {
			/* A read-only server is not the primary (any more), one shutting down soon will
			 * not be: a new connection finds the one that is. */
			PQclear(res);
			give_up(what);
			return NULL;
		}
		PQclear(res);
		*refused = 1;
		return NULL;
	}
	return res;
}

PGresult *ccr_db_run(const char *stmt, const char *what, int n, const char *const *params,
		int columns, long long deadline, int *refused)
{
	return ccr_db_run_rows(stmt, what, n, params, 1, columns, deadline, refused);
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

int ccr_db_route_by(const char *call_id, const char *caller, const char *dialed,
		const char *const *facts, long long deadline, ccr_decision_t *out)
{
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
	/* A call whose time is up (it waited for a router) is not asked: no answer could come in
	 * time, and a query sent with no time left would count against the database. */
	if(deadline <= now_ms() || ccr_db_ensure(deadline) < 0)
		return -1;
	ccr_db_deadline_text(deadline_at, sizeof(deadline_at), deadline);
	res = ccr_db_run(STMT_ROUTE, "route_call", 4 + ccr_fact_count(), params, 6, deadline, &refused);
	if(res == NULL) {
		/* The call goes to the fallback; had the decision committed all the same, its agent
		 * is freed once the database hears of it. */
		if(!refused)
			ccr_queue_push(CCR_PENDING_WITHDRAW, call_id, dialed, NULL);
		return -1;
	}
	ccr_db_decision(res, 0, out);
	PQclear(res);
	ccr_breaker_success();
	return 0;
}

int ccr_db_route(const char *call_id, const char *caller, const char *dialed,
		const char *const *facts, ccr_decision_t *out)
{
	return ccr_db_route_by(call_id, caller, dialed, facts, now_ms() + db_timeout_ms, out);
}

/* The monotonic deadline on the wall clock, as PostgreSQL reads a timestamptz. */
void ccr_db_deadline_text(char *buf, size_t size, long long deadline)
{
	ccr_time_text(buf, size, ccr_wall_us() + (deadline - now_ms()) * 1000);
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
