/*
 * ccroute_breaker.h: the circuit breaker all SIP workers share, in shared memory.
 *
 * After `failures` database failures in a row (across workers), the breaker opens: workers stop
 * asking the database and send calls to the fallback at once, instead of each waiting out its
 * deadline. A separate process probes the database meanwhile and closes the breaker when it
 * answers; workers then reconnect without waiting out their backoff.
 */
#ifndef CCROUTE_BREAKER_H
#define CCROUTE_BREAKER_H

typedef struct ccr_breaker_status
{
	int open;				 /* 1 while workers do not ask the database */
	int failures;			 /* failures in a row */
	unsigned int opened;	 /* how many times it opened */
	unsigned int probes;	 /* probes made while open */
	long long changed_ms;	 /* monotonic time of the last opening or closing */
	int connected_workers;	 /* workers holding a connection now */
} ccr_breaker_status_t;

/* In mod_init: shared memory and settings. */
int ccr_breaker_init(int failures);
void ccr_breaker_destroy(void);

/* Whether a worker may ask the database now. */
int ccr_breaker_allows(void);
void ccr_breaker_success(void);
void ccr_breaker_failure(void);

/* Changes each time the breaker closes: a worker that sees it change retries at once. */
unsigned int ccr_breaker_generation(void);

/* Workers report holding (+1) or dropping (-1) a connection. */
void ccr_breaker_connected(int delta);

/* The background process's step: while open, one bounded attempt to reach the database. */
void ccr_breaker_probe(unsigned int ticks, void *param);

void ccr_breaker_get_status(ccr_breaker_status_t *out);

long long ccr_now_ms(void);

#endif
