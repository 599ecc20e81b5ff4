-- Reports: every measure of every analyst view (reports/DEFINITIONS.md) against a fixture
-- computed by hand, in a tenant of Asia/Tokyo (UTC+9: its day starts at 15:00 UTC). The views
-- give the same answers from history alone, after a partial roll-up and after a full one;
-- another tenant's calls are in history and never appear; each tenant's analyst sees only its
-- own rows.
CREATE EXTENSION ccroute;
\set VERBOSITY terse
SET timezone = 'Asia/Tokyo';
CREATE ROLE rp_dba IN ROLE ccroute_platform_dba;

SET ROLE rp_dba;
SELECT ccroute.create_tenant('rp', 'Asia/Tokyo', 'rp.example.test') IS NOT NULL AS rp;
SELECT ccroute.create_tenant('ot', 'UTC', 'ot.example.test') IS NOT NULL AS ot;
SELECT ccroute.create_person('rp', 'tenant_admin', 'admin', 'Admin'),
       ccroute.create_person('rp', 'analyst', 'ana', 'Ana'),
       ccroute.create_person('ot', 'tenant_admin', 'admin', 'Admin'),
       ccroute.create_person('ot', 'analyst', 'ana', 'Ana');
RESET ROLE;

-- Two skills (sales: 20 s target, support: 30 s), three agents; the short-abandon threshold is
-- the default, 5 s.
SET SESSION AUTHORIZATION "rp.admin";
INSERT INTO ccroute.skill (name, service_level_seconds) VALUES ('sales', 20), ('support', 30);
INSERT INTO ccroute.agent (name, extension) VALUES ('Ann', '101'), ('Ben', '102'), ('Cat', '103');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "ot.admin";
INSERT INTO ccroute.skill (name) VALUES ('sales');
INSERT INTO ccroute.agent (name, extension) VALUES ('Ann', '101');
RESET SESSION AUTHORIZATION;
SET ROLE rp_dba;
SELECT ccroute.add_did('rp', '+81300000101', 'sales'), ccroute.add_did('rp', '+81300000102', 'support'),
       ccroute.add_did('rp', '+81300000103', NULL, 'sip:reception@192.0.2.10'),
       ccroute.add_did('ot', '+4430000101', 'sales');
RESET ROLE;

-- The calls, as the router and the events record them (times on Tokyo's clock, 2026-03-10
-- unless said; wait = answer - arrival, or end - arrival; wrap-up is the agent's):
--  c1  D101 sales   Ann answered   09:10:00 wait 10 talk 300 wrap 30  (busy 09:10:10-09:15:40)
--  c2  D101 sales   Ben answered   09:14:50 wait 25 talk 120 wrap 30  (answered 09:15:15, next bucket;
--                                                                    busy 09:15:15-09:17:45)
--  c3  D101 sales   Ann abandoned  09:20:00 wait 3                    (short: under 5 s)
--  c4  D102 support Cat abandoned  09:40:00 wait 40                   (after the threshold)
--  c5  D102 support Cat answered   09:50:00 wait 30 talk 600 wrap 30  (30 = target: within;
--                                                                    busy 09:50:30-10:01:00)
--  c6  D102 support Ben no_answer  10:05:00 wait 60
--  c7  D102 support Ben busy       10:07:00 wait 4
--  c8  D101 sales   Ann expired    10:08:00 wait 30
--  c9  D101 sales   -   fallback   10:09:00 wait 2
--  c10 D101 sales   -   no_agent        10:20:00  never offered (no offered_at)
--  c11 D101 sales   -   deadline_passed 10:21:00  never offered
--  c12 D103 -       -   closed          10:22:00  never offered
--  c13 D103 -       -   rejected        10:23:00  never offered
--  c14 D103 -       -   limit           10:24:00  never offered
--  c15 D101 -       -   routed          10:25:00  (a decision of 0.1/0.2) never offered
--  c16 D101 sales   Ann answered   23:59:50 wait 15 talk 100 wrap 30  (answered 03-11 00:00:05: the
--                                                                    call is 03-10's, its busy time
--                                                                    03-11 00:00:05-00:02:15)
--  c17 D103 -       -   answered   03-11 00:30:00 wait 8 talk 50      (a fixed destination answered)
--  c18 D102 support Ben answered   03-11 00:40:00 wait 5 talk 60 wrap 30 (busy 00:40:05-00:41:35)
-- The other tenant's calls arrive at the same times on its own number.
INSERT INTO ccroute.call_history (tenant_id, call_seq, call_id, caller, dialed, action, skill_id,
    agent_id, outcome, arrived_at, offered_at, answered_at, ended_at, wait_seconds, talk_seconds,
    wrap_up_seconds)
SELECT t.tenant_id, v.n, 'c' || v.n, '+819011112222', v.did, coalesce(v.action, 'agent'),
       (SELECT k.skill_id FROM ccroute.skill k WHERE k.tenant_id = t.tenant_id AND k.name = v.skill),
       (SELECT a.agent_id FROM ccroute.agent a WHERE a.tenant_id = t.tenant_id AND a.name = v.agent),
       v.outcome, v.arrived, CASE WHEN v.offered THEN v.arrived END,
       CASE WHEN v.outcome = 'answered' THEN v.arrived + make_interval(secs => v.wait) END,
       v.arrived + make_interval(secs => v.wait + coalesce(v.talk, 0)), v.wait, v.talk, v.wrap
  FROM ccroute.tenant t,
       (VALUES (1, '+81300000101', 'sales', 'Ann', 'answered', timestamptz '2026-03-10 09:10:00+09', true, 10, 300, 30, NULL),
               (2, '+81300000101', 'sales', 'Ben', 'answered', '2026-03-10 09:14:50+09', true, 25, 120, 30, NULL),
               (3, '+81300000101', 'sales', 'Ann', 'abandoned', '2026-03-10 09:20:00+09', true, 3, NULL, NULL, NULL),
               (4, '+81300000102', 'support', 'Cat', 'abandoned', '2026-03-10 09:40:00+09', true, 40, NULL, NULL, NULL),
               (5, '+81300000102', 'support', 'Cat', 'answered', '2026-03-10 09:50:00+09', true, 30, 600, 30, NULL),
               (6, '+81300000102', 'support', 'Ben', 'no_answer', '2026-03-10 10:05:00+09', true, 60, NULL, NULL, NULL),
               (7, '+81300000102', 'support', 'Ben', 'busy', '2026-03-10 10:07:00+09', true, 4, NULL, NULL, NULL),
               (8, '+81300000101', 'sales', 'Ann', 'expired', '2026-03-10 10:08:00+09', true, 30, NULL, NULL, NULL),
               (9, '+81300000101', 'sales', NULL, 'fallback', '2026-03-10 10:09:00+09', true, 2, NULL, NULL, 'fallback'),
               (10, '+81300000101', 'sales', NULL, 'no_agent', '2026-03-10 10:20:00+09', false, 0, NULL, NULL, 'reject'),
               (11, '+81300000101', 'sales', NULL, 'deadline_passed', '2026-03-10 10:21:00+09', false, 0, NULL, NULL, 'late'),
               (12, '+81300000103', NULL, NULL, 'closed', '2026-03-10 10:22:00+09', false, 0, NULL, NULL, 'reject'),
               (13, '+81300000103', NULL, NULL, 'rejected', '2026-03-10 10:23:00+09', false, 0, NULL, NULL, 'reject'),
               (14, '+81300000103', NULL, NULL, 'limit', '2026-03-10 10:24:00+09', false, 0, NULL, NULL, 'reject'),
               (15, '+81300000101', NULL, NULL, 'routed', '2026-03-10 10:25:00+09', false, 0, NULL, NULL, 'reject'),
               (16, '+81300000101', 'sales', 'Ann', 'answered', '2026-03-10 23:59:50+09', true, 15, 100, 30, NULL),
               (17, '+81300000103', NULL, NULL, 'answered', '2026-03-11 00:30:00+09', true, 8, 50, NULL, 'destination'),
               (18, '+81300000102', 'support', 'Ben', 'answered', '2026-03-11 00:40:00+09', true, 5, 60, 30, NULL))
       AS v (n, did, skill, agent, outcome, arrived, offered, wait, talk, wrap, action)
 WHERE t.name = 'rp'
UNION ALL
SELECT t.tenant_id, 100 + n, 'o' || n, '+441111111111', '+4430000101', 'agent',
       (SELECT k.skill_id FROM ccroute.skill k WHERE k.tenant_id = t.tenant_id),
       (SELECT a.agent_id FROM ccroute.agent a WHERE a.tenant_id = t.tenant_id),
       'answered', timestamptz '2026-03-10 09:10:00+09' + n * interval '1 hour',
       timestamptz '2026-03-10 09:10:00+09' + n * interval '1 hour',
       timestamptz '2026-03-10 09:10:05+09' + n * interval '1 hour',
       timestamptz '2026-03-10 09:20:05+09' + n * interval '1 hour', 5, 600, 30
  FROM ccroute.tenant t, generate_series(0, 2) n
 WHERE t.name = 'ot';

-- Presence (Tokyo, 2026-03-10): Ann ready 09:00, not ready (break) 09:50, ready 10:10, not
-- ready (lunch) 12:00, logged out 12:20; Ben ready 09:00 to 10:30, and 03-11 00:35 to 00:45;
-- Cat ready 09:30 to 10:15. The other tenant's Ann is ready 09:00 to 11:00.
INSERT INTO ccroute.agent_state_history (tenant_id, agent_id, changed_at, presence, reason)
SELECT a.tenant_id, a.agent_id, v.at, v.presence, v.reason
  FROM ccroute.agent a JOIN ccroute.tenant t ON t.tenant_id = a.tenant_id,
       (VALUES ('rp', 'Ann', timestamptz '2026-03-10 09:00+09', 'ready', NULL),
               ('rp', 'Ann', '2026-03-10 09:50+09', 'not_ready', 'break'),
               ('rp', 'Ann', '2026-03-10 10:10+09', 'ready', NULL),
               ('rp', 'Ann', '2026-03-10 12:00+09', 'not_ready', 'lunch'),
               ('rp', 'Ann', '2026-03-10 12:20+09', 'logged_out', NULL),
               ('rp', 'Ben', '2026-03-10 09:00+09', 'ready', NULL),
               ('rp', 'Ben', '2026-03-10 10:30+09', 'logged_out', NULL),
               ('rp', 'Ben', '2026-03-11 00:35+09', 'ready', NULL),
               ('rp', 'Ben', '2026-03-11 00:45+09', 'logged_out', NULL),
               ('rp', 'Cat', '2026-03-10 09:30+09', 'ready', NULL),
               ('rp', 'Cat', '2026-03-10 10:15+09', 'logged_out', NULL),
               ('ot', 'Ann', '2026-03-10 09:00+09', 'ready', NULL),
               ('ot', 'Ann', '2026-03-10 11:00+09', 'logged_out', NULL)) AS v (tenant, agent, at, presence, reason)
 WHERE t.name = v.tenant AND a.name = v.agent;

-- Everything the views show, to compare after each roll-up.
CREATE TABLE pg_temp.seen (view text, r text);
GRANT ALL ON pg_temp.seen TO PUBLIC;
CREATE FUNCTION pg_temp.snapshot() RETURNS bigint LANGUAGE sql AS $$
    DELETE FROM pg_temp.seen;
    INSERT INTO pg_temp.seen
    SELECT 'did', r::text FROM ccroute.report_by_did r
    UNION ALL SELECT 'skill', r::text FROM ccroute.report_by_skill r
    UNION ALL SELECT 'agent', r::text FROM ccroute.report_by_agent r
    UNION ALL SELECT 'presence', r::text FROM ccroute.report_agent_presence r;
    SELECT count(*) FROM pg_temp.seen;
$$;
CREATE FUNCTION pg_temp.plan_lines(p_query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || p_query LOOP
        RETURN NEXT l;
    END LOOP;
END
$$;
CREATE FUNCTION pg_temp.changed() RETURNS bigint LANGUAGE sql AS $$
    WITH now_seen AS (
        SELECT 'did' AS view, r::text AS r FROM ccroute.report_by_did r
        UNION ALL SELECT 'skill', r::text FROM ccroute.report_by_skill r
        UNION ALL SELECT 'agent', r::text FROM ccroute.report_by_agent r
        UNION ALL SELECT 'presence', r::text FROM ccroute.report_agent_presence r)
    SELECT count(*) FROM ((TABLE now_seen EXCEPT ALL TABLE pg_temp.seen)
                          UNION ALL (TABLE pg_temp.seen EXCEPT ALL TABLE now_seen)) d;
$$;

-- Nothing rolled up yet: every row comes from history itself. As the tenant's analyst.
SET SESSION AUTHORIZATION "rp.ana";
SET timezone = 'Asia/Tokyo';

-- By number, per 15 minutes. Expected (calls offered answered abandoned short other
-- not_offered within sl_calls sl wait asa talk wrap handle aht longest):
--  D101 09:00 c1 c2:      2 2 2 0 0 0 0  1 2 0.5   35 17.5 420 60 480 240  25
--  D101 09:15 c3:         1 1 0 0 1 0 0  0 0 -      0  -     0  0   0  -    3  (a short abandon
--                                                                    is in neither SL term)
--  D101 10:00 c8 c9:      2 2 0 0 0 2 0  0 0 -      0  -     0  0   0  -   30
--  D101 10:15 c10 c11 c15: 3 0 0 0 0 0 3 0 0 -      0  -     0  0   0  -    -
--  D101 23:45 c16:        1 1 1 0 0 0 0  1 1 1     15 15   100 30 130 130  15
--  D102 09:30 c4:         1 1 0 1 0 0 0  0 1 0      0  -     0  0   0  -   40
--  D102 09:45 c5:         1 1 1 0 0 0 0  1 1 1     30 30   600 30 630 630  30
--  D102 10:00 c6 c7:      2 2 0 0 0 2 0  0 0 -      0  -     0  0   0  -   60
--  D102 03-11 00:30 c18:  1 1 1 0 0 0 0  1 1 1      5  5    60 30  90  90   5
--  D103 10:15 c12-c14:    3 0 0 0 0 0 3  0 0 -      0  -     0  0   0  -    -
--  D103 03-11 00:30 c17:  1 1 1 0 0 0 0  0 0 -      8  8    50  0  50  50   8  (no skill: no target)
SELECT local_start, period_end - period_start AS length, did, did_label, calls, offered, answered,
       abandoned, short_abandoned, other_unanswered, not_offered, answered_within_target,
       service_level_calls, service_level, wait_seconds_answered, average_speed_of_answer,
       talk_seconds, wrap_up_seconds, handle_seconds, average_handle_time, longest_wait_seconds
  FROM ccroute.report_by_did WHERE grain = '15min' ORDER BY did, period_start;

-- By number, per day and month (Tokyo's: c16 at 23:59:50 is 03-10's, c17 and c18 03-11's).
--  D101 03-10: c1 c2 c3 c8 c9 c10 c11 c15 c16: 9 6 3 0 1 2 3  2 3 0.6667 50 16.667 520 90 610 203.333 30
--  D102 03-10: c4-c7:                        4 4 1 1 0 2 0  1 2 0.5    30 30     600 30 630 630     60
--  D103 03-10: c12-c14:                      3 0 0 0 0 0 3  0 0 -       0 -        0  0   0 -        -
--  D102 03-11: c18:                          1 1 1 0 0 0 0  1 1 1       5 5       60 30  90 90        5
--  D103 03-11: c17:                          1 1 1 0 0 0 0  0 0 -       8 8       50  0  50 50        8
--  month 2026-03: D101 as its day; D102: 5 5 2 1 0 2 0 2 3 0.6667 35 17.5 660 60 720 360 60;
--                 D103: 4 1 1 0 0 0 3 0 0 - 8 8 50 0 50 50 8
SELECT grain, local_start, period_start, period_end, did, calls, offered, answered, abandoned,
       short_abandoned, other_unanswered, not_offered, answered_within_target, service_level_calls,
       service_level, wait_seconds_answered, average_speed_of_answer, talk_seconds, wrap_up_seconds,
       handle_seconds, average_handle_time, longest_wait_seconds
  FROM ccroute.report_by_did WHERE grain IN ('day', 'month') ORDER BY grain, did, period_start;

-- By skill, per 30 minutes and per day (c15 and the destination's calls have no skill).
--  sales   09:00 c1 c2 c3:        3 3 2 0 1 0 0  1 2 0.5    35 17.5   420 60 480 240     25
--  sales   10:00 c8-c11:          4 2 0 0 0 2 2  0 0 -       0 -        0  0   0 -       30
--  sales   23:30 c16:             1 1 1 0 0 0 0  1 1 1      15 15     100 30 130 130     15
--  support 09:30 c4 c5:           2 2 1 1 0 0 0  1 2 0.5    30 30     600 30 630 630     40
--  support 10:00 c6 c7:           2 2 0 0 0 2 0  0 0 -       0 -        0  0   0 -       60
--  support 03-11 00:30 c18:       1 1 1 0 0 0 0  1 1 1       5 5       60 30  90 90       5
--  sales   day 03-10:             8 6 3 0 1 2 2  2 3 0.6667 50 16.667 520 90 610 203.333 30
--  support day 03-10: as D102's day; support day 03-11: as D102's.
SELECT grain, local_start, skill, service_level_seconds, service_level_goal, calls, offered, answered,
       abandoned, short_abandoned, other_unanswered, not_offered, answered_within_target,
       service_level_calls, service_level, wait_seconds_answered, average_speed_of_answer,
       talk_seconds, wrap_up_seconds, handle_seconds, average_handle_time, longest_wait_seconds
  FROM ccroute.report_by_skill WHERE grain IN ('30min', 'day') ORDER BY grain, skill, period_start;

-- By agent, per hour. Busy time is talk and wrap-up where it was spent; ready and not ready
-- from presence, cut at the hour; occupancy = busy / ready.
--  Ann 09:00 c1 c3: 2 2 1 0 1 0 0 1 1 1 10 10 300 30 330 330 10; ready 3000 (09:00-09:50),
--                   not ready 600 (09:50-10:00), busy 330, occupancy 0.11
--  Ann 10:00 c8:    1 1 0 0 0 1 0 0 0 - 0 - 0 0 0 - 30; ready 3000 (10:10-11:00), not ready 600, busy 0, 0
--  Ann 11:00:       no calls; ready 3600, occupancy 0
--  Ann 12:00:       not ready 1200 (lunch), ready 0: occupancy -
--  Ann 23:00 c16:   1 1 1 0 0 0 0 1 1 1 15 15 100 30 130 130 15; ready 0, busy 0 (spent 03-11)
--  Ann 03-11 00:00: busy 130, ready 0: occupancy -
--  Ben 09:00 c2:    1 1 1 0 0 0 0 0 1 0 25 25 120 30 150 150 25; ready 3600, busy 150, 0.0417
--  Ben 10:00 c6 c7: 2 2 0 0 0 2 0 0 0 - 0 - 0 0 0 - 60; ready 1800 (10:00-10:30), busy 0, 0
--  Ben 03-11 00:00 c18: 1 1 1 0 0 0 0 1 1 1 5 5 60 30 90 90 5; ready 600, busy 90, 0.15
--  Cat 09:00 c4 c5: 2 2 1 1 0 0 0 1 2 0.5 30 30 600 30 630 630 40; ready 1800 (09:30-10:00),
--                   busy 570 (09:50:30-10:00), 0.3167
--  Cat 10:00:       busy 60 (10:00-10:01), ready 900 (10:00-10:15), 0.0667
SELECT grain, local_start, agent, extension, calls, offered, answered, abandoned, short_abandoned,
       other_unanswered, not_offered, answered_within_target, service_level_calls, service_level,
       wait_seconds_answered, average_speed_of_answer, talk_seconds, wrap_up_seconds, handle_seconds,
       average_handle_time, longest_wait_seconds, ready_seconds, not_ready_seconds, busy_seconds,
       occupancy
  FROM ccroute.report_by_agent WHERE grain = '60min' ORDER BY agent, period_start;

-- By agent, per day and month.
--  Ann 03-10 c1 c3 c8 c16: 4 4 2 0 1 1 0 2 2 1 25 12.5 400 60 460 230 30;
--                          ready 9600, not ready 2400, busy 330, occupancy 0.0344
--  Ann 03-11: busy 130 only, occupancy -
--  Ben 03-10 c2 c6 c7: 3 3 1 0 0 2 0 0 1 0 25 25 120 30 150 150 60; ready 5400, busy 150, 0.0278
--  Ben 03-11 c18: as its hour
--  Cat 03-10 c4 c5: 2 2 1 1 0 0 0 1 2 0.5 30 30 600 30 630 630 40; ready 2700, busy 630, 0.2333
--  months: the sums of the days (Ann: ready 9600, busy 460, 0.0479; Ben: ready 6000, busy 240, 0.04)
SELECT grain, local_start, agent, calls, offered, answered, abandoned, short_abandoned,
       other_unanswered, not_offered, answered_within_target, service_level_calls, service_level,
       wait_seconds_answered, average_speed_of_answer, talk_seconds, wrap_up_seconds, handle_seconds,
       average_handle_time, longest_wait_seconds, ready_seconds, not_ready_seconds, busy_seconds,
       occupancy
  FROM ccroute.report_by_agent WHERE grain IN ('day', 'month') ORDER BY grain, agent, period_start;

-- Presence by reason. Ann's break (09:50-10:10) crosses 10:00: per 15 minutes 09:45 has ready
-- 300 and break 600, 10:00 break 600 and ready 300.
SELECT local_start, agent, presence, reason, seconds
  FROM ccroute.report_agent_presence
 WHERE grain = '15min' AND agent = 'Ann'
   AND period_start >= '2026-03-10 09:45+09' AND period_start < '2026-03-10 10:15+09'
 ORDER BY period_start, presence, reason;
-- Per 30 minutes: Ann 09:00 ready 1800; 09:30 ready 1200, break 600; 10:00 break 600, ready
-- 1200; 10:30, 11:00, 11:30 ready 1800; 12:00 lunch 1200. Ben 09:00, 09:30, 10:00 ready 1800;
-- 03-11 00:30 ready 600. Cat 09:30 ready 1800; 10:00 ready 900.
SELECT local_start, agent, presence, reason, seconds
  FROM ccroute.report_agent_presence WHERE grain = '30min' ORDER BY agent, period_start, presence, reason;
-- Per day: Ann ready 9600, break 1200, lunch 1200; Ben 5400, and 600 on 03-11; Cat 2700; the
-- month: Ann the same, Ben 6000, Cat 2700.
SELECT grain, local_start, agent, presence, reason, seconds
  FROM ccroute.report_agent_presence WHERE grain IN ('day', 'month') ORDER BY grain, agent, period_start, presence, reason;

-- The analyst sees its own tenant only; the other tenant's analyst sees its own calls only.
SELECT count(*) FILTER (WHERE tenant_id <> ccroute.current_tenant()) AS other_tenants_rows,
       count(*) AS rows FROM ccroute.report_by_did;
SELECT pg_temp.snapshot() AS rows_seen;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "ot.ana";
SELECT grain, did, calls, answered, talk_seconds FROM ccroute.report_by_did
 WHERE grain IN ('day', 'month') ORDER BY grain;
SELECT count(*) AS rp_rows FROM ccroute.report_by_agent a JOIN ccroute.tenant t ON t.tenant_id = a.tenant_id
 WHERE t.name = 'rp';
SELECT agent, calls, ready_seconds, busy_seconds, occupancy FROM ccroute.report_by_agent WHERE grain = 'day';
RESET SESSION AUTHORIZATION;

-- A roll-up by the daily maintenance. Calls are rolled up once a day old: run at 03-11 09:45,
-- it rolls up what arrived before 03-10 09:45 (c1-c4, and presence until then); the views
-- answer the same.
SELECT tenant, rolled_from, rolled_until, rebuilt, rows > 0 AS wrote
  FROM ccroute.refresh_report_rollups('2026-03-11 09:45+09') ORDER BY tenant;
SELECT count(*) AS rolled_up_skill_buckets FROM ccroute.report_skill_15min;
SET SESSION AUTHORIZATION "rp.ana";
SELECT pg_temp.changed() AS rows_changed;
RESET SESSION AUTHORIZATION;
-- Run again at the same time: nothing more; then a week later: everything; still the same.
SELECT tenant, rolled_from, rolled_until, rebuilt, rows FROM ccroute.refresh_report_rollups('2026-03-11 09:45+09') ORDER BY tenant;
SELECT tenant, rolled_until, rebuilt FROM ccroute.refresh_report_rollups('2026-03-17 00:00+09') ORDER BY tenant;
SET SESSION AUTHORIZATION "rp.ana";
SELECT pg_temp.changed() AS rows_changed;
-- The analyst reads roll-ups through the views (and the tables): never another tenant's.
SELECT count(*) FILTER (WHERE tenant_id <> ccroute.current_tenant()) AS other_tenants_rows
  FROM ccroute.report_agent_15min;
SELECT ccroute.refresh_report_rollups('2026-03-17 00:00+09');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;

-- A new target is measured on the past too: the next roll-up counts the tenant again. With
-- sales at 10 s, c1 (10 s) is still within, c16 (15 s) no longer: 03-10 sales 1 of 3.
SET SESSION AUTHORIZATION "rp.admin";
UPDATE ccroute.skill SET service_level_seconds = 10 WHERE name = 'sales';
RESET SESSION AUTHORIZATION;
SELECT tenant, rolled_from, rolled_until, rebuilt FROM ccroute.refresh_report_rollups('2026-03-17 00:00+09') ORDER BY tenant;
SET SESSION AUTHORIZATION "rp.ana";
SELECT skill, answered_within_target, service_level_calls, service_level
  FROM ccroute.report_by_skill WHERE grain = 'day' AND local_start = '2026-03-10' ORDER BY skill;
RESET SESSION AUTHORIZATION;

-- A filter on grain and period reaches the roll-ups' index of that grain (and only that grain's
-- rows): the plan names it.
SET SESSION AUTHORIZATION "rp.ana";
SET enable_seqscan = off;
SELECT count(*) FILTER (WHERE line ~ 'Index Scan using report_skill_day_\w*start_day') > 0 AS uses_day_index,
       count(*) FILTER (WHERE line ~ 'report_skill_15min') AS reads_15min_rows
  FROM pg_temp.plan_lines($$SELECT * FROM ccroute.report_by_skill
                             WHERE grain = 'day' AND period_start >= '2026-03-01' AND period_start < '2026-04-01'$$) AS line;
RESET enable_seqscan;
RESET SESSION AUTHORIZATION;

DROP EXTENSION ccroute;
DROP SCHEMA ccroute;
