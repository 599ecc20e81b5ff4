-- route_calls: INVITEs decided in a batch, one transaction, each as route_call decides it.
CREATE EXTENSION ccroute;
\set VERBOSITY terse
CREATE ROLE rb_dba IN ROLE ccroute_platform_dba;
CREATE ROLE rb_kamailio IN ROLE ccroute_kamailio;

-- Two tenants, one skill each; tenant one has two agents, tenant two one.
SET ROLE rb_dba;
SELECT ccroute.create_tenant('one', 'Asia/Tokyo', 'one.example.test') IS NOT NULL AS one,
       ccroute.create_tenant('two', 'Asia/Tokyo', 'two.example.test') IS NOT NULL AS two;
SELECT ccroute.create_person('one', 'supervisor', 'sup', 'Sup'),
       ccroute.create_person('two', 'supervisor', 'sup', 'Sup');
RESET ROLE;
INSERT INTO ccroute.skill (tenant_id, name)
SELECT tenant_id, 'sales' FROM ccroute.tenant WHERE name IN ('one', 'two');
INSERT INTO ccroute.agent (tenant_id, name, extension, contact_uri)
SELECT t.tenant_id, v.name, v.ext, v.uri FROM ccroute.tenant t,
  (VALUES ('one', 'Ann', '100', 'sip:ann@192.0.2.1'), ('one', 'Ben', '101', 'sip:ben@192.0.2.2'),
          ('two', 'Zoe', '100', 'sip:zoe@192.0.2.9')) AS v (tenant, name, ext, uri)
 WHERE t.name = v.tenant;
INSERT INTO ccroute.agent_skill (tenant_id, agent_id, skill_id, proficiency)
SELECT a.tenant_id, a.agent_id, s.skill_id, 5 FROM ccroute.agent a JOIN ccroute.skill s USING (tenant_id);
SET ROLE rb_dba;
SELECT ccroute.add_did('one', '+81300000001', 'sales'), ccroute.add_did('two', '+81300000002', 'sales'),
       ccroute.add_did('one', '+81300000003', NULL, 'sip:desk@192.0.2.50');
RESET ROLE;
SET SESSION AUTHORIZATION "one.sup";
SELECT ccroute.set_agent_state('100', 'ready'), ccroute.set_agent_state('101', 'ready');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "two.sup";
SELECT ccroute.set_agent_state('100', 'ready');
RESET SESSION AUTHORIZATION;

CREATE FUNCTION pg_temp.agent_name(p_tenant bigint, p_agent bigint) RETURNS text
LANGUAGE sql AS $$ SELECT name FROM ccroute.agent WHERE tenant_id = p_tenant AND agent_id = p_agent $$;

-- One batch, both tenants, in order: two calls of tenant one take its two agents, tenant two's
-- call its own agent (the same extension 100 in both tenants: two different phones), the same
-- Call-ID again gets the first decision and no second agent, a third call of tenant one finds
-- nobody free, a number with a destination goes there, an unknown number is refused, a call
-- with a missing part is refused; facts go with their calls.
SET ROLE rb_kamailio;
SELECT n, r.action, r.target, r.sip_status, r.reason, r.call_seq IS NOT NULL AS recorded
  FROM ccroute.route_calls(
         ARRAY['b1', 'b2', 'b3', 'b1', 'b4', 'b5', 'b6', NULL],
         ARRAY['+819011110001', '+819011110002', '+819011110003', '+819011110001', 'x', 'x', 'x', 'x'],
         ARRAY['+81300000001', '+81300000002', '+81300000001', '+81300000001', '+81300000001',
               '+81300000003', '+81399999999', '+81300000001'],
         ARRAY['{"lang": "ja"}', NULL, NULL, NULL, NULL, NULL, NULL, NULL]::jsonb[],
         clock_timestamp() + interval '10 s') WITH ORDINALITY AS r (action, target, sip_status, reason, tenant_id, call_seq, agent_id, n);
RESET ROLE;
SELECT t.name AS tenant, l.call_id, l.state, l.action, pg_temp.agent_name(l.tenant_id, l.agent_id) AS agent, l.facts
  FROM ccroute.live_call l JOIN ccroute.tenant t USING (tenant_id) ORDER BY l.call_id;
SELECT call_id, outcome FROM ccroute.call_history ORDER BY call_id;
SELECT t.name AS tenant, a.name, s.state FROM ccroute.agent_state s JOIN ccroute.agent a USING (tenant_id, agent_id)
  JOIN ccroute.tenant t USING (tenant_id) ORDER BY 1, 2;

-- The same decisions as one call at a time: route_call sees the batch's calls.
SET ROLE rb_kamailio;
SELECT action, target FROM ccroute.route_call('b2', '+819011110002', '+81300000002');

-- The batch's deadline passed: nobody is reserved, the calls are recorded as late.
RESET ROLE;
SELECT ccroute.call_event(tenant_id, call_seq, 'abandoned') FROM ccroute.live_call WHERE call_id = 'b2';
SET ROLE rb_kamailio;
SELECT action, sip_status, reason FROM ccroute.route_calls(ARRAY['late-1'], ARRAY['x'], ARRAY['+81300000002'],
         NULL, now() - interval '1 second');
RESET ROLE;
SELECT count(*) AS reserved_for_late FROM ccroute.live_call WHERE call_id = 'late-1';
SELECT outcome FROM ccroute.call_history WHERE call_id = 'late-1';

-- A reservation committing after the batch's deadline is undone with the whole batch.
SET ROLE rb_kamailio;
BEGIN;
SELECT action FROM ccroute.route_calls(ARRAY['late-2'], ARRAY['x'], ARRAY['+81300000002'], NULL,
         clock_timestamp() + interval '300 ms');
SELECT pg_sleep(0.4);
COMMIT;
RESET ROLE;
SELECT count(*) AS late_recorded FROM ccroute.call_log WHERE call_id = 'late-2';
SELECT s.state AS zoe FROM ccroute.agent_state s JOIN ccroute.agent a USING (tenant_id, agent_id) WHERE a.name = 'Zoe';

-- Bad batches are refused whole, and change nothing.
SET ROLE rb_kamailio;
SELECT count(*) FROM ccroute.route_calls(ARRAY['e1', 'e2'], ARRAY['x'], ARRAY['+81300000002', '+81300000002']);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM ccroute.route_calls(ARRAY[['e1'], ['e2']], ARRAY[['x'], ['x']], ARRAY[['+81300000002'], ['+81300000002']]);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM ccroute.route_calls(array_fill('e'::text, ARRAY[1001]), array_fill('x'::text, ARRAY[1001]),
         array_fill('+81300000002'::text, ARRAY[1001]));
\echo :LAST_ERROR_SQLSTATE
-- A call whose facts are too large is refused alone, the rest of the batch goes on.
SELECT action, sip_status, reason FROM ccroute.route_calls(ARRAY['e3', 'e4'], ARRAY['x', 'x'],
         ARRAY['+81300000003', '+81300000003'],
         ARRAY[jsonb_build_object('big', repeat('x', 5000)), '{}'::jsonb]);
-- An empty batch, and no batch, decide nothing.
SELECT count(*) FROM ccroute.route_calls('{}', '{}', '{}');
SELECT count(*) FROM ccroute.route_calls(NULL, NULL, NULL);
RESET ROLE;
SELECT count(*) AS e_calls FROM ccroute.call_log WHERE call_id LIKE 'e_' AND call_id <> 'e4';

-- Only the proxy's role may route.
CREATE ROLE rb_nobody;
SET ROLE rb_nobody;
SELECT count(*) FROM ccroute.route_calls(ARRAY['n1'], ARRAY['x'], ARRAY['+81300000001']);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS n_calls FROM ccroute.call_log WHERE call_id = 'n1';

DROP EXTENSION ccroute;
DROP SCHEMA ccroute;
DROP ROLE "one.sup", "two.sup", rb_dba, rb_kamailio, rb_nobody;
