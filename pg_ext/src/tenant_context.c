/*
 * tenant_context.c: the setting ccroute.tenant_context, through which SECURITY DEFINER functions
 * tell the row-level security policies which tenant they are acting for.
 *
 * Policies trust it only while current_user is the owner role, that is, only inside those
 * functions, and each of them resets it on entry. On top of that, only the owner (or a
 * superuser) may give it a value: a session that sets it itself is refused, so a forged value
 * cannot even wait in the session for a function that forgot to reset it.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"

#include "tenant_context.h"

static char *tenant_context = NULL;

static bool
check_tenant_context(char **newval, void **extra, GucSource source)
{
	Oid			owner;
	const char *p;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;			/* clearing it is always allowed */

	for (p = *newval; *p; p++)
	{
		if (*p < '0' || *p > '9' || p - *newval > 18)
		{
			GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
			GUC_check_errmsg("ccroute.tenant_context must be a tenant id");
			return false;
		}
	}

	owner = get_role_oid(CCROUTE_OWNER_ROLE, true);
	if (superuser() || (OidIsValid(owner) && GetUserId() == owner))
		return true;

	GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
	GUC_check_errmsg("permission denied to set ccroute.tenant_context");
	GUC_check_errdetail("The tenant of a session comes from the role it logged in as.");
	return false;
}

void
ccroute_define_tenant_context(void)
{
	DefineCustomStringVariable("ccroute.tenant_context",
							   "Tenant that a privileged ccroute function is acting for.",
							   "Set only by ccroute's own functions; trusted only inside them.",
							   &tenant_context,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							   check_tenant_context, NULL, NULL);
}

void
ccroute_set_tenant_context(int64 tenant_id)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), INT64_FORMAT, tenant_id);
	(void) set_config_option("ccroute.tenant_context", buf, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

PG_FUNCTION_INFO_V1(ccroute_tenant_context);

/*
 * The context, for the policies: a tenant id while current_user is the owner (inside ccroute's
 * own functions), NULL for everyone else whatever the setting holds.
 */
Datum
ccroute_tenant_context(PG_FUNCTION_ARGS)
{
	Oid			owner = get_role_oid(CCROUTE_OWNER_ROLE, true);
	char	   *end;
	long long	id;

	if (!OidIsValid(owner) || GetUserId() != owner || tenant_context == NULL || tenant_context[0] == '\0')
		PG_RETURN_NULL();
	id = strtoll(tenant_context, &end, 10);
	if (*end != '\0' || id <= 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64((int64) id);
}
