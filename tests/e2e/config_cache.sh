#!/usr/bin/env bash
# The router's cache of numbers, tenants, hours and skills (config_cache.c) never routes with a
# configuration that has changed: one long-lived session routes calls, as Kamailio's connection
# does, while other sessions change what it has cached; each change shows in its next call.
source "$(dirname "$0")/../lib/e2e.sh"
q() { psql -X -A -t -v ON_ERROR_STOP=1 "$@"; }

q -q -o /dev/null -U dba <<'SQL' || { tap_not_ok "fixture"; exit 1; }
SELECT ccroute.create_tenant('cache', 'UTC', 'cache.example.test');
SELECT ccroute.create_person('cache', 'tenant_admin', 'admin', 'Admin');
SQL
q -q -o /dev/null -U cache.admin <<'SQL' || { tap_not_ok "fixture"; exit 1; }
INSERT INTO ccroute.skill (name) VALUES ('main'), ('other');
INSERT INTO ccroute.agent (name, extension, wrapup_seconds) VALUES ('Ann', '2001', 0);
INSERT INTO ccroute.agent_skill (agent_id, skill_id)
SELECT a.agent_id, s.skill_id FROM ccroute.agent a, ccroute.skill s WHERE s.name = 'main';
SELECT ccroute.set_agent_state('2001', 'ready');
SQL
q -q -o /dev/null -U dba -c "SELECT ccroute.add_did('cache', '+81355550000', 'main')" ||
	tap_not_ok "fixture"

# The router: one session for the whole test. (Its file descriptors do not reach subshells:
# router and route leave their answer in R.)
coproc ROUTER { psql -X -A -t -q -v ON_ERROR_STOP=0 2>&1; }
router() {
	local line
	R=
	printf '%s;\n\\echo __end__\n' "$1" >&"${ROUTER[1]}"
	while IFS= read -r -t 20 line <&"${ROUTER[0]}"; do
		[ "$line" = __end__ ] && break
		R=${R:+$R$'\n'}$line
	done
}
n=0
route() {
	n=$((n + 1))
	router "SELECT action || '|' || coalesce(target, '') || '|' || coalesce(sip_status::text, '') FROM ccroute.route_call('cache-$n', '+819000000000', '+81355550000');
		SELECT ccroute.call_event(tenant_id, call_seq, 'abandoned') IS NOT NULL FROM ccroute.live_call WHERE call_id = 'cache-$n';"
	R=${R%%$'\n'*}
}
admin() { q -q -U cache.admin -c "$1" >/dev/null; }

router "SELECT pg_backend_pid()"
pid=$R
route
check_eq "the router routes to the agent" "agent|sip:2001@cache.example.test|" "$R"
router "SELECT count(*) FROM pg_backend_memory_contexts WHERE name = 'ccroute configuration cache'"
check_eq "the router's session keeps the configuration in its cache" 1 "$R"

admin "UPDATE ccroute.did SET skill_id = NULL, destination = 'sip:desk@192.0.2.9'"
route
check_eq "a number sent to a destination by another session: the next call goes there" \
	"destination|sip:desk@192.0.2.9|" "$R"
admin "UPDATE ccroute.did SET skill_id = (SELECT skill_id FROM ccroute.skill WHERE name = 'main'), destination = NULL"
route
check_eq "and back to its skill" "agent|sip:2001@cache.example.test|" "$R"

admin "INSERT INTO ccroute.schedule (name) VALUES ('never')"
admin "UPDATE ccroute.did SET schedule_id = (SELECT schedule_id FROM ccroute.schedule WHERE name = 'never'),
	closed_destination = 'sip:closed@192.0.2.9'"
route
check_eq "business hours given to the number: closed" "closed|sip:closed@192.0.2.9|" "$R"
admin "INSERT INTO ccroute.schedule_slot (schedule_id, dow, opens, closes)
	SELECT schedule_id, d, '00:00', '23:59:59.999999' FROM ccroute.schedule, generate_series(1, 7) d"
route
check_eq "a slot added to its schedule: open" "agent|sip:2001@cache.example.test|" "$R"
admin "INSERT INTO ccroute.holiday (day, name) VALUES ((now() AT TIME ZONE 'UTC')::date, 'today')"
route
check_eq "today made a holiday: closed" "closed|sip:closed@192.0.2.9|" "$R"
admin "DELETE FROM ccroute.holiday"
admin "UPDATE ccroute.schedule_slot SET opens = '00:00', closes = '00:00:00.000001'"
route
check_eq "the slots narrowed to a microsecond: closed" "closed|sip:closed@192.0.2.9|" "$R"
# Pago Pago (UTC-11) and Kiritimati (UTC+14) are 25 hours apart: their dates always differ.
# Open all day, with today in Kiritimati a holiday: open in Pago Pago, closed in Kiritimati.
admin "UPDATE ccroute.schedule_slot SET opens = '00:00', closes = '23:59:59.999999'"
admin "INSERT INTO ccroute.holiday (day, name) VALUES ((now() AT TIME ZONE 'Pacific/Kiritimati')::date, 'Kiritimati today')"
q -q -c "UPDATE ccroute.tenant SET time_zone = 'Pacific/Pago_Pago' WHERE name = 'cache'" >/dev/null
route
check_eq "in Pago Pago, Kiritimati's holiday is still to come: open" "agent|sip:2001@cache.example.test|" "$R"
q -q -c "UPDATE ccroute.tenant SET time_zone = 'Pacific/Kiritimati' WHERE name = 'cache'" >/dev/null
route
check_eq "the tenant's time zone changed to Kiritimati: today is its holiday, closed" \
	"closed|sip:closed@192.0.2.9|" "$R"
admin "DELETE FROM ccroute.holiday"
admin "UPDATE ccroute.did SET schedule_id = NULL"

admin "UPDATE ccroute.agent_skill SET skill_id = (SELECT skill_id FROM ccroute.skill WHERE name = 'other')"
route
check_eq "the agent moved to another skill: nobody for the number" "reject||480" "$R"
admin "UPDATE ccroute.agent_skill SET skill_id = (SELECT skill_id FROM ccroute.skill WHERE name = 'main')"
route
check_eq "and back" "agent|sip:2001@cache.example.test|" "$R"

admin "UPDATE ccroute.did SET min_proficiency = 7"
route
check_eq "the number requires proficiency 7, the agent has 5: nobody" "reject||480" "$R"
admin "UPDATE ccroute.agent_skill SET proficiency = 7"
route
check_eq "the agent's proficiency raised to 7" "agent|sip:2001@cache.example.test|" "$R"
admin "INSERT INTO ccroute.did_requirement (did, skill_id) SELECT '+81355550000', skill_id FROM ccroute.skill WHERE name = 'other'"
route
check_eq "the number also requires a skill the agent lacks: nobody" "reject||480" "$R"
admin "DELETE FROM ccroute.did_requirement"

admin "UPDATE ccroute.skill SET overflow_destination = 'sip:overflow@192.0.2.9'"
q -q -U cache.admin -c "SELECT ccroute.set_agent_state('2001', 'not_ready', 'lunch')" >/dev/null
route
check_eq "an overflow given to the skill is followed" "overflow|sip:overflow@192.0.2.9|" "$R"
q -q -U cache.admin -c "SELECT ccroute.set_agent_state('2001', 'ready')" >/dev/null

# The router's own transaction: a change it makes and rolls back is forgotten.
router "BEGIN; UPDATE ccroute.did SET skill_id = NULL, destination = 'sip:tmp@192.0.2.9'" >/dev/null
route
check_eq "inside the router's transaction, its own change shows" "destination|sip:tmp@192.0.2.9|" "$R"
router "ROLLBACK" >/dev/null
route
check_eq "after its rollback, the number is as before" "agent|sip:2001@cache.example.test|" "$R"

q -q -U dba -c "SELECT ccroute.set_tenant_limits('cache', p_max_concurrent_calls => 0)" >/dev/null
route
check_eq "the tenant's call limit set to 0: refused" "reject||486" "$R"
q -q -U dba -c "SELECT ccroute.cancel_tenant('cache')" >/dev/null
route
check_eq "the tenant cancelled: its number is no longer in service" "reject||410" "$R"
q -q -U dba -c "SELECT ccroute.remove_did('cache', '+81355550000')" >/dev/null
route
check_eq "the number removed: not in service" "reject||404" "$R"

router "SELECT pg_backend_pid()"
check_eq "all of it in one router session" "$pid" "$R"
router '\q' >/dev/null
tap_exit
