-- model.sql (part of generate_history.sql): who takes which calls, and how many calls arrive in
-- each quarter hour. Temporary tables gen_*; local time (the session's time zone is the tenant's).

SELECT setseed(:seed);
SELECT :'end_date'::date::timestamptz - make_interval(months => :months) AS gen_start,
       :'end_date'::date::timestamptz AS gen_end \gset

-- Each skill's share of the calls; agents are given primary skills in the same proportions.
CREATE TEMP TABLE gen_skill ON COMMIT DROP AS
SELECT s.skill_id, s.name, s.strategy, v.ord, v.share,
       sum(v.share) OVER (ORDER BY v.ord) - v.share AS share_from,
       sum(v.share) OVER (ORDER BY v.ord) AS share_to
  FROM ccroute.skill s
  JOIN (VALUES (1, 'support', 0.35), (2, 'sales', 0.30), (3, 'billing', 0.18),
               (4, 'technical', 0.12), (5, 'vip', 0.05)) AS v (ord, name, share) USING (name)
 WHERE s.tenant_id = :tenant_id;

CREATE TEMP TABLE gen_did ON COMMIT DROP AS
SELECT d.did, d.skill_id, row_number() OVER (PARTITION BY d.skill_id ORDER BY d.did) AS idx,
       count(*) OVER (PARTITION BY d.skill_id) AS of_skill
  FROM ccroute.did d WHERE d.tenant_id = :tenant_id;

-- Shifts: starts at 8 to 12 (most at 9), nine hours, never past 20:00. Three agents in ten also
-- work Saturdays and take Wednesday or Thursday off. A secondary skill for two in five.
CREATE TEMP TABLE gen_agent ON COMMIT DROP AS
SELECT a.agent_id, a.extension, a.wrapup_seconds AS wrap, g.n,
       p.skill_id AS primary_skill,
       CASE WHEN g.n % 5 IN (1, 3) THEN q.skill_id END AS secondary_skill,
       (ARRAY[8, 9, 9, 10, 9, 10, 11, 8, 12, 9])[g.n % 10 + 1] AS shift_hour,
       g.n % 10 IN (0, 3, 6) AS saturdays,
       CASE WHEN g.n % 2 = 0 THEN 3 ELSE 4 END AS day_off
  FROM ccroute.agent a
 CROSS JOIN LATERAL (SELECT (a.extension::int - 2000) AS n) g
  JOIN gen_skill p ON (g.n - 0.5) / :agents >= p.share_from AND (g.n - 0.5) / :agents < p.share_to
  JOIN gen_skill q ON q.ord = p.ord % 5 + 1
 WHERE a.tenant_id = :tenant_id;

GRANT SELECT ON gen_agent TO :"admin_role";
SET SESSION AUTHORIZATION :"admin_role";
INSERT INTO ccroute.agent_skill (agent_id, skill_id, proficiency)
SELECT agent_id, primary_skill, 5 + n % 5 FROM gen_agent
UNION ALL
SELECT agent_id, secondary_skill, 3 FROM gen_agent WHERE secondary_skill IS NOT NULL;
RESET SESSION AUTHORIZATION;

-- The curve. Weekday calls by the hour (local), Monday busiest, Saturday a third, Sunday and
-- holidays a sixth (calls out of office hours are answered "closed"), a little seasonality
-- (March high, September low), noise per day and per quarter hour. Once a month, on its first
-- Monday (the day after the bills arrive), a spike centred on 10:30 (sigma 40 minutes) brings
-- 8.5% of the month's calls: its peak hour is the source's 15,000 calls an hour at 300,000 a month.
CREATE TEMP TABLE gen_day ON COMMIT DROP AS
SELECT d::date AS day, 0.9 + 0.2 * random() AS noise,
       EXISTS (SELECT FROM ccroute.holiday h WHERE h.tenant_id = :tenant_id AND h.day = d::date) AS holiday
  FROM generate_series(:'gen_start'::timestamptz, :'gen_end'::timestamptz - interval '1 day', interval '1 day') d
 ORDER BY d;

CREATE TEMP TABLE gen_curve ON COMMIT DROP AS
WITH raw AS (
    SELECT t AS slot, d.day, d.holiday, d.noise AS day_noise, random() AS slot_noise
      FROM (SELECT t FROM generate_series(:'gen_start'::timestamptz,
                                         :'gen_end'::timestamptz - interval '15 minutes',
                                         interval '15 minutes') t ORDER BY t) s
      JOIN gen_day d ON d.day = s.t::date
), shaped AS (
    -- x: the slot's middle, in hours, less half an hour (an hour's weight is its middle's).
    SELECT r.*, extract(isodow FROM r.slot)::int AS dow,
           extract(hour FROM r.slot) + extract(minute FROM r.slot) / 60 + 0.125 - 0.5 AS x
      FROM raw r
)
SELECT s.slot, s.day, s.dow,
       NOT s.holiday AND EXISTS (
           SELECT FROM ccroute.schedule_slot o
            WHERE o.tenant_id = :tenant_id AND o.dow = s.dow
              AND s.slot::time >= o.opens AND s.slot::time < o.closes) AS open,
       (h.w[(floor(s.x)::int + 24) % 24 + 1] * (1 - (s.x - floor(s.x)))
        + h.w[(floor(s.x)::int + 25) % 24 + 1] * (s.x - floor(s.x)))
       * CASE WHEN s.holiday THEN 0.17 ELSE (ARRAY[1.15, 1.05, 1.0, 0.98, 0.95, 0.35, 0.17])[s.dow] END
       * (1 + 0.08 * cos(2 * pi() * (extract(month FROM s.slot) - 3) / 12))
       * s.day_noise * (0.85 + 0.3 * s.slot_noise) AS weight,
       -- The month's spike, on its first Monday (not a holiday).
       CASE WHEN s.dow = 1 AND extract(day FROM s.slot) <= 7 AND NOT s.holiday
            THEN exp(-0.5 * ((extract(epoch FROM s.slot - (s.day + time '10:30')) + 450) / 2400) ^ 2)
            ELSE 0 END AS spike_weight
  FROM shaped s
 CROSS JOIN (SELECT ARRAY[0.4, 0.25, 0.2, 0.15, 0.15, 0.25, 0.6, 1.5, 5, 9, 10, 9,
                          7, 8, 8.5, 8, 7, 5.5, 4, 3, 1.5, 1, 0.8, 0.6]::float8[] AS w) h;
UPDATE gen_curve SET spike_weight = 0 WHERE spike_weight < 0.001;

-- Whole calls per slot, adding up to exactly months x calls_per_month: the spikes take their
-- share of each month that has one, the curve the rest (running sums, floored).
CREATE TEMP TABLE gen_slot ON COMMIT DROP AS
WITH spikes AS (
    SELECT date_trunc('month', day) AS month, sum(spike_weight)::numeric AS w
      FROM gen_curve WHERE spike_weight > 0 GROUP BY 1
), totals AS (
    SELECT round(0.085 * :calls_per_month) AS per_spike,
           :months::numeric * :calls_per_month
           - round(0.085 * :calls_per_month) * (SELECT count(*) FROM spikes) AS regular,
           (SELECT sum(weight)::numeric FROM gen_curve) AS w
), upto AS (
    SELECT c.*,
           t.regular * sum(c.weight::numeric) OVER (ORDER BY c.slot) / t.w AS regular_upto,
           coalesce(t.per_spike * sum(c.spike_weight::numeric) OVER (PARTITION BY p.month ORDER BY c.slot)
                    / p.w, 0) AS spike_upto,
           p.month
      FROM gen_curve c CROSS JOIN totals t
      LEFT JOIN spikes p ON p.month = date_trunc('month', c.day)
)
SELECT slot, day, dow, open,
       (floor(regular_upto) - floor(coalesce(lag(regular_upto) OVER (ORDER BY slot), 0))
        + floor(spike_upto) - floor(coalesce(lag(spike_upto) OVER (PARTITION BY month ORDER BY slot), 0)))::int AS calls
  FROM upto;
CREATE UNIQUE INDEX ON gen_slot (slot);
