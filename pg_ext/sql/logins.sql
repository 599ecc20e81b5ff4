-- Signing in through the gateway: argon2id passwords, outcomes, lock-out and unlock, expiry and
-- first-login change, history, devices, TOTP (with the RFC 6238 vectors), session tokens and
-- their timeouts, tokens across tenants, what the gateway may not do, re-hashing, the account
-- review and the audit. Time is passed in through ccroute.auth_clock, never slept.
CREATE EXTENSION ccroute;
\set VERBOSITY terse
CREATE ROLE li_dba IN ROLE ccroute_platform_dba;
CREATE ROLE li_app LOGIN IN ROLE ccroute_gateway;
-- Errors as "SQLSTATE: message", so that each refusal shows the code that stopped it.
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    IF q ~* '^\s*select' THEN
        EXECUTE q INTO r;
    ELSE
        EXECUTE q;
        r := 'done';
    END IF;
    RETURN coalesce(r, 'null');
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;

-- RFC 6238, appendix B: every test vector, each algorithm with its own seed, 8 digits.
SELECT t, ccroute.totp_code(convert_to('12345678901234567890', 'UTF8'), to_timestamp(t), 8, 30, 'sha1') AS sha1,
       ccroute.totp_code(convert_to('12345678901234567890123456789012', 'UTF8'), to_timestamp(t), 8, 30, 'sha256') AS sha256,
       ccroute.totp_code(convert_to('1234567890123456789012345678901234567890123456789012345678901234', 'UTF8'),
                         to_timestamp(t), 8, 30, 'sha512') AS sha512
  FROM unnest(ARRAY[59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000]) AS t;
-- A code matches within the window only, and says which time step it was.
SELECT ccroute.totp_match(convert_to('12345678901234567890', 'UTF8'), '94287082', to_timestamp(59), 1, 8) AS step_1,
       ccroute.totp_match(convert_to('12345678901234567890', 'UTF8'), '94287082', to_timestamp(59 + 30), 1, 8) AS one_step_late,
       ccroute.totp_match(convert_to('12345678901234567890', 'UTF8'), '94287082', to_timestamp(59 + 90), 1, 8) AS too_late,
       ccroute.totp_match(convert_to('12345678901234567890', 'UTF8'), '9428708x', to_timestamp(59), 1, 8) AS not_digits;
SELECT pg_temp.try($$ SELECT ccroute.totp_code('\x00', now(), 9) $$) AS nine_digits,
       pg_temp.try($$ SELECT ccroute.totp_code('\x00', now(), 6, 30, 'md5') $$) AS md5;

-- Hashes are argon2id PHC strings with a fresh salt; verification is exact.
SELECT ccroute.password_hash('same password') ~ '^\$argon2id\$v=19\$m=19456,t=2,p=1\$' AS phc,
       ccroute.password_hash('same password') <> ccroute.password_hash('same password') AS salted,
       ccroute.password_verify(ccroute.password_hash('same password'), 'same password') AS right_one,
       ccroute.password_verify(ccroute.password_hash('same password'), 'same passworD') AS wrong_one,
       ccroute.password_verify(NULL, 'same password') AS no_hash;
SELECT pg_temp.try(format('SELECT ccroute.password_verify(%L, %L)', '$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaA', 'x')) AS huge_cost,
       pg_temp.try(format('SELECT ccroute.password_hash(%L)', repeat('x', 4097))) AS too_long;

-- Two tenants, each with an admin, a supervisor and an agent.
SET ROLE li_dba;
SELECT ccroute.create_tenant('acme-li') IS NOT NULL AS acme, ccroute.create_tenant('beta-li') IS NOT NULL AS beta;
SELECT ccroute.create_person('acme-li', 'tenant_admin', 'boss', 'Boss'),
       ccroute.create_person('acme-li', 'supervisor', 'sue', 'Sue'),
       ccroute.create_person('acme-li', 'agent', 'ann', 'Ann'),
       ccroute.create_person('beta-li', 'tenant_admin', 'bea', 'Bea'),
       ccroute.create_person('beta-li', 'agent', 'bob', 'Bob');
RESET ROLE;
SET SESSION AUTHORIZATION "acme-li.boss";
INSERT INTO ccroute.agent (name, extension, person_id)
VALUES ('Ann', '100', (SELECT person_id FROM ccroute.person WHERE login = 'ann'));
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "beta-li.bea";
INSERT INTO ccroute.agent (name, extension, person_id)
VALUES ('Bob', '100', (SELECT person_id FROM ccroute.person WHERE login = 'bob'));
RESET SESSION AUTHORIZATION;

-- Setting passwords: the policy applies (by kind: agents' maximum is 20), Unicode counts in
-- characters, and the message never repeats the password.
SET ccroute.auth_clock = '2027-01-01 09:00:00+00';
SET ROLE li_dba;
SELECT pg_temp.try($$ SELECT ccroute.set_password('acme-li', 'ann', 'short1') $$) AS too_short,
       pg_temp.try($$ SELECT ccroute.set_password('acme-li', 'ann', 'an-agent-password-too-long') $$) AS too_long,
       pg_temp.try($$ SELECT ccroute.set_password('acme-li', 'nobody', 'whatever-123') $$) AS unknown,
       pg_temp.try($$ SELECT ccroute.set_password('gamma', 'ann', 'whatever-123') $$) AS no_tenant;
SELECT ccroute.set_password('acme-li', 'ann', 'パスワードは安全です'), ccroute.set_password('acme-li', 'boss', 'chief-secret-1'),
       ccroute.set_password('acme-li', 'sue', 'watch-secret-1'), ccroute.set_password('beta-li', 'bob', 'build-secret-1'),
       ccroute.set_password('beta-li', 'bea', 'sand-secret-1');
RESET ROLE;
-- A tenant admin sets passwords of their own tenant only.
SET SESSION AUTHORIZATION "acme-li.boss";
SELECT pg_temp.try($$ SELECT ccroute.set_password('beta-li', 'bob', 'stolen-password-1') $$) AS other_tenant;
SELECT pg_temp.try($$ SELECT ccroute.set_password('acme-li', 'sue', 'watch-secret-2') $$) AS own_tenant;
RESET SESSION AUTHORIZATION;

-- Signing in, as the gateway's application role.
SET SESSION AUTHORIZATION li_app;
SELECT outcome, token ~ '^[0-9]+\.[0-9a-f]{64}$' AS token_shape
  FROM ccroute.authenticate('acme-li', 'ann', 'パスワードは安全です');
SELECT outcome, token IS NULL AS no_token FROM ccroute.authenticate('acme-li', 'ann', 'パスワードは安全で');
SELECT outcome, token IS NULL AS no_token FROM ccroute.authenticate('acme-li', 'nobody', 'パスワードは安全です');
SELECT outcome, token IS NULL AS no_token FROM ccroute.authenticate('gamma', 'ann', 'パスワードは安全です');
-- The same login in another tenant has its own password.
SELECT outcome FROM ccroute.authenticate('beta-li', 'ann', 'パスワードは安全です');
SELECT outcome FROM ccroute.authenticate('beta-li', 'bob', 'build-secret-1');
-- The gateway can do nothing else: no table, no management function, no clock.
SELECT pg_temp.try($$ SELECT count(*)::text FROM ccroute.person $$) AS read_people,
       pg_temp.try($$ SELECT count(*)::text FROM ccroute.login_credential $$) AS read_credentials,
       pg_temp.try($$ SELECT ccroute.set_password('acme-li', 'ann', 'whatever-123') $$) AS set_password,
       pg_temp.try($$ SELECT ccroute.password_verify(NULL, 'x')::text $$) AS verify;
SELECT pg_temp.try($$ SELECT set_config('ccroute.auth_clock', '2020-01-01', false) $$) AS move_clock;
RESET SESSION AUTHORIZATION;

-- Admins need a registered device (MAC address, written any usual way).
SET SESSION AUTHORIZATION li_app;
SELECT outcome FROM ccroute.authenticate('acme-li', 'boss', 'chief-secret-1');
SELECT outcome FROM ccroute.authenticate('acme-li', 'boss', 'chief-secret-1', '00:11:22:33:44:55');
RESET SESSION AUTHORIZATION;
SET ROLE li_dba;
SELECT ccroute.register_device('acme-li', 'boss', '00-11-22-33-44-AA', 'office PC');
SELECT pg_temp.try($$ SELECT ccroute.register_device('acme-li', 'boss', 'not a mac') $$) AS bad_device;
RESET ROLE;
SET SESSION AUTHORIZATION li_app;
SELECT outcome FROM ccroute.authenticate('acme-li', 'boss', 'chief-secret-1', '00:11:22:33:44:aa');
-- The wrong password from the right device is still wrong.
SELECT outcome FROM ccroute.authenticate('acme-li', 'boss', 'chief-secret-2', '00:11:22:33:44:aa');
RESET SESSION AUTHORIZATION;

-- Tokens: what an agent's token does, and what it cannot.
SET SESSION AUTHORIZATION li_app;
SELECT token AS ann FROM ccroute.authenticate('acme-li', 'ann', 'パスワードは安全です') \gset
SELECT token AS bob FROM ccroute.authenticate('beta-li', 'bob', 'build-secret-1') \gset
SELECT ccroute.agent_ready(:'ann') AS ann_ready, ccroute.agent_not_ready(:'ann', 'lunch') AS ann_not_ready;
SELECT ccroute.agent_ready(:'bob') AS bob_ready;
-- Ann's token names her tenant; moved to beta's number, or guessed, it finds nothing.
SELECT pg_temp.try(format('SELECT ccroute.agent_ready(%L)', split_part(:'bob', '.', 1) || '.' || split_part(:'ann', '.', 2))) AS moved_token,
       pg_temp.try(format('SELECT ccroute.agent_ready(%L)', 'garbage'' OR 1=1 --')) AS garbage,
       pg_temp.try(format('SELECT ccroute.agent_ready(%L)', split_part(:'ann', '.', 1) || '.' || repeat('0', 64))) AS guessed;
-- An agent's token cannot unlock accounts.
SELECT pg_temp.try(format('SELECT ccroute.unlock_account(%L, %L)', :'ann', 'ann')) AS agent_unlocks;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "acme-li.boss";
SELECT a.extension, s.state, s.reason FROM ccroute.agent_state s JOIN ccroute.agent a USING (tenant_id, agent_id);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "beta-li.bea";
SELECT a.extension, s.state, s.reason FROM ccroute.agent_state s JOIN ccroute.agent a USING (tenant_id, agent_id);
RESET SESSION AUTHORIZATION;

-- Idle timeout (30 minutes by default) and maximum age (12 hours): a token used every 20 minutes
-- lives until its maximum age; one left alone 30 minutes is refused.
SET ccroute.auth_clock = '2027-01-01 09:29:59+00';
SET SESSION AUTHORIZATION li_app;
SELECT ccroute.agent_ready(:'ann') AS just_in_time;
RESET SESSION AUTHORIZATION;
SET ccroute.auth_clock = '2027-01-01 09:59:59+00';
SET SESSION AUTHORIZATION li_app;
SELECT pg_temp.try(format('SELECT ccroute.agent_ready(%L)', :'ann')) AS idle_30_minutes,
       pg_temp.try(format('SELECT ccroute.agent_ready(%L)', :'bob')) AS bob_idle_too;
RESET SESSION AUTHORIZATION;
SET ccroute.auth_clock = '2027-01-01 10:00:00+00';
SET SESSION AUTHORIZATION li_app;
SELECT token AS ann FROM ccroute.authenticate('acme-li', 'ann', 'パスワードは安全です') \gset
RESET SESSION AUTHORIZATION;
SELECT set_config('my.ann', :'ann', false) IS NOT NULL AS kept;
-- Every 20 minutes until 21:40: still alive.
DO $$
BEGIN
    FOR i IN 1..35 LOOP
        PERFORM set_config('ccroute.auth_clock',
                           ('2027-01-01 10:00:00+00'::timestamptz + i * interval '20 minutes')::text, false);
        PERFORM ccroute.agent_not_ready(current_setting('my.ann'), 'busy');
    END LOOP;
END $$;
SELECT ccroute.agent_not_ready(:'ann', 'busy') AS at_21_40;
SET ccroute.auth_clock = '2027-01-01 22:00:00+00';
SELECT pg_temp.try(format('SELECT ccroute.agent_ready(%L)', :'ann')) AS twelve_hours;

-- Signing out ends the token at once.
SET SESSION AUTHORIZATION li_app;
SELECT token AS ann FROM ccroute.authenticate('acme-li', 'ann', 'パスワードは安全です') \gset
SELECT ccroute.agent_ready(:'ann') AS before_sign_out;
SELECT ccroute.sign_out(:'ann');
SELECT pg_temp.try(format('SELECT ccroute.agent_ready(%L)', :'ann')) AS after_sign_out,
       pg_temp.try(format('SELECT ccroute.sign_out(%L)', :'ann')) AS twice;
RESET SESSION AUTHORIZATION;

-- Lock-out after the tenant's limit; a locked account stays locked with the right password; a
-- tenant admin unlocks it, by token or in SQL.
SET SESSION AUTHORIZATION "acme-li.boss";
UPDATE ccroute.password_policy SET max_failed_attempts = 3;
RESET SESSION AUTHORIZATION;
SET ccroute.auth_clock = '2027-01-02 09:00:00+00';
SET SESSION AUTHORIZATION li_app;
SELECT token AS ann FROM ccroute.authenticate('acme-li', 'ann', 'パスワードは安全です') \gset
SELECT i, (ccroute.authenticate('acme-li', 'ann', 'guess-' || i)).outcome FROM generate_series(1, 3) AS i;
SELECT outcome, token IS NULL AS no_token FROM ccroute.authenticate('acme-li', 'ann', 'パスワードは安全です');
-- Locking ended her sessions.
SELECT pg_temp.try(format('SELECT ccroute.agent_ready(%L)', :'ann')) AS session_of_locked;
-- Beta's admin cannot unlock acme's Ann; acme's admin can.
SELECT token AS bea FROM ccroute.authenticate('beta-li', 'bea', 'sand-secret-1', '00:00:00:00:00:01') \gset
RESET SESSION AUTHORIZATION;
SET ROLE li_dba;
SELECT ccroute.register_device('beta-li', 'bea', '00:00:00:00:00:01');
RESET ROLE;
SET SESSION AUTHORIZATION li_app;
SELECT token AS bea FROM ccroute.authenticate('beta-li', 'bea', 'sand-secret-1', '00:00:00:00:00:01') \gset
SELECT pg_temp.try(format('SELECT ccroute.unlock_account(%L, %L)', :'bea', 'ann')) AS beta_unlocks_ann;
SELECT token AS boss FROM ccroute.authenticate('acme-li', 'boss', 'chief-secret-1', '00:11:22:33:44:aa') \gset
SELECT pg_temp.try(format('SELECT ccroute.unlock_account(%L, %L)', :'boss', 'ann')) AS acme_unlocks_ann;
SELECT outcome FROM ccroute.authenticate('acme-li', 'ann', 'パスワードは安全です');
-- Failures are counted in a row: a success starts again from zero.
SELECT (ccroute.authenticate('acme-li', 'ann', 'guess')).outcome, (ccroute.authenticate('acme-li', 'ann', 'guess')).outcome;
SELECT outcome FROM ccroute.authenticate('acme-li', 'ann', 'パスワードは安全です');
SELECT (ccroute.authenticate('acme-li', 'ann', 'guess')).outcome, (ccroute.authenticate('acme-li', 'ann', 'guess')).outcome;
SELECT outcome FROM ccroute.authenticate('acme-li', 'ann', 'パスワードは安全です');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "acme-li.boss";
SELECT ccroute.unlock_person('acme-li', 'ann');
RESET SESSION AUTHORIZATION;

-- Expiry: 90 days of 24 hours after it was set (January 1st, 09:00 UTC), the password is expired
-- and the token only changes it.
SET SESSION AUTHORIZATION "acme-li.boss";
UPDATE ccroute.password_policy SET expiry_days = 90, history = 3;
RESET SESSION AUTHORIZATION;
SET ccroute.auth_clock = '2027-04-01 08:59:59+00';
SET SESSION AUTHORIZATION li_app;
SELECT outcome FROM ccroute.authenticate('acme-li', 'ann', 'パスワードは安全です');
RESET SESSION AUTHORIZATION;
SET ccroute.auth_clock = '2027-04-01 09:00:00+00';
SET SESSION AUTHORIZATION li_app;
SELECT outcome, token AS ann FROM ccroute.authenticate('acme-li', 'ann', 'パスワードは安全です') \gset
SELECT :'outcome' AS outcome;
SELECT pg_temp.try(format('SELECT ccroute.agent_ready(%L)', :'ann')) AS expired_token_acts;
SELECT ccroute.change_password(:'ann', 'wrong-current', 'new-password-1') AS wrong_current,
       ccroute.change_password(:'ann', 'パスワードは安全です', 'short') AS too_short,
       ccroute.change_password(:'ann', 'パスワードは安全です', 'パスワードは安全です') AS same_again;
SELECT ccroute.change_password(:'ann', 'パスワードは安全です', 'new-password-1') AS changed;
SELECT ccroute.agent_ready(:'ann') AS now_acts;
RESET SESSION AUTHORIZATION;
-- History: the last 3 passwords (the current one included) may not come back; the 4th may.
SET ccroute.auth_clock = '2027-04-01 09:01:00+00';
SET SESSION AUTHORIZATION li_app;
SELECT ccroute.change_password(:'ann', 'new-password-1', 'new-password-2') AS second,
       ccroute.change_password(:'ann', 'new-password-2', 'new-password-3') AS third,
       ccroute.change_password(:'ann', 'new-password-3', 'new-password-1') AS first_again,
       ccroute.change_password(:'ann', 'new-password-3', 'パスワードは安全です') AS original_again;
RESET SESSION AUTHORIZATION;

-- First login: with change_at_first_login, a password an admin sets must be changed.
SET ccroute.auth_clock = '2027-04-02 09:00:00+00';
SET SESSION AUTHORIZATION "acme-li.boss";
UPDATE ccroute.password_policy SET change_at_first_login = true, history = 0, expiry_days = NULL;
SELECT ccroute.set_password('acme-li', 'sue', 'temporary-pass-1');
RESET SESSION AUTHORIZATION;
SET ROLE li_dba;
SELECT ccroute.register_device('acme-li', 'sue', 'aa:bb:cc:dd:ee:ff');
RESET ROLE;
SET SESSION AUTHORIZATION li_app;
SELECT outcome, token AS sue FROM ccroute.authenticate('acme-li', 'sue', 'temporary-pass-1', 'aa:bb:cc:dd:ee:ff') \gset
SELECT :'outcome' AS outcome, ccroute.change_password(:'sue', 'temporary-pass-1', 'my-own-choice') AS changed;
SELECT outcome FROM ccroute.authenticate('acme-li', 'sue', 'my-own-choice', 'aa:bb:cc:dd:ee:ff');
RESET SESSION AUTHORIZATION;

-- TOTP: enrolled by the person's own token, confirmed by a first code, then asked for at every
-- sign-in; a code is accepted once.
SET ccroute.auth_clock = '2027-04-03 09:00:00+00';
SET SESSION AUTHORIZATION li_app;
SELECT token AS boss FROM ccroute.authenticate('acme-li', 'boss', 'chief-secret-1', '00:11:22:33:44:aa') \gset
SELECT ccroute.enroll_totp(:'boss') ~ '^otpauth://totp/ccroute:boss@acme-li\?secret=[A-Z2-7]{32}&issuer=ccroute' AS uri;
RESET SESSION AUTHORIZATION;
-- The codes the person's app would show (the test reads the seed, as superuser).
SELECT ccroute.totp_code(c.totp_secret, '2027-04-03 08:00:00+00') AS old_code,
       ccroute.totp_code(c.totp_secret, '2027-04-03 09:00:00+00') AS code_0900,
       ccroute.totp_code(c.totp_secret, '2027-04-03 09:05:00+00') AS code_0905,
       ccroute.totp_code(c.totp_secret, '2027-04-03 09:06:00+00') AS code_0906
  FROM ccroute.login_credential c JOIN ccroute.person p USING (tenant_id, person_id)
 WHERE p.login = 'boss' \gset
SET SESSION AUTHORIZATION li_app;
SELECT ccroute.confirm_totp(:'boss', :'old_code') AS wrong_code_confirms;
SELECT ccroute.confirm_totp(:'boss', :'code_0900') AS right_code_confirms;
SELECT pg_temp.try(format('SELECT ccroute.enroll_totp(%L)', :'boss')) AS enroll_again;
RESET SESSION AUTHORIZATION;
SET ccroute.auth_clock = '2027-04-03 09:05:00+00';
SET SESSION AUTHORIZATION li_app;
SELECT outcome FROM ccroute.authenticate('acme-li', 'boss', 'chief-secret-1', '00:11:22:33:44:aa');
SELECT outcome FROM ccroute.authenticate('acme-li', 'boss', 'chief-secret-1', '00:11:22:33:44:aa',
    :'old_code');
SELECT outcome FROM ccroute.authenticate('acme-li', 'boss', 'chief-secret-1', '00:11:22:33:44:aa',
    :'code_0905');
SELECT outcome FROM ccroute.authenticate('acme-li', 'boss', 'chief-secret-1', '00:11:22:33:44:aa',
    :'code_0905');
-- A right code with a wrong password is still a wrong password.
RESET SESSION AUTHORIZATION;
SET ccroute.auth_clock = '2027-04-03 09:06:00+00';
SET SESSION AUTHORIZATION li_app;
SELECT outcome FROM ccroute.authenticate('acme-li', 'boss', 'chief-secret-2', '00:11:22:33:44:aa',
    :'code_0906');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "acme-li.boss";
SELECT ccroute.reset_totp('acme-li', 'boss');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION li_app;
SELECT outcome FROM ccroute.authenticate('acme-li', 'boss', 'chief-secret-1', '00:11:22:33:44:aa');
RESET SESSION AUTHORIZATION;

-- New hashing parameters: the next sign-in re-hashes the stored password.
SET ccroute.password_hash_iterations = 3;
SELECT substr(c.password_hash, 1, 30) AS before FROM ccroute.login_credential c JOIN ccroute.person p USING (tenant_id, person_id) WHERE p.login = 'bob';
SET SESSION AUTHORIZATION li_app;
SELECT outcome FROM ccroute.authenticate('beta-li', 'bob', 'build-secret-1');
RESET SESSION AUTHORIZATION;
SELECT substr(c.password_hash, 1, 30) AS after FROM ccroute.login_credential c JOIN ccroute.person p USING (tenant_id, person_id) WHERE p.login = 'bob';
SET SESSION AUTHORIZATION li_app;
SELECT outcome FROM ccroute.authenticate('beta-li', 'bob', 'build-secret-1');
RESET SESSION AUTHORIZATION;
RESET ccroute.password_hash_iterations;

-- Session settings are part of the policy, checked like the rest.
SET SESSION AUTHORIZATION "acme-li.boss";
UPDATE ccroute.password_policy SET session_idle_minutes = 0;
UPDATE ccroute.password_policy SET session_idle_minutes = 1441;
UPDATE ccroute.password_policy SET session_max_hours = 169;
UPDATE ccroute.password_policy SET session_idle_minutes = 1440, session_max_hours = 168, expiry_days = 90;

RESET SESSION AUTHORIZATION;

-- The account review: every person of the tenant, nobody else's.
SET ccroute.auth_clock = '2027-06-25 09:00:00+00';
SET SESSION AUTHORIZATION "acme-li.boss";
SELECT login, kind, role_name, role_memberships, never_logged_in, has_password, must_change, locked,
       failed_attempts, second_factor, devices, password_expires_at IS NOT NULL AS expires, expiring_soon
  FROM ccroute.account_review ORDER BY login;
-- A tenant admin reads no secret.
SELECT pg_temp.try($$ SELECT count(password_hash)::text FROM ccroute.login_credential $$) AS hashes,
       pg_temp.try($$ SELECT count(totp_secret)::text FROM ccroute.login_credential $$) AS seeds,
       pg_temp.try($$ SELECT count(token_hash)::text FROM ccroute.app_session $$) AS tokens,
       pg_temp.try($$ SELECT count(*)::text FROM ccroute.password_history $$) AS history;
RESET SESSION AUTHORIZATION;

-- The audit has every outcome, by person, and no password, hash, code or token.
SELECT a.object, a.new_row->>'outcome' AS outcome, count(*)
  FROM ccroute.audit_log a
 WHERE a.object IN ('authenticate', 'sign_out', 'change_password', 'set_password', 'unlock_account',
                    'unlock_person', 'enroll_totp', 'confirm_totp', 'reset_totp')
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS unknown_login_rows_with_a_login FROM ccroute.audit_log a
 WHERE a.object = 'authenticate' AND a.new_row->>'reason' = 'unknown login' AND a.new_row->>'login' IS NOT NULL;
SELECT count(*) AS rows_with_secrets FROM ccroute.audit_log a
 WHERE a.new_row::text ~ '(パスワード|secret-[0-9]|password-[0-9]|guess|temporary|own-choice|argon2|otpauth)'
    OR a.new_row ?| ARRAY['password', 'token', 'code', 'p_password', 'secret'];


-- People's own PostgreSQL roles: the tenant's policy applies to their passwords (the hook sees
-- every CREATE and ALTER ROLE), a hashed password cannot be checked and is refused, roles that
-- are not people are left alone. Refusals never repeat the password.
SELECT pg_temp.try($$ ALTER ROLE "acme-li.ann" PASSWORD 'short' $$) AS too_short,
       pg_temp.try($$ ALTER ROLE "acme-li.ann" PASSWORD 'ann-is-my-name' $$) AS holds_login,
       pg_temp.try(format('ALTER ROLE "acme-li.ann" PASSWORD %L', 'md5' || md5('whatever-123acme-li.ann'))) AS hashed;
SELECT pg_temp.try($$ ALTER ROLE "acme-li.ann" PASSWORD 'long-enough-1' $$) AS meets_policy,
       pg_temp.try($$ ALTER ROLE li_dba PASSWORD 'x' $$) AS not_a_person;
SET SESSION AUTHORIZATION "acme-li.ann";
SELECT pg_temp.try($$ ALTER ROLE CURRENT_USER PASSWORD 'weak' $$) AS own_weak;
SELECT pg_temp.try($$ SELECT ccroute.set_sql_password('weak') $$) AS set_weak;
SELECT ccroute.set_sql_password('sql-secret-12');
RESET SESSION AUTHORIZATION;
-- Stored as a SCRAM secret made on the server, valid until the policy's expiry (90 days).
SELECT rolpassword LIKE 'SCRAM-SHA-256$%' AS scram, rolvaliduntil = '2027-06-25 09:00:00+00'::timestamptz + interval '90 days' AS valid_until
  FROM pg_authid WHERE rolname = 'acme-li.ann';
-- Nobody else may use the role admin's function.
SET SESSION AUTHORIZATION "acme-li.boss";
SELECT pg_temp.try($$ SELECT ccroute.alter_login_role_password('acme-li.ann', 'taken-over-1', NULL) $$) AS take_over,
       pg_temp.try($$ SELECT ccroute.apply_role_password('acme-li.ann', 'taken-over-1', NULL) $$) AS take_over_c;
RESET SESSION AUTHORIZATION;
SELECT object, new_row->>'outcome' AS outcome, new_row->>'problem' AS problem
  FROM ccroute.audit_log WHERE object = 'set_sql_password' ORDER BY audit_id;

-- The policy's history applies to SQL passwords as well, whichever way they are set; the SQL
-- role's history is its own, apart from the applications' password. History 2 from here (it was
-- 0, so only the last SQL password, sql-secret-12, is kept).
UPDATE ccroute.password_policy SET history = 2;
SET SESSION AUTHORIZATION "acme-li.ann";
SELECT ccroute.set_sql_password('sql-secret-12') AS the_current_one,
       ccroute.set_sql_password('sql-secret-13') AS a_new_one,
       ccroute.set_sql_password('sql-secret-14') AS another;
SELECT ccroute.set_sql_password('sql-secret-13') AS one_of_the_last_two,
       ccroute.set_sql_password('sql-secret-12') AS three_back;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.try($$ ALTER ROLE "acme-li.ann" PASSWORD 'sql-secret-14' $$) AS alter_role_to_a_recent_one,
       pg_temp.try($$ SELECT ccroute.set_password('acme-li', 'ann', 'sql-secret-14') $$) AS the_app_password_may_be_it;
SELECT h.kind, count(*) FROM ccroute.password_history h JOIN ccroute.person p USING (tenant_id, person_id)
 WHERE p.login = 'ann' AND p.tenant_id = (SELECT tenant_id FROM ccroute.tenant WHERE name = 'acme-li')
 GROUP BY h.kind ORDER BY h.kind;

-- In a database without the extension the policy cannot be read: people's passwords are
-- refused there, other roles' are not.
\c postgres
ALTER ROLE "acme-li.ann" PASSWORD 'long-enough-2';
ALTER ROLE li_dba PASSWORD 'y';
\c contrib_regression

DROP EXTENSION ccroute;
DROP SCHEMA ccroute;
DROP ROLE "acme-li.boss", "acme-li.sue", "acme-li.ann", "beta-li.bea", "beta-li.bob", li_dba, li_app;
