/*
 * config_cache.c: the router's per-backend copy of numbers, tenants, skills and agents' skills,
 * and the trigger that makes every backend drop it when one of their tables changes.
 *
 * Two caches, dropped separately: the configuration (numbers, tenants, their hours, holidays
 * and skills) and the agents' skills, which admins change more often. An invalidation only
 * marks a cache stale: it can arrive in the middle of a call (at any lock the call takes), when
 * the call still holds pointers into the cache, so the memory is freed at the next call's start.
 *
 * A change committed while a call is being routed reaches that call or the next one: the same
 * guarantee as the tables, whose rows the call reads under a snapshot taken when it started.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "config_cache.h"
#include "spi_util.h"
#include "tenant_context.h"

/* Beyond this many numbers (most of them unknown ones, from a flood), the cache starts over. */
#define MAX_CACHED_NUMBERS 200000
#define MAX_CACHED_AGENT_SKILLS 2000000

static const char *const config_tables[] = {
	"tenant", "sip_domain", "skill", "did", "did_directory", "did_requirement",
	"schedule", "schedule_slot", "holiday", "routing_rule", "destination"
};
#define NCONFIG_TABLES lengthof(config_tables)

typedef CcAgentSkill AgentSkill;

typedef struct TenantAgentSkills
{
	int64		tenant_id;		/* hash key */
	int			n;
	AgentSkill *rows;			/* sorted by agent, skill */
} TenantAgentSkills;

static MemoryContext config_ctx = NULL;
static HTAB *numbers = NULL;
static HTAB *tenants = NULL;
static bool config_stale = false;

static MemoryContext skills_ctx = NULL;
static HTAB *agent_skills = NULL;
static long cached_agent_skills = 0;
static bool skills_stale = false;

static SPIPlanPtr directory_plan,
			did_plan,
			slot_plan,
			requirement_plan,
			tenant_plan,
			domain_plan,
			holiday_plan,
			skill_plan,
			rule_plan,
			destination_plan,
			agent_skill_plan;

static bool callback_registered = false;
static Oid	config_relids[NCONFIG_TABLES];
static Oid	agent_skill_relid = InvalidOid;

static void
relcache_changed(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == agent_skill_relid)
		skills_stale = true;
	if (!OidIsValid(relid))
	{
		config_stale = true;
		return;
	}
	for (int i = 0; i < (int) NCONFIG_TABLES; i++)
		if (config_relids[i] == relid)
			config_stale = true;
}

static void
watch_tables(void)
{
	Oid			nsp = get_namespace_oid("ccroute", false);

	for (int i = 0; i < (int) NCONFIG_TABLES; i++)
		config_relids[i] = get_relname_relid(config_tables[i], nsp);
	agent_skill_relid = get_relname_relid("agent_skill", nsp);
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(relcache_changed, (Datum) 0);
		callback_registered = true;
	}
}

static void
reset_config(void)
{
	HASHCTL		ctl;

	if (config_ctx == NULL)
		config_ctx = AllocSetContextCreate(CacheMemoryContext, "ccroute configuration cache",
										   ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(config_ctx);
	ctl.keysize = CC_DID_KEY_LEN;
	ctl.entrysize = sizeof(CcNumber);
	ctl.hcxt = config_ctx;
	numbers = hash_create("ccroute numbers", 1024, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(CcTenant);
	tenants = hash_create("ccroute tenants", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	config_stale = false;
}

static void
reset_skills(void)
{
	HASHCTL		ctl;

	if (skills_ctx == NULL)
		skills_ctx = AllocSetContextCreate(CacheMemoryContext, "ccroute agent skills cache",
										   ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(skills_ctx);
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(TenantAgentSkills);
	ctl.hcxt = skills_ctx;
	agent_skills = hash_create("ccroute agent skills", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	cached_agent_skills = 0;
	skills_stale = false;
}

void
cc_cache_begin(bool cache_is_told)
{
	/* Changes committed before this call must reach it: read the invalidations now, as the
	 * first lock the call takes would. */
	AcceptInvalidationMessages();
	if (!callback_registered)
	{
		watch_tables();
		reset_config();
		reset_skills();
		return;
	}
	if (!cache_is_told)
		config_stale = skills_stale = true;
	if (config_stale || hash_get_num_entries(numbers) > MAX_CACHED_NUMBERS)
	{
		/* The tables may have been dropped and made again (a reinstall): look them up anew. */
		watch_tables();
		reset_config();
	}
	if (skills_stale || cached_agent_skills > MAX_CACHED_AGENT_SKILLS)
	{
		watch_tables();
		reset_skills();
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Loading, through SPI. */

/*
 * Runs a loading query, prepared once per backend in *plan (a generic plan, as the router's
 * own: these are key lookups, run in the router's call, where sequential scans are off).
 */
static int
query(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types, Datum *values)
{
	int			rc;

	if (*plan == NULL)
		*plan = ccroute_prepare_kept(sql, nargs, types);
	rc = SPI_execute_plan(*plan, values, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "ccroute: loading the router's configuration failed: %s",
			 SPI_result_code_string(rc));
	return (int) SPI_processed;
}

/* A text column copied into the cache; NULL stays NULL. */
static char *
cached_text(int row, int col)
{
	char	   *s = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);

	return s ? MemoryContextStrdup(config_ctx, s) : NULL;
}

static int
compare_dates(const void *a, const void *b)
{
	DateADT		x = *(const DateADT *) a;
	DateADT		y = *(const DateADT *) b;

	return x < y ? -1 : (x > y);
}

static int
compare_skills(const void *a, const void *b)
{
	int64		x = ((const CcSkill *) a)->skill_id;
	int64		y = ((const CcSkill *) b)->skill_id;

	return x < y ? -1 : (x > y);
}

static void
load_tenant(CcTenant *t)
{
	Datum		v[1] = {Int64GetDatum(t->tenant_id)};
	Oid			types[1] = {INT8OID};
	int			n;

	n = query(&tenant_plan, "SELECT status, max_concurrent_calls, ring_timeout_seconds, max_attempts, time_zone "
			  "  FROM ccroute.tenant WHERE tenant_id OPERATOR(pg_catalog.=) $1", 1, types, v);
	if (n != 1)
		elog(ERROR, "ccroute: tenant " INT64_FORMAT " is in the directory but cannot be read",
			 t->tenant_id);
	t->active = strcmp(col_text(0, 1), "active") == 0;
	t->max_concurrent_calls = col_int4(0, 2);
	t->ring_timeout = col_int4(0, 3);
	t->max_attempts = col_int4(0, 4);
	t->time_zone = cached_text(0, 5);

	n = query(&domain_plan, "SELECT domain FROM ccroute.sip_domain WHERE tenant_id OPERATOR(pg_catalog.=) $1",
			  1, types, v);
	t->domain = n == 1 ? cached_text(0, 1) : NULL;

	n = query(&holiday_plan, "SELECT day FROM ccroute.holiday WHERE tenant_id OPERATOR(pg_catalog.=) $1", 1, types, v);
	t->nholidays = n;
	t->holidays = MemoryContextAlloc(config_ctx, sizeof(DateADT) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		t->holidays[i] = DatumGetDateADT(col(i, 1, &isnull));
	}
	qsort(t->holidays, n, sizeof(DateADT), compare_dates);

	n = query(&skill_plan, "SELECT skill_id, strategy, overflow_skill_id, overflow_destination, name "
			  "  FROM ccroute.skill WHERE tenant_id OPERATOR(pg_catalog.=) $1", 1, types, v);
	t->nskills = n;
	t->skills = MemoryContextAlloc(config_ctx, sizeof(CcSkill) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		t->skills[i].skill_id = col_int8(i, 1);
		t->skills[i].strategy = cached_text(i, 2);
		t->skills[i].overflow_skill_id = col_int8(i, 3);
		t->skills[i].overflow_destination = cached_text(i, 4);
		t->skills[i].name = cached_text(i, 5);
	}
	qsort(t->skills, n, sizeof(CcSkill), compare_skills);

	n = query(&rule_plan, "SELECT version, source FROM ccroute.routing_rule "
			  " WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND active", 1, types, v);
	t->rule_version = n == 1 ? col_int4(0, 1) : 0;
	t->rule_source = n == 1 ? cached_text(0, 2) : NULL;

	n = query(&destination_plan, "SELECT name, uri FROM ccroute.destination "
			  " WHERE tenant_id OPERATOR(pg_catalog.=) $1", 1, types, v);
	t->ndestinations = n;
	t->destination_names = MemoryContextAlloc(config_ctx, sizeof(char *) * (n + 1));
	t->destination_uris = MemoryContextAlloc(config_ctx, sizeof(char *) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		t->destination_names[i] = cached_text(i, 1);
		t->destination_uris[i] = cached_text(i, 2);
	}
}

/* The tenant's number, read in the tenant's context. */
static void
load_number(CcNumber *num, const text *dialed)
{
	Datum		v[2] = {Int64GetDatum(num->tenant_id), PointerGetDatum(dialed)};
	Oid			types[2] = {INT8OID, TEXTOID};
	int64		schedule_id;
	int			n;

	n = query(&did_plan, "SELECT skill_id, destination, min_proficiency::pg_catalog.int4, closed_destination, "
			  "       schedule_id FROM ccroute.did "
			  " WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND did OPERATOR(pg_catalog.=) $2",
			  2, types, v);
	num->configured = n == 1;
	if (!num->configured)
		return;
	num->skill_id = col_int8(0, 1);
	num->destination = cached_text(0, 2);
	num->min_proficiency = col_int4(0, 3);
	num->closed_destination = cached_text(0, 4);
	schedule_id = col_int8(0, 5);
	num->has_schedule = schedule_id != 0;

	if (num->has_schedule)
	{
		v[1] = Int64GetDatum(schedule_id);
		types[1] = INT8OID;
		n = query(&slot_plan, "SELECT dow::pg_catalog.int4, opens, closes FROM ccroute.schedule_slot "
				  " WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND schedule_id OPERATOR(pg_catalog.=) $2",
				  2, types, v);
		num->nslots = n;
		num->slots = MemoryContextAlloc(config_ctx, sizeof(CcSlot) * (n + 1));
		for (int i = 0; i < n; i++)
		{
			bool		isnull;

			num->slots[i].dow = (int16) col_int4(i, 1);
			num->slots[i].opens = DatumGetTimeADT(col(i, 2, &isnull));
			num->slots[i].closes = DatumGetTimeADT(col(i, 3, &isnull));
		}
		v[1] = PointerGetDatum(dialed);
		types[1] = TEXTOID;
	}

	n = query(&requirement_plan, "SELECT skill_id, min_proficiency::pg_catalog.int4 FROM ccroute.did_requirement "
			  " WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND did OPERATOR(pg_catalog.=) $2",
			  2, types, v);
	num->nrequirements = n;
	num->requirements = MemoryContextAlloc(config_ctx, sizeof(CcRequirement) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		num->requirements[i].skill_id = col_int8(i, 1);
		num->requirements[i].min_proficiency = col_int4(i, 2);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Lookups. Entries enter the hash tables only once fully loaded: an error halfway leaves none. */

const CcNumber *
cc_number(const text *dialed)
{
	int			len = VARSIZE_ANY_EXHDR(dialed);
	char		key[CC_DID_KEY_LEN];
	CcNumber   *num;
	CcNumber	loaded = {0};
	bool		found;
	Datum		v[1] = {PointerGetDatum(dialed)};
	Oid			types[1] = {TEXTOID};

	if (len >= CC_DID_KEY_LEN)
		return NULL;
	memset(key, 0, sizeof(key));
	memcpy(key, VARDATA_ANY(dialed), len);
	num = hash_search(numbers, key, HASH_FIND, NULL);
	if (num)
	{
		if (num->tenant_id)
			ccroute_set_tenant_context(num->tenant_id);
		return num;
	}

	if (query(&directory_plan, "SELECT tenant_id FROM ccroute.did_directory WHERE did OPERATOR(pg_catalog.=) $1",
			  1, types, v) == 1)
		loaded.tenant_id = col_int8(0, 1);
	if (loaded.tenant_id)
	{
		ccroute_set_tenant_context(loaded.tenant_id);
		load_number(&loaded, dialed);
	}
	memcpy(loaded.did, key, sizeof(key));
	num = hash_search(numbers, key, HASH_ENTER, &found);
	*num = loaded;
	return num;
}

const CcTenant *
cc_tenant(int64 tenant_id)
{
	CcTenant   *t = hash_search(tenants, &tenant_id, HASH_FIND, NULL);
	CcTenant	loaded = {0};
	bool		found;

	if (t)
		return t;
	loaded.tenant_id = tenant_id;
	load_tenant(&loaded);
	t = hash_search(tenants, &tenant_id, HASH_ENTER, &found);
	*t = loaded;
	return t;
}

const CcSkill *
cc_skill(const CcTenant *tenant, int64 skill_id)
{
	CcSkill		key = {.skill_id = skill_id};

	return bsearch(&key, tenant->skills, tenant->nskills, sizeof(CcSkill), compare_skills);
}

const CcSkill *
cc_skill_named(const CcTenant *tenant, const char *name)
{
	for (int i = 0; i < tenant->nskills; i++)
		if (strcmp(tenant->skills[i].name, name) == 0)
			return &tenant->skills[i];
	return NULL;
}

const char *
cc_destination(const CcTenant *tenant, const char *name)
{
	for (int i = 0; i < tenant->ndestinations; i++)
		if (strcmp(tenant->destination_names[i], name) == 0)
			return tenant->destination_uris[i];
	return NULL;
}

static int
compare_agent_skills(const void *a, const void *b)
{
	const AgentSkill *x = a;
	const AgentSkill *y = b;

	if (x->agent_id != y->agent_id)
		return x->agent_id < y->agent_id ? -1 : 1;
	return x->skill_id < y->skill_id ? -1 : (x->skill_id > y->skill_id);
}

/* The tenant's agents' skills, loaded on first use. */
static TenantAgentSkills *
tenant_agent_skills(int64 tenant_id)
{
	TenantAgentSkills *t = hash_search(agent_skills, &tenant_id, HASH_FIND, NULL);

	if (t == NULL)
	{
		Datum		v[1] = {Int64GetDatum(tenant_id)};
		Oid			types[1] = {INT8OID};
		int			n = query(&agent_skill_plan, "SELECT agent_id, skill_id, proficiency::pg_catalog.int4 "
							  "  FROM ccroute.agent_skill WHERE tenant_id OPERATOR(pg_catalog.=) $1",
							  1, types, v);
		AgentSkill *rows = MemoryContextAlloc(skills_ctx, sizeof(AgentSkill) * (n + 1));
		bool		found;

		for (int i = 0; i < n; i++)
		{
			rows[i].agent_id = col_int8(i, 1);
			rows[i].skill_id = col_int8(i, 2);
			rows[i].proficiency = col_int4(i, 3);
		}
		qsort(rows, n, sizeof(AgentSkill), compare_agent_skills);
		t = hash_search(agent_skills, &tenant_id, HASH_ENTER, &found);
		t->n = n;
		t->rows = rows;
		cached_agent_skills += n;
	}
	return t;
}

int
cc_proficiency(int64 tenant_id, int64 agent_id, int64 skill_id)
{
	TenantAgentSkills *t = tenant_agent_skills(tenant_id);
	AgentSkill	key = {.agent_id = agent_id, .skill_id = skill_id};
	AgentSkill *hit = bsearch(&key, t->rows, t->n, sizeof(AgentSkill), compare_agent_skills);

	return hit ? hit->proficiency : 0;
}

const CcAgentSkill *
cc_agent_skills(int64 tenant_id, int64 agent_id, int *n)
{
	TenantAgentSkills *t = tenant_agent_skills(tenant_id);
	int			lo = 0,
				hi = t->n,
				first;

	/* The first row of the agent (rows are sorted by agent, then skill). */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (t->rows[mid].agent_id < agent_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	while (lo < t->n && t->rows[lo].agent_id == agent_id)
		lo++;
	*n = lo - first;
	return t->rows + first;
}

/* ---------------------------------------------------------------------------------------- */
/* Business hours. */

bool
cc_is_holiday(const CcTenant *tenant, int year, int month, int day)
{
	DateADT		d = date2j(year, month, day) - POSTGRES_EPOCH_JDATE;

	return bsearch(&d, tenant->holidays, tenant->nholidays, sizeof(DateADT), compare_dates) != NULL;
}

void
cc_local_time(const CcTenant *tenant, TimestampTz now, struct pg_tm *tm, fsec_t *fsec)
{
	/* AT TIME ZONE, as SQL would do it: the zone's rules, abbreviations and offsets alike. */
	Timestamp	local = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone,
															  CStringGetTextDatum(tenant->time_zone),
															  TimestampTzGetDatum(now)));

	if (timestamp2tm(local, NULL, tm, fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
}

bool
cc_is_open(const CcTenant *tenant, const CcNumber *number, TimestampTz now, char *local_day,
		   size_t local_day_len)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			julian;
	int			isodow;
	TimeADT		time;

	cc_local_time(tenant, now, &tm, &fsec);
	snprintf(local_day, local_day_len, "%04d-%02d-%02d", tm.tm_year, tm.tm_mon, tm.tm_mday);
	if (!number->has_schedule)
		return true;

	if (cc_is_holiday(tenant, tm.tm_year, tm.tm_mon, tm.tm_mday))
		return false;
	julian = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);
	isodow = j2day(julian);
	if (isodow == 0)
		isodow = 7;
	time = ((((int64) tm.tm_hour * MINS_PER_HOUR) + tm.tm_min) * SECS_PER_MINUTE + tm.tm_sec)
		* USECS_PER_SEC + fsec;
	for (int i = 0; i < number->nslots; i++)
		if (number->slots[i].dow == isodow && time >= number->slots[i].opens &&
			time < number->slots[i].closes)
			return true;
	return false;
}

/* ---------------------------------------------------------------------------------------- */
/* The trigger on the tables the caches copy. */

PG_FUNCTION_INFO_V1(ccroute_config_changed);

/*
 * Statement trigger: the change reaches every backend's cache when its transaction commits
 * (and this backend's at once), through the relation cache's own invalidation messages.
 */
Datum
ccroute_config_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("config_changed must be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
