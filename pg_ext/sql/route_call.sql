-- route_call: the routing decision for one INVITE, and its record.
CREATE EXTENSION ccroute;
-- Errors show their message; the SQLSTATE that stopped each is echoed after it.
\set VERBOSITY terse

-- Every call, in progress or over, for this test's eyes.
CREATE TEMP VIEW calls AS
  SELECT tenant_id, call_seq, call_id, caller, dialed, action, target, NULL::text AS outcome
    FROM ccroute.live_call
  UNION ALL
  SELECT tenant_id, call_seq, call_id, caller, dialed, action, target, outcome
    FROM ccroute.call_history;
CREATE ROLE ccroute_test_dba IN ROLE ccroute_platform_dba;
CREATE ROLE ccroute_test_kamailio IN ROLE ccroute_kamailio;
SET ROLE ccroute_test_dba;
SELECT ccroute.create_tenant('acme'), ccroute.create_tenant('gone');
SELECT ccroute.add_did('acme', '+81312345678', NULL, 'sip:alice@192.0.2.10:5060');
-- A number needs a skill or a destination.
SELECT ccroute.add_did('acme', '+81312345670', NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
INSERT INTO ccroute.skill (tenant_id, name) SELECT tenant_id, 'sales' FROM ccroute.tenant WHERE name = 'acme';
SET ROLE ccroute_test_dba;
SELECT ccroute.add_did('acme', '+81312345670', 'sales', NULL);
SELECT ccroute.add_did('gone', '+81399999999', NULL, 'sip:bob@192.0.2.11');
SELECT ccroute.cancel_tenant('gone');
-- The proxy's role routes calls.
SET ROLE ccroute_test_kamailio;

-- A known number goes to its destination, and the call is recorded.
SELECT action, target, sip_status, reason FROM ccroute.route_call('call-1@example', '+819011112222', '+81312345678');
RESET ROLE;
SELECT t.name, c.call_id, c.caller, c.dialed, c.action, c.target
  FROM calls c JOIN ccroute.tenant t USING (tenant_id) ORDER BY c.call_seq;
SET ROLE ccroute_test_kamailio;

-- Unknown and malformed numbers are rejects with a reason, never errors, and record nothing.
SELECT action, target, sip_status, reason FROM ccroute.route_call('call-2@example', '+819011112222', '+81300000000');
SELECT action, target, sip_status, reason FROM ccroute.route_call('call-3@example', '+819011112222', '12ab34');
SELECT action, target, sip_status, reason FROM ccroute.route_call('call-4@example', '+819011112222', '');
SELECT action, target, sip_status, reason FROM ccroute.route_call('call-5@example', '+819011112222', '+1234567890123456');

-- Header values that could break what later prints them are refused.
SELECT action, target, sip_status, reason FROM ccroute.route_call(E'call-6\n@example', '+819011112222', '+81312345678');
SELECT action, target, sip_status, reason FROM ccroute.route_call(repeat('x', 256), '+819011112222', '+81312345678');
SELECT action, target, sip_status, reason FROM ccroute.route_call('call-7@example', E'<script>\x01', '+81312345678');
SELECT action, target, sip_status, reason FROM ccroute.route_call('call-8@example', '', '+81312345678');
RESET ROLE;
SELECT count(*) AS calls_recorded FROM calls;
SET ROLE ccroute_test_kamailio;

-- A cancelled tenant's number is refused as gone, and the refused call is recorded.
SELECT action, target, sip_status, reason FROM ccroute.route_call('call-9@example', 'anonymous', '+81399999999');
RESET ROLE;
SELECT c.call_id, c.action, c.target, c.outcome FROM calls c
  JOIN ccroute.tenant t USING (tenant_id) WHERE t.name = 'gone';
SET ROLE ccroute_test_kamailio;

-- A number whose skill has nobody yet is answered "no agent" (skill routing arrives with agent
-- state).
SELECT action, target, sip_status, reason FROM ccroute.route_call('call-11@example', 'anonymous', '+81312345670');

-- Missing call data is a bad request.
SELECT action, target, sip_status, reason FROM ccroute.route_call(NULL, 'x', '+81312345678');
RESET ROLE;

-- Stored numbers and destinations are checked on the way in.
SET ROLE ccroute_test_dba;
SELECT ccroute.add_did('acme', '0312345678', NULL, 'sip:a@192.0.2.1');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.add_did('acme', '+81312340000', NULL, E'sip:a@b\r\nX-Evil: 1');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.create_tenant('Robert''); DROP TABLE ccroute.call; --');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Nobody but the proxy's role may route calls.
CREATE ROLE ccroute_test_stranger;
GRANT USAGE ON SCHEMA ccroute TO ccroute_test_stranger;
SET ROLE ccroute_test_stranger;
SELECT action, target, sip_status, reason FROM ccroute.route_call('call-10@example', 'x', '+81312345678');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM ccroute.live_call;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP VIEW calls;
DROP EXTENSION ccroute;
DROP SCHEMA ccroute;
DROP ROLE ccroute_test_stranger, ccroute_test_dba, ccroute_test_kamailio;
