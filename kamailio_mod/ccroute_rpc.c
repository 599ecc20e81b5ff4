/*
 * ccroute_rpc.c: the module's counters and its RPC commands (see ccroute_rpc.h).
 */
#include "core/dprint.h"
#include "core/rpc.h"
#include "core/rpc_lookup.h"

#include "ccroute_breaker.h"
#include "ccroute_queue.h"
#include "ccroute_rpc.h"

ccr_counters_t ccr_cnt;

/* clang-format off */
static counter_def_t counter_defs[] = {
	{&ccr_cnt.routed, "routed", 0, 0, 0, "calls sent to the decided agent or destination"},
	{&ccr_cnt.rejected, "rejected", 0, 0, 0, "calls refused with the decided status"},
	{&ccr_cnt.fallback, "fallback", 0, 0, 0, "calls sent to the fallback: database unavailable"},
	{&ccr_cnt.unavailable, "unavailable", 0, 0, 0, "calls answered 503: database unavailable, no fallback"},
	{&ccr_cnt.db_failures, "db_failures", 0, 0, 0, "database connections or queries that failed or ran past the deadline"},
	{&ccr_cnt.breaker_skipped, "breaker_skipped", 0, 0, 0, "database requests not made because the breaker was open"},
	{&ccr_cnt.events, "events", 0, 0, 0, "call events the database took"},
	{&ccr_cnt.events_failed, "events_failed", 0, 0, 0, "call events the database refused (logged)"},
	{&ccr_cnt.events_late, "events_late", 0, 0, 0, "call events and withdrawals sent over a second after they happened: the database was away or behind"},
	{&ccr_cnt.events_dropped, "events_dropped", 0, 0, 0, "call events or withdrawals dropped: the queue was full"},
	{&ccr_cnt.batches, "batches", 0, 0, 0, "routing statements the router processes made (calls decided together)"},
	{&ccr_cnt.batched_calls, "batched_calls", 0, 0, 0, "calls the router processes decided: batched_calls / batches is the mean batch"},
	{0, 0, 0, 0, 0, 0}
};
/* clang-format on */

static const char *rpc_status_doc[2] = {
	"The circuit breaker's state and the workers' database connections.", 0
};

static void rpc_status(rpc_t *rpc, void *ctx)
{
	ccr_breaker_status_t st;
	void *h;

	ccr_breaker_get_status(&st);
	if(rpc->add(ctx, "{", &h) < 0)
		return;
	rpc->struct_add(h, "sdddjdd", "breaker", st.open ? "open" : "closed",
			"failures_in_a_row", st.failures, "times_opened", (int)st.opened,
			"probes", (int)st.probes, "ms_since_change",
			(unsigned long)(ccr_now_ms() - st.changed_ms), "connected_workers",
			st.connected_workers, "waiting", ccr_queue_length());
}

static const char *rpc_stats_doc[2] = {"The module's counters, summed over all processes.", 0};

static void rpc_stats(rpc_t *rpc, void *ctx)
{
	counter_def_t *d;
	void *h;

	if(rpc->add(ctx, "{", &h) < 0)
		return;
	for(d = counter_defs; d->name; d++)
		rpc->struct_add(h, "j", d->name, (unsigned long)counter_get_val(*d->handle));
}

/* clang-format off */
static rpc_export_t rpc_cmds[] = {
	{"ccroute.status", rpc_status, rpc_status_doc, 0},
	{"ccroute.stats", rpc_stats, rpc_stats_doc, 0},
	{0, 0, 0, 0}
};
/* clang-format on */

int ccr_rpc_init(void)
{
	if(counter_register_array("ccroute", counter_defs) < 0) {
		LM_ERR("cannot register the module's counters\n");
		return -1;
	}
	if(rpc_register_array(rpc_cmds) != 0) {
		LM_ERR("cannot register the module's RPC commands\n");
		return -1;
	}
	return 0;
}
