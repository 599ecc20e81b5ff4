/*
 * commit_deadline.c: a reservation is never committed after the proxy has given up on it.
 *
 * route_call checks the caller's deadline before it reserves, but the proxy sees the decision
 * only once the transaction has committed and the answer has crossed the network. A database
 * that was frozen, or slow to commit, could commit a reservation the proxy no longer waits
 * for: the call has gone to the fallback, and the agent would sit reserved until the ring
 * timeout. So the transaction refuses to commit (and everything it did is undone) once the
 * deadline, less a margin for the answer's trip, has passed.
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "commit_deadline.h"

static int	commit_margin_ms = 10;
static bool registered = false;
static bool armed = false;
static TimestampTz deadline;

void
ccroute_define_commit_deadline(void)
{
	DefineCustomIntVariable("ccroute.commit_margin_ms",
							"Time a decision's answer is given to reach the proxy.",
							"A transaction that reserved an agent does not commit later than the "
							"caller's deadline less this margin.",
							&commit_margin_ms, 10, 0, 10000, PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}

static void
at_commit(XactEvent event, void *arg)
{
	TimestampTz limit;

	if (!armed)
		return;
	if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PRE_PREPARE)
	{
		armed = false;			/* committed, aborted: the next transaction starts clean */
		return;
	}
	armed = false;
	limit = TimestampTzPlusMilliseconds(deadline, -commit_margin_ms);
	if (GetCurrentTimestamp() > limit)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("call decision reached its commit after the caller's deadline"),
				 errdetail("Deadline %s, margin %d ms: the proxy has sent the call elsewhere, so "
						   "the reservation is undone.",
						   timestamptz_to_str(deadline), commit_margin_ms)));
}

void
ccroute_arm_commit_deadline(TimestampTz d)
{
	if (!registered)
	{
		RegisterXactCallback(at_commit, NULL);
		registered = true;
	}
	if (!armed || d < deadline)
		deadline = d;
	armed = true;
}
