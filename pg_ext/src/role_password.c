/*
 * role_password.c: the tenant's password policy for the people who log in to PostgreSQL itself.
 *
 * PostgreSQL's password-check hook sees every CREATE ROLE / ALTER ROLE ... PASSWORD. For a role
 * that is a person of a tenant, a password given in clear must meet that tenant's policy; one
 * given already hashed (psql's \password hashes on the client) cannot be checked, so it is
 * refused, and the person uses ccroute.set_sql_password(), which checks the policy, hashes on
 * the server and passes only the SCRAM secret to ALTER ROLE. The hook is active in sessions that
 * loaded the library, so the library belongs in shared_preload_libraries.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/user.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "libpq/crypt.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "login_lockout.h"
#include "role_password.h"

PG_FUNCTION_INFO_V1(ccroute_apply_role_password);

static check_password_hook_type previous_hook = NULL;
/* On only while ccroute_apply_role_password runs the ALTER ROLE it has checked itself. */
static bool applying_checked_password = false;

/*
 * The tenant's objection to a role's new password, or NULL (also for a role that is no person).
 * A password that came hashed is asked about as NULL: it cannot be checked.
 */
static char *
ask_policy(const char *username, const char *shadow_pass, PasswordType password_type)
{
	Oid			argtypes[2] = {NAMEOID, TEXTOID};
	Datum		args[2] = {DirectFunctionCall1(namein, CStringGetDatum(username)), (Datum) 0};
	char		nulls[2] = {' ', 'n'};
	char	   *problem = NULL;

	if (password_type == PASSWORD_TYPE_PLAINTEXT)
	{
		args[1] = CStringGetTextDatum(shadow_pass);
		nulls[1] = ' ';
	}
	SPI_connect();
	if (SPI_execute_with_args("SELECT ccroute.sql_password_problem($1, $2)", 2, argtypes, args, nulls,
							  true, 1) == SPI_OK_SELECT
		&& SPI_processed == 1)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (value != NULL)
			problem = MemoryContextStrdup(TopTransactionContext, value);
	}
	SPI_finish();
	return problem;
}

/* Whether a role is one of ccroute's people, by the memberships create_person gives. */
static bool
is_person_role(const char *username)
{
	static const char *const groups[] = {"ccroute_tenant_admin", "ccroute_supervisor",
	"ccroute_analyst", "ccroute_agent"};
	Oid			role = get_role_oid(username, true);

	if (!OidIsValid(role))
		return false;
	for (size_t i = 0; i < lengthof(groups); i++)
	{
		Oid			group = get_role_oid(groups[i], true);

		if (OidIsValid(group) && is_member_of_role_nosuper(role, group))
			return true;
	}
	return false;
}

/*
 * ask_policy, as the extension's owner, whoever runs the ALTER ROLE (a person for themselves, a
 * superuser): no one else needs to be able to call sql_password_problem.
 */
static char *
ask_policy_as_owner(const char *username, const char *shadow_pass, PasswordType password_type)
{
	Oid			saved_user;
	int			saved_context;
	char	   *volatile problem = NULL;

	GetUserIdAndSecContext(&saved_user, &saved_context);
	SetUserIdAndSecContext(get_role_oid("ccroute_owner", false),
						   saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		problem = ask_policy(username, shadow_pass, password_type);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(saved_user, saved_context);
	}
	PG_END_TRY();
	return problem;
}

static void
check_role_password(const char *username, const char *shadow_pass, PasswordType password_type,
					Datum validuntil_time, bool validuntil_null)
{
	char	   *problem = NULL;

	if (previous_hook)
		previous_hook(username, shadow_pass, password_type, validuntil_time, validuntil_null);
	if (applying_checked_password)
		return;
	if (!OidIsValid(get_extension_oid("ccroute", true)))
	{
		/* Here the policy cannot be read: a person's password is set where ccroute lives. */
		if (is_person_role(username))
			problem = "a person's password is set in the database of ccroute";
	}
	else
		problem = ask_policy_as_owner(username, shadow_pass, password_type);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PASSWORD),
				 errmsg("password refused: %s", problem),
				 errhint("People of a tenant set their SQL password with ccroute.set_sql_password().")));
}

void
ccroute_install_password_check(void)
{
	previous_hook = check_password_hook;
	check_password_hook = check_role_password;
}

/*
 * apply_role_password(role, password, valid_until): sets a role's password, already checked by
 * the caller, as a SCRAM secret made here, so that the clear password is in no statement.
 */
Datum
ccroute_apply_role_password(PG_FUNCTION_ARGS)
{
	char	   *role = NameStr(*PG_GETARG_NAME(0));
	char	   *password = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *secret = encrypt_password(PASSWORD_TYPE_SCRAM_SHA_256, role, password);
	char	   *until = PG_ARGISNULL(2) ? "infinity"
		: DatumGetCString(DirectFunctionCall1(timestamptz_out, PG_GETARG_DATUM(2)));
	char	   *sql = psprintf("ALTER ROLE %s PASSWORD %s VALID UNTIL %s", quote_identifier(role),
							   quote_literal_cstr(secret), quote_literal_cstr(until));

	SPI_connect();
	applying_checked_password = true;
	PG_TRY();
	{
		if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not set the role's password")));
	}
	PG_FINALLY();
	{
		applying_checked_password = false;
	}
	PG_END_TRY();
	SPI_finish();
	/* The role's new VALID UNTIL: if its login is locked, the worker puts the lock's back. */
	ccroute_lockout_reload_at_commit();
	PG_RETURN_VOID();
}
