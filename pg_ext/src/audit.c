/*
 * audit.c: who is acting, as the audit log records it.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(ccroute_outer_role);

/*
 * The role the session acts as outside any SECURITY DEFINER function (what current_user is at
 * the top level, after SET ROLE). Inside the audit trigger, which runs as the owner,
 * current_user names the owner, and session_user does not show a SET ROLE: this does.
 */
Datum
ccroute_outer_role(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(DirectFunctionCall1(namein,
										CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false))));
}
