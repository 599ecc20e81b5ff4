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
                    explanation, arrived_at, offered_at, answered_at, ended_at, wait_seconds,
                    talk_seconds)
                SELECT g.tenant_id, g.call_seq, g.call_id, g.caller, g.dialed, g.facts, g.action,
                       g.target, g.end_status, NULL, g.skill_id, g.agent_id, g.attempts,
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

REVOKE ALL ON FUNCTION ccroute.call_events(bigint[], bigint[], text[], timestamptz[], integer[]) FROM PUBLIC;
ALTER FUNCTION ccroute.call_events(bigint[], bigint[], text[], timestamptz[], integer[]) OWNER TO ccroute_owner;
GRANT EXECUTE ON FUNCTION ccroute.call_events(bigint[], bigint[], text[], timestamptz[], integer[]) TO ccroute_kamailio;

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
                                    ARRAY[clock_timestamp()], ARRAY[p_sip_status]);
        IF p_event IN ('ended', 'abandoned') THEN
            PERFORM set_config('ccroute.tenant_context', p_tenant::text, true);
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

------------------------------------------------------------------------------------------------
-- Tenants' routing rules, in Lua (rule_sandbox.c). A tenant has versions of its rule, each
-- saved only if it compiles in the sandbox, and at most one active; activating a version (or
-- rolling back to an earlier one) is one statement. Every change is audited.

CREATE TABLE ccroute.routing_rule (
    tenant_id   bigint NOT NULL DEFAULT ccroute.current_tenant()
                REFERENCES ccroute.tenant (tenant_id),
    version     integer NOT NULL,
    source      text NOT NULL,
    note        text,
    author      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    active      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, version)
);
CREATE UNIQUE INDEX routing_rule_active ON ccroute.routing_rule (tenant_id) WHERE active;

-- What went wrong when a rule ran on a call (the call itself was routed as if there were no
-- rule). At most one row per tenant, backend and second: a rule failing on every call must
-- not write as much as the calls.
CREATE TABLE ccroute.rule_error (
    tenant_id   bigint NOT NULL DEFAULT ccroute.current_tenant(),
    error_id    bigint GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL DEFAULT now(),
    version     integer NOT NULL,
    stop        text NOT NULL,
    message     text NOT NULL,
    call_id     text,
    PRIMARY KEY (tenant_id, error_id)
);

-- Where a rule may forward a call, by name: set by the platform, not by the tenant, so that a
-- rule is never a way to place calls to any number.
CREATE TABLE ccroute.destination (
    tenant_id   bigint NOT NULL DEFAULT ccroute.current_tenant()
                REFERENCES ccroute.tenant (tenant_id),
    name        text NOT NULL CHECK (name ~ '^[a-z0-9_]{1,63}$'),
    uri         text NOT NULL CHECK (uri ~ '^sips?:[^\s"<>]{1,250}$'),
    PRIMARY KEY (tenant_id, name)
);

SELECT ccroute.protect_table(t::regclass, true, audit)
  FROM (VALUES ('ccroute.routing_rule', true), ('ccroute.rule_error', false),
               ('ccroute.destination', true)) AS v (t, audit);

-- The router keeps the active rule and the destinations in its cache: they tell it of changes.
DO $triggers$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['routing_rule', 'destination'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ccroute.%I '
            'FOR EACH STATEMENT EXECUTE FUNCTION ccroute.config_changed()', t);
        EXECUTE pg_catalog.format('ALTER TABLE ccroute.%I ENABLE ALWAYS TRIGGER config_changed', t);
    END LOOP;
END
$triggers$;

-- NULL when the source compiles in the sandbox (with the current limits), else why not, as
-- "stop: message" with the Lua error's line.
CREATE FUNCTION ccroute.rule_problem(p_source text) RETURNS text
AS 'MODULE_PATHNAME', 'ccroute_rule_problem'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION ccroute.save_rule(p_source text, p_note text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint := ccroute.enter_own_tenant();
    problem text;
    v integer;
BEGIN
    IF NOT pg_has_role(session_user, 'ccroute_tenant_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'only a tenant admin saves routing rules' USING ERRCODE = 'insufficient_privilege';
    END IF;
    problem := ccroute.rule_problem(p_source);
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'the rule was not saved: %', problem
            USING ERRCODE = CASE WHEN problem LIKE 'syntax:%' THEN 'syntax_error' ELSE 'invalid_parameter_value' END,
                  HINT = 'rules/README.md describes what a rule may do; rules/ccroute-rule-check tries one offline.';
    END IF;
    -- One version at a time per tenant: the row lock on the tenant orders concurrent saves.
    PERFORM 1 FROM ccroute.tenant WHERE tenant_id = id FOR UPDATE;
    SELECT coalesce(max(r.version), 0) + 1 INTO v FROM ccroute.routing_rule r WHERE r.tenant_id = id;
    INSERT INTO ccroute.routing_rule (tenant_id, version, source, note, author)
    VALUES (id, v, p_source, p_note, session_user);
    RETURN v;
END
$$;

-- Makes a version the active one (or, with NULL, none): one transaction, so calls see the old
-- rule or the new one, never neither. Rolling back is activating an earlier version.
CREATE FUNCTION ccroute.activate_rule(p_version integer) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint := ccroute.enter_own_tenant();
BEGIN
    IF NOT pg_has_role(session_user, 'ccroute_tenant_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'only a tenant admin activates routing rules' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_version IS NOT NULL AND NOT EXISTS (SELECT FROM ccroute.routing_rule r
                                              WHERE r.tenant_id = id AND r.version = p_version) THEN
        RAISE EXCEPTION 'there is no rule version %', p_version USING ERRCODE = 'undefined_object';
    END IF;
    -- Two statements in one transaction: the old version off, then the new one on (at most
    -- one is active at any moment: a unique index says so).
    UPDATE ccroute.routing_rule r SET active = false WHERE r.tenant_id = id AND r.active;
    UPDATE ccroute.routing_rule r SET active = true WHERE r.tenant_id = id AND r.version = p_version;
END
$$;

CREATE FUNCTION ccroute.add_destination(p_tenant text, p_name text, p_uri text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint := ccroute.enter_tenant(p_tenant);
BEGIN
    INSERT INTO ccroute.destination (tenant_id, name, uri) VALUES (id, p_name, p_uri)
        ON CONFLICT (tenant_id, name) DO UPDATE SET uri = excluded.uri;
END
$$;

CREATE FUNCTION ccroute.remove_destination(p_tenant text, p_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint := ccroute.enter_tenant(p_tenant);
BEGIN
    DELETE FROM ccroute.destination d WHERE d.tenant_id = id AND d.name = p_name;
END
$$;

-- A dry run: what the rule (the given source, or the active one when NULL) would decide for a
-- call to one of the tenant's own numbers, with its agents as they are now. Nothing is
-- reserved or recorded.
CREATE FUNCTION ccroute.try_rule(p_source text, p_dialed text, p_caller text DEFAULT '+10000000000',
                                 p_facts jsonb DEFAULT '{}') RETURNS jsonb
AS 'MODULE_PATHNAME', 'ccroute_try_rule'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
SET enable_seqscan = off;

DO $owners$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['ccroute.rule_problem(text)', 'ccroute.save_rule(text, text)',
                             'ccroute.activate_rule(integer)', 'ccroute.add_destination(text, text, text)',
                             'ccroute.remove_destination(text, text)', 'ccroute.try_rule(text, text, text, jsonb)']
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO ccroute_owner', f);
    END LOOP;
END
$owners$;
GRANT EXECUTE ON FUNCTION ccroute.save_rule(text, text), ccroute.activate_rule(integer),
    ccroute.try_rule(text, text, text, jsonb) TO ccroute_tenant_admin;
GRANT EXECUTE ON FUNCTION ccroute.add_destination(text, text, text), ccroute.remove_destination(text, text)
    TO ccroute_platform_dba;
GRANT SELECT ON ccroute.routing_rule, ccroute.rule_error, ccroute.destination TO ccroute_tenant_admin;
GRANT SELECT ON ccroute.routing_rule, ccroute.destination TO ccroute_supervisor;

------------------------------------------------------------------------------------------------
-- A withdrawal first waits for any decision of the same call still in progress (route_call
-- holds a shared advisory lock on the call until it ends): a decision whose commit was slow
-- (a disk flush after a freeze) would otherwise become visible just after the withdrawal had
-- looked and found nothing, and its agent would stay reserved for a call gone elsewhere.

CREATE OR REPLACE FUNCTION ccroute.withdraw_call(p_call_id text, p_dialed text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint;
    c ccroute.live_call;
    n integer;
BEGIN
    -- 1667461748 = 0x63637274, "ccrt": the router's lock class (route_call.c).
    PERFORM pg_advisory_xact_lock(1667461748, hashtext(p_call_id COLLATE "C"));
    SELECT d.tenant_id INTO id FROM ccroute.did_directory d WHERE d.did = p_dialed;
    IF id IS NULL THEN
        RETURN 'unknown_call';
    END IF;
    PERFORM set_config('ccroute.tenant_context', id::text, true);
    SELECT * INTO c FROM ccroute.live_call l
     WHERE l.tenant_id = id AND l.call_id = p_call_id AND l.answered_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        -- A database frozen past the ring timeout may have expired the offer (into history, as
        -- a no-answer of its agent) before the withdrawal arrived: the record is corrected,
        -- and the agent's count of no-answers with it.
        WITH old AS (
            SELECT h.tenant_id, h.call_seq, h.arrived_at, h.agent_id FROM ccroute.call_history h
             WHERE h.tenant_id = id AND h.call_id = p_call_id AND h.outcome = 'expired'
               AND h.answered_at IS NULL AND h.arrived_at > now() - interval '1 day'
        ), amended AS (
            UPDATE ccroute.call_history h
               SET action = 'fallback', target = NULL, agent_id = NULL, outcome = 'fallback',
                   reason = 'the proxy sent the call to its fallback'
              FROM old o
             WHERE h.tenant_id = o.tenant_id AND h.call_seq = o.call_seq AND h.arrived_at = o.arrived_at
            RETURNING o.agent_id AS old_agent
        ), recount AS (
            UPDATE ccroute.agent_state s SET no_answer_streak = greatest(s.no_answer_streak - 1, 0)
              FROM amended a
             WHERE s.tenant_id = id AND s.agent_id = a.old_agent
        )
        SELECT count(*) INTO n FROM amended;
        RETURN CASE WHEN n = 0 THEN 'unknown_call' ELSE 'withdrawn' END;
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

-- History stays append-only, but for one amendment, by the owner's code only (withdraw_call):
-- an expired offer whose call the proxy had sent elsewhere becomes a fallback call.
CREATE OR REPLACE FUNCTION ccroute.history_is_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_user = 'ccroute_owner'
       AND OLD.outcome = 'expired' AND NEW.outcome = 'fallback'
       AND (NEW.tenant_id, NEW.call_seq, NEW.call_id, NEW.arrived_at)
           = (OLD.tenant_id, OLD.call_seq, OLD.call_id, OLD.arrived_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'call history is append-only'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = pg_catalog.format('%s on ccroute.call_history is refused.', TG_OP);
END
$$;

-- For the DBA: this connection's rule states and their memory (each is capped by
-- ccroute.rule_memory; ccroute.rule_states caps how many).
CREATE FUNCTION ccroute.rule_memory(OUT states integer, OUT lua_bytes bigint) RETURNS record
AS 'MODULE_PATHNAME', 'ccroute_rule_memory'
LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION ccroute.rule_memory() FROM PUBLIC;
ALTER FUNCTION ccroute.rule_memory() OWNER TO ccroute_owner;
GRANT EXECUTE ON FUNCTION ccroute.rule_memory() TO ccroute_platform_dba, ccroute_kamailio;

------------------------------------------------------------------------------------------------
-- Password policy, per tenant (requirement R3): the rules a person's new password must meet.
-- One row per tenant, made with the tenant; its tenant admins change it with plain UPDATEs,
-- which a trigger checks (with a message naming the option and its range) and the audit logs.
-- Checking a password (password_problem) reads it here; setting, hashing, history, expiry and
-- lock-out use it as they come (issue 7).

CREATE TABLE ccroute.password_policy (
    tenant_id               bigint PRIMARY KEY DEFAULT ccroute.current_tenant()
                            REFERENCES ccroute.tenant (tenant_id),
    min_length              integer NOT NULL DEFAULT 8,
    max_length_admin        integer NOT NULL DEFAULT 64,   -- admin consoles
    max_length_agent        integer NOT NULL DEFAULT 20,   -- agents' clients
    expiry_days             integer,                       -- NULL: passwords do not expire
    max_failed_attempts     integer,                       -- NULL: no lock-out
    require_upper           boolean NOT NULL DEFAULT false,
    require_lower           boolean NOT NULL DEFAULT false,
    require_digit           boolean NOT NULL DEFAULT false,
    require_symbol          boolean NOT NULL DEFAULT false,
    min_classes             integer,                       -- NULL: no such rule
    symbols                 text NOT NULL DEFAULT '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~',
    history                 integer NOT NULL DEFAULT 0,    -- previous passwords not reused
    change_at_first_login   boolean NOT NULL DEFAULT false
);
SELECT ccroute.protect_table('ccroute.password_policy', true, true);

CREATE FUNCTION ccroute.password_policy_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad text;
BEGIN
    bad := CASE
        WHEN NEW.min_length NOT BETWEEN 8 AND 128 THEN 'min_length must be 8 to 128'
        WHEN NEW.max_length_admin NOT BETWEEN NEW.min_length AND 1024
            THEN 'max_length_admin must be min_length to 1024'
        WHEN NEW.max_length_agent NOT BETWEEN NEW.min_length AND 1024
            THEN 'max_length_agent must be min_length to 1024'
        WHEN NEW.expiry_days NOT BETWEEN 1 AND 999 THEN 'expiry_days must be 1 to 999, or NULL (no expiry)'
        WHEN NEW.max_failed_attempts NOT BETWEEN 1 AND 100
            THEN 'max_failed_attempts must be 1 to 100, or NULL (no lock-out)'
        WHEN NEW.min_classes NOT BETWEEN 1 AND 4 THEN 'min_classes must be 1 to 4, or NULL'
        WHEN NEW.history NOT BETWEEN 0 AND 10 THEN 'history must be 0 to 10'
        WHEN NEW.symbols = '' OR char_length(NEW.symbols) > 64
            THEN 'symbols must hold 1 to 64 characters'
        WHEN NEW.symbols ~ '[[:alnum:][:space:][:cntrl:]]'
            THEN 'symbols must not hold letters, digits, spaces or control characters'
    END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'password policy: %', bad USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER policy_check BEFORE INSERT OR UPDATE ON ccroute.password_policy
    FOR EACH ROW EXECUTE FUNCTION ccroute.password_policy_check();

-- Every tenant has its policy from its creation: the defaults.
CREATE FUNCTION ccroute.tenant_gets_password_policy() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
BEGIN
    PERFORM set_config('ccroute.tenant_context', NEW.tenant_id::text, true);
    INSERT INTO ccroute.password_policy (tenant_id) VALUES (NEW.tenant_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER password_policy AFTER INSERT ON ccroute.tenant
    FOR EACH ROW EXECUTE FUNCTION ccroute.tenant_gets_password_policy();
INSERT INTO ccroute.password_policy (tenant_id)
SELECT t.tenant_id FROM ccroute.tenant t
 WHERE NOT EXISTS (SELECT FROM ccroute.password_policy p WHERE p.tenant_id = t.tenant_id);

-- Why a new password does not meet the tenant's policy, or NULL when it does. `kind` is
-- 'admin' (consoles, SQL) or 'agent' (agents' clients), for the maximum length. The message
-- never repeats the password. Lengths count characters, not bytes: Unicode passwords count as
-- people see them.
CREATE FUNCTION ccroute.password_problem(p_tenant bigint, p_login text, p_password text,
                                         p_kind text DEFAULT 'admin') RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p ccroute.password_policy;
    n integer := char_length(p_password);
    has_upper boolean := p_password ~ '[[:upper:]]';
    has_lower boolean := p_password ~ '[[:lower:]]';
    has_digit boolean := p_password ~ '[[:digit:]]';
    has_symbol boolean;
    others text;
    max_length integer;
BEGIN
    SELECT * INTO p FROM ccroute.password_policy x WHERE x.tenant_id = p_tenant;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant % has no password policy', p_tenant USING ERRCODE = 'undefined_object';
    END IF;
    IF p_kind NOT IN ('admin', 'agent') THEN
        RAISE EXCEPTION 'password kind is admin or agent' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Characters that are neither letters nor digits must be allowed symbols.
    others := regexp_replace(p_password, '[[:alpha:][:digit:]]', '', 'g');
    has_symbol := others <> '';
    IF p_password IS NULL OR n < p.min_length THEN
        RETURN pg_catalog.format('shorter than %s characters', p.min_length);
    END IF;
    max_length := CASE p_kind WHEN 'admin' THEN p.max_length_admin ELSE p.max_length_agent END;
    IF n > max_length THEN
        RETURN pg_catalog.format('longer than %s characters', max_length);
    END IF;
    IF EXISTS (SELECT FROM regexp_split_to_table(others, '') AS c WHERE strpos(p.symbols, c) = 0) THEN
        RETURN 'holds a character that is neither a letter, a digit nor one of the allowed symbols';
    END IF;
    IF p.require_upper AND NOT has_upper THEN RETURN 'needs an upper-case letter'; END IF;
    IF p.require_lower AND NOT has_lower THEN RETURN 'needs a lower-case letter'; END IF;
    IF p.require_digit AND NOT has_digit THEN RETURN 'needs a digit'; END IF;
    IF p.require_symbol AND NOT has_symbol THEN RETURN 'needs a symbol'; END IF;
    IF p.min_classes IS NOT NULL
       AND has_upper::int + has_lower::int + has_digit::int + has_symbol::int < p.min_classes THEN
        RETURN pg_catalog.format('needs at least %s of: upper case, lower case, digits, symbols', p.min_classes);
    END IF;
    IF p_login IS NOT NULL AND char_length(p_login) >= 3
       AND strpos(lower(p_password), lower(p_login)) > 0 THEN
        RETURN 'holds the login';
    END IF;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION ccroute.password_problem(bigint, text, text, text),
    ccroute.password_policy_check(), ccroute.tenant_gets_password_policy() FROM PUBLIC;
ALTER FUNCTION ccroute.password_problem(bigint, text, text, text) OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.password_policy_check() OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.tenant_gets_password_policy() OWNER TO ccroute_owner;
GRANT SELECT ON ccroute.password_policy TO ccroute_tenant_admin, ccroute_supervisor;
GRANT UPDATE (min_length, max_length_admin, max_length_agent, expiry_days, max_failed_attempts,
              require_upper, require_lower, require_digit, require_symbol, min_classes, symbols,
              history, change_at_first_login)
    ON ccroute.password_policy TO ccroute_tenant_admin;
