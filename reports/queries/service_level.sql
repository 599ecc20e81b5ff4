-- service_level: each skill's service level per period (the share of its calls answered within
-- its target, DEFINITIONS.md), beside its goal. Variables: from, to (dates, to included), grain.
SELECT to_char(local_start, 'YYYY-MM-DD HH24:MI') AS period, skill, offered, answered,
       answered_within_target, service_level_calls,
       round(100 * service_level, 2) AS service_level_percent,
       service_level_goal AS goal_percent, service_level_seconds AS target_seconds,
       average_speed_of_answer, longest_wait_seconds
  FROM ccroute.report_by_skill
 WHERE grain = :'grain' AND local_start >= :'from'::date AND local_start < :'to'::date + 1
 ORDER BY local_start, skill;
