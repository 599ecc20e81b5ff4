#!/usr/bin/env bash
# make bench, SIP part: sipp places calls at rising rates through three proxies in one run, on
# one machine, against one PostgreSQL cluster with durable commits:
#   - the proxy alone (no database: every call to the same phone), the harness's ceiling;
#   - the stock way: Kamailio sqlops calling plain PL/pgSQL (pick, reserve and record on
#     INVITE; free the agent on BYE);
#   - ccroute: the shipped kamailio.cfg and module (route_call on INVITE; ringing, answered
#     and ended reported back).
# For each, the highest rate at which every call completed with no retransmission, and the
# commits and WAL bytes per call at a common rate. Writes tests/bench/results/sip_load-<date>.md.
# KAM_OPTS adds options to every proxy's command line alike (for a look at, say, Kamailio's
# other memory managers: KAM_OPTS="-x tlsf -X tlsf").
set -u
cd "$(dirname "$0")/../.."
source tests/lib/stack.sh
source tests/bench/common.sh

TENANTS=${TENANTS:-100}
AGENTS=${AGENTS:-50}
STEP_SECONDS=${STEP_SECONDS:-10}
RATES=${RATES:-"250 500 1000 1500 1750 2000 2250 2500 3000"}
COMMON_RATE=${COMMON_RATE:-1000}
CHILDREN=${CHILDREN:-8}

# sipp's own socket buffers are 64 KiB: at a few thousand packets a second, a few milliseconds
# without the CPU and the phones' socket drops ACKs and BYEs (the kernel's "receive buffer
# errors"), which comes back as retransmissions and failed calls that are the harness's, not the
# proxy's. Both sipp get the largest buffers the kernel allows (net.core.rmem_max).
SIPP_BUFF=$(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo 4194304)
export STACK_SIPP_OPTS="-buff_size $SIPP_BUFF"

bench_pg_start
phones=$(stack_agent_start phones agent_answer.xml) || exit 1

echo "Loading $TENANTS tenants of $AGENTS agents..."
load_tenants "$TENANTS" "$AGENTS" "'sip:a' || t.tenant_id || '-' || a || '@127.0.0.1:$phones'"
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 <<'SQL'
\i tests/bench/stock.sql
ANALYZE;
SQL
{
	echo RANDOM
	for i in $(seq 1 "$TENANTS"); do printf '+8131%07d;+819000000000;\n' "$i"; done
} >"$STACK_DIR/numbers.csv"

if [ -n "${DETAIL:-}" ]; then q "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null 2>&1; fi

# start_proxy NAME: Kamailio with one of the three configurations.
start_proxy() {
	case $1 in
	nodb) cfg=tests/bench/kamailio_baseline.cfg; extra=(-A "AGENT_URI=\"sip:a@127.0.0.1:$phones\"") ;;
	stock) cfg=tests/bench/kamailio_baseline.cfg
		extra=(-A STOCK -A "STOCK_DB=\"ca=>postgres://kamailio@127.0.0.1:$PGPORT/ccroute\"") ;;
	ccroute) cfg=kamailio_mod/kamailio.cfg; extra=(-A "CCROUTE_MODULE=\"$STACK_ROOT/kamailio_mod/ccroute.so\""
		-A "DB_URL=\"host=127.0.0.1 port=$PGPORT dbname=ccroute user=kamailio\"") ;;
	esac
	KAM_PORT=$(stack_free_port)
	mkdir -p "$STACK_DIR/kamailio"
	# shellcheck disable=SC2086 # KAM_OPTS: more options for every proxy alike, word-split
	kamailio -f "$cfg" -DD -E -m 512 ${KAM_OPTS:-} -Y "$STACK_DIR/kamailio" -P "$STACK_DIR/kamailio/kamailio.pid" \
		-A "LISTEN=udp:127.0.0.1:$KAM_PORT" -A "CHILDREN=$CHILDREN" \
		-A "CTL_SOCKET=\"unix:$STACK_DIR/kamailio/ctl.sock\"" "${extra[@]}" \
		>>"$STACK_DIR/kamailio/$1.log" 2>&1 &
	STACK_KAM_PID=$!
	stack_track "$STACK_KAM_PID"
	for _ in $(seq 1 100); do
		ss -Huln "sport = :$KAM_PORT" | grep -q . && return 0
		sleep 0.1
	done
	echo "kamailio ($1) did not start" >&2
	tail -n 20 "$STACK_DIR/kamailio/$1.log" >&2
	return 1
}


# tree_ticks PID: CPU time (clock ticks, user and system) of a process and its children: the
# postmaster and its backends, or Kamailio's main process and the processes it forked. Children
# that exited (autovacuum workers, say) count through the parent's reaped-children times.
tree_ticks() {
	local root=$1 t=0 p f
	for p in $(ps -e -o pid=,ppid= | awk -v r="$root" '$1 == r || $2 == r {print $1}'); do
		f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		set -- $f
		t=$((t + ${12:-0} + ${13:-0}))
	done
	f=$(sed 's/^.*) //' "/proc/$root/stat" 2>/dev/null) && { set -- $f; t=$((t + ${14:-0} + ${15:-0})); }
	echo "$t"
}
# busy_ticks: the whole machine's busy time (clock ticks over all cores, neither idle nor waiting
# for I/O), for what neither PostgreSQL nor Kamailio is charged with: the two sipp, the kernel.
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }
# udp_drops: datagrams the kernel dropped so far because a socket's receive buffer was full.
udp_drops() { awk '/^Udp:/ {if (!n++) for (i = 1; i <= NF; i++) col[$i] = i; else print $col["RcvbufErrors"]}' /proc/net/snmp; }
pg_ticks() { tree_ticks "$(head -n 1 "$STACK_DIR/pg/data/postmaster.pid")"; }
kam_ticks() { tree_ticks "$(cat "$STACK_DIR/kamailio/kamailio.pid")"; }

# step RATE: STEP_SECONDS of calls at RATE; prints "calls failed retransmissions commits wal
# pg_ticks kamailio_ticks machine_busy_ticks udp_drops".
step() {
	local rate=$1 stats lsn0 c0 calls failed retrans pg0 kam0 busy0 drops0
	# Backends report their commits to the statistics at most once a second, an idle one within
	# ten: at the step whose commits are reported, wait for them on both sides.
	[ "$rate" = "$COMMON_RATE" ] && sleep 11
	pg0=$(pg_ticks)
	kam0=$(kam_ticks)
	busy0=$(busy_ticks)
	drops0=$(udp_drops)
	lsn0=$(q "SELECT pg_current_wal_lsn()")
	[ -n "${DETAIL:-}" ] && [ "$rate" = "$COMMON_RATE" ] &&
		q "SELECT pg_stat_statements_reset()" >/dev/null 2>&1
	c0=$(q "SELECT xact_commit FROM pg_stat_database WHERE datname = 'ccroute'")
	rm -f "$STACK_DIR"/step_stats.csv
	(cd "$STACK_DIR" && sipp -sf "$STACK_ROOT/tests/sipp/caller_uac.xml" -inf "$STACK_DIR/numbers.csv" \
		-i 127.0.0.1 -p "$(stack_free_port)" $STACK_SIPP_OPTS -r "$rate" -m $((rate * STEP_SECONDS)) -l 5000 \
		-nostdin -timeout $((STEP_SECONDS + 30)) -timeout_error -trace_err -error_file step.errors \
		-trace_stat -stf step_stats.csv -fd 1 "127.0.0.1:$KAM_PORT" >"$STACK_DIR/step.out" 2>&1)
	sleep 1
	[ "$rate" = "$COMMON_RATE" ] && sleep 10
	# The summary sipp prints on exit, once every call has ended (the statistics file's last
	# line can be written before the last calls end).
	summary() { sed -n "s/^ *$1 *|[^|]*| *\([0-9]*\).*/\1/p" "$STACK_DIR/step.out" | tail -n 1; }
	calls=$(summary 'Successful call')
	failed=$(summary 'Failed call')
	stats=$(tail -n 1 "$STACK_DIR/step_stats.csv")
	retrans=$(echo "$stats" | cut -d';' -f"$(head -n 1 "$STACK_DIR/step_stats.csv" | tr ';' '\n' | grep -nx 'Retransmissions(C)' | cut -d: -f1)")
	if [ -n "${DETAIL:-}" ] && [ "$rate" = "$COMMON_RATE" ]; then
		# For a closer look (DETAIL=prefix): the step's WAL by record type, and its statements
		# when pg_stat_statements is loaded (BENCH_PG_CONF).
		stack_as_pg "$STACK_PG_BIN/pg_waldump" --stats=record -p "$STACK_DIR/pg/data/pg_wal" \
			-s "$lsn0" -e "$(q "SELECT pg_current_wal_lsn()")" >"$DETAIL-$PROXY_NAME-wal.txt" 2>&1
		psql -X -c "SELECT calls, round(total_exec_time::numeric, 1) AS ms,
			round((total_exec_time / calls)::numeric, 3) AS ms_each, left(regexp_replace(query, '\s+', ' ', 'g'), 90)
			FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25" \
			>"$DETAIL-$PROXY_NAME-statements.txt" 2>&1
	fi
	echo "$calls $failed $retrans $(q "SELECT xact_commit - $c0 FROM pg_stat_database WHERE datname = 'ccroute'") $(q "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')") $(($(pg_ticks) - pg0)) $(($(kam_ticks) - kam0)) $(($(busy_ticks) - busy0)) $(($(udp_drops) - drops0))"
}

# per_call TICKS CALLS: milliseconds of CPU per call.
per_call() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN {if (n > 0) printf "%.3f", t * 1000 / hz / n; else print "-"}'; }

# measure NAME: rising rates until a step fails or retransmits; prints a table row.
measure() {
	local name=$1 best=0 rate calls failed retrans commits wal pgt kamt busy drops per_commit=- per_wal=- pg_cpu=- kam_cpu=- rest_cpu=-
	PROXY_NAME=$name
	reset_agents
	start_proxy "$name" || { echo "| $name | did not start | | | |"; return; }
	# A first step warms the proxy's connections and the router's caches up.
	step "$COMMON_RATE" >/dev/null
	for rate in $RATES; do
		read -r calls failed retrans commits wal pgt kamt busy drops < <(step "$rate")
		echo "  $name at $rate calls/s: $calls completed, $failed failed, $retrans retransmissions," \
			"$drops datagrams dropped by full socket buffers;" \
			"CPU ms/call: postgres $(per_call "$pgt" "$calls"), kamailio $(per_call "$kamt" "$calls")," \
			"rest $(per_call $((busy - pgt - kamt)) "$calls")" >&2
		if [ "$rate" = "$COMMON_RATE" ] && [ "${calls:-0}" -gt 0 ]; then
			per_commit=$(awk -v c="$commits" -v n="$calls" 'BEGIN {printf "%.2f", c / n}')
			per_wal=$(awk -v w="$wal" -v n="$calls" 'BEGIN {printf "%.0f", w / n}')
			pg_cpu=$(per_call "$pgt" "$calls")
			kam_cpu=$(per_call "$kamt" "$calls")
			rest_cpu=$(per_call $((busy - pgt - kamt)) "$calls")
		fi
		[ "${failed:-1}" = 0 ] && [ "${retrans:-1}" = 0 ] && [ "${calls:-0}" = $((rate * STEP_SECONDS)) ] || break
		best=$rate
		reset_agents
	done
	stack_kamailio_stop
	echo "$best" >"$STACK_DIR/$name.best"
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$best" "$per_commit" "$per_wal" "$pg_cpu" "$kam_cpu" "$rest_cpu"
}

echo "Measuring: rates $RATES, ${STEP_SECONDS}s each..."
# PROXIES picks some of them, for a quick look; the report's ratio needs stock and ccroute.
rows=$(for p in ${PROXIES:-nodb stock ccroute}; do measure "$p"; done)
best() { cat "$STACK_DIR/$1.best" 2>/dev/null || echo 0; }
ratio=$(awk -v a="$(best ccroute)" -v b="$(best stock)" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')

mkdir -p tests/bench/results
report=tests/bench/results/sip_load-$(date -u +%Y-%m-%d).md
cat >"$report" <<EOF
# SIP load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')

Command: \`make bench\` (tests/bench/sip_load.sh; TENANTS=$TENANTS, AGENTS=$AGENTS,
STEP_SECONDS=$STEP_SECONDS, RATES="$RATES", CHILDREN=$CHILDREN).
Machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(uname -r); Kamailio $(kamailio -v | sed -n 's/^version: kamailio \([^ ]*\).*/\1/p'),
PostgreSQL $(q 'SHOW server_version'), sipp callers and phones on the same machine (UDP, loopback).
Durability: synchronous_commit = $(q 'SHOW synchronous_commit'), fsync = $(q 'SHOW fsync'),
full_page_writes = $(q 'SHOW full_page_writes').
Data: $TENANTS tenants x $AGENTS agents, all ready; each call dials a random tenant's number, is
answered at once (200, no 180: tests/sipp/agent_answer.xml), lasts 200 ms and is hung up by the
caller.

| proxy | highest rate with every call completed and no retransmission (calls/s) | commits per call | WAL bytes per call | PostgreSQL CPU ms per call | Kamailio CPU ms per call | rest of the machine's CPU ms per call |
| --- | --- | --- | --- | --- | --- | --- |
$rows

Rates tried: $RATES (${STEP_SECONDS} s each, after a warm-up step); a rate counts only if every
call of its step completed without a single retransmission. ccroute / stock: **$ratio**.
Commits, WAL and CPU per call are measured over the step at $COMMON_RATE calls/s (CPU: user and
system time of the postmaster and its backends, and of Kamailio's processes; the rest is the
machine's other busy time, mostly the two sipp and the kernel's). When the proxy alone (nodb) tops out at about the same rate as the others, the
highest rate measures the machine, not the database work: the CPU per call then tells them apart.

- nodb: the proxy alone, no database (tests/bench/kamailio_baseline.cfg).
- stock: the same proxy with sqlops calling stock.route() on INVITE and stock.release() on BYE
  (tests/bench/stock.sql): two commits per call.
- ccroute: the shipped kamailio_mod/kamailio.cfg: route_call on INVITE (one commit), with the
  tenant's limits, hours, strategy, explanation, agent state and history;
  the call's answer and end are queued by the proxy and sent with other calls' in one
  call_events statement every event_interval_ms (10 ms): one commit per batch.
EOF
cat "$report"
