-- generate_history.sql: a tenant with a realistic history of calls and agents' presence, for
-- benchmarks (a year of 300,000 calls a month) and tests (a few hundred calls). Run with psql as
-- a superuser, in a database with the extension:
--
--   psql -v tenant=acme -v months=12 -v calls_per_month=300000 -v end_date=2026-12-01 \
--        -v seed=0.42 -f reports/generate_history.sql
--
-- Variables (all but tenant have defaults): tenant (a new tenant's name), time_zone
-- (Asia/Tokyo), months (12), calls_per_month (300000), end_date (today: the history ends at the
-- tenant's midnight that starts it), seed (0.42, for setseed: the same seed and variables give
-- the same calls), agents (100), dids (15, spread over the five skills).
--
-- The tenant, its admin, skills, business hours, numbers and agents are made the normal way
-- (ccroute.create_tenant, create_person, add_did; the admin inserts the rest); the history is
-- then inserted in bulk. How the calls are drawn: reports/README.md, "Generated history".
\set ON_ERROR_STOP on
\if :{?tenant}
\else
\echo 'generate_history: set the tenant name: psql -v tenant=NAME -f reports/generate_history.sql'
\quit
\endif
\if :{?time_zone} \else \set time_zone Asia/Tokyo \endif
\if :{?months} \else \set months 12 \endif
\if :{?calls_per_month} \else \set calls_per_month 300000 \endif
\if :{?seed} \else \set seed 0.42 \endif
\if :{?agents} \else \set agents 100 \endif
\if :{?dids} \else \set dids 15 \endif
\if :{?end_date}
\else
SELECT (pg_catalog.now() AT TIME ZONE :'time_zone')::date AS end_date \gset
\endif

\set QUIET on
-- Only the summary at the end is printed.
\o /dev/null
SET client_min_messages = warning;
-- Local time throughout: the curve, the shifts and the day boundaries are the tenant's.
SET TIME ZONE :'time_zone';
SET work_mem = '256MB';

BEGIN;

------------------------------------------------------------------------------------------------
-- The tenant, as its platform DBA and its admin would set it up.

SELECT ccroute.create_tenant(:'tenant', :'time_zone',
                             pg_catalog.replace(:'tenant', '_', '-') || '.gen.ccroute.test') AS tenant_id \gset
SELECT ccroute.create_person(:'tenant', 'tenant_admin', 'gen_admin', 'History Generator') AS admin_role \gset
SELECT ccroute.set_tenant_limits(:'tenant', p_max_dids => greatest(150, :dids)) \gset gen_

SET SESSION AUTHORIZATION :"admin_role";
-- Five skills: their share of the calls, their agents, and the service level each aims at.
INSERT INTO ccroute.skill (name, strategy, service_level_seconds, service_level_goal)
VALUES ('support', 'longest_idle', 30, 80), ('sales', 'longest_idle', 20, 80),
       ('billing', 'fewest_calls', 20, 85), ('technical', 'highest_proficiency', 60, 70),
       ('vip', 'longest_idle', 10, 90);
INSERT INTO ccroute.schedule (name) VALUES ('office hours');
INSERT INTO ccroute.schedule_slot (schedule_id, dow, opens, closes)
SELECT s.schedule_id, d, time '08:00', time '20:00' FROM ccroute.schedule s, generate_series(1, 5) d
UNION ALL
SELECT s.schedule_id, 6, time '09:00', time '18:00' FROM ccroute.schedule s;
INSERT INTO ccroute.holiday (day, name)
SELECT make_date(y, 1, d), 'New Year'
  FROM generate_series(extract(year FROM :'end_date'::date - make_interval(months => :months))::int,
                       extract(year FROM :'end_date'::date)::int) y,
       generate_series(1, 3) d;
-- Agents 1..N: extension 2001.., wrap-up of 10 to 30 seconds.
INSERT INTO ccroute.agent (name, extension, wrapup_seconds)
SELECT 'Agent ' || lpad(n::text, 3, '0'), (2000 + n)::text, (ARRAY[10, 15, 20, 30])[n % 4 + 1]
  FROM generate_series(1, :agents) n ORDER BY n;
RESET SESSION AUTHORIZATION;

-- Numbers +8150 TTTT NNNN (TTTT: the tenant id), in turn to each skill, open in office hours.
SELECT ccroute.add_did(:'tenant', '+8150' || lpad(:tenant_id::text, 4, '0') || lpad(i::text, 4, '0'),
                       (ARRAY['support', 'sales', 'billing', 'technical', 'vip'])[(i - 1) % 5 + 1])
  FROM generate_series(1, :dids) i ORDER BY i;

SET SESSION AUTHORIZATION :"admin_role";
UPDATE ccroute.did SET schedule_id = (SELECT schedule_id FROM ccroute.schedule);
RESET SESSION AUTHORIZATION;

\ir generate/model.sql
\ir generate/presence.sql
\ir generate/calls.sql
\ir generate/load.sql

COMMIT;
ANALYZE ccroute.call_history;
ANALYZE ccroute.agent_state_history;
\o
\unset QUIET
SELECT :'tenant' AS tenant, :tenant_id AS tenant_id,
       (SELECT count(*) FROM ccroute.call_history WHERE tenant_id = :tenant_id) AS calls,
       (SELECT count(*) FROM ccroute.agent_state_history WHERE tenant_id = :tenant_id) AS presence_changes,
       :'gen_start'::timestamptz AS history_from, :'gen_end'::timestamptz AS history_to;
