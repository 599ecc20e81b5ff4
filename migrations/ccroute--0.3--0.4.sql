-- ccroute 0.4: a faster router. It keeps numbers, tenants (limits, time zone, holidays, SIP
-- domain), skills and agents' skills in each backend, instead of reading them at every call; the
-- tables they come from now tell every backend when they change. A live call no longer takes a
-- share lock on its tenant's and its agent's rows (the foreign keys did, at every call).

------------------------------------------------------------------------------------------------
-- The router's cache learns of changes through the relation cache's invalidation messages,
-- which reach every backend when the changing transaction commits.

CREATE FUNCTION ccroute.config_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'ccroute_config_changed'
LANGUAGE C;

DO $triggers$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant', 'sip_domain', 'skill', 'did', 'did_directory',
                             'did_requirement', 'schedule', 'schedule_slot', 'holiday', 'agent_skill']
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ccroute.%I '
            'FOR EACH STATEMENT EXECUTE FUNCTION ccroute.config_changed()', t);
        -- Also when changes arrive by logical replication (session_replication_role = replica).
        EXECUTE pg_catalog.format('ALTER TABLE ccroute.%I ENABLE ALWAYS TRIGGER config_changed', t);
    END LOOP;
END
$triggers$;

-- Sequential scans off: the router's plans are generic and kept for the connection's life, and
-- a plan made while live_call was nearly empty scanned all of it at every call once it was not
-- (measured: two thirds of the router's time). Every query of the router is a key lookup.
CREATE OR REPLACE FUNCTION ccroute.route_call(
    call_id text, caller text, dialed text,
    facts jsonb DEFAULT '{}', deadline timestamptz DEFAULT NULL,
    OUT action text, OUT target text, OUT sip_status integer, OUT reason text,
    OUT tenant_id bigint, OUT call_seq bigint, OUT agent_id bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'ccroute_route_call_v4'
LANGUAGE C CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
SET enable_seqscan = off;

------------------------------------------------------------------------------------------------
-- Live calls without foreign keys. Tenants are never deleted (they are cancelled), and the
-- router only records agents it has just reserved; what the key to agents still did, refusing
-- to delete an agent while a call holds it, a trigger does, without a lock at every call.

ALTER TABLE ccroute.live_call DROP CONSTRAINT live_call_tenant_id_fkey;
ALTER TABLE ccroute.live_call DROP CONSTRAINT live_call_tenant_id_agent_id_fkey;

CREATE FUNCTION ccroute.agent_not_on_a_call() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
BEGIN
    -- The row was visible to whoever deletes it: its tenant is theirs.
    PERFORM set_config('ccroute.tenant_context', OLD.tenant_id::text, true);
    IF EXISTS (SELECT FROM ccroute.live_call l
                WHERE l.tenant_id = OLD.tenant_id AND l.agent_id = OLD.agent_id) THEN
        RAISE EXCEPTION 'agent "%" is on a call', OLD.extension
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Remove the agent once the call has ended.';
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER not_on_a_call BEFORE DELETE ON ccroute.agent
    FOR EACH ROW EXECUTE FUNCTION ccroute.agent_not_on_a_call();

REVOKE ALL ON FUNCTION ccroute.config_changed(), ccroute.agent_not_on_a_call() FROM PUBLIC;
ALTER FUNCTION ccroute.config_changed() OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.agent_not_on_a_call() OWNER TO ccroute_owner;

------------------------------------------------------------------------------------------------
-- The answer and the end of a call in one statement each: the end moves the live call to
-- history and frees its agent (0.3 took five statements and a nested function for it, and
-- three for the answer; a busy contact center answers and ends as many calls as it routes).
-- The other events are as in 0.3.

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

    IF p_event IN ('ended', 'abandoned') THEN
        -- An answered agent goes to wrap-up (or is ready at once) with its day's counters
        -- updated; an agent whose phone was still ringing is free again, keeping its place.
        WITH gone AS (
            DELETE FROM ccroute.live_call l
             WHERE l.tenant_id = p_tenant AND l.call_seq = p_call
            RETURNING l.*
        ), history AS (
            INSERT INTO ccroute.call_history (tenant_id, call_seq, call_id, caller, dialed, facts,
                action, target, sip_status, reason, skill_id, agent_id, attempts, outcome,
                explanation, arrived_at, offered_at, answered_at, ended_at, wait_seconds,
                talk_seconds)
            SELECT g.tenant_id, g.call_seq, g.call_id, g.caller, g.dialed, g.facts, g.action,
                   g.target, p_sip_status, NULL, g.skill_id, g.agent_id, g.attempts,
                   CASE WHEN g.answered_at IS NOT NULL THEN 'answered'
                        WHEN g.state = 'failed' THEN 'no_answer'
                        ELSE 'abandoned' END,
                   g.explanation, g.arrived_at, g.offered_at, g.answered_at, clock_timestamp(),
                   extract(epoch FROM coalesce(g.answered_at, now()) - g.arrived_at),
                   extract(epoch FROM now() - g.answered_at)
              FROM gone g
            RETURNING call_history.outcome
        ), freed AS (
            UPDATE ccroute.agent_state s
               SET state = CASE WHEN g.answered_at IS NOT NULL AND a.wrapup_seconds > 0
                                THEN 'wrap_up' ELSE 'ready' END,
                   available_at = CASE WHEN g.answered_at IS NOT NULL AND a.wrapup_seconds > 0
                                       THEN now() + make_interval(secs => a.wrapup_seconds) END,
                   since = now(), reserved_until = NULL,
                   idle_since = CASE WHEN g.answered_at IS NULL THEN s.idle_since
                                     ELSE now() + make_interval(secs => a.wrapup_seconds) END,
                   calls_today = CASE WHEN g.answered_at IS NULL THEN s.calls_today
                                      ELSE CASE WHEN s.stats_day = d.local_day THEN s.calls_today ELSE 0 END + 1 END,
                   talk_seconds_today = CASE WHEN g.answered_at IS NULL THEN s.talk_seconds_today
                                             ELSE CASE WHEN s.stats_day = d.local_day THEN s.talk_seconds_today ELSE 0 END
                                                  + extract(epoch FROM now() - g.answered_at)::integer END,
                   stats_day = CASE WHEN g.answered_at IS NULL THEN s.stats_day ELSE d.local_day END
              FROM gone g
              JOIN ccroute.agent a ON a.tenant_id = g.tenant_id AND a.agent_id = g.agent_id
              JOIN ccroute.tenant t ON t.tenant_id = g.tenant_id
             CROSS JOIN LATERAL (SELECT (now() AT TIME ZONE t.time_zone)::date AS local_day) d
             WHERE s.tenant_id = g.tenant_id AND s.agent_id = g.agent_id
               AND (g.answered_at IS NOT NULL OR s.state = 'reserved')
        )
        SELECT h.outcome INTO outcome FROM history h;
        RETURN coalesce(outcome, 'unknown_call');
    END IF;

    IF p_event = 'answered' THEN
        -- One statement too: the call is answered and its agent on the call.
        WITH answered AS (
            UPDATE ccroute.live_call l SET state = 'answered', answered_at = now()
             WHERE l.tenant_id = p_tenant AND l.call_seq = p_call AND l.state <> 'answered'
            RETURNING l.agent_id
        ), on_call AS (
            UPDATE ccroute.agent_state s
               SET state = 'on_call', since = now(), reserved_until = NULL, no_answer_streak = 0
              FROM answered a
             WHERE s.tenant_id = p_tenant AND s.agent_id = a.agent_id
        )
        SELECT 'answered' INTO outcome FROM answered;
        IF outcome IS NULL AND NOT EXISTS (SELECT FROM ccroute.live_call l
                                            WHERE l.tenant_id = p_tenant AND l.call_seq = p_call) THEN
            RETURN 'unknown_call';
        END IF;
        RETURN 'answered';
    END IF;

    SELECT * INTO c FROM ccroute.live_call l
     WHERE l.tenant_id = p_tenant AND l.call_seq = p_call FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'unknown_call';
    END IF;

    IF p_event = 'ringing' THEN
        -- Losing this one costs nothing (the answer or the expiry follows): no wait for the disk.
        PERFORM set_config('synchronous_commit', 'off', true);
        UPDATE ccroute.live_call SET state = 'ringing', ringing_at = now()
         WHERE tenant_id = p_tenant AND call_seq = p_call AND state = 'offered';
        RETURN CASE WHEN c.state = 'offered' THEN 'ringing' ELSE c.state END;
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

------------------------------------------------------------------------------------------------
-- Agents' phones register with the proxy in their tenant's SIP domain (the digest realm),
-- under their extension, with the extension's own secret. The proxy reads that secret's HA1
-- through this function and nothing else; two tenants may both have extension 100.

CREATE FUNCTION ccroute.sip_credentials(p_domain text, p_extension text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint;
    ha1 text;
BEGIN
    IF p_domain IS NULL OR p_extension IS NULL OR length(p_domain) > 253 OR length(p_extension) > 32 THEN
        RETURN NULL;
    END IF;
    SELECT d.tenant_id INTO id FROM ccroute.sip_domain d
      JOIN ccroute.tenant t ON t.tenant_id = d.tenant_id AND t.status = 'active'
     WHERE d.domain = lower(p_domain);
    IF id IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('ccroute.tenant_context', id::text, true);
    SELECT a.sip_ha1 INTO ha1 FROM ccroute.agent a WHERE a.tenant_id = id AND a.extension = p_extension;
    RETURN ha1;
END
$$;
REVOKE ALL ON FUNCTION ccroute.sip_credentials(text, text) FROM PUBLIC;
ALTER FUNCTION ccroute.sip_credentials(text, text) OWNER TO ccroute_owner;
GRANT EXECUTE ON FUNCTION ccroute.sip_credentials(text, text) TO ccroute_kamailio;

------------------------------------------------------------------------------------------------
-- The proxy gave up waiting for a decision (its deadline passed) and sent the call to its
-- fallback; if the decision had committed all the same, the proxy says so afterwards: the
-- call leaves for history as gone to the fallback, and its agent, never rung, is free again
-- in its place. (A decision committing after the deadline is refused outright: commit_deadline.c.)

CREATE FUNCTION ccroute.withdraw_call(p_call_id text, p_dialed text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint;
    c ccroute.live_call;
BEGIN
    SELECT d.tenant_id INTO id FROM ccroute.did_directory d WHERE d.did = p_dialed;
    IF id IS NULL THEN
        RETURN 'unknown_call';
    END IF;
    PERFORM set_config('ccroute.tenant_context', id::text, true);
    SELECT * INTO c FROM ccroute.live_call l
     WHERE l.tenant_id = id AND l.call_id = p_call_id AND l.answered_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'unknown_call';
    END IF;
    IF c.agent_id IS NOT NULL THEN
        UPDATE ccroute.agent_state s SET state = 'ready', since = now(), reserved_until = NULL
         WHERE s.tenant_id = id AND s.agent_id = c.agent_id AND s.state = 'reserved';
    END IF;
    c.action := 'fallback';
    c.target := NULL;
    c.agent_id := NULL;
    PERFORM ccroute.finish_call(c, 'fallback', NULL, 'the proxy sent the call to its fallback');
    RETURN 'withdrawn';
END
$$;
REVOKE ALL ON FUNCTION ccroute.withdraw_call(text, text) FROM PUBLIC;
ALTER FUNCTION ccroute.withdraw_call(text, text) OWNER TO ccroute_owner;
GRANT EXECUTE ON FUNCTION ccroute.withdraw_call(text, text) TO ccroute_kamailio;
