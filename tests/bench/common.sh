# common.sh: what the benchmarks share. Sourced from the project's root after tests/lib/stack.sh.

# bench_pg_start: a throwaway cluster with the extension, durable commits (as in production),
# room for the data and the WAL of a run; stopped on exit.
bench_pg_start() {
	stack_init
	trap stack_stop EXIT
	stack_pg_start >/dev/null || { echo "postgresql did not start"; exit 1; }
	cat >>"$STACK_DIR/pg/data/postgresql.conf" <<-EOF
		shared_buffers = 512MB
		max_wal_size = 4GB
		max_connections = 200
	EOF
	# For a closer look, more settings (BENCH_PG_CONF="pg_stat_statements.track = all", say).
	[ -z "${BENCH_PG_CONF:-}" ] || echo "$BENCH_PG_CONF" >>"$STACK_DIR/pg/data/postgresql.conf"
	stack_as_pg "$STACK_PG_BIN/pg_ctl" -D "$STACK_DIR/pg/data" -l "$STACK_DIR/pg/server.log" -w restart >/dev/null
}

# reset_agents: every agent ready again, no call in progress, on both sides; then a checkpoint,
# so that each measurement starts alike.
reset_agents() {
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 <<-'SQL'
		DELETE FROM ccroute.live_call;
		UPDATE ccroute.agent_state SET state = 'ready', reserved_until = NULL, available_at = NULL
		 WHERE state <> 'ready';
		UPDATE stock.agent SET state = 'ready' WHERE state <> 'ready';
		TRUNCATE stock.call;
		VACUUM ANALYZE ccroute.agent_state, ccroute.live_call, stock.agent, stock.call;
		CHECKPOINT;
	SQL
}

q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }

# load_tenants COUNT AGENTS CONTACT: COUNT tenants t1..tN of AGENTS ready agents each, in one skill
# "main" reached by the number +8131 and the tenant's number on 7 digits. CONTACT is the SQL
# expression of an agent's contact URI, over t (the tenant row) and a (the agent's number).
load_tenants() {
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 <<-SQL
		SET ROLE dba;
		SELECT ccroute.create_tenant('t' || i) FROM generate_series(1, $1) i;
		RESET ROLE;
		INSERT INTO ccroute.skill (tenant_id, name) SELECT tenant_id, 'main' FROM ccroute.tenant;
		INSERT INTO ccroute.agent (tenant_id, name, extension, contact_uri, wrapup_seconds)
		SELECT t.tenant_id, 'Agent ' || a, (1000 + a)::text, $3, 0
		  FROM ccroute.tenant t, generate_series(1, $2) a;
		INSERT INTO ccroute.agent_skill (tenant_id, agent_id, skill_id)
		SELECT a.tenant_id, a.agent_id, s.skill_id FROM ccroute.agent a JOIN ccroute.skill s USING (tenant_id);
		INSERT INTO ccroute.agent_state (tenant_id, agent_id, state, idle_since)
		SELECT tenant_id, agent_id, 'ready', now() - random() * interval '1 hour' FROM ccroute.agent;
		SET ROLE dba;
		SELECT ccroute.add_did('t' || i, '+8131' || lpad(i::text, 7, '0'), 'main') FROM generate_series(1, $1) i;
		RESET ROLE;
	SQL
}

# percentiles: reads latencies in microseconds, prints p50 p99 p99.9 in milliseconds ("- - -"
# when there are none).
percentiles() {
	sort -n | awk '{v[NR]=$1} END {if (NR == 0) {print "- - -"; exit}
		printf "%.3f %.3f %.3f\n", v[int(NR*0.5)+1]/1000, v[int(NR*0.99)+1]/1000, v[int(NR*0.999)+1]/1000}'
}
