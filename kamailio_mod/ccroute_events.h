/*
 * ccroute_events.h: reporting call events to the router.
 *
 * Ringing, answers and ends are queued (ccroute_queue.h) with the moment they happened and sent
 * by the module's event process, many calls' at a time, in one statement and one commit: SIP
 * workers never wait for them. A no answer, a busy or a rejection is sent at once by the
 * worker, since the next decision for the same call (the next agent) must see it.
 */
#ifndef CCROUTE_EVENTS_H
#define CCROUTE_EVENTS_H

/* At most this many events go in one statement. */
#define CCR_EVENT_BATCH 256

/* Reports an event (ringing, answered, no_answer, busy, rejected, ended, abandoned) of the
 * call route_call named: 0 taken (or queued), -1 not (refused, unknown event, or the database
 * unavailable for an event that cannot wait; it is then queued all the same). */
int ccr_event_report(const char *tenant, const char *call, const char *event);

/* The event process's step: sends what waits in the queue while the database answers. */
void ccr_events_flush(unsigned int ticks, void *param);

/* Sends everything that waits, ignoring the breaker, until done (0) or until (-1: the database
 * stopped answering, or time ran out with entries left). For the probe, before it closes the
 * breaker: the database hears of the calls that ended while it was away (and frees their
 * agents) before it is asked to route new ones. */
int ccr_events_drain(long long until);

#endif
