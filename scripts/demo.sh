#!/usr/bin/env bash
# The demo: a throwaway PostgreSQL with the ccroute extension and a demo tenant, Kamailio with the
# ccroute module, three sipp agent phones, and sipp callers dialing the tenant's numbers. Prints
# which call went where, then stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lib/stack.sh

stack_init
trap stack_stop EXIT

echo "Starting PostgreSQL with the ccroute extension..."
stack_pg_start
echo "Starting three agent phones and a reception phone (sipp)..."
alice=$(stack_agent_start alice)
bob=$(stack_agent_start bob)
carol=$(stack_agent_start carol)
reception=$(stack_agent_start reception)
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -v alice="$alice" -v bob="$bob" -v carol="$carol" \
	-v reception="$reception" -f tests/demo/demo_tenant.sql
echo "Starting Kamailio with the ccroute module on udp:127.0.0.1:..."
stack_kamailio_start
echo "  listening on udp:127.0.0.1:$KAM_PORT"

echo "Placing 5 calls to the support line (skill 'support', longest idle first) and 1 to reception..."
cat >"$STACK_DIR/calls.csv" <<CSV
SEQUENTIAL
+81312345001;+819011110001;
+81312345001;+819011110002;
+81312345001;+819011110003;
+81312345001;+819011110004;
+81312345001;+819011110005;
+81312345002;+819011110006;
CSV
# One at a time, so the order of the decisions is the order of the calls.
stack_calls "$STACK_DIR/calls.csv" 6 -r 1 -l 1 || { echo "calls failed:"; tail -n 20 "$STACK_DIR/callers.out"; exit 1; }
echo "Placing 1 call to a number nobody has..."
printf 'SEQUENTIAL\n+81300000000;+819011110009;\n' >"$STACK_DIR/unknown.csv"
stack_rejected_call "$STACK_DIR/unknown.csv" 404 || { echo "the unknown number was not refused"; exit 1; }
echo "The tenant admin adds a routing rule in Lua: VIP callers go to Alice (101)..."
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U demo.admin <<'SQL' || { echo "the rule was not saved"; exit 1; }
SELECT ccroute.activate_rule(ccroute.save_rule($rule$
-- VIP callers go to Alice, the team's most experienced agent, whenever she is free.
return function(call, agents)
  if call.caller == "+819011110007" then
    return { agents = { "101" }, note = "vip caller to Alice" }
  end
end
$rule$, 'VIP callers to Alice'));
SQL
echo "Placing 1 call from the VIP and 1 from another caller to the support line..."
printf 'SEQUENTIAL\n+81312345001;+819011110007;\n+81312345001;+819011110008;\n' >"$STACK_DIR/vip.csv"
stack_calls "$STACK_DIR/vip.csv" 2 -r 1 -l 1 || { echo "calls failed:"; tail -n 20 "$STACK_DIR/callers.out"; exit 1; }

echo
echo "Where each call went (from the database), and which phone really rang (from sipp):"
{
	echo "CREATE TEMP TABLE rang (call_id text, phone text);"
	for a in alice bob carol reception; do
		sed "s/'/''/g; s/.*/INSERT INTO rang VALUES ('&', '$a');/" "$STACK_DIR/agents/$a.calls"
	done
	cat <<'SQL'
SELECT c.call_seq AS "#", c.caller, c.dialed, c.action,
       coalesce(c.target, c.sip_status::text) AS "routed to",
       coalesce(r.phone, '-') AS "phone that rang", c.outcome,
       c.explanation -> 'skipped' AS "agents set aside", c.explanation -> 'rule' ->> 'note' AS "rule"
  FROM ccroute.call_log c LEFT JOIN rang r USING (call_id)
 ORDER BY c.call_seq;
SELECT st.name, st.state, s.calls_today, s.talk_seconds_today
  FROM ccroute.agent_status st JOIN ccroute.agent_state s USING (tenant_id, agent_id) ORDER BY 1;
SQL
} | psql -X -q -v ON_ERROR_STOP=1
echo "Support calls go to the agent idle the longest; Kamailio reports each call's answer and"
echo "end, so Alice and Bob are free again at once while Carol is in 30 s of wrap-up."
echo "The call to +81300000000 was refused by the database with 404 Number Not In Service."
echo "With the tenant's rule active, the VIP's call went to Alice although Bob had waited longer;"
echo "the next caller's call went by the skill's strategy (the rule returned nothing for it)."

echo
echo "The platform's daily maintenance (months made, retention applied, reports rolled up):"
psql -X -q -v ON_ERROR_STOP=1 -U dba \
	-c "SELECT step, count(*) AS times, sum(rows) AS rows FROM ccroute.maintain(now()) GROUP BY step ORDER BY step"
echo "The tenant's analyst runs the volume report for today, by hour (reports/ccroute-report):"
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba \
	-c "SELECT ccroute.create_person('demo', 'analyst', 'ana', 'Demo Analyst')"
today=$(psql -X -A -t -q -c "SELECT (now() AT TIME ZONE 'Asia/Tokyo')::date")
PGUSER=demo.ana reports/ccroute-report --tenant demo --report volume --from "$today" --to "$today" --grain 60min
echo "Demo done; stopping what it started."
