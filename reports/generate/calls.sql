-- calls.sql (part of generate_history.sql): the calls, into gen_call.
--
-- Agents' side: while ready, an agent takes one call after another, an idle gap between them;
-- the gap is what makes the hour's agents as busy as its calls need (at most 90% of their
-- ready time, the ends of ready time leave them less). Each call: routed in 5-30 ms, ringing 0.1-0.4 s later, then
--   93.5% answered after a ring of about 5 s (lognormal), talk of about 2 minutes (lognormal,
--        mean 2.5 minutes, a long tail to an hour), then the agent's wrap-up; 4% of them had first rung another agent for
--        the 30-second ring timeout (attempts 2);
--   4%   abandoned while ringing (45% of them within 5 s: short abandons);
--   2.5% not answered: the ring timeout, then the caller gave up.
-- Since an agent's calls follow each other, no agent ever has two at once.
-- Callers' side: in office hours, the calls of each quarter hour beyond what agents took were
-- refused because nobody was free (480 No Agent Available; 3% of them refused as blocked
-- callers); out of office hours every call is closed (480 Closed).

-- The mean time a call keeps an agent busy (ring, talk, wrap-up, over the mix below), for the
-- idle gaps.
\set h_mean 170

CREATE TEMP TABLE gen_hour ON COMMIT DROP AS
WITH demand AS (
    SELECT date_trunc('hour', slot) AS hour, sum(calls) FILTER (WHERE open) AS calls
      FROM gen_slot GROUP BY 1
), supply AS (
    SELECT hour, sum(extract(epoch FROM ready_to - ready_from)) AS ready_seconds
      FROM gen_ready GROUP BY 1
)
SELECT s.hour, least(0.9, coalesce(d.calls, 0) * :h_mean / s.ready_seconds) AS busy
  FROM supply s LEFT JOIN demand d USING (hour);

CREATE TEMP TABLE gen_call (
    arrived_at timestamptz, offered_at timestamptz, ringing_at timestamptz,
    answered_at timestamptz, ended_at timestamptz, outcome text, action text, target text,
    sip_status integer, reason text, skill_id bigint, agent_id bigint, attempts smallint,
    dialed text, caller text, call_id text, explanation jsonb, wrap integer
) ON COMMIT DROP;

SELECT min(agent_id) AS agent_min FROM gen_agent \gset
SELECT domain AS sip_domain FROM ccroute.sip_domain WHERE tenant_id = :tenant_id \gset

INSERT INTO gen_call
WITH draws AS (
    -- At most 2.5 times the calls the sub-interval expects, and a few: enough, since the end
    -- of the sub-interval cuts them off.
    SELECT r.sub_id, r.agent_id, r.ready_from, extract(epoch FROM r.ready_to - r.ready_from) AS len,
           r.busy, i, random() AS u_gap, random() AS u_kind, random() AS u1, random() AS u2,
           random() AS u3, random() AS u4, random() AS u_route, random() AS u_rd, random() AS u_skill,
           random() AS u_did, random() AS u_caller, random() AS u_attempt, random() AS u_x
      FROM (SELECT r.*, h.busy FROM gen_ready r JOIN gen_hour h USING (hour)
             WHERE h.busy > 0.001 ORDER BY r.sub_id) r
     CROSS JOIN LATERAL generate_series(1, ceil(2.5 * extract(epoch FROM r.ready_to - r.ready_from)
                                                * r.busy / :h_mean)::int + 3) i
), shaped AS (
    SELECT d.*, a.wrap, a.extension, a.n AS agent_n,
           CASE WHEN u_kind < 0.935 THEN 'answered' WHEN u_kind < 0.975 THEN 'abandoned'
                ELSE 'no_answer' END AS outcome,
           0.2 + -ln(1 - u_gap) * :h_mean * (1 - busy) / busy AS gap,
           0.005 + 0.025 * u_route AS route,
           0.1 + 0.3 * u_rd AS rd,
           -- Two normal draws (Box-Muller) for the lognormal ring and talk.
           sqrt(-2 * ln(1 - u1)) * cos(2 * pi() * u2) AS z1,
           sqrt(-2 * ln(1 - u3)) * cos(2 * pi() * u4) AS z2,
           CASE WHEN u_skill < 0.8 OR a.secondary_skill IS NULL THEN a.primary_skill
                ELSE a.secondary_skill END AS skill_id
      FROM draws d JOIN gen_agent a USING (agent_id)
), timed AS (
    SELECT s.*,
           CASE s.outcome
               WHEN 'answered' THEN least(25, greatest(1.5, 5 * exp(0.45 * z1)))
               WHEN 'abandoned' THEN CASE WHEN u1 < 0.45 THEN 0.5 + 4.4 * u2
                                          ELSE least(29, 9 * exp(0.5 * z2)) END
               ELSE 30 END AS ring,
           CASE WHEN s.outcome = 'answered' THEN round(least(3600, greatest(5, 120 * exp(0.7 * z2)))::numeric, 3)
                ELSE 0 END AS talk
      FROM shaped s
), placed AS (
    SELECT t.*, route + rd + ring + talk + CASE WHEN outcome = 'answered' THEN wrap ELSE 0 END AS busy_for,
           sum(gap + route + rd + ring + talk + CASE WHEN outcome = 'answered' THEN wrap ELSE 0 END)
               OVER (PARTITION BY sub_id ORDER BY i) AS done_at
      FROM timed t
)
SELECT p.ready_from + make_interval(secs => p.done_at - p.busy_for)
           - CASE WHEN p.attempts = 2 THEN interval '30.3 seconds' ELSE interval '0' END AS arrived_at,
       p.ready_from + make_interval(secs => p.done_at - p.busy_for + p.route) AS offered_at,
       p.ready_from + make_interval(secs => p.done_at - p.busy_for + p.route + p.rd) AS ringing_at,
       CASE WHEN p.outcome = 'answered'
            THEN p.ready_from + make_interval(secs => p.done_at - p.busy_for + p.route + p.rd + p.ring) END,
       p.ready_from + make_interval(secs => p.done_at - p.busy_for + p.route + p.rd + p.ring + p.talk),
       p.outcome, 'agent', 'sip:' || p.extension || '@' || :'sip_domain',
       CASE p.outcome WHEN 'no_answer' THEN 408 END, NULL, p.skill_id, p.agent_id, p.attempts,
       g.did, '+8190' || lpad(floor(p.u_caller ^ 2 * 1e8)::bigint::text, 8, '0'),
       md5(p.u_x::text) || '@sbc.gen.ccroute.test',
       format('{"skills": [{"skill": %s, "strategy": "%s"}], "chosen": {"agent": %s, "key": %s}, '
              '"runners_up": [%s], "skipped": {"busy": %s, "not_ready": %s}, "rule_version": null}',
              p.skill_id, k.strategy, p.agent_id, round((600 * p.u_x)::numeric, 6),
              (SELECT string_agg(format('{"agent": %s, "key": %s}', :agent_min + (p.agent_n + j) % :agents,
                                        round((600 * p.u_x / (j + 1))::numeric, 6)), ', ')
                 FROM generate_series(1, least(3, :agents - 1)) j),
              floor(p.busy * :agents * p.u_x * 0.5), floor(p.u_gap * :agents * 0.1))::jsonb,
       CASE WHEN p.outcome = 'answered' THEN p.wrap END
  FROM (SELECT placed.*, CASE WHEN outcome = 'answered' AND u_attempt < 0.04 THEN 2 ELSE 1 END::smallint AS attempts
          FROM placed) p
  JOIN gen_skill k ON k.skill_id = p.skill_id
  JOIN gen_did g ON g.skill_id = p.skill_id AND g.idx = floor(p.u_did * g.of_skill) + 1
 WHERE p.done_at <= p.len;

-- Callers' side. The calls agents took are counted per quarter hour of their arrival; the rest
-- of the month's calls are shared among the open quarter hours in proportion to how far their
-- calls exceed that (and 1% of their calls at least), the closed ones keep all of theirs.
CREATE TEMP TABLE gen_refused ON COMMIT DROP AS
WITH taken AS (
    SELECT date_bin('15 minutes', arrived_at, :'gen_start'::timestamptz) AS slot, count(*) AS n
      FROM gen_call GROUP BY 1
), left_over AS (
    SELECT greatest(0, (SELECT sum(calls) FROM gen_slot WHERE open) - (SELECT count(*) FROM gen_call)) AS n
), weighted AS (
    SELECT s.slot, s.open, s.calls,
           CASE WHEN s.open THEN greatest(s.calls - coalesce(t.n, 0), 0) + 0.01 * s.calls ELSE 0 END::numeric AS w
      FROM gen_slot s LEFT JOIN taken t USING (slot)
), upto AS (
    SELECT w.*, l.n * sum(w.w) OVER (ORDER BY w.slot) / nullif(sum(w.w) OVER (), 0) AS upto
      FROM weighted w CROSS JOIN left_over l
)
SELECT slot, open,
       CASE WHEN open THEN (floor(coalesce(upto, 0)) - floor(coalesce(lag(upto) OVER (ORDER BY slot), 0)))::int
            ELSE calls END AS calls
  FROM upto;

INSERT INTO gen_call
SELECT r.arrived_at, NULL, NULL, NULL, r.arrived_at + make_interval(secs => 0.005 + 0.02 * r.u_route),
       r.outcome, 'reject', NULL, CASE r.outcome WHEN 'rejected' THEN 403 ELSE 480 END,
       CASE r.outcome WHEN 'closed' THEN 'Closed' WHEN 'rejected' THEN 'Blocked Caller'
                      ELSE 'No Agent Available' END,
       CASE WHEN r.outcome <> 'closed' THEN k.skill_id END, NULL, 1, g.did,
       '+8190' || lpad(floor(r.u_caller ^ 2 * 1e8)::bigint::text, 8, '0'),
       md5(r.u_x::text) || '@sbc.gen.ccroute.test',
       CASE WHEN r.outcome = 'no_agent' THEN
           format('{"skills": [{"skill": %s, "strategy": "%s"}], "skipped": {"busy": %s, "not_ready": %s, '
                  '"logged_out": %s}, "rule_version": null}', k.skill_id, k.strategy,
                  floor(:agents * (0.5 + 0.3 * r.u_x)), floor(:agents * 0.1 * r.u_route),
                  floor(:agents * 0.1 * r.u_caller))::jsonb END,
       NULL
  FROM (SELECT f.slot + make_interval(secs => 900 * random()) AS arrived_at,
               CASE WHEN NOT f.open THEN 'closed' WHEN random() < 0.03 THEN 'rejected'
                    ELSE 'no_agent' END AS outcome,
               random() AS u_skill, random() AS u_did, random() AS u_caller, random() AS u_route,
               random() AS u_x
          FROM (SELECT f.slot, f.open, i FROM gen_refused f CROSS JOIN LATERAL generate_series(1, f.calls) i
                 ORDER BY f.slot, i) f) r
  JOIN gen_skill k ON r.u_skill >= k.share_from AND r.u_skill < k.share_to
  JOIN gen_did g ON g.skill_id = k.skill_id AND g.idx = floor(r.u_did * g.of_skill) + 1;
