#!/usr/bin/env bash
# make bench, SIP part: sipp places calls at rising rates through four proxies in one run, on
# one machine, against one PostgreSQL cluster with durable commits:
#   - the proxy alone (no database: every call to the same phone), the harness's ceiling;
#   - the stock way: Kamailio sqlops calling plain PL/pgSQL (pick, reserve and record on
#     INVITE; free the agent on BYE);
#   - ccroute: the shipped kamailio.cfg and module (the router processes decide the INVITEs in
#     batches, route_calls; ringing, answered and ended reported back);
#   - ccroute_unbatched: the same with routers = 0 (each worker asks route_call itself).
# For each, the highest rate at which every call completed with no retransmission, and the
# commits and WAL bytes per call at a common rate. Writes tests/bench/results/sip_load-<date>.md.
# KAM_OPTS: options added to every proxy's command line alike; by default Kamailio's tlsf memory
# manager, as kamailio_mod/doc/ccroute.md recommends ("Running it under load") (KAM_OPTS="" for its default, q_malloc).
set -u
cd "$(dirname "$0")/../.."
source tests/lib/stack.sh
source tests/bench/common.sh

TENANTS=${TENANTS:-100}
AGENTS=${AGENTS:-50}
STEP_SECONDS=${STEP_SECONDS:-10}
# Steps of 125 from 1,500 (where the stock way stops): a step of 500 there once made its limit
# anything between 1,500 and 2,000, and the ratio with it.
RATES=${RATES:-"250 500 1000 1500 1625 1750 1875 2000 2125 2250 2375 2500 2625 2750 2875 3000 3250 3500 4000"}
COMMON_RATE=${COMMON_RATE:-1000}
# SIP workers per proxy, the same for all. A worker that waits for the database (its own query,
# or a router's batch) holds its process meanwhile: a proxy stops where the calls per second
# times each INVITE's wait reach its workers (Little's law), which with 8 workers and batches
# (gathering and commit, 3-4 ms an INVITE) came at about 2,200 calls/s with a third of the CPU
# idle, before the database or the CPU mattered. With 16 the stock way's limit did not move
# (1,750 against 1,625 with 8, 2026-12-01 20:07 and 20:16 UTC) and ccroute's went from 2,125 to
# 2,750: the rates then measure the proxies' work, not their number of processes.
CHILDREN=${CHILDREN:-16}
TRIES=${TRIES:-2}
KAM_OPTS=${KAM_OPTS-"-x tlsf -X tlsf"}

# sipp's own socket buffers are 64 KiB: at a few thousand packets a second, a few milliseconds
# without the CPU and the phones' socket drops ACKs and BYEs (the kernel's "receive buffer
# errors"), which comes back as retransmissions and failed calls that are the harness's, not the
# proxy's. The kernel's cap (net.core.rmem_max, 212992 on a fresh Debian) is raised to 4 MB when
# lower, as kamailio_mod/doc/ccroute.md advises for the proxy; both sipp get buffers that large.
if [ "$(cat /proc/sys/net/core/rmem_max)" -lt 4194304 ] && [ "$(id -u)" = 0 ]; then
	sysctl -q -w net.core.rmem_max=4194304 net.core.wmem_max=4194304
fi
SIPP_BUFF=$(cat /proc/sys/net/core/rmem_max)
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

# start_proxy NAME: Kamailio with one of the configurations, in $STACK_DIR/kam-NAME, on a
# port of its own (written in its folder). All run for the whole measurement, idle but for the
# one being measured, so that they can take their turns at each rate.
start_proxy() {
	local dir=$STACK_DIR/kam-$1 port
	case $1 in
	nodb) cfg=tests/bench/kamailio_baseline.cfg; extra=(-A "AGENT_URI=\"sip:a@127.0.0.1:$phones\"") ;;
	stock) cfg=tests/bench/kamailio_baseline.cfg
		extra=(-A STOCK -A "STOCK_DB=\"ca=>postgres://kamailio@127.0.0.1:$PGPORT/ccroute\"") ;;
	ccroute | ccroute_unbatched) cfg=kamailio_mod/kamailio.cfg
		extra=(-A "CCROUTE_MODULE=\"$STACK_ROOT/kamailio_mod/ccroute.so\""
		-A "DB_URL=\"host=127.0.0.1 port=$PGPORT dbname=ccroute user=kamailio\"")
		# The module's router processes decide calls in batches; unbatched, each worker asks
		# on its own connection (routers = 0), as before extension 0.8.
		# (CCROUTE_ROUTERS: how many router processes the batched one has, the module's default
		# 1; CCROUTE_BATCH_WAIT_US: its routers' gathering, the default 1000.)
		if [ "$1" = ccroute_unbatched ]; then extra+=(-A "ROUTERS=0")
		elif [ -n "${CCROUTE_ROUTERS:-}" ]; then extra+=(-A "ROUTERS=$CCROUTE_ROUTERS"); fi
		[ -z "${CCROUTE_BATCH_WAIT_US:-}" ] || extra+=(-A "BATCH_WAIT_US=$CCROUTE_BATCH_WAIT_US") ;;
	*) echo "no proxy called $1 (nodb, stock, ccroute, ccroute_unbatched)" >&2; return 1 ;;
	esac
	port=$(stack_free_port)
	mkdir -p "$dir"
	echo "$port" >"$dir/port"
	# shellcheck disable=SC2086 # KAM_OPTS: more options for every proxy alike, word-split
	kamailio -f "$cfg" -DD -E -m 512 $KAM_OPTS -Y "$dir" -P "$dir/kamailio.pid" \
		-A "LISTEN=udp:127.0.0.1:$port" -A "CHILDREN=$CHILDREN" \
		-A "CTL_SOCKET=\"unix:$dir/ctl.sock\"" "${extra[@]}" >>"$dir/kamailio.log" 2>&1 &
	echo $! >"$dir/pid"
	stack_track "$(cat "$dir/pid")"
	stack_kamailio_ready "$port" "$(cat "$dir/pid")" "$dir/kamailio.log"
}
stop_proxy() { stack_kill "$(cat "$STACK_DIR/kam-$1/pid")"; }


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
# udp_drops: datagrams the kernel dropped so far because a socket's receive buffer was full, on
# the whole machine (whatever else runs on it counts too).
udp_drops() { awk '/^Udp:/ {if (!n++) for (i = 1; i <= NF; i++) col[$i] = i; else print $col["RcvbufErrors"]}' /proc/net/snmp; }
pg_ticks() { tree_ticks "$(head -n 1 "$STACK_DIR/pg/data/postmaster.pid")"; }
kam_ticks() { tree_ticks "$(cat "$STACK_DIR/kam-$PROXY_NAME/kamailio.pid")"; }
# batch_counts: "statements calls" the module's router processes made so far (0 0 for a proxy
# without the module, or without routers).
batch_counts() {
	kamcmd -s "unix:$STACK_DIR/kam-$PROXY_NAME/ctl.sock" ccroute.stats 2>/dev/null |
		awk '/batches:/ {b = $2} /batched_calls:/ {c = $2} END {print b + 0, c + 0}'
}

# step RATE: STEP_SECONDS of calls at RATE through proxy PROXY_NAME; prints "calls failed retransmissions commits wal
# pg_ticks kamailio_ticks udp_drops batches batched_calls".
step() {
	local rate=$1 stats lsn0 c0 calls failed retrans pg0 kam0 drops0 b0 bc0 b1 bc1
	# Backends report their commits to the statistics at most once a second, an idle one within
	# ten: at the step whose commits are reported, wait for them on both sides.
	[ "$rate" = "$COMMON_RATE" ] && sleep 11
	pg0=$(pg_ticks)
	kam0=$(kam_ticks)
	drops0=$(udp_drops)
	read -r b0 bc0 < <(batch_counts)
	lsn0=$(q "SELECT pg_current_wal_lsn()")
	if [ -n "${DETAIL:-}" ] && [ "$rate" = "$COMMON_RATE" ]; then
		q "SELECT pg_stat_statements_reset()" >/dev/null 2>&1
		q "DROP TABLE IF EXISTS public.step_tables; CREATE TABLE public.step_tables AS
			SELECT relid, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables" >/dev/null
	fi
	c0=$(q "SELECT xact_commit FROM pg_stat_database WHERE datname = 'ccroute'")
	rm -f "$STACK_DIR"/step_stats.csv
	(cd "$STACK_DIR" && sipp -sf "$STACK_ROOT/tests/sipp/caller_uac.xml" -inf "$STACK_DIR/numbers.csv" \
		-i 127.0.0.1 -p "$(stack_free_port)" $STACK_SIPP_OPTS -r "$rate" -m $((rate * STEP_SECONDS)) -l 5000 \
		-nostdin -timeout $((STEP_SECONDS + 30)) -timeout_error -trace_err -error_file step.errors \
		-trace_stat -stf step_stats.csv -fd 1 "127.0.0.1:$(cat "$STACK_DIR/kam-$PROXY_NAME/port")" >"$STACK_DIR/step.out" 2>&1)
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
		# Rows written per call, table by table, and how many updates were HOT (no new index
		# entries).
		psql -X -c "SELECT t.schemaname || '.' || t.relname AS table,
			round((t.n_tup_ins - s.n_tup_ins) / $calls.0, 2) AS inserts,
			round((t.n_tup_upd - s.n_tup_upd) / $calls.0, 2) AS updates,
			round((t.n_tup_hot_upd - s.n_tup_hot_upd) / $calls.0, 2) AS hot_updates,
			round((t.n_tup_del - s.n_tup_del) / $calls.0, 2) AS deletes
			FROM pg_stat_user_tables t JOIN public.step_tables s USING (relid)
			WHERE t.n_tup_ins + t.n_tup_upd + t.n_tup_del > s.n_tup_ins + s.n_tup_upd + s.n_tup_del
			ORDER BY 1" >"$DETAIL-$PROXY_NAME-tables.txt" 2>&1
	fi
	read -r b1 bc1 < <(batch_counts)
	echo "$calls $failed $retrans $(q "SELECT xact_commit - $c0 FROM pg_stat_database WHERE datname = 'ccroute'") $(q "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')") $(($(pg_ticks) - pg0)) $(($(kam_ticks) - kam0)) $(($(udp_drops) - drops0)) $((b1 - b0)) $((bc1 - bc0))"
}

# per_call TICKS CALLS: milliseconds of CPU per call.
per_call() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN {if (n > 0) printf "%.3f", t * 1000 / hz / n; else print "-"}'; }

# try NAME RATE: up to TRIES steps of NAME at RATE, until one is clean: every call completed,
# none failed, not a single retransmission. Succeeds if one was. The figures per call are kept
# from the first step at COMMON_RATE.
try() {
	local name=$1 rate=$2 n calls failed retrans commits wal pgt kamt drops batches batched batch
	PROXY_NAME=$name
	for n in $(seq 1 "$TRIES"); do
		reset_agents
		read -r calls failed retrans commits wal pgt kamt drops batches batched < <(step "$rate")
		batch=
		[ "${batches:-0}" -gt 0 ] &&
			batch=" decided $batched calls in $batches statements ($(awk -v c="$batched" -v b="$batches" 'BEGIN {printf "%.1f", c / b}') a batch);"
		echo "  $name at $rate calls/s (try $n): $calls completed, $failed failed, $retrans retransmissions," \
			"$drops datagrams dropped by full socket buffers;$batch" \
			"CPU ms/call: postgres $(per_call "$pgt" "$calls"), kamailio $(per_call "$kamt" "$calls")" |
			tee -a "$STACK_DIR/steps.txt" >&2
		if [ "$rate" = "$COMMON_RATE" ] && [ "${calls:-0}" -gt 0 ] && [ ! -f "$STACK_DIR/$name.figures" ]; then
			echo "$(awk -v c="$commits" -v n="$calls" 'BEGIN {printf "%.2f", c / n}') $(awk -v w="$wal" -v n="$calls" 'BEGIN {printf "%.0f", w / n}') $(per_call "$pgt" "$calls") $(per_call "$kamt" "$calls")" \
				>"$STACK_DIR/$name.figures"
		fi
		[ "${failed:-1}" = 0 ] && [ "${retrans:-1}" = 0 ] && [ "${calls:-0}" = $((rate * STEP_SECONDS)) ] && return 0
	done
	return 1
}

echo "Measuring: rates $RATES, ${STEP_SECONDS}s each, up to $TRIES tries..."
# PROXIES picks some of them, for a quick look; the report's ratio needs stock and ccroute.
alive=${PROXIES:-nodb stock ccroute ccroute_unbatched}
for p in $alive; do
	echo 0 >"$STACK_DIR/$p.best"
	start_proxy "$p" || exit 1
	# A first step warms the proxy's connections and the router's caches up.
	PROXY_NAME=$p
	reset_agents
	step "$COMMON_RATE" >/dev/null
done
# Rate by rate, each proxy still in the race takes its turn, so that the machine's changing
# speed (it is shared) falls on all of them alike; who goes first moves on by one at each rate.
# A proxy leaves the race at its first rate with no clean step.
turn=0
for rate in $RATES; do
	read -r -a racing <<<"$alive"
	out=
	for ((i = 0; i < ${#racing[@]}; i++)); do
		p=${racing[$(((i + turn) % ${#racing[@]}))]}
		if try "$p" "$rate"; then echo "$rate" >"$STACK_DIR/$p.best"; else stop_proxy "$p"; out="$out $p"; fi
	done
	turn=$((turn + 1))
	alive=$(for p in $alive; do case " $out " in *" $p "*) ;; *) printf '%s ' "$p" ;; esac; done)
	[ -n "${alive// /}" ] || break
done
for p in $alive; do stop_proxy "$p"; done
rows=$(for p in ${PROXIES:-nodb stock ccroute ccroute_unbatched}; do
	read -r per_commit per_wal pg_cpu kam_cpu < <(cat "$STACK_DIR/$p.figures" 2>/dev/null || echo "- - - -")
	printf '| %s | %s | %s | %s | %s | %s |\n' "$p" "$(cat "$STACK_DIR/$p.best")" "$per_commit" "$per_wal" "$pg_cpu" "$kam_cpu"
done)
best() { cat "$STACK_DIR/$1.best" 2>/dev/null || echo 0; }
ratio=$(awk -v a="$(best ccroute)" -v b="$(best stock)" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')

mkdir -p tests/bench/results
report=tests/bench/results/sip_load-$(date -u +%Y-%m-%d).md
cat >"$report" <<EOF
# SIP load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')

Command: \`make bench\` (tests/bench/sip_load.sh; TENANTS=$TENANTS, AGENTS=$AGENTS,
STEP_SECONDS=$STEP_SECONDS, RATES="$RATES", TRIES=$TRIES, CHILDREN=$CHILDREN, KAM_OPTS="$KAM_OPTS").
Machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(uname -r); Kamailio $(kamailio -v | sed -n 's/^version: kamailio \([^ ]*\).*/\1/p'),
PostgreSQL $(q 'SHOW server_version'), sipp callers and phones on the same machine (UDP, loopback).
Durability: synchronous_commit = $(q 'SHOW synchronous_commit'), fsync = $(q 'SHOW fsync'),
full_page_writes = $(q 'SHOW full_page_writes'). Socket buffers: net.core.rmem_max = $SIPP_BUFF
(sipp -buff_size $SIPP_BUFF; the proxies' maxbuffer 4194304).
Data: $TENANTS tenants x $AGENTS agents, all ready; each call dials a random tenant's number, is
answered at once (200, no 180: tests/sipp/agent_answer.xml), lasts 200 ms and is hung up by the
caller.

| proxy | highest rate with every call completed and no retransmission (calls/s) | commits per call | WAL bytes per call | PostgreSQL CPU ms per call | Kamailio CPU ms per call |
| --- | --- | --- | --- | --- | --- |
$rows

Rates tried: $RATES (${STEP_SECONDS} s each, after a warm-up step), rate by rate, the proxies
taking turns at each (all of them run throughout, idle but for the one measured; who goes first
moves on by one at each rate), so that the shared machine's changing speed falls on all alike. A rate counts for a proxy if one of its
$TRIES steps there had every call completed without a single retransmission; a proxy leaves at
the first rate where none had. ccroute / stock: **$ratio**.
Commits, WAL and CPU per call are measured over the step at $COMMON_RATE calls/s (CPU: user and
system time of the postmaster and its backends, and of Kamailio's processes; sipp's own is not
counted). When the proxy alone (nodb) tops out at about the same rate as the others, the
highest rate measures the machine, not the database work: the CPU per call then tells them apart.

- nodb: the proxy alone, no database (tests/bench/kamailio_baseline.cfg).
- stock: the same proxy with sqlops calling stock.route() on INVITE and stock.release() on BYE
  (tests/bench/stock.sql): two commits per call.
- ccroute: the shipped kamailio_mod/kamailio.cfg${CCROUTE_ROUTERS:+ with ROUTERS=$CCROUTE_ROUTERS}${CCROUTE_BATCH_WAIT_US:+ and BATCH_WAIT_US=$CCROUTE_BATCH_WAIT_US}: the module's router
  processes decide the INVITEs that arrived while their previous batch was being decided in one
  route_calls statement (one commit per batch; each call as route_call decides it, with the
  tenant's limits, hours, strategy, explanation, agent state and history); the call's answer and
  end are queued by the proxy and sent with other calls' in one call_events statement every
  event_interval_ms (10 ms): one commit per batch. The steps give the mean batch.
- ccroute_unbatched: the same configuration with ROUTERS=0: each SIP worker asks route_call on
  its own connection, one commit per call (the module before extension 0.8).

Every step, in the order run:

\`\`\`
$(sed 's/^  //' "$STACK_DIR/steps.txt")
\`\`\`
EOF
cat "$report"
