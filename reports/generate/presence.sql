-- presence.sql (part of generate_history.sql): agents' working days and their presence changes.
-- A working day: ready a few minutes before the shift, a short personal pause now and then, a
-- 15-minute break two hours in, an hour's lunch four hours in, a meeting or training some
-- days, an afternoon break seven hours in, logged out a few minutes after the shift. One
-- working day in twenty is missed (leave, sickness). Nobody works Sundays or holidays.

CREATE TEMP TABLE gen_agent_day ON COMMIT DROP AS
SELECT w.*, random() AS u_absent, random() AS u_login, random() AS u_personal,
       random() AS u_personal_at, random() AS u_personal_len, random() AS u_break1,
       random() AS u_lunch, random() AS u_meeting, random() AS u_meeting_kind,
       random() AS u_break2, random() AS u_logout
  FROM (SELECT a.agent_id, d.day,
               CASE WHEN extract(isodow FROM d.day) = 6 THEN d.day + time '09:00'
                    ELSE d.day + make_time(a.shift_hour, 0, 0) END::timestamptz AS shift_from,
               CASE WHEN extract(isodow FROM d.day) = 6 THEN d.day + time '18:00'
                    ELSE least(d.day + make_time(a.shift_hour, 0, 0) + interval '9 hours',
                               d.day + time '20:00') END::timestamptz AS shift_to
          FROM gen_agent a JOIN gen_day d
            ON NOT d.holiday
           AND CASE extract(isodow FROM d.day)::int
                   WHEN 7 THEN false
                   WHEN 6 THEN a.saturdays
                   ELSE NOT (a.saturdays AND extract(isodow FROM d.day) = a.day_off) END
         ORDER BY a.agent_id, d.day) w;
DELETE FROM gen_agent_day WHERE u_absent < 0.05;

CREATE TEMP TABLE gen_presence ON COMMIT DROP AS
SELECT d.agent_id, d.day, e.changed_at, e.presence, e.reason
  FROM gen_agent_day d
 CROSS JOIN LATERAL (VALUES
    (d.shift_from - u_login * interval '3 minutes', 'ready', NULL),
    (CASE WHEN u_personal < 0.2 THEN d.shift_from + interval '1 hour' + u_personal_at * interval '30 minutes' END,
     'not_ready', 'personal'),
    (CASE WHEN u_personal < 0.2 THEN d.shift_from + interval '1 hour' + u_personal_at * interval '30 minutes'
                                     + interval '5 minutes' + u_personal_len * interval '7 minutes' END,
     'ready', NULL),
    (d.shift_from + interval '2 hours' + u_break1 * interval '10 minutes', 'not_ready', 'break'),
    (d.shift_from + interval '2 hours 15 minutes' + u_break1 * interval '11 minutes', 'ready', NULL),
    (d.shift_from + interval '4 hours' + u_lunch * interval '15 minutes', 'not_ready', 'lunch'),
    (d.shift_from + interval '5 hours' + u_lunch * interval '15 minutes', 'ready', NULL),
    (CASE WHEN u_meeting < 0.12 THEN d.shift_from + interval '5 hours 30 minutes' + u_lunch * interval '15 minutes' END,
     'not_ready', CASE WHEN u_meeting_kind < 0.6 THEN 'meeting' ELSE 'training' END),
    (CASE WHEN u_meeting < 0.12 THEN d.shift_from + interval '6 hours 15 minutes' + u_lunch * interval '15 minutes' END,
     'ready', NULL),
    (d.shift_from + interval '7 hours' + u_break2 * interval '10 minutes', 'not_ready', 'break'),
    (d.shift_from + interval '7 hours 15 minutes' + u_break2 * interval '11 minutes', 'ready', NULL),
    (d.shift_to + u_logout * interval '5 minutes', 'logged_out', NULL)
 ) AS e (changed_at, presence, reason)
 WHERE e.changed_at IS NOT NULL;

-- The time each agent was ready, cut at the hours (the load of each hour sets how busy its
-- agents are).
CREATE TEMP TABLE gen_ready ON COMMIT DROP AS
WITH spans AS (
    SELECT agent_id, presence, changed_at AS ready_from,
           lead(changed_at) OVER (PARTITION BY agent_id ORDER BY changed_at) AS ready_to
      FROM gen_presence
)
SELECT row_number() OVER (ORDER BY s.agent_id, h) AS sub_id, s.agent_id,
       date_trunc('hour', h) AS hour,
       greatest(s.ready_from, h) AS ready_from, least(s.ready_to, h + interval '1 hour') AS ready_to
  FROM spans s
 CROSS JOIN LATERAL generate_series(date_trunc('hour', s.ready_from), s.ready_to, interval '1 hour') h
 WHERE s.presence = 'ready' AND least(s.ready_to, h + interval '1 hour') > greatest(s.ready_from, h);
