/*
 * commit_deadline.h: a reservation is never committed after the proxy has given up on it.
 */
#ifndef CCROUTE_COMMIT_DEADLINE_H
#define CCROUTE_COMMIT_DEADLINE_H

#include "postgres.h"

#include "datatype/timestamp.h"

extern void ccroute_define_commit_deadline(void);

/* The current transaction reserved an agent for a caller who waits until `deadline`. */
extern void ccroute_arm_commit_deadline(TimestampTz deadline);

#endif
