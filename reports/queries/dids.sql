-- dids: each dialed number's calls per period. Variables: from, to (dates, to included), grain.
SELECT to_char(local_start, 'YYYY-MM-DD HH24:MI') AS period, did, did_label, calls, offered,
       answered, abandoned, short_abandoned, not_offered,
       round(100 * service_level, 2) AS service_level_percent, average_speed_of_answer,
       longest_wait_seconds
  FROM ccroute.report_by_did
 WHERE grain = :'grain' AND local_start >= :'from'::date AND local_start < :'to'::date + 1
 ORDER BY local_start, did;
