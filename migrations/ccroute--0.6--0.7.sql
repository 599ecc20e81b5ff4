-- ccroute 0.7: history that analysts report on and the law deletes. Calls and agents' presence
-- are kept in monthly partitions, maintenance creates the coming months and enforces every
-- retention limit to the day, recordings' files go with their rows (only once the deletion
-- commits), and a cancelled tenant is gone 30 days later.
\echo Use "ALTER EXTENSION ccroute UPDATE TO '0.7'" to load this file. \quit

------------------------------------------------------------------------------------------------
-- Settings: what reports measure against and how long data is kept. Retention limits are
-- maxima: a tenant may keep less, never more.

ALTER TABLE ccroute.tenant
    ADD COLUMN report_retention interval NOT NULL DEFAULT '12 months'
        CONSTRAINT "report_retention: 1 month to 12 months"
        CHECK (report_retention BETWEEN '1 month' AND '12 months'),
    ADD COLUMN recording_retention interval NOT NULL DEFAULT '3 months'
        CONSTRAINT "recording_retention: 1 day to 3 months"
        CHECK (recording_retention BETWEEN '1 day' AND '3 months'),
    -- A caller who hangs up within this many seconds counts as a short abandon (most likely a
    -- wrong number), reported apart from real abandons.
    ADD COLUMN short_abandon_seconds integer NOT NULL DEFAULT 5
        CONSTRAINT "short_abandon_seconds: 0 to 60" CHECK (short_abandon_seconds BETWEEN 0 AND 60);

ALTER TABLE ccroute.skill
    -- Service level: the share of calls answered within service_level_seconds; the goal is the
    -- share the tenant aims at (charts draw it).
    ADD COLUMN service_level_seconds integer NOT NULL DEFAULT 20
        CONSTRAINT "service_level_seconds: 1 to 3600" CHECK (service_level_seconds BETWEEN 1 AND 3600),
    ADD COLUMN service_level_goal smallint NOT NULL DEFAULT 80
        CONSTRAINT "service_level_goal: 1 to 100 percent" CHECK (service_level_goal BETWEEN 1 AND 100);

------------------------------------------------------------------------------------------------
-- Call history keeps when the phone rang and how long the agent's wrap-up was to last.

ALTER TABLE ccroute.call_history
    ADD COLUMN ringing_at timestamptz,
    ADD COLUMN wrap_up_seconds integer;

CREATE INDEX call_history_by_arrival ON ccroute.call_history (tenant_id, arrived_at);

CREATE OR REPLACE FUNCTION ccroute.finish_call(p_call ccroute.live_call, p_outcome text,
                                               p_sip_status integer DEFAULT NULL, p_reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM ccroute.live_call l
     WHERE l.tenant_id = (p_call).tenant_id AND l.call_seq = (p_call).call_seq;
    INSERT INTO ccroute.call_history (tenant_id, call_seq, call_id, caller, dialed, facts, action,
        target, sip_status, reason, skill_id, agent_id, attempts, outcome, explanation, arrived_at,
        offered_at, ringing_at, answered_at, ended_at, wait_seconds, talk_seconds)
    VALUES ((p_call).tenant_id, (p_call).call_seq, (p_call).call_id, (p_call).caller,
        (p_call).dialed, (p_call).facts, (p_call).action, (p_call).target, p_sip_status, p_reason,
        (p_call).skill_id, (p_call).agent_id, (p_call).attempts, p_outcome, (p_call).explanation,
        (p_call).arrived_at, (p_call).offered_at, (p_call).ringing_at, (p_call).answered_at,
        clock_timestamp(),
        extract(epoch FROM coalesce((p_call).answered_at, now()) - (p_call).arrived_at),
        extract(epoch FROM now() - (p_call).answered_at));
END
$$;

CREATE OR REPLACE FUNCTION ccroute.call_events(p_tenant bigint[], p_call bigint[], p_event text[],
                                    p_at timestamptz[], p_sip_status integer[] DEFAULT NULL)
RETURNS integer
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
                SELECT c, min(at) AS at, max(st) AS st
                  FROM unnest(p_tenant, p_call, p_event, p_at, p_sip_status) AS u(tn, c, ev, at, st)
                 WHERE tn = t AND ev IN ('ended', 'abandoned') GROUP BY c
            ), gone AS (
                DELETE FROM ccroute.live_call l
                 USING e
                 WHERE l.tenant_id = t AND l.call_seq = e.c
                RETURNING l.*, greatest(coalesce(l.answered_at, l.arrived_at),
                                        least(e.at, clock_timestamp())) AS ended_at,
                          e.st AS end_status
            ), history AS (
                INSERT INTO ccroute.call_history (tenant_id, call_seq, call_id, caller, dialed, facts,
                    action, target, sip_status, reason, skill_id, agent_id, attempts, outcome,
                    explanation, arrived_at, offered_at, ringing_at, answered_at, ended_at,
                    wait_seconds, talk_seconds, wrap_up_seconds)
                SELECT g.tenant_id, g.call_seq, g.call_id, g.caller, g.dialed, g.facts, g.action,
                       g.target, g.end_status, NULL, g.skill_id, g.agent_id, g.attempts,
                       CASE WHEN g.answered_at IS NOT NULL THEN 'answered'
                            WHEN g.state = 'failed' THEN 'no_answer'
                            ELSE 'abandoned' END,
                       g.explanation, g.arrived_at, g.offered_at, g.ringing_at, g.answered_at,
                       g.ended_at,
                       extract(epoch FROM coalesce(g.answered_at, g.ended_at) - g.arrived_at),
                       extract(epoch FROM g.ended_at - g.answered_at),
                       CASE WHEN g.answered_at IS NOT NULL THEN
                           (SELECT a.wrapup_seconds FROM ccroute.agent a
                             WHERE a.tenant_id = g.tenant_id AND a.agent_id = g.agent_id) END
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


------------------------------------------------------------------------------------------------
-- Agents' presence over time: logged out, ready (which covers reserved, on a call and wrap-up,
-- whose times the call history holds exactly) and not ready with its reason. A row says "from
-- changed_at on, the agent was ...". Only changes of presence are written, by a trigger whose
-- condition the router's own updates (ready -> reserved -> on call -> wrap-up) never meet, so
-- routing writes nothing more.

CREATE TABLE ccroute.agent_state_history (
    tenant_id   bigint NOT NULL,
    change_seq  bigint GENERATED ALWAYS AS IDENTITY,
    agent_id    bigint NOT NULL,
    changed_at  timestamptz NOT NULL,
    presence    text NOT NULL
                CONSTRAINT "presence: logged_out, ready or not_ready"
                CHECK (presence IN ('logged_out', 'ready', 'not_ready')),
    reason      ccroute.label,                 -- why not ready
    PRIMARY KEY (tenant_id, change_seq, changed_at)
) PARTITION BY RANGE (changed_at);
CREATE TABLE ccroute.agent_state_history_default PARTITION OF ccroute.agent_state_history DEFAULT;
CREATE INDEX agent_state_history_by_agent ON ccroute.agent_state_history (tenant_id, agent_id, changed_at);
CREATE INDEX agent_state_history_by_time ON ccroute.agent_state_history (tenant_id, changed_at);

SELECT ccroute.protect_table(t::regclass, tenant_policy, false)
  FROM (VALUES ('ccroute.agent_state_history', true),
               ('ccroute.agent_state_history_default', false)) AS v (t, tenant_policy);
GRANT SELECT ON ccroute.agent_state_history TO ccroute_tenant_admin, ccroute_supervisor, ccroute_analyst;

CREATE FUNCTION ccroute.presence(p_state text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE p_state WHEN 'logged_out' THEN 'logged_out' WHEN 'not_ready' THEN 'not_ready'
                    ELSE 'ready' END;

CREATE FUNCTION ccroute.record_presence() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO ccroute.agent_state_history (tenant_id, agent_id, changed_at, presence, reason)
    VALUES (NEW.tenant_id, NEW.agent_id, NEW.since, ccroute.presence(NEW.state),
            CASE WHEN NEW.state = 'not_ready' THEN NEW.reason END);
    RETURN NULL;
END
$$;

-- The conditions are spelled out (not ccroute.presence()) so that the router's updates are
-- passed over without a function call.
CREATE TRIGGER presence_changed AFTER UPDATE ON ccroute.agent_state FOR EACH ROW
    WHEN ((OLD.state IN ('logged_out', 'not_ready') OR NEW.state IN ('logged_out', 'not_ready'))
          AND (OLD.state IS DISTINCT FROM NEW.state OR OLD.reason IS DISTINCT FROM NEW.reason))
    EXECUTE FUNCTION ccroute.record_presence();
CREATE TRIGGER presence_set AFTER INSERT ON ccroute.agent_state FOR EACH ROW
    WHEN (NEW.state <> 'logged_out')
    EXECUTE FUNCTION ccroute.record_presence();

------------------------------------------------------------------------------------------------
-- Deleting past retention. History and the audit log stay append-only for everyone; only the
-- owner's maintenance, with ccroute.maintenance on (which only the owner may set), deletes.

CREATE FUNCTION ccroute.maintenance_mode() RETURNS boolean
AS 'MODULE_PATHNAME', 'ccroute_maintenance_mode'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ccroute.history_is_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' AND ccroute.maintenance_mode() THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND current_user = 'ccroute_owner' AND TG_TABLE_NAME LIKE 'call_history%'
       AND OLD.outcome = 'expired' AND NEW.outcome = 'fallback'
       AND (NEW.tenant_id, NEW.call_seq, NEW.call_id, NEW.arrived_at)
           = (OLD.tenant_id, OLD.call_seq, OLD.call_id, OLD.arrived_at) THEN
        RETURN NEW;
    END IF;
    -- Named by the parent: a partition is an implementation detail.
    IF TG_TABLE_NAME LIKE 'call_history%' THEN
        RAISE EXCEPTION 'call history is append-only'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('%s on ccroute.call_history is refused.', TG_OP);
    END IF;
    RAISE EXCEPTION 'agent state history is append-only'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = pg_catalog.format('%s on ccroute.agent_state_history is refused.', TG_OP);
END
$$;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON ccroute.agent_state_history
    FOR EACH ROW EXECUTE FUNCTION ccroute.history_is_append_only();

CREATE OR REPLACE FUNCTION ccroute.audit_is_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Maintenance deletes rows past the audit retention, and blanks the personal fields of a
    -- purged tenant's rows.
    IF TG_OP = 'DELETE' AND ccroute.maintenance_mode() THEN
        RETURN OLD;
    ELSIF TG_OP = 'UPDATE' AND ccroute.maintenance_mode() THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = pg_catalog.format('%s on ccroute.audit_log is refused.', TG_OP);
END
$$;

CREATE POLICY maintenance_reads ON ccroute.audit_log FOR SELECT USING (ccroute.maintenance_mode());
CREATE POLICY maintenance_updates ON ccroute.audit_log FOR UPDATE USING (ccroute.maintenance_mode());
CREATE POLICY maintenance_deletes ON ccroute.audit_log FOR DELETE USING (ccroute.maintenance_mode());

ALTER FUNCTION ccroute.presence(text) OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.record_presence() OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.maintenance_mode() OWNER TO ccroute_owner;
-- Evaluated in the audit log's policies, so by everyone who reads it; true only for the owner.
REVOKE ALL ON FUNCTION ccroute.maintenance_mode() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ccroute.maintenance_mode()
    TO ccroute_tenant_admin, ccroute_supervisor, ccroute_analyst, ccroute_agent, ccroute_platform_dba;
REVOKE ALL ON FUNCTION ccroute.presence(text), ccroute.record_presence() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ccroute.presence(text)
    TO ccroute_tenant_admin, ccroute_supervisor, ccroute_analyst;

