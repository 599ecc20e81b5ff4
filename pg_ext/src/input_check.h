/*
 * input_check.h: checks of values that arrive from the network (SIP headers) before they are
 * used. Each returns NULL when the value is acceptable, or a short reason fit for a SIP reply.
 */
#ifndef CCROUTE_INPUT_CHECK_H
#define CCROUTE_INPUT_CHECK_H

#include "postgres.h"

extern const char *ccroute_check_call_id(const text *value);
extern const char *ccroute_check_caller(const text *value);
extern const char *ccroute_check_dialed(const text *value);

#endif
