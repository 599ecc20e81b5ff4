/*
 * ccroute_queue.c: the shared queue of what the database must still be told (see the header).
 */
#include <string.h>
#include <time.h>

#include "core/dprint.h"
#include "core/locking.h"
#include "core/mem/shm_mem.h"

#include "ccroute_queue.h"
#include "ccroute_rpc.h"

typedef struct ccr_queue
{
	gen_lock_t lock;
	gen_lock_t sending; /* held by the one process sending entries */
	int capacity;
	int first;
	int count;
	unsigned int next_seq;
	ccr_pending_t items[];
} ccr_queue_t;

static ccr_queue_t *queue;

int ccr_queue_init(int capacity)
{
	queue = shm_malloc(sizeof(*queue) + sizeof(ccr_pending_t) * capacity);
	if(queue == NULL) {
		SHM_MEM_ERROR;
		return -1;
	}
	memset(queue, 0, sizeof(*queue));
	queue->capacity = capacity;
	if(lock_init(&queue->lock) == NULL || lock_init(&queue->sending) == NULL) {
		shm_free(queue);
		queue = NULL;
		return -1;
	}
	return 0;
}

void ccr_queue_destroy(void)
{
	if(queue) {
		lock_destroy(&queue->lock);
		lock_destroy(&queue->sending);
		shm_free(queue);
		queue = NULL;
	}
}

void ccr_queue_push(int kind, const char *a, const char *b, const char *event)
{
	ccr_pending_t *p;
	int dropped = 0;

	struct timespec now;

	if(queue == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	lock_get(&queue->lock);
	if(queue->count == queue->capacity) {
		queue->first = (queue->first + 1) % queue->capacity;
		queue->count--;
		dropped = 1;
	}
	p = &queue->items[(queue->first + queue->count) % queue->capacity];
	p->kind = kind;
	snprintf(p->a, sizeof(p->a), "%s", a);
	snprintf(p->b, sizeof(p->b), "%s", b);
	snprintf(p->event, sizeof(p->event), "%s", event ? event : "");
	p->at_us = (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	p->seq = queue->next_seq++;
	queue->count++;
	lock_release(&queue->lock);
	if(dropped) {
		LM_ERR("too much waiting for the database: the oldest call event is dropped\n");
		counter_inc(ccr_cnt.events_dropped);
	}
}

int ccr_queue_peek(ccr_pending_t *out, int max)
{
	ccr_pending_t *p;
	int n = 0;

	if(queue == NULL)
		return 0;
	lock_get(&queue->lock);
	while(n < max && n < queue->count) {
		p = &queue->items[(queue->first + n) % queue->capacity];
		/* A withdrawal goes alone: it is a statement of its own. */
		if(n > 0 && p->kind != CCR_PENDING_EVENT)
			break;
		out[n++] = *p;
		if(p->kind != CCR_PENDING_EVENT)
			break;
	}
	lock_release(&queue->lock);
	return n;
}

void ccr_queue_pop_through(unsigned int seq)
{
	if(queue == NULL)
		return;
	lock_get(&queue->lock);
	/* Sequence numbers wrap: compare by difference. */
	while(queue->count > 0 && (int)(seq - queue->items[queue->first].seq) >= 0) {
		queue->first = (queue->first + 1) % queue->capacity;
		queue->count--;
	}
	lock_release(&queue->lock);
}

void ccr_queue_lock_sending(void)
{
	if(queue)
		lock_get(&queue->sending);
}

void ccr_queue_unlock_sending(void)
{
	if(queue)
		lock_release(&queue->sending);
}

int ccr_queue_length(void)
{
	return queue ? queue->count : 0;
}
