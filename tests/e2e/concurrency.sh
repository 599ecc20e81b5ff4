#!/usr/bin/env bash
# No agent is ever offered two calls. Eight connections route calls for one tenant with three
# agents at once (pgbench), each call answered and ended a moment later; then 600 answered
# calls are held past the ring timeout while new calls keep coming.
source "$(dirname "$0")/../lib/e2e.sh"
pgbench=$(pg_config --bindir)/pgbench
q() { psql -X -A -t -v ON_ERROR_STOP=1 -c "$1"; }

psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba <<'SQL' || { tap_not_ok "fixture"; exit 1; }
SELECT ccroute.create_tenant('busy', 'UTC', 'busy.example.test');
SELECT ccroute.set_tenant_limits('busy', p_max_agents_logged_in => 1000, p_max_concurrent_calls => 1000);
SELECT ccroute.create_person('busy', 'tenant_admin', 'admin', 'Admin');
SQL
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U busy.admin <<'SQL' || { tap_not_ok "fixture"; exit 1; }
SELECT ccroute.set_call_settings(p_ring_timeout_seconds => 5, p_max_no_answers => 100);
INSERT INTO ccroute.skill (name) VALUES ('few'), ('many');
INSERT INTO ccroute.agent (name, extension, wrapup_seconds)
SELECT 'Agent ' || i, (1000 + i)::text, 0 FROM generate_series(1, 603) i;
INSERT INTO ccroute.agent_skill (agent_id, skill_id)
SELECT a.agent_id, s.skill_id FROM ccroute.agent a, ccroute.skill s
 WHERE (s.name = 'few' AND a.extension::int <= 1003) OR (s.name = 'many' AND a.extension::int > 1003);
SELECT count(ccroute.set_agent_state(extension, 'ready')) FROM ccroute.agent;
SQL
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba \
	-c "SELECT ccroute.add_did('busy', '+81312340000', 'few'), ccroute.add_did('busy', '+81312340001', 'many')"

# --- Eight routers, three agents.
cat >"$STACK_DIR/route.sql" <<'SQL'
\set n random(1, 2000000000)
SELECT tenant_id AS t, coalesce(call_seq, 0) AS c FROM ccroute.route_call('cc-' || :client_id || '-' || :n, '+819000000000', '+81312340000') \gset
\sleep 2 ms
SELECT ccroute.call_event(:t, :c, 'answered');
SELECT ccroute.call_event(:t, :c, 'ended');
SQL
"$pgbench" -n -U kamailio -c 8 -j 8 -t 150 -f "$STACK_DIR/route.sql" ccroute >"$STACK_DIR/pgbench.out" 2>&1
check_eq "8 clients x 150 calls run without a single error" 0 $?
grep -E '^(number of (transactions actually processed|failed)|tps)' "$STACK_DIR/pgbench.out" | sed 's/^/# /'
check_eq "every call got a decision and is in history" 1200 "$(q "SELECT count(*) FROM ccroute.call_history WHERE call_id LIKE 'cc-%'")"
check_eq "no call is left in progress" 0 "$(q "SELECT count(*) FROM ccroute.live_call WHERE call_id LIKE 'cc-%'")"
answered=$(q "SELECT count(*) FROM ccroute.call_history WHERE call_id LIKE 'cc-%' AND outcome = 'answered'")
rejected=$(q "SELECT count(*) FROM ccroute.call_history WHERE call_id LIKE 'cc-%' AND outcome = 'no_agent'")
check_eq "each call was answered by an agent or refused with no agent ($answered + $rejected)" 1200 $((answered + rejected))
check_le "some calls found all three agents busy (the test did contend): $rejected" "$rejected" 1
check_eq "no agent's calls overlap in time" 0 "$(q "
	SELECT count(*) FROM ccroute.call_history x JOIN ccroute.call_history y
	  ON x.tenant_id = y.tenant_id AND x.agent_id = y.agent_id AND x.call_seq < y.call_seq
	 AND tstzrange(x.offered_at, x.ended_at) && tstzrange(y.offered_at, y.ended_at)
	 WHERE x.call_id LIKE 'cc-%' AND y.call_id LIKE 'cc-%'")"
check_eq "the server logged no unique-key violation" 0 "$(grep -c 'an agent is offered one call at a time' "$STACK_DIR/pg/server.log")"

# --- The same eight routers and three agents, with each call's events sent as the proxy sends
# them, in one call_events batch: half ring, are answered and end; half ring and are abandoned
# (two ends, statuses 200 and 487: the highest is kept).
cat >"$STACK_DIR/route_batch.sql" <<'SQL'
\set n random(1, 2000000000)
\set answer random(0, 1)
SELECT tenant_id AS t, coalesce(call_seq, 0) AS c FROM ccroute.route_call('cb-' || :client_id || '-' || :n, '+819000000000', '+81312340000') \gset
SELECT ccroute.call_events(ARRAY[:t, :t, :t]::bigint[], ARRAY[:c, :c, :c]::bigint[],
       (CASE WHEN :answer = 1 THEN '{ringing,answered,ended}' ELSE '{ringing,abandoned,abandoned}' END)::text[],
       ARRAY[now(), now(), now()], (CASE WHEN :answer = 1 THEN '{180,200,200}' ELSE '{180,200,487}' END)::int[]);
SQL
"$pgbench" -n -U kamailio -c 8 -j 8 -t 150 -f "$STACK_DIR/route_batch.sql" ccroute >"$STACK_DIR/pgbench_batch.out" 2>&1
check_eq "8 clients x 150 calls with batched events run without a single error" 0 $?
check_eq "every batched call is in history, none in progress" "1200|0" "$(q "
	SELECT (SELECT count(*) FROM ccroute.call_history WHERE call_id LIKE 'cb-%') || '|' ||
	       (SELECT count(*) FROM ccroute.live_call WHERE call_id LIKE 'cb-%')")"
check_eq "each offered call was answered (status 200) or abandoned (487) after ringing" 0 "$(q "
	SELECT count(*) FROM ccroute.call_history WHERE call_id LIKE 'cb-%' AND outcome <> 'no_agent'
	   AND NOT ((outcome = 'answered' AND sip_status = 200 AND answered_at IS NOT NULL AND talk_seconds IS NOT NULL)
	         OR (outcome = 'abandoned' AND sip_status = 487 AND answered_at IS NULL AND ringing_at IS NOT NULL))")"
kinds=$(q "SELECT count(DISTINCT outcome) FROM ccroute.call_history WHERE call_id LIKE 'cb-%' AND outcome IN ('answered', 'abandoned')")
check_eq "both answered and abandoned calls happened" 2 "$kinds"
check_eq "every agent is free again, none reserved or on a call" 0 "$(q "
	SELECT count(*) FROM ccroute.agent_state WHERE state IN ('reserved', 'on_call')")"
check_eq "no agent's batched calls overlap in time" 0 "$(q "
	SELECT count(*) FROM ccroute.call_history x JOIN ccroute.call_history y
	  ON x.tenant_id = y.tenant_id AND x.agent_id = y.agent_id AND x.call_seq < y.call_seq
	 AND tstzrange(x.offered_at, x.ended_at) && tstzrange(y.offered_at, y.ended_at)
	 WHERE x.call_id LIKE 'cb-%' AND y.call_id LIKE 'cb-%'")"

# A second reservation of an agent, attempted directly, is refused by the database.
q "SELECT ccroute.route_call('direct-1', 'x', '+81312340000')" >/dev/null
got=$(psql -X -A -t -v VERBOSITY=verbose -c "INSERT INTO ccroute.live_call (tenant_id, call_id, caller, dialed, state, action, agent_id)
	SELECT tenant_id, 'direct-2', 'x', 'y', 'offered', 'agent', agent_id FROM ccroute.live_call WHERE call_id = 'direct-1'" 2>&1 |
	sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p')
check_eq "a direct second reservation of a reserved agent is refused (unique violation)" 23505 "$got"
q "SELECT ccroute.call_event(tenant_id, call_seq, 'abandoned') FROM ccroute.live_call WHERE call_id = 'direct-1'" >/dev/null

# A withdrawal (the proxy gave up waiting) that arrives while the decision is still committing
# waits for it, then undoes it: the agent is not left reserved for a call gone elsewhere.
psql -X -q -o /dev/null -U kamailio <<'SQL' &
BEGIN;
SELECT ccroute.route_call('slow-commit', 'x', '+81312340000');
SELECT pg_sleep(1);
COMMIT;
SQL
slow=$!
sleep 0.3
started=$(date +%s%N)
withdrawn=$(psql -X -A -t -U kamailio -c "SELECT ccroute.withdraw_call('slow-commit', '+81312340000')")
waited=$((($(date +%s%N) - started) / 1000000))
wait "$slow"
check_eq "a withdrawal during a slow commit waits for it, then undoes the decision" "withdrawn" "$withdrawn"
check_le "it waited for the commit (ms; at least 300)" "$waited" 300
check_eq "the call is in history as gone to the fallback, its agent free" "fallback|0" "$(q "
	SELECT h.outcome || '|' || (SELECT count(*) FROM ccroute.agent_state s WHERE s.state = 'reserved')
	  FROM ccroute.call_history h WHERE h.call_id = 'slow-commit'")"

# --- 600 answered calls held past the ring timeout: none of their agents is offered anything.
q "SELECT count(ccroute.call_event(r.tenant_id, r.call_seq, 'answered'))
	FROM generate_series(1, 600) i, LATERAL ccroute.route_call('held-' || i, 'x', '+81312340001') r" >/dev/null
check_eq "600 calls are answered and in progress" 600 "$(q "SELECT count(*) FROM ccroute.live_call WHERE call_id LIKE 'held-%' AND state = 'answered'")"
sleep 6
check_eq "past the ring timeout, the sweep expires none of them" 0 "$(q 'SELECT ccroute.expire_reservations()')"
"$pgbench" -n -U kamailio -c 8 -j 8 -t 25 -f /dev/stdin ccroute >"$STACK_DIR/pgbench2.out" 2>&1 <<'SQL'
\set n random(1, 2000000000)
SELECT ccroute.route_call('more-' || :client_id || '-' || :n, '+819000000000', '+81312340001');
SQL
check_eq "200 more calls from 8 clients run without error" 0 $?
check_eq "none of the 200 new calls was offered to an agent on an answered call" 200 \
	"$(q "SELECT count(*) FROM ccroute.call_history WHERE call_id LIKE 'more-%' AND outcome = 'no_agent'")"
check_eq "the 600 calls are still answered, with their agents on call" 600 "$(q "
	SELECT count(*) FROM ccroute.live_call l JOIN ccroute.agent_state s USING (tenant_id, agent_id)
	 WHERE l.call_id LIKE 'held-%' AND l.state = 'answered' AND s.state = 'on_call'")"

tap_exit
