#!/usr/bin/env bash
# Every example rule in rules/examples: run by the offline checker against its sample calls
# (each sample says what the rule must decide), then saved, activated and tried inside
# PostgreSQL by a tenant admin, so the examples are known to work in both.
source "$(dirname "$0")/../lib/e2e.sh"
make -s -C rules >/dev/null || { tap_not_ok "the rule checker builds"; exit 1; }

psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba <<'SQL' || { tap_not_ok "fixture: a tenant"; exit 1; }
SELECT ccroute.create_tenant('ex', 'Asia/Tokyo');
SELECT ccroute.create_person('ex', 'tenant_admin', 'admin', 'Admin');
SELECT ccroute.add_destination('ex', 'after_hours', 'sip:ivr-closed@192.0.2.70');
SQL
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 <<'SQL' || { tap_not_ok "fixture: skills and agents"; exit 1; }
INSERT INTO ccroute.skill (tenant_id, name) SELECT tenant_id, s FROM ccroute.tenant,
  (VALUES ('main'), ('english'), ('chinese'), ('senior')) v (s);
INSERT INTO ccroute.agent (tenant_id, name, extension, contact_uri, wrapup_seconds)
SELECT tenant_id, 'Agent ' || e, e::text, 'sip:' || e || '@192.0.2.1', 0 FROM ccroute.tenant, generate_series(101, 104) e;
INSERT INTO ccroute.agent_skill (tenant_id, agent_id, skill_id, proficiency)
SELECT a.tenant_id, a.agent_id, s.skill_id, 5 FROM ccroute.agent a JOIN ccroute.skill s USING (tenant_id);
INSERT INTO ccroute.agent_state (tenant_id, agent_id, state, idle_since)
SELECT tenant_id, agent_id, 'ready', now() - interval '1 minute' * agent_id FROM ccroute.agent;
SQL
psql -X -q -o /dev/null -U dba -c "SELECT ccroute.add_did('ex', '+81312340500', 'main')"

for rule in rules/examples/*.lua; do
	name=$(basename "$rule" .lua)
	[ "$name" = samples ] && continue
	out=$(rules/ccroute-rule-check --set "$name" "$rule" rules/examples/samples.lua 2>&1)
	rc=$?
	n=$(echo "$out" | sed -n 's/^\([0-9]*\) samples, .*/\1/p')
	if [ "$rc" -eq 0 ] && [ "${n:-0}" -ge 2 ]; then
		tap_ok "example $name decides as its $n sample calls expect"
	else
		tap_not_ok "example $name decides as its sample calls expect" "$out"
	fi
	version=$(psql -X -A -t -U ex.admin -v ON_ERROR_STOP=1 -v src="$(cat "$rule")" <<-'SQL' 2>&1
		SELECT ccroute.save_rule(:'src', 'example');
	SQL
	)
	case $version in
	[0-9]*) tap_ok "example $name is saved by a tenant admin (version $version)" ;;
	*) tap_not_ok "example $name is saved by a tenant admin" "$version" ;;
	esac
	got=$(psql -X -A -t -U ex.admin -c "SELECT ccroute.activate_rule($version);
		SELECT coalesce(r ->> 'stop', 'ran') || ' ' || (r ->> 'version')
		  FROM (SELECT ccroute.try_rule(NULL, '+81312340500', '+819011112222', '{\"lang\": \"en\"}') #> '{explanation,rule}' AS r) x" 2>&1 | tail -n 1)
	check_eq "example $name runs inside PostgreSQL, active, without error" "ran $version" "$got"
done
# --- Attacks inside route_call, in one proxy connection: the rule of tenant "ex" is replaced by
# each attack in turn; every call is still routed (as if there were no rule), within the
# deadline, with the stop in its explanation; then a well-behaved rule of another tenant, in the
# same connection, works.
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba <<'SQL' || { tap_not_ok "fixture: a second tenant"; exit 1; }
SELECT ccroute.create_tenant('ok', 'Asia/Tokyo');
SELECT ccroute.create_person('ok', 'tenant_admin', 'admin', 'Admin');
SQL
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO ccroute.skill (tenant_id, name) SELECT tenant_id, 'main' FROM ccroute.tenant WHERE name = 'ok';
INSERT INTO ccroute.agent (tenant_id, name, extension, contact_uri, wrapup_seconds)
SELECT tenant_id, 'Agent 201', '201', 'sip:201@192.0.2.2', 0 FROM ccroute.tenant WHERE name = 'ok';
INSERT INTO ccroute.agent_skill (tenant_id, agent_id, skill_id, proficiency)
SELECT a.tenant_id, a.agent_id, s.skill_id, 5 FROM ccroute.agent a JOIN ccroute.skill s USING (tenant_id)
 WHERE s.tenant_id = (SELECT tenant_id FROM ccroute.tenant WHERE name = 'ok');
INSERT INTO ccroute.agent_state (tenant_id, agent_id, state, idle_since)
SELECT tenant_id, agent_id, 'ready', now() FROM ccroute.agent WHERE tenant_id = (SELECT tenant_id FROM ccroute.tenant WHERE name = 'ok');
SQL
psql -X -q -o /dev/null -U dba -c "SELECT ccroute.add_did('ok', '+81312340600', 'main')"
psql -X -q -o /dev/null -U ok.admin -c "SELECT ccroute.activate_rule(ccroute.save_rule('return function(call, agents) return { agents = { \"201\" }, note = \"fine\" } end'))"

attack_rule() { # NAME STOP SOURCE
	local v
	v=$(psql -X -A -t -U ex.admin -c "SELECT ccroute.save_rule(\$r\$return function(call, agents) $3 end\$r\$)" 2>&1)
	psql -X -q -o /dev/null -U ex.admin -c "SELECT ccroute.activate_rule($v)"
	echo "$1|$2|$v"
}
{
	attack_rule "an endless loop" instructions 'while true do end'
	attack_rule "an endless loop in pcall" instructions 'while true do pcall(function() while true do end end) end'
	attack_rule "a memory bomb" memory 'local t = {} while true do t[#t + 1] = string.rep("x", 100000) end'
	attack_rule "a catastrophic pattern on a large subject" error 'return { note = tostring(string.rep("a", 20000):find(".-.-.-.-b")) }'
	attack_rule "a wrong return type" bad_result 'return "101"'
	attack_rule "reaching for io" error 'return { note = io.open("/etc/passwd"):read("a") }'
} >"$STACK_DIR/attacks"
# One proxy connection for all of it (a superuser session that takes the proxy's role to route,
# and switches the active version between calls).
ex=$(psql -X -A -t -c "SELECT tenant_id FROM ccroute.tenant WHERE name = 'ex'")
{
	while IFS='|' read -r name stop version; do
		cat <<-SQL
			RESET ROLE;
			UPDATE ccroute.routing_rule SET active = false WHERE tenant_id = $ex AND active;
			UPDATE ccroute.routing_rule SET active = true WHERE tenant_id = $ex AND version = $version;
			SET ROLE kamailio;
			SELECT '$version', action, round(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)
			  FROM ccroute.route_call('attack-$version', '+819000000000', '+81312340500');
			RESET ROLE;
			SELECT count(ccroute.call_event(tenant_id, call_seq, 'abandoned')) FROM ccroute.live_call
			 WHERE call_id = 'attack-$version';
		SQL
	done <"$STACK_DIR/attacks"
	echo "SELECT 'after', action FROM ccroute.route_call('after', '+819000000000', '+81312340600');"
	echo "SELECT 'pid', pg_backend_pid();"
} | psql -X -A -t -q -F '|' >"$STACK_DIR/attack_results" 2>&1
while IFS='|' read -r name stop version; do
	got=$(grep "^$version|" "$STACK_DIR/attack_results" | cut -d'|' -f2)
	ms=$(grep "^$version|" "$STACK_DIR/attack_results" | cut -d'|' -f3)
	stopped=$(psql -X -A -t -c "SELECT explanation -> 'rule' ->> 'stop' FROM ccroute.call_log WHERE call_id = 'attack-$version'")
	check_eq "attack in route_call: $name: the call is routed, the rule stopped by $stop" "agent|$stop" "$got|$stopped"
	check_le "attack in route_call: $name: answered within 1 s (ms)" 1000 "${ms:-99999}"
done <"$STACK_DIR/attacks"
check_eq "after the attacks, in the same connection, another tenant's rule decides its call" "agent|fine" \
	"$(grep '^after|' "$STACK_DIR/attack_results" | cut -d'|' -f2)|$(psql -X -A -t -c "SELECT explanation -> 'rule' ->> 'note' FROM ccroute.call_log WHERE call_id = 'after'")"
check_eq "the connection survived all of it" 1 "$(grep -c '^pid|' "$STACK_DIR/attack_results")"
tap_exit
