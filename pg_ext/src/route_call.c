/*
 * route_call.c: the per-INVITE routing decision, the one function Kamailio calls for each call.
 *
 * It reads top to bottom as the decision is made: check the input from the network, resolve the
 * dialed number to its tenant, refuse a cancelled tenant, record the call, return the decision.
 * Everything happens in the caller's single transaction, so one round trip decides and records.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "input_check.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(ccroute_route_call);

/* Plans are prepared once per backend and kept: the router runs thousands of times a second. */
static SPIPlanPtr did_plan = NULL;
static SPIPlanPtr record_plan = NULL;

typedef struct Decision
{
	const char *action;
	const char *target;
	int			sip_status;
	const char *reason;
} Decision;

static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "ccroute: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "ccroute: SPI_keepplan failed");
	return plan;
}

static void
prepare_plans(void)
{
	Oid			text1[1] = {TEXTOID};
	Oid			record_args[6] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};

	if (did_plan == NULL)
		did_plan = prepare_kept(
			"SELECT d.tenant_id, d.destination, t.status "
			"FROM ccroute.did d JOIN ccroute.tenant t ON t.tenant_id OPERATOR(pg_catalog.=) d.tenant_id "
			"WHERE d.did OPERATOR(pg_catalog.=) $1",
			1, text1);
	if (record_plan == NULL)
		record_plan = prepare_kept(
			"INSERT INTO ccroute.call (tenant_id, call_id, caller, dialed, action, target) "
			"VALUES ($1, $2, $3, $4, $5, $6)",
			6, record_args);
}

static Decision
reject(int status, const char *reason)
{
	Decision	d = {"reject", NULL, status, reason};

	return d;
}

static void
record_call(int64 tenant_id, text *call_id, text *caller, text *dialed, const Decision *d)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int			rc;

	values[0] = Int64GetDatum(tenant_id);
	values[1] = PointerGetDatum(call_id);
	values[2] = PointerGetDatum(caller);
	values[3] = PointerGetDatum(dialed);
	values[4] = CStringGetTextDatum(d->action);
	if (d->target)
		values[5] = CStringGetTextDatum(d->target);
	else
		nulls[5] = 'n';

	rc = SPI_execute_plan(record_plan, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "ccroute: recording the call failed: %s", SPI_result_code_string(rc));
}

static Decision
decide(text *call_id, text *caller, text *dialed)
{
	Datum		arg[1];
	int			rc;
	bool		isnull;
	int64		tenant_id;
	char	   *destination;
	char	   *status;
	Decision	d;
	const char *problem;

	if ((problem = ccroute_check_call_id(call_id)) != NULL)
		return reject(400, problem);
	if ((problem = ccroute_check_caller(caller)) != NULL)
		return reject(400, problem);
	if ((problem = ccroute_check_dialed(dialed)) != NULL)
		return reject(404, problem);

	arg[0] = PointerGetDatum(dialed);
	rc = SPI_execute_plan(did_plan, arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "ccroute: looking up the dialed number failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return reject(404, "Number Not In Service");

	tenant_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	destination = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);

	if (strcmp(status, "active") != 0)
		d = reject(410, "Number No Longer In Service");
	else
	{
		d.action = "destination";
		d.target = destination;
		d.sip_status = 0;
		d.reason = NULL;
	}
	record_call(tenant_id, call_id, caller, dialed, &d);
	return d;
}

Datum
ccroute_route_call(PG_FUNCTION_ARGS)
{
	text	   *call_id = PG_GETARG_TEXT_PP(0);
	text	   *caller = PG_GETARG_TEXT_PP(1);
	text	   *dialed = PG_GETARG_TEXT_PP(2);
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	Decision	d;
	MemoryContext caller_ctx = CurrentMemoryContext;
	MemoryContext spi_ctx;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("route_call must be called in a context that accepts a record")));
	tupdesc = BlessTupleDesc(tupdesc);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "ccroute: SPI_connect failed");
	prepare_plans();
	d = decide(call_id, caller, dialed);

	/* SPI_finish frees SPI's memory: the result is copied into the caller's context first. */
	spi_ctx = MemoryContextSwitchTo(caller_ctx);
	values[0] = CStringGetTextDatum(d.action);
	if (d.target)
		values[1] = CStringGetTextDatum(d.target);
	else
		nulls[1] = true;
	if (d.sip_status)
		values[2] = Int32GetDatum(d.sip_status);
	else
		nulls[2] = true;
	if (d.reason)
		values[3] = CStringGetTextDatum(d.reason);
	else
		nulls[3] = true;
	MemoryContextSwitchTo(spi_ctx);
	SPI_finish();

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
