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
#include "commands/user.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "libpq/crypt.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "role_password.h"

PG_FUNCTION_INFO_V1(ccroute_apply_role_password);

static check_password_hook_type previous_hook = NULL;
/* On only while ccroute_apply_role_password runs the ALTER ROLE it has checked itself. */
static bool applying_checked_password = false;
/* Whether the database of the last question has the extension. */
static bool present_here = true;

/* The tenant's objection to a role's new password, or NULL (also for a role that is no person). */
static char *
ask_policy(const char *username, const char *shadow_pass, PasswordType password_type)
{
	Oid			argtypes[2] = {NAMEOID, TEXTOID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	char	   *problem = NULL;

	present_here = true;
	SPI_connect();
	/* A database without the extension has no tenants to check against. */
	if (SPI_execute("SELECT pg_catalog.to_regprocedure('ccroute.sql_password_problem(name,text)') IS NOT NULL",
					true, 1) == SPI_OK_SELECT
		&& SPI_processed == 1)
	{
		bool		isnull;
		bool		present = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

		present_here = present;
		if (present)
		{
			args[0] = CStringGetDatum(username);
			args[0] = DirectFunctionCall1(namein, args[0]);
			if (password_type == PASSWORD_TYPE_PLAINTEXT)
				args[1] = CStringGetTextDatum(shadow_pass);
			else
				nulls[1] = 'n';
			if (SPI_execute_with_args("SELECT ccroute.sql_password_problem($1, $2)", 2, argtypes, args, nulls,
									  true, 1) == SPI_OK_SELECT
				&& SPI_processed == 1)
			{
				char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

				if (value != NULL)
					problem = MemoryContextStrdup(TopTransactionContext, value);
			}
		}
	}
	else
		present_here = false;
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

static void
check_role_password(const char *username, const char *shadow_pass, PasswordType password_type,
					Datum validuntil_time, bool validuntil_null)
{
	Oid			owner;
	Oid			saved_user;
	int			saved_context;
	char	   *volatile problem = NULL;

	if (previous_hook)
		previous_hook(username, shadow_pass, password_type, validuntil_time, validuntil_null);
	if (applying_checked_password)
		return;
	owner = get_role_oid("ccroute_owner", true);
	if (!OidIsValid(owner))
		return;

	/*
	 * The question is asked as the extension's owner, whoever runs the ALTER ROLE (a person for
	 * themselves, a superuser): no one else needs to be able to call it.
	 */
	GetUserIdAndSecContext(&saved_user, &saved_context);
	SetUserIdAndSecContext(owner, saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		problem = ask_policy(username, shadow_pass, password_type);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(saved_user, saved_context);
	}
	PG_END_TRY();
	/* Elsewhere the policy cannot be read: a person's password is set where ccroute lives. */
	if (problem == NULL && !present_here && is_person_role(username))
		problem = "a person's password is set in the database of ccroute";
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
	PG_RETURN_VOID();
}
