/*
 * ccroute_route.c: the INVITE path, proxy side, top to bottom: take the call's facts from the
 * request, ask the extension for a decision within the deadline, apply it to the request.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "core/dprint.h"
#include "core/dset.h"
#include "core/parser/parse_from.h"
#include "core/parser/parse_uri.h"
#include "core/trim.h"

#include "ccroute_batch.h"
#include "ccroute_route.h"

ccr_decision_t ccr_last;

typedef struct ccr_fact
{
	char name[33];		/* the JSON key: lower-case letters, digits, underscores */
	char header[65];	/* the SIP header it comes from */
} ccr_fact_t;

static ccr_fact_t facts[CCR_MAX_FACTS];
static int nfacts;

/* "name=Header-Name", checked at start-up: the name goes into SQL text (as a literal, in the
 * prepared statement), so it may hold nothing but [a-z0-9_]. */
int ccr_fact_add(const char *spec)
{
	const char *eq = strchr(spec, '=');
	size_t nlen = eq ? (size_t)(eq - spec) : 0;
	size_t hlen = eq ? strlen(eq + 1) : 0;
	size_t i;

	if(nfacts == CCR_MAX_FACTS || nlen == 0 || nlen >= sizeof(facts[0].name) || hlen == 0
			|| hlen >= sizeof(facts[0].header)) {
		LM_ERR("fact_header '%s': expected name=Header-Name (at most %d of them)\n", spec,
				CCR_MAX_FACTS);
		return -1;
	}
	for(i = 0; i < nlen; i++)
		if(!(islower((unsigned char)spec[i]) || isdigit((unsigned char)spec[i]) || spec[i] == '_')) {
			LM_ERR("fact_header '%s': a fact's name is lower-case letters, digits and _\n", spec);
			return -1;
		}
	for(i = 0; i < hlen; i++)
		if(!(isalnum((unsigned char)eq[1 + i]) || eq[1 + i] == '-' || eq[1 + i] == '_')) {
			LM_ERR("fact_header '%s': not a header name\n", spec);
			return -1;
		}
	memcpy(facts[nfacts].name, spec, nlen);
	memcpy(facts[nfacts].header, eq + 1, hlen);
	nfacts++;
	return 0;
}

int ccr_fact_count(void)
{
	return nfacts;
}

const char *ccr_fact_name(int i)
{
	return facts[i].name;
}

/* The first value of each fact's header; NULL where absent, empty, or unusable (too long,
 * holding NUL): a fact is a hint, and a call is routed without it. */
static void read_facts(struct sip_msg *msg, char values[][CCR_FIELD_MAX], const char **out)
{
	struct hdr_field *hf;
	int i;

	for(i = 0; i < nfacts; i++)
		out[i] = NULL;
	if(nfacts == 0 || parse_headers(msg, HDR_EOH_F, 0) < 0)
		return;
	for(i = 0; i < nfacts; i++) {
		size_t len = strlen(facts[i].header);

		for(hf = msg->headers; hf; hf = hf->next) {
			str body;

			if(hf->name.len != (int)len || strncasecmp(hf->name.s, facts[i].header, len) != 0)
				continue;
			body = hf->body;
			trim(&body);
			if(body.len == 0)
				break;
			if(ccr_to_cstr(values[i], CCR_FIELD_MAX, &body) == 0)
				out[i] = values[i];
			else
				LM_WARN("header %s left out of the call facts: too long or not text\n",
						facts[i].header);
			break;
		}
	}
}

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
	char fact_values[CCR_MAX_FACTS][CCR_FIELD_MAX];
	const char *fact_params[CCR_MAX_FACTS];
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
	read_facts(msg, fact_values, fact_params);

	/* One round trip: a router's, for a batch of calls, or (routers = 0) this worker's own. */
	if(ccr_batch_route(call_id, caller, dialed, fact_params, &ccr_last) < 0) {
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
