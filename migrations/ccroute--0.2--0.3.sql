-- ccroute 0.3: routing to agents and the call lifecycle. Skills get a strategy and an overflow,
-- numbers get business hours and required skills, agents get a state that the router reserves
-- atomically (a unique key makes a second reservation of an agent impossible), calls live in
-- ccroute.live_call while in progress and move to the append-only ccroute.call_history when
-- they end, and every decision keeps an explanation.
\echo Use "ALTER EXTENSION ccroute UPDATE TO '0.3'" to load this file. \quit

------------------------------------------------------------------------------------------------
-- Settings per tenant.

ALTER TABLE ccroute.tenant
    ADD COLUMN ring_timeout_seconds integer NOT NULL DEFAULT 30
        CONSTRAINT "ring_timeout_seconds: 5 to 300" CHECK (ring_timeout_seconds BETWEEN 5 AND 300),
    ADD COLUMN max_no_answers integer NOT NULL DEFAULT 3
        CONSTRAINT "max_no_answers: 1 to 100" CHECK (max_no_answers BETWEEN 1 AND 100),
    ADD COLUMN max_attempts integer NOT NULL DEFAULT 3
        CONSTRAINT "max_attempts: 1 to 10" CHECK (max_attempts BETWEEN 1 AND 10);

------------------------------------------------------------------------------------------------
-- Skills: how agents are chosen, and where calls go when nobody can take them.

ALTER TABLE ccroute.skill
    ADD COLUMN strategy text NOT NULL DEFAULT 'longest_idle'
        CONSTRAINT "strategy: longest_idle, round_robin, fewest_calls, least_talk_time, highest_proficiency or random"
        CHECK (strategy IN ('longest_idle', 'round_robin', 'fewest_calls', 'least_talk_time',
                            'highest_proficiency', 'random')),
    ADD COLUMN overflow_skill_id bigint,
    ADD COLUMN overflow_destination ccroute.sip_uri,
    ADD FOREIGN KEY (tenant_id, overflow_skill_id) REFERENCES ccroute.skill (tenant_id, skill_id),
    ADD CONSTRAINT "overflow: to a skill or a destination, not both"
        CHECK (overflow_skill_id IS NULL OR overflow_destination IS NULL),
    ADD CONSTRAINT "overflow: not to the skill itself"
        CHECK (overflow_skill_id IS DISTINCT FROM skill_id);

------------------------------------------------------------------------------------------------
-- Business hours and holidays, in the tenant's time zone.

CREATE TABLE ccroute.schedule (
    tenant_id   bigint NOT NULL REFERENCES ccroute.tenant (tenant_id) DEFAULT ccroute.current_tenant(),
    schedule_id bigint GENERATED ALWAYS AS IDENTITY,
    name        ccroute.label NOT NULL,
    PRIMARY KEY (tenant_id, schedule_id),
    UNIQUE (tenant_id, name)
);

-- Open from opens to closes on ISO day of week dow (1 = Monday). A night shift across midnight is
-- two slots.
CREATE TABLE ccroute.schedule_slot (
    tenant_id   bigint NOT NULL DEFAULT ccroute.current_tenant(),
    schedule_id bigint NOT NULL,
    dow         smallint NOT NULL CONSTRAINT "dow: 1 (Monday) to 7 (Sunday)" CHECK (dow BETWEEN 1 AND 7),
    opens       time NOT NULL,
    closes      time NOT NULL,
    PRIMARY KEY (tenant_id, schedule_id, dow, opens),
    FOREIGN KEY (tenant_id, schedule_id) REFERENCES ccroute.schedule (tenant_id, schedule_id) ON DELETE CASCADE,
    CONSTRAINT "a slot opens before it closes" CHECK (opens < closes)
);

CREATE TABLE ccroute.holiday (
    tenant_id   bigint NOT NULL REFERENCES ccroute.tenant (tenant_id) DEFAULT ccroute.current_tenant(),
    day         date NOT NULL,
    name        ccroute.label NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

------------------------------------------------------------------------------------------------
-- Numbers: required proficiency, further required skills, hours and where closed calls go.

ALTER TABLE ccroute.did
    ADD COLUMN min_proficiency smallint NOT NULL DEFAULT 1
        CONSTRAINT "min_proficiency: 1 to 10" CHECK (min_proficiency BETWEEN 1 AND 10),
    ADD COLUMN schedule_id bigint,
    ADD COLUMN closed_destination ccroute.sip_uri,
    ADD FOREIGN KEY (tenant_id, schedule_id) REFERENCES ccroute.schedule (tenant_id, schedule_id);

CREATE TABLE ccroute.did_requirement (
    tenant_id       bigint NOT NULL DEFAULT ccroute.current_tenant(),
    did             ccroute.e164 NOT NULL,
    skill_id        bigint NOT NULL,
    min_proficiency smallint NOT NULL DEFAULT 1
                    CONSTRAINT "min_proficiency: 1 to 10" CHECK (min_proficiency BETWEEN 1 AND 10),
    PRIMARY KEY (tenant_id, did, skill_id),
    FOREIGN KEY (tenant_id, did) REFERENCES ccroute.did (tenant_id, did) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, skill_id) REFERENCES ccroute.skill (tenant_id, skill_id) ON DELETE CASCADE
);

-- The router reads a skill's agents and their proficiency from the index alone.
DROP INDEX ccroute.agent_skill_by_skill;
CREATE INDEX agent_skill_by_skill ON ccroute.agent_skill (tenant_id, skill_id) INCLUDE (agent_id, proficiency);

-- An agent's phone may have a fixed contact (a desk phone at a known address); otherwise calls
-- go to the agent's address in the tenant's SIP domain, which the proxy looks up.
ALTER TABLE ccroute.agent ADD COLUMN contact_uri ccroute.sip_uri;

------------------------------------------------------------------------------------------------
-- Agent state. No timer ends wrap-up or a lost reservation: the row says until when they last.

CREATE TABLE ccroute.agent_state (
    tenant_id          bigint NOT NULL,
    agent_id           bigint NOT NULL,
    state              text NOT NULL DEFAULT 'logged_out'
                       CONSTRAINT "agent state: logged_out, ready, not_ready, reserved, on_call or wrap_up"
                       CHECK (state IN ('logged_out', 'ready', 'not_ready', 'reserved', 'on_call', 'wrap_up')),
    reason             ccroute.label,                 -- why not ready
    since              timestamptz NOT NULL DEFAULT pg_catalog.now(),
    available_at       timestamptz,                   -- end of wrap-up
    reserved_until     timestamptz,                   -- end of an unanswered offer
    idle_since         timestamptz,                   -- last became free (longest idle)
    last_offered_at    timestamptz,                   -- round robin
    stats_day          date,                          -- the tenant's day the counters are for
    calls_today        integer NOT NULL DEFAULT 0,
    talk_seconds_today integer NOT NULL DEFAULT 0,
    no_answer_streak   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, agent_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES ccroute.agent (tenant_id, agent_id) ON DELETE CASCADE,
    CONSTRAINT "only wrap_up has an end" CHECK ((state = 'wrap_up') = (available_at IS NOT NULL)),
    CONSTRAINT "only reserved has a deadline" CHECK ((state = 'reserved') = (reserved_until IS NOT NULL))
);

-- The router reads available agents in its strategy's order straight from these, and finds
-- lost offers without a scan.
CREATE INDEX agent_state_by_idle ON ccroute.agent_state (tenant_id, idle_since)
    WHERE state IN ('ready', 'wrap_up');
CREATE INDEX agent_state_by_offer ON ccroute.agent_state (tenant_id, last_offered_at NULLS FIRST)
    WHERE state IN ('ready', 'wrap_up');
CREATE INDEX agent_state_lost_offers ON ccroute.agent_state (tenant_id, reserved_until)
    WHERE state = 'reserved';

------------------------------------------------------------------------------------------------
-- Calls. A call in progress is a row of live_call; the unique key on (tenant_id, agent_id)
-- is what makes offering one agent two calls impossible, whatever the code above it does.

CREATE TABLE ccroute.live_call (
    tenant_id    bigint NOT NULL REFERENCES ccroute.tenant (tenant_id),
    call_seq     bigint GENERATED ALWAYS AS IDENTITY,
    call_id      text NOT NULL,
    caller       text NOT NULL,
    dialed       text NOT NULL,
    facts        jsonb NOT NULL DEFAULT '{}',
    state        text NOT NULL
                 CONSTRAINT "live call state: offered, ringing, answered or failed"
                 CHECK (state IN ('offered', 'ringing', 'answered', 'failed')),
    action       text NOT NULL,
    target       text,
    skill_id     bigint,
    agent_id     bigint,
    attempts     smallint NOT NULL DEFAULT 1,
    tried_agents bigint[] NOT NULL DEFAULT '{}',
    explanation  jsonb,
    arrived_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    offered_at   timestamptz,                 -- the clock when the agent was reserved
    ringing_at   timestamptz,
    answered_at  timestamptz,
    PRIMARY KEY (tenant_id, call_seq),
    UNIQUE (tenant_id, call_id),
    CONSTRAINT "an agent is offered one call at a time" UNIQUE (tenant_id, agent_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES ccroute.agent (tenant_id, agent_id)
);

-- Append-only history, monthly partitions by arrival (a default partition catches the rest).
CREATE TABLE ccroute.call_history (
    tenant_id     bigint NOT NULL,
    call_seq      bigint NOT NULL,
    call_id       text NOT NULL,
    caller        text NOT NULL,
    dialed        text NOT NULL,
    facts         jsonb NOT NULL DEFAULT '{}',
    action        text NOT NULL,
    target        text,
    sip_status    integer,
    reason        text,
    skill_id      bigint,
    agent_id      bigint,
    attempts      smallint NOT NULL DEFAULT 1,
    outcome       text NOT NULL,
    explanation   jsonb,
    arrived_at    timestamptz NOT NULL,
    offered_at    timestamptz,
    answered_at   timestamptz,
    ended_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    wait_seconds  numeric(10, 3),
    talk_seconds  numeric(10, 3),
    PRIMARY KEY (tenant_id, call_seq, arrived_at)
) PARTITION BY RANGE (arrived_at);
CREATE TABLE ccroute.call_history_default PARTITION OF ccroute.call_history DEFAULT;

-- The calls of 0.1 and 0.2 were decisions only: they become history.
INSERT INTO ccroute.call_history (tenant_id, call_seq, call_id, caller, dialed, action, target,
                                  sip_status, outcome, arrived_at, ended_at)
SELECT tenant_id, call_seq, call_id, caller, dialed, action, target, sip_status,
       CASE action WHEN 'reject' THEN 'rejected' ELSE 'routed' END, arrived_at, arrived_at
  FROM ccroute.call;
SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence('ccroute.live_call', 'call_seq'),
                         coalesce((SELECT max(call_seq) FROM ccroute.call), 0) + 1, false);
DROP FUNCTION ccroute.route_call(text, text, text);
DROP TABLE ccroute.call;

------------------------------------------------------------------------------------------------
-- The session's tenant, now in C: the router's policies meet it several times per call.

CREATE OR REPLACE FUNCTION ccroute.current_tenant() RETURNS bigint
AS 'MODULE_PATHNAME', 'ccroute_current_tenant'
LANGUAGE C STABLE PARALLEL SAFE;
-- The SQL version above needed it; nothing does now.
DROP FUNCTION ccroute.tenant_context();

------------------------------------------------------------------------------------------------
-- Policies, row-level security, ownership, audit of the new tables.

SELECT ccroute.protect_table(t::regclass, tenant_policy, audit)
  FROM (VALUES ('ccroute.schedule', true, true), ('ccroute.schedule_slot', true, true),
               ('ccroute.holiday', true, true), ('ccroute.did_requirement', true, true),
               -- Written per call by the router and the events, not by people:
               ('ccroute.agent_state', true, false), ('ccroute.live_call', true, false),
               ('ccroute.call_history', true, false),
               -- A partition is reached through its parent's policies only.
               ('ccroute.call_history_default', false, false)) AS v (t, tenant_policy, audit);

-- History is append-only: the lifecycle functions insert, nothing updates or deletes (the
-- retention purge, when it comes, drops whole partitions).
CREATE FUNCTION ccroute.history_is_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'call history is append-only'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = pg_catalog.format('%s on ccroute.call_history is refused.', TG_OP);
END
$$;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON ccroute.call_history
    FOR EACH ROW EXECUTE FUNCTION ccroute.history_is_append_only();

------------------------------------------------------------------------------------------------
-- The router (C, route_call.c). One call per INVITE; facts are the call's extra data (an IVR
-- choice from a header, say); past the deadline it reserves nobody.

CREATE FUNCTION ccroute.route_call(
    call_id text, caller text, dialed text,
    facts jsonb DEFAULT '{}', deadline timestamptz DEFAULT NULL,
    OUT action text, OUT target text, OUT sip_status integer, OUT reason text,
    OUT tenant_id bigint, OUT call_seq bigint, OUT agent_id bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'ccroute_route_call_v3'
LANGUAGE C CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = '';

------------------------------------------------------------------------------------------------
-- The lifecycle: helpers used by the router and by the events.

-- Moves a live call to history. (PL/pgSQL, not SQL, here and below: its plans are kept for the
-- session, where a SQL function's body would be planned again at every call.)
CREATE FUNCTION ccroute.finish_call(p_call ccroute.live_call, p_outcome text,
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
        offered_at, answered_at, ended_at, wait_seconds, talk_seconds)
    VALUES ((p_call).tenant_id, (p_call).call_seq, (p_call).call_id, (p_call).caller,
        (p_call).dialed, (p_call).facts, (p_call).action, (p_call).target, p_sip_status, p_reason,
        (p_call).skill_id, (p_call).agent_id, (p_call).attempts, p_outcome, (p_call).explanation,
        (p_call).arrived_at, (p_call).offered_at, (p_call).answered_at, clock_timestamp(),
        extract(epoch FROM coalesce((p_call).answered_at, now()) - (p_call).arrived_at),
        extract(epoch FROM now() - (p_call).answered_at));
END
$$;

-- An offer that got no answer: the agent is freed, and after max_no_answers in a row set not
-- ready, so that a phone nobody picks up stops receiving calls.
CREATE FUNCTION ccroute.offer_unanswered(p_tenant bigint, p_agent bigint) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE ccroute.agent_state s
       SET no_answer_streak = s.no_answer_streak + 1,
           state = CASE WHEN s.no_answer_streak + 1 >= t.max_no_answers THEN 'not_ready' ELSE 'ready' END,
           reason = CASE WHEN s.no_answer_streak + 1 >= t.max_no_answers THEN 'no answer' END,
           since = now(), reserved_until = NULL, available_at = NULL
      FROM ccroute.tenant t
     WHERE s.tenant_id = p_tenant AND s.agent_id = p_agent AND t.tenant_id = p_tenant
       AND s.state = 'reserved';
END
$$;

-- A lost reservation (its answer or failure never came) is ended where it is found: by the
-- router, when it meets the agent again, and by expire_reservations(), for a scheduler.
CREATE FUNCTION ccroute.expire_reservation(p_tenant bigint, p_agent bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c ccroute.live_call;
BEGIN
    PERFORM FROM ccroute.agent_state s
     WHERE s.tenant_id = p_tenant AND s.agent_id = p_agent
       AND s.state = 'reserved' AND s.reserved_until <= now()
       FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT * INTO c FROM ccroute.live_call l
     WHERE l.tenant_id = p_tenant AND l.agent_id = p_agent AND l.answered_at IS NULL;
    IF FOUND THEN
        PERFORM ccroute.finish_call(c, 'expired', NULL, 'no answer or failure reported in time');
    END IF;
    PERFORM ccroute.offer_unanswered(p_tenant, p_agent);
    RETURN true;
END
$$;

CREATE FUNCTION ccroute.expire_reservations() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    FOR r IN SELECT t.tenant_id FROM ccroute.tenant t LOOP
        PERFORM set_config('ccroute.tenant_context', r.tenant_id::text, true);
        n := n + (SELECT count(*) FILTER (WHERE ccroute.expire_reservation(s.tenant_id, s.agent_id))
                    FROM ccroute.agent_state s
                   WHERE s.tenant_id = r.tenant_id AND s.state = 'reserved' AND s.reserved_until <= now());
    END LOOP;
    RETURN n;
END
$$;

------------------------------------------------------------------------------------------------
-- Call events, from the proxy. Unknown or finished calls are answered 'unknown_call', never an
-- error: an event that arrives twice, or late, must not fail the proxy's script.
--   ringing       the agent's phone rings
--   answered      the agent (or destination) answered
--   no_answer     the offer timed out; busy / rejected: the phone refused it
--   ended         BYE: the call is over (answered or not)
--   abandoned     CANCEL: the caller hung up before an answer
-- Returns the call's state after the event: offered, ringing, answered, failed, or the outcome
-- it went to history with.
CREATE FUNCTION ccroute.call_event(p_tenant bigint, p_call bigint, p_event text,
                                   p_sip_status integer DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    c ccroute.live_call;
    wrap integer;
    local_day date;
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

    IF p_event = 'ringing' THEN
        -- Losing this one costs nothing (the answer or the expiry follows): no wait for the disk.
        PERFORM set_config('synchronous_commit', 'off', true);
        UPDATE ccroute.live_call SET state = 'ringing', ringing_at = now()
         WHERE tenant_id = p_tenant AND call_seq = p_call AND state = 'offered';
        RETURN CASE WHEN c.state = 'offered' THEN 'ringing' ELSE c.state END;
    END IF;

    IF p_event = 'answered' THEN
        IF c.state = 'answered' THEN
            RETURN 'answered';
        END IF;
        UPDATE ccroute.live_call SET state = 'answered', answered_at = now()
         WHERE tenant_id = p_tenant AND call_seq = p_call;
        IF c.agent_id IS NOT NULL THEN
            UPDATE ccroute.agent_state
               SET state = 'on_call', since = now(), reserved_until = NULL, no_answer_streak = 0
             WHERE tenant_id = p_tenant AND agent_id = c.agent_id;
        END IF;
        RETURN 'answered';
    END IF;

    IF p_event IN ('no_answer', 'busy', 'rejected') THEN
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
    END IF;

    -- ended or abandoned: the call leaves live_call for history.
    outcome := CASE WHEN c.answered_at IS NOT NULL THEN 'answered'
                    WHEN c.state = 'failed' THEN 'no_answer'
                    ELSE 'abandoned' END;
    PERFORM ccroute.finish_call(c, outcome, p_sip_status);
    IF c.agent_id IS NOT NULL THEN
        IF c.answered_at IS NOT NULL THEN
            SELECT a.wrapup_seconds, (now() AT TIME ZONE t.time_zone)::date INTO wrap, local_day
              FROM ccroute.agent a JOIN ccroute.tenant t ON t.tenant_id = a.tenant_id
             WHERE a.tenant_id = p_tenant AND a.agent_id = c.agent_id;
            UPDATE ccroute.agent_state s
               SET state = CASE WHEN wrap > 0 THEN 'wrap_up' ELSE 'ready' END,
                   available_at = CASE WHEN wrap > 0 THEN now() + make_interval(secs => wrap) END,
                   since = now(), reserved_until = NULL,
                   idle_since = now() + make_interval(secs => wrap),
                   calls_today = CASE WHEN s.stats_day = local_day THEN s.calls_today ELSE 0 END + 1,
                   talk_seconds_today = CASE WHEN s.stats_day = local_day THEN s.talk_seconds_today ELSE 0 END
                                        + extract(epoch FROM now() - c.answered_at)::integer,
                   stats_day = local_day
             WHERE s.tenant_id = p_tenant AND s.agent_id = c.agent_id;
        ELSE
            -- The caller left while it rang: the agent is free again, keeping its place.
            UPDATE ccroute.agent_state
               SET state = 'ready', since = now(), reserved_until = NULL
             WHERE tenant_id = p_tenant AND agent_id = c.agent_id AND state = 'reserved';
        END IF;
    END IF;
    RETURN outcome;
END
$$;

------------------------------------------------------------------------------------------------
-- Agent state, set by the agent (for themselves) or by the tenant's supervisors and admins.
--   login -> ready or not_ready; ready <-> not_ready (with a reason); wrap_up -> ready ends it
--   early; logout from anything but an offered or answered call.

CREATE FUNCTION ccroute.set_agent_state(p_extension text, p_state text, p_reason text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint := ccroute.enter_own_tenant();
    me ccroute.role_map;
    kind text;
    ag ccroute.agent;
    cur text;
    logged_in integer;
    lim integer;
BEGIN
    SELECT * INTO me FROM ccroute.role_map m WHERE m.role_name = session_user;
    SELECT p.kind INTO kind FROM ccroute.person p WHERE p.tenant_id = id AND p.person_id = me.person_id;
    SELECT * INTO ag FROM ccroute.agent a WHERE a.tenant_id = id AND a.extension = p_extension;
    IF NOT FOUND OR (kind = 'agent' AND ag.person_id IS DISTINCT FROM me.person_id)
       OR kind NOT IN ('agent', 'supervisor', 'tenant_admin') THEN
        RAISE EXCEPTION 'no agent with extension % that you may change', p_extension
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_state NOT IN ('ready', 'not_ready', 'logged_out') THEN
        RAISE EXCEPTION 'an agent can be set ready, not_ready or logged_out, not "%"', p_state
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM ccroute.audit_write(id, 'CALL', 'set_agent_state', NULL,
        jsonb_build_object('extension', p_extension, 'state', p_state, 'reason', p_reason));

    INSERT INTO ccroute.agent_state (tenant_id, agent_id) VALUES (id, ag.agent_id)
        ON CONFLICT DO NOTHING;
    SELECT s.state INTO cur FROM ccroute.agent_state s
     WHERE s.tenant_id = id AND s.agent_id = ag.agent_id FOR UPDATE;
    IF cur IN ('reserved', 'on_call') THEN
        RAISE EXCEPTION 'agent % is on a call', p_extension
            USING ERRCODE = 'object_in_use', HINT = 'Change the state when the call has ended.';
    END IF;
    IF cur = 'logged_out' AND p_state <> 'logged_out' THEN
        SELECT t.max_agents_logged_in INTO lim FROM ccroute.tenant t WHERE t.tenant_id = id FOR UPDATE;
        SELECT count(*) INTO logged_in FROM ccroute.agent_state s
         WHERE s.tenant_id = id AND s.state <> 'logged_out';
        IF logged_in >= lim THEN
            RAISE EXCEPTION 'the tenant has reached its limit of % agents logged in', lim
                USING ERRCODE = 'program_limit_exceeded';
        END IF;
    END IF;
    UPDATE ccroute.agent_state s
       SET state = p_state,
           reason = CASE WHEN p_state = 'not_ready' THEN p_reason END,
           since = now(), available_at = NULL, reserved_until = NULL,
           idle_since = CASE WHEN p_state = 'ready' AND cur <> 'ready' THEN now() ELSE s.idle_since END,
           no_answer_streak = CASE WHEN p_state = 'ready' THEN 0 ELSE s.no_answer_streak END
     WHERE s.tenant_id = id AND s.agent_id = ag.agent_id;
    RETURN p_state;
END
$$;

-- The tenant's call handling settings, tuned by its admins; NULL leaves one as it is.
CREATE FUNCTION ccroute.set_call_settings(p_ring_timeout_seconds integer DEFAULT NULL,
                                          p_max_no_answers integer DEFAULT NULL,
                                          p_max_attempts integer DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint := ccroute.enter_own_tenant();
BEGIN
    IF NOT pg_has_role(session_user, 'ccroute_tenant_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'only a tenant admin changes call settings' USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM ccroute.audit_write(id, 'CALL', 'set_call_settings', NULL,
        jsonb_build_object('ring_timeout_seconds', p_ring_timeout_seconds,
                           'max_no_answers', p_max_no_answers, 'max_attempts', p_max_attempts));
    UPDATE ccroute.tenant
       SET ring_timeout_seconds = coalesce(p_ring_timeout_seconds, ring_timeout_seconds),
           max_no_answers = coalesce(p_max_no_answers, max_no_answers),
           max_attempts = coalesce(p_max_attempts, max_attempts)
     WHERE tenant_id = id;
END
$$;

------------------------------------------------------------------------------------------------
-- Real time, for supervisors: plain views over what the router acts on.

CREATE VIEW ccroute.agent_status WITH (security_invoker = true) AS
SELECT a.tenant_id, a.agent_id, a.name, a.extension,
       CASE WHEN s.state IS NULL THEN 'logged_out'
            WHEN s.state = 'wrap_up' AND s.available_at <= now() THEN 'ready'
            WHEN s.state = 'reserved' AND s.reserved_until <= now() THEN 'reservation_lost'
            ELSE s.state END AS state,
       s.reason, s.since, s.available_at, s.no_answer_streak,
       l.call_seq, l.caller, l.state AS call_state
  FROM ccroute.agent a
  LEFT JOIN ccroute.agent_state s ON s.tenant_id = a.tenant_id AND s.agent_id = a.agent_id
  LEFT JOIN ccroute.live_call l ON l.tenant_id = a.tenant_id AND l.agent_id = a.agent_id;

CREATE VIEW ccroute.calls_in_progress WITH (security_invoker = true) AS
SELECT l.tenant_id, l.call_seq, l.call_id, l.caller, l.dialed, l.state, l.action, l.target,
       k.name AS skill, a.name AS agent, l.attempts, l.arrived_at,
       now() - l.arrived_at AS duration, l.answered_at
  FROM ccroute.live_call l
  LEFT JOIN ccroute.skill k ON k.tenant_id = l.tenant_id AND k.skill_id = l.skill_id
  LEFT JOIN ccroute.agent a ON a.tenant_id = l.tenant_id AND a.agent_id = l.agent_id;

CREATE VIEW ccroute.skill_status WITH (security_invoker = true) AS
SELECT k.tenant_id, k.skill_id, k.name AS skill, k.strategy,
       count(*) FILTER (WHERE st.state = 'ready') AS ready,
       count(*) FILTER (WHERE st.state IN ('reserved', 'on_call', 'wrap_up')) AS busy,
       count(*) FILTER (WHERE st.state = 'not_ready') AS not_ready,
       count(*) FILTER (WHERE st.state <> 'logged_out') AS logged_in
  FROM ccroute.skill k
  LEFT JOIN ccroute.agent_skill x ON x.tenant_id = k.tenant_id AND x.skill_id = k.skill_id
  LEFT JOIN ccroute.agent_status st ON st.tenant_id = x.tenant_id AND st.agent_id = x.agent_id
 GROUP BY k.tenant_id, k.skill_id, k.name, k.strategy;

-- Every call, in progress (outcome NULL) or over.
CREATE VIEW ccroute.call_log WITH (security_invoker = true) AS
SELECT tenant_id, call_seq, call_id, caller, dialed, action, target, NULL::integer AS sip_status,
       skill_id, agent_id, attempts, state AS outcome, explanation, arrived_at, answered_at,
       NULL::timestamptz AS ended_at
  FROM ccroute.live_call
UNION ALL
SELECT tenant_id, call_seq, call_id, caller, dialed, action, target, sip_status, skill_id,
       agent_id, attempts, outcome, explanation, arrived_at, answered_at, ended_at
  FROM ccroute.call_history;

------------------------------------------------------------------------------------------------
-- Ownership and privileges.

DO $owners$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'ccroute'::regnamespace
                AND p.proowner OPERATOR(pg_catalog.<>) 'ccroute_role_admin'::regrole
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO ccroute_owner', f);
    END LOOP;
END
$owners$;
ALTER VIEW ccroute.agent_status OWNER TO ccroute_owner;
ALTER VIEW ccroute.calls_in_progress OWNER TO ccroute_owner;
ALTER VIEW ccroute.skill_status OWNER TO ccroute_owner;
ALTER VIEW ccroute.call_log OWNER TO ccroute_owner;
REVOKE ALL ON ALL TABLES IN SCHEMA ccroute FROM PUBLIC;

GRANT EXECUTE ON FUNCTION ccroute.current_tenant()
    TO ccroute_tenant_admin, ccroute_supervisor, ccroute_analyst, ccroute_agent, ccroute_platform_dba;
GRANT EXECUTE ON FUNCTION ccroute.route_call(text, text, text, jsonb, timestamptz),
    ccroute.call_event(bigint, bigint, text, integer) TO ccroute_kamailio;
GRANT EXECUTE ON FUNCTION ccroute.set_agent_state(text, text, text)
    TO ccroute_tenant_admin, ccroute_supervisor, ccroute_agent;
GRANT EXECUTE ON FUNCTION ccroute.set_call_settings(integer, integer, integer) TO ccroute_tenant_admin;

GRANT SELECT, INSERT, UPDATE, DELETE ON ccroute.schedule, ccroute.schedule_slot, ccroute.holiday,
    ccroute.did_requirement TO ccroute_tenant_admin;
GRANT UPDATE (min_proficiency, schedule_id, closed_destination) ON ccroute.did TO ccroute_tenant_admin;
GRANT SELECT (contact_uri), INSERT (contact_uri), UPDATE (contact_uri) ON ccroute.agent TO ccroute_tenant_admin;
GRANT SELECT (contact_uri) ON ccroute.agent TO ccroute_supervisor;
GRANT SELECT ON ccroute.agent_state, ccroute.live_call, ccroute.call_history, ccroute.agent_status,
    ccroute.calls_in_progress, ccroute.skill_status TO ccroute_tenant_admin, ccroute_supervisor;
GRANT SELECT ON ccroute.schedule, ccroute.schedule_slot, ccroute.holiday, ccroute.did_requirement
    TO ccroute_supervisor;
GRANT SELECT ON ccroute.live_call, ccroute.call_history, ccroute.call_log TO ccroute_analyst;
GRANT SELECT ON ccroute.call_log TO ccroute_tenant_admin, ccroute_supervisor;

GRANT SELECT (caller) ON ccroute.live_call, ccroute.call_history TO ccroute_auditor;
