-- A text description of everything the ccroute extension defines, for comparing two databases
-- (pg_dump prints an extension's members as one CREATE EXTENSION line).
SELECT 'relation ' || c.relname || ' kind=' || c.relkind::text || ' owner=' || pg_get_userbyid(c.relowner)
       || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity
       || ' acl=' || coalesce(c.relacl::text, '-') || ' options=' || coalesce(c.reloptions::text, '-')
  FROM pg_class c WHERE c.relnamespace = 'ccroute'::regnamespace
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || ' notnull=' || a.attnotnull || ' identity=' || a.attidentity::text::text
       || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-') || ' acl=' || coalesce(a.attacl::text, '-')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'ccroute'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint ' || coalesce(c.relname, t.typname) || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid)
  FROM pg_constraint con LEFT JOIN pg_class c ON c.oid = con.conrelid LEFT JOIN pg_type t ON t.oid = con.contypid
 WHERE con.connamespace = 'ccroute'::regnamespace
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'ccroute'::regnamespace
UNION ALL
SELECT 'policy ' || p.tablename || '.' || p.policyname || ' ' || p.cmd || ' ' || p.permissive || ' '
       || p.roles::text || ' using=' || coalesce(p.qual, '-') || ' check=' || coalesce(p.with_check, '-')
  FROM pg_policies p WHERE p.schemaname = 'ccroute'
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'ccroute'::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' returns ' || pg_get_function_result(p.oid)
       || ' owner=' || pg_get_userbyid(p.proowner) || ' definer=' || p.prosecdef
       || ' volatile=' || p.provolatile::text || ' strict=' || p.proisstrict
       || ' config=' || coalesce(p.proconfig::text, '-') || ' acl=' || coalesce(p.proacl::text, '-')
       || ' body=' || md5(coalesce(p.prosrc, '') || coalesce(p.probin, ''))
  FROM pg_proc p WHERE p.pronamespace = 'ccroute'::regnamespace
UNION ALL
SELECT 'view ' || c.relname || ' ' || pg_get_viewdef(c.oid)
  FROM pg_class c WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relkind = 'v'
UNION ALL
SELECT 'type ' || t.typname || ' ' || format_type(t.typbasetype, t.typtypmod)
  FROM pg_type t WHERE t.typnamespace = 'ccroute'::regnamespace AND t.typtype = 'd'
ORDER BY 1;
