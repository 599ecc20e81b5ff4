/*
 * route_call.c: the per-INVITE routing decision, the one function Kamailio calls for each call.
 *
 * It reads top to bottom as the decision is made:
 *   1. check what came from the network;
 *   2. resolve the dialed number to its tenant and enter that tenant's context (the statements
 *      that follow see that tenant's rows only, under row-level security; the reads and writes
 *      by key go row by row, row_access.c, with the tenant in every key); the number's and
 *      the tenant's configuration come from the backend's cache (config_cache.c);
 *   3. read any live call with this Call-ID (a repeated INVITE gets the same answer; a failed
 *      offer gets the next agent), else count the tenant's live calls;
 *   4. refuse a cancelled or saturated tenant, send a closed number's calls to its closed
 *      destination, a number without a skill to its destination;
 *   5. end the tenant's lost offers, then read the skill's available agents in the strategy's
 *      order (for longest idle and round robin straight from a partial index, a few at a
 *      time, their skills from the cache), set aside those lacking proficiency or a further
 *      required skill (counting why), and reserve the first that can still be reserved (SKIP
 *      LOCKED: routers never wait on each other); else follow the overflow; when nobody can
 *      take the call, count every agent of the skill by the reason, for the explanation;
 *   6. record the call and its explanation, return the decision.
 * All in the caller's one transaction. The deadline is checked before reserving: a decision
 * that comes too late reserves nobody, since the proxy has already sent the call elsewhere.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "commit_deadline.h"
#include "config_cache.h"
#include "input_check.h"
#include "route_call.h"
#include "row_access.h"
#include "rule_call.h"
#include "spi_util.h"
#include "tenant_context.h"

PG_FUNCTION_INFO_V1(ccroute_route_call_v3);
PG_FUNCTION_INFO_V1(ccroute_route_call_v4);
PG_FUNCTION_INFO_V1(ccroute_route_calls);
PG_FUNCTION_INFO_V1(ccroute_try_rule);

char	   *ccroute_pstn_gateway = NULL;

#define MAX_FACTS_BYTES 4096
/* The advisory lock class of a call's decision (see withdraw_call): "ccrt". */
#define CCROUTE_CALL_LOCK_CLASS 0x63637274
#define MAX_OVERFLOW_HOPS 3
#define MAX_RESERVE_TRIES 8
#define RUNNERS_UP 3
/* Lost offers ended by one call: the rest are the next calls' to end. */
#define MAX_LOST_OFFERS 16

typedef enum
{
	SKIP_LOGGED_OUT,
	SKIP_NOT_READY,
	SKIP_BUSY,
	SKIP_PROFICIENCY,
	SKIP_MISSING_SKILL,
	SKIP_ALREADY_TRIED,
	SKIP_TAKEN,					/* held by another router, no longer free, or no address */
	SKIP_COUNT
} SkipReason;

static const char *const skip_names[SKIP_COUNT] = {
	"logged_out", "not_ready", "busy", "proficiency", "missing_skill", "already_tried", "taken"
};

typedef struct Candidate
{
	int64		agent_id;
	double		key;			/* the strategy's ordering value */
	double		idle_since;		/* the tie-breaker */
	char	   *target;			/* known once reserved */
} Candidate;

/* What the router knows about the call as it goes. */
typedef struct Call
{
	text	   *call_id;
	text	   *caller;
	text	   *dialed;
	Datum		facts;
	bool		has_deadline;
	TimestampTz deadline;
	bool		has_requirements;	/* the number requires skills beyond its own */

	int64		tenant_id;
	const CcTenant *tenant;
	const CcNumber *number;
	int			ring_timeout;
	int			max_attempts;
	int64		skill_id;		/* the number's skill, 0 if none */
	int			min_proficiency;
	char		local_day[16];
	char	   *domain;

	int64		live_seq;		/* an existing live call with this Call-ID, 0 if none */
	char	   *live_state;
	int			live_attempts;
	int64	   *tried;
	int			ntried;
	int64	   *lost;			/* the tenant's agents whose offer's ring timeout passed */
	int			nlost;

	/* The tenant's rule (rule_call.c). */
	bool		dry_run;		/* try_rule: nothing reserved, nothing recorded */
	int64		own_tenant;		/* try_rule: the caller's tenant, the only one it may try */
	const char *dry_source;		/* try_rule's source; NULL: the active rule */
	int64	   *rule_agents;	/* the agents the rule chose, in its order; NULL: none chosen */
	int			nrule_agents;
	int			rule_version;	/* the rule that ran (0: try_rule's source) */
	StringInfo	rule;			/* what the rule did, for the explanation; NULL: no rule */
	struct FirstLook *looked;	/* the rule's first look, reused by the first hop */

	bool		wide_look;		/* the first look is for a rule */

	RowWork		rows;			/* the rows read and changed by key (call_rows) */
	bool		rows_open;
} Call;

/* The first look at a skill's candidates, kept to be used once more. */
typedef struct FirstLook
{
	int64		skill;
	Candidate  *c;
	int			ncand;
	uint64		nread;
	int			skipped[SKIP_COUNT];
} FirstLook;

typedef struct Decision
{
	const char *action;			/* agent, destination, overflow, closed, reject, late */
	const char *target;
	int			sip_status;
	const char *reason;
	int64		call_seq;
	int64		agent_id;
	int64		skill_id;
	const char *outcome;		/* for a call that goes straight to history */
	bool		recorded;		/* a repeated INVITE's decision, recorded the first time */
	StringInfo	explanation;
} Decision;

typedef struct Plans
{
	SPIPlanPtr	available;		/* available agents, in no order */
	SPIPlanPtr	everyone;		/* every agent of the skill, for explaining a refusal */
	SPIPlanPtr	expire;
	SPIPlanPtr	reroute_live;
	SPIPlanPtr	finish_live;
	SPIPlanPtr	insert_history;
} Plans;

static Plans plans;

void
ccroute_define_router_settings(void)
{
	DefineCustomStringVariable("ccroute.pstn_gateway",
							   "Host that reaches agents' landlines and mobiles.",
							   "Calls to an agent reached by phone go to sip:<number>@<this host>; "
							   "unset, they go to a tel: URI.",
							   &ccroute_pstn_gateway, NULL, PGC_SUSET, 0, NULL, NULL, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* The queries, prepared once per backend. */

/* Does the agent (x) hold the number's further required skills? Looked at only when the number
 * has some ($5). $4 is unused here; it keeps the parameter lists of the queries alike. */
#define REQUIREMENTS_SQL \
	"       NOT $5 OR NOT EXISTS (SELECT FROM ccroute.did_requirement r " \
	"                    WHERE r.tenant_id OPERATOR(pg_catalog.=) $1 AND r.did OPERATOR(pg_catalog.=) $3 " \
	"                      AND NOT EXISTS (SELECT FROM ccroute.agent_skill y " \
	"                                       WHERE y.tenant_id OPERATOR(pg_catalog.=) $1 " \
	"                                         AND y.agent_id OPERATOR(pg_catalog.=) x.agent_id " \
	"                                         AND y.skill_id OPERATOR(pg_catalog.=) r.skill_id " \
	"                                         AND y.proficiency OPERATOR(pg_catalog.>=) r.min_proficiency)) "

#define AVAILABLE_SQL \
	"SELECT x.agent_id, x.proficiency, " \
	REQUIREMENTS_SQL ", " \
	"       extract(epoch FROM s.idle_since)::float8, " \
	"       coalesce(extract(epoch FROM s.last_offered_at), 0)::float8, " \
	"       CASE WHEN s.stats_day OPERATOR(pg_catalog.=) $4::date THEN s.calls_today ELSE 0 END, " \
	"       CASE WHEN s.stats_day OPERATOR(pg_catalog.=) $4::date THEN s.talk_seconds_today ELSE 0 END " \
	"  FROM ccroute.agent_state s " \
	"  JOIN ccroute.agent_skill x ON x.tenant_id OPERATOR(pg_catalog.=) s.tenant_id " \
	"       AND x.agent_id OPERATOR(pg_catalog.=) s.agent_id AND x.skill_id OPERATOR(pg_catalog.=) $2 " \
	" WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 AND s.state IN ('ready', 'wrap_up') " \
	"   AND (s.state OPERATOR(pg_catalog.=) 'ready' OR s.available_at OPERATOR(pg_catalog.<=) now())"

#define RECORD_TYPES (Oid[]) {INT8OID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, \
							  INT8OID, INT8OID, JSONBOID, INT4OID, TEXTOID, TEXTOID}

static void
prepare_plans(void)
{
	if (plans.available)
		return;
	plans.available = ccroute_prepare_kept(AVAILABLE_SQL, 5, (Oid[]) {INT8OID, INT8OID, TEXTOID, TEXTOID, BOOLOID});
	plans.everyone = ccroute_prepare_kept(
		"SELECT x.proficiency, "
		"       CASE WHEN s.state IS NULL THEN 'logged_out' "
		"            WHEN s.state OPERATOR(pg_catalog.=) 'wrap_up' AND s.available_at OPERATOR(pg_catalog.<=) now() THEN 'ready' "
		"            ELSE s.state END, "
		REQUIREMENTS_SQL
		"  FROM ccroute.agent_skill x "
		"  LEFT JOIN ccroute.agent_state s ON s.tenant_id OPERATOR(pg_catalog.=) x.tenant_id AND s.agent_id OPERATOR(pg_catalog.=) x.agent_id "
		" WHERE x.tenant_id OPERATOR(pg_catalog.=) $1 AND x.skill_id OPERATOR(pg_catalog.=) $2",
		5, (Oid[]) {INT8OID, INT8OID, TEXTOID, TEXTOID, BOOLOID});
	plans.expire = ccroute_prepare_kept("SELECT ccroute.expire_reservation($1, $2)", 2, (Oid[]) {INT8OID, INT8OID});
	plans.reroute_live = ccroute_prepare_kept(
		"UPDATE ccroute.live_call SET state = 'offered', action = $3, target = $4, skill_id = $5, "
		"       agent_id = $6, attempts = attempts OPERATOR(pg_catalog.+) 1, explanation = $7, offered_at = clock_timestamp(), "
		"       tried_agents = CASE WHEN $6 IS NULL THEN tried_agents ELSE tried_agents OPERATOR(pg_catalog.||) $6 END "
		" WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND call_seq OPERATOR(pg_catalog.=) $2",
		7, (Oid[]) {INT8OID, INT8OID, TEXTOID, TEXTOID, INT8OID, INT8OID, JSONBOID});
	plans.finish_live = ccroute_prepare_kept(
		"SELECT ccroute.finish_call(l, $3, $4, $5) FROM ccroute.live_call l "
		" WHERE l.tenant_id OPERATOR(pg_catalog.=) $1 AND l.call_seq OPERATOR(pg_catalog.=) $2",
		5, (Oid[]) {INT8OID, INT8OID, TEXTOID, INT4OID, TEXTOID});
	/* A call that goes straight to history (a new call in progress is written row by row:
	 * insert_live_call). */
	plans.insert_history = ccroute_prepare_kept(
		"INSERT INTO ccroute.call_history (tenant_id, call_seq, call_id, caller, dialed, facts, "
		"       action, target, skill_id, agent_id, explanation, sip_status, reason, outcome, "
		"       arrived_at, wait_seconds) "
		"VALUES ($1, nextval('ccroute.live_call_call_seq_seq'), $2, $3, $4, $5, $6, $7, $8, $9, "
		"        $10, $11, $12, $13, now(), 0) RETURNING call_seq",
		13, RECORD_TYPES);
}

/* ---------------------------------------------------------------------------------------- */
/* Small helpers over SPI results and parameters. */

/* A bigint[] without nulls, as a C array. */
static int64 *
int8_array(Datum arr, int *n)
{
	Datum	   *elems;
	bool	   *enulls;
	int64	   *out;

	deconstruct_array(DatumGetArrayTypeP(arr), INT8OID, 8, true, TYPALIGN_DOUBLE, &elems, &enulls, n);
	out = palloc(sizeof(int64) * (*n + 1));
	for (int i = 0; i < *n; i++)
		out[i] = DatumGetInt64(elems[i]);
	return out;
}

static Datum
text_or_null(const char *s, char *nulls, int i)
{
	if (s == NULL)
	{
		nulls[i] = 'n';
		return (Datum) 0;
	}
	return CStringGetTextDatum(s);
}

static Datum
int8_or_null(int64 v, char *nulls, int i)
{
	if (v == 0)
		nulls[i] = 'n';
	return Int64GetDatum(v);
}

static Datum
explanation_datum(Decision *d, char *nulls, int i)
{
	if (d->explanation == NULL)
	{
		nulls[i] = 'n';
		return (Datum) 0;
	}
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(d->explanation->data));
}

/* Every query takes a new snapshot (read_only false): the router is VOLATILE, and a caller that
 * routes several calls in one statement must see its own earlier reservations. */
static void
run(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only, int expect)
{
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, 0);

	if (rc != expect)
		elog(ERROR, "ccroute: router query failed: %s", SPI_result_code_string(rc));
}

/* The tables the call reads and changes by key, row by row (row_access.c), instead of through
 * statements: agent_state, agent, live_call. */
enum
{
	ROWS_AGENT_STATE, ROWS_AGENT, ROWS_LIVE_CALL
};

/* Opened at the first use; each use then sees what came before it, as a statement would. */
static RowWork *
call_rows(Call *call)
{
	static const char *const tables[] = {"agent_state", "agent", "live_call"};
	/* A dry run only reads: it may run in a read-only transaction. */
	const bool	writable[] = {!call->dry_run, false, !call->dry_run};

	if (!call->rows_open)
	{
		row_work_begin(&call->rows, lengthof(tables), tables, writable);
		call->rows_open = true;
	}
	else
		row_work_refresh(&call->rows);
	return &call->rows;
}

static void
close_call_rows(Call *call)
{
	if (call->rows_open)
		row_work_end(&call->rows);
	call->rows_open = false;
}

/* The text column, NULL for NULL. */
static char *
get_text(RowRel *r, const char *column)
{
	bool		isnull;
	Datum		v = row_get_col(r, column, &isnull);

	return isnull ? NULL : TextDatumGetCString(v);
}

/* A timestamp as SQL's extract(epoch ...)::float8: Unix seconds, 0 for NULL. */
static double
epoch_seconds(Datum t, bool isnull)
{
	if (isnull)
		return 0;
	return (double) (DatumGetTimestampTz(t) +
					 (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY) / USECS_PER_SEC;
}

/* Whether the agent_state row read is free for a call: ready, or done with its wrap-up. */
static bool
is_available(RowRel *st, TimestampTz now)
{
	bool		isnull;
	Datum		state = row_get_col(st, "state", &isnull);
	Datum		until;

	if (row_text_is(state, "ready"))
		return true;
	if (!row_text_is(state, "wrap_up"))
		return false;
	until = row_get_col(st, "available_at", &isnull);
	return !isnull && DatumGetTimestampTz(until) <= now;
}

/* ---------------------------------------------------------------------------------------- */
/* Step 5: choosing an agent. */

static int
compare_candidates(const void *a, const void *b)
{
	const Candidate *x = a;
	const Candidate *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->idle_since != y->idle_since)
		return x->idle_since < y->idle_since ? -1 : 1;
	return x->agent_id < y->agent_id ? -1 : (x->agent_id > y->agent_id);
}

static bool
was_tried(Call *call, int64 agent)
{
	for (int i = 0; i < call->ntried; i++)
		if (call->tried[i] == agent)
			return true;
	return false;
}

#define FIRST_LOOK 8

/* Does the agent hold the number's further required skills, well enough? */
static bool
meets_requirements(Call *call, int64 agent)
{
	for (int i = 0; i < call->number->nrequirements; i++)
	{
		const CcRequirement *r = &call->number->requirements[i];

		if (cc_proficiency(call->tenant_id, agent, r->skill_id) < r->min_proficiency)
			return false;
	}
	return true;
}

/*
 * For the strategies an index orders (longest idle, round robin): reads the tenant's available
 * agents in that order from its partial index, a page at a time, keeps those with the skill,
 * and stops at the end of the first page that gave some. A busy contact center's call then
 * reads a few index entries, not every agent.
 */
static Candidate *
ordered_candidates(Call *call, int64 skill, bool round_robin, bool primary, int *ncand,
				   int *skipped)
{
	int			min_prof = primary ? call->min_proficiency : 1;
	Candidate  *c = palloc(sizeof(Candidate) * FIRST_LOOK * 8);
	RowWork    *w = call_rows(call);
	RowRel	   *st = &w->rels[ROWS_AGENT_STATE];
	AttrNumber	agent_att = row_att(st, "agent_id");
	AttrNumber	idle_att = row_att(st, "idle_since");
	AttrNumber	key_att = round_robin ? row_att(st, "last_offered_at") : idle_att;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Datum		tenant = Int64GetDatum(call->tenant_id);
	IndexScanDesc scan = row_scan_begin(w, st, row_relid(round_robin ? "agent_state_by_offer"
														 : "agent_state_by_idle"), 1, &tenant);
	bool		more = true;
	/* Enough for the tries and the runners-up; a rule is given more to choose from. */
	int			page_rows = call->wide_look ? FIRST_LOOK * 2 : FIRST_LOOK;

	*ncand = 0;
	for (int page = 0; page < 8 && *ncand == 0 && more; page++)
	{
		for (int r = 0; r < page_rows && (more = row_scan_next(scan, st)); r++)
		{
			bool		isnull;
			int64		agent;
			int			prof;
			bool		dup = false;
			Datum		v;

			if (!is_available(st, now))
				continue;
			agent = DatumGetInt64(row_get(st, agent_att, &isnull));
			prof = cc_proficiency(call->tenant_id, agent, skill);
			if (prof == 0)
				continue;		/* not an agent of this skill */
			for (int k = 0; k < *ncand; k++)
				dup |= c[k].agent_id == agent;
			if (dup)
				continue;
			if (prof < min_prof)
				skipped[SKIP_PROFICIENCY]++;
			else if (primary && !meets_requirements(call, agent))
				skipped[SKIP_MISSING_SKILL]++;
			else if (was_tried(call, agent))
				skipped[SKIP_ALREADY_TRIED]++;
			else if (*ncand < FIRST_LOOK * 8)
			{
				c[*ncand].agent_id = agent;
				v = row_get(st, key_att, &isnull);
				c[*ncand].key = epoch_seconds(v, isnull);
				v = row_get(st, idle_att, &isnull);
				c[*ncand].idle_since = epoch_seconds(v, isnull);
				(*ncand)++;
			}
		}
	}
	row_scan_end(scan);
	qsort(c, *ncand, sizeof(Candidate), compare_candidates);
	return c;
}


/*
 * The available agents of one skill that may take the call, in the skill's strategy's order;
 * those set aside (proficiency, missing skill, already tried) are counted by reason. With a
 * limit, only the first ones in the strategy's order are read (where an index gives it).
 */
static Candidate *
available_agents(Call *call, int64 skill, const char *strategy, bool primary, int64 limit,
				 int *ncand, uint64 *nread, int *skipped)
{
	Datum		v[6];
	char		n[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	SPIPlanPtr	plan = plans.available;
	Candidate  *c;
	int			min_prof = primary ? call->min_proficiency : 1;

	if (limit != 0 && (strcmp(strategy, "longest_idle") == 0 || strcmp(strategy, "round_robin") == 0))
	{
		*nread = limit;			/* a first look: everyone else may still be read */
		return ordered_candidates(call, skill, strategy[0] == 'r', primary, ncand, skipped);
	}
	v[0] = Int64GetDatum(call->tenant_id);
	v[1] = Int64GetDatum(skill);
	v[2] = PointerGetDatum(call->dialed);
	v[3] = CStringGetTextDatum(call->local_day);
	/* Overflow skills are not bound by the number's further requirements. */
	v[4] = BoolGetDatum(primary && call->has_requirements);
	v[5] = Int64GetDatum(limit);
	if (limit == 0)
		n[5] = 'n';				/* LIMIT NULL: all */
	run(plan, v, n, false, SPI_OK_SELECT);
	*nread = 0;					/* everyone was read */

	c = palloc(sizeof(Candidate) * (SPI_processed + 1));
	*ncand = 0;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		int64		agent = col_int8(r, 1);
		int			prof = col_int4(r, 2);
		bool		isnull;
		bool		qualified = DatumGetBool(col(r, 3, &isnull));
		Candidate  *k = &c[*ncand];

		if (prof < min_prof)
			skipped[SKIP_PROFICIENCY]++;
		else if (!qualified)
			skipped[SKIP_MISSING_SKILL]++;
		else if (was_tried(call, agent))
			skipped[SKIP_ALREADY_TRIED]++;
		else
		{
			k->agent_id = agent;
			k->idle_since = DatumGetFloat8(col(r, 4, &isnull));
			if (strcmp(strategy, "round_robin") == 0)
				k->key = DatumGetFloat8(col(r, 5, &isnull));
			else if (strcmp(strategy, "fewest_calls") == 0)
				k->key = col_int4(r, 6);
			else if (strcmp(strategy, "least_talk_time") == 0)
				k->key = col_int4(r, 7);
			else if (strcmp(strategy, "highest_proficiency") == 0)
				k->key = -prof;
			else if (strcmp(strategy, "random") == 0)
				k->key = pg_prng_double(&pg_global_prng_state);
			else
				k->key = k->idle_since;
			(*ncand)++;
		}
	}
	qsort(c, *ncand, sizeof(Candidate), compare_candidates);
	return c;
}

/*
 * When nobody could take the call, every agent of the skill is counted by the reason it could
 * not: the explanation then says why the caller was refused.
 */
static void
count_everyone(Call *call, int *skipped)
{
	Datum		v[5];

	v[0] = Int64GetDatum(call->tenant_id);
	v[1] = Int64GetDatum(call->skill_id);
	v[2] = PointerGetDatum(call->dialed);
	v[3] = CStringGetTextDatum(call->local_day);
	v[4] = BoolGetDatum(call->has_requirements);
	run(plans.everyone, v, NULL, false, SPI_OK_SELECT);
	memset(skipped, 0, sizeof(int) * SKIP_COUNT);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		char	   *state = col_text(r, 2);

		if (strcmp(state, "logged_out") == 0)
			skipped[SKIP_LOGGED_OUT]++;
		else if (strcmp(state, "not_ready") == 0)
			skipped[SKIP_NOT_READY]++;
		else if (strcmp(state, "ready") != 0)
			skipped[SKIP_BUSY]++;
		else if (col_int4(r, 1) < call->min_proficiency)
			skipped[SKIP_PROFICIENCY]++;
		else if (!DatumGetBool(col(r, 3, &isnull)))
			skipped[SKIP_MISSING_SKILL]++;
		else
			skipped[SKIP_TAKEN]++;
	}
}

/* Offers of this tenant whose ring timeout passed unanswered are ended first, so that their
 * agents can be chosen again. No timer does it: the next call does. */
static void
end_lost_offers(Call *call)
{
	Datum		v[2] = {Int64GetDatum(call->tenant_id), 0};

	for (int i = 0; i < call->nlost; i++)
	{
		v[1] = Int64GetDatum(call->lost[i]);
		run(plans.expire, v, NULL, false, SPI_OK_SELECT);
	}
}

static bool
deadline_passed(Call *call)
{
	return call->has_deadline && GetCurrentTimestamp() > call->deadline;
}

/*
 * Where the agent (its row read in a) is reached: its fixed contact or its address in the
 * tenant's domain, or its phone, through the PSTN gateway if there is one. NULL: nowhere.
 */
static char *
agent_address(RowRel *a, const char *domain, const char *gateway)
{
	char	   *via = get_text(a, "reach_via");
	char	   *number;

	if (strcmp(via, "sip") == 0)
	{
		char	   *contact = get_text(a, "contact_uri");

		if (contact)
			return contact;
		return domain ? psprintf("sip:%s@%s", get_text(a, "extension"), domain) : NULL;
	}
	if (gateway == NULL)
	{
		number = get_text(a, "mobile");
		if (number == NULL)
			number = get_text(a, "landline");
		return number ? psprintf("tel:%s", number) : NULL;
	}
	number = get_text(a, strcmp(via, "mobile") == 0 ? "mobile" : "landline");
	return number ? psprintf("sip:%s@%s", number, gateway) : NULL;
}

/*
 * Reserves the first of n candidates that has an address to be reached at, that another
 * router does not hold (SKIP LOCKED: routers of one tenant, all starting from its longest
 * idle agents, pass each other instead of waiting) and that is still free once locked; its
 * position, or -1 when none could be.
 */
static int
reserve_first(Call *call, Candidate *k, int n)
{
	RowWork    *w = call_rows(call);
	RowRel	   *st = &w->rels[ROWS_AGENT_STATE];
	RowRel	   *ag = &w->rels[ROWS_AGENT];
	Oid			state_key = row_relid("agent_state_pkey");
	Oid			agent_key = row_relid("agent_pkey");
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	const char *gateway = ccroute_pstn_gateway && ccroute_pstn_gateway[0] ? ccroute_pstn_gateway : NULL;

	for (int i = 0; i < n; i++)
	{
		Datum		keys[2] = {Int64GetDatum(call->tenant_id), Int64GetDatum(k[i].agent_id)};
		char	   *uri;

		if (!row_fetch(w, ag, agent_key, 2, keys) ||
			(uri = agent_address(ag, call->domain, gateway)) == NULL)
			continue;
		/* Free as this call sees it, then free still once locked (its latest version). */
		if (!row_fetch(w, st, state_key, 2, keys) || !is_available(st, now) ||
			!row_lock(w, st, LockWaitSkip) || !is_available(st, now))
			continue;
		row_next_from_found(st);
		row_set_col(st, "state", CStringGetTextDatum("reserved"), false);
		row_set_col(st, "since", TimestampTzGetDatum(now), false);
		row_set_col(st, "available_at", (Datum) 0, true);
		row_set_col(st, "reason", (Datum) 0, true);
		row_set_col(st, "reserved_until", TimestampTzGetDatum(now + (int64) call->ring_timeout * USECS_PER_SEC),
			false);
		row_set_col(st, "last_offered_at", TimestampTzGetDatum(now), false);
		row_update(w, st);
		k[i].target = uri;
		return i;
	}
	return -1;
}

static Decision reject(int status, const char *reason, const char *outcome);
static Decision to_destination(const char *action, const char *target);

static void
explain_candidate(StringInfo e, Candidate *k)
{
	appendStringInfo(e, "{\"agent\": " INT64_FORMAT ", \"key\": %.6f}", k->agent_id, k->key);
}

/* The candidates the rule chose, in its order (those no longer among them are left out). */
static Candidate *
rule_choice(Call *call, Candidate *c, int *ncand)
{
	Candidate  *chosen = palloc(sizeof(Candidate) * (call->nrule_agents + 1));
	int			n = 0;

	for (int r = 0; r < call->nrule_agents; r++)
		for (int i = 0; i < *ncand; i++)
			if (c[i].agent_id == call->rule_agents[r])
				chosen[n++] = c[i];
	*ncand = n;
	return chosen;
}

/*
 * The tenant's rule, given the call and the first look at the number's skill's candidates: it
 * may choose among them, name another skill, send the call to the overflow, refuse it, or
 * forward it to one of the tenant's destinations (settled: true, and *settled is the
 * decision). A rule that fails, or decides something that cannot be done, changes nothing:
 * the call is routed as if there were no rule, and the failure is recorded.
 */
static bool
apply_rule(Call *call, int64 *skill, Decision *settled)
{
	const CcTenant *t = call->tenant;
	int			version = call->dry_source ? 0 : t->rule_version;
	const char *source = call->dry_source ? call->dry_source : t->rule_source;
	const CcSkill *sk = cc_skill(t, call->skill_id);
	FirstLook  *look = palloc0(sizeof(FirstLook));
	int			nagents,
				n;
	int64	   *ids;
	cc_rule_agent *agents;
	cc_rule_call rc;
	cc_rule_decision d;
	cc_rule_stop stop;
	char		err[512];
	char	   *problem = NULL;
	bool		done = false;
	StringInfo	e = makeStringInfo();

	/* The first hop reads the same first look: it is kept for it. */
	look->skill = call->skill_id;
	call->wide_look = true;
	look->c = available_agents(call, call->skill_id, sk ? sk->strategy : "longest_idle", true,
							   FIRST_LOOK, &look->ncand, &look->nread, look->skipped);
	call->wide_look = false;
	call->looked = look;
	call->rule_version = version;
	n = Min(look->ncand, CC_RULE_MAX_AGENTS);
	ids = palloc(sizeof(int64) * (n + 1));
	for (int i = 0; i < n; i++)
		ids[i] = look->c[i].agent_id;
	/* ids is compacted to the agents found: ids[i] is agents[i]'s */
	{
		RowWork    *w = call_rows(call);

		agents = ccroute_rule_agents(t, ids, n, call->local_day, w, &w->rels[ROWS_AGENT],
									 &w->rels[ROWS_AGENT_STATE], &nagents);
	}
	ccroute_rule_call_input(&rc, t, call->caller, call->dialed, sk ? sk->name : NULL,
							GetCurrentTransactionStartTimestamp(), call->facts);
	stop = ccroute_run_rule(t->tenant_id, version, source, &rc, agents, nagents, &d, err, sizeof(err));
	call->rule = e;
	if (stop != CC_RULE_OK)
		problem = err;
	else
		switch (d.action)
		{
			case CC_RULE_DEFAULT:
				break;
			case CC_RULE_AGENTS:
				call->rule_agents = palloc(sizeof(int64) * d.nagents);
				for (int k = 0; k < d.nagents; k++)
					for (int i = 0; i < nagents; i++)
						if (strcmp(d.agents[k], agents[i].extension) == 0)
							call->rule_agents[call->nrule_agents++] = ids[i];
				if (call->nrule_agents == 0)
				{
					problem = "none of the agents the rule chose is among the candidates";
					call->rule_agents = NULL;
				}
				break;
			case CC_RULE_SKILL:
				{
					const CcSkill *other = cc_skill_named(t, d.skill);

					if (other == NULL)
						problem = psprintf("there is no skill \"%s\"", d.skill);
					else
					{
						*skill = other->skill_id;
						call->min_proficiency = d.min_proficiency ? d.min_proficiency : 1;
						call->has_requirements = false;
					}
					break;
				}
			case CC_RULE_OVERFLOW:
				if (sk && sk->overflow_destination)
				{
					*settled = to_destination("overflow", sk->overflow_destination);
					settled->skill_id = call->skill_id;
					done = true;
				}
				else if (sk && sk->overflow_skill_id)
				{
					*skill = sk->overflow_skill_id;
					call->min_proficiency = 1;
					call->has_requirements = false;
				}
				else
					problem = "the number's skill has no overflow";
				break;
			case CC_RULE_REJECT:
				*settled = reject(d.status, pstrdup(d.reason), "rejected");
				settled->skill_id = call->skill_id;
				done = true;
				break;
			case CC_RULE_FORWARD:
				{
					const char *uri = cc_destination(t, d.destination);

					if (uri == NULL)
						problem = psprintf("there is no destination \"%s\"", d.destination);
					else
					{
						*settled = to_destination("destination", uri);
						done = true;
					}
					break;
				}
		}

	appendStringInfo(e, "{\"version\": %d, ", version);
	if (problem)
	{
		appendStringInfo(e, "\"stop\": \"%s\", \"error\": ",
						 stop == CC_RULE_OK ? "not_done" : cc_rule_stop_name(stop));
		escape_json(e, problem);
		appendStringInfoChar(e, '}');
		if (!call->dry_run)
			ccroute_rule_error(t->tenant_id, version, stop == CC_RULE_OK ? CC_RULE_BAD_RESULT : stop,
							   problem, call->call_id);
		return false;
	}
	appendStringInfo(e, "\"action\": \"%s\", \"priority\": %d", cc_rule_action_name(d.action), d.priority);
	if (d.note[0])
	{
		appendStringInfoString(e, ", \"note\": ");
		escape_json(e, d.note);
	}
	appendStringInfoChar(e, '}');
	return done;
}

/*
 * Follows the skill and its overflow chain until an agent is reserved, or the chain ends in a
 * destination or nothing.
 */
static Decision
choose_agent(Call *call)
{
	Decision	d = {0};
	int			skipped[SKIP_COUNT] = {0};
	int64		skill = call->skill_id;
	StringInfo	e = makeStringInfo();
	bool		first_hop = true;

	if (!call->dry_run)
		end_lost_offers(call);
	if (call->tenant->rule_version > 0 || call->dry_source)
	{
		Decision	settled = {0};

		if (apply_rule(call, &skill, &settled))
		{
			appendStringInfo(e, "{\"rule_version\": %d, \"rule\": %s}", call->rule_version,
							 call->rule->data);
			settled.explanation = e;
			return settled;
		}
	}
	appendStringInfoString(e, "{\"skills\": [");
	for (int hop = 0; hop <= MAX_OVERFLOW_HOPS && skill != 0; hop++)
	{
		const CcSkill *sk = cc_skill(call->tenant, skill);
		char	   *strategy;
		int64		overflow_skill;
		char	   *overflow_destination;
		Candidate  *c;
		int			ncand;
		int			tries = 0;

		if (sk == NULL)
			break;
		strategy = sk->strategy;
		overflow_skill = sk->overflow_skill_id;
		overflow_destination = sk->overflow_destination;

		/* A first look at the best few; all of them only if none of those could be had. */
		for (int64 limit = FIRST_LOOK;; limit = 0)
		{
			uint64		nread;

			if (limit == FIRST_LOOK && call->looked && call->looked->skill == skill)
			{
				c = call->looked->c;
				ncand = call->looked->ncand;
				nread = call->looked->nread;
				for (int r = 0; r < SKIP_COUNT; r++)
					skipped[r] += call->looked->skipped[r];
				call->looked = NULL;
			}
			else
				c = available_agents(call, skill, strategy, hop == 0, limit, &ncand, &nread, skipped);
			if (hop == 0 && call->rule_agents)
				c = rule_choice(call, c, &ncand);
			if (limit == FIRST_LOOK)
				appendStringInfo(e, "%s{\"skill\": " INT64_FORMAT ", \"strategy\": \"%s\"}",
								 first_hop ? "" : ", ", skill, strategy);
			first_hop = false;
			if (ncand > 0 && tries < MAX_RESERVE_TRIES)
			{
				int			n = Min(ncand, MAX_RESERVE_TRIES - tries);
				int			i;

				if (deadline_passed(call))
				{
					d.action = "late";
					d.sip_status = 503;
					d.reason = "Decision Past Deadline";
					d.outcome = "deadline_passed";
					break;
				}
				i = call->dry_run ? 0 : reserve_first(call, c, n);
				tries += i < 0 ? n : i + 1;
				skipped[SKIP_TAKEN] += i < 0 ? n : i;
				if (i < 0)
					goto next_look;
				d.action = "agent";
				d.target = call->dry_run ? NULL : c[i].target;
				d.agent_id = c[i].agent_id;
				d.skill_id = skill;
				appendStringInfoString(e, "], \"chosen\": ");
				explain_candidate(e, &c[i]);
				appendStringInfoString(e, ", \"runners_up\": [");
				for (int j = i + 1; j < ncand && j <= i + RUNNERS_UP; j++)
				{
					if (j > i + 1)
						appendStringInfoString(e, ", ");
					explain_candidate(e, &c[j]);
				}
				appendStringInfoChar(e, ']');
			}
	next_look:
			if (d.action || limit == 0 || nread < (uint64) limit || tries >= MAX_RESERVE_TRIES)
				break;
			/* The first look was all set aside or taken: look at everyone, counting afresh. */
			memset(skipped, 0, sizeof(skipped));
		}
		if (d.action)
			break;
		if (overflow_destination)
		{
			d.action = "overflow";
			d.target = overflow_destination;
			d.skill_id = skill;
			appendStringInfoChar(e, ']');
			count_everyone(call, skipped);
			break;
		}
		skill = overflow_skill;
	}
	if (d.action == NULL || strcmp(d.action, "late") == 0)
	{
		if (d.action == NULL)
		{
			d.action = "reject";
			d.sip_status = 480;
			d.reason = "No Agent Available";
			d.outcome = "no_agent";
			count_everyone(call, skipped);
		}
		d.skill_id = call->skill_id;
		appendStringInfoChar(e, ']');
	}
	appendStringInfoString(e, ", \"skipped\": {");
	for (int r = 0, any = 0; r < SKIP_COUNT; r++)
		if (skipped[r])
			appendStringInfo(e, "%s\"%s\": %d", any++ ? ", " : "", skip_names[r], skipped[r]);
	if (call->rule)
		appendStringInfo(e, "}, \"rule_version\": %d, \"rule\": %s}", call->rule_version,
						 call->rule->data);
	else
		appendStringInfoString(e, "}, \"rule_version\": null}");
	d.explanation = e;
	return d;
}

/* ---------------------------------------------------------------------------------------- */
/* Step 6: recording. */

/* A new call in progress, offered (to an agent, or to a destination), row by row: its
 * call_seq. The unique keys refuse a second live call with the same Call-ID and a second
 * offer to the same agent (23505). */
static int64
insert_live_call(Call *call, Decision *d)
{
	RowWork    *w = call_rows(call);
	RowRel	   *l = &w->rels[ROWS_LIVE_CALL];
	int64		seq = nextval_internal(row_relid("live_call_call_seq_seq"), false);
	Datum		agent = Int64GetDatum(d->agent_id);

	row_next_empty(l);
	row_set_col(l, "tenant_id", Int64GetDatum(call->tenant_id), false);
	row_set_col(l, "call_seq", Int64GetDatum(seq), false);
	row_set_col(l, "call_id", PointerGetDatum(call->call_id), false);
	row_set_col(l, "caller", PointerGetDatum(call->caller), false);
	row_set_col(l, "dialed", PointerGetDatum(call->dialed), false);
	row_set_col(l, "facts", call->facts, false);
	row_set_col(l, "state", CStringGetTextDatum("offered"), false);
	row_set_col(l, "action", CStringGetTextDatum(d->action), false);
	row_set_col(l, "target", d->target ? CStringGetTextDatum(d->target) : (Datum) 0, d->target == NULL);
	row_set_col(l, "skill_id", Int64GetDatum(d->skill_id), d->skill_id == 0);
	row_set_col(l, "agent_id", agent, d->agent_id == 0);
	row_set_col(l, "attempts", Int16GetDatum(1), false);
	row_set_col(l, "tried_agents", PointerGetDatum(d->agent_id ? construct_array(&agent, 1, INT8OID, 8, true, TYPALIGN_DOUBLE)
										   : construct_empty_array(INT8OID)), false);
	row_set_col(l, "explanation", d->explanation ? DirectFunctionCall1(jsonb_in, CStringGetDatum(d->explanation->data))
				: (Datum) 0, d->explanation == NULL);
	row_set_col(l, "arrived_at", TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false);
	row_set_col(l, "offered_at", TimestampTzGetDatum(GetCurrentTimestamp()), false);
	row_insert(w, l);
	return seq;
}

static void
record(Call *call, Decision *d)
{
	Datum		v[13];
	char		n[13] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	if (d->outcome && call->live_seq)
	{
		/* Nothing will follow: the live call leaves live_call for history. */
		v[0] = Int64GetDatum(call->tenant_id);
		v[1] = Int64GetDatum(call->live_seq);
		v[2] = CStringGetTextDatum(d->outcome);
		v[3] = Int32GetDatum(d->sip_status);
		v[4] = text_or_null(d->reason, n, 4);
		run(plans.finish_live, v, n, false, SPI_OK_SELECT);
		d->call_seq = call->live_seq;
		return;
	}
	if (call->live_seq)
	{
		v[0] = Int64GetDatum(call->tenant_id);
		v[1] = Int64GetDatum(call->live_seq);
		v[2] = CStringGetTextDatum(d->action);
		v[3] = text_or_null(d->target, n, 3);
		v[4] = int8_or_null(d->skill_id, n, 4);
		v[5] = int8_or_null(d->agent_id, n, 5);
		v[6] = explanation_datum(d, n, 6);
		run(plans.reroute_live, v, n, false, SPI_OK_UPDATE);
		d->call_seq = call->live_seq;
		return;
	}
	/* A new call: in progress, or, with an outcome, straight to history. */
	if (d->outcome == NULL)
	{
		d->call_seq = insert_live_call(call, d);
		return;
	}
	v[0] = Int64GetDatum(call->tenant_id);
	v[1] = PointerGetDatum(call->call_id);
	v[2] = PointerGetDatum(call->caller);
	v[3] = PointerGetDatum(call->dialed);
	v[4] = call->facts;
	v[5] = CStringGetTextDatum(d->action);
	v[6] = text_or_null(d->target, n, 6);
	v[7] = int8_or_null(d->skill_id, n, 7);
	v[8] = int8_or_null(d->agent_id, n, 8);
	v[9] = explanation_datum(d, n, 9);
	v[10] = Int32GetDatum(d->sip_status);
	v[11] = text_or_null(d->reason, n, 11);
	v[12] = text_or_null(d->outcome, n, 12);
	run(plans.insert_history, v, n, false, SPI_OK_INSERT_RETURNING);
	d->call_seq = col_int8(0, 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Step 3, row by row. */

/*
 * This call if it is live (its decision, and what a failed offer's next try needs); else the
 * tenant's live calls, counted up to its limit, which is all the limit needs. And, for step 5,
 * the tenant's offers whose ring timeout passed with neither answer nor failure reported.
 */
static int64
read_live(Call *call, char **action, char **target, int64 *agent)
{
	RowWork    *w = call_rows(call);
	RowRel	   *l = &w->rels[ROWS_LIVE_CALL];
	RowRel	   *st = &w->rels[ROWS_AGENT_STATE];
	Datum		keys[2] = {Int64GetDatum(call->tenant_id), PointerGetDatum(call->call_id)};
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int64		live_calls = 0;
	IndexScanDesc scan;
	bool		isnull;
	Datum		v;

	if (row_fetch(w, l, row_relid("live_call_tenant_id_call_id_key"), 2, keys))
	{
		call->live_seq = DatumGetInt64(row_get_col(l, "call_seq", &isnull));
		call->live_state = get_text(l, "state");
		call->live_attempts = DatumGetInt16(row_get_col(l, "attempts", &isnull));
		call->tried = int8_array(row_get_col(l, "tried_agents", &isnull), &call->ntried);
		*action = get_text(l, "action");
		*target = get_text(l, "target");
		v = row_get_col(l, "agent_id", &isnull);
		*agent = isnull ? 0 : DatumGetInt64(v);
	}
	else
	{
		scan = row_scan_begin(w, l, row_relid("live_call_pkey"), 1, keys);
		while (live_calls < call->tenant->max_concurrent_calls && row_scan_next(scan, l))
			live_calls++;
		row_scan_end(scan);
	}

	/* The index is in deadline order: the lost offers are its first entries. */
	call->lost = palloc(sizeof(int64) * MAX_LOST_OFFERS);
	call->nlost = 0;
	scan = row_scan_begin(w, st, row_relid("agent_state_lost_offers"), 1, keys);
	while (call->nlost < MAX_LOST_OFFERS && row_scan_next(scan, st))
	{
		v = row_get_col(st, "reserved_until", &isnull);
		if (isnull || DatumGetTimestampTz(v) > now)
			break;
		call->lost[call->nlost++] = DatumGetInt64(row_get_col(st, "agent_id", &isnull));
	}
	row_scan_end(scan);
	return live_calls;
}

/* ---------------------------------------------------------------------------------------- */
/* Steps 1 to 6. */

static Decision
reject(int status, const char *reason, const char *outcome)
{
	Decision	d = {0};

	d.action = "reject";
	d.sip_status = status;
	d.reason = reason;
	d.outcome = outcome;
	return d;
}

static Decision
to_destination(const char *action, const char *target)
{
	Decision	d = {0};

	d.action = action;
	d.target = target;
	return d;
}

static Decision
decide(Call *call)
{
	const char *problem;
	Decision	d;
	const CcNumber *num;
	const CcTenant *tenant;
	int64		live_calls;
	bool		open;
	char	   *live_action = NULL;
	char	   *live_target = NULL;
	int64		live_agent = 0;

	/* 1. What came from the network. */
	if ((problem = ccroute_check_call_id(call->call_id)) != NULL)
		return reject(400, problem, NULL);
	if ((problem = ccroute_check_caller(call->caller)) != NULL)
		return reject(400, problem, NULL);
	if ((problem = ccroute_check_dialed(call->dialed)) != NULL)
		return reject(404, problem, NULL);
	if (VARSIZE_ANY_EXHDR(DatumGetPointer(call->facts)) > MAX_FACTS_BYTES)
		return reject(400, "Call Facts Too Large", NULL);

	/* 2. The number and its tenant, from the cache (which enters the tenant's context). */
	num = cc_number(call->dialed);
	if (num == NULL || num->tenant_id == 0)
		return reject(404, "Number Not In Service", NULL);
	if (call->dry_run && num->tenant_id != call->own_tenant)
		return reject(404, "Number Not In Service", NULL);	/* as if it did not exist */
	call->tenant_id = num->tenant_id;
	if (!num->configured)
		return reject(404, "Number Not In Service", "rejected");
	call->number = num;
	call->tenant = tenant = cc_tenant(call->tenant_id);
	call->ring_timeout = tenant->ring_timeout;
	call->max_attempts = tenant->max_attempts;
	call->skill_id = num->skill_id;
	call->min_proficiency = num->min_proficiency;
	call->has_requirements = num->nrequirements > 0;
	call->domain = tenant->domain;
	open = cc_is_open(tenant, num, GetCurrentTransactionStartTimestamp(), call->local_day,
					  sizeof(call->local_day));

	/* A withdrawal of this call (the proxy stopped waiting) waits for this transaction to end:
	 * a decision committing slowly would otherwise become visible after the withdrawal had
	 * looked for it and found nothing. */
	if (!call->dry_run)
		DirectFunctionCall2(pg_advisory_xact_lock_shared_int4, Int32GetDatum(CCROUTE_CALL_LOCK_CLASS),
							DirectFunctionCall1Coll(hashtext, C_COLLATION_OID, PointerGetDatum(call->call_id)));

	/* 3. This call if it is already live, else the tenant's live calls. */
	live_calls = read_live(call, &live_action, &live_target, &live_agent);
	if (call->live_seq && strcmp(call->live_state, "failed") != 0)
	{
		/* The same INVITE again: the same answer, and no second reservation. */
		d = to_destination(live_action, live_target);
		d.agent_id = live_agent;
		d.call_seq = call->live_seq;
		d.recorded = true;
		return d;
	}

	/* 4. Refusals and fixed destinations. */
	if (!tenant->active)
		return reject(410, "Number No Longer In Service", "rejected");
	if (!call->live_seq && live_calls >= tenant->max_concurrent_calls)
		return reject(486, "Call Limit Reached", "limit");
	if (!open)
		return num->closed_destination ? to_destination("closed", num->closed_destination)
			: reject(480, "Closed", "closed");
	if (call->skill_id == 0)
		return num->destination ? to_destination("destination", num->destination)
			: reject(480, "No Destination", "rejected");
	if (call->live_seq && call->live_attempts >= call->max_attempts)
		return reject(480, "No Answer", "no_answer");

	/* 5. An agent. */
	return choose_agent(call);
}

/*
 * The entry point of 0.4 and later, whose configuration tables tell the cache of their changes,
 * and that of 0.3, whose tables do not: it reads the configuration afresh at every call, until
 * ALTER EXTENSION ccroute UPDATE.
 */
static Datum route_call(FunctionCallInfo fcinfo, bool cache_is_told);

Datum
ccroute_route_call_v4(PG_FUNCTION_ARGS)
{
	return route_call(fcinfo, true);
}

Datum
ccroute_route_call_v3(PG_FUNCTION_ARGS)
{
	return route_call(fcinfo, false);
}

/* One call decided and recorded (a repeated INVITE's decision is already recorded). */
static Decision
route_one(Call *call)
{
	Decision	d = decide(call);

	if (call->has_deadline && d.agent_id != 0 && !d.recorded)
		ccroute_arm_commit_deadline(call->deadline);
	/* 6. The record. */
	if (call->tenant_id != 0 && !d.recorded)
		record(call, &d);
	close_call_rows(call);
	return d;
}

/* The decision as route_call's and route_calls' seven output columns, in the current context. */
static void
decision_values(const Call *call, const Decision *d, Datum *values, bool *nulls)
{
	values[0] = CStringGetTextDatum(d->action);
	nulls[0] = false;
	nulls[1] = d->target == NULL;
	values[1] = d->target ? CStringGetTextDatum(d->target) : (Datum) 0;
	nulls[2] = d->sip_status == 0;
	values[2] = Int32GetDatum(d->sip_status);
	nulls[3] = d->reason == NULL;
	values[3] = d->reason ? CStringGetTextDatum(d->reason) : (Datum) 0;
	nulls[4] = call->tenant_id == 0;
	values[4] = Int64GetDatum(call->tenant_id);
	nulls[5] = d->call_seq == 0;
	values[5] = Int64GetDatum(d->call_seq);
	nulls[6] = d->agent_id == 0;
	values[6] = Int64GetDatum(d->agent_id);
}

static Datum
route_call(FunctionCallInfo fcinfo, bool cache_is_told)
{
	Call		call = {0};
	Decision	d;
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7];
	MemoryContext caller_ctx = CurrentMemoryContext;
	MemoryContext spi_ctx;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("route_call must be called in a context that accepts a record")));
	tupdesc = BlessTupleDesc(tupdesc);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "ccroute: SPI_connect failed");
	prepare_plans();
	cc_cache_begin(cache_is_told);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		d = reject(400, "Missing Call Data", NULL);
	else
	{
		call.call_id = PG_GETARG_TEXT_PP(0);
		call.caller = PG_GETARG_TEXT_PP(1);
		call.dialed = PG_GETARG_TEXT_PP(2);
		call.facts = PG_ARGISNULL(3) ? DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"))
			: PG_GETARG_DATUM(3);
		call.facts = PointerGetDatum(PG_DETOAST_DATUM(call.facts));
		call.has_deadline = !PG_ARGISNULL(4);
		if (call.has_deadline)
			call.deadline = PG_GETARG_TIMESTAMPTZ(4);
		d = route_one(&call);
	}

	/* SPI_finish frees SPI's memory: the result is copied into the caller's context first. */
	spi_ctx = MemoryContextSwitchTo(caller_ctx);
	decision_values(&call, &d, values, nulls);
	MemoryContextSwitchTo(spi_ctx);
	SPI_finish();

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* The elements of a one-dimensional array argument (NULL: *n NULLs); *n < 0: the first array,
 * whose length is the batch's, else its length is checked against *n. */
static Datum *
batch_elements(FunctionCallInfo fcinfo, int arg, Oid type, int *count, bool **nulls)
{
	int			expect = *count;
	ArrayType  *a;
	Datum	   *elems;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			n;

	if (PG_ARGISNULL(arg))
	{
		*nulls = palloc(sizeof(bool) * Max(expect, 1));
		memset(*nulls, true, sizeof(bool) * Max(expect, 1));
		return palloc0(sizeof(Datum) * Max(expect, 1));
	}
	a = PG_GETARG_ARRAYTYPE_P(arg);
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("route_calls takes one-dimensional arrays")));
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	deconstruct_array(a, type, typlen, typbyval, typalign, &elems, nulls, &n);
	if (expect >= 0 && n != expect)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("route_calls' arrays differ in length (%d and %d)", expect, n),
				 errhint("Pass one element per call in every array; facts may be NULL.")));
	*count = n;
	return elems;
}

/*
 * route_calls: several INVITEs decided in one transaction, each as route_call decides it, in
 * the order given, each seeing those before it (the same Call-ID twice gets one decision). The
 * proxy gathers the INVITEs that arrive while its previous batch is being decided: one round
 * trip and one commit for all of them instead of one each, which under load is most of what a
 * call costs the database besides its own rows. The batch shares one commit deadline, the
 * earliest of its calls'. An error in any call undoes the whole batch: the proxy then asks
 * route_call for each call alone.
 */
#define MAX_BATCH 1000

Datum
ccroute_route_calls(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *call_ids, *callers, *dialed, *facts;
	bool	   *call_id_nulls, *caller_nulls, *dialed_nulls, *fact_nulls;
	bool		has_deadline = !PG_ARGISNULL(4);
	TimestampTz deadline = has_deadline ? PG_GETARG_TIMESTAMPTZ(4) : 0;
	Datum		empty;
	MemoryContext one_call, old;
	int			n = -1;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	call_ids = batch_elements(fcinfo, 0, TEXTOID, &n, &call_id_nulls);
	if (n > MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("route_calls takes at most %d calls at a time, not %d", MAX_BATCH, n)));
	callers = batch_elements(fcinfo, 1, TEXTOID, &n, &caller_nulls);
	dialed = batch_elements(fcinfo, 2, TEXTOID, &n, &dialed_nulls);
	facts = batch_elements(fcinfo, 3, JSONBOID, &n, &fact_nulls);
	empty = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));

	/* Each call has an SPI connection of its own, opened in a context reset after the call: SPI
	 * makes its procedure context current after every statement, so what a call allocates is
	 * freed by its SPI_finish, and a batch of a thousand costs the memory of one. The cache is
	 * checked at every call, as route_call checks it: a change committed meanwhile is seen. */
	one_call = AllocSetContextCreate(CurrentMemoryContext, "ccroute route_calls call",
									 ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < n; i++)
	{
		Call		call = {0};
		Decision	d;
		Datum		values[7];
		bool		nulls[7];
		MemoryContext spi_ctx;

		old = MemoryContextSwitchTo(one_call);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "ccroute: SPI_connect failed");
		prepare_plans();
		cc_cache_begin(true);
		if (call_id_nulls[i] || caller_nulls[i] || dialed_nulls[i])
			d = reject(400, "Missing Call Data", NULL);
		else
		{
			call.call_id = DatumGetTextPP(call_ids[i]);
			call.caller = DatumGetTextPP(callers[i]);
			call.dialed = DatumGetTextPP(dialed[i]);
			call.facts = fact_nulls[i] ? empty : PointerGetDatum(PG_DETOAST_DATUM(facts[i]));
			call.has_deadline = has_deadline;
			call.deadline = deadline;
			d = route_one(&call);
		}
		spi_ctx = MemoryContextSwitchTo(one_call);
		decision_values(&call, &d, values, nulls);
		MemoryContextSwitchTo(spi_ctx);
		SPI_finish();
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(one_call);
		/* The next call reads what this one wrote, under no tenant until its number says. */
		CommandCounterIncrement();
		ccroute_set_tenant_context(0);
	}
	return (Datum) 0;
}

/* A JSON string, or null. */
static void
json_text(StringInfo out, const char *s)
{
	if (s)
		escape_json(out, s);
	else
		appendStringInfoString(out, "null");
}

/*
 * try_rule(source, dialed, caller, facts): the tenant admin's dry run. The decision the router
 * would make for a call to one of the admin's own numbers with the given rule (NULL: the active
 * one) and the agents as they are now, with its explanation, as JSON. Nothing is reserved or
 * recorded; the rule's failure is returned, not recorded.
 */
Datum
ccroute_try_rule(PG_FUNCTION_ARGS)
{
	Call		call = {0};
	Decision	d;
	StringInfoData out;
	MemoryContext caller_ctx = CurrentMemoryContext;
	MemoryContext spi_ctx;
	Datum		result;
	char	   *extension = NULL;

	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("try_rule needs a dialed number")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "ccroute: SPI_connect failed");
	prepare_plans();
	cc_cache_begin(true);
	if (SPI_execute("SELECT ccroute.enter_own_tenant(), "
					"pg_catalog.pg_has_role(session_user, 'ccroute_tenant_admin', 'MEMBER')",
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "ccroute: reading the caller's tenant failed");
	call.own_tenant = col_int8(0, 1);
	if (!DatumGetBool(col(0, 2, &(bool) {false})))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("only a tenant admin tries routing rules")));

	call.dry_run = true;
	call.dry_source = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	call.call_id = cstring_to_text("dry-run");
	call.dialed = PG_GETARG_TEXT_PP(1);
	call.caller = PG_ARGISNULL(2) ? cstring_to_text("+10000000000") : PG_GETARG_TEXT_PP(2);
	call.facts = PG_ARGISNULL(3) ? DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"))
		: PointerGetDatum(PG_DETOAST_DATUM(PG_GETARG_DATUM(3)));
	d = decide(&call);
	close_call_rows(&call);
	if (d.agent_id != 0)
	{
		Datum		v[2] = {Int64GetDatum(call.tenant_id), Int64GetDatum(d.agent_id)};

		if (SPI_execute_with_args("SELECT extension FROM ccroute.agent WHERE tenant_id OPERATOR(pg_catalog.=) $1 "
								  "AND agent_id OPERATOR(pg_catalog.=) $2", 2, (Oid[]) {INT8OID, INT8OID},
								  v, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
			extension = col_text(0, 1);
	}

	initStringInfo(&out);
	appendStringInfoString(&out, "{\"action\": ");
	json_text(&out, d.action);
	appendStringInfoString(&out, ", \"target\": ");
	json_text(&out, d.target);
	appendStringInfoString(&out, ", \"agent\": ");
	json_text(&out, extension);
	appendStringInfo(&out, ", \"sip_status\": %d, \"reason\": ", d.sip_status);
	json_text(&out, d.reason);
	appendStringInfo(&out, ", \"explanation\": %s}", d.explanation ? d.explanation->data : "null");

	spi_ctx = MemoryContextSwitchTo(caller_ctx);
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
	MemoryContextSwitchTo(spi_ctx);
	SPI_finish();
	PG_RETURN_DATUM(result);
}
