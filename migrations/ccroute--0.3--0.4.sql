-- ccroute 0.4: a faster router. It keeps numbers, tenants (limits, time zone, holidays, SIP
-- domain), skills and agents' skills in each backend, instead of reading them at every call; the
-- tables they come from now tell every backend when they change. A live call no longer takes a
-- share lock on its tenant's and its agent's rows (the foreign keys did, at every call).

------------------------------------------------------------------------------------------------
-- The router's cache learns of changes through the relation cache's invalidation messages,
-- which reach every backend when the changing transaction commits.

CREATE FUNCTION ccroute.config_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'ccroute_config_changed'
LANGUAGE C;

DO $triggers$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant', 'sip_domain', 'skill', 'did', 'did_directory',
                             'did_requirement', 'schedule', 'schedule_slot', 'holiday', 'agent_skill']
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ccroute.%I '
            'FOR EACH STATEMENT EXECUTE FUNCTION ccroute.config_changed()', t);
    END LOOP;
END
$triggers$;

-- Sequential scans off: the router's plans are generic and kept for the connection's life, and
-- a plan made while live_call was nearly empty scanned all of it at every call once it was not
-- (measured: two thirds of the router's time). Every query of the router is a key lookup.
CREATE OR REPLACE FUNCTION ccroute.route_call(
    call_id text, caller text, dialed text,
    facts jsonb DEFAULT '{}', deadline timestamptz DEFAULT NULL,
    OUT action text, OUT target text, OUT sip_status integer, OUT reason text,
    OUT tenant_id bigint, OUT call_seq bigint, OUT agent_id bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'ccroute_route_call_v4'
LANGUAGE C CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
SET enable_seqscan = off;

------------------------------------------------------------------------------------------------
-- Live calls without foreign keys. Tenants are never deleted (they are cancelled), and the
-- router only records agents it has just reserved; what the key to agents still did, refusing
-- to delete an agent while a call holds it, a trigger does, without a lock at every call.

ALTER TABLE ccroute.live_call DROP CONSTRAINT live_call_tenant_id_fkey;
ALTER TABLE ccroute.live_call DROP CONSTRAINT live_call_tenant_id_agent_id_fkey;

CREATE FUNCTION ccroute.agent_not_on_a_call() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
BEGIN
    -- The row was visible to whoever deletes it: its tenant is theirs.
    PERFORM set_config('ccroute.tenant_context', OLD.tenant_id::text, true);
    IF EXISTS (SELECT FROM ccroute.live_call l
                WHERE l.tenant_id = OLD.tenant_id AND l.agent_id = OLD.agent_id) THEN
        RAISE EXCEPTION 'agent "%" is on a call', OLD.extension
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Remove the agent once the call has ended.';
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER not_on_a_call BEFORE DELETE ON ccroute.agent
    FOR EACH ROW EXECUTE FUNCTION ccroute.agent_not_on_a_call();

REVOKE ALL ON FUNCTION ccroute.config_changed(), ccroute.agent_not_on_a_call() FROM PUBLIC;
ALTER FUNCTION ccroute.config_changed() OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.agent_not_on_a_call() OWNER TO ccroute_owner;
