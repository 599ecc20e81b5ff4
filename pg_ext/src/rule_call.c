/*
 * rule_call.c: tenants' rules in the backend: their Lua states, the settings that limit them,
 * and the check a rule passes before it is saved (see the header).
 */
#include "postgres.h"

#include <time.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "rule_call.h"
#include "spi_util.h"

PG_FUNCTION_INFO_V1(ccroute_rule_problem);

static int	rule_instructions = 1000000;
static int	rule_deadline_ms = 10;
static int	rule_memory_kb = 8192;
static int	rule_alloc_kb = 1024;
static int	rule_source_kb = 64;
static double rule_pattern_steps = 1e7;
static int	rule_states = 1000;

void
ccroute_define_rule_settings(void)
{
	DefineCustomIntVariable("ccroute.rule_instructions", "Lua instructions a routing rule may run per call.",
							NULL, &rule_instructions, 1000000, 1000, 100000000, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ccroute.rule_deadline_ms", "Wall-clock time a routing rule may take per call.",
							NULL, &rule_deadline_ms, 10, 1, 1000, PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("ccroute.rule_memory", "Memory of one tenant's rule state.",
							NULL, &rule_memory_kb, 8192, 256, 1048576, PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("ccroute.rule_alloc", "Largest single block (so string) a rule may build.",
							NULL, &rule_alloc_kb, 1024, 16, 1048576, PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("ccroute.rule_source", "Largest source of a rule.",
							NULL, &rule_source_kb, 64, 1, 1024, PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomRealVariable("ccroute.rule_pattern_steps",
							 "Worst-case steps a rule's pattern call may have (subject length to the power "
							 "of its repetition items plus one).",
							 NULL, &rule_pattern_steps, 1e7, 1e3, 1e12, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ccroute.rule_states", "Tenants' rule states a backend keeps.",
							"Beyond, the least recently used is closed (and its rule compiled again when "
							"its tenant next has a call).",
							&rule_states, 1000, 1, 100000, PGC_SUSET, 0, NULL, NULL, NULL);
}

cc_rule_limits
ccroute_rule_limits(void)
{
	cc_rule_limits l;

	l.instructions = rule_instructions;
	l.deadline_ms = rule_deadline_ms;
	l.memory_bytes = (size_t) rule_memory_kb * 1024;
	l.alloc_bytes = (size_t) rule_alloc_kb * 1024;
	l.source_bytes = (size_t) rule_source_kb * 1024;
	l.pattern_steps = rule_pattern_steps;
	return l;
}

/* A query cancel or a termination stops a rule at its next hook: a flag read, nothing thrown. */
static bool
interrupt_pending(void)
{
	return InterruptPending;
}

/* --- The states. ------------------------------------------------------------------------- */

typedef struct RuleState
{
	int64		tenant_id;
	int			version;		/* compiled; 0 for none */
	int			ref;
	cc_sandbox *sb;
	uint64		last_used;
} RuleState;

static RuleState *states;		/* malloc'd: lives as long as the backend */
static int	nstates;
static int	capacity;
static uint64 clock_tick;

static RuleState *
state_for(int64 tenant_id)
{
	RuleState  *oldest = NULL;

	for (int i = 0; i < nstates; i++)
	{
		if (states[i].tenant_id == tenant_id)
			return &states[i];
		if (oldest == NULL || states[i].last_used < oldest->last_used)
			oldest = &states[i];
	}
	if (nstates < rule_states)
	{
		if (nstates == capacity)
		{
			int			more = capacity ? capacity * 2 : 16;
			RuleState  *grown = realloc(states, sizeof(RuleState) * more);

			if (grown == NULL)
				ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory for rule states")));
			states = grown;
			capacity = more;
		}
		oldest = &states[nstates++];
	}
	else
		cc_sandbox_free(oldest->sb);
	memset(oldest, 0, sizeof(*oldest));
	oldest->tenant_id = tenant_id;
	return oldest;
}

cc_rule_stop
ccroute_run_rule(int64 tenant_id, int version, const char *source, const cc_rule_call *call,
				 const cc_rule_agent *agents, int nagents, cc_rule_decision *out, char *err,
				 size_t errlen)
{
	cc_rule_limits limits = ccroute_rule_limits();
	RuleState  *st;
	RuleState	dry = {0};
	cc_rule_stop stop;
	char		name[32];

	/* A dry run of an unsaved rule gets a state of its own, closed after. */
	st = version > 0 ? state_for(tenant_id) : &dry;
	st->last_used = ++clock_tick;
	if (st->sb == NULL || st->version != version)
	{
		if (st->sb)
			cc_sandbox_free(st->sb);
		st->version = 0;
		st->sb = cc_sandbox_new(&limits);
		if (st->sb == NULL)
		{
			snprintf(err, errlen, "the rule's state does not fit ccroute.rule_memory");
			return CC_RULE_MEMORY;
		}
		cc_sandbox_set_interrupt(st->sb, interrupt_pending);
		snprintf(name, sizeof(name), version > 0 ? "rule v%d" : "rule", version);
		stop = cc_sandbox_compile(st->sb, source, strlen(source), name, &st->ref, err, errlen);
		if (stop != CC_RULE_OK)
		{
			cc_sandbox_free(st->sb);
			st->sb = NULL;
			return stop;
		}
		st->version = version;
	}
	stop = cc_sandbox_run(st->sb, st->ref, call, agents, nagents, out, err, errlen);
	if (st == &dry)
		cc_sandbox_free(dry.sb);
	CHECK_FOR_INTERRUPTS();		/* outside Lua: a cancel that stopped the rule ends here */
	return stop;
}

/* NULL when the source compiles, else "stop: message". */
Datum
ccroute_rule_problem(PG_FUNCTION_ARGS)
{
	text	   *src = PG_GETARG_TEXT_PP(0);
	cc_rule_limits limits = ccroute_rule_limits();
	cc_sandbox *sb = cc_sandbox_new(&limits);
	char		err[512];
	int			ref;
	cc_rule_stop stop;

	if (sb == NULL)
		PG_RETURN_TEXT_P(cstring_to_text("memory: the rule's state does not fit ccroute.rule_memory"));
	cc_sandbox_set_interrupt(sb, interrupt_pending);
	stop = cc_sandbox_compile(sb, VARDATA_ANY(src), VARSIZE_ANY_EXHDR(src), "rule", &ref, err, sizeof(err));
	cc_sandbox_free(sb);
	CHECK_FOR_INTERRUPTS();
	if (stop == CC_RULE_OK)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%s: %s", cc_rule_stop_name(stop), err)));
}

/* --- A call's input. --------------------------------------------------------------------- */

void
ccroute_rule_call_input(cc_rule_call *rc, const CcTenant *tenant, text *caller, text *dialed,
						const char *skill_name, TimestampTz now, Datum facts)
{
	struct pg_tm tm;
	fsec_t		fsec;
	Jsonb	   *jb = DatumGetJsonbP(facts);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	cc_rule_fact *f;
	char	   *key = NULL;

	memset(rc, 0, sizeof(*rc));
	rc->caller = text_to_cstring(caller);
	rc->dialed = text_to_cstring(dialed);
	rc->skill = skill_name;
	cc_local_time(tenant, now, &tm, &fsec);
	rc->year = tm.tm_year;
	rc->month = tm.tm_mon;
	rc->day = tm.tm_mday;
	rc->hour = tm.tm_hour;
	rc->minute = tm.tm_min;
	rc->wday = j2day(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday));
	if (rc->wday == 0)
		rc->wday = 7;
	rc->holiday = cc_is_holiday(tenant, tm.tm_year, tm.tm_mon, tm.tm_mday);

	/* The facts: each top-level key with a text value (the proxy sends only those). */
	f = palloc0(sizeof(cc_rule_fact) * 16);
	if (JB_ROOT_IS_OBJECT(jb))
	{
		int			depth = 0;

		it = JsonbIteratorInit(&jb->root);
		while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
		{
			if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
				depth++;
			else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
				depth--;
			else if (depth == 1 && tok == WJB_KEY)
				key = pnstrdup(v.val.string.val, v.val.string.len);
			else if (depth == 1 && tok == WJB_VALUE && key && v.type == jbvString && rc->nfacts < 16)
			{
				f[rc->nfacts].name = key;
				f[rc->nfacts].value = pnstrdup(v.val.string.val, v.val.string.len);
				rc->nfacts++;
			}
		}
	}
	rc->facts = f;
}

cc_rule_agent *
ccroute_rule_agents(const CcTenant *tenant, int64 *ids, int n, const char *local_day, RowWork *w,
					RowRel *agent, RowRel *state, int *nout)
{
	cc_rule_agent *agents = palloc0(sizeof(cc_rule_agent) * (n + 1));
	Oid			agent_key = row_relid("agent_pkey");
	Oid			state_key = row_relid("agent_state_pkey");
	DateADT		today = DatumGetDateADT(DirectFunctionCall1(date_in, CStringGetDatum(local_day)));
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	*nout = 0;
	for (int i = 0; i < n; i++)
	{
		Datum		keys[2] = {Int64GetDatum(tenant->tenant_id), Int64GetDatum(ids[i])};
		cc_rule_agent *a;
		const CcAgentSkill *sk;
		cc_rule_skill *skills;
		int			nsk;
		bool		isnull;
		bool		counts_today;
		Datum		v;

		if (!row_fetch(w, agent, agent_key, 2, keys) || !row_fetch(w, state, state_key, 2, keys))
			continue;
		ids[*nout] = ids[i];	/* compacted alike: ids[k] stays agents[k]'s */
		a = &agents[(*nout)++];
		a->extension = TextDatumGetCString(row_get_col(agent, "extension", &isnull));
		a->name = TextDatumGetCString(row_get_col(agent, "name", &isnull));
		v = row_get_col(state, "idle_since", &isnull);
		a->idle_seconds = isnull ? 0 : (double) (now - DatumGetTimestampTz(v)) / USECS_PER_SEC;
		v = row_get_col(state, "stats_day", &isnull);
		counts_today = !isnull && DatumGetDateADT(v) == today;
		a->calls_today = counts_today ? DatumGetInt32(row_get_col(state, "calls_today", &isnull)) : 0;
		a->talk_seconds_today = counts_today ?
			DatumGetInt32(row_get_col(state, "talk_seconds_today", &isnull)) : 0;
		sk = cc_agent_skills(tenant->tenant_id, ids[i], &nsk);
		skills = palloc0(sizeof(cc_rule_skill) * (nsk + 1));
		a->nskills = 0;
		for (int j = 0; j < nsk; j++)
		{
			const CcSkill *s = cc_skill(tenant, sk[j].skill_id);

			if (s == NULL)
				continue;
			skills[a->nskills].name = s->name;
			skills[a->nskills].proficiency = sk[j].proficiency;
			a->nskills++;
		}
		a->skills = skills;
	}
	return agents;
}

void
ccroute_rule_error(int64 tenant_id, int version, cc_rule_stop stop, const char *message, text *call_id)
{
	static SPIPlanPtr plan = NULL;
	static int64 last_tenant[64];
	static pg_time_t last_at[64];
	int			slot = (int) (tenant_id % 64);
	pg_time_t	now = (pg_time_t) time(NULL);
	Datum		v[5];

	if (last_tenant[slot] == tenant_id && last_at[slot] == now)
		return;
	last_tenant[slot] = tenant_id;
	last_at[slot] = now;
	if (plan == NULL)
		plan = ccroute_prepare_kept(
			"INSERT INTO ccroute.rule_error (tenant_id, version, stop, message, call_id) "
			"VALUES ($1, $2, $3, $4, $5)", 5, (Oid[]) {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID});
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int32GetDatum(version);
	v[2] = CStringGetTextDatum(cc_rule_stop_name(stop));
	v[3] = CStringGetTextDatum(message);
	v[4] = PointerGetDatum(call_id);
	if (SPI_execute_plan(plan, v, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "ccroute: recording a rule's error failed");
}

PG_FUNCTION_INFO_V1(ccroute_rule_memory);

/* How many tenants' rule states this connection keeps, and their Lua memory in bytes. */
Datum
ccroute_rule_memory(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int64		bytes = 0;
	int			live = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("rule_memory returns a record")));
	for (int i = 0; i < nstates; i++)
		if (states[i].sb)
		{
			live++;
			bytes += cc_sandbox_memory(states[i].sb);
		}
	values[0] = Int32GetDatum(live);
	values[1] = Int64GetDatum(bytes);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
