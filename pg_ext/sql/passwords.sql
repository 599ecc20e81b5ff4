-- The tenant's password policy: defaults, every option at and around its limits (refused with
-- the option's name), and password_problem for each rule, with Unicode passwords.
CREATE EXTENSION ccroute;
\set VERBOSITY terse
CREATE ROLE pw_dba IN ROLE ccroute_platform_dba;
SET ROLE pw_dba;
SELECT ccroute.create_tenant('pw') IS NOT NULL AS pw, ccroute.create_tenant('other') IS NOT NULL AS other;
SELECT ccroute.create_person('pw', 'tenant_admin', 'admin', 'Admin');
SELECT ccroute.create_person('pw', 'supervisor', 'sup', 'Sup');
RESET ROLE;
SELECT tenant_id AS pw FROM ccroute.tenant WHERE name = 'pw' \gset
CREATE FUNCTION pg_temp.problem(p_password text, p_kind text, p_login text) RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(ccroute.password_problem((SELECT tenant_id FROM ccroute.tenant WHERE name = 'pw'),
                                             p_login, p_password, p_kind), 'ok')
$$;
CREATE FUNCTION pg_temp.problem(p_password text, p_kind text) RETURNS text
LANGUAGE sql AS $$ SELECT pg_temp.problem(p_password, p_kind, 'alice') $$;
CREATE FUNCTION pg_temp.problem(p_password text) RETURNS text
LANGUAGE sql AS $$ SELECT pg_temp.problem(p_password, 'admin', 'alice') $$;

-- Every tenant has the defaults from its creation.
SELECT min_length, max_length_admin, max_length_agent, expiry_days, max_failed_attempts,
       require_upper, require_lower, require_digit, require_symbol, min_classes, history,
       change_at_first_login FROM ccroute.password_policy ORDER BY tenant_id;

-- The tenant admin changes it; each option at its limits, and just past them.
SET SESSION AUTHORIZATION "pw.admin";
UPDATE ccroute.password_policy SET min_length = 7;
UPDATE ccroute.password_policy SET min_length = 8;
UPDATE ccroute.password_policy SET min_length = 128, max_length_admin = 128, max_length_agent = 128;
UPDATE ccroute.password_policy SET min_length = 129;
UPDATE ccroute.password_policy SET min_length = 8, max_length_admin = 64, max_length_agent = 20;
UPDATE ccroute.password_policy SET max_length_agent = 7;
UPDATE ccroute.password_policy SET max_length_admin = 1025;
UPDATE ccroute.password_policy SET expiry_days = 0;
UPDATE ccroute.password_policy SET expiry_days = 1000;
UPDATE ccroute.password_policy SET expiry_days = 999;
UPDATE ccroute.password_policy SET max_failed_attempts = 0;
UPDATE ccroute.password_policy SET max_failed_attempts = 101;
UPDATE ccroute.password_policy SET max_failed_attempts = 5;
UPDATE ccroute.password_policy SET min_classes = 0;
UPDATE ccroute.password_policy SET min_classes = 5;
UPDATE ccroute.password_policy SET history = 11;
UPDATE ccroute.password_policy SET history = -1;
UPDATE ccroute.password_policy SET history = 10;
UPDATE ccroute.password_policy SET symbols = '';
UPDATE ccroute.password_policy SET symbols = '!a';
UPDATE ccroute.password_policy SET symbols = '! ';
UPDATE ccroute.password_policy SET symbols = repeat('!', 65);
\echo :LAST_ERROR_SQLSTATE
SELECT min_length, expiry_days, max_failed_attempts, history FROM ccroute.password_policy;
-- Only its own tenant's row; a supervisor reads but does not change it.
SELECT count(*) AS rows_seen FROM ccroute.password_policy;
UPDATE ccroute.password_policy SET history = 3 WHERE tenant_id <> :pw;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "pw.sup";
UPDATE ccroute.password_policy SET history = 0;
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;

-- Lengths, in characters.
SELECT pg_temp.problem('abcdefg') AS seven, pg_temp.problem('abcdefgh') AS eight,
       pg_temp.problem(repeat('a', 64)) AS admin_64, pg_temp.problem(repeat('a', 65)) AS admin_65,
       pg_temp.problem(repeat('a', 20), 'agent') AS agent_20, pg_temp.problem(repeat('a', 21), 'agent') AS agent_21;
SELECT pg_temp.problem('äöüßéñçå') AS eight_unicode_letters, pg_temp.problem('日本語のパスワ') AS seven_kanji,
       pg_temp.problem('日本語のパスワード') AS nine_kanji;
-- Characters: letters and digits of any script, and the allowed symbols only.
SELECT pg_temp.problem('abcd efgh') AS space, pg_temp.problem('abcd€efgh') AS euro_sign,
       pg_temp.problem('abcd!efgh') AS allowed_symbol;
UPDATE ccroute.password_policy SET symbols = '#$' WHERE tenant_id = :pw;
SELECT pg_temp.problem('abcd!efgh') AS now_refused, pg_temp.problem('abcd#efgh') AS now_allowed;
-- Each class, required.
UPDATE ccroute.password_policy SET require_upper = true, require_lower = true, require_digit = true,
       require_symbol = true WHERE tenant_id = :pw;
SELECT pg_temp.problem('abcdefgh') AS lower_only, pg_temp.problem('ABCDEFGH') AS upper_only,
       pg_temp.problem('Abcdefgh') AS no_digit, pg_temp.problem('Abcdefg1') AS no_symbol,
       pg_temp.problem('Abcdef1#') AS all_four, pg_temp.problem('Äbcdef1#') AS unicode_upper;
-- At least K of the classes.
UPDATE ccroute.password_policy SET require_upper = false, require_lower = false, require_digit = false,
       require_symbol = false, min_classes = 2 WHERE tenant_id = :pw;
SELECT pg_temp.problem('abcdefgh') AS one_class, pg_temp.problem('abcdefg1') AS two_classes;
UPDATE ccroute.password_policy SET min_classes = 4 WHERE tenant_id = :pw;
SELECT pg_temp.problem('Abcdefg1') AS three_classes, pg_temp.problem('Abcdef1#') AS four_classes;
-- Not the login; the message never repeats the password.
SELECT pg_temp.problem('xxAlice1#') AS holds_login, pg_temp.problem('xxAl1ce1#') AS does_not;
SELECT pg_temp.problem('Abc1#', 'admin') AS short_message;
SELECT ccroute.password_problem(:pw, 'alice', 'Abc1#', 'console');
\echo :LAST_ERROR_SQLSTATE
-- Nobody but the owner's code checks passwords directly.
SET SESSION AUTHORIZATION "pw.admin";
SELECT ccroute.password_problem(1, 'x', 'y');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;

DROP EXTENSION ccroute;
DROP SCHEMA ccroute;
DROP ROLE "pw.admin", "pw.sup", pw_dba;
