-- Tenants' routing rules inside the router: saving (a broken rule is refused with its line),
-- activating and rolling back, what a rule can decide, a failing rule that changes nothing but
-- the explanation, the dry run, and who may do what.
CREATE EXTENSION ccroute;
\set VERBOSITY terse
-- The loops below assert the instruction budget: a deadline of 1 s (not 10 ms) keeps a loaded
-- machine from stopping them first (the deadline has tests of its own, tests/e2e/rule_sandbox.sh).
SET ccroute.rule_deadline_ms = 1000;
CREATE ROLE ru_dba IN ROLE ccroute_platform_dba;
SET ROLE ru_dba;
SELECT ccroute.create_tenant('ru', 'Asia/Tokyo') IS NOT NULL AS ru, ccroute.create_tenant('other') IS NOT NULL AS other;
SELECT ccroute.create_person('ru', 'tenant_admin', 'admin', 'Admin');
SELECT ccroute.create_person('ru', 'supervisor', 'sup', 'Sup');
SELECT ccroute.create_person('other', 'tenant_admin', 'admin', 'Other admin');
RESET ROLE;
INSERT INTO ccroute.skill (tenant_id, name) SELECT tenant_id, s FROM ccroute.tenant, (VALUES ('main'), ('vip')) v (s);
INSERT INTO ccroute.agent (tenant_id, name, extension, contact_uri, wrapup_seconds)
SELECT t.tenant_id, n, e, 'sip:' || lower(n) || '@192.0.2.1', 0
  FROM ccroute.tenant t, (VALUES ('Ann', '101'), ('Ben', '102'), ('Cat', '103')) v (n, e);
INSERT INTO ccroute.agent_skill (tenant_id, agent_id, skill_id, proficiency)
SELECT a.tenant_id, a.agent_id, s.skill_id, CASE a.extension WHEN '101' THEN 3 WHEN '102' THEN 6 ELSE 9 END
  FROM ccroute.agent a JOIN ccroute.skill s USING (tenant_id)
 WHERE s.name = 'main' OR a.extension = '103';
INSERT INTO ccroute.agent_state (tenant_id, agent_id, state, idle_since)
SELECT tenant_id, agent_id, 'ready', now() - interval '1 hour' * agent_id FROM ccroute.agent;
SET ROLE ru_dba;
SELECT ccroute.add_did('ru', '+81300000201', 'main'), ccroute.add_did('other', '+81300000202', 'main');
SELECT ccroute.add_destination('ru', 'voicemail', 'sip:vm@192.0.2.50');
RESET ROLE;

CREATE FUNCTION pg_temp.route(p_call text, p_caller text DEFAULT '+819011110000', p_facts jsonb DEFAULT '{}')
RETURNS TABLE (action text, agent text, status integer, reason text, rule jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM ccroute.route_call(p_call, p_caller, '+81300000201', p_facts);
    RETURN QUERY SELECT r.action,
        (SELECT a.extension::text FROM ccroute.agent a WHERE a.tenant_id = r.tenant_id AND a.agent_id = r.agent_id),
        r.sip_status, r.reason,
        (SELECT l.explanation -> 'rule' FROM ccroute.call_log l WHERE l.tenant_id = r.tenant_id AND l.call_seq = r.call_seq);
END
$$;
CREATE FUNCTION pg_temp.free() RETURNS void LANGUAGE sql AS $$
    SELECT count(ccroute.call_event(tenant_id, call_seq, 'abandoned')) FROM ccroute.live_call;
    UPDATE ccroute.agent_state SET idle_since = now() - interval '1 hour' * agent_id;
$$;

-- Without a rule: longest idle (Cat, then Ben, then Ann).
SELECT * FROM pg_temp.route('r0');
SELECT pg_temp.free();

-- Saving: a tenant admin only; a broken rule is refused with the Lua error and its line.
SET SESSION AUTHORIZATION "ru.sup";
SELECT ccroute.save_rule('return function() end');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "ru.admin";
SELECT ccroute.save_rule(E'return function(call, agents)\n  if then\nend');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.save_rule('while true do end');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.save_rule('return 42');
\echo :LAST_ERROR_SQLSTATE
SELECT ccroute.save_rule(E'-- VIP callers to the most proficient agent of skill vip\n'
                         'return function(call, agents)\n'
                         '  if call.caller:find("^%+81901") then return { skill = "vip", note = "vip" } end\n'
                         '  if call.facts.lang == "en" then return { agents = { "101" }, priority = 2 } end\n'
                         '  if call.facts.menu == "9" then return { forward = "voicemail" } end\n'
                         '  if call.facts.menu == "8" then return { reject = 486, reason = "Closed for inventory" } end\n'
                         '  if call.facts.menu == "7" then return { forward = "premium" } end\n'
                         '  if call.facts.menu == "6" then while true do end end\n'
                         'end', 'first version') AS version;
SELECT version, note, author, active FROM ccroute.routing_rule;
-- Saved is not active: calls are routed as before.
RESET SESSION AUTHORIZATION;
SELECT * FROM pg_temp.route('r1');
SELECT pg_temp.free();

SET SESSION AUTHORIZATION "ru.admin";
SELECT ccroute.activate_rule(1);
SELECT ccroute.activate_rule(99);
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
-- A VIP caller: skill vip, where only Cat is.
SELECT * FROM pg_temp.route('r2', '+819011112222');
SELECT pg_temp.free();
-- English: Ann, chosen by the rule though Cat and Ben waited longer.
SELECT * FROM pg_temp.route('r3', '+819022223333', '{"lang": "en"}');
SELECT pg_temp.free();
-- Forwarded to an allowed destination; refused with the rule's status.
SELECT * FROM pg_temp.route('r4', '+819022223333', '{"menu": "9"}');
SELECT * FROM pg_temp.route('r5', '+819022223333', '{"menu": "8"}');
-- A destination that is not one of the tenant's: the call is routed as if there were no rule.
-- (Errors are kept at most once a second per tenant and backend: the test waits between them.)
SELECT pg_sleep(1.05);
SELECT * FROM pg_temp.route('r6', '+819022223333', '{"menu": "7"}');
SELECT pg_temp.free();
-- A rule that loops: stopped, the call routed all the same, the error kept for the admin.
SELECT pg_sleep(1.05);
SELECT * FROM pg_temp.route('r7', '+819022223333', '{"menu": "6"}');
SELECT pg_temp.free();
SELECT version, stop, message, call_id FROM ccroute.rule_error ORDER BY error_id;

-- A second version, then a rollback to the first: one transaction each.
SET SESSION AUTHORIZATION "ru.admin";
SELECT ccroute.save_rule('return function() return { overflow = true } end', 'everything overflows') AS version;
SELECT ccroute.activate_rule(2);
SELECT version, active FROM ccroute.routing_rule ORDER BY version;
RESET SESSION AUTHORIZATION;
SELECT pg_sleep(1.05);
SELECT * FROM pg_temp.route('r8');
SELECT version, stop, message, call_id FROM ccroute.rule_error WHERE version = 2;
SET SESSION AUTHORIZATION "ru.admin";
SELECT ccroute.activate_rule(1);
SELECT version, active FROM ccroute.routing_rule ORDER BY version;
SELECT ccroute.activate_rule(NULL);
SELECT count(*) AS active FROM ccroute.routing_rule WHERE active;
SELECT ccroute.activate_rule(1);

-- The dry run: an unsaved rule, the active one, changes nothing.
SELECT count(*) AS live_calls_before FROM ccroute.live_call;
SELECT ccroute.try_rule('return function(call, agents) return { agents = { agents[#agents].extension }, note = "last" } end',
                        '+81300000201') - 'explanation' AS tried;
-- What a rule sees of each candidate: extension, name, skills, idle time, today's counts
-- (Ann's are today's; Ben's are yesterday's, so he has none today).
RESET SESSION AUTHORIZATION;
UPDATE ccroute.agent_state s
   SET stats_day = (now() AT TIME ZONE t.time_zone)::date - CASE a.extension WHEN '101' THEN 0 ELSE 1 END,
       calls_today = CASE a.extension WHEN '101' THEN 4 ELSE 9 END,
       talk_seconds_today = CASE a.extension WHEN '101' THEN 321 ELSE 999 END
  FROM ccroute.agent a, ccroute.tenant t
 WHERE a.tenant_id = s.tenant_id AND a.agent_id = s.agent_id AND t.tenant_id = s.tenant_id
   AND t.name = 'ru' AND a.extension IN ('101', '102');
SET SESSION AUTHORIZATION "ru.admin";
SELECT ccroute.try_rule('return function(call, agents)
    local seen = {}
    for _, a in ipairs(agents) do
        local skills = {}
        for name, p in pairs(a.skills) do skills[#skills + 1] = name .. "=" .. p end
        table.sort(skills)
        seen[#seen + 1] = string.format("%s %s %s idle>%s %d %d", a.extension, a.name,
            table.concat(skills, ","), a.idle_seconds > 3000 and "50min" or "?", a.calls_today,
            a.talk_seconds_today)
    end
    return { note = table.concat(seen, "; ") }
end', '+81300000201') #>> '{explanation,rule,note}' AS candidates_seen;
SELECT ccroute.try_rule(NULL, '+81300000201', '+819011112222') #> '{explanation,rule}' AS active_rule;
SELECT ccroute.try_rule('return function() while true do end end', '+81300000201') #>> '{explanation,rule,stop}' AS stopped;
SELECT count(*) AS live_calls_after FROM ccroute.live_call;
-- Another tenant's number is answered as if it did not exist.
SELECT ccroute.try_rule(NULL, '+81300000202') ->> 'reason' AS other_tenants_number;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "other.admin";
SELECT count(*) AS rules_seen FROM ccroute.routing_rule;
SELECT ccroute.activate_rule(1);
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
-- Every change audited.
SELECT action, object FROM ccroute.audit_log WHERE object LIKE '%routing_rule%' ORDER BY 1, 2;

DROP EXTENSION ccroute;
DROP SCHEMA ccroute;
DROP ROLE "ru.admin", "ru.sup", "other.admin", ru_dba;
