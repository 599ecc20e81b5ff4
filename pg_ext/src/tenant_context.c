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

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/guc.h"

#include "tenant_context.h"

static char *tenant_context = NULL;

/* Whether the current user is the owner role or a superuser: who may set ccroute's settings
 * that the owner's functions trust. */
bool
ccroute_owner_or_superuser(void)
{
	Oid			owner = get_role_oid(CCROUTE_OWNER_ROLE, true);

	return superuser() || (OidIsValid(owner) && GetUserId() == owner);
}

static bool
check_tenant_context(char **newval, void **extra, GucSource source)
{
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

	if (ccroute_owner_or_superuser())
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

/* The context as a tenant id while current_user is the owner; 0 otherwise. */
static int64
owner_context(bool *is_owner)
{
	Oid			owner = get_role_oid(CCROUTE_OWNER_ROLE, true);
	char	   *end;
	long long	id;

	*is_owner = OidIsValid(owner) && GetUserId() == owner;
	if (!*is_owner || tenant_context == NULL || tenant_context[0] == '\0')
		return 0;
	id = strtoll(tenant_context, &end, 10);
	return (*end == '\0' && id > 0) ? (int64) id : 0;
}

PG_FUNCTION_INFO_V1(ccroute_tenant_context);

/*
 * The context, for the policies: a tenant id while current_user is the owner (inside ccroute's
 * own functions), NULL for everyone else whatever the setting holds.
 */
Datum
ccroute_tenant_context(PG_FUNCTION_ARGS)
{
	bool		is_owner;
	int64		id = owner_context(&is_owner);

	if (id == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(id);
}

/* A person's tenant, looked up once per transaction. */
static Oid	mapped_role = InvalidOid;
static LocalTransactionId mapped_lxid = InvalidLocalTransactionId;
static int64 mapped_tenant = 0;

PG_FUNCTION_INFO_V1(ccroute_current_tenant);

/*
 * The tenant the policies show rows of. Inside ccroute's SECURITY DEFINER functions (current_user
 * is the owner) it is the context they set; for a person it is the mapping of the role they
 * logged in as, and only while they act as that role (after SET ROLE to a role someone lent
 * them, they see nothing); for anyone else it is NULL: no rows.
 */
Datum
ccroute_current_tenant(PG_FUNCTION_ARGS)
{
	bool		is_owner;
	int64		id = owner_context(&is_owner);
	Oid			user = GetUserId();

	if (is_owner)
	{
		if (id == 0)
			PG_RETURN_NULL();
		PG_RETURN_INT64(id);
	}
	if (user != GetSessionUserId())
		PG_RETURN_NULL();

	if (mapped_role != user || mapped_lxid != MyProc->lxid)
	{
		bool		isnull;
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "ccroute: SPI_connect failed");
		/* As the person: the role map's policy shows them their own row only. */
		rc = SPI_execute("SELECT m.tenant_id FROM ccroute.role_map m "
						 "WHERE m.role_name OPERATOR(pg_catalog.=) session_user", true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "ccroute: role map lookup failed: %s", SPI_result_code_string(rc));
		mapped_tenant = 0;
		if (SPI_processed == 1)
		{
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				mapped_tenant = DatumGetInt64(d);
		}
		SPI_finish();
		mapped_role = user;
		mapped_lxid = MyProc->lxid;
	}
	if (mapped_tenant == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(mapped_tenant);
}
