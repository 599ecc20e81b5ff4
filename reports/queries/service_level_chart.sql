-- service_level_chart: the chart's data, one row per period, for each skill (in name order) its
-- service level then its goal, in percent: tab-separated, for charts/service_level.gp.
\pset format unaligned
\pset fieldsep '\t'
\pset footer off
SELECT to_char(r.local_start, 'YYYY-MM-DD HH24:MI') AS period, c.series, c.value, c.ord
  FROM ccroute.report_by_skill r
  JOIN (SELECT skill, dense_rank() OVER (ORDER BY skill) AS n
          FROM (SELECT DISTINCT skill FROM ccroute.report_by_skill
                 WHERE grain = :'grain' AND local_start >= :'from'::date
                   AND local_start < :'to'::date + 1) s) k USING (skill)
 CROSS JOIN LATERAL (VALUES (r.skill, round(100 * r.service_level, 2), 2 * k.n),
                            (r.skill || ' goal', r.service_level_goal::numeric, 2 * k.n + 1)) c (series, value, ord)
 WHERE r.grain = :'grain' AND r.local_start >= :'from'::date AND r.local_start < :'to'::date + 1
 ORDER BY r.local_start
\crosstabview period series value ord
