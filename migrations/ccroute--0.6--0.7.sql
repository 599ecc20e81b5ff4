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

-- The batched events write both when they end a call: ccroute.call_events, now in C (section
-- "Call events in C" below).


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

-- The name of a parent's partition for a month (parent_y2026m12), and the months that must
-- have one at p_now: this one, the next two, and every month still kept whose rows wait in the
-- parent's default partition. maintain() makes them; maintenance_pending() lists the missing.
CREATE FUNCTION ccroute.month_partition_name(p_parent regclass, p_month date) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('%s_y%s', c.relname, to_char(p_month, 'YYYY"m"MM')) FROM pg_class c WHERE c.oid = p_parent
$$;

CREATE FUNCTION ccroute.months_needed(p_parent regclass, p_column name, p_now timestamptz)
RETURNS SETOF date
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    this_month date := date_trunc('month', p_now AT TIME ZONE 'UTC')::date;
    dflt regclass := (SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                       WHERE i.inhparent = p_parent AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT');
BEGIN
    RETURN QUERY SELECT m::date FROM generate_series(this_month, this_month + 2 * interval '1 month',
                                                     interval '1 month') m;
    IF dflt IS NOT NULL THEN
        RETURN QUERY EXECUTE format(
            'SELECT DISTINCT date_trunc(''month'', %I AT TIME ZONE ''UTC'')::date FROM %s
              WHERE %I >= $1 AND date_trunc(''month'', %I AT TIME ZONE ''UTC'')::date NOT BETWEEN $2 AND $3',
            p_column, dflt, p_column, p_column)
            USING date_trunc('month', (p_now - interval '12 months') AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                  this_month, (this_month + 2 * interval '1 month')::date;
    END IF;
END
$$;

-- A parent's month partitions wholly older than the longest retention (12 months) at p_now.
CREATE FUNCTION ccroute.month_partitions_past(p_parent regclass, p_now timestamptz,
                                              OUT partition regclass, OUT month date)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.partition, m.month FROM ccroute.month_partitions(p_parent) m
     WHERE (m.month + interval '1 month')::timestamp AT TIME ZONE 'UTC' <= p_now - interval '12 months'
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
-- Months are UTC months, and a date column's bounds and ages are read in UTC too.
SET TimeZone = 'UTC'
AS $$
DECLARE
    first_day date := date_trunc('month', p_month)::date;
    lo timestamptz := first_day::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (first_day + 1 * interval '1 month')::timestamp AT TIME ZONE 'UTC';
    part text := ccroute.month_partition_name(p_parent, first_day);
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
-- Months are UTC months, and a date column's bounds and ages are read in UTC too.
SET TimeZone = 'UTC'
SET ccroute.tenant_context = ''
SET ccroute.maintenance = on
-- Making and dropping a partition locks its parent (dropping: against every insert). Behind a
-- long report holding the table, such a lock would hold up the router's inserts behind it:
-- maintenance gives up waiting after 50 ms instead, and the next run tries again.
SET lock_timeout = '50ms'
AS $$
DECLARE
    t record;
    h record;
    p record;
    g record;
    n bigint;
    problem text;
BEGIN
    -- Cancelled tenants first: nothing of theirs needs keeping in shape. A purge that fails
    -- (a role that cannot be dropped, say) is undone whole, files included, and reported; the
    -- rest of the maintenance goes on.
    FOR t IN SELECT x.tenant_id, x.name FROM ccroute.tenant x
              WHERE x.status = 'cancelled' AND x.cancelled_at <= p_now - interval '30 days'
              ORDER BY x.tenant_id LOOP
        BEGIN
            n := ccroute.purge_tenant(t.tenant_id);
            PERFORM set_config('ccroute.tenant_context', '', true);
            PERFORM ccroute.audit_write(t.tenant_id, 'CALL', 'purge_tenant', NULL,
                                        jsonb_build_object('tenant_id', t.tenant_id, 'rows', n));
            step := 'purged tenant'; tenant := t.name; object := NULL; rows := n;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT;
            RAISE WARNING 'tenant "%" could not be purged: %', t.name, problem;
            step := 'purge failed'; tenant := t.name; object := problem; rows := 0;
        END;
        PERFORM set_config('ccroute.tenant_context', '', true);
        RETURN NEXT;
    END LOOP;

    -- The reports' roll-ups take in the calls that came of age, before the months are made (a
    -- roll-up of a month with no partition yet waits in the default, and moves in below) and
    -- before retention (which deletes roll-up rows past it like any history).
    FOR g IN SELECT * FROM ccroute.refresh_report_rollups(p_now) r WHERE r.rows > 0 OR r.rebuilt LOOP
        step := CASE WHEN g.rebuilt THEN 'rebuilt report roll-ups' ELSE 'rolled up reports' END;
        tenant := g.tenant; object := format('%s to %s', g.rolled_from, g.rolled_until); rows := g.rows;
        RETURN NEXT;
    END LOOP;

    FOR h IN SELECT * FROM ccroute.partitioned_history() LOOP
        -- This month and the next two exist, and so does every month whose rows wait in the
        -- default partition.
        FOR p IN SELECT m AS month FROM ccroute.months_needed(h.parent, h.time_column, p_now) m
                  ORDER BY 1 LOOP
            BEGIN
                n := ccroute.ensure_month_partition(h.parent, p.month);
                IF n IS NOT NULL THEN
                    step := 'created partition'; tenant := NULL;
                    object := format('%s, %s', h.parent, to_char(p.month, 'YYYY-MM')); rows := n;
                    RETURN NEXT;
                END IF;
            EXCEPTION WHEN lock_not_available THEN
                step := 'postponed partition'; tenant := NULL;
                object := format('%s, %s: the table is in use', h.parent, to_char(p.month, 'YYYY-MM'));
                rows := 0;
                RETURN NEXT;
            END;
        END LOOP;

        -- A month wholly older than the longest retention goes at once.
        FOR p IN SELECT * FROM ccroute.month_partitions_past(h.parent, p_now) LOOP
            BEGIN
                object := p.partition::text;          -- its name, while it has one
                EXECUTE format('SELECT count(*) FROM %s', p.partition) INTO n;
                EXECUTE format('DROP TABLE %s', p.partition);
                step := 'dropped partition'; tenant := NULL; rows := n;
            EXCEPTION WHEN lock_not_available THEN
                -- Its rows are past every tenant's limit: the deletes below remove them today.
                step := 'postponed drop'; tenant := NULL;
                object := p.partition::text || ': the table is in use'; rows := 0;
            END;
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

-- What maintain(p_now) would do, for the DBA; and the cancelled tenants' purges still to come,
-- with the day each is due.
CREATE FUNCTION ccroute.maintenance_pending(p_now timestamptz DEFAULT now())
RETURNS TABLE (step text, tenant text, object text, rows bigint, due timestamptz)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Months are UTC months, and a date column's bounds and ages are read in UTC too.
SET TimeZone = 'UTC'
SET ccroute.tenant_context = ''
SET ccroute.maintenance = on
AS $$
DECLARE
    t record;
    h record;
    p record;
    n bigint;
BEGIN
    FOR t IN SELECT x.name, x.cancelled_at + interval '30 days' AS at FROM ccroute.tenant x
              WHERE x.status = 'cancelled' ORDER BY 2 LOOP
        step := 'purge tenant'; tenant := t.name; object := NULL; rows := NULL; due := t.at;
        RETURN NEXT;
    END LOOP;
    FOR h IN SELECT * FROM ccroute.partitioned_history() LOOP
        FOR p IN SELECT m AS month FROM ccroute.months_needed(h.parent, h.time_column, p_now) m
                  ORDER BY 1 LOOP
            IF to_regclass(format('ccroute.%I', ccroute.month_partition_name(h.parent, p.month))) IS NULL THEN
                step := 'create partition'; tenant := NULL;
                object := format('%s, %s', h.parent, to_char(p.month, 'YYYY-MM')); rows := NULL; due := p_now;
                RETURN NEXT;
            END IF;
        END LOOP;
        FOR p IN SELECT * FROM ccroute.month_partitions_past(h.parent, p_now) LOOP
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
                    'maintenance_pending', 'month_partition_name', 'months_needed', 'month_partitions_past'])
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
-- A locked role's VALID UNTIL can be changed behind the lock's back: the person, still in a
-- session opened before the lock, sets a new password (set_sql_password gives the role the
-- policy's expiry), or a DBA alters the role. Left so, the right password would pass SCRAM again
-- (the server proving it knew it, before the hook refuses: a password oracle for whoever keeps
-- guessing) and, without the library, let the person in. So a locked role found valid again is
-- put back to '-infinity', and the validity it was given is the one kept for the unlock.
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
    FOR r IN SELECT l.tenant_id, l.person_id, l.role_name, ro.rolvaliduntil
               FROM ccroute.sql_login_lock l
               JOIN ccroute.login_credential c ON c.tenant_id = l.tenant_id AND c.person_id = l.person_id
               JOIN pg_catalog.pg_roles ro ON ro.rolname = l.role_name
              WHERE c.locked_at IS NOT NULL
                AND ro.rolvaliduntil IS DISTINCT FROM '-infinity'::timestamptz
    LOOP
        UPDATE ccroute.sql_login_lock l SET valid_until_before = r.rolvaliduntil
         WHERE l.tenant_id = r.tenant_id AND l.person_id = r.person_id;
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

-- ===== SQL-password history (issue 7) =====
-- The tenant's password history applies to people's SQL roles too. Their SQL password and
-- their applications' password are two credentials with a history each: a SQL password may not
-- be one of the role's last N SQL passwords (N the policy's history), whichever way it is set
-- (set_sql_password, or a clear-text ALTER ROLE that the password-check hook sees).

ALTER TABLE ccroute.password_history
    ADD COLUMN kind text NOT NULL DEFAULT 'app'
        CONSTRAINT "password kind: app or sql" CHECK (kind IN ('app', 'sql'));

CREATE OR REPLACE FUNCTION ccroute.new_password_problem(p_tenant bigint, p_person ccroute.person, p_password text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
BEGIN
    problem := ccroute.password_problem(p_tenant, p_person.login, p_password,
                                        CASE WHEN p_person.kind = 'agent' THEN 'agent' ELSE 'admin' END);
    RETURN coalesce(problem, ccroute.password_history_problem(p_tenant, p_person.person_id, 'app', p_password));
END
$$;

-- Whether the password is one of the person's last N of that kind (N the policy's history).
CREATE FUNCTION ccroute.password_history_problem(p_tenant bigint, p_person bigint, p_kind text, p_password text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keep integer;
BEGIN
    SELECT pp.history INTO keep FROM ccroute.password_policy pp WHERE pp.tenant_id = p_tenant;
    IF keep > 0 AND EXISTS (
        SELECT FROM (SELECT h.password_hash FROM ccroute.password_history h
                      WHERE h.tenant_id = p_tenant AND h.person_id = p_person AND h.kind = p_kind
                      ORDER BY h.history_id DESC LIMIT keep) AS recent
         WHERE ccroute.password_verify(recent.password_hash, p_password)) THEN
        RETURN pg_catalog.format('is one of the last %s passwords', keep);
    END IF;
    RETURN NULL;
END
$$;

-- Keeps the hash of a password of that kind, the history trimmed to what the policy keeps.
CREATE FUNCTION ccroute.remember_password(p_tenant bigint, p_person bigint, p_kind text, p_hash text,
                                          p_at timestamptz) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keep integer;
BEGIN
    SELECT pp.history INTO keep FROM ccroute.password_policy pp WHERE pp.tenant_id = p_tenant;
    INSERT INTO ccroute.password_history (tenant_id, person_id, set_at, password_hash, kind)
        VALUES (p_tenant, p_person, p_at, p_hash, p_kind);
    DELETE FROM ccroute.password_history x
     WHERE x.tenant_id = p_tenant AND x.person_id = p_person AND x.kind = p_kind
       AND x.history_id NOT IN (SELECT k.history_id FROM ccroute.password_history k
                                 WHERE k.tenant_id = p_tenant AND k.person_id = p_person AND k.kind = p_kind
                                 ORDER BY k.history_id DESC LIMIT greatest(keep, 1));
END
$$;

CREATE OR REPLACE FUNCTION ccroute.store_password(p_tenant bigint, p_person ccroute.person, p_password text,
                                                  p_must_change boolean, p_keep_session bytea) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    now_ timestamptz := ccroute.auth_now();
    h text := ccroute.password_hash(p_password);
BEGIN
    UPDATE ccroute.login_credential c
       SET password_hash = h, password_set_at = now_, must_change = p_must_change
     WHERE c.tenant_id = p_tenant AND c.person_id = p_person.person_id;
    PERFORM ccroute.remember_password(p_tenant, p_person.person_id, 'app', h, now_);
    DELETE FROM ccroute.app_session s
     WHERE s.tenant_id = p_tenant AND s.person_id = p_person.person_id
       AND s.token_hash IS DISTINCT FROM p_keep_session;
END
$$;

-- The hook's question, for a clear-text CREATE or ALTER ROLE. A password that passes is about
-- to be set (the ALTER ROLE that asked commits or rolls back with this): it joins the role's SQL
-- history here. (set_sql_password keeps its own: the hook does not ask about it.)
CREATE OR REPLACE FUNCTION ccroute.sql_password_problem(p_role name, p_password text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    m ccroute.role_map;
    who text;
    problem text;
BEGIN
    SELECT * INTO m FROM ccroute.role_map r WHERE r.role_name = p_role;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('ccroute.tenant_context', m.tenant_id::text, true);
    IF p_password IS NULL THEN
        RETURN 'a person''s password must reach the server in clear to be checked against the tenant''s policy';
    END IF;
    SELECT p.login INTO who FROM ccroute.person p WHERE p.tenant_id = m.tenant_id AND p.person_id = m.person_id;
    problem := coalesce(ccroute.password_problem(m.tenant_id, who, p_password, 'admin'),
                        ccroute.password_history_problem(m.tenant_id, m.person_id, 'sql', p_password));
    IF problem IS NULL THEN
        PERFORM ccroute.remember_password(m.tenant_id, m.person_id, 'sql', ccroute.password_hash(p_password),
                                          ccroute.auth_now());
    END IF;
    RETURN problem;
END
$$;

CREATE OR REPLACE FUNCTION ccroute.set_sql_password(p_password text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint := ccroute.enter_own_tenant();
    per ccroute.person;
    pol ccroute.password_policy;
    problem text;
BEGIN
    SELECT p.* INTO per FROM ccroute.person p JOIN ccroute.role_map m USING (tenant_id, person_id)
     WHERE m.role_name = session_user;
    SELECT * INTO pol FROM ccroute.password_policy pp WHERE pp.tenant_id = id;
    -- The hook does not see this password (it arrives as the SCRAM secret made from it): the
    -- history is checked and kept here.
    problem := coalesce(ccroute.password_problem(id, per.login, p_password, 'admin'),
                        ccroute.password_history_problem(id, per.person_id, 'sql', p_password));
    PERFORM ccroute.audit_sign_in(id, 'set_sql_password', per, CASE WHEN problem IS NULL THEN 'ok' ELSE 'refused' END,
        jsonb_build_object('problem', problem));
    IF problem IS NOT NULL THEN
        RETURN 'refused: ' || problem;
    END IF;
    PERFORM ccroute.alter_login_role_password(session_user, p_password,
        ccroute.auth_now() + pol.expiry_days * interval '24 hours');
    PERFORM ccroute.remember_password(id, per.person_id, 'sql', ccroute.password_hash(p_password),
                                      ccroute.auth_now());
    RETURN 'ok';
END
$$;

REVOKE ALL ON FUNCTION ccroute.password_history_problem(bigint, bigint, text, text),
    ccroute.remember_password(bigint, bigint, text, text, timestamptz) FROM PUBLIC;
ALTER FUNCTION ccroute.password_history_problem(bigint, bigint, text, text) OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.remember_password(bigint, bigint, text, text, timestamptz) OWNER TO ccroute_owner;

-- ===== Reports (issue 8) =====
-- Analyst views by dialed number, skill and agent, per 15, 30 and 60 minutes, day and month of
-- the tenant's own time zone (reports/DEFINITIONS.md defines every measure). Each view sums
-- rolled-up 15-minute rows (refreshed by the daily maintenance) and the live tail of history
-- since the last roll-up, so a report is never stale. The roll-ups keep the start of every
-- grain's period in a column of its own, indexed, so that a filter on a view's grain and
-- period_start reaches an index instead of every row of the year.

------------------------------------------------------------------------------------------------
-- Roll-ups: contributions, by 15-minute bucket (of UTC, which is a 15-minute bucket of every
-- time zone's wall clock as well), of the calls that arrived before the tenant's rolled_until
-- and of the presence before it. Monthly partitions like history (maintenance creates and drops
-- them with the rest, and deletes rows past a tenant's retention by bucket_start).

CREATE TABLE ccroute.report_rollup_state (
    tenant_id     bigint PRIMARY KEY,
    rolled_until  timestamptz NOT NULL,       -- calls that arrived before it are rolled up
    settings      jsonb NOT NULL,             -- time zone and targets they were counted with
    refreshed_at  timestamptz NOT NULL
);

CREATE TABLE ccroute.report_did_15min (
    tenant_id               bigint NOT NULL,
    bucket_start            timestamptz NOT NULL,
    start_30min             timestamptz NOT NULL,
    start_60min             timestamptz NOT NULL,
    did                     text NOT NULL,
    calls                   integer NOT NULL,
    offered                 integer NOT NULL,
    answered                integer NOT NULL,
    abandoned               integer NOT NULL,
    short_abandoned         integer NOT NULL,
    other_unanswered        integer NOT NULL,
    answered_within_target  integer NOT NULL,
    service_level_calls     integer NOT NULL,
    wait_seconds_answered   numeric NOT NULL,
    talk_seconds            numeric NOT NULL,
    wrap_up_seconds         numeric NOT NULL,
    longest_wait_seconds    numeric
) PARTITION BY RANGE (bucket_start);

CREATE TABLE ccroute.report_skill_15min (
    tenant_id               bigint NOT NULL,
    bucket_start            timestamptz NOT NULL,
    start_30min             timestamptz NOT NULL,
    start_60min             timestamptz NOT NULL,
    skill_id                bigint NOT NULL,
    calls                   integer NOT NULL,
    offered                 integer NOT NULL,
    answered                integer NOT NULL,
    abandoned               integer NOT NULL,
    short_abandoned         integer NOT NULL,
    other_unanswered        integer NOT NULL,
    answered_within_target  integer NOT NULL,
    service_level_calls     integer NOT NULL,
    wait_seconds_answered   numeric NOT NULL,
    talk_seconds            numeric NOT NULL,
    wrap_up_seconds         numeric NOT NULL,
    longest_wait_seconds    numeric
) PARTITION BY RANGE (bucket_start);

-- An agent's calls count in the bucket of their arrival; the time on them and in presence in
-- the buckets it was spent in.
CREATE TABLE ccroute.report_agent_15min (
    tenant_id               bigint NOT NULL,
    bucket_start            timestamptz NOT NULL,
    start_30min             timestamptz NOT NULL,
    start_60min             timestamptz NOT NULL,
    agent_id                bigint NOT NULL,
    calls                   integer NOT NULL,
    offered                 integer NOT NULL,
    answered                integer NOT NULL,
    abandoned               integer NOT NULL,
    short_abandoned         integer NOT NULL,
    other_unanswered        integer NOT NULL,
    answered_within_target  integer NOT NULL,
    service_level_calls     integer NOT NULL,
    wait_seconds_answered   numeric NOT NULL,
    talk_seconds            numeric NOT NULL,
    wrap_up_seconds         numeric NOT NULL,
    longest_wait_seconds    numeric,
    busy_seconds            numeric NOT NULL,
    ready_seconds           numeric NOT NULL,
    not_ready_seconds       numeric NOT NULL
) PARTITION BY RANGE (bucket_start);

CREATE TABLE ccroute.report_presence_15min (
    tenant_id               bigint NOT NULL,
    bucket_start            timestamptz NOT NULL,
    start_30min             timestamptz NOT NULL,
    start_60min             timestamptz NOT NULL,
    agent_id                bigint NOT NULL,
    presence                text NOT NULL,
    reason                  text,
    seconds                 numeric NOT NULL
) PARTITION BY RANGE (bucket_start);

-- The same contributions by the tenant's day: the day and month grains read these, a year's
-- months a few tens of thousands of rows instead of a million and a half.
CREATE TABLE ccroute.report_did_day (
    tenant_id               bigint NOT NULL,
    start_day               timestamptz NOT NULL,
    start_month             timestamptz NOT NULL,
    did                     text NOT NULL,
    calls                   integer NOT NULL,
    offered                 integer NOT NULL,
    answered                integer NOT NULL,
    abandoned               integer NOT NULL,
    short_abandoned         integer NOT NULL,
    other_unanswered        integer NOT NULL,
    answered_within_target  integer NOT NULL,
    service_level_calls     integer NOT NULL,
    wait_seconds_answered   numeric NOT NULL,
    talk_seconds            numeric NOT NULL,
    wrap_up_seconds         numeric NOT NULL,
    longest_wait_seconds    numeric
) PARTITION BY RANGE (start_day);

CREATE TABLE ccroute.report_skill_day (
    tenant_id               bigint NOT NULL,
    start_day               timestamptz NOT NULL,
    start_month             timestamptz NOT NULL,
    skill_id                bigint NOT NULL,
    calls                   integer NOT NULL,
    offered                 integer NOT NULL,
    answered                integer NOT NULL,
    abandoned               integer NOT NULL,
    short_abandoned         integer NOT NULL,
    other_unanswered        integer NOT NULL,
    answered_within_target  integer NOT NULL,
    service_level_calls     integer NOT NULL,
    wait_seconds_answered   numeric NOT NULL,
    talk_seconds            numeric NOT NULL,
    wrap_up_seconds         numeric NOT NULL,
    longest_wait_seconds    numeric
) PARTITION BY RANGE (start_day);

CREATE TABLE ccroute.report_agent_day (
    tenant_id               bigint NOT NULL,
    start_day               timestamptz NOT NULL,
    start_month             timestamptz NOT NULL,
    agent_id                bigint NOT NULL,
    calls                   integer NOT NULL,
    offered                 integer NOT NULL,
    answered                integer NOT NULL,
    abandoned               integer NOT NULL,
    short_abandoned         integer NOT NULL,
    other_unanswered        integer NOT NULL,
    answered_within_target  integer NOT NULL,
    service_level_calls     integer NOT NULL,
    wait_seconds_answered   numeric NOT NULL,
    talk_seconds            numeric NOT NULL,
    wrap_up_seconds         numeric NOT NULL,
    longest_wait_seconds    numeric,
    busy_seconds            numeric NOT NULL,
    ready_seconds           numeric NOT NULL,
    not_ready_seconds       numeric NOT NULL
) PARTITION BY RANGE (start_day);

CREATE TABLE ccroute.report_presence_day (
    tenant_id               bigint NOT NULL,
    start_day               timestamptz NOT NULL,
    start_month             timestamptz NOT NULL,
    agent_id                bigint NOT NULL,
    presence                text NOT NULL,
    reason                  text,
    seconds                 numeric NOT NULL
) PARTITION BY RANGE (start_day);

-- Each roll-up: its default partition, one index per grain (a view's filter on period_start
-- becomes a range on one of them), row security, and the reports' readers. Like history's, the
-- default partitions let the maintenance in: it moves a month's rows out of them into the
-- month's partition when it makes one.
SELECT ccroute.protect_table('ccroute.report_rollup_state', true, false);
DO $rollups$
DECLARE
    t text;
    c text;
BEGIN
    FOREACH t IN ARRAY ARRAY['report_did_15min', 'report_skill_15min', 'report_agent_15min',
                             'report_presence_15min', 'report_did_day', 'report_skill_day',
                             'report_agent_day', 'report_presence_day'] LOOP
        EXECUTE pg_catalog.format('CREATE TABLE ccroute.%I PARTITION OF ccroute.%I DEFAULT',
                                  t || '_default', t);
        FOREACH c IN ARRAY CASE WHEN t LIKE '%_day'
                                THEN ARRAY['start_day', 'start_month']
                                ELSE ARRAY['bucket_start', 'start_30min', 'start_60min'] END LOOP
            EXECUTE pg_catalog.format('CREATE INDEX %I ON ccroute.%I (tenant_id, %I)',
                                      t || '_by_' || c, t, c);
        END LOOP;
        PERFORM ccroute.protect_table(pg_catalog.format('ccroute.%I', t)::regclass, true, false);
        PERFORM ccroute.protect_table(pg_catalog.format('ccroute.%I', t || '_default')::regclass, false, false);
        EXECUTE pg_catalog.format('CREATE POLICY maintenance ON ccroute.%I USING (ccroute.maintenance_mode())
                                      WITH CHECK (ccroute.maintenance_mode())', t || '_default');
        EXECUTE pg_catalog.format('REVOKE ALL ON ccroute.%I FROM PUBLIC', t);
        EXECUTE pg_catalog.format('GRANT SELECT ON ccroute.%I TO ccroute_analyst, ccroute_tenant_admin, ccroute_supervisor', t);
    END LOOP;
END
$rollups$;
REVOKE ALL ON ccroute.report_rollup_state FROM PUBLIC;
GRANT SELECT ON ccroute.report_rollup_state TO ccroute_analyst, ccroute_tenant_admin, ccroute_supervisor;

------------------------------------------------------------------------------------------------
-- The two sources, for one tenant and a span of time. Both the roll-up and the views' live
-- tail read history only through them, so they count alike. Periods: a 15-minute bucket of
-- UTC is one of the wall clock too (every time zone's offset is a multiple of 15 minutes); the
-- 30- and 60-minute periods are found by the wall clock's minutes, so that the hour repeated
-- when clocks go back is two periods; a day and a month start at the wall clock's midnight.

-- Each call that arrived in [p_from, p_to), in the bucket of its arrival, with what it adds to
-- each measure, and the span its agent spent on it (talk and wrap-up).
CREATE FUNCTION ccroute.report_calls(p_tenant bigint, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket_start timestamptz, start_30min timestamptz, start_60min timestamptz,
               start_day timestamptz, start_month timestamptz, did text, skill_id bigint,
               agent_id bigint, calls integer, offered integer, answered integer,
               abandoned integer, short_abandoned integer, other_unanswered integer,
               answered_within_target integer, service_level_calls integer,
               wait_seconds_answered numeric, talk_seconds numeric, wrap_up_seconds numeric,
               longest_wait_seconds numeric, busy_from timestamptz, busy_until timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT b.b,
           b.b - (timezone(t.time_zone, b.b) - date_bin('30 minutes', timezone(t.time_zone, b.b), timestamp '2000-01-01')),
           b.b - (timezone(t.time_zone, b.b) - date_trunc('hour', timezone(t.time_zone, b.b))),
           timezone(t.time_zone, date_trunc('day', timezone(t.time_zone, b.b))),
           timezone(t.time_zone, date_trunc('month', timezone(t.time_zone, b.b))),
           h.dialed, h.skill_id, h.agent_id,
           1,
           c.offered::integer,
           c.answered::integer,
           c.abandoned::integer,
           c.short_abandoned::integer,
           (c.offered AND NOT c.answered AND h.outcome <> 'abandoned')::integer,
           coalesce(c.answered AND h.wait_seconds <= k.service_level_seconds, false)::integer,
           (k.skill_id IS NOT NULL AND (c.answered OR c.abandoned))::integer,
           CASE WHEN c.answered THEN coalesce(h.wait_seconds, 0) ELSE 0 END,
           CASE WHEN c.answered THEN coalesce(h.talk_seconds, 0) ELSE 0 END,
           CASE WHEN c.answered THEN coalesce(h.wrap_up_seconds, 0) ELSE 0 END,
           CASE WHEN c.offered THEN coalesce(h.wait_seconds, 0) END,
           CASE WHEN c.answered THEN h.answered_at END,
           CASE WHEN c.answered THEN h.ended_at + make_interval(secs => coalesce(h.wrap_up_seconds, 0)) END
      FROM ccroute.call_history h
      JOIN ccroute.tenant t ON t.tenant_id = h.tenant_id
      LEFT JOIN ccroute.skill k ON k.tenant_id = h.tenant_id AND k.skill_id = h.skill_id
     CROSS JOIN LATERAL (SELECT date_bin('15 minutes', h.arrived_at, timestamptz '2000-01-01 00:00:00+00') AS b) b
     CROSS JOIN LATERAL (
            SELECT h.offered_at IS NOT NULL AS offered,
                   h.outcome = 'answered' AND h.answered_at IS NOT NULL AS answered,
                   h.outcome = 'abandoned' AND coalesce(h.wait_seconds, 0) >= t.short_abandon_seconds AS abandoned,
                   h.outcome = 'abandoned' AND coalesce(h.wait_seconds, 0) < t.short_abandon_seconds AS short_abandoned) c
     WHERE h.tenant_id = p_tenant AND h.arrived_at >= p_from AND h.arrived_at < p_to
$$;

-- The time an agent spent in [p_from, p_to), by presence and not-ready reason, cut at the
-- buckets' edges. A presence lasts from its change to the agent's next change (or to p_to).
CREATE FUNCTION ccroute.report_presence(p_tenant bigint, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket_start timestamptz, start_30min timestamptz, start_60min timestamptz,
               start_day timestamptz, start_month timestamptz, agent_id bigint, presence text,
               reason text, seconds numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH changes AS (
        SELECT s.agent_id, s.presence, s.reason::text AS reason, s.changed_at, s.change_seq
          FROM ccroute.agent_state_history s
         WHERE s.tenant_id = p_tenant AND s.changed_at >= p_from AND s.changed_at < p_to
        UNION ALL
        -- Each agent's presence when the span starts.
        SELECT l.agent_id, l.presence, l.reason, l.changed_at, l.change_seq
          FROM ccroute.agent a
         CROSS JOIN LATERAL (
                SELECT s.agent_id, s.presence, s.reason::text AS reason, s.changed_at, s.change_seq
                  FROM ccroute.agent_state_history s
                 WHERE s.tenant_id = p_tenant AND s.agent_id = a.agent_id AND s.changed_at < p_from
                 ORDER BY s.changed_at DESC, s.change_seq DESC LIMIT 1) l
         WHERE a.tenant_id = p_tenant AND p_from > '-infinity'
    ), spans AS (
        SELECT c.agent_id, c.presence, c.reason, greatest(c.changed_at, p_from) AS f,
               coalesce(lead(c.changed_at) OVER (PARTITION BY c.agent_id ORDER BY c.changed_at, c.change_seq),
                        p_to) AS u
          FROM changes c
    )
    SELECT b.b,
           b.b - (timezone(t.time_zone, b.b) - date_bin('30 minutes', timezone(t.time_zone, b.b), timestamp '2000-01-01')),
           b.b - (timezone(t.time_zone, b.b) - date_trunc('hour', timezone(t.time_zone, b.b))),
           timezone(t.time_zone, date_trunc('day', timezone(t.time_zone, b.b))),
           timezone(t.time_zone, date_trunc('month', timezone(t.time_zone, b.b))),
           sp.agent_id, sp.presence, sp.reason,
           extract(epoch FROM least(b.b + interval '15 minutes', sp.u) - greatest(b.b, sp.f))
      FROM spans sp
      JOIN ccroute.tenant t ON t.tenant_id = p_tenant
     CROSS JOIN LATERAL generate_series(date_bin('15 minutes', sp.f, timestamptz '2000-01-01 00:00:00+00'),
                                        sp.u, interval '15 minutes') AS b (b)
     WHERE sp.presence <> 'logged_out' AND sp.u > sp.f AND b.b < sp.u
$$;

-- An agent's busy time (talk and wrap-up) of calls that arrived in [p_from, p_to), cut at
-- the buckets' edges (and at p_until: wrap-up still to come is not yet spent).
CREATE FUNCTION ccroute.report_busy(p_tenant bigint, p_from timestamptz, p_to timestamptz,
                                    p_until timestamptz DEFAULT 'infinity')
RETURNS TABLE (bucket_start timestamptz, start_30min timestamptz, start_60min timestamptz,
               start_day timestamptz, start_month timestamptz, agent_id bigint, seconds numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT b.b,
           b.b - (timezone(t.time_zone, b.b) - date_bin('30 minutes', timezone(t.time_zone, b.b), timestamp '2000-01-01')),
           b.b - (timezone(t.time_zone, b.b) - date_trunc('hour', timezone(t.time_zone, b.b))),
           timezone(t.time_zone, date_trunc('day', timezone(t.time_zone, b.b))),
           timezone(t.time_zone, date_trunc('month', timezone(t.time_zone, b.b))),
           c.agent_id,
           extract(epoch FROM least(b.b + interval '15 minutes', c.u) - greatest(b.b, c.busy_from))
      FROM (SELECT r.agent_id, r.busy_from, least(r.busy_until, p_until) AS u
              FROM ccroute.report_calls(p_tenant, p_from, p_to) r
             WHERE r.agent_id IS NOT NULL AND r.busy_from IS NOT NULL) c
      JOIN ccroute.tenant t ON t.tenant_id = p_tenant
     CROSS JOIN LATERAL generate_series(date_bin('15 minutes', c.busy_from, timestamptz '2000-01-01 00:00:00+00'),
                                        c.u, interval '15 minutes') AS b (b)
     WHERE c.u > c.busy_from AND b.b < c.u
$$;

------------------------------------------------------------------------------------------------
-- The roll-up, called by the daily maintenance (ccroute.maintain). A tenant's calls are rolled
-- up once they are a day old (until then withdraw_call may still amend an expired offer), and
-- never past a call still in progress; a change of the tenant's time zone, short-abandon
-- threshold or a skill's service-level target rolls the tenant up again from the start.

CREATE FUNCTION ccroute.refresh_report_rollups(p_now timestamptz DEFAULT now())
RETURNS TABLE (tenant text, rolled_from timestamptz, rolled_until timestamptz, rebuilt boolean, rows bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    t record;
    st ccroute.report_rollup_state;
    now_settings jsonb;
    since timestamptz;
    upto timestamptz;
    total bigint;
BEGIN
    FOR t IN SELECT x.tenant_id, x.name FROM ccroute.tenant x ORDER BY x.tenant_id LOOP
        PERFORM set_config('ccroute.tenant_context', t.tenant_id::text, true);
        SELECT * INTO st FROM ccroute.report_rollup_state s WHERE s.tenant_id = t.tenant_id FOR UPDATE;
        SELECT jsonb_build_object(
                   'time_zone', x.time_zone, 'short_abandon_seconds', x.short_abandon_seconds,
                   'service_level_seconds',
                   (SELECT coalesce(jsonb_object_agg(k.skill_id::text, k.service_level_seconds), '{}')
                      FROM ccroute.skill k WHERE k.tenant_id = x.tenant_id))
          INTO now_settings
          FROM ccroute.tenant x WHERE x.tenant_id = t.tenant_id;
        rebuilt := st.tenant_id IS NOT NULL AND st.settings IS DISTINCT FROM now_settings;
        IF st.tenant_id IS NULL OR rebuilt THEN
            since := '-infinity';
            DELETE FROM ccroute.report_did_15min r WHERE r.tenant_id = t.tenant_id;
            DELETE FROM ccroute.report_did_day r WHERE r.tenant_id = t.tenant_id;
            DELETE FROM ccroute.report_skill_15min r WHERE r.tenant_id = t.tenant_id;
            DELETE FROM ccroute.report_skill_day r WHERE r.tenant_id = t.tenant_id;
            DELETE FROM ccroute.report_agent_15min r WHERE r.tenant_id = t.tenant_id;
            DELETE FROM ccroute.report_agent_day r WHERE r.tenant_id = t.tenant_id;
            DELETE FROM ccroute.report_presence_15min r WHERE r.tenant_id = t.tenant_id;
            DELETE FROM ccroute.report_presence_day r WHERE r.tenant_id = t.tenant_id;
        ELSE
            since := st.rolled_until;
        END IF;
        upto := date_bin('15 minutes', least(p_now, now()) - interval '1 day',
                         timestamptz '2000-01-01 00:00:00+00');
        upto := least(upto, (SELECT date_bin('15 minutes', min(l.arrived_at), timestamptz '2000-01-01 00:00:00+00')
                               FROM ccroute.live_call l WHERE l.tenant_id = t.tenant_id));
        upto := greatest(upto, since);
        total := 0;

        IF upto > since THEN
            WITH c AS MATERIALIZED (
                SELECT * FROM ccroute.report_calls(t.tenant_id, since, upto)
            ), p AS MATERIALIZED (
                SELECT * FROM ccroute.report_presence(t.tenant_id, since, upto)
            ), a AS MATERIALIZED (
                SELECT c.bucket_start, c.start_30min, c.start_60min, c.start_day, c.start_month, c.agent_id,
                       c.calls, c.offered, c.answered, c.abandoned, c.short_abandoned,
                       c.other_unanswered, c.answered_within_target, c.service_level_calls,
                       c.wait_seconds_answered, c.talk_seconds, c.wrap_up_seconds,
                       c.longest_wait_seconds,
                       0::numeric AS busy_seconds, 0::numeric AS ready_seconds, 0::numeric AS not_ready_seconds
                  FROM c WHERE c.agent_id IS NOT NULL
                UNION ALL
                SELECT c.bucket_start, c.start_30min, c.start_60min, c.start_day, c.start_month, c.agent_id,
                       0, 0, 0, 0, 0, 0, 0, 0, 0::numeric, 0::numeric, 0::numeric, NULL::numeric, c.seconds, 0, 0
                  FROM ccroute.report_busy(t.tenant_id, since, upto) c
                UNION ALL
                SELECT c.bucket_start, c.start_30min, c.start_60min, c.start_day, c.start_month, c.agent_id,
                       0, 0, 0, 0, 0, 0, 0, 0, 0::numeric, 0::numeric, 0::numeric, NULL::numeric, 0,
                       CASE WHEN c.presence = 'ready' THEN c.seconds ELSE 0 END,
                       CASE WHEN c.presence = 'not_ready' THEN c.seconds ELSE 0 END
                  FROM p c
            ), did_15min AS (
                INSERT INTO ccroute.report_did_15min
                SELECT t.tenant_id, c.bucket_start, c.start_30min, c.start_60min, c.did,
                       sum(c.calls), sum(c.offered), sum(c.answered), sum(c.abandoned),
                       sum(c.short_abandoned), sum(c.other_unanswered),
                       sum(c.answered_within_target), sum(c.service_level_calls),
                       sum(c.wait_seconds_answered), sum(c.talk_seconds),
                       sum(c.wrap_up_seconds), max(c.longest_wait_seconds)
                  FROM c
                 GROUP BY c.bucket_start, c.start_30min, c.start_60min, c.did
                RETURNING 1
            ), did_day AS (
                INSERT INTO ccroute.report_did_day
                SELECT t.tenant_id, c.start_day, c.start_month, c.did, sum(c.calls),
                       sum(c.offered), sum(c.answered), sum(c.abandoned),
                       sum(c.short_abandoned), sum(c.other_unanswered),
                       sum(c.answered_within_target), sum(c.service_level_calls),
                       sum(c.wait_seconds_answered), sum(c.talk_seconds),
                       sum(c.wrap_up_seconds), max(c.longest_wait_seconds)
                  FROM c
                 GROUP BY c.start_day, c.start_month, c.did
                RETURNING 1
            ), skill_15min AS (
                INSERT INTO ccroute.report_skill_15min
                SELECT t.tenant_id, c.bucket_start, c.start_30min, c.start_60min, c.skill_id,
                       sum(c.calls), sum(c.offered), sum(c.answered), sum(c.abandoned),
                       sum(c.short_abandoned), sum(c.other_unanswered),
                       sum(c.answered_within_target), sum(c.service_level_calls),
                       sum(c.wait_seconds_answered), sum(c.talk_seconds),
                       sum(c.wrap_up_seconds), max(c.longest_wait_seconds)
                  FROM c
                 WHERE c.skill_id IS NOT NULL
                 GROUP BY c.bucket_start, c.start_30min, c.start_60min, c.skill_id
                RETURNING 1
            ), skill_day AS (
                INSERT INTO ccroute.report_skill_day
                SELECT t.tenant_id, c.start_day, c.start_month, c.skill_id, sum(c.calls),
                       sum(c.offered), sum(c.answered), sum(c.abandoned),
                       sum(c.short_abandoned), sum(c.other_unanswered),
                       sum(c.answered_within_target), sum(c.service_level_calls),
                       sum(c.wait_seconds_answered), sum(c.talk_seconds),
                       sum(c.wrap_up_seconds), max(c.longest_wait_seconds)
                  FROM c
                 WHERE c.skill_id IS NOT NULL
                 GROUP BY c.start_day, c.start_month, c.skill_id
                RETURNING 1
            ), agent_15min AS (
                INSERT INTO ccroute.report_agent_15min
                SELECT t.tenant_id, a.bucket_start, a.start_30min, a.start_60min, a.agent_id,
                       sum(a.calls), sum(a.offered), sum(a.answered), sum(a.abandoned),
                       sum(a.short_abandoned), sum(a.other_unanswered),
                       sum(a.answered_within_target), sum(a.service_level_calls),
                       sum(a.wait_seconds_answered), sum(a.talk_seconds),
                       sum(a.wrap_up_seconds), max(a.longest_wait_seconds), sum(a.busy_seconds),
                       sum(a.ready_seconds), sum(a.not_ready_seconds)
                  FROM a
                 GROUP BY a.bucket_start, a.start_30min, a.start_60min, a.agent_id
                RETURNING 1
            ), agent_day AS (
                INSERT INTO ccroute.report_agent_day
                SELECT t.tenant_id, a.start_day, a.start_month, a.agent_id, sum(a.calls),
                       sum(a.offered), sum(a.answered), sum(a.abandoned),
                       sum(a.short_abandoned), sum(a.other_unanswered),
                       sum(a.answered_within_target), sum(a.service_level_calls),
                       sum(a.wait_seconds_answered), sum(a.talk_seconds),
                       sum(a.wrap_up_seconds), max(a.longest_wait_seconds), sum(a.busy_seconds),
                       sum(a.ready_seconds), sum(a.not_ready_seconds)
                  FROM a
                 GROUP BY a.start_day, a.start_month, a.agent_id
                RETURNING 1
            ), presence_15min AS (
                INSERT INTO ccroute.report_presence_15min
                SELECT t.tenant_id, p.bucket_start, p.start_30min, p.start_60min, p.agent_id,
                       p.presence, p.reason, sum(p.seconds)
                  FROM p
                 GROUP BY p.bucket_start, p.start_30min, p.start_60min, p.agent_id, p.presence, p.reason
                RETURNING 1
            ), presence_day AS (
                INSERT INTO ccroute.report_presence_day
                SELECT t.tenant_id, p.start_day, p.start_month, p.agent_id, p.presence,
                       p.reason, sum(p.seconds)
                  FROM p
                 GROUP BY p.start_day, p.start_month, p.agent_id, p.presence, p.reason
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM did_15min) + (SELECT count(*) FROM did_day)
                   + (SELECT count(*) FROM skill_15min) + (SELECT count(*) FROM skill_day)
                   + (SELECT count(*) FROM agent_15min) + (SELECT count(*) FROM agent_day)
                   + (SELECT count(*) FROM presence_15min) + (SELECT count(*) FROM presence_day)
              INTO total;
        END IF;

        INSERT INTO ccroute.report_rollup_state AS s (tenant_id, rolled_until, settings, refreshed_at)
        VALUES (t.tenant_id, upto, now_settings, p_now)
        ON CONFLICT (tenant_id) DO UPDATE
           SET rolled_until = excluded.rolled_until, settings = excluded.settings,
               refreshed_at = excluded.refreshed_at;
        tenant := t.name; rolled_from := since; rolled_until := upto; rows := total;
        RETURN NEXT;
    END LOOP;
    PERFORM set_config('ccroute.tenant_context', '', true);
END
$$;

------------------------------------------------------------------------------------------------
-- The views. report_*_15min_rows and report_*_day_rows: the rolled-up rows and the live tail
-- computed from history since the tenant's rolled_until; report_*_periods: each row once per
-- grain, with its period's start (15, 30 and 60 minutes from the 15-minute rows, days and
-- months from the day rows); report_*: summed by grain and period, with ratios and averages.

CREATE VIEW ccroute.report_did_15min_rows WITH (security_invoker = true) AS
SELECT r.tenant_id, r.bucket_start, r.start_30min, r.start_60min, r.did, r.calls, r.offered,
       r.answered, r.abandoned, r.short_abandoned, r.other_unanswered, r.answered_within_target,
       r.service_level_calls, r.wait_seconds_answered, r.talk_seconds, r.wrap_up_seconds,
       r.longest_wait_seconds
  FROM ccroute.report_did_15min r
UNION ALL
SELECT t.tenant_id, c.bucket_start, c.start_30min, c.start_60min, c.did, c.calls, c.offered,
       c.answered, c.abandoned, c.short_abandoned, c.other_unanswered, c.answered_within_target,
       c.service_level_calls, c.wait_seconds_answered, c.talk_seconds, c.wrap_up_seconds,
       c.longest_wait_seconds
  FROM ccroute.tenant t
  LEFT JOIN ccroute.report_rollup_state w ON w.tenant_id = t.tenant_id
 CROSS JOIN LATERAL ccroute.report_calls(t.tenant_id, coalesce(w.rolled_until, '-infinity'), 'infinity') c;

CREATE VIEW ccroute.report_skill_15min_rows WITH (security_invoker = true) AS
SELECT r.tenant_id, r.bucket_start, r.start_30min, r.start_60min, r.skill_id, r.calls,
       r.offered, r.answered, r.abandoned, r.short_abandoned, r.other_unanswered,
       r.answered_within_target, r.service_level_calls, r.wait_seconds_answered, r.talk_seconds,
       r.wrap_up_seconds, r.longest_wait_seconds
  FROM ccroute.report_skill_15min r
UNION ALL
SELECT t.tenant_id, c.bucket_start, c.start_30min, c.start_60min, c.skill_id, c.calls,
       c.offered, c.answered, c.abandoned, c.short_abandoned, c.other_unanswered,
       c.answered_within_target, c.service_level_calls, c.wait_seconds_answered, c.talk_seconds,
       c.wrap_up_seconds, c.longest_wait_seconds
  FROM ccroute.tenant t
  LEFT JOIN ccroute.report_rollup_state w ON w.tenant_id = t.tenant_id
 CROSS JOIN LATERAL ccroute.report_calls(t.tenant_id, coalesce(w.rolled_until, '-infinity'), 'infinity') c
 WHERE c.skill_id IS NOT NULL;

CREATE VIEW ccroute.report_agent_15min_rows WITH (security_invoker = true) AS
SELECT r.tenant_id, r.bucket_start, r.start_30min, r.start_60min, r.agent_id, r.calls,
       r.offered, r.answered, r.abandoned, r.short_abandoned, r.other_unanswered,
       r.answered_within_target, r.service_level_calls, r.wait_seconds_answered, r.talk_seconds,
       r.wrap_up_seconds, r.longest_wait_seconds, r.busy_seconds, r.ready_seconds,
       r.not_ready_seconds
  FROM ccroute.report_agent_15min r
UNION ALL
SELECT t.tenant_id, c.bucket_start, c.start_30min, c.start_60min, c.agent_id, c.calls,
       c.offered, c.answered, c.abandoned, c.short_abandoned, c.other_unanswered,
       c.answered_within_target, c.service_level_calls, c.wait_seconds_answered, c.talk_seconds,
       c.wrap_up_seconds, c.longest_wait_seconds, 0::numeric, 0::numeric, 0::numeric
  FROM ccroute.tenant t
  LEFT JOIN ccroute.report_rollup_state w ON w.tenant_id = t.tenant_id
 CROSS JOIN LATERAL ccroute.report_calls(t.tenant_id, coalesce(w.rolled_until, '-infinity'), 'infinity') c
 WHERE c.agent_id IS NOT NULL
UNION ALL
SELECT t.tenant_id, c.bucket_start, c.start_30min, c.start_60min, c.agent_id, 0, 0, 0, 0, 0, 0,
       0, 0, 0::numeric, 0::numeric, 0::numeric, NULL::numeric, c.seconds, 0::numeric,
       0::numeric
  FROM ccroute.tenant t
  LEFT JOIN ccroute.report_rollup_state w ON w.tenant_id = t.tenant_id
 CROSS JOIN LATERAL ccroute.report_busy(t.tenant_id, coalesce(w.rolled_until, '-infinity'), 'infinity', now()) c
UNION ALL
SELECT t.tenant_id, c.bucket_start, c.start_30min, c.start_60min, c.agent_id, 0, 0, 0, 0, 0, 0,
       0, 0, 0::numeric, 0::numeric, 0::numeric, NULL::numeric, 0::numeric,
       CASE WHEN c.presence = 'ready' THEN c.seconds ELSE 0 END,
       CASE WHEN c.presence = 'not_ready' THEN c.seconds ELSE 0 END
  FROM ccroute.tenant t
  LEFT JOIN ccroute.report_rollup_state w ON w.tenant_id = t.tenant_id
 CROSS JOIN LATERAL ccroute.report_presence(t.tenant_id, coalesce(w.rolled_until, '-infinity'), now()) c;

CREATE VIEW ccroute.report_presence_15min_rows WITH (security_invoker = true) AS
SELECT r.tenant_id, r.bucket_start, r.start_30min, r.start_60min, r.agent_id, r.presence,
       r.reason, r.seconds
  FROM ccroute.report_presence_15min r
UNION ALL
SELECT t.tenant_id, c.bucket_start, c.start_30min, c.start_60min, c.agent_id, c.presence,
       c.reason, c.seconds
  FROM ccroute.tenant t
  LEFT JOIN ccroute.report_rollup_state w ON w.tenant_id = t.tenant_id
 CROSS JOIN LATERAL ccroute.report_presence(t.tenant_id, coalesce(w.rolled_until, '-infinity'), now()) c;

CREATE VIEW ccroute.report_did_day_rows WITH (security_invoker = true) AS
SELECT r.tenant_id, r.start_day, r.start_month, r.did, r.calls, r.offered, r.answered,
       r.abandoned, r.short_abandoned, r.other_unanswered, r.answered_within_target,
       r.service_level_calls, r.wait_seconds_answered, r.talk_seconds, r.wrap_up_seconds,
       r.longest_wait_seconds
  FROM ccroute.report_did_day r
UNION ALL
SELECT t.tenant_id, c.start_day, c.start_month, c.did, c.calls, c.offered, c.answered,
       c.abandoned, c.short_abandoned, c.other_unanswered, c.answered_within_target,
       c.service_level_calls, c.wait_seconds_answered, c.talk_seconds, c.wrap_up_seconds,
       c.longest_wait_seconds
  FROM ccroute.tenant t
  LEFT JOIN ccroute.report_rollup_state w ON w.tenant_id = t.tenant_id
 CROSS JOIN LATERAL ccroute.report_calls(t.tenant_id, coalesce(w.rolled_until, '-infinity'), 'infinity') c;

CREATE VIEW ccroute.report_skill_day_rows WITH (security_invoker = true) AS
SELECT r.tenant_id, r.start_day, r.start_month, r.skill_id, r.calls, r.offered, r.answered,
       r.abandoned, r.short_abandoned, r.other_unanswered, r.answered_within_target,
       r.service_level_calls, r.wait_seconds_answered, r.talk_seconds, r.wrap_up_seconds,
       r.longest_wait_seconds
  FROM ccroute.report_skill_day r
UNION ALL
SELECT t.tenant_id, c.start_day, c.start_month, c.skill_id, c.calls, c.offered, c.answered,
       c.abandoned, c.short_abandoned, c.other_unanswered, c.answered_within_target,
       c.service_level_calls, c.wait_seconds_answered, c.talk_seconds, c.wrap_up_seconds,
       c.longest_wait_seconds
  FROM ccroute.tenant t
  LEFT JOIN ccroute.report_rollup_state w ON w.tenant_id = t.tenant_id
 CROSS JOIN LATERAL ccroute.report_calls(t.tenant_id, coalesce(w.rolled_until, '-infinity'), 'infinity') c
 WHERE c.skill_id IS NOT NULL;

CREATE VIEW ccroute.report_agent_day_rows WITH (security_invoker = true) AS
SELECT r.tenant_id, r.start_day, r.start_month, r.agent_id, r.calls, r.offered, r.answered,
       r.abandoned, r.short_abandoned, r.other_unanswered, r.answered_within_target,
       r.service_level_calls, r.wait_seconds_answered, r.talk_seconds, r.wrap_up_seconds,
       r.longest_wait_seconds, r.busy_seconds, r.ready_seconds, r.not_ready_seconds
  FROM ccroute.report_agent_day r
UNION ALL
SELECT t.tenant_id, c.start_day, c.start_month, c.agent_id, c.calls, c.offered, c.answered,
       c.abandoned, c.short_abandoned, c.other_unanswered, c.answered_within_target,
       c.service_level_calls, c.wait_seconds_answered, c.talk_seconds, c.wrap_up_seconds,
       c.longest_wait_seconds, 0::numeric, 0::numeric, 0::numeric
  FROM ccroute.tenant t
  LEFT JOIN ccroute.report_rollup_state w ON w.tenant_id = t.tenant_id
 CROSS JOIN LATERAL ccroute.report_calls(t.tenant_id, coalesce(w.rolled_until, '-infinity'), 'infinity') c
 WHERE c.agent_id IS NOT NULL
UNION ALL
SELECT t.tenant_id, c.start_day, c.start_month, c.agent_id, 0, 0, 0, 0, 0, 0, 0, 0, 0::numeric,
       0::numeric, 0::numeric, NULL::numeric, c.seconds, 0::numeric, 0::numeric
  FROM ccroute.tenant t
  LEFT JOIN ccroute.report_rollup_state w ON w.tenant_id = t.tenant_id
 CROSS JOIN LATERAL ccroute.report_busy(t.tenant_id, coalesce(w.rolled_until, '-infinity'), 'infinity', now()) c
UNION ALL
SELECT t.tenant_id, c.start_day, c.start_month, c.agent_id, 0, 0, 0, 0, 0, 0, 0, 0, 0::numeric,
       0::numeric, 0::numeric, NULL::numeric, 0::numeric,
       CASE WHEN c.presence = 'ready' THEN c.seconds ELSE 0 END,
       CASE WHEN c.presence = 'not_ready' THEN c.seconds ELSE 0 END
  FROM ccroute.tenant t
  LEFT JOIN ccroute.report_rollup_state w ON w.tenant_id = t.tenant_id
 CROSS JOIN LATERAL ccroute.report_presence(t.tenant_id, coalesce(w.rolled_until, '-infinity'), now()) c;

CREATE VIEW ccroute.report_presence_day_rows WITH (security_invoker = true) AS
SELECT r.tenant_id, r.start_day, r.start_month, r.agent_id, r.presence, r.reason, r.seconds
  FROM ccroute.report_presence_day r
UNION ALL
SELECT t.tenant_id, c.start_day, c.start_month, c.agent_id, c.presence, c.reason, c.seconds
  FROM ccroute.tenant t
  LEFT JOIN ccroute.report_rollup_state w ON w.tenant_id = t.tenant_id
 CROSS JOIN LATERAL ccroute.report_presence(t.tenant_id, coalesce(w.rolled_until, '-infinity'), now()) c;

-- Each row once per grain, with the start of its period there: one SELECT per grain, a
-- constant grain in each, so that a filter on grain leaves only its own branch at plan time.
DO $periods$
DECLARE
    measures constant text := 'r.calls, r.offered, r.answered, r.abandoned, r.short_abandoned, '
        'r.other_unanswered, r.answered_within_target, r.service_level_calls, '
        'r.wait_seconds_answered, r.talk_seconds, r.wrap_up_seconds, r.longest_wait_seconds';
    d record;
BEGIN
    FOR d IN SELECT * FROM (VALUES
            ('did', 'r.did, ' || measures),
            ('skill', 'r.skill_id, ' || measures),
            ('agent', 'r.agent_id, ' || measures || ', r.busy_seconds, r.ready_seconds, r.not_ready_seconds'),
            ('presence', 'r.agent_id, r.presence, r.reason, r.seconds')) AS v (dim, cols) LOOP
        EXECUTE pg_catalog.format(
            'CREATE VIEW ccroute.%1$I WITH (security_invoker = true) AS '
            'SELECT ''15min''::text AS grain, r.bucket_start AS period_start, r.tenant_id, %2$s FROM ccroute.%3$I r '
            'UNION ALL SELECT ''30min''::text, r.start_30min, r.tenant_id, %2$s FROM ccroute.%3$I r '
            'UNION ALL SELECT ''60min''::text, r.start_60min, r.tenant_id, %2$s FROM ccroute.%3$I r '
            'UNION ALL SELECT ''day''::text, r.start_day, r.tenant_id, %2$s FROM ccroute.%4$I r '
            'UNION ALL SELECT ''month''::text, r.start_month, r.tenant_id, %2$s FROM ccroute.%4$I r',
            'report_' || d.dim || '_periods', d.cols,
            'report_' || d.dim || '_15min_rows', 'report_' || d.dim || '_day_rows');
    END LOOP;
END
$periods$;

-- The end of a period, and its start on the tenant's wall clock.
CREATE FUNCTION ccroute.report_period_end(p_grain text, p_start timestamptz, p_zone text)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE p_grain
            WHEN '15min' THEN p_start + interval '15 minutes'
            WHEN '30min' THEN p_start + interval '30 minutes'
            WHEN '60min' THEN p_start + interval '60 minutes'
            WHEN 'day' THEN timezone(p_zone, timezone(p_zone, p_start) + interval '1 day')
            WHEN 'month' THEN timezone(p_zone, timezone(p_zone, p_start) + interval '1 month')
       END;

CREATE VIEW ccroute.report_by_did WITH (security_invoker = true) AS
SELECT g.grain, g.period_start, ccroute.report_period_end(g.grain, g.period_start, t.time_zone) AS period_end,
       timezone(t.time_zone, g.period_start) AS local_start, g.tenant_id,
       g.did, d.label::text AS did_label,
       g.calls, g.offered, g.answered, g.abandoned, g.short_abandoned, g.other_unanswered,
       g.calls - g.offered AS not_offered, g.answered_within_target, g.service_level_calls,
       round(g.answered_within_target / nullif(g.service_level_calls, 0)::numeric, 4) AS service_level,
       g.wait_seconds_answered,
       round(g.wait_seconds_answered / nullif(g.answered, 0), 3) AS average_speed_of_answer,
       g.talk_seconds, g.wrap_up_seconds, g.talk_seconds + g.wrap_up_seconds AS handle_seconds,
       round((g.talk_seconds + g.wrap_up_seconds) / nullif(g.answered, 0), 3) AS average_handle_time,
       g.longest_wait_seconds
  FROM (SELECT p.grain, p.period_start, p.tenant_id, p.did,
               sum(p.calls) AS calls, sum(p.offered) AS offered, sum(p.answered) AS answered,
               sum(p.abandoned) AS abandoned, sum(p.short_abandoned) AS short_abandoned,
               sum(p.other_unanswered) AS other_unanswered,
               sum(p.answered_within_target) AS answered_within_target,
               sum(p.service_level_calls) AS service_level_calls,
               sum(p.wait_seconds_answered) AS wait_seconds_answered, sum(p.talk_seconds) AS talk_seconds,
               sum(p.wrap_up_seconds) AS wrap_up_seconds, max(p.longest_wait_seconds) AS longest_wait_seconds
          FROM ccroute.report_did_periods p
         GROUP BY p.grain, p.period_start, p.tenant_id, p.did) g
  JOIN ccroute.tenant t ON t.tenant_id = g.tenant_id
  LEFT JOIN ccroute.did d ON d.tenant_id = g.tenant_id AND d.did = g.did;

CREATE VIEW ccroute.report_by_skill WITH (security_invoker = true) AS
SELECT g.grain, g.period_start, ccroute.report_period_end(g.grain, g.period_start, t.time_zone) AS period_end,
       timezone(t.time_zone, g.period_start) AS local_start, g.tenant_id,
       g.skill_id, k.name::text AS skill, k.service_level_seconds, k.service_level_goal,
       g.calls, g.offered, g.answered, g.abandoned, g.short_abandoned, g.other_unanswered,
       g.calls - g.offered AS not_offered, g.answered_within_target, g.service_level_calls,
       round(g.answered_within_target / nullif(g.service_level_calls, 0)::numeric, 4) AS service_level,
       g.wait_seconds_answered,
       round(g.wait_seconds_answered / nullif(g.answered, 0), 3) AS average_speed_of_answer,
       g.talk_seconds, g.wrap_up_seconds, g.talk_seconds + g.wrap_up_seconds AS handle_seconds,
       round((g.talk_seconds + g.wrap_up_seconds) / nullif(g.answered, 0), 3) AS average_handle_time,
       g.longest_wait_seconds
  FROM (SELECT p.grain, p.period_start, p.tenant_id, p.skill_id,
               sum(p.calls) AS calls, sum(p.offered) AS offered, sum(p.answered) AS answered,
               sum(p.abandoned) AS abandoned, sum(p.short_abandoned) AS short_abandoned,
               sum(p.other_unanswered) AS other_unanswered,
               sum(p.answered_within_target) AS answered_within_target,
               sum(p.service_level_calls) AS service_level_calls,
               sum(p.wait_seconds_answered) AS wait_seconds_answered, sum(p.talk_seconds) AS talk_seconds,
               sum(p.wrap_up_seconds) AS wrap_up_seconds, max(p.longest_wait_seconds) AS longest_wait_seconds
          FROM ccroute.report_skill_periods p
         GROUP BY p.grain, p.period_start, p.tenant_id, p.skill_id) g
  JOIN ccroute.tenant t ON t.tenant_id = g.tenant_id
  LEFT JOIN ccroute.skill k ON k.tenant_id = g.tenant_id AND k.skill_id = g.skill_id;

CREATE VIEW ccroute.report_by_agent WITH (security_invoker = true) AS
SELECT g.grain, g.period_start, ccroute.report_period_end(g.grain, g.period_start, t.time_zone) AS period_end,
       timezone(t.time_zone, g.period_start) AS local_start, g.tenant_id,
       g.agent_id, a.name::text AS agent, a.extension::text AS extension,
       g.calls, g.offered, g.answered, g.abandoned, g.short_abandoned, g.other_unanswered,
       g.calls - g.offered AS not_offered, g.answered_within_target, g.service_level_calls,
       round(g.answered_within_target / nullif(g.service_level_calls, 0)::numeric, 4) AS service_level,
       g.wait_seconds_answered,
       round(g.wait_seconds_answered / nullif(g.answered, 0), 3) AS average_speed_of_answer,
       g.talk_seconds, g.wrap_up_seconds, g.talk_seconds + g.wrap_up_seconds AS handle_seconds,
       round((g.talk_seconds + g.wrap_up_seconds) / nullif(g.answered, 0), 3) AS average_handle_time,
       g.longest_wait_seconds,
       g.ready_seconds, g.not_ready_seconds, g.busy_seconds,
       round(g.busy_seconds / nullif(g.ready_seconds, 0), 4) AS occupancy
  FROM (SELECT p.grain, p.period_start, p.tenant_id, p.agent_id,
               sum(p.calls) AS calls, sum(p.offered) AS offered, sum(p.answered) AS answered,
               sum(p.abandoned) AS abandoned, sum(p.short_abandoned) AS short_abandoned,
               sum(p.other_unanswered) AS other_unanswered,
               sum(p.answered_within_target) AS answered_within_target,
               sum(p.service_level_calls) AS service_level_calls,
               sum(p.wait_seconds_answered) AS wait_seconds_answered, sum(p.talk_seconds) AS talk_seconds,
               sum(p.wrap_up_seconds) AS wrap_up_seconds, max(p.longest_wait_seconds) AS longest_wait_seconds,
               sum(p.ready_seconds) AS ready_seconds, sum(p.not_ready_seconds) AS not_ready_seconds,
               sum(p.busy_seconds) AS busy_seconds
          FROM ccroute.report_agent_periods p
         GROUP BY p.grain, p.period_start, p.tenant_id, p.agent_id) g
  JOIN ccroute.tenant t ON t.tenant_id = g.tenant_id
  LEFT JOIN ccroute.agent a ON a.tenant_id = g.tenant_id AND a.agent_id = g.agent_id;

CREATE VIEW ccroute.report_agent_presence WITH (security_invoker = true) AS
SELECT g.grain, g.period_start, ccroute.report_period_end(g.grain, g.period_start, t.time_zone) AS period_end,
       timezone(t.time_zone, g.period_start) AS local_start, g.tenant_id,
       g.agent_id, a.name::text AS agent, a.extension::text AS extension, g.presence, g.reason, g.seconds
  FROM (SELECT p.grain, p.period_start, p.tenant_id, p.agent_id, p.presence, p.reason,
               sum(p.seconds) AS seconds
          FROM ccroute.report_presence_periods p
         GROUP BY p.grain, p.period_start, p.tenant_id, p.agent_id, p.presence, p.reason) g
  JOIN ccroute.tenant t ON t.tenant_id = g.tenant_id
  LEFT JOIN ccroute.agent a ON a.tenant_id = g.tenant_id AND a.agent_id = g.agent_id;

------------------------------------------------------------------------------------------------
-- Ownership and privileges: the views and what they read for the tenant's readers; the
-- roll-up for the owner's maintenance and the platform DBA.

DO $owners$
DECLARE
    v text;
BEGIN
    FOREACH v IN ARRAY ARRAY['report_did_15min_rows', 'report_skill_15min_rows', 'report_agent_15min_rows',
                             'report_presence_15min_rows', 'report_did_day_rows', 'report_skill_day_rows',
                             'report_agent_day_rows', 'report_presence_day_rows', 'report_did_periods', 'report_skill_periods',
                             'report_agent_periods', 'report_presence_periods', 'report_by_did',
                             'report_by_skill', 'report_by_agent', 'report_agent_presence'] LOOP
        EXECUTE pg_catalog.format('ALTER VIEW ccroute.%I OWNER TO ccroute_owner', v);
        EXECUTE pg_catalog.format('REVOKE ALL ON ccroute.%I FROM PUBLIC', v);
        EXECUTE pg_catalog.format('GRANT SELECT ON ccroute.%I TO ccroute_analyst, ccroute_tenant_admin, ccroute_supervisor', v);
    END LOOP;
END
$owners$;

ALTER FUNCTION ccroute.report_calls(bigint, timestamptz, timestamptz) OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.report_presence(bigint, timestamptz, timestamptz) OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.report_busy(bigint, timestamptz, timestamptz, timestamptz) OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.report_period_end(text, timestamptz, text) OWNER TO ccroute_owner;
ALTER FUNCTION ccroute.refresh_report_rollups(timestamptz) OWNER TO ccroute_owner;
REVOKE ALL ON FUNCTION ccroute.report_calls(bigint, timestamptz, timestamptz),
    ccroute.report_presence(bigint, timestamptz, timestamptz),
    ccroute.report_busy(bigint, timestamptz, timestamptz, timestamptz),
    ccroute.report_period_end(text, timestamptz, text),
    ccroute.refresh_report_rollups(timestamptz) FROM PUBLIC;
-- Invoker's rights: what they read is the caller's own tenant's, through its policies.
GRANT EXECUTE ON FUNCTION ccroute.report_calls(bigint, timestamptz, timestamptz),
    ccroute.report_presence(bigint, timestamptz, timestamptz),
    ccroute.report_busy(bigint, timestamptz, timestamptz, timestamptz),
    ccroute.report_period_end(text, timestamptz, text)
    TO ccroute_analyst, ccroute_tenant_admin, ccroute_supervisor;
GRANT EXECUTE ON FUNCTION ccroute.refresh_report_rollups(timestamptz) TO ccroute_platform_dba;

-- ===== Call events in C (issue 4) =====
-- The batches of call events the proxy sends (pg_ext/src/call_events.c). For the commonest
-- batch, a single end, the PL/pgSQL version above ran three statements around its one real one:
-- a query to check the batch, one to group it by tenant, a set_config per tenant. The C one
-- checks and groups the batch itself and runs the same statements as plans kept for the
-- connection's life (generic, as the router's); a tenant's single end is applied without
-- reading the batch through unnest and GROUP BY. Same arguments, answers, errors and grants.
CREATE OR REPLACE FUNCTION ccroute.call_events(p_tenant bigint[], p_call bigint[], p_event text[],
                                    p_at timestamptz[], p_sip_status integer[] DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'ccroute_call_events'
LANGUAGE C CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
-- Every statement is a key lookup, whatever size live_call had when its plan was made.
SET enable_seqscan = off;

-- ===== Backups (issue 9) =====
-- Keep this section the last of the script, and add new sections above it: it marks every table
-- and sequence created before it.
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
