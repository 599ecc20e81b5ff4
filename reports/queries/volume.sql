-- volume: the tenant's calls per period (all its numbers): offered to agents, answered,
-- abandoned (short abandons apart), the rest. Variables: from, to (dates, to included), grain.
SELECT to_char(local_start, 'YYYY-MM-DD HH24:MI') AS period, sum(calls) AS calls,
       sum(offered) AS offered, sum(answered) AS answered, sum(abandoned) AS abandoned,
       sum(short_abandoned) AS short_abandoned, sum(other_unanswered) AS other_unanswered,
       sum(not_offered) AS not_offered
  FROM ccroute.report_by_did
 WHERE grain = :'grain' AND local_start >= :'from'::date AND local_start < :'to'::date + 1
 GROUP BY local_start
 ORDER BY local_start;
