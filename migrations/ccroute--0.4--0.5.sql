-- ccroute 0.5: call events in batches. A proxy no longer spends a round trip and a commit on
-- each answer and each end: it queues them with the moment they happened and sends many calls'
-- events in one statement, one commit. Timestamps are the proxy's, so a batch (or a backlog
-- sent after an outage) records when calls were answered and ended, not when the database
-- heard of it.

------------------------------------------------------------------------------------------------
-- The events a proxy may batch: those that never lead to a new decision. A no answer, a busy or
-- a rejection is followed at once by the next route_call for the same call, which must see it:
-- call_event takes those one at a time.
--
-- Within a batch, each tenant's events are applied ringing first, then answers, then ends: the
-- order one call's events always come in. The times are clamped to what the database knows
-- (an answer not before the offer, an end not before the answer, nothing after now), so a
-- proxy whose clock runs ahead or behind cannot produce negative durations.

CREATE FUNCTION ccroute.call_events(p_tenant bigint[], p_call bigint[], p_event text[],
                                    p_at timestamptz[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
-- Each tenant's statements differ only by the tenant: planned once, not for every tenant. Every
-- statement is a key lookup, as in route_call, whatever size live_call had when the plan was
-- made.
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    t bigint;
    has_ringing boolean;
    has_answered boolean;
    has_end boolean;
    n integer;
    applied integer := 0;
BEGIN
    IF cardinality(p_tenant) IS DISTINCT FROM cardinality(p_call)
       OR cardinality(p_tenant) IS DISTINCT FROM cardinality(p_event)
       OR cardinality(p_tenant) IS DISTINCT FROM cardinality(p_at) THEN
        RAISE EXCEPTION 'call events: the four arrays must have the same length'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT FROM unnest(p_tenant, p_call, p_event, p_at) AS e(tn, c, ev, at)
                WHERE tn IS NULL OR c IS NULL OR at IS NULL OR ev IS NULL
                   OR ev NOT IN ('ringing', 'answered', 'ended', 'abandoned')) THEN
        RAISE EXCEPTION 'call events: each needs a tenant, a call, a time, and one of ringing, answered, ended or abandoned'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A no answer, a busy or a rejection goes through call_event, one at a time.';
    END IF;

    -- Each tenant's statements run only for the kinds of event it has in the batch: a batch
    -- usually holds one or two events of each of many tenants.
    FOR t, has_ringing, has_answered, has_end IN
        SELECT tn, bool_or(ev = 'ringing'), bool_or(ev = 'answered'), bool_or(ev IN ('ended', 'abandoned'))
          FROM unnest(p_tenant, p_event) AS u(tn, ev) GROUP BY tn
    LOOP
        PERFORM set_config('ccroute.tenant_context', t::text, true);

        IF has_ringing THEN
            WITH e AS (
                SELECT c, min(at) AS at FROM unnest(p_tenant, p_call, p_event, p_at) AS u(tn, c, ev, at)
                 WHERE tn = t AND ev = 'ringing' GROUP BY c
            ), rung AS (
                -- A ringing that arrives after the call was offered to the next agent is not that
                -- agent's: it is ignored.
                UPDATE ccroute.live_call l
                   SET state = 'ringing', ringing_at = least(e.at, clock_timestamp())
                  FROM e
                 WHERE l.tenant_id = t AND l.call_seq = e.c AND l.state = 'offered'
                   AND e.at >= coalesce(l.offered_at, l.arrived_at)
                RETURNING 1
            )
            SELECT count(*) INTO n FROM rung;
            applied := applied + n;
        END IF;

        IF has_answered THEN
            WITH e AS (
                SELECT c, min(at) AS at FROM unnest(p_tenant, p_call, p_event, p_at) AS u(tn, c, ev, at)
                 WHERE tn = t AND ev = 'answered' GROUP BY c
            ), answered AS (
                UPDATE ccroute.live_call l
                   SET state = 'answered',
                       answered_at = greatest(coalesce(l.offered_at, l.arrived_at),
                                              least(e.at, clock_timestamp()))
                  FROM e
                 WHERE l.tenant_id = t AND l.call_seq = e.c AND l.state <> 'answered'
                RETURNING l.agent_id, l.answered_at
            ), on_call AS (
                UPDATE ccroute.agent_state s
                   SET state = 'on_call', since = a.answered_at, reserved_until = NULL,
                       no_answer_streak = 0
                  FROM answered a
                 WHERE s.tenant_id = t AND s.agent_id = a.agent_id
            )
            SELECT count(*) INTO n FROM answered;
            applied := applied + n;
        END IF;

        -- An answered agent goes to wrap-up (or is ready at once) with its day's counters
        -- updated; an agent whose phone was still ringing is free again, keeping its place.
        IF has_end THEN
            WITH e AS (
                SELECT c, min(at) AS at FROM unnest(p_tenant, p_call, p_event, p_at) AS u(tn, c, ev, at)
                 WHERE tn = t AND ev IN ('ended', 'abandoned') GROUP BY c
            ), gone AS (
                DELETE FROM ccroute.live_call l
                 USING e
                 WHERE l.tenant_id = t AND l.call_seq = e.c
                RETURNING l.*, greatest(coalesce(l.answered_at, l.arrived_at),
                                        least(e.at, clock_timestamp())) AS ended_at
            ), history AS (
                INSERT INTO ccroute.call_history (tenant_id, call_seq, call_id, caller, dialed, facts,
                    action, target, sip_status, reason, skill_id, agent_id, attempts, outcome,
                    explanation, arrived_at, offered_at, answered_at, ended_at, wait_seconds,
                    talk_seconds)
                SELECT g.tenant_id, g.call_seq, g.call_id, g.caller, g.dialed, g.facts, g.action,
                       g.target, NULL, NULL, g.skill_id, g.agent_id, g.attempts,
                       CASE WHEN g.answered_at IS NOT NULL THEN 'answered'
                            WHEN g.state = 'failed' THEN 'no_answer'
                            ELSE 'abandoned' END,
                       g.explanation, g.arrived_at, g.offered_at, g.answered_at, g.ended_at,
                       extract(epoch FROM coalesce(g.answered_at, g.ended_at) - g.arrived_at),
                       extract(epoch FROM g.ended_at - g.answered_at)
                  FROM gone g
                RETURNING 1
            ), freed AS (
                UPDATE ccroute.agent_state s
                   SET state = CASE WHEN g.answered_at IS NOT NULL AND a.wrapup_seconds > 0
                                    THEN 'wrap_up' ELSE 'ready' END,
                       available_at = CASE WHEN g.answered_at IS NOT NULL AND a.wrapup_seconds > 0
                                           THEN g.ended_at + make_interval(secs => a.wrapup_seconds) END,
                       since = g.ended_at, reserved_until = NULL,
                       idle_since = CASE WHEN g.answered_at IS NULL THEN s.idle_since
                                         ELSE g.ended_at + make_interval(secs => a.wrapup_seconds) END,
                       calls_today = CASE WHEN g.answered_at IS NULL THEN s.calls_today
                                          ELSE CASE WHEN s.stats_day = d.local_day THEN s.calls_today ELSE 0 END + 1 END,
                       talk_seconds_today = CASE WHEN g.answered_at IS NULL THEN s.talk_seconds_today
                                                 ELSE CASE WHEN s.stats_day = d.local_day THEN s.talk_seconds_today ELSE 0 END
                                                      + extract(epoch FROM g.ended_at - g.answered_at)::integer END,
                       stats_day = CASE WHEN g.answered_at IS NULL THEN s.stats_day ELSE d.local_day END
                  FROM gone g
                  JOIN ccroute.agent a ON a.tenant_id = g.tenant_id AND a.agent_id = g.agent_id
                  JOIN ccroute.tenant tt ON tt.tenant_id = g.tenant_id
                 CROSS JOIN LATERAL (SELECT (g.ended_at AT TIME ZONE tt.time_zone)::date AS local_day) d
                 WHERE s.tenant_id = g.tenant_id AND s.agent_id = g.agent_id
                   AND (g.answered_at IS NOT NULL OR s.state = 'reserved')
            )
            SELECT count(*) INTO n FROM history;
            applied := applied + n;
        END IF;
    END LOOP;
    RETURN applied;
END
$$;

REVOKE ALL ON FUNCTION ccroute.call_events(bigint[], bigint[], text[], timestamptz[]) FROM PUBLIC;
ALTER FUNCTION ccroute.call_events(bigint[], bigint[], text[], timestamptz[]) OWNER TO ccroute_owner;
GRANT EXECUTE ON FUNCTION ccroute.call_events(bigint[], bigint[], text[], timestamptz[]) TO ccroute_kamailio;

------------------------------------------------------------------------------------------------
-- call_event, one event at a time as before, now takes the batchable events through
-- call_events, so that there is one definition of each transition.

CREATE OR REPLACE FUNCTION ccroute.call_event(p_tenant bigint, p_call bigint, p_event text,
                                              p_sip_status integer DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    c ccroute.live_call;
    outcome text;
BEGIN
    IF p_event NOT IN ('ringing', 'answered', 'no_answer', 'busy', 'rejected', 'ended', 'abandoned') THEN
        RAISE EXCEPTION 'unknown call event "%"', p_event
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Events are ringing, answered, no_answer, busy, rejected, ended and abandoned.';
    END IF;
    PERFORM set_config('ccroute.tenant_context', p_tenant::text, true);

    SELECT * INTO c FROM ccroute.live_call l
     WHERE l.tenant_id = p_tenant AND l.call_seq = p_call FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'unknown_call';
    END IF;

    IF p_event IN ('ringing', 'answered', 'ended', 'abandoned') THEN
        IF p_event = 'ringing' THEN
            -- Losing this one costs nothing (the answer or the expiry follows): no wait for the disk.
            PERFORM set_config('synchronous_commit', 'off', true);
        END IF;
        PERFORM ccroute.call_events(ARRAY[p_tenant], ARRAY[p_call], ARRAY[p_event],
                                    ARRAY[clock_timestamp()]);
        IF p_event IN ('ended', 'abandoned') THEN
            PERFORM set_config('ccroute.tenant_context', p_tenant::text, true);
            IF p_sip_status IS NOT NULL THEN
                UPDATE ccroute.call_history h SET sip_status = p_sip_status
                 WHERE h.tenant_id = p_tenant AND h.call_seq = p_call AND h.arrived_at = c.arrived_at;
            END IF;
            SELECT h.outcome INTO outcome FROM ccroute.call_history h
             WHERE h.tenant_id = p_tenant AND h.call_seq = p_call AND h.arrived_at = c.arrived_at;
            RETURN coalesce(outcome, 'unknown_call');
        END IF;
        IF p_event = 'ringing' THEN
            RETURN CASE WHEN c.state = 'offered' THEN 'ringing' ELSE c.state END;
        END IF;
        RETURN 'answered';
    END IF;

    -- no_answer, busy or rejected.
    IF c.state = 'answered' THEN
        RETURN c.state;
    END IF;
    IF c.agent_id IS NULL THEN
        -- A destination (another PBX, voicemail) refused it: there is no next agent, the
        -- caller gets the refusal and the call is over.
        outcome := CASE p_event WHEN 'no_answer' THEN 'no_answer' ELSE 'busy' END;
        PERFORM ccroute.finish_call(c, outcome, p_sip_status);
        RETURN outcome;
    END IF;
    UPDATE ccroute.live_call SET state = 'failed', agent_id = NULL
     WHERE tenant_id = p_tenant AND call_seq = p_call;
    PERFORM ccroute.offer_unanswered(p_tenant, c.agent_id);
    RETURN 'failed';
END
$$;
