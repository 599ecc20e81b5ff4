-- agents: each agent's calls, time ready and not ready, and occupancy per period. Variables:
-- from, to (dates, to included), grain. Not-ready time by reason: the report not_ready.
SELECT to_char(local_start, 'YYYY-MM-DD HH24:MI') AS period, agent, extension, answered,
       talk_seconds, wrap_up_seconds, average_handle_time, ready_seconds, not_ready_seconds,
       busy_seconds, round(100 * occupancy, 2) AS occupancy_percent
  FROM ccroute.report_by_agent
 WHERE grain = :'grain' AND local_start >= :'from'::date AND local_start < :'to'::date + 1
 ORDER BY local_start, extension;
