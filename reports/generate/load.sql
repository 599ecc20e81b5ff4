-- load.sql (part of generate_history.sql): the generated calls and presence changes into the
-- history, in time order (as the router writes them), call_seq from the router's own sequence.

-- Every month filled needs its partition first (the maintenance's own helper makes it, by UTC
-- months), or its rows would wait in the default partition.
SELECT ccroute.ensure_month_partition(h.parent, m::date)
  FROM ccroute.partitioned_history() h,
       generate_series(date_trunc('month', :'gen_start'::timestamptz AT TIME ZONE 'UTC'),
                       :'gen_end'::timestamptz AT TIME ZONE 'UTC', interval '1 month') m
 WHERE h.parent IN ('ccroute.call_history'::regclass, 'ccroute.agent_state_history'::regclass);

INSERT INTO ccroute.call_history (tenant_id, call_seq, call_id, caller, dialed, facts, action,
    target, sip_status, reason, skill_id, agent_id, attempts, outcome, explanation, arrived_at,
    offered_at, ringing_at, answered_at, ended_at, wait_seconds, talk_seconds, wrap_up_seconds)
SELECT :tenant_id, nextval('ccroute.live_call_call_seq_seq'), c.call_id, c.caller, c.dialed, '{}',
       c.action, c.target, c.sip_status, c.reason, c.skill_id, c.agent_id, c.attempts, c.outcome,
       c.explanation, c.arrived_at, c.offered_at, c.ringing_at, c.answered_at, c.ended_at,
       extract(epoch FROM coalesce(c.answered_at, c.ended_at) - c.arrived_at),
       extract(epoch FROM c.ended_at - c.answered_at), c.wrap
  FROM (SELECT * FROM gen_call WHERE arrived_at >= :'gen_start' AND arrived_at < :'gen_end'
         ORDER BY arrived_at, call_id) c;

INSERT INTO ccroute.agent_state_history (tenant_id, agent_id, changed_at, presence, reason)
SELECT :tenant_id, agent_id, changed_at, presence, reason
  FROM gen_presence WHERE changed_at < :'gen_end' ORDER BY changed_at, agent_id;
