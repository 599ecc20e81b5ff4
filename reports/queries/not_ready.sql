-- not_ready: each agent's time ready and not ready, by not-ready reason, per period.
-- Variables: from, to (dates, to included), grain.
SELECT to_char(local_start, 'YYYY-MM-DD HH24:MI') AS period, agent, extension, presence,
       reason, seconds
  FROM ccroute.report_agent_presence
 WHERE grain = :'grain' AND local_start >= :'from'::date AND local_start < :'to'::date + 1
 ORDER BY local_start, extension, presence, reason NULLS FIRST;
