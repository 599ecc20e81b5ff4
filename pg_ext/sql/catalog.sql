-- The catalog holds the schema to its rules. Each query lists the violations of one rule; every
-- list must stay empty, for the tables of today and those added later (partitions included).
CREATE EXTENSION ccroute;

-- The partitions the maintenance makes are held to the same rules: make some first.
SELECT count(*) >= 20 AS maintenance_made_partitions
  FROM ccroute.maintain(now()) WHERE step = 'created partition';

-- Every table has row-level security enabled and forced.
SELECT c.oid::regclass AS relation, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced
  FROM pg_class c
 WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relkind IN ('r', 'p')
   AND NOT (c.relrowsecurity AND c.relforcerowsecurity);

-- Every table with tenant rows has a policy that keys on the session's tenant.
SELECT c.oid::regclass AS relation
  FROM pg_class c
 WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relkind IN ('r', 'p')
   AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')
   AND c.relname NOT IN ('role_map')          -- global lookup: a person sees their own row
   AND NOT c.relispartition                   -- reached through its parent's policies only
   AND NOT EXISTS (SELECT FROM pg_policy p
                    WHERE p.polrelid = c.oid
                      AND pg_get_expr(p.polqual, p.polrelid) LIKE '%current_tenant()%');

-- Everything belongs to the owner role, which cannot log in, bypass security, or be joined.
SELECT c.oid::regclass AS relation, pg_get_userbyid(c.relowner) AS owner
  FROM pg_class c
 WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND c.relowner <> 'ccroute_owner'::regrole;
SELECT rolname FROM pg_roles
 WHERE rolname = 'ccroute_owner' AND (rolcanlogin OR rolsuper OR rolbypassrls OR rolcreaterole);
SELECT member::regrole AS member_of_owner FROM pg_auth_members WHERE roleid = 'ccroute_owner'::regrole;

-- PUBLIC is granted nothing: no table, view or sequence, no function (a function with no ACL
-- at all is executable by PUBLIC), not the schema.
SELECT c.oid::regclass AS relation, a.privilege_type
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = 'ccroute'::regnamespace AND a.grantee = 0;
SELECT p.oid::regprocedure AS function_executable_by_public
  FROM pg_proc p
 WHERE p.pronamespace = 'ccroute'::regnamespace
   AND (p.proacl IS NULL OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0));
SELECT n.nspname, a.privilege_type
  FROM pg_namespace n, aclexplode(n.nspacl) a
 WHERE n.nspname = 'ccroute' AND a.grantee = 0;

-- Every primary, unique and foreign key (and every unique index) leads with tenant_id, on both
-- sides of a foreign key, except the named global lookups.
SELECT con.conrelid::regclass AS relation, con.conname, con.contype
  FROM pg_constraint con
 WHERE con.connamespace = 'ccroute'::regnamespace AND con.contype IN ('p', 'u', 'f')
   AND (   (SELECT a.attname FROM pg_attribute a
             WHERE a.attrelid = con.conrelid AND a.attnum = con.conkey[1]) <> 'tenant_id'
        OR (con.contype = 'f' AND (SELECT a.attname FROM pg_attribute a
             WHERE a.attrelid = con.confrelid AND a.attnum = con.confkey[1]) <> 'tenant_id'))
   AND (con.conrelid::regclass::text, con.conname) NOT IN (
        ('ccroute.tenant', 'tenant_name_key'),           -- tenant name -> tenant
        ('ccroute.did_directory', 'did_directory_pkey'), -- DID -> tenant
        ('ccroute.sip_domain', 'sip_domain_pkey'),       -- SIP domain -> tenant
        ('ccroute.role_map', 'role_map_pkey'));          -- role -> person
SELECT i.indexrelid::regclass AS unique_index
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'ccroute'::regnamespace AND i.indisunique
   AND (SELECT a.attname FROM pg_attribute a
         WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[0]) IS DISTINCT FROM 'tenant_id'
   AND i.indexrelid::regclass::text NOT IN ('ccroute.tenant_name_key', 'ccroute.did_directory_pkey',
                                            'ccroute.sip_domain_pkey', 'ccroute.role_map_pkey');

-- SECURITY DEFINER functions pin search_path and reset the tenant context on entry; every SQL
-- or PL/pgSQL function pins search_path.
SELECT p.oid::regprocedure AS definer_function, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'ccroute'::regnamespace AND p.prosecdef
   AND NOT (coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, pg_temp', 'ccroute.tenant_context=']);
SELECT p.oid::regprocedure AS function_without_search_path
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'ccroute'::regnamespace AND l.lanname IN ('sql', 'plpgsql')
   AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, pg_temp'];

-- Partitions are reached only through their parent: nobody is granted anything on them.
SELECT c.oid::regclass AS partition_with_grants, c.relacl
  FROM pg_class c
 WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relispartition
   AND EXISTS (SELECT FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner);

-- Views run with the querying user's rights, so its policies apply.
SELECT c.oid::regclass AS view_without_security_invoker
  FROM pg_class c
 WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relkind = 'v'
   AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false);

-- Configuration tables are audited row by row; the exceptions are named.
SELECT c.oid::regclass AS unaudited_table
  FROM pg_class c
 WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND c.relname NOT IN ('live_call',       -- written by the router and the call events
                         'call_history',    -- the same
                         'agent_state_history', -- written with agent_state, the same
                         'recording',       -- filed by the recorder, per call
                         'agent_state',     -- changed per call; set_agent_state() is audited
                         'audit_log',       -- the log itself
                         'role_map',        -- written only with person, which is audited
                         'did_directory',   -- written only with did, which is audited
                         'rule_error',      -- written by the router: what a rule's run hit
                         'login_credential', -- written only by the sign-in functions, which audit
                         'password_history', -- each outcome without its secrets (audit_sign_in)
                         'app_session',      -- the same
                         -- report roll-ups, written by refresh_report_rollups() from history
                         'report_rollup_state', 'report_did_15min', 'report_skill_15min',
                         'report_agent_15min', 'report_presence_15min', 'report_did_day',
                         'report_skill_day', 'report_agent_day', 'report_presence_day')
   AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'audit');

-- ANALYZE keeps no statistics on the calls' explanations and facts (0.9): sorting them cost
-- more than any plan gained. Every call table has the target 0, the monthly partitions the
-- maintenance made included; the count shows some partitions were looked at.
SELECT count(*) AS call_tables_with_targets_0
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relkind IN ('r', 'p')
   AND a.attname IN ('explanation', 'facts') AND a.attstattarget = 0
   AND (c.relname IN ('live_call', 'call_history') OR c.relname LIKE 'call\_history\_%');
SELECT c.oid::regclass AS call_table_with_statistics, a.attname, a.attstattarget
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relkind IN ('r', 'p')
   AND a.attname IN ('explanation', 'facts') AND a.attstattarget <> 0
   AND (c.relname IN ('live_call', 'call_history') OR c.relname LIKE 'call\_history\_%');
SELECT reloptions AS live_call_options FROM pg_class WHERE oid = 'ccroute.live_call'::regclass;

DROP EXTENSION ccroute;
DROP SCHEMA ccroute;
