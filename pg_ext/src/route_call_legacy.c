/*
 * route_call_legacy.c: the routing decision of SQL versions 0.1 and 0.2 (a number's fixed
 * destination), kept so that a database not yet updated keeps routing after the library is.
 * Version 0.3 and later use route_call.c.
 *
 * It reads top to bottom as the decision is made: check the input from the network, resolve the
 * dialed number to its tenant, enter that tenant's context (from then on row-level security
 * shows this function that tenant's rows only), refuse a cancelled tenant, record the call,
 * return the decision. Everything happens in the caller's single transaction, so one round trip
 * decides and records.
 *
 * ccroute_route_call is the entry point of 0.1 (no directory, no context), ccroute_route_call_v2
 * the one of 0.2.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "input_check.h"
#include "tenant_context.h"

PG_FUNCTION_INFO_V1(ccroute_route_call);
PG_FUNCTION_INFO_V1(ccroute_route_call_v2);

/* The queries of one SQL version of the schema. Plans are prepared once per backend and kept:
 * the router runs thousands of times a second. */
typedef struct RouterPlans
{
	const char *directory_sql;	/* dialed number -> tenant; NULL: did_sql finds the tenant */
	const char *did_sql;
	SPIPlanPtr	directory;
	SPIPlanPtr	did;
	SPIPlanPtr	record;
} RouterPlans;

static RouterPlans plans_v1 = {
	NULL,
	"SELECT d.tenant_id, d.destination, t.status "
	"FROM ccroute.did d JOIN ccroute.tenant t ON t.tenant_id OPERATOR(pg_catalog.=) d.tenant_id "
	"WHERE d.did OPERATOR(pg_catalog.=) $1",
};

static RouterPlans plans_v2 = {
	"SELECT tenant_id FROM ccroute.did_directory WHERE did OPERATOR(pg_catalog.=) $1",
	"SELECT d.tenant_id, d.destination, t.status "
	"FROM ccroute.did d JOIN ccroute.tenant t ON t.tenant_id OPERATOR(pg_catalog.=) d.tenant_id "
	"WHERE d.tenant_id OPERATOR(pg_catalog.=) $2 AND d.did OPERATOR(pg_catalog.=) $1",
};

#define RECORD_SQL \
	"INSERT INTO ccroute.call (tenant_id, call_id, caller, dialed, action, target) " \
	"VALUES ($1, $2, $3, $4, $5, $6)"

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
prepare_plans(RouterPlans *p)
{
	Oid			did_args[2] = {TEXTOID, INT8OID};
	Oid			record_args[6] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};

	if (p->directory == NULL && p->directory_sql != NULL)
		p->directory = prepare_kept(p->directory_sql, 1, did_args);
	if (p->did == NULL)
		p->did = prepare_kept(p->did_sql, p->directory_sql ? 2 : 1, did_args);
	if (p->record == NULL)
		p->record = prepare_kept(RECORD_SQL, 6, record_args);
}

static Decision
reject(int status, const char *reason)
{
	Decision	d = {"reject", NULL, status, reason};

	return d;
}

static void
record_call(RouterPlans *p, int64 tenant_id, text *call_id, text *caller, text *dialed, const Decision *d)
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

	rc = SPI_execute_plan(p->record, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "ccroute: recording the call failed: %s", SPI_result_code_string(rc));
}

static Decision
decide(RouterPlans *p, text *call_id, text *caller, text *dialed)
{
	Datum		arg[2];
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
	if (p->directory)
	{
		rc = SPI_execute_plan(p->directory, arg, NULL, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "ccroute: looking up the dialed number failed: %s", SPI_result_code_string(rc));
		if (SPI_processed == 0)
			return reject(404, "Number Not In Service");
		tenant_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		ccroute_set_tenant_context(tenant_id);
		arg[1] = Int64GetDatum(tenant_id);
	}

	rc = SPI_execute_plan(p->did, arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "ccroute: looking up the dialed number failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return reject(404, "Number Not In Service");

	tenant_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	destination = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);

	if (strcmp(status, "active") != 0)
		d = reject(410, "Number No Longer In Service");
	else if (destination == NULL)
		d = reject(480, "No Agent Available");
	else
	{
		d.action = "destination";
		d.target = destination;
		d.sip_status = 0;
		d.reason = NULL;
	}
	record_call(p, tenant_id, call_id, caller, dialed, &d);
	return d;
}

static Datum
route_call(FunctionCallInfo fcinfo, RouterPlans *plans)
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
	prepare_plans(plans);
	d = decide(plans, call_id, caller, dialed);

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

Datum
ccroute_route_call(PG_FUNCTION_ARGS)
{
	return route_call(fcinfo, &plans_v1);
}

Datum
ccroute_route_call_v2(PG_FUNCTION_ARGS)
{
	return route_call(fcinfo, &plans_v2);
}
