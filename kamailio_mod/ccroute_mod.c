/*
 * ccroute_mod.c: the Kamailio module's face: parameters, config functions and their KEMI
 * twins, the $ccroute(...) pseudo-variable, and process start-up.
 */
#include <string.h>

#include "core/dprint.h"
#include "core/kemi.h"
#include "core/mod_fix.h"
#include "core/pvar.h"
#include "core/sr_module.h"
#include "core/timer_proc.h"

#include "ccroute_batch.h"
#include "ccroute_breaker.h"
#include "ccroute_db.h"
#include "ccroute_events.h"
#include "ccroute_queue.h"
#include "ccroute_route.h"
#include "ccroute_rpc.h"

MODULE_VERSION

static char *db_url = "host=127.0.0.1 dbname=ccroute user=kamailio";
static int timeout_ms = 100;
static str fallback_uri = STR_NULL;
static int breaker_failures = 5;
static int probe_interval_ms = 200;
static int queue_size = 16384;
static int event_interval_ms = 10;
static int routers = 1;
static int batch_wait_us = 1000;

static int mod_init(void);
static int child_init(int rank);
static void mod_destroy(void);
static int w_ccroute_route(struct sip_msg *msg, char *p1, char *p2);
static int w_ccroute_event(struct sip_msg *msg, char *tenant, char *call, char *event);
static int w_ccroute_credentials(struct sip_msg *msg, char *domain, char *user);
static int pv_parse_ccroute(pv_spec_t *sp, str *in);
static int add_fact_header(modparam_t type, void *val);
static int pv_get_ccroute(struct sip_msg *msg, pv_param_t *param, pv_value_t *res);

static cmd_export_t cmds[] = {
	{"ccroute_route", (cmd_function)w_ccroute_route, 0, 0, 0, REQUEST_ROUTE | FAILURE_ROUTE},
	{"ccroute_event", (cmd_function)w_ccroute_event, 3, fixup_spve_all, fixup_free_spve_all,
		ANY_ROUTE},
	{"ccroute_credentials", (cmd_function)w_ccroute_credentials, 2, fixup_spve_all,
		fixup_free_spve_all, REQUEST_ROUTE},
	{0, 0, 0, 0, 0, 0}
};

static param_export_t params[] = {
	{"db_url", PARAM_STRING, &db_url},
	{"timeout_ms", PARAM_INT, &timeout_ms},
	{"fallback_uri", PARAM_STR, &fallback_uri},
	{"breaker_failures", PARAM_INT, &breaker_failures},
	{"probe_interval_ms", PARAM_INT, &probe_interval_ms},
	{"queue_size", PARAM_INT, &queue_size},
	{"event_interval_ms", PARAM_INT, &event_interval_ms},
	{"routers", PARAM_INT, &routers},
	{"batch_wait_us", PARAM_INT, &batch_wait_us},
	{"fact_header", PARAM_STRING | PARAM_USE_FUNC, (void *)add_fact_header},
	{0, 0, 0}
};

static pv_export_t pvs[] = {
	{{"ccroute", sizeof("ccroute") - 1}, PVT_OTHER, pv_get_ccroute, 0, pv_parse_ccroute, 0, 0, 0},
	{{0, 0}, 0, 0, 0, 0, 0, 0, 0}
};

struct module_exports exports = {
	"ccroute",		 /* module name */
	DEFAULT_DLFLAGS, /* dlopen flags */
	cmds,			 /* config functions */
	params,			 /* module parameters */
	0,				 /* RPC commands */
	pvs,			 /* pseudo-variables */
	0,				 /* response handling function */
	mod_init,		 /* module initialization */
	child_init,		 /* per-process initialization */
	mod_destroy		 /* shutdown */
};

static int add_fact_header(modparam_t type, void *val)
{
	return ccr_fact_add((const char *)val);
}

static int mod_init(void)
{
	if(timeout_ms < 1 || timeout_ms > 10000) {
		LM_ERR("timeout_ms must be between 1 and 10000, not %d\n", timeout_ms);
		return -1;
	}
	if(breaker_failures < 0 || probe_interval_ms < 10 || probe_interval_ms > 60000
			|| queue_size < 16 || queue_size > 1000000 || event_interval_ms < 1
			|| event_interval_ms > 1000) {
		LM_ERR("breaker_failures must be 0 (no breaker) or more, probe_interval_ms between 10"
			   " and 60000, queue_size between 16 and 1000000, event_interval_ms between 1 and"
			   " 1000\n");
		return -1;
	}
	ccr_db_configure(db_url, timeout_ms);
	if(ccr_batch_configure(routers, batch_wait_us, timeout_ms) < 0)
		return -1;
	if(ccr_breaker_init(breaker_failures) < 0 || ccr_queue_init(queue_size) < 0 || ccr_rpc_init() < 0)
		return -1;
	/* The probe and the sending of queued events run in processes of their own: a worker never
	 * spends a call on them, and a probe waiting on a dead database does not hold back events.
	 * (The core counts basic timer processes alike, whichever their unit; a utimer's interval
	 * is in microseconds.) */
	if(register_basic_timers(2) < 0)
		return -1;
	return 0;
}

static int child_init(int rank)
{
	/* No connection in the main or init process: every child would inherit, and share, it.
	 * SIP workers connect here; the module's event and probe processes when they first need
	 * to. A failure to connect is not fatal: calls then go to the fallback until the database
	 * answers. */
	/* The routing slots, once the number of processes is known, before any fork. */
	if(rank == PROC_INIT)
		return ccr_batch_init();
	if(rank == PROC_MAIN && ccr_batch_start() < 0) {
		LM_ERR("cannot start the module's router processes\n");
		return -1;
	}
	if(rank == PROC_MAIN
			&& fork_basic_utimer(PROC_TIMER, "ccroute background", 1, ccr_breaker_probe, NULL,
					   probe_interval_ms * 1000)
					   < 0) {
		LM_ERR("cannot start the module's background process\n");
		return -1;
	}
	if(rank == PROC_MAIN
			&& fork_basic_utimer(PROC_TIMER, "ccroute events", 1, ccr_events_flush, NULL,
					   event_interval_ms * 1000)
					   < 0) {
		LM_ERR("cannot start the module's event process\n");
		return -1;
	}
	if(rank == PROC_INIT || rank == PROC_MAIN || rank == PROC_TCP_MAIN || rank < 0)
		return 0;
	ccr_db_child_init();
	return 0;
}

static void mod_destroy(void)
{
	ccr_db_close();
	ccr_breaker_destroy();
	ccr_queue_destroy();
	ccr_batch_destroy();
}

static int ki_ccroute_route(struct sip_msg *msg)
{
	int rc = ccr_route(msg, &fallback_uri);

	switch(rc) {
		case CCR_RC_ROUTED:
			counter_inc(ccr_cnt.routed);
			break;
		case CCR_RC_FALLBACK:
			counter_inc(ccr_cnt.fallback);
			break;
		case CCR_RC_REJECT:
			counter_inc(ccr_cnt.rejected);
			break;
		default:
			counter_inc(ccr_cnt.unavailable);
			break;
	}
	return rc;
}

static int w_ccroute_route(struct sip_msg *msg, char *p1, char *p2)
{
	return ki_ccroute_route(msg);
}

/* Reports an event of a routed call: 1 taken, -1 refused or database unavailable. Values are
 * checked here since they come from dialog variables a script may have left empty. */
static int ki_ccroute_event(struct sip_msg *msg, str *tenant, str *call, str *event)
{
	char t[24], c[24], e[16];

	if(ccr_to_cstr(t, sizeof(t), tenant) < 0 || ccr_to_cstr(c, sizeof(c), call) < 0
			|| ccr_to_cstr(e, sizeof(e), event) < 0 || strspn(t, "0123456789") != strlen(t)
			|| strspn(c, "0123456789") != strlen(c)) {
		LM_WARN("no call to report '%.*s' for\n", event->len, event->s);
		return -1;
	}
	return ccr_event_report(t, c, e) == 0 ? 1 : -1;
}

static int w_ccroute_event(struct sip_msg *msg, char *tenant, char *call, char *event)
{
	str t, c, e;

	if(fixup_get_svalue(msg, (gparam_t *)tenant, &t) < 0
			|| fixup_get_svalue(msg, (gparam_t *)call, &c) < 0
			|| fixup_get_svalue(msg, (gparam_t *)event, &e) < 0)
		return -1;
	return ki_ccroute_event(msg, &t, &c, &e);
}

/* The HA1 ccroute_credentials() found, for pv_www_authenticate(); cleared by every call. */
static char ccr_ha1[64];

/* 1: the phone's HA1 is in $ccroute(ha1); -1: no such phone (unknown domain or extension, or
 * no SIP password set); -2: database unavailable. */
static int ki_ccroute_credentials(struct sip_msg *msg, str *domain, str *user)
{
	char d[256], u[64];
	int rc;

	ccr_ha1[0] = '\0';
	if(ccr_to_cstr(d, sizeof(d), domain) < 0 || ccr_to_cstr(u, sizeof(u), user) < 0)
		return -1;
	rc = ccr_db_credentials(d, u, ccr_ha1, sizeof(ccr_ha1));
	return rc == 0 ? 1 : rc;
}

static int w_ccroute_credentials(struct sip_msg *msg, char *domain, char *user)
{
	str d, u;

	if(fixup_get_svalue(msg, (gparam_t *)domain, &d) < 0
			|| fixup_get_svalue(msg, (gparam_t *)user, &u) < 0)
		return -1;
	return ki_ccroute_credentials(msg, &d, &u);
}

/* $ccroute(action|target|status|reason|tenant|call|ha1): the decision for the current request
 * (and the credentials last read). */
enum {
	CCR_PV_ACTION,
	CCR_PV_TARGET,
	CCR_PV_STATUS,
	CCR_PV_REASON,
	CCR_PV_TENANT,
	CCR_PV_CALL,
	CCR_PV_HA1
};

static int pv_parse_ccroute(pv_spec_t *sp, str *in)
{
	static const char *names[] = {"action", "target", "status", "reason", "tenant", "call", "ha1"};
	int i;

	for(i = 0; i < 7; i++) {
		if(in->len == (int)strlen(names[i]) && strncmp(in->s, names[i], in->len) == 0) {
			sp->pvp.pvn.type = PV_NAME_INTSTR;
			sp->pvp.pvn.u.isname.type = 0;
			sp->pvp.pvn.u.isname.name.n = i;
			return 0;
		}
	}
	LM_ERR("unknown $ccroute(%.*s): use action, target, status, reason, tenant, call or ha1\n",
			in->len, in->s);
	return -1;
}

static int pv_get_ccroute(struct sip_msg *msg, pv_param_t *param, pv_value_t *res)
{
	const char *v;

	switch(param->pvn.u.isname.name.n) {
		case CCR_PV_STATUS:
			return pv_get_sintval(msg, param, res, ccr_last.sip_status);
		case CCR_PV_ACTION:
			v = ccr_last.action;
			break;
		case CCR_PV_TARGET:
			v = ccr_last.target;
			break;
		case CCR_PV_TENANT:
			v = ccr_last.tenant;
			break;
		case CCR_PV_CALL:
			v = ccr_last.call;
			break;
		case CCR_PV_HA1:
			v = ccr_ha1;
			break;
		default:
			v = ccr_last.reason;
			break;
	}
	if(v[0] == '\0')
		return pv_get_null(msg, param, res);
	return pv_get_strzval(msg, param, res, (char *)v);
}

/* KEMI: KSR.ccroute.route(), .event() and .credentials() for Lua, Python and other scripts. */
/* clang-format off */
static sr_kemi_t sr_kemi_ccroute_exports[] = {
	{ str_init("ccroute"), str_init("route"),
		SR_KEMIP_INT, ki_ccroute_route,
		{ SR_KEMIP_NONE, SR_KEMIP_NONE, SR_KEMIP_NONE,
			SR_KEMIP_NONE, SR_KEMIP_NONE, SR_KEMIP_NONE }
	},
	{ str_init("ccroute"), str_init("event"),
		SR_KEMIP_INT, ki_ccroute_event,
		{ SR_KEMIP_STR, SR_KEMIP_STR, SR_KEMIP_STR,
			SR_KEMIP_NONE, SR_KEMIP_NONE, SR_KEMIP_NONE }
	},
	{ str_init("ccroute"), str_init("credentials"),
		SR_KEMIP_INT, ki_ccroute_credentials,
		{ SR_KEMIP_STR, SR_KEMIP_STR, SR_KEMIP_NONE,
			SR_KEMIP_NONE, SR_KEMIP_NONE, SR_KEMIP_NONE }
	},
	{ {0, 0}, {0, 0}, 0, NULL, { 0, 0, 0, 0, 0, 0 } }
};
/* clang-format on */

int mod_register(char *path, int *dlflags, void *p1, void *p2)
{
	sr_kemi_modules_add(sr_kemi_ccroute_exports);
	return 0;
}
