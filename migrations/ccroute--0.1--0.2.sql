-- ccroute 0.2: the tenant model. Tenants, their SIP domains, dialed numbers, skills, agents and
-- people, each tenant's rows reachable only by that tenant (row-level security, ENABLEd and
-- FORCEd everywhere), an append-only audit log written by the database itself, and the roles
-- through which people, applications and Kamailio come in.
--
-- Who is who:
--   ccroute_owner         NOLOGIN; owns every table and the SECURITY DEFINER functions
--   ccroute_role_admin    NOLOGIN, CREATEROLE; owns the one function that creates people's roles
--   ccroute_platform_dba  creates, limits and cancels tenants, assigns numbers and domains
--   ccroute_tenant_admin  edits its own tenant's configuration in plain SQL
--   ccroute_supervisor    reads its own tenant's configuration and calls
--   ccroute_analyst       reads its own tenant's calls and configuration names
--   ccroute_agent         agents (their client signs in through the gateway)
--   ccroute_gateway       applications: only the token-taking functions (none granted yet)
--   ccroute_kamailio      the proxy: only the routing function
--   ccroute_auditor       never a member of anything: its grants name what pgaudit logs reads of
-- A person's tenant comes from ccroute.role_map, keyed by the role the session logged in as.
--
-- Function bodies run with search_path pinned to pg_catalog, so their operators resolve there;
-- tables and our own functions are always written schema-qualified.
\echo Use "ALTER EXTENSION ccroute UPDATE TO '0.2'" to load this file. \quit

DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ccroute_owner', 'ccroute_role_admin', 'ccroute_platform_dba',
        'ccroute_tenant_admin', 'ccroute_supervisor', 'ccroute_analyst', 'ccroute_agent',
        'ccroute_gateway', 'ccroute_kamailio', 'ccroute_auditor']
    LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$roles$;
ALTER ROLE ccroute_owner NOLOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS;
ALTER ROLE ccroute_role_admin NOLOGIN NOSUPERUSER CREATEROLE NOCREATEDB NOBYPASSRLS;

GRANT USAGE ON SCHEMA ccroute TO ccroute_owner, ccroute_role_admin, ccroute_platform_dba,
    ccroute_tenant_admin, ccroute_supervisor, ccroute_analyst, ccroute_agent, ccroute_gateway,
    ccroute_kamailio;

------------------------------------------------------------------------------------------------
-- Checked kinds of values. Each constraint's name says what is expected, so the error a wrong
-- value gets says what is wrong.

CREATE DOMAIN ccroute.e164 AS text
    CONSTRAINT "e164 number: a plus sign, then 2 to 15 digits"
    CHECK (VALUE OPERATOR(pg_catalog.~) '^\+[1-9][0-9]{1,14}$');

CREATE DOMAIN ccroute.extension AS text
    CONSTRAINT "extension: 2 to 10 digits"
    CHECK (VALUE OPERATOR(pg_catalog.~) '^[0-9]{2,10}$');

CREATE DOMAIN ccroute.label AS text
    CONSTRAINT "name: 1-100 chars, trimmed; no controls, <, >, quote, backslash"
    CHECK (pg_catalog.length(VALUE) OPERATOR(pg_catalog.<=) 100
           AND VALUE OPERATOR(pg_catalog.~) '^[^[:cntrl:]<>"\\[:space:]]([^[:cntrl:]<>"\\]*[^[:cntrl:]<>"\\[:space:]])?$');

CREATE DOMAIN ccroute.login AS text
    CONSTRAINT "login: a-z first, then up to 29 of a-z, 0-9, _"
    CHECK (VALUE OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]{0,29}$');

CREATE DOMAIN ccroute.dns_name AS text
    CONSTRAINT "sip domain: lower-case DNS name with a dot"
    CHECK (pg_catalog.length(VALUE) OPERATOR(pg_catalog.<=) 253
           AND VALUE OPERATOR(pg_catalog.~) '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$');

CREATE DOMAIN ccroute.sip_uri AS text
    CONSTRAINT "sip uri: sip:user@host, no spaces or controls"
    CHECK (pg_catalog.length(VALUE) OPERATOR(pg_catalog.<=) 255
           AND VALUE OPERATOR(pg_catalog.~) '^sips?:[A-Za-z0-9.!~*''()&=+$,;?/_%-]+@[A-Za-z0-9.:\[\]-]+(;[A-Za-z0-9=._-]+)*$');

CREATE FUNCTION ccroute.is_time_zone(tz text) RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT EXISTS (SELECT FROM pg_catalog.pg_timezone_names WHERE name = tz) $$;

CREATE DOMAIN ccroute.time_zone AS text
    CONSTRAINT "time zone: a name from pg_timezone_names"
    CHECK (ccroute.is_time_zone(VALUE));

------------------------------------------------------------------------------------------------
-- Tables. Every key leads with tenant_id (so the schema can be distributed by tenant), except
-- the global lookups: tenant name, DID -> tenant, SIP domain -> tenant, role -> person.

ALTER TABLE ccroute.tenant
    ADD COLUMN time_zone ccroute.time_zone NOT NULL DEFAULT 'UTC',
    ADD COLUMN cancelled_at timestamptz,
    -- Per-tenant limits (R9), with the source's figures as defaults.
    ADD COLUMN max_dids integer NOT NULL DEFAULT 150
        CONSTRAINT "max_dids: 0 to 100000" CHECK (max_dids BETWEEN 0 AND 100000),
    ADD COLUMN max_admins integer NOT NULL DEFAULT 50
        CONSTRAINT "max_admins: 0 to 10000" CHECK (max_admins BETWEEN 0 AND 10000),
    ADD COLUMN max_agents_logged_in integer NOT NULL DEFAULT 400
        CONSTRAINT "max_agents_logged_in: 0 to 100000" CHECK (max_agents_logged_in BETWEEN 0 AND 100000),
    ADD COLUMN max_concurrent_calls integer NOT NULL DEFAULT 600
        CONSTRAINT "max_concurrent_calls: 0 to 100000" CHECK (max_concurrent_calls BETWEEN 0 AND 100000);
ALTER TABLE ccroute.tenant RENAME CONSTRAINT tenant_name_check
    TO "tenant name: a-z first, then up to 62 of a-z, 0-9, _, -";
ALTER TABLE ccroute.tenant RENAME CONSTRAINT tenant_status_check TO "tenant status: active or cancelled";
UPDATE ccroute.tenant SET cancelled_at = pg_catalog.now() WHERE status = 'cancelled';
ALTER TABLE ccroute.tenant
    ADD CONSTRAINT "a cancelled tenant has a cancellation time"
    CHECK ((status OPERATOR(pg_catalog.=) 'cancelled') OPERATOR(pg_catalog.=) (cancelled_at IS NOT NULL));

CREATE TABLE ccroute.sip_domain (
    tenant_id   bigint NOT NULL REFERENCES ccroute.tenant (tenant_id),
    domain      ccroute.dns_name PRIMARY KEY,              -- global lookup: domain -> tenant
    UNIQUE (tenant_id)
);

CREATE TABLE ccroute.skill (
    tenant_id   bigint NOT NULL REFERENCES ccroute.tenant (tenant_id),
    skill_id    bigint GENERATED ALWAYS AS IDENTITY,
    name        ccroute.label NOT NULL,
    kind        text NOT NULL DEFAULT 'incoming'
                CONSTRAINT "skill kind: did or incoming" CHECK (kind IN ('did', 'incoming')),
    PRIMARY KEY (tenant_id, skill_id),
    UNIQUE (tenant_id, name)
);

-- DIDs: 0.1 kept one global key on the number; now the tenant's table is keyed by tenant, and
-- the global lookup DID -> tenant has its own table, which only the router reads.
ALTER TABLE ccroute.did DROP CONSTRAINT did_pkey;
ALTER TABLE ccroute.did ADD PRIMARY KEY (tenant_id, did);
DROP INDEX ccroute.did_tenant;
ALTER TABLE ccroute.did DROP CONSTRAINT did_did_check;
ALTER TABLE ccroute.did DROP CONSTRAINT did_destination_check;
ALTER TABLE ccroute.did ALTER COLUMN did TYPE ccroute.e164;
ALTER TABLE ccroute.did ALTER COLUMN destination TYPE ccroute.sip_uri;
ALTER TABLE ccroute.did ALTER COLUMN destination DROP NOT NULL;
ALTER TABLE ccroute.did
    ADD COLUMN skill_id bigint,
    ADD COLUMN label ccroute.label,
    ADD FOREIGN KEY (tenant_id, skill_id) REFERENCES ccroute.skill (tenant_id, skill_id),
    ADD CONSTRAINT "a number has a skill or a destination"
        CHECK (skill_id IS NOT NULL OR destination IS NOT NULL);

CREATE TABLE ccroute.did_directory (
    did         ccroute.e164 PRIMARY KEY,                    -- global lookup: DID -> tenant
    tenant_id   bigint NOT NULL REFERENCES ccroute.tenant (tenant_id),
    UNIQUE (tenant_id, did)
);
INSERT INTO ccroute.did_directory (did, tenant_id) SELECT did, tenant_id FROM ccroute.did;
ALTER TABLE ccroute.did ADD FOREIGN KEY (tenant_id, did) REFERENCES ccroute.did_directory (tenant_id, did)
    DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE ccroute.person (
    tenant_id    bigint NOT NULL REFERENCES ccroute.tenant (tenant_id),
    person_id    bigint GENERATED ALWAYS AS IDENTITY,
    kind         text NOT NULL
                 CONSTRAINT "person kind: tenant_admin, supervisor, analyst or agent"
                 CHECK (kind IN ('tenant_admin', 'supervisor', 'analyst', 'agent')),
    login        ccroute.login NOT NULL,
    display_name ccroute.label NOT NULL,
    role_name    name NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (tenant_id, person_id),
    UNIQUE (tenant_id, login)
);

CREATE TABLE ccroute.role_map (
    role_name   name PRIMARY KEY,                            -- global lookup: role -> person
    tenant_id   bigint NOT NULL,
    person_id   bigint NOT NULL,
    FOREIGN KEY (tenant_id, person_id) REFERENCES ccroute.person (tenant_id, person_id) ON DELETE CASCADE
);

CREATE TABLE ccroute.agent (
    tenant_id      bigint NOT NULL REFERENCES ccroute.tenant (tenant_id),
    agent_id       bigint GENERATED ALWAYS AS IDENTITY,
    name           ccroute.label NOT NULL,
    extension      ccroute.extension NOT NULL,
    -- Secret: the SIP digest HA1 of the agent's phone, md5(extension:domain:password).
    sip_ha1        text CONSTRAINT "sip_ha1: 32 hex digits" CHECK (sip_ha1 OPERATOR(pg_catalog.~) '^[0-9a-f]{32}$'),
    mobile         ccroute.e164,
    landline       ccroute.e164,
    reach_via      text NOT NULL DEFAULT 'sip'
                   CONSTRAINT "reach_via: sip, landline or mobile" CHECK (reach_via IN ('sip', 'landline', 'mobile')),
    wrapup_seconds integer NOT NULL DEFAULT 30
                   CONSTRAINT "wrapup_seconds: 0 to 3600" CHECK (wrapup_seconds BETWEEN 0 AND 3600),
    person_id      bigint,
    PRIMARY KEY (tenant_id, agent_id),
    UNIQUE (tenant_id, extension),
    FOREIGN KEY (tenant_id, person_id) REFERENCES ccroute.person (tenant_id, person_id) ON DELETE SET NULL (person_id),
    CONSTRAINT "reach_via names a number the agent has" CHECK (
        reach_via OPERATOR(pg_catalog.=) 'sip'
        OR (reach_via OPERATOR(pg_catalog.=) 'mobile' AND mobile IS NOT NULL)
        OR (reach_via OPERATOR(pg_catalog.=) 'landline' AND landline IS NOT NULL))
);

CREATE TABLE ccroute.agent_skill (
    tenant_id   bigint NOT NULL,
    agent_id    bigint NOT NULL,
    skill_id    bigint NOT NULL,
    proficiency smallint NOT NULL DEFAULT 5
                CONSTRAINT "proficiency: 1 to 10" CHECK (proficiency BETWEEN 1 AND 10),
    PRIMARY KEY (tenant_id, agent_id, skill_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES ccroute.agent (tenant_id, agent_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, skill_id) REFERENCES ccroute.skill (tenant_id, skill_id) ON DELETE CASCADE
);
CREATE INDEX agent_skill_by_skill ON ccroute.agent_skill (tenant_id, skill_id);

-- Append-only: rows are inserted by the database itself (triggers, privileged functions) and
-- never changed. No foreign key to tenant: the log outlives a purged tenant's data.
CREATE TABLE ccroute.audit_log (
    tenant_id   bigint NOT NULL,
    audit_id    bigint GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    login_role  name NOT NULL,          -- session_user
    acting_role name NOT NULL,          -- current_user outside privileged functions (SET ROLE)
    person_id   bigint,                 -- the login role's person, when it is one
    action      text NOT NULL CHECK (action IN ('INSERT', 'UPDATE', 'DELETE', 'CALL')),
    object      text NOT NULL,          -- table or function name
    old_row     jsonb,
    new_row     jsonb,
    PRIMARY KEY (tenant_id, audit_id)
);

------------------------------------------------------------------------------------------------
-- Whose rows a session may see.

CREATE FUNCTION ccroute.outer_role() RETURNS name
AS 'MODULE_PATHNAME', 'ccroute_outer_role'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ccroute.tenant_context() RETURNS bigint
AS 'MODULE_PATHNAME', 'ccroute_tenant_context'
LANGUAGE C STABLE PARALLEL SAFE;

-- The tenant of the current session, for the policies. Inside ccroute's SECURITY DEFINER
-- functions (current_user is the owner) it is the context they set; for a person it is the
-- mapping of the role they logged in as, and only while they act as that role (after SET ROLE,
-- to a role someone granted them, they see nothing); for anyone else it is NULL: no rows.
-- tenant_context() is called first in every case so that the library, whose check refuses a
-- forged context, is loaded in every session that meets a policy.
CREATE FUNCTION ccroute.current_tenant() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(ccroute.tenant_context(),
        CASE WHEN current_user = session_user
             THEN (SELECT m.tenant_id FROM ccroute.role_map m WHERE m.role_name = session_user)
        END)
$$;

-- A new tenant has no id to be in the context of yet: only the owner's create_tenant adds one.
CREATE POLICY tenant_creation ON ccroute.tenant FOR INSERT
    WITH CHECK (current_user OPERATOR(pg_catalog.=) 'ccroute_owner');

-- The global lookups, for the owner's functions only: tenant names (platform functions), DID ->
-- tenant (the router), SIP domain -> tenant (the proxy's digest authentication).
CREATE POLICY global_lookup ON ccroute.tenant FOR SELECT
    USING (current_user OPERATOR(pg_catalog.=) 'ccroute_owner');
CREATE POLICY global_lookup ON ccroute.did_directory FOR SELECT
    USING (current_user OPERATOR(pg_catalog.=) 'ccroute_owner');
CREATE POLICY global_lookup ON ccroute.sip_domain FOR SELECT
    USING (current_user OPERATOR(pg_catalog.=) 'ccroute_owner');
CREATE POLICY own_mapping ON ccroute.role_map FOR SELECT
    USING (role_name OPERATOR(pg_catalog.=) session_user AND current_user OPERATOR(pg_catalog.=) session_user);
CREATE POLICY owner_manages ON ccroute.role_map
    USING (current_user OPERATOR(pg_catalog.=) 'ccroute_owner')
    WITH CHECK (current_user OPERATOR(pg_catalog.=) 'ccroute_owner');

-- The audit log: a tenant reads its own rows; only the owner's triggers and functions add rows;
-- no policy lets anyone change or delete one.
CREATE POLICY tenant_reads ON ccroute.audit_log FOR SELECT
    USING (tenant_id OPERATOR(pg_catalog.=) ccroute.current_tenant());
CREATE POLICY owner_appends ON ccroute.audit_log FOR INSERT
    WITH CHECK (current_user OPERATOR(pg_catalog.=) 'ccroute_owner');

-- Rows added by people land in their own tenant without naming it.
ALTER TABLE ccroute.skill ALTER COLUMN tenant_id SET DEFAULT ccroute.current_tenant();
ALTER TABLE ccroute.agent ALTER COLUMN tenant_id SET DEFAULT ccroute.current_tenant();
ALTER TABLE ccroute.agent_skill ALTER COLUMN tenant_id SET DEFAULT ccroute.current_tenant();

------------------------------------------------------------------------------------------------
-- Audit.

-- Secrets never reach the log: any key that names one (present or future column, or function
-- argument) is dropped. A column holding a secret must be named so (see DESIGN in README).
CREATE FUNCTION ccroute.audit_redact(row_data jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.jsonb_object_agg(k, v)
      FROM pg_catalog.jsonb_each(row_data) AS e (k, v)
     WHERE k !~* '(password|secret|hash|ha1|totp|token|credential|salt)'
$$;

CREATE FUNCTION ccroute.audit_write(p_tenant bigint, p_action text, p_object text,
                                    p_old jsonb, p_new jsonb) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO ccroute.audit_log (tenant_id, login_role, acting_role, person_id, action, object,
                                   old_row, new_row)
    VALUES (p_tenant, session_user, ccroute.outer_role(),
            (SELECT m.person_id FROM ccroute.role_map m
              WHERE m.role_name = session_user AND m.tenant_id = p_tenant),
            p_action, p_object, ccroute.audit_redact(p_old), ccroute.audit_redact(p_new))
$$;

CREATE FUNCTION ccroute.audit_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
BEGIN
    PERFORM ccroute.audit_write((coalesce(new_row, old_row)->>'tenant_id')::bigint,
                                TG_OP, TG_TABLE_NAME, old_row, new_row);
    RETURN NULL;
END
$$;

CREATE FUNCTION ccroute.audit_is_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = pg_catalog.format('%s on ccroute.audit_log is refused.', TG_OP);
END
$$;

CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON ccroute.audit_log
    FOR EACH ROW EXECUTE FUNCTION ccroute.audit_is_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON ccroute.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ccroute.audit_is_append_only();

-- Puts a table under the rules every tenant table follows: row-level security ENABLEd and
-- FORCEd, owned by the owner, and, as asked, the standard policy (a tenant's rows, for reading
-- and writing, and nothing else) and row-by-row audit. Every migration's new tables go through
-- it, and so must the partitions that maintenance creates.
CREATE FUNCTION ccroute.protect_table(p_table regclass, p_tenant_policy boolean, p_audit boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_tenant_policy THEN
        EXECUTE format('CREATE POLICY tenant_isolation ON %s
                           USING (tenant_id OPERATOR(pg_catalog.=) ccroute.current_tenant())
                           WITH CHECK (tenant_id OPERATOR(pg_catalog.=) ccroute.current_tenant())',
                       p_table);
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p_table);
    EXECUTE format('ALTER TABLE %s OWNER TO ccroute_owner', p_table);
    IF p_audit THEN
        EXECUTE format('CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON %s
                           FOR EACH ROW EXECUTE FUNCTION ccroute.audit_row()', p_table);
    END IF;
END
$$;

-- role_map and audit_log have policies of their own (above); did_directory and call are
-- written only by functions whose calls are audited.
SELECT ccroute.protect_table(t::regclass, tenant_policy, audit)
  FROM (VALUES ('ccroute.tenant', true, true), ('ccroute.sip_domain', true, true),
               ('ccroute.skill', true, true), ('ccroute.did', true, true),
               ('ccroute.did_directory', true, false), ('ccroute.person', true, true),
               ('ccroute.role_map', false, false), ('ccroute.agent', true, true),
               ('ccroute.agent_skill', true, true), ('ccroute.call', true, false),
               ('ccroute.audit_log', false, false)) AS v (t, tenant_policy, audit);

------------------------------------------------------------------------------------------------
-- Helpers of the privileged functions. Not granted to anyone: only the owner's functions call
-- them.

-- The tenant a platform DBA names, made the context of the calling function.
CREATE FUNCTION ccroute.enter_tenant(p_tenant text) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    SELECT t.tenant_id INTO id FROM ccroute.tenant t WHERE t.name = p_tenant;
    IF id IS NULL THEN
        RAISE EXCEPTION 'tenant "%" does not exist', p_tenant USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM set_config('ccroute.tenant_context', id::text, true);
    RETURN id;
END
$$;

-- The tenant of the person calling (by the role the session logged in as), made the context.
CREATE FUNCTION ccroute.enter_own_tenant() RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    SELECT m.tenant_id INTO id FROM ccroute.role_map m WHERE m.role_name = session_user;
    IF id IS NULL THEN
        RAISE EXCEPTION 'role "%" is not a person of any tenant', session_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('ccroute.tenant_context', id::text, true);
    RETURN id;
END
$$;

CREATE FUNCTION ccroute.is_platform_dba() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_has_role(session_user, 'ccroute_platform_dba', 'MEMBER') $$;

------------------------------------------------------------------------------------------------
-- People's roles: created and dropped only here. The role name is generated ("tenant.login"),
-- the memberships are fixed by the person's kind, and nobody else ever needs CREATEROLE.

CREATE FUNCTION ccroute.create_login_role(p_role name, p_kind text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    grp text := CASE p_kind
        WHEN 'tenant_admin' THEN 'ccroute_tenant_admin'
        WHEN 'supervisor' THEN 'ccroute_supervisor'
        WHEN 'analyst' THEN 'ccroute_analyst'
        WHEN 'agent' THEN 'ccroute_agent'
    END;
BEGIN
    IF grp IS NULL OR p_role !~ '^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'refusing to create role "%" of kind "%"', p_role, p_kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT IN ROLE %I',
                   p_role, grp);
END
$$;

CREATE FUNCTION ccroute.drop_login_role(p_role name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
BEGIN
    IF p_role !~ '^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'refusing to drop role "%"', p_role USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('DROP ROLE IF EXISTS %I', p_role);
END
$$;

------------------------------------------------------------------------------------------------
-- The platform DBA's functions. Each enters the named tenant's context, so everything it does
-- passes through the same row-level security as a tenant's own work, and is audited.

CREATE FUNCTION ccroute.create_tenant(p_name text, p_time_zone text DEFAULT 'UTC',
                                      p_sip_domain text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint;
BEGIN
    INSERT INTO ccroute.tenant (name, time_zone) VALUES (p_name, p_time_zone)
        RETURNING tenant_id INTO id;
    PERFORM set_config('ccroute.tenant_context', id::text, true);
    PERFORM ccroute.audit_write(id, 'CALL', 'create_tenant', NULL,
        jsonb_build_object('name', p_name, 'time_zone', p_time_zone, 'sip_domain', p_sip_domain));
    IF p_sip_domain IS NOT NULL THEN
        INSERT INTO ccroute.sip_domain (tenant_id, domain) VALUES (id, p_sip_domain);
    END IF;
    RETURN id;
END
$$;

CREATE FUNCTION ccroute.cancel_tenant(p_tenant text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint := ccroute.enter_tenant(p_tenant);
BEGIN
    PERFORM ccroute.audit_write(id, 'CALL', 'cancel_tenant', NULL, jsonb_build_object('tenant', p_tenant));
    UPDATE ccroute.tenant SET status = 'cancelled', cancelled_at = now()
     WHERE tenant_id = id AND status <> 'cancelled';
END
$$;

-- NULL leaves a limit as it is.
CREATE FUNCTION ccroute.set_tenant_limits(p_tenant text, p_max_dids integer DEFAULT NULL,
                                          p_max_admins integer DEFAULT NULL,
                                          p_max_agents_logged_in integer DEFAULT NULL,
                                          p_max_concurrent_calls integer DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint := ccroute.enter_tenant(p_tenant);
BEGIN
    PERFORM ccroute.audit_write(id, 'CALL', 'set_tenant_limits', NULL,
        jsonb_build_object('max_dids', p_max_dids, 'max_admins', p_max_admins,
                           'max_agents_logged_in', p_max_agents_logged_in,
                           'max_concurrent_calls', p_max_concurrent_calls));
    UPDATE ccroute.tenant
       SET max_dids = coalesce(p_max_dids, max_dids),
           max_admins = coalesce(p_max_admins, max_admins),
           max_agents_logged_in = coalesce(p_max_agents_logged_in, max_agents_logged_in),
           max_concurrent_calls = coalesce(p_max_concurrent_calls, max_concurrent_calls)
     WHERE tenant_id = id;
END
$$;

CREATE FUNCTION ccroute.set_sip_domain(p_tenant text, p_domain text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint := ccroute.enter_tenant(p_tenant);
BEGIN
    PERFORM ccroute.audit_write(id, 'CALL', 'set_sip_domain', NULL, jsonb_build_object('domain', p_domain));
    INSERT INTO ccroute.sip_domain (tenant_id, domain) VALUES (id, p_domain)
        ON CONFLICT (tenant_id) DO UPDATE SET domain = excluded.domain;
END
$$;

-- A number is assigned to a tenant by the platform (numbers are the carrier's, not the
-- tenant's); the tenant admin then points it at a skill or a destination.
CREATE FUNCTION ccroute.add_did(p_tenant text, p_did text, p_skill text DEFAULT NULL,
                                p_destination text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint := ccroute.enter_tenant(p_tenant);
    lim integer;
    used integer;
    skill bigint;
BEGIN
    PERFORM ccroute.audit_write(id, 'CALL', 'add_did', NULL,
        jsonb_build_object('did', p_did, 'skill', p_skill, 'destination', p_destination));
    -- The tenant row lock serialises concurrent additions, so the limit holds.
    SELECT t.max_dids INTO lim FROM ccroute.tenant t WHERE t.tenant_id = id FOR UPDATE;
    SELECT count(*) INTO used FROM ccroute.did d WHERE d.tenant_id = id;
    IF used >= lim THEN
        RAISE EXCEPTION 'tenant "%" has reached its limit of % dialed numbers', p_tenant, lim
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'A platform DBA can raise it with ccroute.set_tenant_limits().';
    END IF;
    IF p_skill IS NOT NULL THEN
        SELECT s.skill_id INTO skill FROM ccroute.skill s WHERE s.tenant_id = id AND s.name = p_skill;
        IF skill IS NULL THEN
            RAISE EXCEPTION 'tenant "%" has no skill "%"', p_tenant, p_skill USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    BEGIN
        INSERT INTO ccroute.did_directory (did, tenant_id) VALUES (p_did, id);
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'dialed number % is already assigned', p_did USING ERRCODE = 'unique_violation';
    END;
    INSERT INTO ccroute.did (tenant_id, did, skill_id, destination) VALUES (id, p_did, skill, p_destination);
END
$$;

CREATE FUNCTION ccroute.remove_did(p_tenant text, p_did text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint := ccroute.enter_tenant(p_tenant);
BEGIN
    PERFORM ccroute.audit_write(id, 'CALL', 'remove_did', NULL, jsonb_build_object('did', p_did));
    DELETE FROM ccroute.did WHERE tenant_id = id AND did = p_did;
    DELETE FROM ccroute.did_directory WHERE tenant_id = id AND did = p_did;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant "%" has no dialed number %', p_tenant, p_did USING ERRCODE = 'no_data_found';
    END IF;
END
$$;

-- The tenant whose people the caller manages, made the context: any tenant for a platform DBA,
-- their own for a tenant admin. Another tenant is answered as if it did not exist.
CREATE FUNCTION ccroute.enter_tenant_of_people(p_tenant text) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    own bigint;
    id bigint;
BEGIN
    IF NOT ccroute.is_platform_dba() THEN
        own := ccroute.enter_own_tenant();
        IF NOT pg_has_role(session_user, 'ccroute_tenant_admin', 'MEMBER') THEN
            RAISE EXCEPTION 'only a tenant admin or a platform DBA can add or remove people'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    id := ccroute.enter_tenant(p_tenant);
    IF own IS NOT NULL AND own <> id THEN
        RAISE EXCEPTION 'tenant "%" does not exist', p_tenant USING ERRCODE = 'undefined_object';
    END IF;
    RETURN id;
END
$$;

-- A person of a tenant, with a login role of their own. A platform DBA may add one to any
-- tenant; a tenant admin only to their own. Returns the role name to log in with.
CREATE FUNCTION ccroute.create_person(p_tenant text, p_kind text, p_login text,
                                      p_display_name text) RETURNS name
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint;
    role name;
    lim integer;
    admins integer;
    pid bigint;
BEGIN
    id := ccroute.enter_tenant_of_people(p_tenant);
    PERFORM ccroute.audit_write(id, 'CALL', 'create_person', NULL,
        jsonb_build_object('kind', p_kind, 'login', p_login, 'display_name', p_display_name));

    role := (p_tenant || '.' || p_login::ccroute.login)::name;
    IF length(p_tenant || '.' || p_login) > 63 THEN
        RAISE EXCEPTION 'role name "%.%" is longer than 63 bytes', p_tenant, p_login
            USING ERRCODE = 'name_too_long', HINT = 'Use a shorter login.';
    END IF;
    IF p_kind IN ('tenant_admin', 'supervisor') THEN
        SELECT t.max_admins INTO lim FROM ccroute.tenant t WHERE t.tenant_id = id FOR UPDATE;
        SELECT count(*) INTO admins FROM ccroute.person p
         WHERE p.tenant_id = id AND p.kind IN ('tenant_admin', 'supervisor');
        IF admins >= lim THEN
            RAISE EXCEPTION 'tenant "%" has reached its limit of % admins and supervisors', p_tenant, lim
                USING ERRCODE = 'program_limit_exceeded',
                      HINT = 'A platform DBA can raise it with ccroute.set_tenant_limits().';
        END IF;
    END IF;

    INSERT INTO ccroute.person (tenant_id, kind, login, display_name, role_name)
        VALUES (id, p_kind, p_login, p_display_name, role) RETURNING person_id INTO pid;
    INSERT INTO ccroute.role_map (role_name, tenant_id, person_id) VALUES (role, id, pid);
    PERFORM ccroute.create_login_role(role, p_kind);
    RETURN role;
END
$$;

CREATE FUNCTION ccroute.remove_person(p_tenant text, p_login text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint;
    role name;
BEGIN
    id := ccroute.enter_tenant_of_people(p_tenant);
    PERFORM ccroute.audit_write(id, 'CALL', 'remove_person', NULL, jsonb_build_object('login', p_login));
    DELETE FROM ccroute.person p WHERE p.tenant_id = id AND p.login = p_login RETURNING p.role_name INTO role;
    IF role IS NULL THEN
        RAISE EXCEPTION 'tenant "%" has no person "%"', p_tenant, p_login USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM ccroute.drop_login_role(role);
END
$$;

-- The SIP digest credential of an agent's phone, for the caller's own tenant. Only its HA1 is
-- kept; the password is neither stored nor logged.
CREATE FUNCTION ccroute.set_agent_sip_password(p_extension text, p_password text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    id bigint := ccroute.enter_own_tenant();
    dom text;
BEGIN
    PERFORM ccroute.audit_write(id, 'CALL', 'set_agent_sip_password', NULL,
        jsonb_build_object('extension', p_extension));
    IF length(p_password) < 12 OR length(p_password) > 128 THEN
        RAISE EXCEPTION 'a SIP password must have 12 to 128 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT d.domain INTO dom FROM ccroute.sip_domain d WHERE d.tenant_id = id;
    IF dom IS NULL THEN
        RAISE EXCEPTION 'the tenant has no SIP domain yet' USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE ccroute.agent a SET sip_ha1 = md5(p_extension || ':' || dom || ':' || p_password)
     WHERE a.tenant_id = id AND a.extension = p_extension;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no agent has extension %', p_extension USING ERRCODE = 'no_data_found';
    END IF;
END
$$;

------------------------------------------------------------------------------------------------
-- The router, now owned by the owner: it resolves the DID through the global directory, then
-- works in that tenant's context.

CREATE OR REPLACE FUNCTION ccroute.route_call(
    call_id text, caller text, dialed text,
    OUT action text, OUT target text, OUT sip_status integer, OUT reason text)
RETURNS record
AS 'MODULE_PATHNAME', 'ccroute_route_call_v2'
LANGUAGE C STRICT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = '';

------------------------------------------------------------------------------------------------
-- Views for people, all security_invoker: they see through the caller's policies.

CREATE VIEW ccroute.agent_skills WITH (security_invoker = true) AS
SELECT a.tenant_id, a.agent_id, a.name AS agent, a.extension, s.name AS skill, s.kind, x.proficiency
  FROM ccroute.agent_skill x
  JOIN ccroute.agent a ON a.tenant_id = x.tenant_id AND a.agent_id = x.agent_id
  JOIN ccroute.skill s ON s.tenant_id = x.tenant_id AND s.skill_id = x.skill_id;

------------------------------------------------------------------------------------------------
-- Ownership and privileges. PUBLIC gets nothing; each role gets exactly its part.

DO $owners$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'ccroute'::regnamespace
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO ccroute_owner', f);
    END LOOP;
END
$owners$;
ALTER FUNCTION ccroute.create_login_role(name, text) OWNER TO ccroute_role_admin;
ALTER FUNCTION ccroute.drop_login_role(name) OWNER TO ccroute_role_admin;
REVOKE ALL ON FUNCTION ccroute.create_login_role(name, text), ccroute.drop_login_role(name) FROM ccroute_role_admin;
GRANT EXECUTE ON FUNCTION ccroute.create_login_role(name, text), ccroute.drop_login_role(name) TO ccroute_owner;
ALTER VIEW ccroute.agent_skills OWNER TO ccroute_owner;
REVOKE ALL ON ALL TABLES IN SCHEMA ccroute FROM PUBLIC;

-- Used inside every policy and default, so every role that touches a table needs it.
GRANT EXECUTE ON FUNCTION ccroute.current_tenant(), ccroute.tenant_context(), ccroute.is_time_zone(text)
    TO ccroute_tenant_admin, ccroute_supervisor, ccroute_analyst, ccroute_agent, ccroute_platform_dba;
GRANT SELECT ON ccroute.role_map
    TO ccroute_tenant_admin, ccroute_supervisor, ccroute_analyst, ccroute_agent;

GRANT EXECUTE ON FUNCTION
    ccroute.create_tenant(text, text, text), ccroute.cancel_tenant(text),
    ccroute.set_tenant_limits(text, integer, integer, integer, integer),
    ccroute.set_sip_domain(text, text), ccroute.add_did(text, text, text, text),
    ccroute.remove_did(text, text)
    TO ccroute_platform_dba;
GRANT EXECUTE ON FUNCTION ccroute.create_person(text, text, text, text),
    ccroute.remove_person(text, text)
    TO ccroute_platform_dba, ccroute_tenant_admin;

-- Tenant admins edit their configuration in plain SQL (the policies keep it theirs). The SIP
-- credential is neither readable nor writable directly: set_agent_sip_password() sets it.
GRANT SELECT ON ccroute.tenant, ccroute.sip_domain, ccroute.skill, ccroute.did,
    ccroute.agent_skill, ccroute.call, ccroute.audit_log, ccroute.agent_skills TO ccroute_tenant_admin;
GRANT INSERT, UPDATE, DELETE ON ccroute.skill, ccroute.agent_skill TO ccroute_tenant_admin;
GRANT SELECT (tenant_id, agent_id, name, extension, mobile, landline, reach_via, wrapup_seconds, person_id),
      INSERT (tenant_id, name, extension, mobile, landline, reach_via, wrapup_seconds, person_id),
      UPDATE (name, extension, mobile, landline, reach_via, wrapup_seconds, person_id), DELETE
    ON ccroute.agent TO ccroute_tenant_admin;
GRANT UPDATE (skill_id, destination, label) ON ccroute.did TO ccroute_tenant_admin;
GRANT SELECT (tenant_id, person_id, kind, login, display_name, role_name, created_at),
      UPDATE (display_name) ON ccroute.person TO ccroute_tenant_admin;
GRANT EXECUTE ON FUNCTION ccroute.set_agent_sip_password(text, text) TO ccroute_tenant_admin;

GRANT SELECT ON ccroute.tenant, ccroute.skill, ccroute.did, ccroute.agent_skill, ccroute.call,
    ccroute.agent_skills TO ccroute_supervisor;
GRANT SELECT (tenant_id, agent_id, name, extension, mobile, landline, reach_via, wrapup_seconds, person_id)
    ON ccroute.agent TO ccroute_supervisor;
GRANT SELECT (tenant_id, person_id, kind, login, display_name, role_name, created_at)
    ON ccroute.person TO ccroute_supervisor;

GRANT SELECT ON ccroute.tenant, ccroute.skill, ccroute.did, ccroute.call TO ccroute_analyst;
GRANT SELECT (tenant_id, agent_id, name, extension) ON ccroute.agent TO ccroute_analyst;

GRANT EXECUTE ON FUNCTION ccroute.route_call(text, text, text) TO ccroute_kamailio;

-- People's reads of caller numbers are logged by pgaudit's object audit (with
-- pgaudit.role = 'ccroute_auditor'): every statement that reads a column granted here.
GRANT SELECT (caller) ON ccroute.call TO ccroute_auditor;
