/*
 * totp.c: time-based one-time codes (RFC 6238) for people's second factor, from liboath
 * (oath-toolkit). The secret never leaves the database except once, base32-encoded, when a
 * person enrolls an authenticator app.
 */
#include "postgres.h"

#include <liboath/oath.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(ccroute_totp_code);
PG_FUNCTION_INFO_V1(ccroute_totp_match);
PG_FUNCTION_INFO_V1(ccroute_base32);

static void
ensure_oath(void)
{
	static bool ready = false;

	if (!ready)
	{
		if (oath_init() != OATH_OK)
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not initialize liboath")));
		ready = true;
	}
}

static int
algorithm_flags(text *algorithm)
{
	char	   *name = text_to_cstring(algorithm);

	if (strcmp(name, "sha1") == 0)
		return 0;
	if (strcmp(name, "sha256") == 0)
		return OATH_TOTP_HMAC_SHA256;
	if (strcmp(name, "sha512") == 0)
		return OATH_TOTP_HMAC_SHA512;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("a one-time code's algorithm is sha1, sha256 or sha512")));
	return 0;
}

static void
check_shape(int digits, int step)
{
	if (digits < 6 || digits > 8)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("a one-time code has 6 to 8 digits")));
	if (step < 10 || step > 300)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a one-time code's time step is 10 to 300 seconds")));
}

/* totp_code(secret, at, digits, step_seconds, algorithm): the code valid at that time. */
Datum
ccroute_totp_code(PG_FUNCTION_ARGS)
{
	bytea	   *secret = PG_GETARG_BYTEA_PP(0);
	time_t		at = timestamptz_to_time_t(PG_GETARG_TIMESTAMPTZ(1));
	int			digits = PG_GETARG_INT32(2);
	int			step = PG_GETARG_INT32(3);
	int			flags = algorithm_flags(PG_GETARG_TEXT_PP(4));
	char		code[16];
	int			rc;

	check_shape(digits, step);
	ensure_oath();
	rc = oath_totp_generate2(VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), at, step, 0, digits,
							 flags, code);
	if (rc != OATH_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute a one-time code: %s", oath_strerror(rc))));
	PG_RETURN_TEXT_P(cstring_to_text(code));
}

/* Codes are compared in constant time, so the time an answer takes tells nothing of a guess. */
static int
same_code(void *handle, const char *candidate)
{
	const char *given = handle;
	unsigned char diff = 0;
	size_t		n = strlen(candidate);

	if (strlen(given) != n)
		return 1;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char) (given[i] ^ candidate[i]);
	return diff != 0;
}

/*
 * totp_match(secret, code, at, window, digits, step_seconds, algorithm): the time-step counter of
 * the code when it is valid within `window` steps of `at`, else NULL. The caller keeps the
 * counter it last accepted and refuses one not above it, so a code is never used twice.
 */
Datum
ccroute_totp_match(PG_FUNCTION_ARGS)
{
	bytea	   *secret = PG_GETARG_BYTEA_PP(0);
	char	   *code = text_to_cstring(PG_GETARG_TEXT_PP(1));
	time_t		at = timestamptz_to_time_t(PG_GETARG_TIMESTAMPTZ(2));
	int			window = PG_GETARG_INT32(3);
	int			digits = PG_GETARG_INT32(4);
	int			step = PG_GETARG_INT32(5);
	int			flags = algorithm_flags(PG_GETARG_TEXT_PP(6));
	int			position;
	uint64_t	counter;
	int			rc;

	check_shape(digits, step);
	if (window < 0 || window > 10)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a one-time code's window is 0 to 10 steps")));
	if (strlen(code) != (size_t) digits || strspn(code, "0123456789") != (size_t) digits)
		PG_RETURN_NULL();
	ensure_oath();
	rc = oath_totp_validate4_callback(VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), at, step, 0,
									  digits, window, &position, &counter, flags, same_code, code);
	if (rc < 0)
	{
		if (rc == OATH_INVALID_OTP)
			PG_RETURN_NULL();
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not check a one-time code: %s", oath_strerror(rc))));
	}
	PG_RETURN_INT64((int64) counter);
}

/* base32(bytes): RFC 4648 base32, as authenticator apps take a secret. */
Datum
ccroute_base32(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	char	   *out = NULL;
	size_t		len = 0;
	text	   *result;
	int			rc;

	ensure_oath();
	rc = oath_base32_encode(VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data), &out, &len);
	if (rc != OATH_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not encode base32: %s", oath_strerror(rc))));
	result = cstring_to_text_with_len(out, len);
	free(out);
	PG_RETURN_TEXT_P(result);
}
