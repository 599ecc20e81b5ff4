#!/usr/bin/env bash
# Named reports from the command line (reports/ccroute-report): two tenants with the small
# generated history; tenant A's analyst gets each report with the expected header and rows,
# totals equal to direct counts over the history, and valid SVG charts; tenant B's analyst
# cannot get A's numbers; bad arguments are refused before anything is asked of the database.
source "$(dirname "$0")/../lib/e2e.sh"

cli=reports/ccroute-report
out=$STACK_DIR/reports
from=2026-09-01 to=2026-11-30

q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }
gen() { # gen TENANT CALLS_PER_MONTH SEED
	psql -X -q -v ON_ERROR_STOP=1 -v tenant="$1" -v months=3 -v calls_per_month="$2" -v agents=8 \
		-v dids=5 -v end_date=2026-12-01 -v seed="$3" -f reports/generate_history.sql >/dev/null
}
if gen rep_a 150 0.11 && gen rep_b 120 0.22; then tap_ok "the small history loads for two tenants"
else tap_not_ok "the small history loads for two tenants"; exit 1; fi
q "SET ROLE dba; SELECT ccroute.create_person('rep_a', 'analyst', 'ana', 'Analyst A');
   SELECT ccroute.create_person('rep_b', 'analyst', 'ben', 'Analyst B');" >/dev/null
a=$(q "SELECT tenant_id FROM ccroute.tenant WHERE name = 'rep_a'")
b=$(q "SELECT tenant_id FROM ccroute.tenant WHERE name = 'rep_b'")

# Direct counts, as the superuser, over the tenant's history of the period (local days).
period="arrived_at >= '$from'::date::timestamp AT TIME ZONE 'Asia/Tokyo'
        AND arrived_at < ('$to'::date + 1)::timestamp AT TIME ZONE 'Asia/Tokyo'"
day="(arrived_at AT TIME ZONE 'Asia/Tokyo')::date"
direct() { q "SELECT $2 FROM ccroute.call_history WHERE tenant_id = $1 AND $period"; }

# column CSV NAME: the values of the named column (psql --csv quotes only what needs it; the
# columns summed here are numbers).
column() { awk -F, -v name="$2" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == name) c = i; next} {print $c}' "$1"; }
total() { column "$1" "$2" | awk '{s += $1} END {printf "%d\n", s}'; }
sum_seconds() { column "$1" "$2" | awk '{s += $1} END {printf "%.0f\n", s}'; }
rows() { echo $(($(wc -l <"$1") - 1)); }

run_a() { PGUSER=rep_a.ana "$cli" --from "$from" --to "$to" --out "$out/a" "$@" >/dev/null; }
for r in volume service_level dids agents not_ready; do
	if run_a --report "$r" --tenant rep_a; then tap_ok "$r: tenant A's analyst gets the report"
	else tap_not_ok "$r: tenant A's analyst gets the report"; fi
done
csv() { echo "$out/a/${1}_${from}_${to}_day.csv"; }

check_eq "volume: header" "period,calls,offered,answered,abandoned,short_abandoned,other_unanswered,not_offered" \
	"$(head -n 1 "$(csv volume)")"
check_eq "volume: a row per day with calls" "$(direct "$a" "count(DISTINCT $day)")" "$(rows "$(csv volume)")"
check_eq "volume: calls add up to the history's" "$(direct "$a" "count(*)")" "$(total "$(csv volume)" calls)"
check_eq "volume: answered add up to the history's" "$(direct "$a" "count(*) FILTER (WHERE outcome = 'answered')")" \
	"$(total "$(csv volume)" answered)"
# Short abandons are counted apart from the others (DEFINITIONS.md).
check_eq "volume: abandoned and short abandoned add up to the history's abandoned" \
	"$(direct "$a" "count(*) FILTER (WHERE outcome = 'abandoned')")" \
	"$(($(total "$(csv volume)" abandoned) + $(total "$(csv volume)" short_abandoned)))"

check_eq "service_level: header" \
	"period,skill,offered,answered,answered_within_target,service_level_calls,service_level_percent,goal_percent,target_seconds,average_speed_of_answer,longest_wait_seconds" \
	"$(head -n 1 "$(csv service_level)")"
check_eq "service_level: a row per day and skill with calls" \
	"$(direct "$a" "count(DISTINCT ($day, skill_id)) FILTER (WHERE skill_id IS NOT NULL)")" "$(rows "$(csv service_level)")"
check_eq "service_level: answered add up to the history's" \
	"$(direct "$a" "count(*) FILTER (WHERE outcome = 'answered' AND skill_id IS NOT NULL)")" \
	"$(total "$(csv service_level)" answered)"
check_eq "service_level: answered within target add up to the history's" \
	"$(q "SELECT count(*) FROM ccroute.call_history h JOIN ccroute.skill s USING (tenant_id, skill_id)
	       WHERE h.tenant_id = $a AND $period AND h.outcome = 'answered'
	         AND h.wait_seconds <= s.service_level_seconds")" \
	"$(total "$(csv service_level)" answered_within_target)"

check_eq "dids: header" \
	"period,did,did_label,calls,offered,answered,abandoned,short_abandoned,not_offered,service_level_percent,average_speed_of_answer,longest_wait_seconds" \
	"$(head -n 1 "$(csv dids)")"
check_eq "dids: a row per day and number with calls" "$(direct "$a" "count(DISTINCT ($day, dialed))")" \
	"$(rows "$(csv dids)")"
check_eq "dids: calls add up to the history's" "$(direct "$a" "count(*)")" "$(total "$(csv dids)" calls)"

check_eq "agents: header" \
	"period,agent,extension,answered,talk_seconds,wrap_up_seconds,average_handle_time,ready_seconds,not_ready_seconds,busy_seconds,occupancy_percent" \
	"$(head -n 1 "$(csv agents)")"
check_eq "agents: answered add up to the history's" \
	"$(direct "$a" "count(*) FILTER (WHERE outcome = 'answered' AND agent_id IS NOT NULL)")" \
	"$(total "$(csv agents)" answered)"
check_eq "agents: talk time adds up to the history's" \
	"$(direct "$a" "round(coalesce(sum(talk_seconds), 0))")" "$(sum_seconds "$(csv agents)" talk_seconds)"

# Presence spans of the period (each generated working day starts and ends within its day).
spans="SELECT presence, reason, changed_at,
              lead(changed_at) OVER (PARTITION BY agent_id ORDER BY changed_at) - changed_at AS length,
              agent_id, (changed_at AT TIME ZONE 'Asia/Tokyo')::date AS day
         FROM ccroute.agent_state_history
        WHERE tenant_id = $a AND changed_at >= '$from'::date::timestamp AT TIME ZONE 'Asia/Tokyo'
          AND changed_at < ('$to'::date + 1)::timestamp AT TIME ZONE 'Asia/Tokyo'"
check_eq "agents: a row per day and agent that was ready or not ready" \
	"$(q "SELECT count(DISTINCT (day, agent_id)) FROM ($spans) s WHERE presence <> 'logged_out'")" \
	"$(rows "$(csv agents)")"
check_eq "not_ready: header" "period,agent,extension,presence,reason,seconds" "$(head -n 1 "$(csv not_ready)")"
check_eq "not_ready: a row per day, agent, presence and reason" \
	"$(q "SELECT count(DISTINCT (day, agent_id, presence, reason)) FROM ($spans) s WHERE presence <> 'logged_out'")" \
	"$(rows "$(csv not_ready)")"
check_eq "not_ready: not-ready time adds up to the history's" \
	"$(q "SELECT round(extract(epoch FROM sum(length))) FROM ($spans) s WHERE presence = 'not_ready'")" \
	"$(awk -F, 'NR > 1 && $4 == "not_ready" {s += $6} END {printf "%.0f\n", s}' "$(csv not_ready)")"

for r in volume service_level; do
	svg="$out/a/${r}_${from}_${to}_day.svg"
	case $r in volume) title="Calls, rep_a, $from to $to (day)" ;;
	service_level) title="Service level by skill, rep_a, $from to $to (day)" ;; esac
	if [ -s "$svg" ] && xmllint --noout "$svg" 2>/dev/null && grep -q '<svg' "$svg" && grep -q '</svg>' "$svg"; then
		tap_ok "$r: the chart is a valid SVG"
	else tap_not_ok "$r: the chart is a valid SVG" "file: $svg"; fi
	if grep -qF "$title" "$svg"; then tap_ok "$r: the chart has its title"
	else tap_not_ok "$r: the chart has its title" "expected: $title"; fi
done
for r in dids agents not_ready; do
	if [ ! -e "$out/a/${r}_${from}_${to}_day.svg" ]; then tap_ok "$r: no chart (CSV only)"
	else tap_not_ok "$r: no chart (CSV only)"; fi
done

# Tenant B's analyst.
err=$(PGUSER=rep_b.ben "$cli" --report volume --from "$from" --to "$to" --tenant rep_a 2>&1 >/dev/null)
check_eq "tenant B's analyst asking for tenant A is refused (exit 3)" 3 "$?"
case $err in *'not of tenant "rep_a"'*) tap_ok "the refusal says why" ;;
*) tap_not_ok "the refusal says why" "got: $err" ;; esac
b_csv=$(PGUSER=rep_b.ben "$cli" --report volume --from "$from" --to "$to" --grain month)
check_eq "tenant B's volume report shows B's calls" "$(direct "$b" "count(*)")" \
	"$(echo "$b_csv" | awk -F, 'NR > 1 {s += $2} END {printf "%d\n", s}')"
b_dids=$(PGUSER=rep_b.ben "$cli" --report dids --from "$from" --to "$to" --grain month)
a_prefix=+8150$(printf '%04d' "$a")
if echo "$b_dids" | grep -q "$a_prefix"; then tap_not_ok "tenant B's dids report has none of A's numbers"
else tap_ok "tenant B's dids report has none of A's numbers"; fi
err=$("$cli" --report volume --from "$from" --to "$to" 2>&1 >/dev/null)
check_eq "a login of no tenant is refused (exit 3)" 3 "$?"

# Bad arguments: refused with a message and exit 2, before any connection (the server named
# here does not exist: a connection attempt would fail with another message and exit 1).
refused() { # refused NAME EXPECTED_MESSAGE ARGS...
	local name=$1 msg=$2 err rc
	shift 2
	err=$(PGHOST=127.0.0.1 PGPORT=1 PGUSER=rep_a.ana "$cli" "$@" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq 2 ] && [[ $err == *"$msg"* ]]; then tap_ok "refused: $name"
	else tap_not_ok "refused: $name" "expected exit 2 and: $msg" "got exit $rc: $err"; fi
}
a_calls=$(direct "$a" "count(*)")
refused "unknown report" 'unknown report "sales"' --report sales --from "$from" --to "$to"
refused "a day that does not exist" 'not a date' --report volume --from 2026-02-30 --to "$to"
refused "a date in another form" 'not a date' --report volume --from 01/09/2026 --to "$to"
refused "from after to" 'is after --to' --report volume --from "$to" --to "$from"
refused "SQL in a date" 'not a date' --report volume --from "2026-09-01'; DROP TABLE ccroute.call_history; --" --to "$to"
refused "SQL in the grain" 'unknown grain' --report volume --from "$from" --to "$to" --grain "day' OR '1' = '1"
refused "SQL in the report name" 'unknown report' --report "volume; DROP TABLE ccroute.call_history" --from "$from" --to "$to"
refused "SQL in the tenant" 'not a tenant name' --report volume --from "$from" --to "$to" --tenant "rep_a' OR 'x' = 'x"
refused "a missing value" 'needs a value' --report volume --from "$from" --to
refused "an unknown option" 'unknown argument' --report volume --from "$from" --to "$to" --format png
check_eq "the history is still there" "$a_calls" "$(direct "$a" "count(*)")"

tap_exit
