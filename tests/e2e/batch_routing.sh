#!/usr/bin/env bash
# Calls decided in batches by the module's router process (kamailio.cfg ROUTERS, modparam
# routers): the calls that arrive while one batch is being decided go together in the next, one
# route_calls statement and one commit for all of them. Each must be routed as if alone, every
# Call-ID must reach the database as sent whatever it holds, and a call the database refuses
# must cost that call only: the others of its batch are routed.
source "$(dirname "$0")/../lib/e2e.sh"

phones=$(stack_agent_start phones agent_answer.xml) || { tap_not_ok "sipp phones start"; exit 1; }
stack_load_fixture 300 "$phones" || { tap_not_ok "fixture"; exit 1; }
# One router, so that every batch is the calls that queued behind the one before; a deadline
# long enough to outlast the short freezes below.
stack_kamailio_start -A "ROUTERS=1" -A "DB_TIMEOUT_MS=1500" -A "CHILDREN=8" ||
	{ tap_not_ok "kamailio starts"; exit 1; }

# freeze SECONDS: PostgreSQL stops answering for a moment (every process), so that calls queue.
freeze() {
	local p
	p=$(stack_pg_pids)
	kill -STOP $p
	sleep "$1"
	kill -CONT $p
}
stat() { stack_kamcmd ccroute.stats | sed -n "s/^[[:space:]]*$1: //p"; }
# calls_in_db CALL_ID_PATTERN [CALLER]: "calls distinct_call_ids given_to_agents" recorded
# (in progress or ended) whose Call-ID matches the LIKE pattern, from that caller if one is given.
calls_in_db() {
	psql -XAtc "SELECT count(*) || ' ' || count(DISTINCT call_id) || ' ' || count(*) FILTER (WHERE action = 'agent')
		FROM (SELECT caller, call_id, action FROM ccroute.live_call UNION ALL
		      SELECT caller, call_id, action FROM ccroute.call_history) c
		WHERE call_id LIKE '$1' AND ('${2:-}' = '' OR caller = '${2:-}')"
}
# caller SCENARIO CSV COUNT RATE NAME [CALL_ID_FORMAT]: COUNT calls at RATE a second (sipp's
# -cid_str: how it makes the calls' Call-IDs).
caller() {
	(cd "$STACK_DIR" && sipp -sf "$1" -inf "$2" -i 127.0.0.1 -p "$(stack_free_port)" -m "$3" -r "$4" \
		-l 1000 -nostdin -timeout 60 -timeout_error -trace_err -error_file "$5.errors" \
		-cid_str "${6:-%u-%p@%s}" -trace_stat -stf "$5.csv" -fd 1 "127.0.0.1:$KAM_PORT" >"$STACK_DIR/$5.out" 2>&1)
}
completed() { sed -n "s/^ *Successful call *|[^|]*| *\([0-9]*\).*/\1/p" "$STACK_DIR/$1.out" | tail -n 1; }
failed() { sed -n "s/^ *Failed call *|[^|]*| *\([0-9]*\).*/\1/p" "$STACK_DIR/$1.out" | tail -n 1; }

# --- Under load, with a pause: 600 calls at 200 a second; PostgreSQL is frozen for 200 ms after
# one second, so that the calls arriving meanwhile wait for the router together.
caller "$STACK_ROOT/tests/sipp/caller_uac.xml" "$STACK_DIR/load.csv" 600 200 load &
load=$!
sleep 1
freeze 0.2
wait "$load"
check_eq "600 calls under load complete, none failed" "600 0" "$(completed load) $(failed load)"
batches=$(stat batches)
batched=$(stat batched_calls)
echo "# the router decided $batched calls in $batches statements"
check_eq "every call was decided by the router" 600 "$batched"
check_le "calls that arrived together were decided together (fewer statements than calls)" \
	$((batched - 1)) "$batches"
check_eq "each call is recorded once, given to an agent" "600 600 600" "$(calls_in_db '%')"
sleep 2
check_eq "no agent is left reserved or on a call" 0 \
	"$(psql -XAtc "SELECT count(*) FROM ccroute.agent_state WHERE state <> 'ready'")"

# --- Call-IDs holding what an array literal quotes: " \ { } , and the word NULL. (A Call-ID
# may hold all of them but the comma, RFC 3261 25.1; the comma, in the caller's number.)
printf 'SEQUENTIAL\n+81355500000;+8190555,0000;\n' >"$STACK_DIR/odd.csv"
p=$(stack_pg_pids)
kill -STOP $p
caller "$STACK_ROOT/tests/sipp/caller_uac.xml" "$STACK_DIR/odd.csv" 20 200 odd '%u-%p@%s"\{NULL}x' &
odd=$!
sleep 0.3
kill -CONT $p
wait "$odd"
check_eq "20 calls whose Call-IDs hold quotes, a backslash, braces and NULL complete" "20 0" "$(completed odd) $(failed odd)"
check_eq "their Call-IDs are recorded as sent, each once, given to agents" "20 20 20" \
	"$(calls_in_db '%"\\{NULL}x')"
check_eq "so is the caller's number with a comma" 20 \
	"$(psql -XAtc "SELECT count(*) FROM (SELECT caller FROM ccroute.live_call UNION ALL
		SELECT caller FROM ccroute.call_history) c WHERE caller = '+8190555,0000'")"

# --- A call the database refuses, in a batch with others: its Call-ID is not UTF-8 (0xff).
# A first call holds the router while PostgreSQL is frozen; the refused call and five others
# queue behind it and go in one batch, which the database refuses whole: the router then asks
# for each call alone. The five are routed, the refused one answered 503.
sed 's/@STATUS@/503/g' "$STACK_ROOT/tests/sipp/caller_rejected.xml.in" >"$STACK_DIR/refused.xml"
printf 'SEQUENTIAL\n+81355500000;+819055500001;\n' >"$STACK_DIR/refused.csv"
printf 'SEQUENTIAL\n+81355500000;+819055500002;\n' >"$STACK_DIR/five.csv"
printf 'SEQUENTIAL\n+81355500000;+819055500003;\n' >"$STACK_DIR/first.csv"
refused_before=$(grep -c 'route_calls failed' "$STACK_DIR/kamailio/kamailio.log")
p=$(stack_pg_pids)
kill -STOP $p
caller "$STACK_ROOT/tests/sipp/caller_uac.xml" "$STACK_DIR/first.csv" 1 10 first &
first=$!
sleep 0.2
caller "$STACK_DIR/refused.xml" "$STACK_DIR/refused.csv" 1 10 refused "$(printf '%%u-%%p@%%s\xff')" &
refused=$!
caller "$STACK_ROOT/tests/sipp/caller_uac.xml" "$STACK_DIR/five.csv" 5 100 five &
five=$!
sleep 0.3
kill -CONT $p
wait "$first" "$refused" "$five"
check_eq "the call that held the router completes" "1 0" "$(completed first) $(failed first)"
check_eq "the five calls batched with the refused one complete" "5 0" "$(completed five) $(failed five)"
check_eq "the refused call is answered 503" "1 0" "$(completed refused) $(failed refused)"
check_le "the database refused a batch, and the router asked for each call alone" \
	"$(grep -c 'route_calls failed' "$STACK_DIR/kamailio/kamailio.log")" $((refused_before + 1))
check_eq "the five are recorded, given to agents" "5 5 5" \
	"$(calls_in_db % +819055500002)"
check_eq "nothing is recorded of the refused call" 0 \
	"$(psql -XAtc "SELECT count(*) FROM ccroute.call_log WHERE caller = '+819055500001'")"
check_eq "a refusal is not a database failure: the breaker stayed closed, no failure counted" "closed 0" \
	"$(stack_kamcmd ccroute.status | sed -n 's/^[[:space:]]*breaker: //p') $(stat db_failures)"

# --- Under load a router lets calls gather (batch_wait_us, kamailio.cfg BATCH_WAIT_US) before
# it takes them. At 200 calls a second they come 5 ms apart and a batch is decided in less:
# without the wait each would go alone. A short freeze makes one batch of many, the sign of
# load; with 20 ms to gather, the later batches carry several calls each.
stack_kamailio_stop
# Out of range (more than a quarter of the 1,500 ms deadline): refused at start, with the limit.
if stack_kamailio_start -A "ROUTERS=1" -A "DB_TIMEOUT_MS=1500" -A "BATCH_WAIT_US=400000" 2>/dev/null; then
	tap_not_ok "kamailio refuses batch_wait_us above a quarter of the deadline"
	stack_kamailio_stop
else
	check_le "kamailio refuses batch_wait_us above a quarter of the deadline, saying why" \
		"$(grep -c 'batch_wait_us must be between 0 and a quarter of timeout_ms (375000 us), not 400000' \
			"$STACK_DIR/kamailio/kamailio.log")" 1
fi
stack_kamailio_start -A "ROUTERS=1" -A "DB_TIMEOUT_MS=1500" -A "CHILDREN=8" -A "BATCH_WAIT_US=20000" ||
	{ tap_not_ok "kamailio starts with batch_wait_us"; exit 1; }
printf 'SEQUENTIAL\n+81355500000;+819055500005;\n' >"$STACK_DIR/gather.csv"
caller "$STACK_ROOT/tests/sipp/caller_uac.xml" "$STACK_DIR/gather.csv" 400 200 gather &
gather=$!
sleep 0.3
freeze 0.1
wait "$gather"
check_eq "400 calls with a 20 ms gathering complete, none failed" "400 0" "$(completed gather) $(failed gather)"
batches=$(stat batches)
batched=$(stat batched_calls)
echo "# with batch_wait_us = 20000 the router decided $batched calls in $batches statements"
check_eq "every call was decided by the router" 400 "$batched"
check_le "calls 5 ms apart were gathered: at least 2 calls a statement" $((batched / 2)) "$batches"
check_eq "each call is recorded once, given to an agent" "400 400 400" \
	"$(calls_in_db % +819055500005)"

# --- A database whose extension has no route_calls (older than 0.8, not yet updated): the
# routers keep their connections and ask for each call alone, with a warning.
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null <<'SQL' || tap_not_ok "route_calls removed"
ALTER EXTENSION ccroute DROP FUNCTION ccroute.route_calls(text[], text[], text[], jsonb[], timestamptz);
DROP FUNCTION ccroute.route_calls(text[], text[], text[], jsonb[], timestamptz);
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'kamailio';
SQL
printf 'SEQUENTIAL\n+81355500000;+819055500004;\n' >"$STACK_DIR/old.csv"
p=$(stack_pg_pids)
kill -STOP $p
caller "$STACK_ROOT/tests/sipp/caller_uac.xml" "$STACK_DIR/old.csv" 1 10 old_first &
first=$!
sleep 0.2
caller "$STACK_ROOT/tests/sipp/caller_uac.xml" "$STACK_DIR/old.csv" 5 100 old_five &
five=$!
sleep 0.3
kill -CONT $p
wait "$first" "$five"
check_eq "without route_calls, calls queued together still complete" "1 0 5 0" \
	"$(completed old_first) $(failed old_first) $(completed old_five) $(failed old_five)"
check_eq "they are recorded, given to agents" "6 6 6" \
	"$(calls_in_db % +819055500004)"
check_le "the routers said why they ask for each call alone" \
	"$(grep -c 'route_calls is missing' "$STACK_DIR/kamailio/kamailio.log")" 1
tap_exit
