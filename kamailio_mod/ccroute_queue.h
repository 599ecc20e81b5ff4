/*
 * ccroute_queue.h: what the database must still be told, in shared memory.
 *
 * Call events (ringing, answers, ends: every one, not only those of an outage) and withdrawals
 * of decisions the proxy stopped waiting for wait here; the module's event process sends them,
 * oldest first, many at a time, as soon as the database answers. SIP workers never wait for
 * them, and the database commits once per batch instead of once per event. Without the queue,
 * an end lost in an outage would leave its agent on the call, and a decision that committed
 * just as the proxy gave up would leave its agent reserved for a call that went to the fallback.
 */
#ifndef CCROUTE_QUEUE_H
#define CCROUTE_QUEUE_H

#include "ccroute_db.h"

enum { CCR_PENDING_EVENT, CCR_PENDING_WITHDRAW };

typedef struct ccr_pending
{
	int kind;
	char a[CCR_FIELD_MAX];	/* the tenant id, or the Call-ID */
	char b[CCR_FIELD_MAX];	/* the call's number in its tenant, or the dialed number */
	char event[16];
	long long at_us;		/* when it happened: wall clock, microseconds since 1970 */
	unsigned int seq;		/* set by the queue */
} ccr_pending_t;

int ccr_queue_init(int capacity);
void ccr_queue_destroy(void);

/* Appends, stamped with the current time; when the queue is full the oldest entry is dropped
 * (and counted). */
void ccr_queue_push(int kind, const char *a, const char *b, const char *event);

/* Copies out the oldest entries: up to max events in a row, or one withdrawal. Returns how
 * many (0 when empty). Only the process holding the sending lock consumes. */
int ccr_queue_peek(ccr_pending_t *out, int max);

/* Removes the oldest entries up to and including the one numbered seq (those peek gave),
 * except any dropped meanwhile. */
void ccr_queue_pop_through(unsigned int seq);

/* Taken by the process that sends entries (the event process, or the probe draining the
 * queue), so that no entry is sent by two at once. */
void ccr_queue_lock_sending(void);
void ccr_queue_unlock_sending(void);

int ccr_queue_length(void);

#endif
