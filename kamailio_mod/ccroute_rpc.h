/*
 * ccroute_rpc.h: what operators read: the module's counters (also Kamailio statistics, group
 * "ccroute", through the core's cnt.* commands) and the ccroute.* RPC commands for kamcmd.
 */
#ifndef CCROUTE_RPC_H
#define CCROUTE_RPC_H

#include "core/counters.h"

typedef struct ccr_counters
{
	counter_handle_t routed;		  /* sent to the decided agent or destination */
	counter_handle_t rejected;		  /* refused with the decided status */
	counter_handle_t fallback;		  /* database unavailable: sent to the fallback */
	counter_handle_t unavailable;	  /* database unavailable, no fallback: 503 */
	counter_handle_t db_failures;	  /* connections or queries that failed or ran late */
	counter_handle_t breaker_skipped; /* calls not asked because the breaker was open */
	counter_handle_t events;		  /* call events the database took */
	counter_handle_t events_failed;	  /* call events it could not take at once */
	counter_handle_t events_late;	  /* events and withdrawals sent later, once it was back */
	counter_handle_t events_dropped;  /* events or withdrawals dropped: the queue was full */
	counter_handle_t batches;		  /* decisions asked for by a router, one statement each */
	counter_handle_t batched_calls;	  /* the calls in them */
} ccr_counters_t;

extern ccr_counters_t ccr_cnt;

/* In mod_init, before the fork. */
int ccr_rpc_init(void);

#endif
