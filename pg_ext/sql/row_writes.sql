-- The router and a call's end write their rows one by one, without a statement (row_access.c),
-- with the table's check constraints, trigger conditions and partial indexes compiled once per
-- backend (row_exprs.c). Those writes must keep what a statement keeps, and see a change of
-- the table made after they were compiled.
CREATE EXTENSION ccroute;
\set VERBOSITY terse
CREATE ROLE rw_dba IN ROLE ccroute_platform_dba;
CREATE ROLE rw_kamailio IN ROLE ccroute_kamailio;
SET ROLE rw_dba;
SELECT ccroute.create_tenant('rw', 'UTC', 'rw.example.test') IS NOT NULL AS created;
RESET ROLE;
INSERT INTO ccroute.skill (tenant_id, name) SELECT tenant_id, 'main' FROM ccroute.tenant;
INSERT INTO ccroute.agent (tenant_id, name, extension, contact_uri)
SELECT tenant_id, n, e, 'sip:' || n || '@192.0.2.1' FROM ccroute.tenant,
       (VALUES ('ann', '101'), ('ben', '102')) AS v (n, e);
INSERT INTO ccroute.agent_skill (tenant_id, agent_id, skill_id)
SELECT a.tenant_id, a.agent_id, s.skill_id FROM ccroute.agent a JOIN ccroute.skill s USING (tenant_id);
-- Ann has been idle longer than Ben: she is offered the calls first.
INSERT INTO ccroute.agent_state (tenant_id, agent_id, state, idle_since)
SELECT tenant_id, agent_id, 'ready', now() - CASE name WHEN 'ann' THEN interval '2 hours' ELSE interval '1 hour' END
  FROM ccroute.agent;
SET ROLE rw_dba;
SELECT ccroute.add_did('rw', '+81355550001', 'main') IS NOT NULL AS added;
RESET ROLE;

CREATE FUNCTION pg_temp.route(p_call text) RETURNS text LANGUAGE sql AS $$
    SELECT r.action || coalesce(' ' || r.target, '') || coalesce(' ' || r.sip_status, '')
      FROM ccroute.route_call(p_call, '+819000000000', '+81355550001') r
$$;
-- (The end is sent as the superuser: the proxy's role may not read live_call to find the
-- call's number, which the proxy has from the decision.)
CREATE FUNCTION pg_temp.end_call(p_call text) RETURNS integer LANGUAGE sql AS $$
    SELECT ccroute.call_events(ARRAY[tenant_id], ARRAY[call_seq], '{ended}', ARRAY[now()], ARRAY[200])
      FROM ccroute.live_call WHERE call_id = p_call
$$;
CREATE VIEW pg_temp.agents AS
  SELECT a.name, s.state, s.reserved_until IS NOT NULL AS has_deadline
    FROM ccroute.agent a JOIN ccroute.agent_state s USING (tenant_id, agent_id) ORDER BY a.name;

-- Positive control: a call is offered to Ann and recorded; its end puts her back.
SET ROLE rw_kamailio;
SELECT pg_temp.route('rw-1');
RESET ROLE;
SELECT call_id, state, action, target, tried_agents = ARRAY[agent_id] AS tried FROM ccroute.live_call;
SELECT * FROM pg_temp.agents;
SELECT pg_temp.end_call('rw-1');
SELECT call_id, outcome, sip_status, wait_seconds >= 0 AS waited, talk_seconds FROM ccroute.call_history;
SELECT * FROM pg_temp.agents;

-- A check constraint added after the router's writes were compiled stops the next call's
-- record (23514), and the call changes nothing: no live call, Ann still ready.
ALTER TABLE ccroute.live_call ADD CONSTRAINT rw_test_no_forbidden CHECK (call_id NOT LIKE 'forbidden%');
SET ROLE rw_kamailio;
SELECT pg_temp.route('forbidden-2');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS live_calls FROM ccroute.live_call;
SELECT * FROM pg_temp.agents;
-- The same check lets other calls through; dropped, it stops nothing.
SET ROLE rw_kamailio;
SELECT pg_temp.route('rw-3');
RESET ROLE;
SELECT pg_temp.end_call('rw-3');
ALTER TABLE ccroute.live_call DROP CONSTRAINT rw_test_no_forbidden;
SET ROLE rw_kamailio;
SELECT pg_temp.route('forbidden-4');
RESET ROLE;
SELECT pg_temp.end_call('forbidden-4');

-- A check the end's agent update would break is refused too: Ann, idle for two hours and
-- reserved, may not become ready again keeping her place; the end then changes nothing.
SET ROLE rw_kamailio;
SELECT pg_temp.route('rw-5');
RESET ROLE;
ALTER TABLE ccroute.agent_state ADD CONSTRAINT rw_test_ready_needs_idle
  CHECK (state <> 'ready' OR idle_since > now() - interval '90 minutes');
SELECT pg_temp.end_call('rw-5');
\echo :LAST_ERROR_SQLSTATE
SELECT call_id, state FROM ccroute.live_call;
SELECT * FROM pg_temp.agents;
ALTER TABLE ccroute.agent_state DROP CONSTRAINT rw_test_ready_needs_idle;
SELECT pg_temp.end_call('rw-5');

-- A row trigger with a condition fires for the writes it matches, and only those: the
-- reservation matches it, the end does not.
CREATE TABLE public.rw_offers (agent text, state text);
GRANT INSERT ON public.rw_offers TO PUBLIC;
CREATE FUNCTION public.rw_log_offer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.rw_offers
    SELECT a.name, NEW.state FROM ccroute.agent a
     WHERE a.tenant_id = NEW.tenant_id AND a.agent_id = NEW.agent_id;
    RETURN NULL;
END $$;
CREATE TRIGGER rw_test_offer AFTER UPDATE ON ccroute.agent_state FOR EACH ROW
  WHEN (NEW.state = 'reserved') EXECUTE FUNCTION public.rw_log_offer();
SET ROLE rw_kamailio;
SELECT pg_temp.route('rw-6');
RESET ROLE;
SELECT pg_temp.end_call('rw-6');
SELECT * FROM public.rw_offers;
DROP TRIGGER rw_test_offer ON ccroute.agent_state;
SET ROLE rw_kamailio;
SELECT pg_temp.route('rw-7');
RESET ROLE;
SELECT pg_temp.end_call('rw-7');
SELECT count(*) AS offers_logged FROM public.rw_offers;

-- A read-only transaction (a standby's, or a primary set read-only) may not route or end a
-- call: refused with 25006, as a statement's write would be, and nothing changes.
SET ROLE rw_kamailio;
BEGIN READ ONLY;
SELECT pg_temp.route('read-only-8');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT pg_temp.route('rw-9');
RESET ROLE;
BEGIN READ ONLY;
SELECT pg_temp.end_call('rw-9');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT call_id, state FROM ccroute.live_call;
SELECT pg_temp.end_call('rw-9');

-- A batch of two tenants' events: each tenant's row triggers fire in that tenant's context.
-- Both agents were set not ready while their phones rang; the answers put them on the calls,
-- a presence change that the trigger writes to agent_state_history, held to the tenant's rows.
SET ROLE rw_dba;
SELECT ccroute.create_tenant('rw2', 'UTC', 'rw2.example.test') IS NOT NULL AS created;
RESET ROLE;
INSERT INTO ccroute.skill (tenant_id, name) SELECT tenant_id, 'main' FROM ccroute.tenant WHERE name = 'rw2';
INSERT INTO ccroute.agent (tenant_id, name, extension, contact_uri)
SELECT tenant_id, 'cat', '101', 'sip:cat@192.0.2.2' FROM ccroute.tenant WHERE name = 'rw2';
INSERT INTO ccroute.agent_skill (tenant_id, agent_id, skill_id)
SELECT a.tenant_id, a.agent_id, s.skill_id FROM ccroute.agent a JOIN ccroute.skill s USING (tenant_id)
 WHERE a.name = 'cat';
INSERT INTO ccroute.agent_state (tenant_id, agent_id, state, idle_since)
SELECT tenant_id, agent_id, 'ready', now() FROM ccroute.agent WHERE name = 'cat';
SET ROLE rw_dba;
SELECT ccroute.add_did('rw2', '+81355550002', 'main') IS NOT NULL AS added;
RESET ROLE;
SET ROLE rw_kamailio;
SELECT pg_temp.route('rw-10');
SELECT action, target FROM ccroute.route_call('rw2-1', '+819000000000', '+81355550002');
RESET ROLE;
UPDATE ccroute.agent_state SET state = 'not_ready', reason = 'break', reserved_until = NULL
 WHERE state = 'reserved';
SELECT t.name AS tenant, a.name AS agent, h.presence, h.reason
  FROM ccroute.agent_state_history h JOIN ccroute.tenant t USING (tenant_id)
  JOIN ccroute.agent a USING (tenant_id, agent_id)
 WHERE a.name IN ('ann', 'cat') ORDER BY t.name, h.changed_at;
SELECT ccroute.call_events(array_agg(tenant_id ORDER BY call_id), array_agg(call_seq ORDER BY call_id),
                           array_fill('answered'::text, ARRAY[count(*)::int]), array_fill(now(), ARRAY[count(*)::int]))
  FROM ccroute.live_call WHERE call_id IN ('rw-10', 'rw2-1');
SELECT t.name AS tenant, a.name AS agent, h.presence, h.reason
  FROM ccroute.agent_state_history h JOIN ccroute.tenant t USING (tenant_id)
  JOIN ccroute.agent a USING (tenant_id, agent_id)
 WHERE a.name IN ('ann', 'cat') ORDER BY t.name, h.changed_at;
SELECT a.name, s.state FROM ccroute.agent a JOIN ccroute.agent_state s USING (tenant_id, agent_id)
 WHERE a.name IN ('ann', 'cat') ORDER BY a.name;
SELECT ccroute.call_events(array_agg(tenant_id), array_agg(call_seq), array_fill('ended'::text, ARRAY[count(*)::int]),
                           array_fill(now(), ARRAY[count(*)::int]))
  FROM ccroute.live_call WHERE call_id IN ('rw-10', 'rw2-1');

-- The row-by-row writes fire row triggers, not statement triggers: the tables they write
-- have none (a statement trigger added to them would not fire for a routed call).
CREATE VIEW pg_temp.statement_triggers AS
SELECT c.relname, t.tgname FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'ccroute'::regnamespace
   AND (c.relname IN ('live_call', 'agent_state') OR c.relname LIKE 'call\_history%')
   AND NOT t.tgisinternal AND (t.tgtype & 1) = 0;
SELECT * FROM pg_temp.statement_triggers;
-- (The view sees one when there is one.)
CREATE TRIGGER rw_test_statement AFTER INSERT ON ccroute.live_call
  FOR EACH STATEMENT EXECUTE FUNCTION public.rw_log_offer();
SELECT * FROM pg_temp.statement_triggers;
DROP TRIGGER rw_test_statement ON ccroute.live_call;
DROP VIEW pg_temp.statement_triggers;

-- The history has every call that was offered, each once.
SELECT call_id, outcome, sip_status FROM ccroute.call_history ORDER BY call_seq;
SELECT * FROM pg_temp.agents;

DROP VIEW pg_temp.agents;
DROP FUNCTION pg_temp.route(text), pg_temp.end_call(text);
DROP TABLE public.rw_offers;
DROP FUNCTION public.rw_log_offer();
DROP EXTENSION ccroute;
DROP SCHEMA ccroute;
DROP ROLE rw_dba, rw_kamailio;
