/*
 * maintenance_mode.c: the setting ccroute.maintenance, which lets the daily maintenance delete
 * history and audit rows past their retention.
 *
 * History and the audit log are append-only: their triggers refuse every UPDATE and DELETE.
 * Retention must still delete rows at its edge and purge a cancelled tenant. Those deletes are
 * allowed only while the setting is on and current_user is the owner, that is, inside the
 * owner's maintenance functions; and only the owner (or a superuser) may turn it on, so a session
 * cannot leave it on for some other function to meet.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"

#include "maintenance_mode.h"
#include "tenant_context.h"

static bool maintenance = false;

static bool
check_maintenance(bool *newval, void **extra, GucSource source)
{
	if (!*newval)
		return true;			/* turning it off is always allowed */
	if (ccroute_owner_or_superuser())
		return true;
	GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
	GUC_check_errmsg("permission denied to set ccroute.maintenance");
	GUC_check_errdetail("Only ccroute's maintenance functions delete history.");
	return false;
}

void
ccroute_define_maintenance_mode(void)
{
	DefineCustomBoolVariable("ccroute.maintenance",
							 "Whether ccroute's maintenance is deleting rows past retention.",
							 "Set only by ccroute's own maintenance functions.",
							 &maintenance,
							 false,
							 PGC_USERSET,
							 GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							 check_maintenance, NULL, NULL);
}

PG_FUNCTION_INFO_V1(ccroute_maintenance_mode);

/* True only inside the owner's maintenance: the setting on, and current_user the owner. */
Datum
ccroute_maintenance_mode(PG_FUNCTION_ARGS)
{
	Oid			owner;

	if (!maintenance)
		PG_RETURN_BOOL(false);
	owner = get_role_oid(CCROUTE_OWNER_ROLE, true);
	PG_RETURN_BOOL(OidIsValid(owner) && GetUserId() == owner);
}
