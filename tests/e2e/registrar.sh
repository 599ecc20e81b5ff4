#!/usr/bin/env bash
# Agents' phones register with digest authentication, each tenant in its own SIP domain, and
# calls reach the phone the router's agent registered: two tenants both have extension 100.
source "$(dirname "$0")/../lib/e2e.sh"
acme_phone=$(stack_agent_start acme100) && beta_phone=$(stack_agent_start beta100) ||
	{ tap_not_ok "sipp phones start"; exit 1; }
ACME_PW='acme-secret-0001'
BETA_PW='beta-secret-0002'

psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba <<'SQL' || { tap_not_ok "fixture"; exit 1; }
SELECT ccroute.create_tenant('acme', 'UTC', 'acme.example.test'),
       ccroute.create_tenant('beta', 'UTC', 'beta.example.test');
SELECT ccroute.create_person('acme', 'tenant_admin', 'admin', 'Admin'),
       ccroute.create_person('beta', 'tenant_admin', 'admin', 'Admin');
SQL
for t in acme beta; do
	pw=$ACME_PW
	[ $t = beta ] && pw=$BETA_PW
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U "$t.admin" <<SQL || tap_not_ok "fixture $t"
INSERT INTO ccroute.skill (name) VALUES ('desk');
-- In acme, 101 has waited longest but its phone never registers.
INSERT INTO ccroute.agent (name, extension, wrapup_seconds) VALUES ('Hundred', '100', 0), ('Hundred-one', '101', 0);
INSERT INTO ccroute.agent_skill (agent_id, skill_id) SELECT agent_id, skill_id FROM ccroute.agent, ccroute.skill;
SELECT ccroute.set_agent_sip_password('100', '$pw'), ccroute.set_agent_sip_password('101', '$pw');
SELECT ccroute.set_agent_state('101', 'ready');
SELECT pg_sleep(0.05);
SELECT ccroute.set_agent_state('100', 'ready');
SQL
done
psql -X -q -o /dev/null -U dba -c "SELECT ccroute.add_did('acme', '+81366660000', 'desk'), ccroute.add_did('beta', '+81366660001', 'desk')"
stack_kamailio_start || { tap_not_ok "kamailio starts"; exit 1; }

# register SCENARIO DOMAIN USER PASSWORD PHONE_PORT
register() {
	(cd "$STACK_DIR" && sipp -sf "$STACK_ROOT/tests/sipp/$1" -key domain "$2" -key user "$3" \
		-au "$3" -ap "$4" -key phone_port "$5" -i 127.0.0.1 -p "$(stack_free_port)" -m 1 -nostdin \
		-timeout 10 -timeout_error -trace_err -error_file register.errors \
		"127.0.0.1:$KAM_PORT" >"$STACK_DIR/register.out" 2>&1)
}

register register_refused.xml acme.example.test 100 'wrong-password-1' "$acme_phone"
check_eq "a wrong password is challenged (401), then refused (403)" 0 $?
register register_refused.xml beta.example.test 100 "$ACME_PW" "$acme_phone"
check_eq "acme's password for beta's extension 100 is refused" 0 $?
register register_refused.xml acme.example.test 999 "$ACME_PW" "$acme_phone"
check_eq "an extension the tenant does not have is refused" 0 $?
register register_refused.xml nowhere.example.test 100 "$ACME_PW" "$acme_phone"
check_eq "a domain no tenant has is refused" 0 $?
check_eq "nothing is registered after the refusals" 0 "$(stack_kamcmd ul.dump brief | grep -c 'AoR:')"

register register_ok.xml acme.example.test 100 "$ACME_PW" "$acme_phone"
check_eq "acme's 100 registers with its password" 0 $?
register register_ok.xml beta.example.test 100 "$BETA_PW" "$beta_phone"
check_eq "beta's 100 registers with its own password" 0 $?
check_eq "two registrations, one per tenant's 100" "AoR: 100@acme.example.test AoR: 100@beta.example.test" \
	"$(stack_kamcmd ul.dump brief | grep -o 'AoR: [^ ]*' | sort | tr '\n' ' ' | sed 's/ $//')"

printf 'SEQUENTIAL\n+81366660000;+819066660000;\n+81366660001;+819066660001;\n' >"$STACK_DIR/calls.csv"
stack_calls "$STACK_DIR/calls.csv" 2
check_eq "a call to each tenant completes" 0 $?
check_eq "acme's call rang acme's phone" 1 "$(grep -c . "$STACK_DIR/agents/acme100.calls")"
check_eq "beta's call rang beta's phone" 1 "$(grep -c . "$STACK_DIR/agents/beta100.calls")"
sleep 0.3
check_eq "acme's call was offered first to 101 (not registered), then answered by 100" "answered|100|2" \
	"$(psql -XAtc "SELECT h.outcome || '|' || a.extension || '|' || h.attempts FROM ccroute.call_history h
		JOIN ccroute.agent a USING (tenant_id, agent_id) WHERE h.dialed = '+81366660000'")"
check_eq "101's unanswered offer is counted" 1 \
	"$(psql -XAtc "SELECT s.no_answer_streak FROM ccroute.agent_state s JOIN ccroute.agent a USING (tenant_id, agent_id)
		JOIN ccroute.tenant t USING (tenant_id) WHERE t.name = 'acme' AND a.extension = '101'")"

# --- Calls placed by agents' phones: to an extension of their own tenant, after proving who they
# are; never to another tenant's phone, whatever domain the request names.
acme101_phone=$(stack_agent_start acme101) || { tap_not_ok "sipp phone 101 starts"; exit 1; }
register register_ok.xml acme.example.test 101 "$ACME_PW" "$acme101_phone"
check_eq "acme's 101 registers" 0 $?
# phone_call SCENARIO DOMAIN USER PASSWORD CALLEE [STATUS]
phone_call() {
	local scen=$STACK_ROOT/tests/sipp/$1
	if [ -n "${6:-}" ]; then
		scen=$STACK_DIR/phone_refused_$6.xml
		sed "s/@STATUS@/$6/g" "$STACK_ROOT/tests/sipp/phone_call_refused.xml.in" >"$scen"
	fi
	(cd "$STACK_DIR" && sipp -sf "$scen" -key domain "$2" -key user "$3" -au "$3" -ap "$4" \
		-key callee "$5" -i 127.0.0.1 -p "$(stack_free_port)" -m 1 -nostdin -timeout 10 \
		-timeout_error -trace_err -error_file phone.errors "127.0.0.1:$KAM_PORT" >"$STACK_DIR/phone.out" 2>&1)
}
before101=$(grep -c . "$STACK_DIR/agents/acme101.calls")
before100b=$(grep -c . "$STACK_DIR/agents/beta100.calls")
phone_call phone_call.xml acme.example.test 100 "$ACME_PW" 101
check_eq "acme's 100 calls 101 with its password: answered and hung up" 0 $?
check_eq "the call rang acme's 101" 1 $(($(grep -c . "$STACK_DIR/agents/acme101.calls") - before101))
phone_call "" acme.example.test 100 'wrong-password-1' 101 403
check_eq "a phone with a wrong password is challenged (407), then refused (403)" 0 $?
phone_call "" acme.example.test 100 "$BETA_PW" 101 403
check_eq "beta's password does not place calls as acme's 100" 0 $?
phone_call "" acme.example.test 100 "$ACME_PW" 777 404
check_eq "an extension nobody registered is answered 404" 0 $?
# beta's 100 dialing "100" reaches beta's own 100 (itself), never acme's.
before100a=$(grep -c . "$STACK_DIR/agents/acme100.calls")
phone_call phone_call.xml beta.example.test 100 "$BETA_PW" 100
check_eq "beta's 100 dialing 100 is answered" 0 $?
check_eq "it rang beta's 100, not acme's" "1 0" \
	"$(($(grep -c . "$STACK_DIR/agents/beta100.calls") - before100b)) $(($(grep -c . "$STACK_DIR/agents/acme100.calls") - before100a))"
check_eq "calls between phones are not contact-center calls: nothing more in the call log" 2 \
	"$(psql -XAtc "SELECT count(*) FROM ccroute.call_log")"

# The secret stays where it is: the proxy's role reads an HA1 only through sip_credentials().
got=$(psql -X -A -t -v VERBOSITY=verbose -U kamailio -c "SELECT sip_ha1 FROM ccroute.agent" 2>&1 |
	sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p')
check_eq "the proxy's role cannot read agents' HA1s from the table (42501)" 42501 "$got"
check_eq "control: the proxy's role reads acme 100's HA1 through sip_credentials()" \
	"$(echo -n "100:acme.example.test:$ACME_PW" | md5sum | cut -d' ' -f1)" \
	"$(psql -XAt -U kamailio -c "SELECT ccroute.sip_credentials('acme.example.test', '100')")"
check_eq "no password is in the audit log" 0 \
	"$(psql -XAtc "SELECT count(*) FROM ccroute.audit_log WHERE row_to_json(audit_log)::text LIKE '%secret-000%'")"
check_eq "no password is in the server's log" 0 "$(grep -c 'secret-000' "$STACK_DIR/pg/server.log")"
tap_exit
