/*
 * ccroute_breaker.c: the circuit breaker shared by all SIP workers (see ccroute_breaker.h).
 *
 * One small struct in shared memory under one lock, held for a few instructions per call.
 */
#include <time.h>

#include "core/dprint.h"
#include "core/locking.h"
#include "core/mem/shm_mem.h"

#include "ccroute_breaker.h"
#include "ccroute_db.h"
#include "ccroute_events.h"

typedef struct ccr_breaker
{
	gen_lock_t lock;
	ccr_breaker_status_t s;
	unsigned int generation;
} ccr_breaker_t;

static ccr_breaker_t *breaker;
static int failures_to_open;

long long ccr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ccr_breaker_init(int failures)
{
	failures_to_open = failures;
	breaker = shm_malloc(sizeof(*breaker));
	if(breaker == NULL) {
		SHM_MEM_ERROR;
		return -1;
	}
	memset(breaker, 0, sizeof(*breaker));
	if(lock_init(&breaker->lock) == NULL) {
		shm_free(breaker);
		breaker = NULL;
		return -1;
	}
	breaker->s.changed_ms = ccr_now_ms();
	return 0;
}

void ccr_breaker_destroy(void)
{
	if(breaker) {
		lock_destroy(&breaker->lock);
		shm_free(breaker);
		breaker = NULL;
	}
}

int ccr_breaker_allows(void)
{
	/* A plain read: a worker that reads a stale value asks once more or once less. */
	return breaker == NULL || !breaker->s.open;
}

void ccr_breaker_success(void)
{
	if(breaker == NULL || breaker->s.failures == 0)
		return;
	lock_get(&breaker->lock);
	breaker->s.failures = 0;
	lock_release(&breaker->lock);
}

void ccr_breaker_failure(void)
{
	int opened = 0;

	if(breaker == NULL)
		return;
	lock_get(&breaker->lock);
	breaker->s.failures++;
	if(!breaker->s.open && failures_to_open > 0 && breaker->s.failures >= failures_to_open) {
		breaker->s.open = 1;
		breaker->s.opened++;
		breaker->s.changed_ms = ccr_now_ms();
		opened = 1;
	}
	lock_release(&breaker->lock);
	if(opened)
		LM_ERR("circuit breaker open after %d database failures in a row: calls go to the"
			   " fallback until the database answers a probe\n",
				failures_to_open);
}

unsigned int ccr_breaker_generation(void)
{
	return breaker ? breaker->generation : 0;
}

void ccr_breaker_connected(int delta)
{
	if(breaker == NULL)
		return;
	lock_get(&breaker->lock);
	breaker->s.connected_workers += delta;
	lock_release(&breaker->lock);
}

void ccr_breaker_probe(unsigned int ticks, void *param)
{
	if(breaker == NULL)
		return;
	if(!breaker->s.open)
		return;
	lock_get(&breaker->lock);
	breaker->s.probes++;
	lock_release(&breaker->lock);
	if(ccr_db_probe() < 0)
		return;
	/* Before calls are routed again, the database hears of what happened while it was away:
	 * above all the calls that ended, whose agents it still holds on a call. Workers meanwhile
	 * keep sending calls to the fallback. Bounded: a backlog that cannot be sent within 20
	 * deadlines leaves the breaker open until the next probe. */
	if(ccr_events_drain(ccr_now_ms() + 20 * ccr_db_timeout_ms()) < 0) {
		ccr_db_close();
		return;
	}
	ccr_db_close();
	lock_get(&breaker->lock);
	breaker->s.open = 0;
	breaker->s.failures = 0;
	breaker->s.changed_ms = ccr_now_ms();
	breaker->generation++;
	lock_release(&breaker->lock);
	LM_INFO("circuit breaker closed: the database answered a probe\n");
}

void ccr_breaker_get_status(ccr_breaker_status_t *out)
{
	if(breaker == NULL) {
		memset(out, 0, sizeof(*out));
		return;
	}
	lock_get(&breaker->lock);
	*out = breaker->s;
	lock_release(&breaker->lock);
}
