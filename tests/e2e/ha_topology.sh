#!/usr/bin/env bash
# The high-availability topology (issue 9): a primary with a streaming hot standby (a base
# backup and a replication slot, synchronous replication as recommended), two Kamailio proxies
# sharing the database through one multi-host connection string (target_session_attrs=
# read-write), and the phones' registrations replicated between the proxies (DMQ): a call
# entering either proxy reaches an agent whose phone registered on the other.
source "$(dirname "$0")/../lib/e2e.sh"
source tests/lib/ha.sh
ha_pg_start sync || { tap_not_ok "a primary and its standby start"; exit 1; }
tap_ok "a primary and its streaming standby start (pg_basebackup, slot)"
check_eq "the standby is in recovery, the primary is not" "t|f" \
	"$(ha_psql pg2 -Atc "SELECT pg_is_in_recovery()")|$(ha_psql pg -Atc "SELECT pg_is_in_recovery()")"
check_eq "the standby streams through its slot, and commits wait for it (quorum)" "pg2|true|quorum" \
	"$(ha_psql pg -Atc "SELECT s.slot_name || '|' || s.active || '|' || r.sync_state
		FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid")"

PW='acme-secret-0001'
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba <<'SQL' || { tap_not_ok "fixture"; exit 1; }
SELECT ccroute.create_tenant('acme', 'UTC', 'acme.example.test');
SELECT ccroute.create_person('acme', 'tenant_admin', 'admin', 'Admin');
SQL
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U acme.admin <<SQL || { tap_not_ok "fixture"; exit 1; }
INSERT INTO ccroute.skill (name) VALUES ('desk');
INSERT INTO ccroute.agent (name, extension, wrapup_seconds) VALUES ('Hundred', '100', 0);
INSERT INTO ccroute.agent_skill (agent_id, skill_id) SELECT agent_id, skill_id FROM ccroute.agent, ccroute.skill;
SELECT ccroute.set_agent_sip_password('100', '$PW');
SELECT ccroute.set_agent_state('100', 'ready');
SQL
psql -X -q -o /dev/null -U dba -c "SELECT ccroute.add_did('acme', '+81377770000', 'desk')"
sleep 0.2
check_eq "the tenant made on the primary is on the standby" 1 \
	"$(ha_psql pg2 -Atc "SELECT count(*) FROM ccroute.tenant WHERE name = 'acme'")"

phone=$(stack_agent_start acme100) || { tap_not_ok "sipp phone starts"; exit 1; }
ha_kamailio_start kam1 && ha_kamailio_start kam2 || { tap_not_ok "two proxies start"; exit 1; }
tap_ok "two proxies start with WITH_DMQ and the multi-host connection string"
# The proxies find each other on the DMQ bus.
for _ in $(seq 1 50); do
	[ "$(ha_kamcmd kam1 dmq.list_nodes | grep -c 'status: active')" -ge 2 ] && break
	sleep 0.1
done
check_eq "each proxy knows the other on the DMQ bus" "2 2" \
	"$(ha_kamcmd kam1 dmq.list_nodes | grep -c 'status: active') $(ha_kamcmd kam2 dmq.list_nodes | grep -c 'status: active')"

ha_register kam1 acme.example.test 100 "$PW" "$phone"
check_eq "acme's 100 registers through the first proxy" 0 $?
for _ in $(seq 1 30); do
	ha_kamcmd kam2 ul.dump brief | grep -q 'AoR: 100@acme.example.test' && break
	sleep 0.1
done
check_eq "the second proxy holds the registration too (dmq_usrloc)" "AoR: 100@acme.example.test" \
	"$(ha_kamcmd kam2 ul.dump brief | grep -o 'AoR: [^ ]*')"

printf 'SEQUENTIAL\n+81377770000;+819077770000;\n' >"$STACK_DIR/calls.csv"
KAM_PORT=$(ha_kam_port kam2) stack_calls "$STACK_DIR/calls.csv" 1
check_eq "a call entering the second proxy completes" 0 $?
check_eq "it rang the phone registered on the first" 1 "$(grep -c . "$STACK_DIR/agents/acme100.calls")"
KAM_PORT=$(ha_kam_port kam1) stack_calls "$STACK_DIR/calls.csv" 1
check_eq "a call entering the first proxy completes, to the same phone" "0 2" "$? $(grep -c . "$STACK_DIR/agents/acme100.calls")"
sleep 0.5
check_eq "both calls are answered and ended in history, on the primary" "2" \
	"$(psql -XAtc "SELECT count(*) FROM ccroute.call_history WHERE outcome = 'answered' AND ended_at IS NOT NULL")"
check_eq "and on the standby (every commit reached it before it returned)" "2" \
	"$(ha_psql pg2 -Atc "SELECT count(*) FROM ccroute.call_history WHERE outcome = 'answered' AND ended_at IS NOT NULL")"
check_eq "the agent is ready again" ready \
	"$(psql -XAtc "SELECT state FROM ccroute.agent_state")"
check_eq "each proxy holds one connection per worker and helper, on the primary" "t" \
	"$(psql -XAtc "SELECT count(*) >= 4 FROM pg_stat_activity WHERE usename = 'kamailio'")"
check_eq "the sync guards changed nothing while the standby streamed" 0 \
	"$(cat "$STACK_DIR"/pg/guard.log "$STACK_DIR"/pg2/guard.log | grep -c synchronous_standby_names)"
tap_exit
