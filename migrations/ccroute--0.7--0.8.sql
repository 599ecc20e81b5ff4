-- ccroute 0.8: INVITEs decided in batches. The proxy's router process gathers the INVITEs that
-- arrive while its previous batch is being decided and asks for all of them at once: one round
-- trip and one durable commit per batch instead of one per call.
\echo Use "ALTER EXTENSION ccroute UPDATE TO '0.8'" to load this file. \quit

-- Each element is one call, decided as route_call decides it, in the order given (a call sees
-- the calls before it: the same Call-ID twice gets one decision and one reservation). One row
-- per call, in the same order, numbered from 1. `deadline` is the earliest of the batch's
-- callers' deadlines: nobody is reserved, and nothing commits, after it. An error in any call
-- undoes the whole batch (the proxy then asks route_call for each call alone).
CREATE FUNCTION ccroute.route_calls(
    call_ids text[], callers text[], dialed text[],
    facts jsonb[] DEFAULT NULL, deadline timestamptz DEFAULT NULL)
RETURNS TABLE (action text, target text, sip_status integer, reason text,
               tenant_id bigint, call_seq bigint, agent_id bigint)
AS 'MODULE_PATHNAME', 'ccroute_route_calls'
LANGUAGE C CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
-- Every statement is a key lookup, whatever size live_call had when its plan was made.
SET enable_seqscan = off;

REVOKE ALL ON FUNCTION ccroute.route_calls(text[], text[], text[], jsonb[], timestamptz) FROM PUBLIC;
ALTER FUNCTION ccroute.route_calls(text[], text[], text[], jsonb[], timestamptz) OWNER TO ccroute_owner;
GRANT EXECUTE ON FUNCTION ccroute.route_calls(text[], text[], text[], jsonb[], timestamptz) TO ccroute_kamailio;
