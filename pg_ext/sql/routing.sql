-- Routing and the call lifecycle: strategies, proficiency, several skills, overflow, hours in
-- the tenant's time zone, every call event, agent state, limits and lost reservations.
-- "Time passes" is simulated by moving an agent's recorded times into the past.
CREATE EXTENSION ccroute;
\set VERBOSITY terse
CREATE ROLE rt_dba IN ROLE ccroute_platform_dba;

SET ROLE rt_dba;
SELECT ccroute.create_tenant('rt', 'Asia/Tokyo', 'rt.example.test') AS tenant;
SELECT ccroute.create_person('rt', 'tenant_admin', 'admin', 'Admin');
SELECT ccroute.create_person('rt', 'supervisor', 'sup', 'Sup');
SELECT ccroute.create_person('rt', 'agent', 'ann', 'Ann');
RESET ROLE;

SET SESSION AUTHORIZATION "rt.admin";
INSERT INTO ccroute.skill (name, strategy) VALUES
  ('idle', 'longest_idle'), ('rr', 'round_robin'), ('fewest', 'fewest_calls'),
  ('talk', 'least_talk_time'), ('best', 'highest_proficiency'), ('dice', 'random'),
  ('japanese', 'longest_idle'), ('spill', 'longest_idle'), ('empty', 'longest_idle');
UPDATE ccroute.skill SET overflow_skill_id = (SELECT skill_id FROM ccroute.skill WHERE name = 'spill')
 WHERE name = 'empty';
INSERT INTO ccroute.agent (name, extension, contact_uri, person_id) VALUES
  ('Ann', '101', 'sip:ann@192.0.2.1', (SELECT person_id FROM ccroute.person WHERE login = 'ann')),
  ('Ben', '102', 'sip:ben@192.0.2.2', NULL),
  ('Cat', '103', NULL, NULL);
INSERT INTO ccroute.agent (name, extension, mobile, reach_via) VALUES ('Dan', '104', '+819011110004', 'mobile');
-- Everyone has the strategy skills, with proficiency Ann 3, Ben 6, Cat 9.
INSERT INTO ccroute.agent_skill (agent_id, skill_id, proficiency)
SELECT a.agent_id, s.skill_id, CASE a.name WHEN 'Ann' THEN 3 WHEN 'Ben' THEN 6 ELSE 9 END
  FROM ccroute.agent a, ccroute.skill s
 WHERE a.name IN ('Ann', 'Ben', 'Cat') AND s.name IN ('idle', 'rr', 'fewest', 'talk', 'best', 'dice');
INSERT INTO ccroute.agent_skill (agent_id, skill_id, proficiency)
SELECT a.agent_id, s.skill_id, p FROM ccroute.agent a, ccroute.skill s,
  (VALUES ('Ann', 'japanese', 2), ('Ben', 'japanese', 8), ('Dan', 'spill', 5)) AS v (an, sn, p)
 WHERE a.name = v.an AND s.name = v.sn;
RESET SESSION AUTHORIZATION;

SET ROLE rt_dba;
SELECT ccroute.add_did('rt', '+81300000001', 'idle'), ccroute.add_did('rt', '+81300000002', 'rr'),
       ccroute.add_did('rt', '+81300000003', 'fewest'), ccroute.add_did('rt', '+81300000004', 'talk'),
       ccroute.add_did('rt', '+81300000005', 'best'), ccroute.add_did('rt', '+81300000006', 'dice'),
       ccroute.add_did('rt', '+81300000007', 'idle'), ccroute.add_did('rt', '+81300000008', 'empty'),
       ccroute.add_did('rt', '+81300000009', 'idle'), ccroute.add_did('rt', '+81300000010', 'idle');
RESET ROLE;

-- Helpers for this test: route a call as the proxy, report an event, make an agent's times
-- past or known.
CREATE FUNCTION pg_temp.route(p_call text, p_did text, OUT action text, OUT agent text,
                              OUT target text, OUT status integer, OUT reason text)
LANGUAGE sql AS $$
    SELECT r.action, a.name, r.target, r.sip_status, r.reason
      FROM ccroute.route_call(p_call, '+819099990000', p_did) r
      LEFT JOIN ccroute.agent a ON a.tenant_id = r.tenant_id AND a.agent_id = r.agent_id
$$;
CREATE FUNCTION pg_temp.event(p_call text, p_event text) RETURNS text
LANGUAGE sql AS $$
    SELECT ccroute.call_event(l.tenant_id, l.call_seq, p_event)
      FROM ccroute.live_call l WHERE l.call_id = p_call
    UNION ALL SELECT 'unknown_call' WHERE NOT EXISTS (SELECT FROM ccroute.live_call WHERE call_id = p_call)
$$;
CREATE FUNCTION pg_temp.state(p_agent text) RETURNS text
LANGUAGE sql AS $$
    SELECT s.state || coalesce(' (' || s.reason || ')', '')
      FROM ccroute.agent_status s WHERE s.name = p_agent
$$;

-- Nobody logged in: the call is refused, and the explanation says why.
SELECT * FROM pg_temp.route('c1', '+81300000001');
SELECT outcome, explanation -> 'skipped' AS skipped FROM ccroute.call_log WHERE call_id = 'c1';

-- Agents log in: an agent for themselves, a supervisor for anyone of the tenant.
SET SESSION AUTHORIZATION "rt.ann";
SELECT ccroute.set_agent_state('101', 'ready');
SELECT ccroute.set_agent_state('102', 'ready');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "rt.sup";
SELECT ccroute.set_agent_state('102', 'ready'), ccroute.set_agent_state('103', 'ready'),
       ccroute.set_agent_state('104', 'ready');
SELECT ccroute.set_agent_state('103', 'lunch');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.set_agent_state('999', 'ready');
\echo :LAST_ERROR_SQLSTATE
SELECT name, state FROM ccroute.agent_status ORDER BY name;
SELECT skill, ready, busy, not_ready, logged_in FROM ccroute.skill_status WHERE skill IN ('idle', 'japanese', 'spill') ORDER BY skill;
RESET SESSION AUTHORIZATION;

-- Known times: idle since Ann 3 h, Ben 2 h, Cat 1 h ago; last offered Ann 1 h, Ben 3 h, Cat
-- 2 h ago; calls today Ann 5, Ben 1, Cat 3; talk today Ann 100 s, Ben 900 s, Cat 50 s.
UPDATE ccroute.agent_state s
   SET idle_since = now() - v.idle * interval '1 hour',
       last_offered_at = now() - v.offered * interval '1 hour',
       stats_day = (now() AT TIME ZONE 'Asia/Tokyo')::date, calls_today = v.calls, talk_seconds_today = v.talk
  FROM ccroute.agent a, (VALUES ('Ann', 3, 1, 5, 100), ('Ben', 2, 3, 1, 900), ('Cat', 1, 2, 3, 50))
       AS v (name, idle, offered, calls, talk)
 WHERE a.agent_id = s.agent_id AND a.name = v.name;

-- Each strategy picks its agent; the call is then abandoned, which frees the agent unchanged.
SELECT 'longest_idle' AS strategy, * FROM pg_temp.route('s1', '+81300000001');
SELECT pg_temp.event('s1', 'abandoned');
SELECT 'round_robin' AS strategy, * FROM pg_temp.route('s2', '+81300000002');
SELECT pg_temp.event('s2', 'abandoned');
SELECT 'fewest_calls' AS strategy, * FROM pg_temp.route('s3', '+81300000003');
SELECT pg_temp.event('s3', 'abandoned');
SELECT 'least_talk_time' AS strategy, * FROM pg_temp.route('s4', '+81300000004');
SELECT pg_temp.event('s4', 'abandoned');
SELECT 'highest_proficiency' AS strategy, * FROM pg_temp.route('s5', '+81300000005');
SELECT pg_temp.event('s5', 'abandoned');
-- Round robin moves on: all three have been offered a call since; Ann, offered first, is next.
SELECT 'round_robin again' AS strategy, * FROM pg_temp.route('s6', '+81300000002');
SELECT pg_temp.event('s6', 'abandoned');
-- The explanation: strategy, chosen agent with its ordering value, runners-up in order.
SELECT explanation #>> '{skills,0,strategy}' AS strategy,
       (SELECT name FROM ccroute.agent WHERE agent_id = (explanation #>> '{chosen,agent}')::bigint) AS chosen,
       (SELECT string_agg(a.name, ', ' ORDER BY r.ord) FROM jsonb_array_elements(explanation -> 'runners_up')
               WITH ORDINALITY AS r (e, ord) JOIN ccroute.agent a ON a.agent_id = (r.e ->> 'agent')::bigint) AS runners_up,
       outcome
  FROM ccroute.call_log WHERE call_id = 's5';
-- Random: over 60 calls every agent is picked (a miss has a chance of 1 in 10^10).
SELECT count(DISTINCT (SELECT agent FROM pg_temp.route('r' || i, '+81300000006'))) AS agents_picked,
       bool_and(pg_temp.event('r' || i, 'abandoned') = 'abandoned') AS all_released
  FROM generate_series(1, 60) i;

-- Proficiency: the number needs 5 or more in its skill, so Ann (3) is set aside.
SET SESSION AUTHORIZATION "rt.admin";
UPDATE ccroute.did SET min_proficiency = 5 WHERE did = '+81300000007';
RESET SESSION AUTHORIZATION;
UPDATE ccroute.agent_state SET idle_since = now() - interval '1 day'
 WHERE agent_id = (SELECT agent_id FROM ccroute.agent WHERE name = 'Ann');
SELECT * FROM pg_temp.route('p1', '+81300000007');
SELECT pg_temp.event('p1', 'abandoned');
SELECT explanation -> 'skipped' AS skipped FROM ccroute.call_log WHERE call_id = 'p1';

-- Several skills: this number also needs japanese at 5 or more: only Ben has it.
SET SESSION AUTHORIZATION "rt.admin";
INSERT INTO ccroute.did_requirement (did, skill_id, min_proficiency)
SELECT '+81300000009', skill_id, 5 FROM ccroute.skill WHERE name = 'japanese';
RESET SESSION AUTHORIZATION;
SELECT * FROM pg_temp.route('m1', '+81300000009');
SELECT * FROM pg_temp.route('m2', '+81300000009');
SELECT pg_temp.event('m1', 'abandoned');
SELECT call_id, explanation -> 'skipped' AS skipped FROM ccroute.call_log WHERE call_id IN ('m1', 'm2') ORDER BY 1;

-- Overflow: nobody has "empty", which overflows to "spill", where Dan is reached on his mobile.
SELECT * FROM pg_temp.route('o1', '+81300000008');
SELECT jsonb_path_query_array(explanation, '$.skills[*].strategy') AS hops FROM ccroute.call_log WHERE call_id = 'o1';
-- With Dan busy, "spill" overflows to a destination (another PBX).
SET SESSION AUTHORIZATION "rt.admin";
UPDATE ccroute.skill SET overflow_destination = 'sip:queue@192.0.2.99' WHERE name = 'spill';
RESET SESSION AUTHORIZATION;
SELECT * FROM pg_temp.route('o2', '+81300000008');
-- And without it, the caller hears a clear "no agent".
SET SESSION AUTHORIZATION "rt.admin";
UPDATE ccroute.skill SET overflow_destination = NULL WHERE name = 'spill';
RESET SESSION AUTHORIZATION;
SELECT * FROM pg_temp.route('o3', '+81300000008');
SELECT pg_temp.event('o1', 'abandoned'), pg_temp.event('o2', 'ended');

-- The full life of an answered call: offered, ringing, answered, ended; then wrap-up.
SELECT * FROM pg_temp.route('l1', '+81300000001');
SELECT pg_temp.event('l1', 'ringing');
SELECT pg_temp.event('l1', 'answered');
SELECT pg_temp.state('Ann') AS ann_on_call;
-- A repeated INVITE of a call in progress gets the same answer and no second reservation.
SELECT * FROM pg_temp.route('l1', '+81300000001');
SELECT pg_temp.event('l1', 'ended');
SELECT pg_temp.event('l1', 'ended');
SELECT pg_temp.state('Ann') AS ann_after_call,
       (SELECT available_at - since = interval '30 seconds' FROM ccroute.agent_state s
         WHERE s.agent_id = (SELECT agent_id FROM ccroute.agent WHERE name = 'Ann')) AS wrap_up_is_30s;
SELECT outcome, answered_at IS NOT NULL AS answered, talk_seconds >= 0 AS talked
  FROM ccroute.call_history WHERE call_id = 'l1';
-- In wrap-up Ann is not offered a call; when it ends (time passes), she is, with no timer.
SELECT * FROM pg_temp.route('l2', '+81300000001');
SELECT pg_temp.event('l2', 'abandoned');
UPDATE ccroute.agent_state SET available_at = now() - interval '1 second', idle_since = now() - interval '2 days'
 WHERE agent_id = (SELECT agent_id FROM ccroute.agent WHERE name = 'Ann');
SELECT pg_temp.state('Ann') AS ann_after_wrap_up;
SELECT * FROM pg_temp.route('l3', '+81300000001');
SELECT pg_temp.event('l3', 'abandoned');
SELECT s.calls_today, s.talk_seconds_today >= 0 AS counted FROM ccroute.agent_state s
 WHERE s.agent_id = (SELECT agent_id FROM ccroute.agent WHERE name = 'Ann');

-- No answer: the next attempt goes to the next agent; after max_attempts the caller hears "no
-- answer"; after max_no_answers in a row an agent is set not ready.
SET SESSION AUTHORIZATION "rt.admin";
SELECT ccroute.set_call_settings(p_max_no_answers => 2, p_max_attempts => 3);
RESET SESSION AUTHORIZATION;
SELECT * FROM pg_temp.route('n1', '+81300000001');
SELECT pg_temp.event('n1', 'no_answer');
SELECT * FROM pg_temp.route('n1', '+81300000001');
SELECT pg_temp.event('n1', 'busy');
SELECT * FROM pg_temp.route('n1', '+81300000001');
SELECT pg_temp.event('n1', 'no_answer');
SELECT * FROM pg_temp.route('n1', '+81300000001');
SELECT outcome, attempts FROM ccroute.call_history WHERE call_id = 'n1';
SELECT * FROM pg_temp.route('n2', '+81300000001');
SELECT pg_temp.event('n2', 'no_answer');
SELECT pg_temp.event('n2', 'abandoned');
SELECT name, state, no_answer_streak FROM ccroute.agent_status WHERE name IN ('Ann', 'Ben', 'Cat') ORDER BY name;
SET SESSION AUTHORIZATION "rt.sup";
SELECT ccroute.set_agent_state('101', 'ready'), ccroute.set_agent_state('102', 'ready'),
       ccroute.set_agent_state('103', 'ready');
RESET SESSION AUTHORIZATION;

-- A lost reservation: neither answer nor failure came. When its ring timeout has passed, the
-- router frees the agent as it meets it (counted as a no-answer), and the call goes to history.
SELECT * FROM pg_temp.route('x1', '+81300000001');
UPDATE ccroute.agent_state SET reserved_until = now() - interval '1 second'
 WHERE state = 'reserved';
SELECT name, state FROM ccroute.agent_status WHERE state = 'reservation_lost';
SELECT * FROM pg_temp.route('x2', '+81300000001');
SELECT pg_temp.event('x2', 'abandoned');
SELECT call_id, outcome FROM ccroute.call_history WHERE call_id IN ('x1', 'x2') ORDER BY 1;
-- The same by the scheduler's sweep.
SELECT * FROM pg_temp.route('x3', '+81300000001');
UPDATE ccroute.agent_state SET reserved_until = now() - interval '1 second' WHERE state = 'reserved';
SELECT ccroute.expire_reservations() AS expired;
SELECT call_id, outcome FROM ccroute.call_history WHERE call_id = 'x3';
SET SESSION AUTHORIZATION "rt.sup";
SELECT ccroute.set_agent_state('101', 'ready'), ccroute.set_agent_state('102', 'ready');
RESET SESSION AUTHORIZATION;

-- An answered call is never expired, however long it lasts.
SELECT * FROM pg_temp.route('h1', '+81300000001');
SELECT pg_temp.event('h1', 'answered');
UPDATE ccroute.live_call SET answered_at = now() - interval '2 hours', offered_at = now() - interval '2 hours'
 WHERE call_id = 'h1';
SELECT ccroute.expire_reservations() AS expired;
SELECT state FROM ccroute.live_call WHERE call_id = 'h1';
-- An agent on a call cannot be logged out under it.
SET SESSION AUTHORIZATION "rt.sup";
SELECT ccroute.set_agent_state((SELECT extension FROM ccroute.agent_status WHERE call_state = 'answered'), 'logged_out');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
-- A second offer to the same agent is impossible, whatever the code: the key refuses it.
INSERT INTO ccroute.live_call (tenant_id, call_id, caller, dialed, state, action, agent_id)
SELECT tenant_id, 'forced', 'x', 'y', 'offered', 'agent', agent_id FROM ccroute.live_call WHERE call_id = 'h1';
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.event('h1', 'ended');
SELECT pg_temp.event('nosuch', 'ended');
SELECT ccroute.call_event(1, 1, 'exploded');
\echo :LAST_ERROR_SQLSTATE

-- Business hours, in the tenant's time zone: a slot around the current hour in Tokyo is open in
-- Tokyo and closed for a tenant in New York; a holiday today closes it; closed calls go to the
-- closed destination if there is one.
SET SESSION AUTHORIZATION "rt.admin";
INSERT INTO ccroute.schedule (name) VALUES ('around now');
INSERT INTO ccroute.schedule_slot (schedule_id, dow, opens, closes)
SELECT schedule_id, extract(isodow FROM t),
       CASE WHEN t::time < '01:00' THEN '00:00'::time ELSE (t - interval '1 hour')::time END,
       CASE WHEN t::time >= '23:00' THEN '23:59:59.999'::time ELSE (t + interval '1 hour')::time END
  FROM ccroute.schedule, (SELECT now() AT TIME ZONE 'Asia/Tokyo' AS t) AS local_now
 WHERE name = 'around now';
UPDATE ccroute.did SET schedule_id = (SELECT schedule_id FROM ccroute.schedule WHERE name = 'around now')
 WHERE did = '+81300000010';
RESET SESSION AUTHORIZATION;
SELECT action, status, reason FROM pg_temp.route('t1', '+81300000010');
SELECT pg_temp.event('t1', 'abandoned');
UPDATE ccroute.tenant SET time_zone = 'America/New_York';
SELECT action, status, reason FROM pg_temp.route('t2', '+81300000010');
UPDATE ccroute.tenant SET time_zone = 'Asia/Tokyo';
SET SESSION AUTHORIZATION "rt.admin";
INSERT INTO ccroute.holiday (day, name) VALUES ((now() AT TIME ZONE 'Asia/Tokyo')::date, 'Today');
UPDATE ccroute.did SET closed_destination = 'sip:voicemail@192.0.2.50' WHERE did = '+81300000010';
RESET SESSION AUTHORIZATION;
SELECT action, target FROM pg_temp.route('t3', '+81300000010');
SELECT pg_temp.event('t3', 'ended');

-- Limits: concurrent calls per tenant; agents logged in per tenant.
UPDATE ccroute.tenant SET max_concurrent_calls = 1;
SELECT * FROM pg_temp.route('k1', '+81300000001');
SELECT * FROM pg_temp.route('k2', '+81300000001');
SELECT pg_temp.event('k1', 'abandoned');
UPDATE ccroute.tenant SET max_concurrent_calls = 600, max_agents_logged_in = 4;
SET SESSION AUTHORIZATION "rt.admin";
INSERT INTO ccroute.agent (name, extension) VALUES ('Eve', '105');
SELECT ccroute.set_agent_state('105', 'ready');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;

-- Past the proxy's deadline nothing is reserved.
SELECT action, sip_status, reason, agent_id FROM ccroute.route_call('d1', 'x', '+81300000001', '{}', now() - interval '1 second');
SELECT count(*) AS reserved FROM ccroute.agent_state WHERE state = 'reserved';
SELECT outcome FROM ccroute.call_history WHERE call_id = 'd1';

-- A reservation whose commit comes after the deadline (less ccroute.commit_margin_ms) is undone
-- whole: the proxy has already sent the call elsewhere. In time, it commits.
BEGIN;
SELECT action FROM ccroute.route_call('late-1', 'x', '+81300000001', '{}', clock_timestamp() + interval '300 ms');
SELECT pg_sleep(0.4);
COMMIT;
SELECT count(*) AS late_recorded FROM ccroute.call_log WHERE call_id = 'late-1';
SELECT count(*) AS reserved FROM ccroute.agent_state WHERE state = 'reserved';
BEGIN;
SELECT action FROM ccroute.route_call('late-2', 'x', '+81300000001', '{}', clock_timestamp() + interval '10 s');
COMMIT;
SELECT state FROM ccroute.live_call WHERE call_id = 'late-2';
SELECT pg_temp.event('late-2', 'abandoned');

-- Call facts are kept with the call, within a size limit.
SELECT action FROM ccroute.route_call('f1', 'x', '+81300000001', '{"ivr": "2"}');
SELECT action, sip_status, reason FROM ccroute.route_call('f2', 'x', '+81300000001', jsonb_build_object('blob', repeat('x', 5000)));
SELECT facts FROM ccroute.live_call WHERE call_id = 'f1';

DROP EXTENSION ccroute;
DROP SCHEMA ccroute;
DROP ROLE "rt.admin", "rt.sup", "rt.ann", rt_dba;
