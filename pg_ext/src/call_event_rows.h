/*
 * call_event_rows.h: what each call event does, row by row (see call_event_rows.c).
 */
#ifndef CCROUTE_CALL_EVENT_ROWS_H
#define CCROUTE_CALL_EVENT_ROWS_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "row_access.h"

/* The tables a batch of events reads and writes, opened once for the batch. */
extern void event_rows_begin(RowWork *w);
extern void event_rows_end(RowWork *w);

/* Each applies one event to the tenant's live call at the time the proxy saw it: 1, or 0
 * when it changed nothing (the call is gone, or already past that point). */
extern int64 ccroute_ring_call(RowWork *w, int64 tenant, int64 call_seq, TimestampTz at);
extern int64 ccroute_answer_call(RowWork *w, int64 tenant, int64 call_seq, TimestampTz at);
/* The end's SIP status, if it has one, is kept in the history. */
extern int64 ccroute_end_call(RowWork *w, int64 tenant, int64 call_seq, TimestampTz at,
							  bool has_status, int32 status);

#endif
