#!/usr/bin/env bash
# End to end: real sipp callers dial through a real Kamailio with the ccroute module, which asks
# the real extension in a throwaway PostgreSQL cluster; real sipp agents answer.
source "$(dirname "$0")/../lib/e2e.sh"
alice=$(stack_agent_start alice) && bob=$(stack_agent_start bob) &&
	fallback=$(stack_agent_start fallback) && dan=$(stack_agent_start dan) &&
	erin=$(stack_agent_start erin agent_busy.xml) || { tap_not_ok "sipp agents start"; exit 1; }

psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba <<SQL || { tap_not_ok "test tenants load"; exit 1; }
SELECT ccroute.create_tenant('acme'), ccroute.create_tenant('gone');
SELECT ccroute.add_did('acme', '+81312345678', NULL, 'sip:alice@127.0.0.1:$alice');
SELECT ccroute.add_did('acme', '+81312345679', NULL, 'sip:bob@127.0.0.1:$bob');
SELECT ccroute.add_did('gone', '+81399999999', NULL, 'sip:alice@127.0.0.1:$alice');
SELECT ccroute.cancel_tenant('gone');
SELECT ccroute.create_person('acme', 'tenant_admin', 'admin', 'Admin');
SQL
# A skill with two agents: Erin, whose phone is always busy and who has waited longest, and Dan.
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U acme.admin <<SQL || { tap_not_ok "test agents load"; exit 1; }
INSERT INTO ccroute.skill (name) VALUES ('support');
INSERT INTO ccroute.agent (name, extension, contact_uri, wrapup_seconds) VALUES
  ('Erin', '105', 'sip:erin@127.0.0.1:$erin', 0), ('Dan', '104', 'sip:dan@127.0.0.1:$dan', 0);
INSERT INTO ccroute.agent_skill (agent_id, skill_id) SELECT agent_id, skill_id FROM ccroute.agent, ccroute.skill;
SELECT ccroute.set_agent_state('105', 'ready');
SELECT pg_sleep(0.05);
SELECT ccroute.set_agent_state('104', 'ready');
SQL
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba -c "SELECT ccroute.add_did('acme', '+81312345670', 'support')"

# Dialogs time out after 5 s here (4 hours in the shipped configuration), for the lost-BYE test.
stack_kamailio_start -A "DIALOG_TIMEOUT=5" || { tap_not_ok "kamailio loads the module and starts"; exit 1; }
tap_ok "kamailio loads the module and starts"

# --- Calls to two numbers reach the agents the database names, and every one is recorded.
csv=$STACK_DIR/calls.csv
printf 'SEQUENTIAL\n+81312345678;+819011110001;\n+81312345679;+819011110002;\n' >"$csv"
stack_calls "$csv" 10
check_eq "ten calls complete (INVITE, 200, ACK, BYE)" 0 $?
check_eq "every call is recorded once" 10 "$(psql -XAtc 'SELECT count(DISTINCT call_id) FROM ccroute.call_log')"
misrouted=0
for agent in alice bob; do
	port=${!agent}
	while read -r cid; do
		[ -n "$cid" ] || continue
		target=$(psql -XAtc "SELECT target FROM ccroute.call_log WHERE call_id = '$cid'")
		[ "$target" = "sip:$agent@127.0.0.1:$port" ] || misrouted=$((misrouted + 1))
	done <"$STACK_DIR/agents/$agent.calls"
done
check_eq "alice received the five calls to her number" 5 "$(grep -c . "$STACK_DIR/agents/alice.calls")"
check_eq "bob received the five calls to his number" 5 "$(grep -c . "$STACK_DIR/agents/bob.calls")"
check_eq "each agent received exactly the calls the database routed to it" 0 "$misrouted"

# --- Call facts: the caller's IVR choice (X-IVR-Choice) reaches the router as JSON, exactly as
# sent, whatever it holds (sipp cuts its input at ";": the SQL has none); a header
# too long for a fact is left out, and the call still routes.
cat >"$STACK_DIR/facts.csv" <<'CSV'
SEQUENTIAL
+81312345678;+819011110010;2
+81312345678;+819011110011;'),(DROP/**/TABLE/**/ccroute.agent)--"\x
CSV
printf '+81312345678;+819011110012;%s\n' "$(head -c 300 /dev/zero | tr '\0' 'x')" >>"$STACK_DIR/facts.csv"
stack_calls "$STACK_DIR/facts.csv" 3
check_eq "three calls with IVR choices complete" 0 $?
fact() {
	psql -XAtc "SELECT $1 FROM (SELECT caller, facts, action FROM ccroute.live_call
		UNION ALL SELECT caller, facts, action FROM ccroute.call_history) c WHERE caller = '$2'"
}
check_eq "the choice is a call fact" '{"ivr_choice": "2"}' "$(fact facts +819011110010)"
check_eq "quotes, SQL and a backslash in the header are stored as sent" \
	"'),(DROP/**/TABLE/**/ccroute.agent)--\"\\x" "$(fact "facts->>'ivr_choice'" +819011110011)"
check_eq "a 300-byte header is left out of the facts; the call is routed" '{}|destination' \
	"$(fact "facts::text || '|' || action" +819011110012)"
check_eq "the agents table is still there" 1 "$(psql -XAtc "SELECT count(*) FROM pg_tables WHERE tablename = 'agent'")"

# --- A call to a skill: offered to Erin, whose phone says busy, then to Dan, who answers; the
# proxy reports each step, so the call ends in history and both agents are free again.
printf 'SEQUENTIAL\n+81312345670;+819011110007;\n' >"$STACK_DIR/skill.csv"
stack_calls "$STACK_DIR/skill.csv" 1
check_eq "a call to a skill completes" 0 $?
check_eq "Erin's busy phone was offered the call first" 1 "$(grep -c . "$STACK_DIR/agents/erin.calls")"
check_eq "Dan answered it" 1 "$(grep -c . "$STACK_DIR/agents/dan.calls")"
sleep 0.3
check_eq "history: answered by Dan on the second attempt, with talk time" "answered|Dan|2|t" \
	"$(psql -XAtc "SELECT h.outcome, a.name, h.attempts, h.talk_seconds > 0 FROM ccroute.call_history h
		JOIN ccroute.agent a USING (tenant_id, agent_id) WHERE h.dialed = '+81312345670'")"
check_eq "Dan is ready again with the call counted; Erin is ready with one refusal counted" "Dan|ready|1|0 Erin|ready|0|1" \
	"$(psql -XAtc "SELECT string_agg(st.name || '|' || st.state || '|' || s.calls_today || '|' || s.no_answer_streak, ' ' ORDER BY st.name)
		FROM ccroute.agent_status st JOIN ccroute.agent_state s USING (tenant_id, agent_id)")"
check_eq "no call is left in progress after the calls ended" 0 "$(psql -XAtc "SELECT count(*) FROM ccroute.live_call")"

# --- A call whose BYE is lost: the caller is answered by Dan and then never hangs up. The dialog
# times out, the proxy sends BYE both ways and reports the end: Dan is free again.
printf 'SEQUENTIAL\n+81312345670;+819011110009;\n' >"$STACK_DIR/nobye.csv"
(cd "$STACK_DIR" && sipp -sf "$STACK_ROOT/tests/sipp/caller_nobye.xml" -inf "$STACK_DIR/nobye.csv" \
	-i 127.0.0.1 -p "$(stack_free_port)" -m 1 -nostdin -timeout 30 -timeout_error -trace_err \
	-error_file nobye.errors "127.0.0.1:$KAM_PORT" >"$STACK_DIR/nobye.out" 2>&1)
check_eq "the caller that never hung up got the proxy's BYE" 0 $?
# The end is reported from the dialog module's timer process, which may first have to connect
# (or leave it to the module's background process): give it up to 5 s.
for _ in $(seq 1 50); do
	[ "$(psql -XAtc "SELECT count(*) FROM ccroute.call_history WHERE caller = '+819011110009'")" = 1 ] && break
	sleep 0.1
done
check_eq "the call is in history as answered, ended by the 5 s dialog timeout" "answered|Dan|t" \
	"$(psql -XAtc "SELECT h.outcome, a.name, h.ended_at - h.answered_at BETWEEN interval '4 s' AND interval '9 s'
		FROM ccroute.call_history h JOIN ccroute.agent a USING (tenant_id, agent_id) WHERE h.caller = '+819011110009'")"
check_eq "Dan is ready again, with both calls counted" "ready|2" \
	"$(psql -XAtc "SELECT st.state || '|' || s.calls_today FROM ccroute.agent_status st
		JOIN ccroute.agent_state s USING (tenant_id, agent_id) WHERE st.name = 'Dan'")"

# --- A destination that refuses a call: the caller hears its 486, the call ends in history.
psql -X -q -o /dev/null -U dba -c "SELECT ccroute.add_did('acme', '+81312345671', NULL, 'sip:busy@127.0.0.1:$erin')"
printf 'SEQUENTIAL\n+81312345671;+819011110008;\n' >"$STACK_DIR/busy.csv"
stack_rejected_call "$STACK_DIR/busy.csv" 486
check_eq "a busy destination's 486 reaches the caller" 0 $?
sleep 0.3
check_eq "the refused call is in history as busy, nothing left in progress" "busy|0" \
	"$(psql -XAtc "SELECT (SELECT outcome FROM ccroute.call_history WHERE dialed = '+81312345671'),
		(SELECT count(*) FROM ccroute.live_call)" | tr '\n' ' ' | sed 's/ $//')"

# --- Calls the database refuses get a clear SIP status, not silence.
printf 'SEQUENTIAL\n+81300000000;+819011110003;\n' >"$STACK_DIR/unknown.csv"
stack_rejected_call "$STACK_DIR/unknown.csv" 404
check_eq "an unknown number is answered 404" 0 $?
printf 'SEQUENTIAL\n12ab34;+819011110004;\n' >"$STACK_DIR/malformed.csv"
stack_rejected_call "$STACK_DIR/malformed.csv" 404
check_eq "a malformed dialed number is answered 404" 0 $?
printf 'SEQUENTIAL\n+81399999999;+819011110005;\n' >"$STACK_DIR/cancelled.csv"
stack_rejected_call "$STACK_DIR/cancelled.csv" 410
check_eq "a cancelled tenant's number is answered 410" 0 $?
check_eq "the cancelled tenant's refused call is recorded" 1 \
	"$(psql -XAtc "SELECT count(*) FROM ccroute.call_log WHERE dialed = '+81399999999' AND action = 'reject'")"

# --- The database goes away: every INVITE is still answered, promptly, with 503.
stack_pg_stop
started=$(date +%s%N)
stack_rejected_call "$csv" 503
check_eq "with the database down a call is answered 503" 0 $?
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
check_le "the 503 comes within 2 s (measured ${elapsed_ms} ms)" 2000 "$elapsed_ms"

# Failures in a row open the breaker all workers share: calls no longer wait for the database.
for _ in 1 2 3 4 5 6; do stack_rejected_call "$csv" 503 || break; done
status=$(stack_kamcmd ccroute.status)
check_eq "after failures in a row the breaker is open (kamcmd ccroute.status)" 1 \
	"$(echo "$status" | grep -c 'breaker: open')"
stats=$(stack_kamcmd ccroute.stats)
check_le "calls were answered without asking the database (breaker_skipped)" \
	"$(echo "$stats" | sed -n 's/.*breaker_skipped: //p')" 1
check_le "every call while it was away was counted unavailable (ccroute.stats)" \
	"$(echo "$stats" | sed -n 's/.*unavailable: //p')" 7
started=$(date +%s%N)
stack_rejected_call "$csv" 503
check_le "with the breaker open a call is answered 503 at once ($((($(date +%s%N) - started) / 1000000)) ms)" \
	1000 $((($(date +%s%N) - started) / 1000000))

# --- The database comes back: the probe closes the breaker, and every worker routes again at
# once (the breaker's closing cancels their reconnection backoff), without restarting Kamailio.
stack_pg_restart
started=$(date +%s%N)
closed=1
for _ in $(seq 1 50); do
	if stack_kamcmd ccroute.status | grep -q 'breaker: closed'; then closed=0; break; fi
	sleep 0.1
done
check_eq "the probe closes the breaker once the database is back" 0 "$closed"
all_routed=1
for _ in $(seq 1 20); do
	if stack_calls "$csv" 8; then all_routed=0; break; fi
	sleep 0.25
done
resumed_ms=$((($(date +%s%N) - started) / 1000000))
check_eq "every worker routes calls again" 0 "$all_routed"
check_le "routing resumed within 5 s of the restart (measured ${resumed_ms} ms)" 5000 "$resumed_ms"
# The module's two router processes, which decide the calls; the SIP workers that next use
# the database themselves; the dialog timer process, which reported the timed-out call's end,
# and the module's background process if it had something to send. A process connects again
# when it next needs to, and the kernel may hand a few quick calls to few workers: more calls
# are placed until at least four connections are held (up to ten rounds of eight).
for _ in $(seq 1 10); do
	connected=$(stack_kamcmd ccroute.status | sed -n 's/.*connected_workers: //p')
	[ "${connected:-0}" -ge 4 ] && break
	stack_calls "$csv" 8 || true
done
check_le "the module's processes hold their connections again ($connected)" "${connected:-0}" 4

# --- The server ends the proxy's idle connections, saying why first (a server stopped or
# restarted, the old primary after a failover): each worker sees it before its next call and
# connects again at once, so no call pays for it.
failures_before=$(stack_kamcmd ccroute.stats | sed -n 's/.*db_failures: //p')
ended=$(psql -XAtc "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'kamailio'")
check_le "the server ends the proxy's connections ($ended of them)" "$ended" 1
sleep 0.3
stack_calls "$csv" 8
check_eq "calls after the server ended the connections are routed" 0 $?
check_eq "no call paid for a closed connection (db_failures unchanged)" "$failures_before" \
	"$(stack_kamcmd ccroute.stats | sed -n 's/.*db_failures: //p')"

# --- Several servers and no target_session_attrs: every server is tried at once, and the module
# asks each for a read-write session, so a server listed first that takes no writes (a standby;
# here one whose sessions are read-only) is never kept, however fast it answers.
ro=$STACK_DIR/ro
ro_port=$(stack_free_port)
mkdir -p "$ro" && chown "$STACK_PG_USER" "$ro" 2>/dev/null
stack_as_pg "$STACK_PG_BIN/initdb" -D "$ro/data" -U "$STACK_PG_USER" -A trust -E UTF8 \
	--locale=C.UTF-8 >"$ro/initdb.log" 2>&1
cat >>"$ro/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $ro_port
unix_socket_directories = '$ro'
default_transaction_read_only = on
EOF
echo "$ro/data" >>"$STACK_DIR/clusters"
stack_as_pg "$STACK_PG_BIN/pg_ctl" -D "$ro/data" -l "$ro/server.log" -w -t 60 start >/dev/null &&
	PGOPTIONS='-c default_transaction_read_only=off' psql -X -q -h "$ro" -p "$ro_port" -d postgres \
		-c "CREATE ROLE kamailio LOGIN" -c "CREATE DATABASE ccroute" >/dev/null
check_eq "a read-only server takes the proxy's login" t \
	"$(psql -XAt -h 127.0.0.1 -p "$ro_port" -U kamailio -c "SHOW default_transaction_read_only" | sed 's/^on$/t/')"
stack_kamailio_stop
log_from=$(($(wc -l <"$STACK_DIR/kamailio/kamailio.log") + 1))
STACK_DB_URL="host=127.0.0.1,127.0.0.1 port=$ro_port,$PGPORT dbname=ccroute user=kamailio" \
	stack_kamailio_start || tap_not_ok "kamailio restarts with two servers"
stack_calls "$csv" 8
check_eq "calls through a db_url whose first server is read-only are routed" 0 $?
check_eq "no process was kept on the read-only server (no failed prepare or call, no warning)" 0 \
	"$(tail -n +"$log_from" "$STACK_DIR/kamailio/kamailio.log" | grep -c 'failed:\|db_url lists')"

# --- With a fallback destination, calls go to the other PBX while the database is down.
stack_kamailio_stop
stack_kamailio_start -A "FALLBACK_URI=\"sip:pbx@127.0.0.1:$fallback\"" ||
	tap_not_ok "kamailio restarts with a fallback"
stack_pg_stop
before=$(grep -c . "$STACK_DIR/agents/fallback.calls")
stack_calls "$csv" 4
check_eq "with the database down and a fallback, calls complete" 0 $?
check_eq "those calls reached the fallback PBX" 4 \
	$(($(grep -c . "$STACK_DIR/agents/fallback.calls") - before))

tap_exit
