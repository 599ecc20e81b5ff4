/*
 * call_end.h: the end of one call, row by row (see call_end.c).
 */
#ifndef CCROUTE_CALL_END_H
#define CCROUTE_CALL_END_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* Ends the tenant's live call at the time the proxy saw its end, with the end's SIP status
 * (if any): 1, or 0 when it is no longer live. */
extern int64 ccroute_end_call(int64 tenant, int64 call_seq, TimestampTz at, bool has_status,
							  int32 status);

#endif
