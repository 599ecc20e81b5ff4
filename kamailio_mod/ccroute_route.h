/*
 * ccroute_route.h: the INVITE path on the proxy side.
 */
#ifndef CCROUTE_ROUTE_H
#define CCROUTE_ROUTE_H

#include "core/parser/msg_parser.h"
#include "core/str.h"

#include "ccroute_db.h"

/* Return codes of ccroute_route(), as the config script sees them. */
#define CCR_RC_ROUTED 1		 /* request URI set to the decided agent or destination */
#define CCR_RC_FALLBACK 2	 /* database unavailable; request URI set to fallback_uri */
#define CCR_RC_REJECT -1	 /* decided reject: reply $ccroute(status) $ccroute(reason) */
#define CCR_RC_UNAVAILABLE -2 /* database unavailable and no fallback: reply 503 */

/* The decision for the request being handled; a worker handles one request at a time. */
extern ccr_decision_t ccr_last;

int ccr_route(struct sip_msg *msg, str *fallback_uri);

/* Call facts: values of request headers passed to the router as a JSON object, configured with
 * modparam("ccroute", "fact_header", "name=Header-Name"); at most CCR_MAX_FACTS. */
#define CCR_MAX_FACTS 8
int ccr_fact_add(const char *spec);
int ccr_fact_count(void);
const char *ccr_fact_name(int i);

/* A value from SIP or the script as a C string for libpq: -1 if empty, too long, or holding NUL. */
int ccr_to_cstr(char *dst, size_t size, const str *src);

#endif
