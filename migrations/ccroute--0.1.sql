-- ccroute 0.1: the walking skeleton. A dialed number (DID) belongs to a tenant and names where
-- its calls go; route_call() resolves it and records the call, in one round trip.
\echo Use "CREATE EXTENSION ccroute" to load this file. \quit

CREATE TABLE ccroute.tenant (
    tenant_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE
                CHECK (name OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_-]{0,62}$'),
    status      text NOT NULL DEFAULT 'active'
                CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['active', 'cancelled'])),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Global lookup DID -> tenant: a number is unique across the installation.
CREATE TABLE ccroute.did (
    did         text PRIMARY KEY
                CHECK (did OPERATOR(pg_catalog.~) '^\+[1-9][0-9]{1,14}$'),
    tenant_id   bigint NOT NULL REFERENCES ccroute.tenant (tenant_id),
    destination text NOT NULL
                CHECK (destination OPERATOR(pg_catalog.~) '^sips?:[A-Za-z0-9.!~*''()&=+$,;?/_%-]+@[A-Za-z0-9.:\[\]-]+(;[A-Za-z0-9=._-]+)*$'
                       AND pg_catalog.length(destination) OPERATOR(pg_catalog.<=) 255)
);
CREATE INDEX did_tenant ON ccroute.did (tenant_id);

CREATE TABLE ccroute.call (
    tenant_id   bigint NOT NULL REFERENCES ccroute.tenant (tenant_id),
    call_seq    bigint GENERATED ALWAYS AS IDENTITY,
    call_id     text NOT NULL,
    caller      text NOT NULL,
    dialed      text NOT NULL,
    action      text NOT NULL,
    target      text,
    sip_status  integer,
    arrived_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (tenant_id, call_seq)
);

-- The router. Bad input from the network (a malformed dialed number, an oversized Call-ID) is a
-- decision, a SIP reject with a reason, never an error: the proxy must always have an answer.
CREATE FUNCTION ccroute.route_call(
    call_id text, caller text, dialed text,
    OUT action text, OUT target text, OUT sip_status integer, OUT reason text)
RETURNS record
AS 'MODULE_PATHNAME', 'ccroute_route_call'
LANGUAGE C STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION ccroute.route_call(text, text, text) FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA ccroute FROM PUBLIC;
