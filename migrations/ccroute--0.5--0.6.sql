-- ccroute 0.6: signing in (requirements R3, R4, R5, R15; decisions D5 and D10).
--
-- Applications (the agents' CTI client, an admin console, a wallboard) connect as a role in
-- ccroute_gateway, which can call authenticate() and the functions that take its session token,
-- and nothing else. Passwords are hashed with argon2id (libargon2) into PHC strings; admins
-- need a registered device; anyone may add a TOTP second factor (liboath). Lock-out, expiry,
-- first-login change and password history follow the tenant's policy. Every outcome is audited
-- without its secrets.
--
-- Time: the sign-in functions read it from ccroute.auth_now(), which is the statement's time
-- unless a superuser set ccroute.auth_clock. That is how the tests pass time in without
-- sleeping, and why the gateway cannot: a time argument on the gateway's functions would let an
-- application use a token as if it were yesterday.
\echo Use "ALTER EXTENSION ccroute UPDATE TO '0.6'" to load this file. \quit

------------------------------------------------------------------------------------------------
-- The C side: hashing, one-time codes, random secrets.

CREATE FUNCTION ccroute.password_hash(p_password text) RETURNS text
AS 'MODULE_PATHNAME', 'ccroute_password_hash'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION ccroute.password_verify(p_hash text, p_password text) RETURNS boolean
AS 'MODULE_PATHNAME', 'ccroute_password_verify'
LANGUAGE C VOLATILE;

CREATE FUNCTION ccroute.password_hash_is_current(p_hash text) RETURNS boolean
AS 'MODULE_PATHNAME', 'ccroute_password_hash_is_current'
LANGUAGE C STABLE STRICT;

CREATE FUNCTION ccroute.random_bytes(p_count integer) RETURNS bytea
AS 'MODULE_PATHNAME', 'ccroute_random_bytes'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION ccroute.totp_code(p_secret bytea, p_at timestamptz, p_digits integer DEFAULT 6,
                                  p_step_seconds integer DEFAULT 30, p_algorithm text DEFAULT 'sha1')
RETURNS text
AS 'MODULE_PATHNAME', 'ccroute_totp_code'
LANGUAGE C IMMUTABLE STRICT;

CREATE FUNCTION ccroute.totp_match(p_secret bytea, p_code text, p_at timestamptz,
                                   p_window integer DEFAULT 1, p_digits integer DEFAULT 6,
                                   p_step_seconds integer DEFAULT 30, p_algorithm text DEFAULT 'sha1')
RETURNS bigint
AS 'MODULE_PATHNAME', 'ccroute_totp_match'
LANGUAGE C IMMUTABLE STRICT;

CREATE FUNCTION ccroute.base32(p_data bytea) RETURNS text
AS 'MODULE_PATHNAME', 'ccroute_base32'
LANGUAGE C IMMUTABLE STRICT;

CREATE FUNCTION ccroute.auth_now() RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(nullif(current_setting('ccroute.auth_clock', true), '')::timestamptz,
                    statement_timestamp())
$$;

------------------------------------------------------------------------------------------------
-- Sessions are part of the tenant's policy: how long a signed-in application may stay idle and
-- live, and whether admins need a registered device.

ALTER TABLE ccroute.password_policy
    ADD COLUMN session_idle_minutes integer NOT NULL DEFAULT 30,
    ADD COLUMN session_max_hours integer NOT NULL DEFAULT 12,
    ADD COLUMN admin_device_required boolean NOT NULL DEFAULT true;

-- Checked like the rest of the policy (password_policy_check), by a trigger of their own.
CREATE FUNCTION ccroute.session_policy_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad text;
BEGIN
    bad := CASE
        WHEN NEW.session_idle_minutes NOT BETWEEN 1 AND 1440 THEN 'session_idle_minutes must be 1 to 1440'
        WHEN NEW.session_max_hours NOT BETWEEN 1 AND 168 THEN 'session_max_hours must be 1 to 168'
    END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'password policy: %', bad USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER session_check BEFORE INSERT OR UPDATE ON ccroute.password_policy
    FOR EACH ROW EXECUTE FUNCTION ccroute.session_policy_check();

GRANT UPDATE (session_idle_minutes, session_max_hours, admin_device_required)
    ON ccroute.password_policy TO ccroute_tenant_admin;

------------------------------------------------------------------------------------------------
-- What each person signs in with. Written only by the functions below; a tenant admin reads the
-- columns that are not secrets (account_review). Secret columns are named so that the audit's
-- redaction drops them.

CREATE TABLE ccroute.login_credential (
    tenant_id          bigint NOT NULL,
    person_id          bigint NOT NULL,
    password_hash      text,                 -- argon2id PHC string; NULL: no password set yet
    password_set_at    timestamptz,
    must_change        boolean NOT NULL DEFAULT false,
    failed_attempts    integer NOT NULL DEFAULT 0,
    locked_at          timestamptz,
    last_login_at      timestamptz,
    totp_secret        bytea,                -- RFC 6238 seed, 20 bytes
    totp_confirmed     boolean NOT NULL DEFAULT false,
    totp_last_counter  bigint,               -- the last time step accepted: codes are used once
    PRIMARY KEY (tenant_id, person_id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES ccroute.person (tenant_id, person_id) ON DELETE CASCADE
);
SELECT ccroute.protect_table('ccroute.login_credential', true, false);

CREATE TABLE ccroute.password_history (
    tenant_id      bigint NOT NULL,
    person_id      bigint NOT NULL,
    history_id     bigint GENERATED ALWAYS AS IDENTITY,
    set_at         timestamptz NOT NULL,
    password_hash  text NOT NULL,
    PRIMARY KEY (tenant_id, person_id, history_id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES ccroute.person (tenant_id, person_id) ON DELETE CASCADE
);
SELECT ccroute.protect_table('ccroute.password_history', true, false);

-- The devices an admin may sign in from: the source identifies a PC by its MAC address.
CREATE DOMAIN ccroute.device_id AS text
    CONSTRAINT "device id: a MAC address, six pairs of hex digits"
    CHECK (VALUE OPERATOR(pg_catalog.~) '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$');

CREATE TABLE ccroute.person_device (
    tenant_id      bigint NOT NULL,
    person_id      bigint NOT NULL,
    device_id      ccroute.device_id NOT NULL,
    label          ccroute.label,
    registered_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (tenant_id, person_id, device_id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES ccroute.person (tenant_id, person_id) ON DELETE CASCADE
);
SELECT ccroute.protect_table('ccroute.person_device', true, true);

-- Signed-in applications. The token is "<tenant id>.<64 hex digits>"; only the SHA-256 of its
-- random part is kept, so neither a backup nor a DBA's SELECT yields a usable token, and the
-- key still leads with the tenant (D6).
CREATE TABLE ccroute.app_session (
    tenant_id             bigint NOT NULL,
    token_hash            bytea NOT NULL,
    person_id             bigint NOT NULL,
    device_id             ccroute.device_id,    -- the registered device signed in from, if any
    password_change_only  boolean NOT NULL,   -- expired or first login: only change_password
    started_at            timestamptz NOT NULL,
    last_seen_at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, person_id) REFERENCES ccroute.person (tenant_id, person_id) ON DELETE CASCADE
);
CREATE INDEX app_session_by_person ON ccroute.app_session (tenant_id, person_id);
SELECT ccroute.protect_table('ccroute.app_session', true, false);

-- Every person has a credential row from their creation, so that every person shows in the
-- account review, with or without a password.
CREATE FUNCTION ccroute.person_gets_credential() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
BEGIN
    PERFORM set_config('ccroute.tenant_context', NEW.tenant_id::text, true);
    INSERT INTO ccroute.login_credential (tenant_id, person_id) VALUES (NEW.tenant_id, NEW.person_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER login_credential AFTER INSERT ON ccroute.person
    FOR EACH ROW EXECUTE FUNCTION ccroute.person_gets_credential();
INSERT INTO ccroute.login_credential (tenant_id, person_id)
SELECT p.tenant_id, p.person_id FROM ccroute.person p
 WHERE NOT EXISTS (SELECT FROM ccroute.login_credential c
                    WHERE c.tenant_id = p.tenant_id AND c.person_id = p.person_id);

------------------------------------------------------------------------------------------------
-- Helpers of the sign-in functions (owner only).

-- A sign-in outcome in the audit log: who (the person, when known), what, never a secret. An
-- unknown login is not written out: people type their password into the login field.
CREATE FUNCTION ccroute.audit_sign_in(p_tenant bigint, p_what text, p_person ccroute.person,
                                      p_outcome text, p_detail jsonb DEFAULT NULL) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ccroute.audit_write(p_tenant, 'CALL', p_what, NULL,
        jsonb_build_object('person_id', p_person.person_id, 'login', p_person.login,
                           'outcome', p_outcome) || coalesce(p_detail, '{}'))
$$;

-- A MAC address as people write it (dashes or colons, any case), in the stored form.
CREATE FUNCTION ccroute.normal_device(p_device text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT lower(translate(p_device, '-', ':')) $$;

-- Whether a new password may replace the person's current one: the policy's rules, then its
-- history (the current password counts as the first previous one). Returns the problem or NULL.
CREATE FUNCTION ccroute.new_password_problem(p_tenant bigint, p_person ccroute.person, p_password text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keep integer;
    problem text;
BEGIN
    problem := ccroute.password_problem(p_tenant, p_person.login, p_password,
                                        CASE WHEN p_person.kind = 'agent' THEN 'agent' ELSE 'admin' END);
    IF problem IS NOT NULL THEN
        RETURN problem;
    END IF;
    SELECT pp.history INTO keep FROM ccroute.password_policy pp WHERE pp.tenant_id = p_tenant;
    IF keep > 0 AND EXISTS (
        SELECT FROM (SELECT h.password_hash FROM ccroute.password_history h
                      WHERE h.tenant_id = p_tenant AND h.person_id = p_person.person_id
                      ORDER BY h.history_id DESC LIMIT keep) AS recent
         WHERE ccroute.password_verify(recent.password_hash, p_password)) THEN
        RETURN pg_catalog.format('is one of the last %s passwords', keep);
    END IF;
    RETURN NULL;
END
$$;

-- Stores a password that passed new_password_problem: its hash, its time, the history trimmed
-- to what the policy keeps. The person's other sessions end: whoever held them knew the old one.
CREATE FUNCTION ccroute.store_password(p_tenant bigint, p_person ccroute.person, p_password text,
                                       p_must_change boolean, p_keep_session bytea) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    now_ timestamptz := ccroute.auth_now();
    h text := ccroute.password_hash(p_password);
    keep integer;
BEGIN
    SELECT pp.history INTO keep FROM ccroute.password_policy pp WHERE pp.tenant_id = p_tenant;
    UPDATE ccroute.login_credential c
       SET password_hash = h, password_set_at = now_, must_change = p_must_change
     WHERE c.tenant_id = p_tenant AND c.person_id = p_person.person_id;
    INSERT INTO ccroute.password_history (tenant_id, person_id, set_at, password_hash)
        VALUES (p_tenant, p_person.person_id, now_, h);
    DELETE FROM ccroute.password_history x
     WHERE x.tenant_id = p_tenant AND x.person_id = p_person.person_id
       AND x.history_id NOT IN (SELECT k.history_id FROM ccroute.password_history k
                                 WHERE k.tenant_id = p_tenant AND k.person_id = p_person.person_id
                                 ORDER BY k.history_id DESC LIMIT greatest(keep, 1));
    DELETE FROM ccroute.app_session s
     WHERE s.tenant_id = p_tenant AND s.person_id = p_person.person_id
       AND s.token_hash IS DISTINCT FROM p_keep_session;
END
$$;

-- A failed check of a password or code: counted, and the account locked at the policy's limit.
CREATE FUNCTION ccroute.count_failure(p_tenant bigint, p_person bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lim integer;
    n integer;
BEGIN
    SELECT pp.max_failed_attempts INTO lim FROM ccroute.password_policy pp WHERE pp.tenant_id = p_tenant;
    UPDATE ccroute.login_credential c
       SET failed_attempts = c.failed_attempts + 1,
           locked_at = CASE WHEN c.failed_attempts + 1 >= lim THEN ccroute.auth_now() END
     WHERE c.tenant_id = p_tenant AND c.person_id = p_person
    RETURNING c.failed_attempts INTO n;
    IF n >= lim THEN
        DELETE FROM ccroute.app_session s WHERE s.tenant_id = p_tenant AND s.person_id = p_person;
    END IF;
    RETURN coalesce(n >= lim, false);
END
$$;

-- The session a token names, made the context, with its last use moved to now. Refused when
-- the token is malformed, unknown, signed out, idle too long or too old (all 28000), or, unless
-- asked, when it only allows a password change (28P01).
CREATE FUNCTION ccroute.session_of(p_token text, p_change_only_ok boolean DEFAULT false)
RETURNS ccroute.app_session
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    now_ timestamptz := ccroute.auth_now();
    s ccroute.app_session;
    pol ccroute.password_policy;
    tid bigint;
BEGIN
    IF p_token IS NULL OR p_token !~ '^[1-9][0-9]{0,17}\.[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'the session token is not valid' USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    tid := split_part(p_token, '.', 1)::bigint;
    PERFORM set_config('ccroute.tenant_context', tid::text, true);
    SELECT * INTO s FROM ccroute.app_session x
     WHERE x.tenant_id = tid AND x.token_hash = sha256(decode(split_part(p_token, '.', 2), 'hex'))
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the session token is not valid'
            USING ERRCODE = 'invalid_authorization_specification',
                  HINT = 'Sign in again: the session was ended, or never existed.';
    END IF;
    SELECT * INTO pol FROM ccroute.password_policy pp WHERE pp.tenant_id = tid;
    IF now_ >= s.last_seen_at + make_interval(mins => pol.session_idle_minutes) THEN
        RAISE EXCEPTION 'the session timed out after % minutes idle', pol.session_idle_minutes
            USING ERRCODE = 'invalid_authorization_specification', HINT = 'Sign in again.';
    END IF;
    IF now_ >= s.started_at + make_interval(hours => pol.session_max_hours) THEN
        RAISE EXCEPTION 'the session ended after its maximum of % hours', pol.session_max_hours
            USING ERRCODE = 'invalid_authorization_specification', HINT = 'Sign in again.';
    END IF;
    IF s.password_change_only AND NOT p_change_only_ok THEN
        RAISE EXCEPTION 'the password must be changed first'
            USING ERRCODE = 'invalid_password', HINT = 'Call ccroute.change_password with this token.';
    END IF;
    UPDATE ccroute.app_session x SET last_seen_at = greatest(x.last_seen_at, now_)
     WHERE x.tenant_id = tid AND x.token_hash = s.token_hash;
    RETURN s;
END
$$;

------------------------------------------------------------------------------------------------
-- Signing in.

-- Checks the person's password (argon2id; an unknown login costs the same hash and gets the
-- same answer as a wrong password), their device (admins), their one-time code (when
-- enrolled), lock-out and expiry, and returns the outcome and, when the password was right, a
-- session token:
--   ok                       a full session
--   must_change, expired     a session that can only change the password
--   wrong_credentials        unknown tenant or login, no password set, or a wrong password
--   locked                   too many failures: a tenant admin unlocks the account
--   device_not_registered    an admin signing in from a device not registered for them
--   second_factor_required   a one-time code is enrolled and none was given
--   second_factor_wrong      the code is wrong, or was used already (counts as a failure)
CREATE FUNCTION ccroute.authenticate(p_tenant text, p_login text, p_password text,
                                     p_device text DEFAULT NULL, p_code text DEFAULT NULL,
                                     OUT outcome text, OUT token text)
RETURNS record
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    now_ timestamptz := ccroute.auth_now();
    tid bigint;
    per ccroute.person;
    cred ccroute.login_credential;
    pol ccroute.password_policy;
    right_password boolean;
    step bigint;
    dev text := ccroute.normal_device(p_device);
    device ccroute.device_id;   -- the device, when it is registered for the person
    secret bytea;
BEGIN
    SELECT t.tenant_id INTO tid FROM ccroute.tenant t WHERE t.name = p_tenant AND t.status = 'active';
    IF tid IS NOT NULL THEN
        PERFORM set_config('ccroute.tenant_context', tid::text, true);
        SELECT * INTO per FROM ccroute.person p WHERE p.tenant_id = tid AND p.login = p_login;
        SELECT * INTO cred FROM ccroute.login_credential c
         WHERE c.tenant_id = tid AND c.person_id = per.person_id FOR UPDATE;
        SELECT * INTO pol FROM ccroute.password_policy pp WHERE pp.tenant_id = tid;
    END IF;
    right_password := ccroute.password_verify(cred.password_hash, p_password);

    IF cred.password_hash IS NULL THEN
        IF tid IS NOT NULL THEN
            PERFORM ccroute.audit_sign_in(tid, 'authenticate', per, 'wrong_credentials',
                jsonb_build_object('reason', CASE WHEN per.person_id IS NULL THEN 'unknown login'
                                                  ELSE 'no password set' END));
        END IF;
        outcome := 'wrong_credentials';
        RETURN;
    END IF;
    IF cred.locked_at IS NOT NULL THEN
        PERFORM ccroute.audit_sign_in(tid, 'authenticate', per, 'locked');
        outcome := 'locked';
        RETURN;
    END IF;
    IF NOT right_password THEN
        PERFORM ccroute.audit_sign_in(tid, 'authenticate', per, 'wrong_credentials',
            jsonb_build_object('reason', 'wrong password',
                               'locked_now', ccroute.count_failure(tid, per.person_id)));
        outcome := 'wrong_credentials';
        RETURN;
    END IF;
    SELECT d.device_id INTO device FROM ccroute.person_device d
     WHERE d.tenant_id = tid AND d.person_id = per.person_id AND d.device_id = dev;
    IF per.kind IN ('tenant_admin', 'supervisor') AND pol.admin_device_required AND device IS NULL THEN
        PERFORM ccroute.audit_sign_in(tid, 'authenticate', per, 'device_not_registered',
            jsonb_build_object('device', left(dev, 17)));
        outcome := 'device_not_registered';
        RETURN;
    END IF;
    IF cred.totp_confirmed THEN
        IF p_code IS NULL OR p_code = '' THEN
            PERFORM ccroute.audit_sign_in(tid, 'authenticate', per, 'second_factor_required');
            outcome := 'second_factor_required';
            RETURN;
        END IF;
        step := ccroute.totp_match(cred.totp_secret, p_code, now_);
        IF step IS NULL OR step <= coalesce(cred.totp_last_counter, -1) THEN
            PERFORM ccroute.audit_sign_in(tid, 'authenticate', per, 'second_factor_wrong',
                jsonb_build_object('reused', step IS NOT NULL,
                                   'locked_now', ccroute.count_failure(tid, per.person_id)));
            outcome := 'second_factor_wrong';
            RETURN;
        END IF;
    END IF;

    outcome := CASE
        WHEN cred.must_change THEN 'must_change'
        WHEN pol.expiry_days IS NOT NULL
             AND now_ >= cred.password_set_at + pol.expiry_days * interval '24 hours' THEN 'expired'
        ELSE 'ok'
    END;
    UPDATE ccroute.login_credential c
       SET failed_attempts = 0, last_login_at = now_,
           totp_last_counter = coalesce(step, c.totp_last_counter),
           -- A hash made with older parameters is made again now that the password is at hand.
           password_hash = CASE WHEN ccroute.password_hash_is_current(c.password_hash) THEN c.password_hash
                                ELSE ccroute.password_hash(p_password) END
     WHERE c.tenant_id = tid AND c.person_id = per.person_id;
    -- Sessions of this person that timed out are cleared as a new one starts.
    DELETE FROM ccroute.app_session s
     WHERE s.tenant_id = tid AND s.person_id = per.person_id
       AND (s.last_seen_at + make_interval(mins => pol.session_idle_minutes) <= now_
            OR s.started_at + make_interval(hours => pol.session_max_hours) <= now_);
    secret := ccroute.random_bytes(32);
    INSERT INTO ccroute.app_session (tenant_id, token_hash, person_id, device_id, password_change_only,
                                     started_at, last_seen_at)
        VALUES (tid, sha256(secret), per.person_id, device,
                outcome <> 'ok', now_, now_);
    token := tid::text || '.' || encode(secret, 'hex');
    PERFORM ccroute.audit_sign_in(tid, 'authenticate', per, outcome,
        jsonb_build_object('second_factor', step IS NOT NULL));
END
$$;

-- Ends the token's session.
CREATE FUNCTION ccroute.sign_out(p_token text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    s ccroute.app_session := ccroute.session_of(p_token, true);
    per ccroute.person;
BEGIN
    SELECT * INTO per FROM ccroute.person p WHERE p.tenant_id = s.tenant_id AND p.person_id = s.person_id;
    DELETE FROM ccroute.app_session x WHERE x.tenant_id = s.tenant_id AND x.token_hash = s.token_hash;
    PERFORM ccroute.audit_sign_in(s.tenant_id, 'sign_out', per, 'ok');
END
$$;

-- The token's person changes their own password: the current one, then the new one against the
-- policy and the history. Returns 'ok', 'wrong_password' (counted as a failure), or 'refused:
-- <why>'. A session that could only change the password becomes a full one; the person's other
-- sessions end.
CREATE FUNCTION ccroute.change_password(p_token text, p_current text, p_new text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    s ccroute.app_session := ccroute.session_of(p_token, true);
    per ccroute.person;
    cred ccroute.login_credential;
    problem text;
BEGIN
    SELECT * INTO per FROM ccroute.person p WHERE p.tenant_id = s.tenant_id AND p.person_id = s.person_id;
    SELECT * INTO cred FROM ccroute.login_credential c
     WHERE c.tenant_id = s.tenant_id AND c.person_id = s.person_id FOR UPDATE;
    IF NOT ccroute.password_verify(cred.password_hash, p_current) THEN
        PERFORM ccroute.audit_sign_in(s.tenant_id, 'change_password', per, 'wrong_password',
            jsonb_build_object('locked_now', ccroute.count_failure(s.tenant_id, s.person_id)));
        RETURN 'wrong_password';
    END IF;
    problem := ccroute.new_password_problem(s.tenant_id, per, p_new);
    IF problem IS NOT NULL THEN
        PERFORM ccroute.audit_sign_in(s.tenant_id, 'change_password', per, 'refused',
            jsonb_build_object('problem', problem));
        RETURN 'refused: ' || problem;
    END IF;
    PERFORM ccroute.store_password(s.tenant_id, per, p_new, false, s.token_hash);
    UPDATE ccroute.app_session x SET password_change_only = false
     WHERE x.tenant_id = s.tenant_id AND x.token_hash = s.token_hash;
    PERFORM ccroute.audit_sign_in(s.tenant_id, 'change_password', per, 'ok');
    RETURN 'ok';
END
$$;

------------------------------------------------------------------------------------------------
-- What a token lets an agent do: its own state.

-- The state change of set_agent_state, for any caller that has settled who may change which
-- agent (a person by role, or a session by token).
CREATE FUNCTION ccroute.apply_agent_state(p_tenant bigint, p_agent ccroute.agent, p_state text,
                                          p_reason text) RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur text;
    logged_in integer;
    lim integer;
BEGIN
    IF p_state NOT IN ('ready', 'not_ready', 'logged_out') THEN
        RAISE EXCEPTION 'an agent can be set ready, not_ready or logged_out, not "%"', p_state
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO ccroute.agent_state (tenant_id, agent_id) VALUES (p_tenant, p_agent.agent_id)
        ON CONFLICT DO NOTHING;
    SELECT s.state INTO cur FROM ccroute.agent_state s
     WHERE s.tenant_id = p_tenant AND s.agent_id = p_agent.agent_id FOR UPDATE;
    IF cur IN ('reserved', 'on_call') THEN
        RAISE EXCEPTION 'agent % is on a call', p_agent.extension
            USING ERRCODE = 'object_in_use', HINT = 'Change the state when the call has ended.';
    END IF;
    IF cur = 'logged_out' AND p_state <> 'logged_out' THEN
        SELECT t.max_agents_logged_in INTO lim FROM ccroute.tenant t WHERE t.tenant_id = p_tenant FOR UPDATE;
        SELECT count(*) INTO logged_in FROM ccroute.agent_state s
         WHERE s.tenant_id = p_tenant AND s.state <> 'logged_out';
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
     WHERE s.tenant_id = p_tenant AND s.agent_id = p_agent.agent_id;
    RETURN p_state;
END
$$;

CREATE OR REPLACE FUNCTION ccroute.set_agent_state(p_extension text, p_state text, p_reason text DEFAULT NULL)
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
BEGIN
    SELECT * INTO me FROM ccroute.role_map m WHERE m.role_name = session_user;
    SELECT p.kind INTO kind FROM ccroute.person p WHERE p.tenant_id = id AND p.person_id = me.person_id;
    SELECT * INTO ag FROM ccroute.agent a WHERE a.tenant_id = id AND a.extension = p_extension;
    IF NOT FOUND OR (kind = 'agent' AND ag.person_id IS DISTINCT FROM me.person_id)
       OR kind NOT IN ('agent', 'supervisor', 'tenant_admin') THEN
        RAISE EXCEPTION 'no agent with extension % that you may change', p_extension
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM ccroute.audit_write(id, 'CALL', 'set_agent_state', NULL,
        jsonb_build_object('extension', p_extension, 'state', p_state, 'reason', p_reason));
    RETURN ccroute.apply_agent_state(id, ag, p_state, p_reason);
END
$$;

-- The agent of the token's person sets its own state.
CREATE FUNCTION ccroute.token_agent_state(p_token text, p_state text, p_reason text) RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s ccroute.app_session := ccroute.session_of(p_token);
    ag ccroute.agent;
BEGIN
    SELECT * INTO ag FROM ccroute.agent a WHERE a.tenant_id = s.tenant_id AND a.person_id = s.person_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no agent is linked to the person of this session'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM ccroute.audit_write(s.tenant_id, 'CALL', 'agent_state_by_token', NULL,
        jsonb_build_object('person_id', s.person_id, 'extension', ag.extension, 'state', p_state,
                           'reason', p_reason));
    RETURN ccroute.apply_agent_state(s.tenant_id, ag, p_state, p_reason);
END
$$;

CREATE FUNCTION ccroute.agent_ready(p_token text) RETURNS text
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$ SELECT ccroute.token_agent_state(p_token, 'ready', NULL) $$;

CREATE FUNCTION ccroute.agent_not_ready(p_token text, p_reason text DEFAULT NULL) RETURNS text
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$ SELECT ccroute.token_agent_state(p_token, 'not_ready', p_reason) $$;

CREATE FUNCTION ccroute.agent_log_out(p_token text) RETURNS text
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$ SELECT ccroute.token_agent_state(p_token, 'logged_out', NULL) $$;

------------------------------------------------------------------------------------------------
-- What a token lets a tenant admin do, and what anyone may do with their second factor.

-- A tenant admin (by token) unlocks a person of their own tenant.
CREATE FUNCTION ccroute.unlock_account(p_token text, p_login text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    s ccroute.app_session := ccroute.session_of(p_token);
    per ccroute.person;
BEGIN
    IF NOT EXISTS (SELECT FROM ccroute.person p WHERE p.tenant_id = s.tenant_id
                      AND p.person_id = s.person_id AND p.kind = 'tenant_admin') THEN
        RAISE EXCEPTION 'only a tenant admin unlocks accounts' USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT * INTO per FROM ccroute.person p WHERE p.tenant_id = s.tenant_id AND p.login = p_login;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the tenant has no person "%"', p_login USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE ccroute.login_credential c SET locked_at = NULL, failed_attempts = 0
     WHERE c.tenant_id = s.tenant_id AND c.person_id = per.person_id;
    PERFORM ccroute.audit_sign_in(s.tenant_id, 'unlock_account', per, 'ok',
        jsonb_build_object('by_person_id', s.person_id));
END
$$;

-- Starts enrolling the token's person in one-time codes: a new secret, returned once as an
-- otpauth:// URI for an authenticator app. Codes are not asked for until confirm_totp accepts
-- one. A person already enrolled is refused: an admin resets it first (reset_totp).
CREATE FUNCTION ccroute.enroll_totp(p_token text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    s ccroute.app_session := ccroute.session_of(p_token);
    per ccroute.person;
    t ccroute.tenant;
    secret bytea := ccroute.random_bytes(20);
BEGIN
    SELECT * INTO per FROM ccroute.person p WHERE p.tenant_id = s.tenant_id AND p.person_id = s.person_id;
    SELECT * INTO t FROM ccroute.tenant x WHERE x.tenant_id = s.tenant_id;
    UPDATE ccroute.login_credential c SET totp_secret = secret, totp_last_counter = NULL
     WHERE c.tenant_id = s.tenant_id AND c.person_id = s.person_id AND NOT c.totp_confirmed;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'one-time codes are already enrolled for this person'
            USING ERRCODE = 'object_in_use', HINT = 'A tenant admin can reset them with ccroute.reset_totp.';
    END IF;
    PERFORM ccroute.audit_sign_in(s.tenant_id, 'enroll_totp', per, 'started');
    RETURN pg_catalog.format('otpauth://totp/ccroute:%s@%s?secret=%s&issuer=ccroute&algorithm=SHA1&digits=6&period=30',
                             per.login, t.name, rtrim(ccroute.base32(secret), '='));
END
$$;

-- Finishes enrolling: the first code from the app proves it holds the secret.
CREATE FUNCTION ccroute.confirm_totp(p_token text, p_code text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    s ccroute.app_session := ccroute.session_of(p_token);
    per ccroute.person;
    cred ccroute.login_credential;
    step bigint;
BEGIN
    SELECT * INTO per FROM ccroute.person p WHERE p.tenant_id = s.tenant_id AND p.person_id = s.person_id;
    SELECT * INTO cred FROM ccroute.login_credential c
     WHERE c.tenant_id = s.tenant_id AND c.person_id = s.person_id FOR UPDATE;
    IF cred.totp_secret IS NULL OR cred.totp_confirmed THEN
        RAISE EXCEPTION 'no enrollment of one-time codes is waiting for a code'
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Call ccroute.enroll_totp first.';
    END IF;
    step := ccroute.totp_match(cred.totp_secret, p_code, ccroute.auth_now());
    IF step IS NOT NULL THEN
        UPDATE ccroute.login_credential c SET totp_confirmed = true, totp_last_counter = step
         WHERE c.tenant_id = s.tenant_id AND c.person_id = s.person_id;
    END IF;
    PERFORM ccroute.audit_sign_in(s.tenant_id, 'confirm_totp', per,
                                  CASE WHEN step IS NULL THEN 'wrong_code' ELSE 'ok' END);
    RETURN step IS NOT NULL;
END
$$;

------------------------------------------------------------------------------------------------
-- For tenant admins working in SQL (their own tenant) and platform DBAs (any tenant).

-- The person whose sign-in a tenant admin or platform DBA manages, with the tenant made the context.
CREATE FUNCTION ccroute.managed_person(p_tenant text, p_login text, OUT tid bigint,
                                       OUT per ccroute.person) RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    tid := ccroute.enter_tenant_of_people(p_tenant);
    SELECT * INTO per FROM ccroute.person p WHERE p.tenant_id = tid AND p.login = p_login;
    IF per.person_id IS NULL THEN
        RAISE EXCEPTION 'tenant "%" has no person "%"', p_tenant, p_login USING ERRCODE = 'no_data_found';
    END IF;
END
$$;

-- Sets a person's password (a new person's first, or a forgotten one's replacement). It must
-- meet the policy and the history; with change_at_first_login the person must change it when
-- they next sign in. The password is a bound argument: it never appears in a statement's text.
CREATE FUNCTION ccroute.set_password(p_tenant text, p_login text, p_password text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    m record := ccroute.managed_person(p_tenant, p_login);
    problem text;
    first_change boolean;
BEGIN
    PERFORM 1 FROM ccroute.login_credential c
     WHERE c.tenant_id = m.tid AND c.person_id = (m.per).person_id FOR UPDATE;
    problem := ccroute.new_password_problem(m.tid, m.per, p_password);
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'password refused: %', problem USING ERRCODE = 'invalid_password';
    END IF;
    SELECT pp.change_at_first_login INTO first_change FROM ccroute.password_policy pp WHERE pp.tenant_id = m.tid;
    PERFORM ccroute.store_password(m.tid, m.per, p_password, first_change, NULL);
    PERFORM ccroute.audit_sign_in(m.tid, 'set_password', m.per, 'ok',
        jsonb_build_object('must_change', first_change));
END
$$;

CREATE FUNCTION ccroute.unlock_person(p_tenant text, p_login text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    m record := ccroute.managed_person(p_tenant, p_login);
BEGIN
    UPDATE ccroute.login_credential c SET locked_at = NULL, failed_attempts = 0
     WHERE c.tenant_id = m.tid AND c.person_id = (m.per).person_id;
    PERFORM ccroute.audit_sign_in(m.tid, 'unlock_person', m.per, 'ok');
END
$$;

CREATE FUNCTION ccroute.register_device(p_tenant text, p_login text, p_device text,
                                        p_label text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    m record := ccroute.managed_person(p_tenant, p_login);
BEGIN
    INSERT INTO ccroute.person_device (tenant_id, person_id, device_id, label)
        VALUES (m.tid, (m.per).person_id, ccroute.normal_device(p_device), p_label)
        ON CONFLICT (tenant_id, person_id, device_id) DO UPDATE SET label = EXCLUDED.label;
END
$$;

CREATE FUNCTION ccroute.remove_device(p_tenant text, p_login text, p_device text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    m record := ccroute.managed_person(p_tenant, p_login);
BEGIN
    DELETE FROM ccroute.person_device d
     WHERE d.tenant_id = m.tid AND d.person_id = (m.per).person_id
       AND d.device_id = ccroute.normal_device(p_device);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'person "%" has no device %', p_login, p_device USING ERRCODE = 'no_data_found';
    END IF;
END
$$;

-- Removes a person's one-time codes (a lost phone); they may enroll again.
CREATE FUNCTION ccroute.reset_totp(p_tenant text, p_login text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    m record := ccroute.managed_person(p_tenant, p_login);
BEGIN
    UPDATE ccroute.login_credential c
       SET totp_secret = NULL, totp_confirmed = false, totp_last_counter = NULL
     WHERE c.tenant_id = m.tid AND c.person_id = (m.per).person_id;
    PERFORM ccroute.audit_sign_in(m.tid, 'reset_totp', m.per, 'ok');
END
$$;

-- The yearly review of accounts and roles (R15): every person of the tenant, their database
-- role and its memberships, how they sign in, and what needs a look.
CREATE VIEW ccroute.account_review WITH (security_invoker = true) AS
SELECT p.tenant_id, p.login, p.kind, p.display_name, p.role_name,
       (SELECT array_agg(g.rolname::text ORDER BY g.rolname)
          FROM pg_catalog.pg_auth_members am
          JOIN pg_catalog.pg_roles r ON r.oid = am.member
          JOIN pg_catalog.pg_roles g ON g.oid = am.roleid
         WHERE r.rolname = p.role_name) AS role_memberships,
       p.created_at,
       c.last_login_at,
       c.last_login_at IS NULL AS never_logged_in,
       c.password_set_at IS NOT NULL AS has_password,
       c.password_set_at,
       c.password_set_at + pol.expiry_days * interval '24 hours' AS password_expires_at,
       c.password_set_at + pol.expiry_days * interval '24 hours' < ccroute.auth_now() + interval '14 days'
           AS expiring_soon,
       c.must_change,
       c.locked_at IS NOT NULL AS locked,
       c.locked_at,
       c.failed_attempts,
       c.totp_confirmed AS second_factor,
       (SELECT count(*) FROM ccroute.person_device d
         WHERE d.tenant_id = p.tenant_id AND d.person_id = p.person_id) AS devices,
       (SELECT count(*) FROM ccroute.app_session s
         WHERE s.tenant_id = p.tenant_id AND s.person_id = p.person_id) AS sessions
  FROM ccroute.person p
  JOIN ccroute.login_credential c ON c.tenant_id = p.tenant_id AND c.person_id = p.person_id
  JOIN ccroute.password_policy pol ON pol.tenant_id = p.tenant_id;

------------------------------------------------------------------------------------------------
-- People who log in to PostgreSQL itself: their tenant's policy applies to their roles'
-- passwords. The library's password-check hook asks sql_password_problem about every password
-- set with CREATE or ALTER ROLE; set_sql_password is how a person sets theirs without the clear
-- password in any statement's text.

-- Why a role's new password is refused, or NULL (also for a role that is not a person). NULL as
-- password: it came hashed, and cannot be checked.
CREATE FUNCTION ccroute.sql_password_problem(p_role name, p_password text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
DECLARE
    m ccroute.role_map;
    who text;
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
    RETURN ccroute.password_problem(m.tenant_id, who, p_password, 'admin');
END
$$;

CREATE FUNCTION ccroute.apply_role_password(p_role name, p_password text, p_valid_until timestamptz)
RETURNS void
AS 'MODULE_PATHNAME', 'ccroute_apply_role_password'
LANGUAGE C VOLATILE;

-- Only people's roles, as create_login_role; run by the role admin, which alone may alter roles.
CREATE FUNCTION ccroute.alter_login_role_password(p_role name, p_password text, p_valid_until timestamptz)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET ccroute.tenant_context = ''
AS $$
BEGIN
    IF p_role !~ '^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'refusing to change the password of role "%"', p_role
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM ccroute.apply_role_password(p_role, p_password, p_valid_until);
END
$$;

-- The calling person sets the password of their own SQL role: the tenant's policy applies, and,
-- when the policy has an expiry, the role is valid until then. Returns 'ok' or 'refused: <why>'
-- (so that the refusal's audit row stays).
CREATE FUNCTION ccroute.set_sql_password(p_password text) RETURNS text
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
    problem := ccroute.password_problem(id, per.login, p_password, 'admin');
    PERFORM ccroute.audit_sign_in(id, 'set_sql_password', per, CASE WHEN problem IS NULL THEN 'ok' ELSE 'refused' END,
        jsonb_build_object('problem', problem));
    IF problem IS NOT NULL THEN
        RETURN 'refused: ' || problem;
    END IF;
    PERFORM ccroute.alter_login_role_password(session_user, p_password,
        ccroute.auth_now() + pol.expiry_days * interval '24 hours');
    RETURN 'ok';
END
$$;

------------------------------------------------------------------------------------------------
-- Ownership and grants.

DO $owners$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'ccroute'::regnamespace
                AND p.proname IN ('session_policy_check', 'password_hash', 'password_verify', 'password_hash_is_current',
                                  'random_bytes', 'totp_code', 'totp_match', 'base32', 'auth_now',
                                  'person_gets_credential', 'audit_sign_in', 'normal_device',
                                  'new_password_problem', 'store_password', 'count_failure',
                                  'session_of', 'authenticate', 'sign_out', 'change_password',
                                  'apply_agent_state', 'token_agent_state', 'agent_ready',
                                  'agent_not_ready', 'agent_log_out', 'unlock_account',
                                  'enroll_totp', 'confirm_totp', 'managed_person', 'set_password',
                                  'unlock_person', 'register_device', 'remove_device', 'reset_totp',
                                  'sql_password_problem', 'apply_role_password', 'set_sql_password')
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO ccroute_owner', f);
    END LOOP;
END
$owners$;
ALTER VIEW ccroute.account_review OWNER TO ccroute_owner;
REVOKE ALL ON FUNCTION ccroute.alter_login_role_password(name, text, timestamptz) FROM PUBLIC;
ALTER FUNCTION ccroute.alter_login_role_password(name, text, timestamptz) OWNER TO ccroute_role_admin;
GRANT EXECUTE ON FUNCTION ccroute.apply_role_password(name, text, timestamptz) TO ccroute_role_admin;
GRANT EXECUTE ON FUNCTION ccroute.alter_login_role_password(name, text, timestamptz) TO ccroute_owner;
GRANT EXECUTE ON FUNCTION ccroute.set_sql_password(text)
    TO ccroute_tenant_admin, ccroute_supervisor, ccroute_analyst, ccroute_agent;
REVOKE ALL ON ccroute.login_credential, ccroute.password_history, ccroute.person_device,
    ccroute.app_session, ccroute.account_review FROM PUBLIC;

-- The gateway: signing in and the token-taking functions, nothing else.
GRANT EXECUTE ON FUNCTION ccroute.authenticate(text, text, text, text, text),
    ccroute.sign_out(text), ccroute.change_password(text, text, text),
    ccroute.agent_ready(text), ccroute.agent_not_ready(text, text), ccroute.agent_log_out(text),
    ccroute.unlock_account(text, text), ccroute.enroll_totp(text), ccroute.confirm_totp(text, text)
    TO ccroute_gateway;

-- Tenant admins and platform DBAs manage people's sign-in in SQL; tenant admins review accounts.
GRANT EXECUTE ON FUNCTION ccroute.set_password(text, text, text), ccroute.unlock_person(text, text),
    ccroute.register_device(text, text, text, text), ccroute.remove_device(text, text, text),
    ccroute.reset_totp(text, text)
    TO ccroute_tenant_admin, ccroute_platform_dba;
GRANT EXECUTE ON FUNCTION ccroute.auth_now() TO ccroute_tenant_admin;
GRANT SELECT ON ccroute.account_review, ccroute.person_device TO ccroute_tenant_admin;
GRANT SELECT (tenant_id, person_id, password_set_at, must_change, failed_attempts, locked_at,
              last_login_at, totp_confirmed)
    ON ccroute.login_credential TO ccroute_tenant_admin;
GRANT SELECT (tenant_id, person_id) ON ccroute.app_session TO ccroute_tenant_admin;
