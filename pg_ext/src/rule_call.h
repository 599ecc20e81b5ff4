/*
 * rule_call.h: running a tenant's routing rule inside the backend (the sandbox itself is
 * rule_sandbox.c).
 *
 * One Lua state per tenant per backend, kept between calls in a bounded cache (the least
 * recently used is closed first), holding the tenant's active rule compiled once per version.
 * The states live in malloc'd memory counted by the sandbox's allocator, never in a
 * PostgreSQL memory context, and nothing of PostgreSQL runs inside Lua: no error of one kind
 * ever unwinds through the other.
 */
#ifndef CCROUTE_RULE_CALL_H
#define CCROUTE_RULE_CALL_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "config_cache.h"
#include "row_access.h"
#include "rule_sandbox.h"

extern void ccroute_define_rule_settings(void);

/* The limits the settings give. */
extern cc_rule_limits ccroute_rule_limits(void);

/*
 * Runs the tenant's rule (version and source as the cache holds them; source given again only
 * for a dry run of an unsaved rule, with version 0). CC_RULE_OK and *out, or the reason it
 * failed with err set.
 */
extern cc_rule_stop ccroute_run_rule(int64 tenant_id, int version, const char *source,
									 const cc_rule_call *call, const cc_rule_agent *agents,
									 int nagents, cc_rule_decision *out, char *err, size_t errlen);

/* The call as a rule sees it: the tenant's local time and holiday, the facts (top-level text
 * values of the JSON object). Strings are palloc'd in the current context. */
extern void ccroute_rule_call_input(cc_rule_call *rc, const CcTenant *tenant, text *caller,
									text *dialed, const char *skill_name, TimestampTz now,
									Datum facts);

/* The candidates as a rule sees them, in the order of ids: extensions, names and today's
 * counts read by key through the call's rows (agent and agent_state, opened in w), skills from
 * the cache. An agent no longer found is left out, and ids is compacted alike, so that ids[k]
 * is the id of the k-th agent returned. */
extern cc_rule_agent *ccroute_rule_agents(const CcTenant *tenant, int64 *ids, int n,
										  const char *local_day, RowWork *w, RowRel *agent,
										  RowRel *state, int *nout);

/* What failed, for the tenant admin (rule_error): at most once a second per tenant and backend. */
extern void ccroute_rule_error(int64 tenant_id, int version, cc_rule_stop stop,
							   const char *message, text *call_id);

#endif
