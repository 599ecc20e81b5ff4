/*
 * password_hash.c: people's passwords, hashed with argon2id (libargon2) into PHC strings, and the
 * other secrets of signing in (salts, session tokens, TOTP seeds) drawn from the strong generator.
 *
 * Hashing is deliberately slow and memory-hungry, so the number of hashes computed at once in
 * the whole server is capped (ccroute.password_hash_slots): a storm of sign-ins waits for a slot
 * instead of taking every core from call routing. The slots are advisory locks, which every
 * backend sees without shared memory of our own, and which vanish with a backend that dies.
 */
#include "postgres.h"

#include <argon2.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "password_hash.h"

PG_FUNCTION_INFO_V1(ccroute_password_hash);
PG_FUNCTION_INFO_V1(ccroute_password_verify);
PG_FUNCTION_INFO_V1(ccroute_password_hash_is_current);
PG_FUNCTION_INFO_V1(ccroute_random_bytes);

#define SALT_BYTES 16
#define KEY_BYTES 32
/* Beyond any policy's maximum (1024 characters of up to 4 bytes): refused before hashing. */
#define MAX_PASSWORD_BYTES 4096
/* Advisory lock class of the hash slots ("ccpw"); the lock's database is 0: one cap per server. */
#define HASH_SLOT_CLASS 0x63637077

static int	hash_memory_kb = 19456;
static int	hash_iterations = 2;
static int	hash_lanes = 1;
static int	hash_slots = 2;
static int	hash_wait_ms = 2000;
static char *auth_clock = NULL;

void
ccroute_define_password_settings(void)
{
	DefineCustomIntVariable("ccroute.password_hash_memory", "Memory of one argon2id password hash.",
							"New and re-hashed passwords use it; stored hashes keep their own until "
							"their owner next signs in.",
							&hash_memory_kb, 19456, 1024, 1048576, PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("ccroute.password_hash_iterations", "Passes of one argon2id password hash.",
							NULL, &hash_iterations, 2, 1, 20, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ccroute.password_hash_lanes", "Lanes (parallelism) of one argon2id password hash.",
							NULL, &hash_lanes, 1, 1, 8, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ccroute.password_hash_slots", "Password hashes the server computes at once.",
							"A sign-in beyond waits for a slot, up to ccroute.password_hash_wait_ms.",
							&hash_slots, 2, 1, 64, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ccroute.password_hash_wait_ms", "How long a sign-in waits for a hash slot.",
							NULL, &hash_wait_ms, 2000, 0, 60000, PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	/* Superuser only: an application that could set it would revive expired tokens. */
	DefineCustomStringVariable("ccroute.auth_clock", "The time sign-in functions take as now (tests).",
							   "Empty: the statement's time.",
							   &auth_clock, "", PGC_SUSET, 0, NULL, NULL, NULL);
}

static void
slot_tag(LOCKTAG *tag, int slot)
{
	SET_LOCKTAG_ADVISORY(*tag, InvalidOid, HASH_SLOT_CLASS, (uint32) slot, 2);
}

/* Takes a free slot, waiting for one up to the deadline; returns its number. */
static int
take_slot(void)
{
	TimestampTz give_up = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), hash_wait_ms);
	int			first = MyProcPid % hash_slots;

	for (;;)
	{
		for (int i = 0; i < hash_slots; i++)
		{
			int			slot = (first + i) % hash_slots;
			LOCKTAG		tag;

			slot_tag(&tag, slot);
			if (LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL)
				return slot;
		}
		if (GetCurrentTimestamp() >= give_up)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("too many passwords are being checked at once"),
					 errdetail("All %d hash slots stayed busy for %d ms.", hash_slots, hash_wait_ms),
					 errhint("Try again; a DBA can raise ccroute.password_hash_slots.")));
		CHECK_FOR_INTERRUPTS();
		pg_usleep(2000L);
	}
}

static void
give_slot(int slot)
{
	LOCKTAG		tag;

	slot_tag(&tag, slot);
	LockRelease(&tag, ExclusiveLock, true);
}

static void
check_length(text *password)
{
	if (VARSIZE_ANY_EXHDR(password) > MAX_PASSWORD_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a password has at most %d bytes", MAX_PASSWORD_BYTES)));
}

/* password_hash(password): a PHC string with a fresh salt and the current parameters. */
Datum
ccroute_password_hash(PG_FUNCTION_ARGS)
{
	text	   *password = PG_GETARG_TEXT_PP(0);
	uint8		salt[SALT_BYTES];
	size_t		len;
	char	   *encoded;
	int			slot;
	int			rc;

	check_length(password);
	if (!pg_strong_random(salt, sizeof salt))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not generate a random salt")));
	len = argon2_encodedlen(hash_iterations, hash_memory_kb, hash_lanes, SALT_BYTES, KEY_BYTES, Argon2_id);
	encoded = palloc0(len);

	slot = take_slot();
	rc = argon2id_hash_encoded(hash_iterations, hash_memory_kb, hash_lanes,
							   VARDATA_ANY(password), VARSIZE_ANY_EXHDR(password),
							   salt, SALT_BYTES, KEY_BYTES, encoded, len);
	give_slot(slot);
	if (rc != ARGON2_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not hash a password: %s", argon2_error_message(rc))));
	PG_RETURN_TEXT_P(cstring_to_text(encoded));
}

/* The parameters of a stored argon2id PHC string, or false when it is not one. */
static bool
parse_phc(const char *encoded, unsigned *version, unsigned *memory, unsigned *iterations, unsigned *lanes)
{
	return sscanf(encoded, "$argon2id$v=%u$m=%u,t=%u,p=%u$", version, memory, iterations, lanes) == 4;
}

/*
 * password_verify(hash, password): whether the password is the hashed one; libargon2 compares in
 * constant time. A NULL hash (an unknown login, or one with no password yet) costs one hash
 * with the current parameters all the same and is false, so that the answer for a login that
 * does not exist takes as long as for a wrong password.
 */
Datum
ccroute_password_verify(PG_FUNCTION_ARGS)
{
	text	   *password;
	char	   *encoded = NULL;
	unsigned	version,
				memory,
				iterations,
				lanes;
	int			slot;
	int			rc;

	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	password = PG_GETARG_TEXT_PP(1);
	check_length(password);
	if (!PG_ARGISNULL(0))
	{
		encoded = text_to_cstring(PG_GETARG_TEXT_PP(0));
		/* A stored hash is the owner's, but its cost is still bounded before it is spent. */
		if (!parse_phc(encoded, &version, &memory, &iterations, &lanes)
			|| memory > 1048576 || iterations > 20 || lanes > 8)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("a stored password hash is not an argon2id hash ccroute accepts")));
	}

	slot = take_slot();
	if (encoded != NULL)
		rc = argon2id_verify(encoded, VARDATA_ANY(password), VARSIZE_ANY_EXHDR(password));
	else
	{
		static const uint8 zero_salt[SALT_BYTES];
		uint8		key[KEY_BYTES];

		rc = argon2id_hash_raw(hash_iterations, hash_memory_kb, hash_lanes,
							   VARDATA_ANY(password), VARSIZE_ANY_EXHDR(password),
							   zero_salt, SALT_BYTES, key, KEY_BYTES);
		if (rc == ARGON2_OK)
			rc = ARGON2_VERIFY_MISMATCH;
	}
	give_slot(slot);
	if (rc != ARGON2_OK && rc != ARGON2_VERIFY_MISMATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not verify a password: %s", argon2_error_message(rc))));
	PG_RETURN_BOOL(rc == ARGON2_OK);
}

/* password_hash_is_current(hash): whether the hash has today's parameters (else: re-hash it). */
Datum
ccroute_password_hash_is_current(PG_FUNCTION_ARGS)
{
	char	   *encoded = text_to_cstring(PG_GETARG_TEXT_PP(0));
	unsigned	version,
				memory,
				iterations,
				lanes;

	PG_RETURN_BOOL(parse_phc(encoded, &version, &memory, &iterations, &lanes)
				   && version == ARGON2_VERSION_NUMBER
				   && memory == (unsigned) hash_memory_kb
				   && iterations == (unsigned) hash_iterations
				   && lanes == (unsigned) hash_lanes);
}

/* random_bytes(n): n bytes from the operating system's strong generator (tokens, seeds). */
Datum
ccroute_random_bytes(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	bytea	   *result;

	if (n < 1 || n > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("random_bytes gives 1 to 1024 bytes")));
	result = palloc(VARHDRSZ + n);
	SET_VARSIZE(result, VARHDRSZ + n);
	if (!pg_strong_random(VARDATA(result), n))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not generate random bytes")));
	PG_RETURN_BYTEA_P(result);
}
