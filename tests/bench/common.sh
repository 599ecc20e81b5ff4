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
