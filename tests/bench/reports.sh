#!/usr/bin/env bash
# make bench: reports over a year of history. One tenant loaded by reports/generate_history.sql
# with 12 months of 300,000 calls; then, as the tenant's analyst, a one-month service-level
# report and a one-year monthly volume report (the query alone, and the whole command with its
# CSV and chart), and the daily maintenance over that year. Durable commits (synchronous_commit
# = on, fsync = on, full_page_writes = on). Writes tests/bench/results/reports-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/stack.sh
source tests/bench/common.sh

MONTHS=${MONTHS:-12}
CALLS=${CALLS:-300000}
RUNS=${RUNS:-7}
bench_pg_start
out_md=tests/bench/results/reports-$(date -u +%F).md

size_before=$(q "SELECT pg_database_size(current_database())")
echo "Loading $MONTHS months of $CALLS calls..."
t0=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 -v tenant=bench -v months="$MONTHS" -v calls_per_month="$CALLS" \
	-f reports/generate_history.sql >"$STACK_DIR/generate.out"
load_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
q "CHECKPOINT" >/dev/null
size_after=$(q "SELECT pg_database_size(current_database())")
calls=$(q "SELECT count(*) FROM ccroute.call_history")
presence=$(q "SELECT count(*) FROM ccroute.agent_state_history")
# Per month of data: each partition with its rows and size (table, indexes, TOAST).
parts=$(q "SELECT string_agg(format('| %s | %s | %s |', c.relname, to_char(c.reltuples, 'FM999,999,999'),
                                    pg_size_pretty(pg_total_relation_size(c.oid))), E'\n' ORDER BY c.relname)
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent IN ('ccroute.call_history'::regclass, 'ccroute.agent_state_history'::regclass)")
per_month=$(q "SELECT pg_size_pretty((sum(pg_total_relation_size(i.inhrelid)) / $MONTHS)::bigint)
                 FROM pg_inherits i
                WHERE i.inhparent IN ('ccroute.call_history'::regclass, 'ccroute.agent_state_history'::regclass)")
q "SET ROLE dba; SELECT ccroute.create_person('bench', 'analyst', 'ana', 'Bench Analyst')" >/dev/null

# The last whole month, and the whole year, in the tenant's calendar.
read -r m_from m_to y_from y_to < <(q "SET TIME ZONE 'Asia/Tokyo';
	SELECT date_trunc('month', now() - interval '1 month')::date, (date_trunc('month', now()) - interval '1 day')::date,
	       (date_trunc('day', now()) - interval '$MONTHS months')::date, (date_trunc('day', now()) - interval '1 day')::date" |
	tr '|' ' ')

# p50_ms: reads times in milliseconds, one a line, prints their median (common.sh's percentiles,
# which reads microseconds).
p50_ms() { awk '{printf "%d\n", $1 * 1000}' | percentiles | cut -d' ' -f1; }

# query_p50 REPORT FROM TO GRAIN: the report's query as the analyst, one warm-up, then RUNS
# runs in one session; prints p50 and max in ms and the rows.
query_p50() {
	local f=$STACK_DIR/timing.sql
	{
		echo '\o /dev/null'
		echo "\\i reports/queries/$1.sql"
		echo '\timing on'
		for _ in $(seq 1 "$RUNS"); do echo "\\i reports/queries/$1.sql"; done
	} >"$f"
	local times rows
	times=$(PGUSER=bench.ana psql -X -q -v ON_ERROR_STOP=1 -v from="$2" -v to="$3" -v grain="$4" -f "$f" |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -n)
	rows=$(PGUSER=bench.ana psql -X -q -A -t -v ON_ERROR_STOP=1 -v from="$2" -v to="$3" -v grain="$4" \
		-f "reports/queries/$1.sql" | wc -l)
	echo "$(echo "$times" | p50_ms) $(echo "$times" | tail -n 1) $rows"
}
# cli_p50 ARGS...: the whole command (connections, CSV, chart), one warm-up, then RUNS runs.
cli_p50() {
	local t1 all=""
	PGUSER=bench.ana reports/ccroute-report --out "$STACK_DIR/out" "$@" >/dev/null
	for _ in $(seq 1 "$RUNS"); do
		t1=$(date +%s%N)
		PGUSER=bench.ana reports/ccroute-report --out "$STACK_DIR/out" "$@" >/dev/null
		all+="$(( ($(date +%s%N) - t1) / 1000 ))"$'\n'
	done
	echo "$all" | grep . | percentiles | cut -d' ' -f1
}

echo "Timing the maintenance..."
maint="not run: ccroute.maintain(timestamptz) does not exist yet"
if [ "$(q "SELECT to_regprocedure('ccroute.maintain(timestamptz)') IS NOT NULL")" = t ]; then
	psql -X -q -v ON_ERROR_STOP=1 -c '\timing on' -c 'SELECT * FROM ccroute.maintain(now())' >"$STACK_DIR/maintain.out"
	m_first=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$STACK_DIR/maintain.out")
	m_again=""
	for _ in $(seq 1 "$RUNS"); do
		m_again+=$(psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -c '\timing on' -c 'SELECT * FROM ccroute.maintain(now())' |
			sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')$'\n'
	done
	m_p50=$(echo "$m_again" | grep . | p50_ms)
	maint="first run $m_first ms (its steps: below), then p50 $m_p50 ms over $RUNS runs with nothing left to do"
fi

# The reports need the analyst views (reports/DEFINITIONS.md). They read the roll-ups that the
# maintenance above filled (its first run rolled up the year), and history since.
views=$(q "SELECT to_regclass('ccroute.report_by_skill') IS NOT NULL AND to_regclass('ccroute.report_by_did') IS NOT NULL")
sl_p50=- sl_max=- sl_rows=- sl60_p50=- sl60_max=- sl60_rows=- vol_p50=- vol_max=- vol_rows=- sl_cli=- vol_cli=-
if [ "$views" = t ]; then
	echo "Timing the reports..."
	read -r sl_p50 sl_max sl_rows < <(query_p50 service_level "$m_from" "$m_to" day)
	read -r sl60_p50 sl60_max sl60_rows < <(query_p50 service_level "$m_from" "$m_to" 60min)
	read -r vol_p50 vol_max vol_rows < <(query_p50 volume "$y_from" "$y_to" month)
	sl_cli=$(cli_p50 --report service_level --from "$m_from" --to "$m_to" --grain day)
	vol_cli=$(cli_p50 --report volume --from "$y_from" --to "$y_to" --grain month)
fi

settings=$(q "SELECT string_agg(name || ' = ' || setting, ', ' ORDER BY name) FROM pg_settings
               WHERE name IN ('synchronous_commit', 'fsync', 'full_page_writes', 'shared_buffers', 'work_mem')")
verdict() { [ "$1" = - ] && echo "not run" || awk -v v="$1" -v t="$2" 'BEGIN {print (v < t) ? "met" : "not met"}'; }
mkdir -p tests/bench/results
{
	echo "# Reports benchmark, $(date -u +%F)"
	echo
	echo "Machine: $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB, shared and noisy."
	echo "$(q 'SELECT version()' | sed 's/ on .*//'); $settings (shared_buffers in 8 kB pages)."
	echo 'Command: `tests/bench/reports.sh`'" (MONTHS=$MONTHS CALLS=$CALLS RUNS=$RUNS)."
	echo
	echo "## Loading the history"
	echo
	echo "\`reports/generate_history.sql\`, one tenant, $MONTHS months of $CALLS calls ($calls calls, $presence"
	echo "presence changes), one transaction: $load_s s. The database grew by"
	echo "$(q "SELECT pg_size_pretty($size_after - $size_before)"): $per_month per month of data (calls and presence, with their indexes)."
	echo
	echo "| partition | rows | size |"
	echo "| --- | --- | --- |"
	echo "$parts"
	echo
	echo "## Reports, as the tenant's analyst"
	echo
	echo "The query: its SQL file run by psql, p50 and slowest of $RUNS runs after a warm-up. The"
	echo "command: \`reports/ccroute-report ... --out DIR\`, the whole of it (two connections, the CSV,"
	echo "for these two reports the chart by gnuplot), p50 of $RUNS runs after a warm-up."
	echo
	echo "| report | period | grain | rows | query p50 ms | slowest ms | command p50 ms | target (query) |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
	echo "| service_level | $m_from to $m_to | day | $sl_rows | $sl_p50 | $sl_max | $sl_cli | 200 ms: $(verdict "$sl_p50" 200) |"
	echo "| service_level | $m_from to $m_to | 60min | $sl60_rows | $sl60_p50 | $sl60_max | | |"
	echo "| volume | $y_from to $y_to | month | $vol_rows | $vol_p50 | $vol_max | $vol_cli | 1000 ms: $(verdict "$vol_p50" 1000) |"
	[ "$views" = t ] || { echo; echo "Not run: the analyst views (reports/DEFINITIONS.md) are not in the extension yet."; }
	echo
	echo "## Maintenance over the year"
	echo
	echo "\`SELECT * FROM ccroute.maintain(now())\`, as a superuser, right after the load: $maint. Its first"
	echo "run rolls the whole year up for the reports (ccroute.refresh_report_rollups), which the"
	echo "reports above read; a daily run rolls up one day."
	if [ -s "$STACK_DIR/maintain.out" ]; then
		echo
		echo '```'
		grep -v '^Time: ' "$STACK_DIR/maintain.out" | head -n 40
		echo '```'
	fi
} >"$out_md"
cat "$out_md"
