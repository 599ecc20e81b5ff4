/*
 * lockout_worker.c: the background worker of the SQL-login lock-out (see login_lockout.c).
 *
 * It connects to ccroute.lockout_database as the bootstrap superuser (ALTER ROLE needs it, and
 * no login role of the extension may hold such rights) and, whenever the hook or a committed
 * change wakes it:
 *   1. takes the outcomes the hook counted and writes them with ccroute.record_sql_logins
 *      (the count and lock in login_credential, audit rows without any secret);
 *   2. when the database changed (a trigger's wake-up), a role locked just now, or a few
 *      seconds have passed, calls ccroute.sync_sql_login_locks, which makes every lock durable
 *      in the role itself (VALID UNTIL in the past, undone at unlock) and returns each person's
 *      role, limit, count and lock, and publishes that to the hook's table. Outcomes alone need
 *      no load: the hook has counted them already.
 * The three run in one transaction: if it fails, the outcomes are given back and the worker
 * exits; the postmaster starts it again. Asked to stop (a clean shutdown), it writes once more
 * first. Outcomes of the last milliseconds before a crash are lost with shared memory.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "login_lockout.h"

PGDLLEXPORT void ccroute_lockout_main(Datum arg);

/* The table is loaded at least this often: a database whose extension is created later, a change
 * made without a trigger (a role's memberships). */
#define POLL_MS 5000

void
lockout_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* On a standby nothing can be written: it starts when the server is a primary. */
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "ccroute");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "ccroute_lockout_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "ccroute SQL-login lock-out");
	snprintf(worker.bgw_type, BGW_MAXLEN, "ccroute lockout");
	RegisterBackgroundWorker(&worker);
}

static void
detach_at_exit(int code, Datum arg)
{
	lockout_worker_detach();
}

/*
 * Whether the ccroute extension, at a version with the lock-out, is in this database. The worker
 * runs as the bootstrap superuser, so the functions it calls must be the extension's own (only a
 * superuser can create it): a schema "ccroute" with look-alike functions, which the owner of a
 * database without the extension could make, must never be run with those rights. Both functions
 * the worker calls are asked for as members of the extension, in its schema "ccroute", which a
 * superuser owns (CREATE EXTENSION made it; a schema someone else made beforehand is refused).
 */
static bool
extension_ready(void)
{
	bool		isnull;

	if (SPI_execute("SELECT pg_catalog.count(*) OPERATOR(pg_catalog.=) 2"
					" FROM pg_catalog.pg_extension e"
					" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
					" JOIN pg_catalog.pg_depend d ON d.refobjid OPERATOR(pg_catalog.=) e.oid"
					"  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass"
					"  AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass"
					"  AND d.deptype OPERATOR(pg_catalog.=) 'e'"
					" JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid"
					"  AND p.pronamespace OPERATOR(pg_catalog.=) e.extnamespace"
					" JOIN pg_catalog.pg_authid o ON o.oid OPERATOR(pg_catalog.=) n.nspowner"
					" WHERE e.extname OPERATOR(pg_catalog.=) 'ccroute'"
					"  AND n.nspname OPERATOR(pg_catalog.=) 'ccroute' AND o.rolsuper"
					"  AND p.proname OPERATOR(pg_catalog.=) ANY"
					"   ('{sync_sql_login_locks,record_sql_logins}'::pg_catalog.name[])",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for the ccroute extension");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Writes one role's outcomes; true when they locked it. */
static bool
record_outcomes(const LockoutOutcomes *o)
{
	Oid			types[5] = {NAMEOID, INT4OID, INT4OID, INT4OID, INT4OID};
	NameData	role;
	Datum		args[5];
	bool		isnull;

	namestrcpy(&role, o->role);
	args[0] = NameGetDatum(&role);
	args[1] = Int32GetDatum(o->successes);
	args[2] = Int32GetDatum(o->failures);
	args[3] = Int32GetDatum(o->failures_since_success);
	args[4] = Int32GetDatum(o->refusals);
	if (SPI_execute_with_args("SELECT ccroute.record_sql_logins($1, $2, $3, $4, $5)",
							  5, types, args, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not record SQL logins");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* The people's roles, copied into the caller's memory context. */
static int
load_roles(MemoryContext into, LockoutRole **loaded)
{
	SPITupleTable *tuples;

	if (SPI_execute("SELECT role_name, coalesce(max_failed_attempts, 0), failed_attempts, locked"
					" FROM ccroute.sync_sql_login_locks()", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not load people's roles");
	tuples = SPI_tuptable;
	*loaded = MemoryContextAllocZero(into, sizeof(LockoutRole) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = tuples->vals[i];
		TupleDesc	d = tuples->tupdesc;
		bool		isnull;
		LockoutRole *r = &(*loaded)[i];

		strlcpy(r->role, NameStr(*DatumGetName(SPI_getbinval(t, d, 1, &isnull))), NAMEDATALEN);
		r->limit = DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
		r->failures = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
		r->locked = DatumGetBool(SPI_getbinval(t, d, 4, &isnull));
	}
	return (int) SPI_processed;
}

/* One round; due: load the table whatever happened. Returns whether it was loaded. */
static bool
sync_once(MemoryContext round, bool due)
{
	LockoutOutcomes *outcomes;
	MemoryContext old = MemoryContextSwitchTo(round);
	int			count = lockout_take_outcomes(&outcomes);
	bool		load = lockout_take_reload_wanted() || due;

	MemoryContextSwitchTo(old);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		LockoutRole *loaded = NULL;
		int			nloaded = 0;
		bool		ready;

		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "ccroute: recording SQL logins");
		ready = extension_ready();
		if (ready)
		{
			for (int i = 0; i < count; i++)
				load = record_outcomes(&outcomes[i]) || load;
			if (load)
			{
				/* The load sees the outcomes just written. */
				CommandCounterIncrement();
				nloaded = load_roles(round, &loaded);
			}
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		/* Published only once committed: the hook never acts on what could still roll back. */
		if (!ready)
		{
			/* No extension (yet) in that database: nobody is a person there, nothing is locked. */
			lockout_publish(NULL, 0);
			lockout_set_state(LOCKOUT_OFF);
		}
		else if (load)
		{
			lockout_publish(loaded, nloaded);
			lockout_set_state(LOCKOUT_READY);
		}
	}
	PG_CATCH();
	{
		lockout_give_back(outcomes, count);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return load;
}

void
ccroute_lockout_main(Datum arg)
{
	MemoryContext round;
	TimestampTz last_load = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	/* Not die(): what the hook counted is written once more before the worker goes. */
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	before_shmem_exit(detach_at_exit, 0);
	lockout_worker_attach(MyLatch);
	BackgroundWorkerInitializeConnection(ccroute_lockout_database, NULL, 0);
	round = AllocSetContextCreate(TopMemoryContext, "ccroute lockout round", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (sync_once(round, last_load == 0 ||
					  TimestampDifferenceExceeds(last_load, GetCurrentTimestamp(), POLL_MS)))
			last_load = GetCurrentTimestamp();
		MemoryContextReset(round);
		/* Exit code 1: restarted, unless the server is shutting down (0 would never be). */
		if (ShutdownRequestPending)
			proc_exit(1);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, POLL_MS,
						 PG_WAIT_EXTENSION);
	}
}
