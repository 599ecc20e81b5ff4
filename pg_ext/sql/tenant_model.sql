-- The tenant model as a platform DBA and a tenant admin use it: what each may do, what bad
-- input gets, the limits, and what the audit log keeps.
CREATE EXTENSION ccroute;
\set VERBOSITY terse
CREATE ROLE tm_dba IN ROLE ccroute_platform_dba;

-- A platform DBA creates tenants; names, time zones and domains are checked.
SET ROLE tm_dba;
SELECT ccroute.create_tenant('tm-acme', 'Asia/Tokyo', 'acme.tm.test') > 0 AS created;
SELECT ccroute.create_tenant('tm-beta', 'Europe/Paris', 'beta.tm.test') > 0 AS created;
SELECT ccroute.create_tenant('tm-acme');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.create_tenant('TM Bad Name');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.create_tenant('tm-gamma', 'Mars/Olympus_Mons');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.create_tenant('tm-gamma', 'UTC', 'Not A Domain');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.create_tenant('tm-gamma', 'UTC', 'acme.tm.test');
\echo :LAST_ERROR_SQLSTATE
-- A failed call changes nothing: no tenant tm-gamma exists.
SELECT ccroute.set_tenant_limits('tm-gamma', 1);
\echo :LAST_ERROR_SQLSTATE

-- People get generated login roles with fixed memberships, and nothing more.
SELECT ccroute.create_person('tm-acme', 'tenant_admin', 'admin', 'Acme Admin');
SELECT ccroute.create_person('tm-acme', 'analyst', 'ana', 'Ana Lyst');
SELECT ccroute.create_person('tm-beta', 'tenant_admin', 'admin', 'Beta Admin');
SELECT ccroute.create_person('tm-acme', 'root', 'x', 'X');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.create_person('tm-acme', 'analyst', 'Bad Login', 'X');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.create_person('tm-acme', 'analyst', 'ana2', E'Bad\nName');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
       array(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
              WHERE m.member = r.oid ORDER BY 1) AS member_of
  FROM pg_roles r WHERE r.rolname LIKE 'tm-%' ORDER BY 1;

-- Limits: numbers and admins per tenant, raised or lowered by the platform DBA.
SET ROLE tm_dba;
SELECT ccroute.set_tenant_limits('tm-acme', p_max_dids => 2, p_max_admins => 1);
SELECT ccroute.add_did('tm-acme', '+81300000001', NULL, 'sip:a@192.0.2.1');
SELECT ccroute.add_did('tm-acme', '+81300000002', NULL, 'sip:a@192.0.2.1');
SELECT ccroute.add_did('tm-acme', '+81300000003', NULL, 'sip:a@192.0.2.1');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.create_person('tm-acme', 'supervisor', 'sup', 'Super Visor');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.set_tenant_limits('tm-acme', p_max_dids => -1);
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.set_tenant_limits('tm-acme', p_max_admins => 2);
SELECT ccroute.create_person('tm-acme', 'supervisor', 'sup', 'Super Visor');
-- A number belongs to one tenant at a time.
SELECT ccroute.add_did('tm-beta', '+81300000001', NULL, 'sip:b@192.0.2.2');
\echo :LAST_ERROR_SQLSTATE
SELECT tenant_id IS NOT NULL AS dba_sees_no_tenant_rows FROM ccroute.tenant;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT name, time_zone, max_dids, max_admins, max_agents_logged_in, max_concurrent_calls
  FROM ccroute.tenant ORDER BY name;

-- A tenant admin edits the tenant's own configuration in plain SQL; tenant_id fills itself in.
SET SESSION AUTHORIZATION "tm-acme.admin";
INSERT INTO ccroute.skill (name) VALUES ('sales'), ('support');
INSERT INTO ccroute.agent (name, extension, mobile) VALUES ('Alice', '100', '+819011112222');
INSERT INTO ccroute.agent_skill (agent_id, skill_id, proficiency)
SELECT a.agent_id, s.skill_id, 7 FROM ccroute.agent a, ccroute.skill s WHERE s.name = 'sales';
SELECT agent, extension, skill, proficiency FROM ccroute.agent_skills;
UPDATE ccroute.did SET skill_id = (SELECT skill_id FROM ccroute.skill WHERE name = 'sales')
 WHERE did = '+81300000001';
-- Bad values are refused with the rule they break.
INSERT INTO ccroute.agent (name, extension) VALUES ('Bob', '1');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ccroute.agent (name, extension) VALUES ('<b>Bob</b>', '101');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ccroute.agent (name, extension) VALUES (' Bob', '101');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ccroute.agent (name, extension, mobile) VALUES ('Bob', '101', '090-1111-2222');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ccroute.agent (name, extension, reach_via) VALUES ('Bob', '101', 'mobile');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ccroute.agent (name, extension, wrapup_seconds) VALUES ('Bob', '101', -5);
\echo :LAST_ERROR_SQLSTATE
UPDATE ccroute.agent_skill SET proficiency = 11;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ccroute.agent (name, extension) VALUES ('Alice Again', '100');
\echo :LAST_ERROR_SQLSTATE
-- The SIP credential: set through a function, never readable, never logged.
SELECT ccroute.set_agent_sip_password('100', 'short');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.set_agent_sip_password('100', 'correct horse battery');
SELECT sip_ha1 FROM ccroute.agent;
\echo :LAST_ERROR_SQLSTATE
-- A tenant admin adds people to their own tenant only.
SELECT ccroute.create_person('tm-acme', 'agent', 'alice', 'Alice');
SELECT ccroute.create_person('tm-beta', 'agent', 'mole', 'Mole');
\echo :LAST_ERROR_SQLSTATE
-- ... and reads their own tenant's audit log, which they cannot change.
SELECT count(*) > 0 AS sees_own_audit, bool_and(tenant_id = ccroute.current_tenant()) AS only_own
  FROM ccroute.audit_log;
DELETE FROM ccroute.audit_log;
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;

-- An analyst reads but does not write.
SET SESSION AUTHORIZATION "tm-acme.ana";
SELECT name FROM ccroute.skill ORDER BY name;
INSERT INTO ccroute.skill (name) VALUES ('mine');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM ccroute.audit_log;
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;

-- The stored HA1 is md5(extension:domain:password), and no audit row holds it or the password.
SELECT sip_ha1 = md5('100:acme.tm.test:correct horse battery') AS ha1_ok FROM ccroute.agent;
SELECT count(*) AS audit_rows_with_secrets FROM ccroute.audit_log
 WHERE old_row::text ~ (SELECT sip_ha1 FROM ccroute.agent) OR new_row::text ~ (SELECT sip_ha1 FROM ccroute.agent)
    OR old_row::text ~ 'horse' OR new_row::text ~ 'horse' OR new_row ? 'sip_ha1' OR old_row ? 'sip_ha1';

-- Who did what: login role, acting role, person, operation, object; in order.
SELECT t.name AS tenant, a.login_role, a.acting_role, p.login AS person, a.action, a.object,
       coalesce(a.new_row, a.old_row) ->> 'name' AS row_name
  FROM ccroute.audit_log a
  JOIN ccroute.tenant t ON t.tenant_id = a.tenant_id
  LEFT JOIN ccroute.person p ON p.tenant_id = a.tenant_id AND p.person_id = a.person_id
 ORDER BY a.audit_id;

-- Not even a superuser changes the audit log.
UPDATE ccroute.audit_log SET object = 'forged';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ccroute.audit_log;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE ccroute.audit_log;
\echo :LAST_ERROR_SQLSTATE

-- Cancelling a tenant stamps the time; its numbers are then refused as gone.
SET ROLE tm_dba;
SELECT ccroute.cancel_tenant('tm-beta');
RESET ROLE;
SELECT name, status, cancelled_at IS NOT NULL AS stamped FROM ccroute.tenant ORDER BY name;

-- Removing a person drops their role.
SET ROLE tm_dba;
SELECT ccroute.remove_person('tm-acme', 'ana');
SELECT ccroute.remove_person('tm-acme', 'ana');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT rolname FROM pg_roles WHERE rolname LIKE 'tm-%' ORDER BY 1;

DROP EXTENSION ccroute;
DROP SCHEMA ccroute;
DROP ROLE "tm-acme.admin", "tm-acme.sup", "tm-acme.alice", "tm-beta.admin", tm_dba;
