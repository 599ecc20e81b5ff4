/*
 * ccroute.c: the library's entry point. Loading it defines the ccroute.* settings.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "commit_deadline.h"
#include "login_lockout.h"
#include "maintenance_mode.h"
#include "password_hash.h"
#include "recording_files.h"
#include "role_password.h"
#include "route_call.h"
#include "rule_call.h"
#include "tenant_context.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	ccroute_define_tenant_context();
	ccroute_define_maintenance_mode();
	ccroute_define_recording_settings();
	ccroute_define_router_settings();
	ccroute_define_commit_deadline();
	ccroute_define_rule_settings();
	ccroute_define_password_settings();
	ccroute_install_password_check();
	ccroute_install_login_lockout();
	MarkGUCPrefixReserved("ccroute");
}
