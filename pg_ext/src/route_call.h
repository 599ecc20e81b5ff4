/*
 * route_call.h: the router's settings.
 */
#ifndef CCROUTE_ROUTE_CALL_H
#define CCROUTE_ROUTE_CALL_H

/* ccroute.pstn_gateway: the host that reaches agents' landlines and mobiles. */
extern char *ccroute_pstn_gateway;

extern void ccroute_define_router_settings(void);

#endif
