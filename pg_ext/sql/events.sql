-- Call events in batches (call_events): many calls of several tenants in one statement, each
-- applied with the time the proxy saw it; one call's answer and end in the same batch; a late
-- ringing for an earlier offer ignored; bad batches refused whole.
CREATE EXTENSION ccroute;
\set VERBOSITY terse
CREATE ROLE ev_dba IN ROLE ccroute_platform_dba;
SET ROLE ev_dba;
SELECT ccroute.create_tenant('ea', 'Asia/Tokyo') IS NOT NULL AS ea,
       ccroute.create_tenant('eb', 'America/New_York') IS NOT NULL AS eb;
RESET ROLE;
INSERT INTO ccroute.skill (tenant_id, name) SELECT tenant_id, 'main' FROM ccroute.tenant;
INSERT INTO ccroute.agent (tenant_id, name, extension, contact_uri, wrapup_seconds)
SELECT t.tenant_id, t.name || a, (100 + a)::text, 'sip:' || t.name || a || '@192.0.2.1', 10
  FROM ccroute.tenant t, generate_series(1, 3) a;
INSERT INTO ccroute.agent_skill (tenant_id, agent_id, skill_id)
SELECT a.tenant_id, a.agent_id, s.skill_id FROM ccroute.agent a JOIN ccroute.skill s USING (tenant_id);
INSERT INTO ccroute.agent_state (tenant_id, agent_id, state, idle_since)
SELECT tenant_id, agent_id, 'ready', now() - interval '1 hour' * agent_id FROM ccroute.agent;
SET ROLE ev_dba;
SELECT ccroute.add_did('ea', '+81300000101', 'main'), ccroute.add_did('eb', '+12125550101', 'main');
RESET ROLE;

CREATE TEMP TABLE routed AS
SELECT c AS call_id, r.tenant_id, r.call_seq, r.agent_id
  FROM (VALUES ('a1', '+81300000101'), ('a2', '+81300000101'), ('b1', '+12125550101'),
               ('b2', '+12125550101')) AS v (c, d),
       LATERAL ccroute.route_call(c, '+819099990000', d) r;
SELECT count(*) AS routed, count(DISTINCT agent_id) AS agents FROM routed;
-- The calls were offered a minute ago (time passes).
UPDATE ccroute.live_call SET arrived_at = arrived_at - interval '1 minute',
                             offered_at = offered_at - interval '1 minute';

-- One batch: a1 and b1 answered 2 s ago and ended now (answer and end together); a2 rings,
-- b2 is answered. The times are the proxy's, not the database's.
SELECT ccroute.call_events(array_agg(r.tenant_id ORDER BY o), array_agg(r.call_seq ORDER BY o),
                           array_agg(e.ev ORDER BY o), array_agg(e.at ORDER BY o)) AS applied
  FROM (VALUES (1, 'a1', 'answered', clock_timestamp() - interval '2 s'),
               (2, 'b1', 'answered', clock_timestamp() - interval '2 s'),
               (3, 'a2', 'ringing', clock_timestamp()),
               (4, 'a1', 'ended', clock_timestamp()),
               (5, 'b2', 'answered', clock_timestamp()),
               (6, 'b1', 'ended', clock_timestamp())) AS e (o, c, ev, at)
  JOIN routed r ON r.call_id = e.c;
SELECT call_id, outcome, talk_seconds BETWEEN 1.5 AND 3 AS talked_2s
  FROM ccroute.call_history ORDER BY call_id;
SELECT l.call_id, l.state FROM ccroute.live_call l ORDER BY call_id;
-- Wrap-up is counted from the end the proxy saw.
SELECT a.name, s.state, s.calls_today, s.available_at - s.since = interval '10 s' AS wrap_10s
  FROM ccroute.agent_state s JOIN ccroute.agent a USING (tenant_id, agent_id)
 WHERE s.state <> 'ready' ORDER BY a.name;

-- A ringing older than the call's current offer belongs to an earlier attempt: ignored.
SELECT ccroute.call_event(tenant_id, call_seq, 'no_answer') FROM routed WHERE call_id = 'a2';
SELECT (ccroute.route_call('a2', '+819099990000', '+81300000101')).action;
SELECT ccroute.call_events(ARRAY[tenant_id], ARRAY[call_seq], ARRAY['ringing'],
                           ARRAY[clock_timestamp() - interval '1 minute']) AS applied
  FROM routed WHERE call_id = 'a2';
SELECT state FROM ccroute.live_call WHERE call_id = 'a2';

-- An end for an unknown call, or repeated, changes nothing.
SELECT ccroute.call_events(ARRAY[tenant_id, tenant_id], ARRAY[call_seq, 999999], ARRAY['ended', 'ended'],
                           ARRAY[now(), now()]) AS applied
  FROM routed WHERE call_id = 'a1';

-- Bad batches are refused whole, and change nothing.
SELECT ccroute.call_events(ARRAY[tenant_id], ARRAY[call_seq], ARRAY['no_answer'], ARRAY[now()])
  FROM routed WHERE call_id = 'a2';
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.call_events(ARRAY[tenant_id], ARRAY[call_seq], ARRAY['ended', 'ended'], ARRAY[now()])
  FROM routed WHERE call_id = 'a2';
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.call_events(ARRAY[tenant_id, tenant_id], ARRAY[call_seq, call_seq],
                           ARRAY['ended', NULL], ARRAY[now(), now()])
  FROM routed WHERE call_id = 'a2';
\echo :LAST_ERROR_SQLSTATE
SELECT call_id, state FROM ccroute.live_call ORDER BY call_id;

-- A withdrawal that comes after the offer expired (a database frozen past the ring timeout)
-- corrects the record: the call went to the proxy's fallback; its agent's no-answer is undone.
-- Nothing else may change history, not even a superuser.
SELECT sum(no_answer_streak) AS streaks_before FROM ccroute.agent_state;
UPDATE ccroute.agent_state SET reserved_until = now() - interval '1 second' WHERE state = 'reserved';
SELECT ccroute.expire_reservations() AS expired;
SELECT call_id, action, outcome FROM ccroute.call_history WHERE call_id = 'a2';
SELECT ccroute.withdraw_call('a2', '+81300000101') AS withdrawn;
SELECT call_id, action, outcome, agent_id IS NULL AS no_agent FROM ccroute.call_history WHERE call_id = 'a2';
SELECT sum(no_answer_streak) AS streaks_after FROM ccroute.agent_state;
UPDATE ccroute.call_history SET outcome = 'fallback' WHERE call_id = 'a1';
\echo :LAST_ERROR_SQLSTATE

-- Only the proxy's role may send them.
CREATE ROLE ev_intruder;
SET ROLE ev_intruder;
SELECT ccroute.call_events('{1}', '{1}', '{ended}', ARRAY[now()]);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
CREATE ROLE ev_proxy IN ROLE ccroute_kamailio;
SELECT tenant_id AS b2_tenant, call_seq AS b2_call FROM ccroute.live_call WHERE call_id = 'b2' \gset
SET ROLE ev_proxy;
SELECT ccroute.call_events(ARRAY[:b2_tenant]::bigint[], ARRAY[:b2_call]::bigint[], ARRAY['ended'],
                           ARRAY[now()]) AS applied;
RESET ROLE;
SELECT call_id, outcome FROM ccroute.call_history ORDER BY call_id;

DROP EXTENSION ccroute;
DROP SCHEMA ccroute;
DROP ROLE ev_dba, ev_intruder, ev_proxy;
