# ha.sh: the high-availability topology (issue 9), on loopback and free ports, for the tests
# that source it after tests/lib/e2e.sh (which started the first cluster, "pg", with the
# extension): a streaming hot standby "pg2" made by pg_basebackup with a replication slot, each
# server's sync guard (scripts/ccroute-sync-guard.sh), and two Kamailio proxies "kam1" and
# "kam2" that share the database through one multi-host connection string and replicate the
# phones' registrations to each other (the shipped kamailio.cfg with WITH_DMQ).
#
# Servers are named by their folder under $STACK_DIR; either may be the primary, and after a
# failover the old primary is rebuilt as the new one's standby (ha_pg_rebuild).

HA_NODES="pg pg2"
# Both servers, primary or not: the standbys' application_name is their cluster_name.
HA_SYNC_NAMES="ANY 1 (pg, pg2)"

ha_port() { cat "$STACK_DIR/$1/port"; }
ha_data() { echo "$STACK_DIR/$1/data"; }
# ha_psql NODE [psql args...]: psql to NODE as the postgres superuser, database ccroute.
ha_psql() {
	local node=$1
	shift
	psql -X -h "$STACK_DIR/$node" -p "$(ha_port "$node")" -U "$STACK_PG_USER" -d ccroute "$@"
}
# ha_use NODE: psql's defaults (PGHOST, PGPORT) point at NODE, as the other tests' psql calls expect.
ha_use() {
	PGHOST=$STACK_DIR/$1
	PGPORT=$(ha_port "$1")
	export PGHOST PGPORT
}
# The connection string both proxies use: both servers, the writable one wanted.
ha_db_url() {
	echo "host=127.0.0.1,127.0.0.1 port=$(ha_port pg),$(ha_port pg2) dbname=ccroute user=kamailio target_session_attrs=read-write"
}

# ha_pg_start MODE: turns the cluster of e2e.sh into the primary "pg" and makes its standby
# "pg2". MODE sync (the recommended setting: synchronous_standby_names with the guards) or
# async (no synchronous standby).
ha_pg_start() {
	HA_MODE=${1:-sync}
	echo "$PGPORT" >"$STACK_DIR/pg/port"
	echo "$(ha_data pg)" >>"$STACK_DIR/clusters"
	ha_conf pg >>"$(ha_data pg)/postgresql.conf"
	stack_as_pg "$STACK_PG_BIN/pg_ctl" -D "$(ha_data pg)" -l "$STACK_DIR/pg/server.log" -w -t 60 \
		restart >/dev/null || return 1
	if [ "$HA_MODE" = sync ]; then
		ha_psql pg -qc "ALTER SYSTEM SET synchronous_standby_names = '$HA_SYNC_NAMES'" -c "SELECT pg_reload_conf()" \
			>/dev/null || return 1
	fi
	mkdir -p "$STACK_DIR/pg2"
	stack_free_port >"$STACK_DIR/pg2/port"
	chown "$STACK_PG_USER" "$STACK_DIR/pg2"
	echo "$(ha_data pg2)" >>"$STACK_DIR/clusters"
	ha_pg_rebuild pg2 pg || return 1
	if [ "$HA_MODE" = sync ]; then
		ha_guard_start pg
		ha_guard_start pg2
	fi
	# The standby streams (and, synchronous, is the one commits wait for).
	for _ in $(seq 1 100); do
		[ "$(ha_psql pg -Atc "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ] && return 0
		sleep 0.1
	done
	echo "the standby does not stream" >&2
	return 1
}

# The replication settings of NODE, appended to its postgresql.conf (later lines win, so a
# copy of the primary's file made by pg_basebackup gets the standby's own port and name).
ha_conf() {
	cat <<-EOF
		# --- tests/lib/ha.sh: server $1
		port = $(ha_port "$1")
		unix_socket_directories = '$STACK_DIR/$1'
		cluster_name = '$1'
		wal_level = replica
		max_wal_senders = 10
		max_replication_slots = 10
		hot_standby = on
		# The standby reports what it has written at least every second, so the primary (and
		# the guard) knows within a second that it is there.
		wal_receiver_status_interval = 1s
		wal_sender_timeout = 10s
		# A promoted standby can rejoin as a standby later (pg_rewind) instead of a full copy.
		wal_log_hints = on
	EOF
}

# ha_pg_rebuild NODE FROM: (re)makes NODE a streaming standby of FROM: a fresh base backup
# with a replication slot named after NODE (made again on FROM if it has none), started.
ha_pg_rebuild() {
	local node=$1 from=$2 data
	data=$(ha_data "$node")
	ha_pg_stop "$node"
	rm -rf "$data"
	ha_psql "$from" -qc "SELECT pg_drop_replication_slot('$node') FROM pg_replication_slots WHERE slot_name = '$node'" \
		>/dev/null 2>&1
	stack_as_pg "$STACK_PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$(ha_port "$from")" -U "$STACK_PG_USER" \
		-D "$data" -X stream -c fast -C -S "$node" -R >"$STACK_DIR/$node/basebackup.log" 2>&1 ||
		{ cat "$STACK_DIR/$node/basebackup.log" >&2; return 1; }
	ha_conf "$node" | stack_as_pg tee -a "$data/postgresql.conf" >/dev/null
	ha_pg_start_node "$node"
}

ha_pg_start_node() {
	stack_as_pg "$STACK_PG_BIN/pg_ctl" -D "$(ha_data "$1")" -l "$STACK_DIR/$1/server.log" -w -t 60 \
		start >/dev/null || { tail -n 20 "$STACK_DIR/$1/server.log" >&2; return 1; }
}

# ha_pg_stop NODE: stopped at once, as a crash would (thawed first if frozen).
ha_pg_stop() {
	local data
	data=$(ha_data "$1")
	[ -f "$data/postmaster.pid" ] || return 0
	ha_pg_thaw "$1"
	stack_pg_stop_in "$data"
}

# ha_pg_pids NODE: the postmaster and its children.
ha_pg_pids() { stack_pg_pids "$(ha_data "$1")"; }
# ha_pg_freeze NODE / ha_pg_thaw NODE: every process of the server stopped (kill -STOP) or
# resumed: to its clients, a machine that stopped answering, or a network that drops everything.
ha_pg_freeze() { kill -STOP $(ha_pg_pids "$1") 2>/dev/null; }
ha_pg_thaw() { kill -CONT $(ha_pg_pids "$1") 2>/dev/null; }

# ha_pg_promote NODE: the standby becomes the primary (pg_ctl promote, waiting until it is).
ha_pg_promote() {
	stack_as_pg "$STACK_PG_BIN/pg_ctl" -D "$(ha_data "$1")" -w -t 60 promote >/dev/null
}

# ha_guard_start NODE: the sync guard beside NODE (its log: $STACK_DIR/NODE/guard.log).
ha_guard_start() {
	"$STACK_ROOT/scripts/ccroute-sync-guard.sh" --names "$HA_SYNC_NAMES" --host "$STACK_DIR/$1" \
		--port "$(ha_port "$1")" --user "$STACK_PG_USER" >>"$STACK_DIR/$1/guard.log" 2>&1 &
	stack_track $!
}

# ha_kamailio_start NAME [extra -A defines...]: proxy NAME (kam1 or kam2) on the port in
# $STACK_DIR/NAME.port, its DMQ peer the other one's; both ports are chosen by ha_kamailio_ports.
ha_kamailio_ports() {
	[ -f "$STACK_DIR/kam1.port" ] || stack_free_port >"$STACK_DIR/kam1.port"
	[ -f "$STACK_DIR/kam2.port" ] || stack_free_port >"$STACK_DIR/kam2.port"
}
ha_kam_port() { cat "$STACK_DIR/$1.port"; }
ha_kamailio_start() {
	local name=$1 peer=kam1
	shift
	[ "$name" = kam1 ] && peer=kam2
	ha_kamailio_ports
	STACK_KAM_NAME=$name STACK_KAM_PORT=$(ha_kam_port "$name") STACK_DB_URL=$(ha_db_url) \
		stack_kamailio_start -A WITH_DMQ \
		-A "DMQ_ADDRESS=\"sip:127.0.0.1:$(ha_kam_port "$name")\"" \
		-A "DMQ_PEER=\"sip:127.0.0.1:$(ha_kam_port "$peer")\"" "$@" || return 1
	echo "$STACK_KAM_PID" >"$STACK_DIR/$name/pid"
}
# ha_kamcmd NAME COMMAND [ARGS...]
ha_kamcmd() {
	local name=$1
	shift
	STACK_KAM_NAME=$name stack_kamcmd "$@"
}
# ha_kamailio_kill NAME: killed at once (SIGKILL, every process of it), as a crash would.
ha_kamailio_kill() {
	local pid
	pid=$(cat "$STACK_DIR/$1/pid")
	kill -9 $(pgrep -P "$pid") "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null # reaped here, without the shell's "Killed" notice
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	# Its socket is free again once its last process is gone.
	for _ in $(seq 1 50); do ss -Huln "sport = :$(ha_kam_port "$1")" | grep -q . || return 0; sleep 0.1; done
}

# ha_register PROXY DOMAIN USER PASSWORD PHONE_PORT: the phone at PHONE_PORT registers as USER
# in DOMAIN through PROXY, answering the digest challenge (tests/sipp/register_ok.xml).
ha_register() {
	(cd "$STACK_DIR" && sipp -sf "$STACK_ROOT/tests/sipp/register_ok.xml" -key domain "$2" -key user "$3" \
		-au "$3" -ap "$4" -key phone_port "$5" -i 127.0.0.1 -p "$(stack_free_port)" -m 1 -nostdin \
		-timeout 10 -timeout_error -trace_err -error_file register.errors \
		"127.0.0.1:$(ha_kam_port "$1")" >"$STACK_DIR/register.out" 2>&1)
}

# ha_pg_fence NODE: a server that must never come back as it was (an old primary after its
# standby was promoted): every process killed at once, frozen or not (SIGKILL needs no thaw).
# It is then rebuilt as a standby (ha_pg_rebuild).
ha_pg_fence() {
	local pids
	pids=$(ha_pg_pids "$1")
	[ -n "${pids// /}" ] && kill -9 $pids 2>/dev/null
	ha_pg_stop "$1"
}

# --- Load for the drills: sipp callers through a proxy, each in a folder of its own.
# ha_caller_start NAME PROXY RATE COUNT: COUNT calls at RATE a second from a sipp caller to
# PROXY (kam1 or kam2), dialing $STACK_DIR/load.csv's number; in the background (its pid in
# $STACK_DIR/callers/NAME/pid). Every call's time to its final answer goes to *_rtt.csv.
# HA_CALLER_SCENARIO: another caller scenario (default tests/sipp/caller_uac.xml).
ha_caller_start() {
	local name=$1 proxy=$2 rate=$3 count=$4 dir=$STACK_DIR/callers/$1
	mkdir -p "$dir"
	(cd "$dir" && exec sipp -sf "${HA_CALLER_SCENARIO:-$STACK_ROOT/tests/sipp/caller_uac.xml}" -inf "$STACK_DIR/load.csv" \
		-i 127.0.0.1 -p "$(stack_free_port)" -r "$rate" -m "$count" -l 1000 -nostdin \
		-recv_timeout 8000 -timeout $((count / rate + 40)) -timeout_error -trace_err -error_file errors \
		-trace_stat -stf stats.csv -fd 1 -trace_rtt -rtt_freq 1 \
		"127.0.0.1:$(ha_kam_port "$proxy")" >"$dir/out" 2>&1) &
	echo $! >"$dir/pid"
	stack_track $!
}
ha_caller_wait() { wait "$(cat "$STACK_DIR/callers/$1/pid")" 2>/dev/null; }
# ha_caller_stat NAME COLUMN: a figure from the caller's last statistics line (sipp -trace_stat).
ha_caller_stat() {
	local f=$STACK_DIR/callers/$1/stats.csv col
	col=$(head -n 1 "$f" 2>/dev/null | tr ';' '\n' | grep -nx "$2" | cut -d: -f1)
	[ -n "$col" ] || { echo 0; return 1; }
	tail -n 1 "$f" | cut -d';' -f"$col"
}
# ha_caller_slowest NAME...: the longest time (ms, whole) an INVITE of these callers waited for
# its final answer.
ha_caller_slowest() {
	local n
	for n in "$@"; do cut -d';' -f2 "$STACK_DIR/callers/$n"/*_rtt.csv 2>/dev/null; done |
		grep -E '^[0-9.]+$' | sort -n | tail -n 1 | sed 's/\..*//'
}
ha_now_ms() { echo $(($(date +%s%N) / 1000000)); }
