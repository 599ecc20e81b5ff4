#!/usr/bin/env bash
# Attacks on tenant isolation, each a named case with a positive control: people of tenant
# "beta" log in as their own roles and try to read, insert, change, delete and reference tenant
# "acme"'s rows in every table and view (the list comes from the catalog, so tables added later
# are attacked too), through functions, settings, role switches, guessed ids and error messages.
# Every attack must fail with the SQLSTATE or the empty result named here.
source "$(dirname "$0")/../lib/e2e.sh"

# as ROLE SQL...: runs the statements as ROLE (a real login); prints their output, or the
# SQLSTATE of the first error as "ERROR <sqlstate>".
as() {
	local role=$1 out
	shift
	local args=()
	for s in "$@"; do args+=(-c "$s"); done
	out=$(psql -X -A -t -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -U "$role" "${args[@]}" 2>&1)
	if grep -q '^ERROR:  ' <<<"$out"; then
		sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/ERROR \1/p' <<<"$out" | head -n 1
	else
		# Transaction and SET command tags are not results.
		grep -vxE 'BEGIN|ROLLBACK|COMMIT|SET' <<<"$out"
	fi
}
su_sql() { psql -X -A -t -v ON_ERROR_STOP=1 -c "$1"; }

# attack NAME EXPECTED ROLE SQL...: the attack's outcome must be EXPECTED exactly.
attack() {
	local name=$1 expected=$2 role=$3 got
	shift 3
	got=$(as "$role" "$@")
	check_eq "attack: $name" "$expected" "$got"
}
control() {
	local name=$1 expected=$2 role=$3 got
	shift 3
	got=$(as "$role" "$@")
	check_eq "control: $name" "$expected" "$got"
}

# --- Two tenants with the same shapes of data, built through the product's own paths.
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba <<'SQL' || { tap_not_ok "fixture: tenants"; exit 1; }
SELECT ccroute.create_tenant('acme', 'Asia/Tokyo', 'acme.example.test');
SELECT ccroute.create_tenant('beta', 'UTC', 'beta.example.test');
SELECT ccroute.create_person(t, k, l, initcap(l))
  FROM (VALUES ('acme'), ('beta')) AS ts (t),
       (VALUES ('tenant_admin', 'admin'), ('supervisor', 'sup'), ('analyst', 'ana'), ('agent', 'agt')) AS ps (k, l);
SQL
for t in acme beta; do
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U "$t.admin" <<SQL || { tap_not_ok "fixture: $t configuration"; exit 1; }
INSERT INTO ccroute.skill (name) VALUES ('sales'), ('support'), ('$t-only');
INSERT INTO ccroute.agent (name, extension, mobile) VALUES ('$t Alice', '100', '+819000000100'),
                                                         ('$t Bob', '101', NULL);
INSERT INTO ccroute.agent_skill (agent_id, skill_id, proficiency)
SELECT a.agent_id, s.skill_id, 5 FROM ccroute.agent a, ccroute.skill s WHERE s.name = 'sales';
SELECT ccroute.set_agent_sip_password('100', '$t-phone-password');
SQL
done
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U acme.admin -c "INSERT INTO ccroute.agent (name, extension) VALUES ('acme Carol', '555')"
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba <<'SQL' || { tap_not_ok "fixture: numbers"; exit 1; }
SELECT ccroute.add_did('acme', '+81311110000', 'sales');
SELECT ccroute.add_did('beta', '+81322220000', 'sales');
SQL
for t in acme beta; do
	num=$([ $t = acme ] && echo +81311110000 || echo +81322220000)
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U "$t.admin" <<SQL || { tap_not_ok "fixture: $t hours and requirements"; exit 1; }
-- Offers outlive the test: the reserved agents stay reserved.
SELECT ccroute.set_call_settings(p_ring_timeout_seconds => 300);
INSERT INTO ccroute.schedule (name) VALUES ('always');
INSERT INTO ccroute.schedule_slot (schedule_id, dow, opens, closes)
SELECT schedule_id, d, '00:00', '23:59:59.999' FROM ccroute.schedule, generate_series(1, 7) AS d;
INSERT INTO ccroute.holiday (day, name) VALUES ('2099-01-01', 'Far New Year');
UPDATE ccroute.did SET schedule_id = (SELECT schedule_id FROM ccroute.schedule);
INSERT INTO ccroute.did_requirement (did, skill_id)
SELECT '$num', skill_id FROM ccroute.skill WHERE name = 'sales';
-- A routing rule, saved and active (it chooses nothing: calls route as before).
SELECT ccroute.save_rule('return function(call, agents) return nil end', '$t rule');
SELECT ccroute.activate_rule(1);
SQL
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba -c "SELECT ccroute.add_destination('$t', 'voicemail', 'sip:vm-$t@192.0.2.60')" ||
		{ tap_not_ok "fixture: $t destination"; exit 1; }
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U "$t.sup" <<SQL || { tap_not_ok "fixture: $t agents ready"; exit 1; }
SELECT ccroute.set_agent_state('100', 'ready'), ccroute.set_agent_state('101', 'ready');
SQL
done
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U kamailio <<'SQL' || { tap_not_ok "fixture: calls"; exit 1; }
-- Two calls take each tenant's two agents; the third finds nobody and goes to history.
SELECT ccroute.route_call('acme-call-' || n, '+819012345678', '+81311110000') FROM generate_series(1, 3) n;
SELECT ccroute.route_call('beta-call-' || n, '+819087654321', '+81322220000') FROM generate_series(1, 3) n;
SQL
for t in acme beta; do
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba <<SQL || { tap_not_ok "fixture: $t sign-in"; exit 1; }
SELECT ccroute.set_password('$t', 'agt', '$t-agent-secret'), ccroute.set_password('$t', 'admin', '$t-boss-secret');
SELECT ccroute.register_device('$t', 'admin', '02:00:00:00:00:01');
SQL
	out=$(psql -X -A -t -v ON_ERROR_STOP=1 -U gateway -c "SELECT outcome FROM ccroute.authenticate('$t', 'agt', '$t-agent-secret')")
	[ "$out" = ok ] || { tap_not_ok "fixture: $t agent signs in" "got: $out"; exit 1; }
done
acme=$(su_sql "SELECT tenant_id FROM ccroute.tenant WHERE name = 'acme'")
beta=$(su_sql "SELECT tenant_id FROM ccroute.tenant WHERE name = 'beta'")
# What a failing rule leaves for its tenant's admin (written by the router as the owner).
su_sql "INSERT INTO ccroute.rule_error (tenant_id, version, stop, message, call_id)
	VALUES ($acme, 1, 'error', 'acme rule failed', 'acme-call-1'), ($beta, 1, 'error', 'beta rule failed', 'beta-call-1')" >/dev/null
# A locked SQL login in each tenant, as the lock-out's worker records one (not running here).
su_sql "INSERT INTO ccroute.sql_login_lock (tenant_id, person_id, role_name, locked_at)
	SELECT p.tenant_id, p.person_id, p.role_name, now() FROM ccroute.person p WHERE p.login = 'ana'" >/dev/null
# A recording of each tenant's first call, filed by the recorder (the proxy's role).
for t in $acme $beta; do
	seq=$(su_sql "SELECT min(call_seq) FROM ccroute.live_call WHERE tenant_id = $t")
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U kamailio \
		-c "SELECT ccroute.add_recording($t, $seq, '$t/first-call.wav', 48000, 3.0)" ||
		tap_not_ok "fixture: tenant $t files a recording"
done
# Two days old history (an answered call, an agent's presence) and the reports' roll-ups of it.
su_sql "INSERT INTO ccroute.call_history (tenant_id, call_seq, call_id, caller, dialed, action, target,
		skill_id, agent_id, outcome, arrived_at, offered_at, answered_at, ended_at, wait_seconds, talk_seconds)
	SELECT a.tenant_id, nextval('ccroute.live_call_call_seq_seq'), 'old-' || a.agent_id, '+819011112222',
	       d.did, 'agent', 'sip:x@192.0.2.1', d.skill_id, a.agent_id, 'answered',
	       now() - interval '2 days', now() - interval '2 days', now() - interval '2 days' + interval '5 seconds',
	       now() - interval '2 days' + interval '65 seconds', 5, 60
	  FROM ccroute.agent a JOIN LATERAL (SELECT * FROM ccroute.did x WHERE x.tenant_id = a.tenant_id
	                                      AND x.skill_id IS NOT NULL LIMIT 1) d ON true;
	INSERT INTO ccroute.agent_state_history (tenant_id, agent_id, changed_at, presence, reason)
	SELECT a.tenant_id, a.agent_id, now() - interval '2 days' - o.ago, o.presence, o.reason
	  FROM ccroute.agent a, (VALUES (interval '1 hour', 'ready', NULL), (interval '0', 'not_ready', 'lunch')) o(ago, presence, reason);
	SELECT count(*) FROM ccroute.refresh_report_rollups(now())" >/dev/null ||
	tap_not_ok "fixture: history and its roll-ups"

# --- Every table and view with tenant rows, as every kind of person and service of beta.
relations=$(su_sql "SELECT c.relname FROM pg_class c
	WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relkind IN ('r', 'p', 'v')
	  AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')
	ORDER BY 1")
roles="beta.admin beta.sup beta.ana beta.agt kamailio dba gateway"

for rel in $relations; do
	kind=$(su_sql "SELECT relkind FROM pg_class WHERE oid = 'ccroute.$rel'::regclass")
	acme_rows=$(su_sql "SELECT count(*) FROM ccroute.$rel WHERE tenant_id = $acme")
	beta_rows=$(su_sql "SELECT count(*) FROM ccroute.$rel WHERE tenant_id = $beta")
	if [ "$acme_rows" -eq 0 ] || [ "$beta_rows" -eq 0 ]; then
		tap_not_ok "fixture: both tenants have rows in $rel" "acme: $acme_rows, beta: $beta_rows"
		continue
	fi
	# A person sees one row of the role map: their own.
	own_rows=$beta_rows
	[ "$rel" = role_map ] && own_rows=1
	# Writing tenant_id is refused before any privilege check where it is an identity column.
	deny="ERROR 42501"
	[ "$(su_sql "SELECT attidentity FROM pg_attribute
		WHERE attrelid = 'ccroute.$rel'::regclass AND attname = 'tenant_id'")" = a ] && deny="ERROR 428C9"
	for role in $roles; do
		can() { su_sql "SELECT has_column_privilege('$role', 'ccroute.$rel', '$1', '$2')"; }
		if [ "$(can tenant_id SELECT)" = t ]; then
			control "$role reads its own $rel rows" "$own_rows" "$role" \
				"SELECT count(*) FROM ccroute.$rel WHERE tenant_id = $beta"
			attack "$role reads acme's $rel rows" 0 "$role" \
				"SELECT count(*) FROM ccroute.$rel WHERE tenant_id = $acme"
			attack "$role reads $rel without a filter, sees only its own" "$own_rows" "$role" \
				"SELECT count(*) FROM ccroute.$rel"
		else
			attack "$role reads acme's $rel rows" "ERROR 42501" "$role" \
				"SELECT count(*) FROM ccroute.$rel WHERE tenant_id = $acme"
		fi
		[ "$kind" = v ] && continue
		col=$(su_sql "SELECT attname FROM pg_attribute WHERE attrelid = 'ccroute.$rel'::regclass
			AND attnum > 0 AND NOT attisdropped
			AND has_column_privilege('$role', attrelid, attnum, 'UPDATE') ORDER BY attnum LIMIT 1")
		if [ -n "$col" ]; then
			control "$role updates its own $rel rows" "UPDATE $beta_rows" "$role" \
				"BEGIN" "UPDATE ccroute.$rel SET $col = $col WHERE tenant_id = $beta" "ROLLBACK"
			# The rows are filtered away before the update: nothing is changed.
			attack "$role updates acme's $rel rows" "UPDATE 0" "$role" \
				"UPDATE ccroute.$rel SET $col = $col WHERE tenant_id = $acme"
		else
			attack "$role updates acme's $rel rows" "$deny" "$role" \
				"UPDATE ccroute.$rel SET tenant_id = tenant_id WHERE tenant_id = $acme"
		fi
		attack "$role moves its own $rel rows into acme" "$deny" "$role" \
			"UPDATE ccroute.$rel SET tenant_id = $acme WHERE tenant_id = $beta"
		if [ "$(su_sql "SELECT has_table_privilege('$role', 'ccroute.$rel', 'DELETE')")" = t ]; then
			got=$(as "$role" "BEGIN" "DELETE FROM ccroute.$rel WHERE tenant_id = $beta" "ROLLBACK")
			# Rows still referenced elsewhere refuse deletion (23503): they were reached all the same.
			case "$got" in
			"DELETE $beta_rows" | "ERROR 23503") tap_ok "control: $role deletes its own $rel rows" ;;
			*) tap_not_ok "control: $role deletes its own $rel rows" "got: $got" ;;
			esac
			attack "$role deletes acme's $rel rows" "DELETE 0" "$role" \
				"DELETE FROM ccroute.$rel WHERE tenant_id = $acme"
		else
			attack "$role deletes acme's $rel rows" "ERROR 42501" "$role" \
				"DELETE FROM ccroute.$rel WHERE tenant_id = $acme"
		fi
		# Row-level security checks a new row before constraints, so no constraint error leaks.
		attack "$role inserts a row into acme's $rel" "$deny" "$role" \
			"INSERT INTO ccroute.$rel (tenant_id) VALUES ($acme)"
	done
	[ "$(su_sql "SELECT count(*) FROM ccroute.$rel WHERE tenant_id = $acme")" = "$acme_rows" ]
	check_eq "acme's $rel rows are all still there" 0 $?
done

# --- References, guesses and error messages.
acme_skill=$(su_sql "SELECT skill_id FROM ccroute.skill WHERE tenant_id = $acme AND name = 'support'")
beta_skill=$(su_sql "SELECT skill_id FROM ccroute.skill WHERE tenant_id = $beta AND name = 'support'")
beta_bob=$(su_sql "SELECT agent_id FROM ccroute.agent WHERE tenant_id = $beta AND extension = '101'")
acme_alice=$(su_sql "SELECT agent_id FROM ccroute.agent WHERE tenant_id = $acme AND extension = '100'")
beta_alice=$(su_sql "SELECT agent_id FROM ccroute.agent WHERE tenant_id = $beta AND extension = '100'")
control "give an own agent an own skill" "INSERT 0 1" beta.admin \
	"BEGIN" "INSERT INTO ccroute.agent_skill (agent_id, skill_id) VALUES ($beta_bob, $beta_skill)" "ROLLBACK"
attack "give an own agent acme's skill (foreign key across tenants)" "ERROR 23503" beta.admin \
	"INSERT INTO ccroute.agent_skill (agent_id, skill_id) VALUES ($beta_bob, $acme_skill)"
attack "point an own number at acme's skill" "ERROR 23503" beta.admin \
	"UPDATE ccroute.did SET skill_id = $acme_skill"
control "look up an own agent by id" "beta Alice" beta.admin \
	"SELECT name FROM ccroute.agent WHERE agent_id = $beta_alice"
attack "look up acme's agent by a guessed id" "" beta.admin \
	"SELECT name FROM ccroute.agent WHERE agent_id = $acme_alice"
control "a duplicate extension in the own tenant is refused" "ERROR 23505" beta.admin \
	"INSERT INTO ccroute.agent (name, extension) VALUES ('Dup', '100')"
attack "an extension only acme has is no oracle: it is free in beta" "INSERT 0 1" beta.admin \
	"BEGIN" "INSERT INTO ccroute.agent (name, extension) VALUES ('Probe', '555')" "ROLLBACK"
attack "a skill name only acme has is no oracle: it is free in beta" "INSERT 0 1" beta.admin \
	"BEGIN" "INSERT INTO ccroute.skill (name) VALUES ('acme-only')" "ROLLBACK"
control "the role map shows a person their own row" "beta.admin" beta.admin \
	"SELECT string_agg(role_name, ',') FROM ccroute.role_map"
attack "read the DID directory" "ERROR 42501" beta.admin "SELECT count(*) FROM ccroute.did_directory"
attack "read another person's SIP credential" "ERROR 42501" beta.admin \
	"SELECT sip_ha1 FROM ccroute.agent WHERE tenant_id = $acme"

# --- Settings and identities.
attack "set the tenant context to acme" "ERROR 42501" beta.admin \
	"SET ccroute.tenant_context = '$acme'"
attack "set the tenant context with set_config" "ERROR 42501" beta.admin \
	"SELECT set_config('ccroute.tenant_context', '$acme', false)"
attack "set the tenant context for the transaction" "ERROR 42501" beta.admin \
	"BEGIN" "SET LOCAL ccroute.tenant_context = '$acme'"
# Without the library preloaded a session could park a value in the setting before the check
# exists; it would still change nothing, since only the owner's functions trust it and each
# resets it on entry.
got=$(as beta.admin "SELECT set_config('ccroute.tenant_context', '$acme', false)" \
	"SELECT count(*) FROM ccroute.skill WHERE tenant_id = $acme")
case "$got" in
"ERROR 42501" | 0) tap_ok "attack: a forged tenant context shows nothing of acme (got: $got)" ;;
*) tap_not_ok "attack: a forged tenant context shows nothing of acme" "got: $got" ;;
esac
control "read own skills with row security on" "3" beta.admin "SELECT count(*) FROM ccroute.skill"
attack "turn row security off" "ERROR 42501" beta.admin \
	"SET row_security = off" "SELECT count(*) FROM ccroute.skill"
attack "become acme's admin with SET ROLE" "ERROR 42501" beta.admin 'SET ROLE "acme.admin"'
attack "become acme's admin with SET SESSION AUTHORIZATION" "ERROR 42501" beta.admin \
	'SET SESSION AUTHORIZATION "acme.admin"'
attack "become the owner" "ERROR 42501" beta.admin 'SET ROLE ccroute_owner'
# A person may try to lend their role to someone of another tenant. Whether or not the server
# lets the grant through, acting as a borrowed role shows nothing.
as acme.admin 'GRANT "acme.admin" TO "beta.admin"' >/dev/null
got=$(as beta.admin 'SET ROLE "acme.admin"' "SELECT count(*) FROM ccroute.skill")
case "$got" in
"ERROR 42501" | 0) tap_ok "attack: a borrowed role sees nothing (got: $got)" ;;
*) tap_not_ok "attack: a borrowed role sees nothing" "got: $got" ;;
esac
attack "change own role's attributes" "ERROR 42501" beta.admin 'ALTER ROLE "beta.admin" CREATEROLE'
attack "give oneself the platform DBA role" "ERROR 42501" beta.admin 'GRANT ccroute_platform_dba TO "beta.admin"'

# --- Functions.
control "add a person to the own tenant" "beta.newbie" beta.admin \
	"SELECT ccroute.create_person('beta', 'analyst', 'newbie', 'New Bie')"
attack "add an admin to acme (answered as if acme did not exist)" "ERROR 42704" beta.admin \
	"SELECT ccroute.create_person('acme', 'tenant_admin', 'mole', 'Mole')"
attack "add a person to a tenant that does not exist (same answer)" "ERROR 42704" beta.admin \
	"SELECT ccroute.create_person('nosuch', 'tenant_admin', 'mole', 'Mole')"
attack "remove acme's admin" "ERROR 42704" beta.admin "SELECT ccroute.remove_person('acme', 'admin')"
attack "an analyst adds a person" "ERROR 42501" beta.ana \
	"SELECT ccroute.create_person('beta', 'tenant_admin', 'boss', 'Boss')"
attack "an agent adds a person" "ERROR 42501" beta.agt \
	"SELECT ccroute.create_person('beta', 'tenant_admin', 'boss', 'Boss')"
for f in "cancel_tenant('acme')" "create_tenant('evil')" "set_tenant_limits('acme', 0)" \
	"add_did('acme', '+81399990000', NULL, 'sip:x@192.0.2.1')" "remove_did('acme', '+81311110000')" \
	"set_sip_domain('acme', 'evil.example.test')"; do
	attack "a tenant admin calls the platform's $f" "ERROR 42501" beta.admin "SELECT ccroute.$f"
done
attack "call the role-creating helper directly" "ERROR 42501" beta.admin \
	"SELECT ccroute.create_login_role('beta.evil', 'tenant_admin')"
attack "call the context-entering helper directly" "ERROR 42501" beta.admin \
	"SELECT ccroute.enter_tenant('acme')"
attack "write an audit row directly" "ERROR 42501" beta.admin \
	"SELECT ccroute.audit_write($acme, 'CALL', 'forged', NULL, NULL)"
attack "route a call as a person" "ERROR 42501" beta.admin \
	"SELECT * FROM ccroute.route_call('x', 'y', '+81311110000')"
control "the proxy routes a call" "reject|480" kamailio \
	"SELECT action, sip_status FROM ccroute.route_call('ok-1', '+8190', '+81311110000')"
attack "the proxy reads tables" "ERROR 42501" kamailio "SELECT count(*) FROM ccroute.agent"
attack "end acme's call as a person, in a batch" "ERROR 42501" beta.admin \
	"SELECT ccroute.call_events(ARRAY[$acme]::bigint[], '{1}', '{ended}', ARRAY[now()])"
attack "end acme's call as a person, alone" "ERROR 42501" beta.admin \
	"SELECT ccroute.call_event($acme, 1, 'ended')"
control "the proxy reports a batch of events" "0" kamailio \
	"SELECT ccroute.call_events(ARRAY[$acme]::bigint[], '{999999}', '{ended}', ARRAY[now()])"
before=$(su_sql "SELECT sip_ha1 FROM ccroute.agent WHERE tenant_id = $acme AND extension = '100'")
control "set the own agent 100's SIP password" "" beta.admin \
	"SELECT ccroute.set_agent_sip_password('100', 'a-new-long-password')"
after=$(su_sql "SELECT sip_ha1 FROM ccroute.agent WHERE tenant_id = $acme AND extension = '100'")
check_eq "attack: acme's agent 100 keeps its SIP credential when beta sets its own 100's" "$before" "$after"

# --- Routing rules: a rule has no SQL; what a tenant admin does with rules stays in its tenant.
control "dry-run the own active rule" "1" beta.admin \
	"SELECT ccroute.try_rule(NULL, '+81322220000') #>> '{explanation,rule_version}'"
attack "dry-run a rule on acme's number (answered as an unknown number)" "Number Not In Service" beta.admin \
	"SELECT ccroute.try_rule(NULL, '+81311110000') ->> 'reason'"
attack "a rule forwarding to 'voicemail' reaches beta's, never acme's" "sip:vm-beta@192.0.2.60" beta.admin \
	"SELECT ccroute.try_rule('return function() return { forward = \"voicemail\" } end', '+81322220000') ->> 'target'"
attack "activate acme's rule version" "ERROR 42704" beta.admin "SELECT ccroute.activate_rule(2)"
attack "write a rule row directly" "ERROR 42501" beta.admin \
	"INSERT INTO ccroute.routing_rule (version, source, author) VALUES (9, 'return function() end', 'x')"
attack "activate a version directly" "ERROR 42501" beta.admin "UPDATE ccroute.routing_rule SET active = true"
attack "a supervisor saves a rule" "ERROR 42501" beta.sup "SELECT ccroute.save_rule('return function() end')"
attack "a tenant admin adds a destination" "ERROR 42501" beta.admin \
	"SELECT ccroute.add_destination('beta', 'premium', 'sip:+19005550100@carrier.example')"
attack "a tenant admin writes a destination directly" "ERROR 42501" beta.admin \
	"INSERT INTO ccroute.destination (name, uri) VALUES ('premium', 'sip:+19005550100@carrier.example')"

# --- The audit log.
control "read the own audit log" "t" beta.admin "SELECT count(*) > 0 FROM ccroute.audit_log"
attack "read acme's audit rows" "0" beta.admin "SELECT count(*) FROM ccroute.audit_log WHERE tenant_id = $acme"
attack "change the own audit rows" "ERROR 42501" beta.admin "UPDATE ccroute.audit_log SET object = 'x'"
attack "delete the own audit rows" "ERROR 42501" beta.admin "DELETE FROM ccroute.audit_log"
attack "a superuser changes audit rows" "ERROR 42501" postgres "UPDATE ccroute.audit_log SET object = 'x'"
attack "a superuser empties the audit log" "ERROR 42501" postgres "TRUNCATE ccroute.audit_log"

tap_exit
