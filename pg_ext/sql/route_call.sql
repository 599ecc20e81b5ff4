-- route_call: the routing decision for one INVITE, and its record.
CREATE EXTENSION ccroute;
-- Errors show their message; the SQLSTATE that stopped each is echoed after it.
\set VERBOSITY terse

INSERT INTO ccroute.tenant (name) VALUES ('acme'), ('gone');
INSERT INTO ccroute.did (did, tenant_id, destination) VALUES
  ('+81312345678', (SELECT tenant_id FROM ccroute.tenant WHERE name = 'acme'), 'sip:alice@192.0.2.10:5060'),
  ('+81399999999', (SELECT tenant_id FROM ccroute.tenant WHERE name = 'gone'), 'sip:bob@192.0.2.11');
UPDATE ccroute.tenant SET status = 'cancelled' WHERE name = 'gone';

-- A known number goes to its destination, and the call is recorded.
SELECT * FROM ccroute.route_call('call-1@example', '+819011112222', '+81312345678');
SELECT t.name, c.call_id, c.caller, c.dialed, c.action, c.target
  FROM ccroute.call c JOIN ccroute.tenant t USING (tenant_id) ORDER BY c.call_seq;

-- Unknown and malformed numbers are rejects with a reason, never errors, and record nothing.
SELECT * FROM ccroute.route_call('call-2@example', '+819011112222', '+81300000000');
SELECT * FROM ccroute.route_call('call-3@example', '+819011112222', '12ab34');
SELECT * FROM ccroute.route_call('call-4@example', '+819011112222', '');
SELECT * FROM ccroute.route_call('call-5@example', '+819011112222', '+1234567890123456');

-- Header values that could break what later prints them are refused.
SELECT * FROM ccroute.route_call(E'call-6\n@example', '+819011112222', '+81312345678');
SELECT * FROM ccroute.route_call(repeat('x', 256), '+819011112222', '+81312345678');
SELECT * FROM ccroute.route_call('call-7@example', E'<script>\x01', '+81312345678');
SELECT * FROM ccroute.route_call('call-8@example', '', '+81312345678');
SELECT count(*) AS calls_recorded FROM ccroute.call;

-- A cancelled tenant's number is refused as gone, and the refused call is recorded.
SELECT * FROM ccroute.route_call('call-9@example', 'anonymous', '+81399999999');
SELECT c.call_id, c.action, c.target FROM ccroute.call c
  JOIN ccroute.tenant t USING (tenant_id) WHERE t.name = 'gone';

-- NULL arguments (STRICT) decide nothing.
SELECT * FROM ccroute.route_call(NULL, 'x', '+81312345678');

-- Stored numbers and destinations are checked on the way in.
INSERT INTO ccroute.did (did, tenant_id, destination)
  VALUES ('0312345678', (SELECT tenant_id FROM ccroute.tenant WHERE name = 'acme'), 'sip:a@192.0.2.1');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ccroute.did (did, tenant_id, destination)
  VALUES ('+81312340000', (SELECT tenant_id FROM ccroute.tenant WHERE name = 'acme'), E'sip:a@b\r\nX-Evil: 1');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ccroute.tenant (name) VALUES ('Robert''); DROP TABLE ccroute.call; --');
\echo :LAST_ERROR_SQLSTATE

-- Nobody but those granted it may route calls.
CREATE ROLE ccroute_test_stranger;
GRANT USAGE ON SCHEMA ccroute TO ccroute_test_stranger;
SET ROLE ccroute_test_stranger;
SELECT * FROM ccroute.route_call('call-10@example', 'x', '+81312345678');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM ccroute.call;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP EXTENSION ccroute;
DROP SCHEMA ccroute;
DROP ROLE ccroute_test_stranger;
