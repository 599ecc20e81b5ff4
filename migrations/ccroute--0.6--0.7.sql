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

------------------------------------------------------------------------------------------------
-- Monthly partitions. Every range-partitioned table of the schema is history (calls, agents'
-- presence, and what reports keep of them), partitioned by calendar month in UTC, with a default
-- partition that catches rows no month was made for. Maintenance makes the coming months ahead
-- of time and, should a month's rows have landed in the default (maintenance did not run), moves
-- them into their month. A partition is reached through its parent's policies only, except by
-- the maintenance, which has a policy of its own on each partition.

-- Maintenance creates the partitions, as the owner.
GRANT CREATE ON SCHEMA ccroute TO ccroute_owner;

CREATE FUNCTION ccroute.partitioned_history(OUT parent regclass, OUT time_column name)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.oid::regclass, a.attname
      FROM pg_partitioned_table pt
      JOIN pg_class c ON c.oid = pt.partrelid
      JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
     WHERE c.relnamespace = 'ccroute'::regnamespace AND pt.partstrat = 'r'
     ORDER BY c.relname
$$;

-- A month's partitions of a parent, by their names (parent_y2026m12), with their months.
CREATE FUNCTION ccroute.month_partitions(p_parent regclass, OUT partition regclass, OUT month date)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.oid::regclass,
           make_date(substring(c.relname from '_y([0-9]{4})m[0-9]{2}$')::integer,
                     substring(c.relname from '_y[0-9]{4}m([0-9]{2})$')::integer, 1)
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = p_parent AND c.relname ~ '_y[0-9]{4}m[0-9]{2}$'
     ORDER BY 2
$$;

CREATE FUNCTION ccroute.protect_partition(p_partition regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM ccroute.protect_table(p_partition, false, false);
    EXECUTE format('CREATE POLICY maintenance ON %s USING (ccroute.maintenance_mode())
                       WITH CHECK (ccroute.maintenance_mode())', p_partition);
END
$$;

CREATE POLICY maintenance ON ccroute.call_history_default
    USING (ccroute.maintenance_mode()) WITH CHECK (ccroute.maintenance_mode());
CREATE POLICY maintenance ON ccroute.agent_state_history_default
    USING (ccroute.maintenance_mode()) WITH CHECK (ccroute.maintenance_mode());

-- Makes the month's partition of a parent unless it exists; the month's rows that wait in the
-- default partition move into it (in maintenance mode: they are deleted from the default).
-- Returns how many rows moved, or NULL when the partition was there already.
CREATE FUNCTION ccroute.ensure_month_partition(p_parent regclass, p_month date) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    first_day date := date_trunc('month', p_month)::date;
    lo timestamptz := first_day::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (first_day + 1 * interval '1 month')::timestamp AT TIME ZONE 'UTC';
    part text := format('%s_y%sm%s', (SELECT c.relname FROM pg_class c WHERE c.oid = p_parent),
                        to_char(first_day, 'YYYY'), to_char(first_day, 'MM'));
    col name := (SELECT h.time_column FROM ccroute.partitioned_history() h WHERE h.parent = p_parent);
    cols text := (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                    FROM pg_attribute a
                   WHERE a.attrelid = p_parent AND a.attnum > 0 AND NOT a.attisdropped);
    dflt regclass := (SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                       WHERE i.inhparent = p_parent AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT');
    moved bigint := 0;
BEGIN
    IF col IS NULL THEN
        RAISE EXCEPTION '% is not a partitioned history table', p_parent USING ERRCODE = 'wrong_object_type';
    END IF;
    IF to_regclass(format('ccroute.%I', part)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE ccroute.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, p_parent);
    PERFORM ccroute.protect_partition(format('ccroute.%I', part)::regclass);
    IF dflt IS NOT NULL THEN
        EXECUTE format('WITH m AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 RETURNING %s)
                        INSERT INTO ccroute.%I (%s) SELECT * FROM m',
                       dflt, col, col, cols, part, cols) USING lo, hi;
        GET DIAGNOSTICS moved = ROW_COUNT;
    END IF;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION ccroute.%I FOR VALUES FROM (%L) TO (%L)',
                   p_parent, part, lo, hi);
    RETURN moved;
END
$$;

------------------------------------------------------------------------------------------------
-- Recordings (R6): paired with the caller's number, kept at most 3 months (the tenant's
-- recording_retention may be shorter). The path is relative to the folder
-- ccroute.recordings_dir (a superuser setting) and starts with the tenant's id, so a recording
-- cannot name another tenant's file; its parts are plain names (no "..", nothing hidden).

CREATE TABLE ccroute.recording (
    tenant_id        bigint NOT NULL REFERENCES ccroute.tenant (tenant_id),
    recording_id     bigint GENERATED ALWAYS AS IDENTITY,
    call_seq         bigint,                    -- the call in history (aged apart: no key)
    caller           text NOT NULL,
    path             text NOT NULL
                     CONSTRAINT "recording path: the tenant's id, then plain names separated by /"
                     CHECK (path ~ '^[0-9]+(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}){1,8}$'
                            AND split_part(path, '/', 1) = tenant_id::text),
    size_bytes       bigint NOT NULL CONSTRAINT "size_bytes: 0 or more" CHECK (size_bytes >= 0),
    duration_seconds numeric(10, 3) NOT NULL
                     CONSTRAINT "duration_seconds: 0 or more" CHECK (duration_seconds >= 0),
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (tenant_id, recording_id),
    UNIQUE (tenant_id, path)
);
CREATE INDEX recording_by_age ON ccroute.recording (tenant_id, created_at);
SELECT ccroute.protect_table('ccroute.recording', true, false);
GRANT SELECT ON ccroute.recording TO ccroute_tenant_admin, ccroute_supervisor;
GRANT SELECT (caller) ON ccroute.recording TO ccroute_auditor;

CREATE FUNCTION ccroute.recording_file_problem(p_path text) RETURNS text
AS 'MODULE_PATHNAME', 'ccroute_recording_file_problem'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION ccroute.remove_recording_file(p_path text) RETURNS text
AS 'MODULE_PATHNAME', 'ccroute_remove_recording_file'
LANGUAGE C STRICT VOLATILE;

-- The recorder (the proxy's role, or the platform) files a call's recording; the caller's
-- number comes from the call itself.
CREATE FUNCTION ccroute.add_recording(p_tenant_id bigint, p_call_seq bigint, p_path text,
                                      p_size_bytes bigint, p_duration_seconds numeric) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    who text;
    id bigint;
BEGIN
    PERFORM set_config('ccroute.tenant_context', p_tenant_id::text, true);
    SELECT coalesce((SELECT l.caller FROM ccroute.live_call l
                      WHERE l.tenant_id = p_tenant_id AND l.call_seq = p_call_seq),
                    (SELECT h.caller FROM ccroute.call_history h
                      WHERE h.tenant_id = p_tenant_id AND h.call_seq = p_call_seq))
      INTO who;
    IF who IS NULL THEN
        RAISE EXCEPTION 'no call % of tenant %', p_call_seq, p_tenant_id USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO ccroute.recording (tenant_id, call_seq, caller, path, size_bytes, duration_seconds)
    VALUES (p_tenant_id, p_call_seq, who, p_path, p_size_bytes, p_duration_seconds)
    RETURNING recording_id INTO id;
    RETURN id;
END
$$;

------------------------------------------------------------------------------------------------
-- Purging a cancelled tenant, 30 days after it cancelled (R12): every row of the tenant in every
-- table, its recordings' files, its people's roles. Its audit rows stay (they age out with the
-- audit retention) but lose every field that could name a person: only ids, kinds, states and
-- times are kept, and its people's role names become "purged".

CREATE FUNCTION ccroute.purge_tenant(p_tenant bigint) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    roles name[];
    remaining regclass[];
    ready regclass[];
    r regclass;
    n bigint;
    total bigint := 0;
    rec record;
    problem text;
BEGIN
    PERFORM set_config('ccroute.tenant_context', p_tenant::text, true);
    roles := ARRAY(SELECT p.role_name FROM ccroute.person p WHERE p.tenant_id = p_tenant);

    FOR rec IN SELECT g.path FROM ccroute.recording g WHERE g.tenant_id = p_tenant LOOP
        problem := ccroute.remove_recording_file(rec.path);
        IF problem IS NOT NULL AND problem <> 'missing' THEN
            RAISE WARNING 'recording file "%" of a purged tenant is left: %', rec.path, problem;
        END IF;
    END LOOP;

    -- A call still open (an answered call whose end never came) would stop its agent's
    -- deletion; it has no key to the agent to order it by.
    DELETE FROM ccroute.live_call l WHERE l.tenant_id = p_tenant;

    -- Every table with tenant rows but the audit log, a table only after every table that
    -- refers to it.
    remaining := ARRAY(
        SELECT c.oid::regclass FROM pg_class c
         WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relkind IN ('r', 'p')
           AND NOT c.relispartition AND c.relname <> 'audit_log'
           AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid
                          AND a.attname = 'tenant_id' AND NOT a.attisdropped));
    WHILE cardinality(remaining) > 0 LOOP
        ready := ARRAY(
            SELECT t FROM unnest(remaining) t
             WHERE NOT EXISTS (SELECT FROM pg_constraint con
                                WHERE con.contype = 'f' AND con.confrelid = t
                                  AND con.conrelid <> t AND con.conrelid = ANY (remaining)));
        IF cardinality(ready) = 0 THEN
            RAISE EXCEPTION 'the tables % refer to each other', remaining
                USING ERRCODE = 'internal_error';
        END IF;
        FOREACH r IN ARRAY ready LOOP
            EXECUTE format('DELETE FROM %s WHERE tenant_id = $1', r) USING p_tenant;
            GET DIAGNOSTICS n = ROW_COUNT;
            total := total + n;
        END LOOP;
        remaining := ARRAY(SELECT t FROM unnest(remaining) t WHERE t <> ALL (ready));
    END LOOP;

    UPDATE ccroute.audit_log a
       SET old_row = ccroute.impersonal(a.old_row), new_row = ccroute.impersonal(a.new_row),
           login_role = CASE WHEN a.login_role = ANY (roles) THEN 'purged' ELSE a.login_role END,
           acting_role = CASE WHEN a.acting_role = ANY (roles) THEN 'purged' ELSE a.acting_role END
     WHERE a.tenant_id = p_tenant;

    FOR rec IN SELECT unnest(roles) AS role_name LOOP
        PERFORM ccroute.drop_login_role(rec.role_name);
    END LOOP;
    RETURN total;
END
$$;

-- The fields of an audit row that name nothing and no one: ids, kinds, states and times.
CREATE FUNCTION ccroute.impersonal(p_row jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN p_row IS NOT NULL THEN
        coalesce((SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(p_row) e
                   WHERE (e.key ~ '(_id|_seq)$' AND jsonb_typeof(e.value) IN ('number', 'null'))
                      OR e.key ~ '(^at|_at)$'
                      OR e.key IN ('kind', 'state', 'status', 'strategy', 'version')), '{}')
    END
$$;

------------------------------------------------------------------------------------------------
-- The daily maintenance (D9). Idempotent, and given the time it runs at, so that tests can run
-- it day by day across months. Run it once a day (pg_cron or cron: see pg_ext/README.md); it
-- returns what it did. ccroute.maintenance_pending(now) shows what it would do.

CREATE FUNCTION ccroute.maintain(p_now timestamptz DEFAULT now())
RETURNS TABLE (step text, tenant text, object text, rows bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
SET ccroute.maintenance = on
AS $$
DECLARE
    t record;
    h record;
    p record;
    g record;
    n bigint;
    problem text;
    this_month date := date_trunc('month', p_now AT TIME ZONE 'UTC')::date;
BEGIN
    -- Cancelled tenants first: nothing of theirs needs keeping in shape.
    FOR t IN SELECT x.tenant_id, x.name FROM ccroute.tenant x
              WHERE x.status = 'cancelled' AND x.cancelled_at <= p_now - interval '30 days'
              ORDER BY x.tenant_id LOOP
        n := ccroute.purge_tenant(t.tenant_id);
        PERFORM set_config('ccroute.tenant_context', '', true);
        PERFORM ccroute.audit_write(t.tenant_id, 'CALL', 'purge_tenant', NULL,
                                    jsonb_build_object('tenant_id', t.tenant_id, 'rows', n));
        step := 'purged tenant'; tenant := t.name; object := NULL; rows := n;
        RETURN NEXT;
    END LOOP;

    FOR h IN SELECT * FROM ccroute.partitioned_history() LOOP
        -- This month and the next two exist, and so does every month whose rows wait in the
        -- default partition.
        FOR p IN SELECT m::date AS month
                   FROM generate_series(this_month, this_month + 2 * interval '1 month', interval '1 month') m
                 UNION
                 SELECT ccroute.default_months(h.parent, h.time_column, p_now - interval '12 months')
                 ORDER BY 1 LOOP
            n := ccroute.ensure_month_partition(h.parent, p.month);
            IF n IS NOT NULL THEN
                step := 'created partition'; tenant := NULL;
                object := format('%s, %s', h.parent, to_char(p.month, 'YYYY-MM')); rows := n;
                RETURN NEXT;
            END IF;
        END LOOP;

        -- A month wholly older than the longest retention goes at once.
        FOR p IN SELECT * FROM ccroute.month_partitions(h.parent) m
                  WHERE (m.month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
                        <= p_now - interval '12 months' LOOP
            EXECUTE format('SELECT count(*) FROM %s', p.partition) INTO n;
            EXECUTE format('DROP TABLE %s', p.partition);
            step := 'dropped partition'; tenant := NULL; object := p.partition::text; rows := n;
            RETURN NEXT;
        END LOOP;

        -- At the edge, each tenant's rows older than its own limit, to the day.
        FOR t IN SELECT x.tenant_id, x.name, x.report_retention FROM ccroute.tenant x
                  ORDER BY x.tenant_id LOOP
            PERFORM set_config('ccroute.tenant_context', t.tenant_id::text, true);
            EXECUTE format('DELETE FROM %s WHERE tenant_id = $1 AND %I < $2', h.parent, h.time_column)
                USING t.tenant_id, p_now - t.report_retention;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n > 0 THEN
                step := 'deleted history'; tenant := t.name; object := h.parent::text; rows := n;
                RETURN NEXT;
            END IF;
        END LOOP;
        PERFORM set_config('ccroute.tenant_context', '', true);
    END LOOP;

    -- Tenants' other records past the report retention, and sessions long ended.
    FOR t IN SELECT x.tenant_id, x.name, x.report_retention, pp.session_idle_minutes, pp.session_max_hours
               FROM ccroute.tenant x JOIN ccroute.password_policy pp ON pp.tenant_id = x.tenant_id
              ORDER BY x.tenant_id LOOP
        PERFORM set_config('ccroute.tenant_context', t.tenant_id::text, true);
        DELETE FROM ccroute.rule_error e WHERE e.tenant_id = t.tenant_id AND e.at < p_now - t.report_retention;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            step := 'deleted rule errors'; tenant := t.name; object := 'ccroute.rule_error'; rows := n;
            RETURN NEXT;
        END IF;
        DELETE FROM ccroute.app_session s
         WHERE s.tenant_id = t.tenant_id
           AND (s.last_seen_at < p_now - make_interval(mins => t.session_idle_minutes) - interval '1 day'
                OR s.started_at < p_now - make_interval(hours => t.session_max_hours) - interval '1 day');
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            step := 'deleted ended sessions'; tenant := t.name; object := 'ccroute.app_session'; rows := n;
            RETURN NEXT;
        END IF;
    END LOOP;
    PERFORM set_config('ccroute.tenant_context', '', true);

    -- Recordings past their tenant's limit: the row now, the file when this commits. A file
    -- that may not be removed keeps its row, so that it stays on the pending list.
    FOR t IN SELECT x.tenant_id, x.name, x.recording_retention FROM ccroute.tenant x
              ORDER BY x.tenant_id LOOP
        PERFORM set_config('ccroute.tenant_context', t.tenant_id::text, true);
        n := 0;
        FOR g IN SELECT r.recording_id, r.path FROM ccroute.recording r
                  WHERE r.tenant_id = t.tenant_id AND r.created_at < p_now - t.recording_retention
                  ORDER BY r.created_at LOOP
            problem := ccroute.remove_recording_file(g.path);
            IF problem IS NULL OR problem = 'missing' THEN
                DELETE FROM ccroute.recording r WHERE r.tenant_id = t.tenant_id AND r.recording_id = g.recording_id;
                n := n + 1;
            ELSE
                RAISE WARNING 'recording % of tenant "%" is kept: its file %: %', g.recording_id, t.name, g.path, problem;
                step := 'refused recording'; tenant := t.name; object := g.path || ': ' || problem; rows := 0;
                RETURN NEXT;
            END IF;
        END LOOP;
        IF n > 0 THEN
            step := 'deleted recordings'; tenant := t.name; object := 'ccroute.recording'; rows := n;
            RETURN NEXT;
        END IF;
    END LOOP;
    PERFORM set_config('ccroute.tenant_context', '', true);

    -- The audit log keeps 13 months, whatever the tenant.
    DELETE FROM ccroute.audit_log a WHERE a.at < p_now - interval '13 months';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        step := 'deleted audit rows'; tenant := NULL; object := 'ccroute.audit_log'; rows := n;
        RETURN NEXT;
    END IF;
END
$$;

-- The months whose rows wait in a parent's default partition (only those still to keep).
CREATE FUNCTION ccroute.default_months(p_parent regclass, p_column name, p_since timestamptz)
RETURNS SETOF date
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dflt regclass := (SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                       WHERE i.inhparent = p_parent AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT');
BEGIN
    IF dflt IS NOT NULL THEN
        RETURN QUERY EXECUTE format(
            'SELECT DISTINCT date_trunc(''month'', %I AT TIME ZONE ''UTC'')::date FROM %s WHERE %I >= $1',
            p_column, dflt, p_column) USING date_trunc('month', p_since AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    END IF;
END
$$;

-- What maintain(p_now) would do, for the DBA; and the cancelled tenants' purges still to come,
-- with the day each is due.
CREATE FUNCTION ccroute.maintenance_pending(p_now timestamptz DEFAULT now())
RETURNS TABLE (step text, tenant text, object text, rows bigint, due timestamptz)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
SET ccroute.maintenance = on
AS $$
DECLARE
    t record;
    h record;
    p record;
    n bigint;
    this_month date := date_trunc('month', p_now AT TIME ZONE 'UTC')::date;
BEGIN
    FOR t IN SELECT x.name, x.cancelled_at + interval '30 days' AS at FROM ccroute.tenant x
              WHERE x.status = 'cancelled' ORDER BY 2 LOOP
        step := 'purge tenant'; tenant := t.name; object := NULL; rows := NULL; due := t.at;
        RETURN NEXT;
    END LOOP;
    FOR h IN SELECT * FROM ccroute.partitioned_history() LOOP
        FOR p IN SELECT m::date AS month
                   FROM generate_series(this_month, this_month + 2 * interval '1 month', interval '1 month') m
                 UNION
                 SELECT ccroute.default_months(h.parent, h.time_column, p_now - interval '12 months')
                 ORDER BY 1 LOOP
            IF to_regclass(format('%s_y%sm%s', h.parent, to_char(p.month, 'YYYY'), to_char(p.month, 'MM'))) IS NULL THEN
                step := 'create partition'; tenant := NULL;
                object := format('%s, %s', h.parent, to_char(p.month, 'YYYY-MM')); rows := NULL; due := p_now;
                RETURN NEXT;
            END IF;
        END LOOP;
        FOR p IN SELECT * FROM ccroute.month_partitions(h.parent) m
                  WHERE (m.month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
                        <= p_now - interval '12 months' LOOP
            EXECUTE format('SELECT count(*) FROM %s', p.partition) INTO n;
            step := 'drop partition'; tenant := NULL; object := p.partition::text; rows := n; due := p_now;
            RETURN NEXT;
        END LOOP;
        FOR t IN SELECT x.tenant_id, x.name, x.report_retention FROM ccroute.tenant x ORDER BY x.tenant_id LOOP
            PERFORM set_config('ccroute.tenant_context', t.tenant_id::text, true);
            EXECUTE format('SELECT count(*) FROM %s WHERE tenant_id = $1 AND %I < $2', h.parent, h.time_column)
                INTO n USING t.tenant_id, p_now - t.report_retention;
            IF n > 0 THEN
                step := 'delete history'; tenant := t.name; object := h.parent::text; rows := n; due := p_now;
                RETURN NEXT;
            END IF;
        END LOOP;
        PERFORM set_config('ccroute.tenant_context', '', true);
    END LOOP;
    FOR t IN SELECT x.tenant_id, x.name, x.recording_retention FROM ccroute.tenant x ORDER BY x.tenant_id LOOP
        PERFORM set_config('ccroute.tenant_context', t.tenant_id::text, true);
        SELECT count(*) INTO n FROM ccroute.recording r
         WHERE r.tenant_id = t.tenant_id AND r.created_at < p_now - t.recording_retention;
        IF n > 0 THEN
            step := 'delete recordings'; tenant := t.name; object := 'ccroute.recording'; rows := n; due := p_now;
            RETURN NEXT;
        END IF;
    END LOOP;
    PERFORM set_config('ccroute.tenant_context', '', true);
    SELECT count(*) INTO n FROM ccroute.audit_log a WHERE a.at < p_now - interval '13 months';
    IF n > 0 THEN
        step := 'delete audit rows'; tenant := NULL; object := 'ccroute.audit_log'; rows := n; due := p_now;
        RETURN NEXT;
    END IF;
END
$$;

DO $owners$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'ccroute'::regnamespace
                AND p.proname OPERATOR(pg_catalog.=) ANY (ARRAY['partitioned_history', 'month_partitions',
                    'protect_partition', 'ensure_month_partition', 'recording_file_problem',
                    'remove_recording_file', 'add_recording', 'purge_tenant', 'impersonal', 'maintain',
                    'default_months', 'maintenance_pending'])
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO ccroute_owner', f);
    END LOOP;
END
$owners$;
GRANT EXECUTE ON FUNCTION ccroute.maintain(timestamptz), ccroute.maintenance_pending(timestamptz)
    TO ccroute_platform_dba;
GRANT EXECUTE ON FUNCTION ccroute.add_recording(bigint, bigint, text, bigint, numeric)
    TO ccroute_kamailio, ccroute_platform_dba;

-- ===== SQL-login lock-out (issue 7) =====
-- People who log in to PostgreSQL as their own roles are locked out after their tenant's
-- max_failed_attempts failed password authentications in a row. The library's authentication
-- hook counts in shared memory and refuses a locked role at once; its background worker
-- (ccroute.lockout_database) writes the outcomes here with record_sql_logins and loads the hook's
-- table with sync_sql_login_locks. Count and lock are the person's own in login_credential, the
-- same as the gateway's sign-in: one account, one count, one lock, which unlock_person and
-- unlock_account lift for both ways in. Only with the library in shared_preload_libraries.

-- A person's role locked by the lock-out: its VALID UNTIL is in the past, so that PostgreSQL
-- refuses it even with the right password, exactly as with a wrong one (no SCRAM proof of the
-- server reaches the client), also where the library is not loaded. The role's own VALID UNTIL
-- is kept here and given back at the unlock. Written only by sync_sql_login_locks; its rows are
-- audited (a lock is an INSERT, an unlock a DELETE).
CREATE TABLE ccroute.sql_login_lock (
    tenant_id           bigint NOT NULL,
    person_id           bigint NOT NULL,
    role_name           name NOT NULL,
    locked_at           timestamptz NOT NULL,
    valid_until_before  timestamptz,           -- NULL: the role had none
    PRIMARY KEY (tenant_id, person_id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES ccroute.person (tenant_id, person_id) ON DELETE CASCADE
);
SELECT ccroute.protect_table('ccroute.sql_login_lock', true, true);

-- The roles the lock-out watches: people's roles (role_map) that are members of a group of
-- ccroute's people. Never a superuser: locking one out could close the last way in.
CREATE FUNCTION ccroute.sql_login_people()
RETURNS TABLE (tenant_id bigint, person_id bigint, role_name name, valid_until timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.tenant_id, m.person_id, m.role_name, ro.rolvaliduntil
      FROM ccroute.role_map m
      JOIN pg_catalog.pg_roles ro ON ro.rolname OPERATOR(pg_catalog.=) m.role_name
     WHERE NOT ro.rolsuper
       AND EXISTS (SELECT FROM pg_catalog.pg_roles g
                    WHERE g.rolname IN ('ccroute_tenant_admin', 'ccroute_supervisor', 'ccroute_analyst',
                                        'ccroute_agent')
                      AND pg_catalog.pg_has_role(ro.oid, g.oid, 'MEMBER'))
$$;

-- The worker writes what the hook counted for a role since its last round: successes reset the
-- count (and are the person's last login), failures count through count_failure (which locks at
-- the limit and ends the person's application sessions), and every outcome is audited with
-- counts only. A role that is no person (any more) is passed over. Returns whether the account
-- locked just now.
CREATE FUNCTION ccroute.record_sql_logins(p_role name, p_successes integer, p_failures integer,
                                          p_failures_since_success integer, p_refusals integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m ccroute.role_map;
    per ccroute.person;
    locked_now boolean := false;
BEGIN
    SELECT * INTO m FROM ccroute.role_map r WHERE r.role_name = p_role;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT * INTO per FROM ccroute.person p WHERE p.tenant_id = m.tenant_id AND p.person_id = m.person_id;
    PERFORM 1 FROM ccroute.login_credential c
     WHERE c.tenant_id = m.tenant_id AND c.person_id = m.person_id FOR UPDATE;
    IF p_successes > 0 THEN
        UPDATE ccroute.login_credential c SET failed_attempts = 0, last_login_at = ccroute.auth_now()
         WHERE c.tenant_id = m.tenant_id AND c.person_id = m.person_id;
        PERFORM ccroute.audit_sign_in(m.tenant_id, 'sql_login', per, 'ok',
            jsonb_build_object('logins', p_successes));
    END IF;
    FOR i IN 1 .. CASE WHEN p_successes > 0 THEN p_failures_since_success ELSE p_failures END LOOP
        locked_now := ccroute.count_failure(m.tenant_id, m.person_id) OR locked_now;
    END LOOP;
    IF p_failures > 0 THEN
        PERFORM ccroute.audit_sign_in(m.tenant_id, 'sql_login', per, 'wrong_password',
            jsonb_build_object('attempts', p_failures, 'locked_now', locked_now));
    END IF;
    IF p_refusals > 0 THEN
        PERFORM ccroute.audit_sign_in(m.tenant_id, 'sql_login', per, 'locked',
            jsonb_build_object('attempts', p_refusals));
    END IF;
    RETURN locked_now;
END
$$;

-- Makes the roles follow the accounts: a locked account's role gets VALID UNTIL '-infinity'
-- (its own kept in sql_login_lock), an unlocked one its own back. Then returns what the hook
-- needs of every person's role. Run by the worker, as superuser (ALTER ROLE).
CREATE FUNCTION ccroute.sync_sql_login_locks()
RETURNS TABLE (role_name name, max_failed_attempts integer, failed_attempts integer, locked boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT p.tenant_id, p.person_id, p.role_name, p.valid_until, c.locked_at
               FROM ccroute.sql_login_people() p
               JOIN ccroute.login_credential c ON c.tenant_id = p.tenant_id AND c.person_id = p.person_id
              WHERE c.locked_at IS NOT NULL
                AND NOT EXISTS (SELECT FROM ccroute.sql_login_lock l
                                 WHERE l.tenant_id = p.tenant_id AND l.person_id = p.person_id)
    LOOP
        INSERT INTO ccroute.sql_login_lock (tenant_id, person_id, role_name, locked_at, valid_until_before)
            VALUES (r.tenant_id, r.person_id, r.role_name, r.locked_at, r.valid_until);
        EXECUTE format('ALTER ROLE %I VALID UNTIL %L', r.role_name, '-infinity');
    END LOOP;
    FOR r IN SELECT l.tenant_id, l.person_id, l.role_name, l.valid_until_before
               FROM ccroute.sql_login_lock l
               LEFT JOIN ccroute.login_credential c ON c.tenant_id = l.tenant_id AND c.person_id = l.person_id
              WHERE c.locked_at IS NULL
    LOOP
        DELETE FROM ccroute.sql_login_lock l WHERE l.tenant_id = r.tenant_id AND l.person_id = r.person_id;
        IF EXISTS (SELECT FROM pg_catalog.pg_roles ro WHERE ro.rolname = r.role_name) THEN
            EXECUTE format('ALTER ROLE %I VALID UNTIL %L', r.role_name,
                           coalesce(r.valid_until_before::text, 'infinity'));
        END IF;
    END LOOP;
    RETURN QUERY
        SELECT p.role_name, pol.max_failed_attempts, c.failed_attempts, c.locked_at IS NOT NULL
          FROM ccroute.sql_login_people() p
          JOIN ccroute.login_credential c ON c.tenant_id = p.tenant_id AND c.person_id = p.person_id
          JOIN ccroute.password_policy pol ON pol.tenant_id = p.tenant_id;
END
$$;

-- Wakes the worker when a change it loads from commits: people's roles, a tenant's limit, a
-- person's count or lock (a tenant admin's unlock, the gateway's sign-in).
CREATE FUNCTION ccroute.sql_login_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'ccroute_sql_login_changed'
LANGUAGE C;
CREATE TRIGGER sql_login_lockout AFTER UPDATE ON ccroute.login_credential FOR EACH ROW
    WHEN (OLD.failed_attempts IS DISTINCT FROM NEW.failed_attempts OR OLD.locked_at IS DISTINCT FROM NEW.locked_at)
    EXECUTE FUNCTION ccroute.sql_login_changed();
CREATE TRIGGER sql_login_lockout AFTER INSERT OR UPDATE OR DELETE ON ccroute.role_map
    FOR EACH STATEMENT EXECUTE FUNCTION ccroute.sql_login_changed();
CREATE TRIGGER sql_login_lockout AFTER UPDATE OF max_failed_attempts ON ccroute.password_policy
    FOR EACH STATEMENT EXECUTE FUNCTION ccroute.sql_login_changed();

-- What the hook sees, for platform DBAs: every person's role in its table with the tenant's
-- limit (NULL: none), its failures in a row, whether it is locked, and outcomes the worker has
-- not written yet; and the worker's state (off, starting, ready).
CREATE FUNCTION ccroute.sql_login_lockout(OUT role_name name, OUT max_failed_attempts integer,
                                          OUT failed_attempts integer, OUT locked boolean,
                                          OUT unwritten integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'ccroute_sql_login_lockout'
LANGUAGE C VOLATILE;
CREATE FUNCTION ccroute.sql_login_lockout_state() RETURNS text
AS 'MODULE_PATHNAME', 'ccroute_sql_login_lockout_state'
LANGUAGE C VOLATILE;

ALTER FUNCTION ccroute.sql_login_people() OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.record_sql_logins(name, integer, integer, integer, integer) OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.sync_sql_login_locks() OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.sql_login_changed() OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.sql_login_lockout() OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.sql_login_lockout_state() OWNER TO ccroute_owner;
REVOKE ALL ON FUNCTION ccroute.sql_login_people(),
    ccroute.record_sql_logins(name, integer, integer, integer, integer),
    ccroute.sync_sql_login_locks(), ccroute.sql_login_changed(), ccroute.sql_login_lockout(),
    ccroute.sql_login_lockout_state()
    FROM PUBLIC;
REVOKE ALL ON ccroute.sql_login_lock FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ccroute.sql_login_lockout(), ccroute.sql_login_lockout_state()
    TO ccroute_platform_dba;

-- ===== Backups (issue 9) =====
-- Every table and sequence of ccroute belongs to the extension, and pg_dump writes an
-- extension's members as its one CREATE EXTENSION line: without this, a dump of the database
-- would hold no tenant, person, call or audit row at all. Marked as configuration, all their rows
-- (the scripts insert none of their own, so no filter) and their sequences' positions are dumped
-- with the database; a restore creates the extension, then loads them. Partitioned parents hold
-- no rows of their own: their default partitions are marked here, and the monthly partitions
-- maintain() creates later are not members, so pg_dump dumps them whole as ordinary tables. A
-- table or sequence a later version adds must be marked in its own script:
-- tests/e2e/backup_restore.sh fails for any member left out.
DO $backups$
DECLARE
    r regclass;
BEGIN
    FOR r IN SELECT c.oid::regclass FROM pg_catalog.pg_depend d
               JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
              WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
                AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::regclass
                AND d.refobjid OPERATOR(pg_catalog.=)
                    (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'ccroute')
                AND d.deptype OPERATOR(pg_catalog.=) 'e'
                AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'S']::"char"[])
              ORDER BY c.relname
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(r, '');
    END LOOP;
END
$backups$;
