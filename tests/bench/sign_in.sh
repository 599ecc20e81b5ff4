#!/usr/bin/env bash
# make bench: what signing in costs, and what a storm of sign-ins does to call routing.
#
# One tenant of 400 agents with passwords (argon2id at the default parameters) beside 100
# routing tenants of 100 agents. Measured on one cluster, durable commits (synchronous_commit =
# on, fsync = on, full_page_writes = on):
#   - one sign-in at a time: ok, wrong password and unknown login (which must take as long);
#   - route_call latency at a steady 200 calls/s alone, then while all 400 agents sign in at
#     once (100 connections), for each setting of ccroute.password_hash_slots given.
# Writes tests/bench/results/sign_in-<date>.md.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/stack.sh
source tests/bench/common.sh

SLOTS=${SLOTS:-"2 1"}
RATE=${RATE:-200}
bench_pg_start
pgbench=$STACK_PG_BIN/pgbench

echo "Loading 100 routing tenants of 100 agents, and 400 agents who sign in..."
load_tenants 100 100 "'sip:' || (1000 + a) || '@192.0.2.' || (a % 250 + 1)"
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 <<'SQL'
SET ROLE dba;
SELECT ccroute.create_tenant('crowd');
SELECT ccroute.create_person('crowd', 'agent', 'a' || i, 'Agent ' || i) FROM generate_series(1, 400) i;
RESET ROLE;
-- One hash for all: each sign-in still computes one at the default parameters.
UPDATE ccroute.login_credential SET password_hash = ccroute.password_hash('crowd-secret-1'),
       password_set_at = now();
ANALYZE;
SQL
params=$(q "SELECT substring(password_hash from 'm=[0-9]+,t=[0-9]+,p=[0-9]+') FROM ccroute.login_credential LIMIT 1")

# One sign-in per transaction, of a random agent: right, wrong, unknown (ok is also the storm's).
for case in ok:a:crowd-secret-1 wrong:a:crowd-secret-2 unknown:nobody:crowd-secret-1; do
	IFS=: read -r kind login password <<<"$case"
	printf '%s\n' '\set i random(1, 400)' \
		"SELECT outcome FROM ccroute.authenticate('crowd', '$login' || :i, '$password');" >"$STACK_DIR/$kind.sql"
done
cat >"$STACK_DIR/route.sql" <<'SQL'
\set t random(1, 100)
\set n random(1, 2000000000)
SELECT tenant_id AS t, call_seq AS c FROM ccroute.route_call('c-' || :client_id || '-' || :n, '+819000000000', '+8131' || lpad(:t::text, 7, '0')) \gset
SELECT ccroute.call_events(ARRAY[:t]::bigint[], ARRAY[:c]::bigint[], '{ended}', ARRAY[now()]);
SQL

# One sign-in at a time (the failures lock nobody: the policy has no lock-out), the three kinds
# taken in turn, three rounds, so that their difference shows beside the noise between rounds.
echo "Measuring one sign-in at a time..."
single=""
for round in 1 2 3; do
	for kind in ok wrong unknown; do
		rm -f "$STACK_DIR"/pgbench_log.*
		(cd "$STACK_DIR" && "$pgbench" -n -U gateway -c 1 -t 200 -l -f "$kind.sql" ccroute >"$STACK_DIR/$kind.out" 2>&1)
		read -r p50 p99 _ < <(awk 'NR > 20 {print $3}' "$STACK_DIR"/pgbench_log.* | percentiles)
		single+="| $round | $kind | $p50 | $p99 |"$'\n'
	done
done

# Routing at a steady rate for 30 s; in the run with a storm, the 400 agents sign in at once
# 10 s in. The storm's window is from its first sign-in's start to its last one's end.
route_run() { # NAME STORM(yes|no): prints a table row
	local name=$1 storm=$2 s0 s1 all in
	q "UPDATE ccroute.agent_state SET state = 'ready', reserved_until = NULL, available_at = NULL WHERE state <> 'ready'" >/dev/null
	q "DELETE FROM ccroute.app_session" >/dev/null
	rm -rf "$STACK_DIR/r" "$STACK_DIR/s" && mkdir -p "$STACK_DIR/r" "$STACK_DIR/s"
	(cd "$STACK_DIR/r" && "$pgbench" -n -U kamailio -c 2 -j 2 -R "$RATE" -T 30 -l -f ../route.sql ccroute \
		>"$STACK_DIR/route.out" 2>&1) &
	local rp=$!
	if [ "$storm" = yes ]; then
		sleep 10
		(cd "$STACK_DIR/s" && "$pgbench" -n -U gateway -c 100 -j 4 -t 4 -l -f ../ok.sql ccroute \
			>"$STACK_DIR/storm.out" 2>&1)
	fi
	wait $rp
	if [ "$storm" = yes ]; then
		# pgbench logs: client tx latency_us script epoch_s epoch_us (the end of each).
		s1=$(awk '{printf "%.0f\n", $5 * 1000000 + $6}' "$STACK_DIR"/s/pgbench_log.* | sort -n | tail -n 1)
		s0=$(awk '{printf "%.0f\n", $5 * 1000000 + $6 - $3}' "$STACK_DIR"/s/pgbench_log.* | sort -n | head -n 1)
		storm_ok=$(grep -c . "$STACK_DIR"/s/pgbench_log.* | awk -F: '{n += $NF} END {print n}')
		storm_s=$(awk -v a="$s0" -v b="$s1" 'BEGIN {printf "%.1f", (b - a) / 1e6}')
		read -r sp50 sp99 _ < <(cat "$STACK_DIR"/s/pgbench_log.* | awk '{print $3}' | percentiles)
		in=$(awk -v a="$s0" -v b="$s1" '{t = $5 * 1000000 + $6} t >= a && t <= b {print $3}' "$STACK_DIR"/r/pgbench_log.* | percentiles)
		all=$(awk -v a="$s0" -v b="$s1" '{t = $5 * 1000000 + $6} t < a || t > b {print $3}' "$STACK_DIR"/r/pgbench_log.* | percentiles)
		echo "| $name | ${all// / | } | ${in// / | } | $storm_ok in $storm_s s (p50 $sp50 ms, p99 $sp99 ms) |"
	else
		all=$(awk '{print $3}' "$STACK_DIR"/r/pgbench_log.* | percentiles)
		echo "| $name | ${all// / | } | | | | |"
	fi
}

echo "Measuring routing alone and through sign-in storms..."
rows=$(route_run "routing alone" no)
# Every sign-in of the storm waits for its slot as long as it takes (the default, 2 s, would turn
# most of them away: that is the cap working, but the storm is then smaller).
q "ALTER SYSTEM SET ccroute.password_hash_wait_ms = 60000" >/dev/null
for s in $SLOTS; do
	q "ALTER SYSTEM SET ccroute.password_hash_slots = $s" >/dev/null
	q "SELECT pg_reload_conf()" >/dev/null
	sleep 1
	rows+=$'\n'$(route_run "400 sign-ins at once, $s hash slots" yes)
done

out=tests/bench/results/sign_in-$(date +%F).md
mkdir -p tests/bench/results
cat >"$out" <<EOF
# Sign-in benchmark, $(date +%F)

Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), shared and noisy.
PostgreSQL $(q "SHOW server_version"), synchronous_commit = on, fsync = on, full_page_writes = on.
Hashing: argon2id, $params (the defaults). Command: \`tests/bench/sign_in.sh\`.

## One sign-in at a time (gateway role, 200 each, the first 20 left out; three rounds)

| round | outcome | p50 ms | p99 ms |
| --- | --- | --- | --- |
$single
An unknown login computes the same hash as a wrong password; a wrong password also counts the
failure (one more row written). Compare the gap between outcomes with the gap between rounds.

## route_call (+ call_events ended) at $RATE calls/s while 400 agents sign in at once

Routing latency in ms, outside the storm's window and inside it; the storm is 400 sign-ins
from 100 connections started together (100 new backends), each waiting for a hash slot as long
as it takes (\`ccroute.password_hash_wait_ms\` = 60 s for the storm).

| run | p50 outside | p99 outside | p99.9 outside | p50 during | p99 during | p99.9 during | sign-ins |
| --- | --- | --- | --- | --- | --- | --- | --- |
$rows
EOF
cat "$out"
