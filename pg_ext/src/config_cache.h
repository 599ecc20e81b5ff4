/*
 * config_cache.h: what the router needs to know about numbers, tenants, skills and agents'
 * skills, kept in each backend between calls.
 *
 * That configuration changes a few times a day and is read at every call; reading it through
 * SQL was a third of the router's time. Statement triggers on the tables it comes from
 * (ccroute.config_changed) send a relation-cache invalidation when their transaction commits;
 * every backend drops its copy when that arrives, so a call routed after a change sees it.
 */
#ifndef CCROUTE_CONFIG_CACHE_H
#define CCROUTE_CONFIG_CACHE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/date.h"

typedef struct CcSlot
{
	int16		dow;			/* ISO day of week, 1 = Monday */
	TimeADT		opens;
	TimeADT		closes;
} CcSlot;

typedef struct CcRequirement
{
	int64		skill_id;
	int			min_proficiency;
} CcRequirement;

typedef struct CcSkill
{
	int64		skill_id;
	char	   *name;
	char	   *strategy;
	int64		overflow_skill_id;	/* 0 if none */
	char	   *overflow_destination;	/* NULL if none */
} CcSkill;

typedef struct CcTenant
{
	int64		tenant_id;		/* hash key */
	bool		active;
	int			max_concurrent_calls;
	int			ring_timeout;
	int			max_attempts;
	char	   *time_zone;
	char	   *domain;			/* NULL if none */
	int			nholidays;
	DateADT    *holidays;		/* sorted */
	int			nskills;
	CcSkill    *skills;			/* sorted by id */
	int			rule_version;	/* the active routing rule, 0 if none */
	char	   *rule_source;
	int			ndestinations;	/* where a rule may forward calls */
	char	  **destination_names;
	char	  **destination_uris;
} CcTenant;

typedef struct CcAgentSkill
{
	int64		agent_id;
	int64		skill_id;
	int			proficiency;
} CcAgentSkill;

#define CC_DID_KEY_LEN 32

typedef struct CcNumber
{
	char		did[CC_DID_KEY_LEN];	/* hash key */
	int64		tenant_id;		/* 0: not in the directory */
	bool		configured;		/* the tenant has the number (the directory could be ahead) */
	int64		skill_id;		/* 0 if none */
	char	   *destination;
	char	   *closed_destination;
	int			min_proficiency;
	bool		has_schedule;
	int			nslots;
	CcSlot	   *slots;
	int			nrequirements;
	CcRequirement *requirements;
} CcNumber;

/* Call first in each routing call: applies pending invalidations, drops what they made stale
 * (everything, unless the tables' triggers tell the cache of changes). Pointers from the
 * lookups below stay valid until the next call of this. */
extern void cc_cache_begin(bool cache_is_told);

/* The number's entry (loaded through SPI, which must be connected, on a miss); the tenant's
 * context is set when the number is in the directory. NULL when the number cannot be cached. */
extern const CcNumber *cc_number(const text *dialed);
extern const CcTenant *cc_tenant(int64 tenant_id);
/* A skill of the tenant by its name, NULL if none. */
extern const CcSkill *cc_skill_named(const CcTenant *tenant, const char *name);
/* An agent's skills (sorted by skill id): *n of them. */
extern const CcAgentSkill *cc_agent_skills(int64 tenant_id, int64 agent_id, int *n);
/* Now in the tenant's time zone. */
extern void cc_local_time(const CcTenant *tenant, TimestampTz now, struct pg_tm *tm, fsec_t *fsec);
/* Whether the tenant has a holiday on that day (its own calendar's date). */
extern bool cc_is_holiday(const CcTenant *tenant, int year, int month, int day);
/* The URI of a destination a rule may forward to, NULL if none by that name. */
extern const char *cc_destination(const CcTenant *tenant, const char *name);
extern const CcSkill *cc_skill(const CcTenant *tenant, int64 skill_id);

/* The agent's proficiency in the skill, 0 when the agent does not have it. */
extern int	cc_proficiency(int64 tenant_id, int64 agent_id, int64 skill_id);

/* Whether the number is open at the time, in the tenant's time zone; sets the tenant's local
 * day (YYYY-MM-DD, for the agents' daily counters). */
extern bool cc_is_open(const CcTenant *tenant, const CcNumber *number, TimestampTz now,
					   char *local_day, size_t local_day_len);

#endif
