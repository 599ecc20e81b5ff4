/*
 * ccroute_route.c: the INVITE path, proxy side, top to bottom: take the call's facts from the
 * request, ask the extension for a decision within the deadline, apply it to the request.
 */
#include <string.h>

#include "core/dprint.h"
#include "core/dset.h"
#include "core/parser/parse_from.h"
#include "core/parser/parse_uri.h"

#include "ccroute_route.h"

ccr_decision_t ccr_last;

/* Copies a header value into a C string for libpq. Values too long for the buffer, or holding
 * a NUL byte, are refused here: libpq would cut them short without telling. */
int ccr_to_cstr(char *dst, size_t size, const str *src)
{
	if(src->s == NULL || src->len <= 0 || (size_t)src->len >= size
			|| memchr(src->s, '\0', src->len) != NULL)
		return -1;
	memcpy(dst, src->s, src->len);
	dst[src->len] = '\0';
	return 0;
}

static int decide_locally(const char *action, int status, const char *reason)
{
	snprintf(ccr_last.action, sizeof(ccr_last.action), "%s", action);
	ccr_last.target[0] = '\0';
	ccr_last.sip_status = status;
	snprintf(ccr_last.reason, sizeof(ccr_last.reason), "%s", reason);
	return status == 503 ? CCR_RC_UNAVAILABLE : CCR_RC_REJECT;
}

static int send_to(struct sip_msg *msg, const char *uri)
{
	str s;

	s.s = (char *)uri;
	s.len = strlen(uri);
	if(rewrite_uri(msg, &s) < 0) {
		LM_ERR("cannot set the request URI to the decided target\n");
		return -1;
	}
	return 0;
}

int ccr_route(struct sip_msg *msg, str *fallback_uri)
{
	char call_id[CCR_FIELD_MAX], caller[CCR_FIELD_MAX], dialed[CCR_FIELD_MAX];
	struct sip_uri *from;

	memset(&ccr_last, 0, sizeof(ccr_last));

	/* The call's facts. */
	if(parse_sip_msg_uri(msg) < 0 || ccr_to_cstr(dialed, sizeof(dialed), &msg->parsed_uri.user) < 0)
		return decide_locally("reject", 404, "Malformed Dialed Number");
	if(parse_headers(msg, HDR_CALLID_F, 0) < 0 || msg->callid == NULL
			|| ccr_to_cstr(call_id, sizeof(call_id), &msg->callid->body) < 0)
		return decide_locally("reject", 400, "Bad Call-ID");
	from = parse_from_uri(msg);
	if(from == NULL || ccr_to_cstr(caller, sizeof(caller), &from->user) < 0)
		strcpy(caller, "anonymous");

	/* One round trip. */
	if(ccr_db_route(call_id, caller, dialed, &ccr_last) < 0) {
		if(fallback_uri->len > 0 && send_to(msg, fallback_uri->s) == 0) {
			decide_locally("fallback", 0, "");
			snprintf(ccr_last.target, sizeof(ccr_last.target), "%.*s", fallback_uri->len,
					fallback_uri->s);
			return CCR_RC_FALLBACK;
		}
		return decide_locally("unavailable", 503, "Routing Unavailable");
	}

	/* The decision. */
	if(strcmp(ccr_last.action, "reject") == 0) {
		if(ccr_last.sip_status < 400 || ccr_last.sip_status > 699)
			ccr_last.sip_status = 480;
		return CCR_RC_REJECT;
	}
	if(ccr_last.target[0] == '\0' || send_to(msg, ccr_last.target) < 0) {
		LM_ERR("decision '%s' has no usable target\n", ccr_last.action);
		return decide_locally("unavailable", 503, "Routing Unavailable");
	}
	return CCR_RC_ROUTED;
}
