#!/usr/bin/env bash
# The database fails under load. sipp places 100 calls a second through Kamailio to a tenant of
# 60 agents, for 35 s; meanwhile PostgreSQL is frozen (kill -STOP, every process) at 5 s,
# thawed at 10 s, stopped (as a crash) at 15 s and started again at 20 s.
# Every INVITE must get its final answer (the agent's, or the fallback PBX's) within the
# deadline plus one second; routing must resume within 15 s of the restart; no call that went
# to the fallback may be recorded as given to an agent; and once the calls are over no agent
# may be left reserved or on a call.
source "$(dirname "$0")/../lib/e2e.sh"
# KEEP_DIR=folder keeps a copy of the run's folder (logs, server log) for a look afterwards.
[ -n "${KEEP_DIR:-}" ] && trap 'cp -r "$STACK_DIR" "$KEEP_DIR"; stack_stop' EXIT
# make bench runs it harder (tests/bench/failover.sh), through these.
RATE=${RATE:-100}
AGENTS=${AGENTS:-60}
CHILDREN=${CHILDREN:-4}
SECONDS_OF_LOAD=35
DEADLINE_MS=100

# The phones answer with 200 alone: a 180 trailing the 200 through another worker makes the
# sipp caller abort its call, which no real phone would do.
phones=$(stack_agent_start phones agent_answer.xml) && pbx=$(stack_agent_start pbx agent_answer.xml) ||
	{ tap_not_ok "sipp phones start"; exit 1; }
stack_load_fixture "$AGENTS" "$phones" || { tap_not_ok "fixture"; exit 1; }
stack_kamailio_start -A "FALLBACK_URI=\"sip:pbx@127.0.0.1:$pbx\"" -A "DB_TIMEOUT_MS=$DEADLINE_MS" -A "CHILDREN=$CHILDREN" ||
	{ tap_not_ok "kamailio starts"; exit 1; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

(cd "$STACK_DIR" && sipp -sf "$STACK_ROOT/tests/sipp/caller_uac.xml" -inf "$STACK_DIR/load.csv" \
	-i 127.0.0.1 -p "$(stack_free_port)" -r "$RATE" -m $((RATE * SECONDS_OF_LOAD)) -l 1000 \
	-nostdin -timeout $((SECONDS_OF_LOAD + 30)) -timeout_error -trace_err -error_file load.errors \
	-trace_stat -stf load_stats.csv -fd 1 -trace_rtt -rtt_freq 1 \
	"127.0.0.1:$KAM_PORT" >"$STACK_DIR/load.out" 2>&1) &
load=$!
t0=$(now_ms)

sleep 5
frozen=$(stack_pg_pids)
kill -STOP $frozen
frozen_at=$(date -u '+%Y-%m-%d %H:%M:%S.%N+00')
echo "# froze PostgreSQL at $(($(now_ms) - t0)) ms"
sleep 5
thawed_at=$(date -u '+%Y-%m-%d %H:%M:%S.%N+00')
kill -CONT $frozen
echo "# thawed at $(($(now_ms) - t0)) ms"
sleep 5
stack_pg_stop
echo "# stopped at $(($(now_ms) - t0)) ms"
sleep 5
stack_pg_restart
restarted=$(now_ms)
restarted_at=$(psql -XAtc "SELECT now()")
echo "# restarted at $((restarted - t0)) ms"
# The fallback counter, read every 200 ms for 15 s: when it last grew is when routing resumed
# on every worker; none may be added after that.
last_change=0
previous=$(stack_kamcmd ccroute.stats | sed -n 's/.*fallback: //p')
while [ $(($(now_ms) - restarted)) -lt 15000 ]; do
	sleep 0.2
	current=$(stack_kamcmd ccroute.stats | sed -n 's/.*fallback: //p')
	[ "$current" != "$previous" ] && last_change=$(($(now_ms) - restarted))
	previous=$current
done
fallbacks_at_15s=$previous
echo "# last fallback seen ${last_change} ms after the restart"
wait "$load"
check_eq "the load ran to its end: $((RATE * SECONDS_OF_LOAD)) calls" 0 $?

stats=$(tail -n 1 "$STACK_DIR/load_stats.csv")
col() { head -n 1 "$STACK_DIR/load_stats.csv" | tr ';' '\n' | grep -nx "$1" | cut -d: -f1; }
field() { echo "$stats" | cut -d';' -f"$(col "$1")"; }
check_eq "every call got its final answer and completed (sipp: failed calls)" 0 "$(field 'FailedCall(C)')"
check_eq "all $((RATE * SECONDS_OF_LOAD)) calls succeeded" $((RATE * SECONDS_OF_LOAD)) "$(field 'SuccessfulCall(C)')"
max_ms=$(cut -d';' -f2 "$STACK_DIR"/caller_uac_*_rtt.csv | grep -E '^[0-9.]+$' | sort -n | tail -n 1)
echo "# slowest final answer: ${max_ms} ms over $(grep -c . "$STACK_DIR"/caller_uac_*_rtt.csv) calls"
check_le "every final answer came within the deadline plus 1 s (slowest: ${max_ms} ms)" \
	$((DEADLINE_MS + 1000)) "${max_ms%.*}"

kam=$(stack_kamcmd ccroute.stats)
echo "$kam" | grep -E 'routed|fallback|unavailable|db_failures|breaker|events' | sed 's/^/# /'
fallbacks=$(echo "$kam" | sed -n 's/.*fallback: //p')
check_le "some calls went to the fallback while the database was away ($fallbacks)" "$fallbacks" 1
check_eq "no call was refused for want of the database (unavailable)" 0 \
	"$(echo "$kam" | sed -n 's/.*unavailable: //p')"
check_eq "the fallback PBX received exactly the fallback calls" "$fallbacks" \
	"$(grep -c . "$STACK_DIR/agents/pbx.calls")"
check_eq "no call went to the fallback later than 15 s after the restart" "$fallbacks_at_15s" "$fallbacks"
check_le "every worker routed again within 15 s of the restart (last fallback after ${last_change} ms)" 15000 "$last_change"
first_routed=$(psql -XAtc "SELECT round(extract(epoch FROM min(arrived_at) - '$restarted_at'::timestamptz) * 1000)
	FROM ccroute.call_history WHERE action = 'agent' AND arrived_at > '$restarted_at'")
check_le "routing resumed after the restart (first call to an agent after ${first_routed} ms)" 15000 "${first_routed:-99999}"

# Calls that ended while the database was frozen: their ends waited in the proxy's queue, and
# are recorded with the time the proxy saw them, not the time the database heard of them.
ended_frozen=$(psql -XAtc "SELECT count(*) FROM ccroute.call_history WHERE answered_at IS NOT NULL
	AND ended_at > '$frozen_at'::timestamptz + interval '0.05 s' AND ended_at < '$thawed_at'::timestamptz")
check_le "calls that ended during the freeze are recorded with the time they ended ($ended_frozen)" "$ended_frozen" 1

# The fallback calls' Call-IDs, as the PBX received them, against what the database recorded.
misrecorded=$(psql -XAtq <<SQL
CREATE TEMP TABLE fb (call_id text);
\copy fb FROM '$STACK_DIR/agents/pbx.calls'
SELECT count(*) FROM fb JOIN (SELECT call_id, action FROM ccroute.live_call
                              UNION ALL SELECT call_id, action FROM ccroute.call_history) c USING (call_id)
 WHERE c.action = 'agent';
SQL
)
check_eq "none of the fallback calls is recorded as given to an agent" 0 "$misrecorded"

sleep 2
check_eq "no agent is left reserved or on a call, no call left in progress" "0|0" \
	"$(psql -XAtc "SELECT (SELECT count(*) FROM ccroute.agent_state WHERE state IN ('reserved', 'on_call')) || '|' ||
		(SELECT count(*) FROM ccroute.live_call)")"
check_eq "every agent is ready" "$AGENTS" "$(psql -XAtc "SELECT count(*) FROM ccroute.agent_state WHERE state = 'ready'")"
tap_exit
