#!/usr/bin/env bash
# make bench: route_call against the stock way, side by side, in one run, on one cluster.
#
# 1,000 tenants of 100 agents (one skill each). Durable commits: synchronous_commit = on,
# fsync = on, full_page_writes = on. Measured, each against freshly readied agents:
#   - a plain primary-key select (the floor: one round trip, no write);
#   - a plain PL/pgSQL function doing the stock job (pick the longest-idle ready agent of the
#     skill FOR UPDATE SKIP LOCKED, mark it busy, insert the call);
#   - ccroute.route_call (tenant limits, hours, every agent classified, strategy, explanation,
#     the call recorded).
# Latency p50/p99/p99.9 at one client, throughput at 8 clients, commits and WAL per decision.
# Writes tests/bench/results/route_call-<date>.md.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/stack.sh
source tests/bench/common.sh

LAT_CALLS=${LAT_CALLS:-5000}
TPUT_SECONDS=${TPUT_SECONDS:-15}
# A proxy's connections live for days; a new one first fills its caches (plans, and the
# router's configuration: ~7,000 calls for it to have met each of 1,000 tenants). Measurements
# start after this warm-up, which is reported apart.
WARM_CALLS=${WARM_CALLS:-8000}
WARM_SECONDS=${WARM_SECONDS:-25}
bench_pg_start
# Every statement is prepared once per connection (-M prepared), as the proxy's module
# prepares route_call and call_events; the stock way's functions are prepared alike.
pgbench=$STACK_PG_BIN/pgbench

echo "Loading 1,000 tenants of 100 agents..."
load_tenants 1000 100 "'sip:' || (1000 + a) || '@192.0.2.' || (a % 250 + 1)"
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 <<'SQL'
\i tests/bench/stock.sql
ANALYZE;
SQL

if [ -n "${BENCH_HOLD:-}" ]; then
	# For profiling by hand: keep the loaded cluster up.
	echo "export PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER PGDATABASE=$PGDATABASE" >"$BENCH_HOLD"
	sleep 100000
fi


# Throughput is measured over whole calls (decide, then end and free the agent, two commits)
# so that agents never run out during the run for either side.
cat >"$STACK_DIR/stock_life.sql" <<'SQL'
\set t random(1, 1000)
\set n random(1, 2000000000)
SELECT stock.route('s-' || :client_id || '-' || :n, '+8131' || lpad(:t::text, 7, '0'));
SELECT stock.release('s-' || :client_id || '-' || :n);
SQL
cat >"$STACK_DIR/ccroute_life.sql" <<'SQL'
\set t random(1, 1000)
\set n random(1, 2000000000)
SELECT tenant_id AS t, call_seq AS c FROM ccroute.route_call('c-' || :client_id || '-' || :n, '+819000000000', '+8131' || lpad(:t::text, 7, '0')) \gset
SELECT ccroute.call_events(ARRAY[:t]::bigint[], ARRAY[:c]::bigint[], '{ended}', ARRAY[now()]);
SQL
cat >"$STACK_DIR/select.sql" <<'SQL'
\set t random(1, 1000)
SELECT tenant_id FROM stock.did WHERE did = '+8131' || lpad(:t::text, 7, '0');
SQL
cat >"$STACK_DIR/stock.sql" <<'SQL'
\set t random(1, 1000)
\set n random(1, 2000000000)
SELECT stock.route('s-' || :client_id || '-' || :n, '+8131' || lpad(:t::text, 7, '0'));
SQL
cat >"$STACK_DIR/ccroute.sql" <<'SQL'
\set t random(1, 1000)
\set n random(1, 2000000000)
SELECT action FROM ccroute.route_call('c-' || :client_id || '-' || :n, '+819000000000', '+8131' || lpad(:t::text, 7, '0'));
SQL

# measure ID NAME SCRIPT [LIFE_SCRIPT]: decision latency at 1 client, then whole calls per
# second at 8 (LIFE_SCRIPT, or SCRIPT), each after its warm-up; prints a table row.
measure() {
	local id=$1 name=$2 script=$3 life=${4:-$3} lsn0 lsn1 commits0 commits1 tps p50 p99 p999 calls
	local cold50 cold99 cold999 t0
	reset_agents
	lsn0=$(q "SELECT pg_current_wal_lsn()")
	commits0=$(q "SELECT xact_commit FROM pg_stat_database WHERE datname = 'ccroute'")
	rm -f "$STACK_DIR"/pgbench_log.*
	(cd "$STACK_DIR" && "$pgbench" -n -M prepared -U kamailio -c 1 -t $((WARM_CALLS + LAT_CALLS)) -l -f "$script" ccroute \
		>"$STACK_DIR/$id.lat" 2>&1)
	sleep 1
	lsn1=$(q "SELECT pg_current_wal_lsn()")
	commits1=$(q "SELECT xact_commit FROM pg_stat_database WHERE datname = 'ccroute'")
	read -r p50 p99 p999 < <(awk -v w="$WARM_CALLS" 'NR > w {print $3}' "$STACK_DIR"/pgbench_log.* | percentiles)
	read -r cold50 cold99 cold999 < <(awk -v w="$WARM_CALLS" 'NR <= w {print $3}' "$STACK_DIR"/pgbench_log.* | percentiles)
	wal=$(q "SELECT round(pg_wal_lsn_diff('$lsn1', '$lsn0') / $((WARM_CALLS + LAT_CALLS)))")
	commits=$(q "SELECT round(($commits1 - $commits0)::numeric / $((WARM_CALLS + LAT_CALLS)), 2)")
	reset_agents
	rm -f "$STACK_DIR"/pgbench_log.*
	(cd "$STACK_DIR" && "$pgbench" -n -M prepared -U kamailio -c 8 -j 8 -T $((WARM_SECONDS + TPUT_SECONDS)) -l -f "$life" ccroute \
		>"$STACK_DIR/$id.tput" 2>&1)
	# Whole calls finished in the last TPUT_SECONDS, after the warm-up.
	t0=$(awk '{print $5}' "$STACK_DIR"/pgbench_log.* | sort -n | head -n 1)
	tps=$(awk -v s=$((t0 + WARM_SECONDS)) -v e=$((t0 + WARM_SECONDS + TPUT_SECONDS)) -v t="$TPUT_SECONDS" \
		'$5 >= s && $5 < e {n++} END {printf "%.0f", n / t}' "$STACK_DIR"/pgbench_log.*)
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$STACK_DIR/$id.tput")
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n' "$name" "$p50" "$p99" "$p999" "$tps" \
		"$commits" "$wal" "${failed:-?}" "$cold50" "$cold99"
	echo "$tps" >"$STACK_DIR/$id.tps"
}

echo "Measuring (latency: $LAT_CALLS calls at 1 client after $WARM_CALLS; throughput: ${TPUT_SECONDS}s at 8 clients after ${WARM_SECONDS}s)..."
rows=$(
	measure select "plain primary-key select" "$STACK_DIR/select.sql"
	measure stock "stock PL/pgSQL pick + reserve (+ release)" "$STACK_DIR/stock.sql" "$STACK_DIR/stock_life.sql"
	measure ccroute "ccroute.route_call (+ call_events ended)" "$STACK_DIR/ccroute.sql" "$STACK_DIR/ccroute_life.sql"
)
ratio=$(awk -v a="$(cat "$STACK_DIR/ccroute.tps")" -v b="$(cat "$STACK_DIR/stock.tps")" 'BEGIN {printf "%.2f", a / b}')

# --- Rules: route_call for tenants with a typical rule (rules/examples/spread_talk_time.lua,
# which reads and sorts every candidate) beside tenants without one, in the same run.
echo "Measuring rules..."
rule_src=$(cat rules/examples/spread_talk_time.lua)
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -v src="$rule_src" <<'SQL'
INSERT INTO ccroute.routing_rule (tenant_id, version, source, author, active)
SELECT tenant_id, 1, :'src', 'bench', tenant_id > 500 FROM ccroute.tenant;
SQL
for half in norule rule; do
	lo=$([ $half = norule ] && echo 1 || echo 501)
	cat >"$STACK_DIR/$half.sql" <<-SQL
		\set t random($lo, $((lo + 499)))
		\set n random(1, 2000000000)
		SELECT action FROM ccroute.route_call('r-' || :client_id || '-' || :n, '+819000000000', '+8131' || lpad(:t::text, 7, '0'));
	SQL
done
rule_row() { # SCRIPT: p50 p99 p99.9 at one client after the warm-up
	reset_agents
	rm -f "$STACK_DIR"/pgbench_log.*
	(cd "$STACK_DIR" && "$pgbench" -n -M prepared -U kamailio -c 1 -t $((WARM_CALLS + LAT_CALLS)) -l -f "$1" ccroute >/dev/null 2>&1)
	awk -v w="$WARM_CALLS" 'NR > w {print $3}' "$STACK_DIR"/pgbench_log.* | percentiles
}
read -r norule50 norule99 norule999 < <(rule_row "$STACK_DIR/norule.sql")
read -r rule50 rule99 rule999 < <(rule_row "$STACK_DIR/rule.sql")
ruled_calls=$(q "SELECT count(*) FROM ccroute.live_call WHERE call_id LIKE 'r-%' AND explanation -> 'rule' ->> 'action' = 'agents'")
rule_failures=$(q "SELECT count(*) FROM ccroute.live_call WHERE call_id LIKE 'r-%' AND explanation -> 'rule' ? 'stop'")
read -r norule50b norule99b norule999b < <(rule_row "$STACK_DIR/norule.sql")
rule_added=$(awk -v a="$rule50" -v b="$norule50" -v c="$norule50b" 'BEGIN {printf "%.3f", a - (b + c) / 2}')
# One connection holding the rules of 1,000 tenants: a call to each, then its Lua memory and its
# resident memory before and after.
q "UPDATE ccroute.routing_rule SET active = true" >/dev/null
reset_agents
mem=$(psql -X -A -t -q -U kamailio <<'SQL'
\o /dev/null
SELECT * FROM ccroute.route_call('m-warm', '+819000000000', '+81310000001');
\o
SELECT pg_backend_pid() AS pid \gset
\setenv BACKEND_PID :pid
\! grep VmRSS /proc/$BACKEND_PID/status | awk '{print $2}'
SELECT count(ccroute.route_call('m-' || i, '+819000000000', '+8131' || lpad(i::text, 7, '0'))) FROM generate_series(1, 1000) i;
\! grep VmRSS /proc/$BACKEND_PID/status | awk '{print $2}'
SELECT states || ' ' || lua_bytes FROM ccroute.rule_memory();
SQL
)
sample=$(q "SELECT explanation FROM ccroute.call_history WHERE outcome = 'abandoned' ORDER BY call_seq DESC LIMIT 1")

mkdir -p tests/bench/results
report=tests/bench/results/route_call-$(date -u +%Y-%m-%d).md
cat >"$report" <<EOF
# route_call benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')

Command: \`make bench\` (tests/bench/route_call.sh; LAT_CALLS=$LAT_CALLS, TPUT_SECONDS=$TPUT_SECONDS,
WARM_CALLS=$WARM_CALLS, WARM_SECONDS=$WARM_SECONDS).
Machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(uname -r); PostgreSQL $(q 'SHOW server_version'),
pgbench on the same machine over a Unix socket, as the proxy's role, every statement prepared
once per connection (-M prepared: the module prepares its statements; the stock way's too).
Durability: synchronous_commit = $(q 'SHOW synchronous_commit'), fsync = $(q 'SHOW fsync'),
full_page_writes = $(q 'SHOW full_page_writes'), shared_buffers = $(q 'SHOW shared_buffers').
Data: 1,000 tenants x 100 agents, one skill each, all ready; agents are readied again before
each measurement. Each call dials a random tenant's number.

| what | decision p50 ms (1 client) | p99 ms | p99.9 ms | whole calls/s (8 clients) | commits per decision | WAL bytes per decision | failed | warm-up p50 / p99 ms |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
$rows

Latency and commits/WAL are for the decision alone (one transaction). Calls per second at 8
clients count whole calls: the decision, then the end that frees the agent (route_call then
the end as the proxy sends it, call_events, in a batch of one, the least it gains from batching;
the stock function then its release), two durable commits each.
Latency is over the $LAT_CALLS calls after a connection's first $WARM_CALLS (the warm-up column:
those first calls, while the connection fills its caches); calls per second are counted over
the ${TPUT_SECONDS}s after the first ${WARM_SECONDS}s of eight new connections.

route_call calls/s / stock calls/s, same run: **$ratio**.

## With a tenant's rule

Half the tenants (501-1,000) have an active rule, rules/examples/spread_talk_time.lua (it reads
every candidate and sorts them by today's load); the other half none. Decision latency at one
client, after the same warm-up, measured without, with, and without again:

| | p50 ms | p99 ms | p99.9 ms |
| --- | --- | --- | --- |
| no rule | $norule50 | $norule99 | $norule999 |
| rule | $rule50 | $rule99 | $rule999 |
| no rule (again) | $norule50b | $norule99b | $norule999b |

The rule adds **$rule_added ms** at p50 (target: at most 0.2 ms); $ruled_calls of the rule
half's $((WARM_CALLS + LAT_CALLS)) calls were placed by the rule's choice (the others found
nobody free), $rule_failures had the rule fail.

One connection routing a call to each of 1,000 tenants, all with the rule active
(default \`ccroute.rule_states\`, 1000): resident memory before and after, in kB, then rule states and
their Lua bytes (\`ccroute.rule_memory()\`): $(echo "$mem" | tr '\n' ' '). The resident
memory also holds the configuration cache of the 1,000 tenants (numbers, skills, 100,000
agents' skills) and the backend's plans.

route_call does more per call than the stock function: it checks the SIP values, resolves the
number through the directory, enters the tenant's context (its reads and writes by key are
row by row, with the tenant in every key: pg_ext/README.md), checks the tenant's status, its concurrent-call limit and the
number's business hours, ends the tenant's lost offers, reads the available agents in the
skill's strategy order with their proficiency and the number's further required skills,
reserves with SKIP LOCKED, and records the call with its explanation, for example:

\`\`\`
$sample
\`\`\`
EOF
cat "$report"
