/*
 * input_check.c: what a SIP header may contain before the router uses it (R14). Values are
 * passed as query parameters, so this is not about SQL injection: it keeps control characters,
 * quotes and oversized values out of stored history and out of anything that later prints it.
 */
#include "postgres.h"

#include <string.h>

#include "input_check.h"

#define CALL_ID_MAX 255
#define CALLER_MAX 64
#define E164_MAX_DIGITS 15

/* RFC 3261 "word" characters: what a Call-ID may be made of. */
static bool
is_word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		(c != '\0' && strchr("-.!%*_+`'~()<>:\\\"/[]?{}@", c) != NULL);
}

/* RFC 3261 user part: unreserved, escaped and user-unreserved characters. */
static bool
is_user_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		(c != '\0' && strchr("-_.!~*'()%&=+$,;?/", c) != NULL);
}

static bool
all_chars(const text *value, bool (*ok) (unsigned char))
{
	const char *p = VARDATA_ANY(value);
	int			len = VARSIZE_ANY_EXHDR(value);

	for (int i = 0; i < len; i++)
		if (!ok((unsigned char) p[i]))
			return false;
	return true;
}

const char *
ccroute_check_call_id(const text *value)
{
	int			len = VARSIZE_ANY_EXHDR(value);

	if (len == 0 || len > CALL_ID_MAX)
		return "Bad Call-ID Length";
	if (!all_chars(value, is_word_char))
		return "Bad Call-ID Character";
	return NULL;
}

const char *
ccroute_check_caller(const text *value)
{
	int			len = VARSIZE_ANY_EXHDR(value);

	if (len == 0 || len > CALLER_MAX)
		return "Bad Caller Length";
	if (!all_chars(value, is_user_char))
		return "Bad Caller Character";
	return NULL;
}

/* A dialed number is E.164 digits with an optional leading plus; anything else is no number. */
const char *
ccroute_check_dialed(const text *value)
{
	const char *p = VARDATA_ANY(value);
	int			len = VARSIZE_ANY_EXHDR(value);
	int			start = (len > 0 && p[0] == '+') ? 1 : 0;

	if (len - start < 1 || len - start > E164_MAX_DIGITS)
		return "Malformed Dialed Number";
	for (int i = start; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return "Malformed Dialed Number";
	return NULL;
}
