-- The demo tenant, set up the way its people would: a platform DBA creates it and gives it
-- numbers, its admin describes its skill and agents, its supervisor logs the agents in.
-- psql variables alice, bob, carol and reception hold the loopback ports of the demo's phones.
SET ROLE dba;
SELECT ccroute.create_tenant('demo', 'Asia/Tokyo', 'demo.ccroute.test');
SELECT ccroute.create_person('demo', 'tenant_admin', 'admin', 'Demo Admin');
SELECT ccroute.create_person('demo', 'supervisor', 'sup', 'Demo Supervisor');
SELECT ccroute.add_did('demo', '+81312345002', NULL, 'sip:reception@127.0.0.1:' || :'reception');
RESET ROLE;

SET SESSION AUTHORIZATION "demo.admin";
INSERT INTO ccroute.skill (name, strategy, overflow_destination)
VALUES ('support', 'longest_idle', 'sip:reception@127.0.0.1:' || :'reception');
-- Carol takes 30 seconds of wrap-up after each call; Alice and Bob take none.
INSERT INTO ccroute.agent (name, extension, contact_uri, wrapup_seconds) VALUES
  ('Alice', '101', 'sip:alice@127.0.0.1:' || :'alice', 0),
  ('Bob', '102', 'sip:bob@127.0.0.1:' || :'bob', 0),
  ('Carol', '103', 'sip:carol@127.0.0.1:' || :'carol', 30);
INSERT INTO ccroute.agent_skill (agent_id, skill_id, proficiency)
SELECT a.agent_id, s.skill_id, 5 FROM ccroute.agent a, ccroute.skill s;
RESET SESSION AUTHORIZATION;

SET ROLE dba;
SELECT ccroute.add_did('demo', '+81312345001', 'support');
RESET ROLE;

SET SESSION AUTHORIZATION "demo.sup";
-- Carol has waited longest, then Bob, then Alice.
SELECT ccroute.set_agent_state('103', 'ready');
SELECT pg_sleep(0.05);
SELECT ccroute.set_agent_state('102', 'ready');
SELECT pg_sleep(0.05);
SELECT ccroute.set_agent_state('101', 'ready');
RESET SESSION AUTHORIZATION;
