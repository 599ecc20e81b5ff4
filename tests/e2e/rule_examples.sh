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
tap_exit
