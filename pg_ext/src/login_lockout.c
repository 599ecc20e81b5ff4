/*
 * login_lockout.c: people's PostgreSQL logins are locked after their tenant's
 * max_failed_attempts failed password authentications in a row (issue 7).
 *
 * PostgreSQL's ClientAuthentication_hook sees every authentication's outcome, but it runs before
 * the session has a database: it cannot read ccroute's tables, only shared memory. So the hook
 * counts in a shared-memory table, one entry per person's role (its tenant's limit, its failures
 * in a row, whether it is locked), and locks a role the moment it reaches its limit, without
 * waiting for anything. The background worker (lockout_worker.c) fills that table from the
 * database (ccroute.sync_sql_login_locks) at start and whenever people, policies or locks change,
 * and writes the outcomes the hook counted to the database (ccroute.record_sql_logins), where the
 * count and the lock are durable, audited, and shared with the gateway's sign-in: one account,
 * one count, one lock, whichever way the person comes in.
 *
 * Outcomes wait for the worker in the role's own entry, as counters rather than a queue of
 * events, so a storm of failures can never overflow anything and be forgotten.
 *
 * Only roles in the table are touched, and the worker loads only people's roles (role_map rows
 * whose roles are members of ccroute's people groups, never superusers). All of it exists only
 * when the library is in shared_preload_libraries and ccroute.lockout_database names the
 * database of the extension; otherwise the feature is off (shared memory can only be asked for
 * at server start).
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/auth.h"
#include "libpq/hba.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "login_lockout.h"

PG_FUNCTION_INFO_V1(ccroute_sql_login_changed);
PG_FUNCTION_INFO_V1(ccroute_sql_login_lockout);
PG_FUNCTION_INFO_V1(ccroute_sql_login_lockout_state);

/*
 * At server start the table is empty until the worker's first load (milliseconds): logins then
 * wait for it, so that a lock kept in the database holds from the first login; all together this
 * long at most after the first of them began to wait. Not per login: a worker that never comes
 * (too many background workers to register it) or whose first load hangs on a lock would
 * otherwise slow every login of every role by this much, for as long as the server runs.
 */
#define FIRST_LOAD_WAIT_MS 2000

typedef struct LockoutEntry
{
	char		role[NAMEDATALEN];	/* hash key */
	int32		limit;			/* 0: no limit */
	int32		failures;		/* in a row, as counted here */
	bool		locked;
	bool		seen;			/* bookkeeping of lockout_publish */
	LockoutOutcomes unwritten;	/* not yet written by the worker (its role field unused) */
} LockoutEntry;

typedef struct LockoutShared
{
	LWLock	   *lock;			/* guards everything here and the table */
	pg_atomic_uint32 state;		/* LockoutState */
	Latch	   *worker_latch;	/* NULL while no worker runs */
	bool		reload_wanted;	/* people, a policy or a lock changed in the database */
	TimestampTz first_load_deadline;	/* 0 until a login waits for the first load */
	int			overflow;		/* people's roles that did not fit at the last load */
} LockoutShared;

char	   *ccroute_lockout_database = NULL;
bool		ccroute_in_lockout_worker = false;

static int	max_roles = 10000;
static LockoutShared *shared = NULL;
static HTAB *roles = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ClientAuthentication_hook_type prev_client_auth_hook = NULL;

/* A change to people, policies or locks committed by this backend wakes the worker. */
static bool wake_at_commit = false;
static bool xact_callback_registered = false;

static Size
lockout_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(LockoutShared)),
					hash_estimate_size(max_roles, sizeof(LockoutEntry)));
}

static void
lockout_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(lockout_shmem_size());
	RequestNamedLWLockTranche("ccroute_lockout", 1);
}

static void
lockout_shmem_startup(void)
{
	HASHCTL		info;
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("ccroute lockout", sizeof(LockoutShared), &found);
	if (!found)
	{
		shared->lock = &(GetNamedLWLockTranche("ccroute_lockout"))->lock;
		pg_atomic_init_u32(&shared->state, LOCKOUT_STARTING);
		shared->worker_latch = NULL;
		shared->reload_wanted = false;
		shared->first_load_deadline = 0;
		shared->overflow = 0;
	}
	info.keysize = NAMEDATALEN;
	info.entrysize = sizeof(LockoutEntry);
	roles = ShmemInitHash("ccroute lockout roles", max_roles, max_roles, &info,
						  HASH_ELEM | HASH_STRINGS);
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Wakes the worker: to write the hook's outcomes (which the table already counts), or, with
 * reload, because the database changed and the table must be loaded again.
 */
static void
wake_worker(bool reload)
{
	Latch	   *latch;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (reload)
		shared->reload_wanted = true;
	latch = shared->worker_latch;
	LWLockRelease(shared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

/* The hash key of a role name: NAMEDATALEN bytes, zero-padded. */
static void
role_key(char *key, const char *role)
{
	memset(key, 0, NAMEDATALEN);
	strlcpy(key, role, NAMEDATALEN);
}

static bool
is_password_method(UserAuth method)
{
	return method == uaPassword || method == uaMD5 || method == uaSCRAM;
}

static void
wait_for_first_load(void)
{
	TimestampTz deadline;

	/* A standby runs no worker (it cannot write): there, locks hold through VALID UNTIL. */
	if (pg_atomic_read_u32(&shared->state) != LOCKOUT_STARTING || RecoveryInProgress())
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (shared->first_load_deadline == 0)
		shared->first_load_deadline =
			TimestampTzPlusMilliseconds(GetCurrentTimestamp(), FIRST_LOAD_WAIT_MS);
	deadline = shared->first_load_deadline;
	LWLockRelease(shared->lock);
	while (pg_atomic_read_u32(&shared->state) == LOCKOUT_STARTING &&
		   GetCurrentTimestamp() < deadline)
	{
		pg_usleep(10000L);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The authentication hook. A locked role is refused whatever happened before, with one message
 * whether the password was right or wrong, so that a locked account tells nothing about its
 * password (the worker also sets the role's VALID UNTIL in the past, so that PostgreSQL itself
 * fails a right password exactly as a wrong one, before the hook, in the same time). A client
 * that hung up before answering (psql asking for a password, STATUS_EOF) is not counted.
 */
static void
lockout_check(Port *port, int status)
{
	char		key[NAMEDATALEN];
	LockoutEntry *entry;
	bool		refuse = false;
	bool		counted = false;

	if (prev_client_auth_hook)
		prev_client_auth_hook(port, status);
	if (status == STATUS_EOF || port->user_name == NULL)
		return;
	/*
	 * A connection pg_hba.conf turns away gets PostgreSQL's own refusal: "locked" would tell a
	 * host that may not even try which roles are people and which of them are locked.
	 */
	if (port->hba->auth_method == uaReject || port->hba->auth_method == uaImplicitReject)
		return;
	wait_for_first_load();
	role_key(key, port->user_name);
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	entry = hash_search(roles, key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		if (entry->locked)
		{
			entry->unwritten.refusals++;
			refuse = counted = true;
		}
		else if (is_password_method(port->hba->auth_method))
		{
			counted = true;
			if (status == STATUS_OK)
			{
				entry->failures = 0;
				entry->unwritten.successes++;
				entry->unwritten.failures_since_success = 0;
			}
			else
			{
				entry->failures++;
				entry->unwritten.failures++;
				entry->unwritten.failures_since_success++;
				/* This attempt still fails as a wrong password; the next ones as locked. */
				if (entry->limit > 0 && entry->failures >= entry->limit)
					entry->locked = true;
			}
		}
	}
	LWLockRelease(shared->lock);
	if (counted)
		wake_worker(false);
	if (refuse)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the login of role \"%s\" is locked", port->user_name),
				 errdetail("Too many password authentications failed in a row."),
				 errhint("A tenant admin of your tenant can unlock it with ccroute.unlock_person().")));
}

void
ccroute_install_login_lockout(void)
{
	/* Shared memory and workers can only be set up while the server starts. */
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomStringVariable("ccroute.lockout_database",
							   "Database of the ccroute extension whose people's SQL logins are locked out.",
							   "Empty: failed SQL logins are not counted and never lock.",
							   &ccroute_lockout_database, "", PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ccroute.lockout_max_roles",
							"People's roles the SQL-login lock-out can hold in shared memory.",
							NULL, &max_roles, 10000, 100, 1000000, PGC_POSTMASTER, 0, NULL, NULL, NULL);
	if (ccroute_lockout_database == NULL || ccroute_lockout_database[0] == '\0')
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = lockout_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = lockout_shmem_startup;
	prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = lockout_check;
	lockout_register_worker();
}

/* ---- For the worker. */

void
lockout_worker_attach(Latch *latch)
{
	ccroute_in_lockout_worker = true;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->worker_latch = latch;
	LWLockRelease(shared->lock);
}

void
lockout_worker_detach(void)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->worker_latch = NULL;
	LWLockRelease(shared->lock);
	/* A worker that never loaded the table (no such database): logins stop waiting for it. */
	if (pg_atomic_read_u32(&shared->state) == LOCKOUT_STARTING)
		pg_atomic_write_u32(&shared->state, LOCKOUT_OFF);
}

void
lockout_set_state(LockoutState state)
{
	pg_atomic_write_u32(&shared->state, state);
}

/* Whether the table must be loaded again since the last call. */
bool
lockout_take_reload_wanted(void)
{
	bool		wanted;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	wanted = shared->reload_wanted;
	shared->reload_wanted = false;
	LWLockRelease(shared->lock);
	return wanted;
}

/* Copies out the outcomes not yet written, and clears them in the table. */
int
lockout_take_outcomes(LockoutOutcomes **outcomes)
{
	HASH_SEQ_STATUS scan;
	LockoutEntry *entry;
	int			count = 0;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	*outcomes = palloc(sizeof(LockoutOutcomes) * Max(hash_get_num_entries(roles), 1));
	hash_seq_init(&scan, roles);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		LockoutOutcomes *u = &entry->unwritten;

		if (u->successes == 0 && u->failures == 0 && u->refusals == 0)
			continue;
		(*outcomes)[count] = *u;
		memcpy((*outcomes)[count].role, entry->role, NAMEDATALEN);
		count++;
		memset(u, 0, sizeof(*u));
	}
	LWLockRelease(shared->lock);
	return count;
}

/*
 * Puts back outcomes the worker took but could not write (its transaction failed), before the
 * ones counted since: nothing counted is lost when the worker restarts.
 */
void
lockout_give_back(const LockoutOutcomes *outcomes, int count)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < count; i++)
	{
		LockoutEntry *entry = hash_search(roles, outcomes[i].role, HASH_FIND, NULL);
		LockoutOutcomes *u;

		if (entry == NULL)
			continue;
		u = &entry->unwritten;
		if (u->successes == 0)
			u->failures_since_success += outcomes[i].failures_since_success;
		u->successes += outcomes[i].successes;
		u->failures += outcomes[i].failures;
		u->refusals += outcomes[i].refusals;
	}
	LWLockRelease(shared->lock);
}

/*
 * Replaces the table by the people's roles the database holds. Outcomes counted since the worker
 * took them are not in the database yet: they are applied again on top, so that no failure is
 * forgotten and no lock undone by a load that raced with a login.
 */
void
lockout_publish(const LockoutRole *loaded, int count)
{
	HASH_SEQ_STATUS scan;
	LockoutEntry *entry;
	int			overflow = 0;
	int			previous_overflow;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	/* Roles no longer loaded go first, so that their places can be taken by new ones. */
	hash_seq_init(&scan, roles);
	while ((entry = hash_seq_search(&scan)) != NULL)
		entry->seen = false;
	for (int i = 0; i < count; i++)
		if ((entry = hash_search(roles, loaded[i].role, HASH_FIND, NULL)) != NULL)
			entry->seen = true;
	hash_seq_init(&scan, roles);
	while ((entry = hash_seq_search(&scan)) != NULL)
		if (!entry->seen)
			hash_search(roles, entry->role, HASH_REMOVE, NULL);
	for (int i = 0; i < count; i++)
	{
		bool		found;
		const LockoutOutcomes *u;

		/*
		 * At most max_roles entries: a shared hash table takes further entries from the server's
		 * spare shared memory, which the lock tables and other modules need ("out of shared
		 * memory" for everyone once it is gone), so HASH_ENTER_NULL alone is no limit.
		 */
		entry = hash_search(roles, loaded[i].role, HASH_FIND, &found);
		if (!found && hash_get_num_entries(roles) < max_roles)
			entry = hash_search(roles, loaded[i].role, HASH_ENTER_NULL, &found);
		if (entry == NULL)
		{
			overflow++;
			continue;
		}
		if (!found)
			memset(&entry->unwritten, 0, sizeof(entry->unwritten));
		u = &entry->unwritten;
		entry->limit = loaded[i].limit;
		entry->failures = (u->successes > 0 ? 0 : loaded[i].failures) + u->failures_since_success;
		/* Only failures not written yet can lock beyond what the database says. */
		entry->locked = loaded[i].locked ||
			(u->failures_since_success > 0 && entry->limit > 0 && entry->failures >= entry->limit);
	}
	previous_overflow = shared->overflow;
	shared->overflow = overflow;
	LWLockRelease(shared->lock);
	if (overflow > 0 && overflow != previous_overflow)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("%d people's roles are not protected by the SQL-login lock-out", overflow),
				 errhint("Raise ccroute.lockout_max_roles (now %d) and restart the server.", max_roles)));
}

/* ---- SQL: the trigger that wakes the worker, and what the hook sees. */

static void
wake_on_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit && shared != NULL)
		wake_worker(true);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		wake_at_commit = false;
}

/*
 * sql_login_changed(): an AFTER trigger on the tables the table is loaded from. The worker is
 * woken once the change commits (it would not see it earlier).
 */
Datum
ccroute_sql_login_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("sql_login_changed() runs only as a trigger")));
	ccroute_lockout_reload_at_commit();
	PG_RETURN_POINTER(NULL);
}

/*
 * The worker loads the table again once this transaction commits: the trigger above, and
 * apply_role_password (role_password.c), whose new VALID UNTIL would undo a lock's.
 */
void
ccroute_lockout_reload_at_commit(void)
{
	if (shared != NULL && !ccroute_in_lockout_worker)
	{
		if (!xact_callback_registered)
		{
			RegisterXactCallback(wake_on_commit, NULL);
			xact_callback_registered = true;
		}
		wake_at_commit = true;
	}
}

/* sql_login_lockout(): the table as the hook sees it (empty when the feature is off). */
Datum
ccroute_sql_login_lockout(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS scan;
	LockoutEntry *entry;

	InitMaterializedSRF(fcinfo, 0);
	if (shared == NULL)
		return (Datum) 0;
	LWLockAcquire(shared->lock, LW_SHARED);
	hash_seq_init(&scan, roles);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		NameData	name;

		namestrcpy(&name, entry->role);
		values[0] = NameGetDatum(&name);
		values[1] = Int32GetDatum(entry->limit);
		nulls[1] = entry->limit == 0;
		values[2] = Int32GetDatum(entry->failures);
		values[3] = BoolGetDatum(entry->locked);
		values[4] = Int32GetDatum(entry->unwritten.successes + entry->unwritten.failures +
								  entry->unwritten.refusals);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(shared->lock);
	return (Datum) 0;
}

/* sql_login_lockout_state(): off, starting or ready. */
Datum
ccroute_sql_login_lockout_state(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"starting", "ready", "off"};

	if (shared == NULL)
		PG_RETURN_TEXT_P(cstring_to_text("off"));
	PG_RETURN_TEXT_P(cstring_to_text(names[pg_atomic_read_u32(&shared->state)]));
}
