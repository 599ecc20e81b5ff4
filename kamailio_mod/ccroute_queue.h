/*
 * ccroute_queue.h: what the database must still be told, in shared memory.
 *
 * Call events it could not take (it was away, frozen, or the breaker open), and withdrawals of
 * decisions the proxy stopped waiting for, wait here; the module's background process sends
 * them, oldest first, as soon as the database answers. Without them, an end lost in an outage
 * would leave its agent on the call, and a decision that committed just as the proxy gave up
 * would leave its agent reserved for a call that went to the fallback.
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
	unsigned int seq;		/* set by the queue */
} ccr_pending_t;

int ccr_queue_init(int capacity);
void ccr_queue_destroy(void);

/* Appends; when the queue is full the oldest entry is dropped (and counted). */
void ccr_queue_push(int kind, const char *a, const char *b, const char *event);

/* The oldest entry, copied out: 1, or 0 when empty. Only the background process consumes. */
int ccr_queue_peek(ccr_pending_t *out);

/* Removes the entry peek gave, unless it was dropped meanwhile. */
void ccr_queue_pop(unsigned int seq);

int ccr_queue_length(void);

#endif
