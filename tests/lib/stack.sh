# stack.sh: start and stop the real parts (a throwaway PostgreSQL cluster, Kamailio with the
# ccroute module, sipp agents) on loopback, on free ports, in one temporary folder. Sourced by the
# demo and by the tests; everything started is stopped by stack_stop, which the caller traps.
#
# PostgreSQL refuses to run as root, so its cluster runs as the postgres system user.

STACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK_PG_BIN=$(pg_config --bindir)
STACK_PG_USER=${CCROUTE_PG_USER:-postgres}
STACK_PORTS=" "

# Started processes are written to a file, not a variable: helpers that start them run in
# command substitutions (subshells), whose variables never reach the caller.
stack_track() { echo "$1" >>"$STACK_DIR/pids"; }

# A loopback port no one listens on (TCP or UDP), never 5432 or 5060, never handed out twice.
stack_free_port() {
	local p used
	used=$(ss -Htuan 2>/dev/null | awk '{print $5}' | sed 's/.*://' | sort -u | tr '\n' ' ')
	while :; do
		p=$((20000 + RANDOM % 40000))
		case " $used $STACK_PORTS " in *" $p "*) continue ;; esac
		STACK_PORTS="$STACK_PORTS$p "
		echo "$p"
		return
	done
}

stack_as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$STACK_PG_USER" -- "$@"
	else
		"$@"
	fi
}

# stack_init: the temporary folder, readable by the PostgreSQL user.
stack_init() {
	STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ccroute.XXXXXX")
	chmod 755 "$STACK_DIR"
	export STACK_DIR
}

# stack_pg_cluster: a bare cluster, as the postgres system user, on a free port.
stack_pg_cluster() {
	PGPORT=$(stack_free_port)
	PGHOST=$STACK_DIR/pg
	PGUSER=$STACK_PG_USER
	PGDATABASE=ccroute
	export PGPORT PGHOST PGUSER PGDATABASE
	mkdir -p "$STACK_DIR/pg"
	chown "$STACK_PG_USER" "$STACK_DIR/pg" 2>/dev/null || true
	stack_as_pg "$STACK_PG_BIN/initdb" -D "$STACK_DIR/pg/data" -U "$STACK_PG_USER" \
		-A trust -E UTF8 --locale=C.UTF-8 >"$STACK_DIR/pg/initdb.log" 2>&1 ||
		{ cat "$STACK_DIR/pg/initdb.log"; return 1; }
	cat >>"$STACK_DIR/pg/data/postgresql.conf" <<-EOF
		listen_addresses = '127.0.0.1'
		port = $PGPORT
		unix_socket_directories = '$STACK_DIR/pg'
		max_connections = 100
		# Loaded at start, the library's check on ccroute.tenant_context holds in every session
		# from its first statement (see README: recommended for production too).
		shared_preload_libraries = 'ccroute,pgaudit'
		# People's reads of caller numbers go to the server log (pgaudit object audit).
		pgaudit.role = 'ccroute_auditor'
		pgaudit.log = 'none'
		log_line_prefix = '%m [%p] user=%u db=%d '
		# Durability stays on, as in production: every routed call is committed durably.
		synchronous_commit = on
		fsync = on
		log_min_messages = warning
		log_min_error_statement = error
	EOF
	stack_as_pg "$STACK_PG_BIN/pg_ctl" -D "$STACK_DIR/pg/data" -l "$STACK_DIR/pg/server.log" \
		-w -t 60 start >/dev/null || { cat "$STACK_DIR/pg/server.log"; return 1; }
	STACK_PG_STARTED=1
}

# stack_pg_start: a cluster with the extension created in database "ccroute", a platform DBA
# login "dba", the login "kamailio" for the proxy, which may only execute the routing function,
# and the login "gateway" for applications, which may only sign people in and use their tokens.
stack_pg_start() {
	stack_pg_cluster || return 1
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE ccroute' >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 <<-'EOF'
		CREATE EXTENSION ccroute;
		CREATE ROLE dba LOGIN IN ROLE ccroute_platform_dba;
		CREATE ROLE kamailio LOGIN IN ROLE ccroute_kamailio;
		CREATE ROLE gateway LOGIN IN ROLE ccroute_gateway;
	EOF
}

# stack_pg_stop: stops the cluster at once, as a crash would (its data stays for a restart).
# stack_pg_pids [DATA]: the postmaster of the cluster in DATA (the stack's own by default) and
# its children, for kill -STOP / -CONT.
stack_pg_pids() {
	local pm
	pm=$(head -n 1 "${1:-$STACK_DIR/pg/data}/postmaster.pid" 2>/dev/null) || return 0
	echo "$pm $(pgrep -P "$pm" | tr '\n' ' ')"
}

stack_pg_stop() {
	[ -n "${STACK_PG_STARTED:-}" ] || return 0
	stack_pg_stop_in "$STACK_DIR/pg/data"
	STACK_PG_STARTED=
}

# stack_pg_stop_in DATA: the server of data folder DATA stopped at once, as a crash would. Its
# processes work in DATA: waits (up to 10 s) until the last is gone, since a new server refuses
# to start while one still holds the old shared memory.
stack_pg_stop_in() {
	local data
	stack_as_pg "$STACK_PG_BIN/pg_ctl" -D "$1" -m immediate -w stop >/dev/null 2>&1
	data=$(readlink -f "$1")
	for _ in $(seq 1 100); do
		stack_pg_processes_in "$data" || return 0
		sleep 0.1
	done
}

# stack_pg_processes_in DIR: true while some process works in DIR.
stack_pg_processes_in() {
	local cwd
	for cwd in /proc/[0-9]*/cwd; do
		[ "$(readlink "$cwd" 2>/dev/null)" = "$1" ] && return 0
	done
	return 1
}

# stack_pg_restart: starts the cluster again. Right after a crash under load, the old server's
# last processes may still hold its shared memory for a moment (the new one then refuses to
# start): it is tried again for up to 10 s.
stack_pg_restart() {
	for _ in $(seq 1 20); do
		if stack_as_pg "$STACK_PG_BIN/pg_ctl" -D "$STACK_DIR/pg/data" -l "$STACK_DIR/pg/server.log" \
			-w -t 60 start >/dev/null 2>&1; then
			STACK_PG_STARTED=1
			return 0
		fi
		sleep 0.5
	done
	return 1
}

# stack_kamailio_start [extra -A defines...]: Kamailio with the freshly built module, the
# shipped configuration, and the database started above. A second proxy (tests/lib/ha.sh) sets
# STACK_KAM_NAME (its folder under $STACK_DIR, default "kamailio"), STACK_KAM_PORT (a port chosen
# beforehand, which its peer must know) and STACK_DB_URL (default: the one cluster above).
stack_kamailio_start() {
	local name=${STACK_KAM_NAME:-kamailio}
	KAM_PORT=${STACK_KAM_PORT:-$(stack_free_port)}
	export KAM_PORT
	mkdir -p "$STACK_DIR/$name"
	# tlsf: the memory manager kamailio_mod/doc/ccroute.md recommends ("Running it under load") (q_malloc's search for a free
	# fragment was a fifth of the proxy's time under load).
	kamailio -f "$STACK_ROOT/kamailio_mod/kamailio.cfg" -DD -E -m 128 -x tlsf -X tlsf \
		-Y "$STACK_DIR/$name" -P "$STACK_DIR/$name/kamailio.pid" \
		-A "LISTEN=udp:127.0.0.1:$KAM_PORT" \
		-A "CCROUTE_MODULE=\"$STACK_ROOT/kamailio_mod/ccroute.so\"" \
		-A "DB_URL=\"${STACK_DB_URL:-host=127.0.0.1 port=$PGPORT dbname=ccroute user=kamailio}\"" \
		-A "CTL_SOCKET=\"unix:$STACK_DIR/$name/ctl.sock\"" \
		"$@" >>"$STACK_DIR/$name/kamailio.log" 2>&1 &
	STACK_KAM_PID=$!
	stack_track "$STACK_KAM_PID"
	stack_kamailio_ready "$KAM_PORT" "$STACK_KAM_PID" "$STACK_DIR/$name/kamailio.log"
}

# stack_kamailio_ready PORT PID LOG: waits (up to 10 s) until the Kamailio PID has bound its SIP
# socket on UDP PORT; fails, showing the end of LOG, if it does not or exits first.
stack_kamailio_ready() {
	for _ in $(seq 1 100); do
		if ss -Huln "sport = :$1" | grep -q .; then return 0; fi
		if ! kill -0 "$2" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "kamailio did not start:" >&2
	tail -n 30 "$3" >&2
	return 1
}

# stack_kamcmd COMMAND [ARGS...]: an RPC command to the running Kamailio (STACK_KAM_NAME's).
stack_kamcmd() { kamcmd -s "unix:$STACK_DIR/${STACK_KAM_NAME:-kamailio}/ctl.sock" "$@"; }

stack_kamailio_stop() {
	[ -n "${STACK_KAM_PID:-}" ] || return 0
	stack_kill "$STACK_KAM_PID"
	STACK_KAM_PID=
}

# stack_kill PID: asks PID to stop, and kills it if it has not within 10 s.
stack_kill() {
	kill "$1" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$1" 2>/dev/null || true
}

# stack_load_fixture AGENTS PHONES_PORT: the load tests' tenant "load": AGENTS ready agents with
# no wrap-up on the sipp phones at PHONES_PORT, one skill, the DID +81355500000, and the callers'
# injection file $STACK_DIR/load.csv. Fails if any statement does.
stack_load_fixture() {
	local agents=$1 phones=$2
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba <<SQL || return 1
SELECT ccroute.create_tenant('load');
SELECT ccroute.create_person('load', 'tenant_admin', 'admin', 'Admin');
SQL
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U load.admin <<SQL || return 1
SELECT ccroute.set_call_settings(p_ring_timeout_seconds => 5, p_max_no_answers => 100);
INSERT INTO ccroute.skill (name) VALUES ('all');
INSERT INTO ccroute.agent (name, extension, contact_uri, wrapup_seconds)
SELECT 'Agent ' || i, (100 + i)::text, 'sip:a' || i || '@127.0.0.1:$phones', 0 FROM generate_series(1, $agents) i;
INSERT INTO ccroute.agent_skill (agent_id, skill_id) SELECT agent_id, skill_id FROM ccroute.agent, ccroute.skill;
SELECT count(ccroute.set_agent_state(extension, 'ready')) FROM ccroute.agent;
SQL
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba -c "SELECT ccroute.add_did('load', '+81355500000', 'all')" || return 1
	printf 'SEQUENTIAL\n+81355500000;+819055500000;\n' >"$STACK_DIR/load.csv"
}

# stack_agent_start NAME [SCENARIO]: a sipp phone that answers calls (or plays SCENARIO, a file
# in tests/sipp); prints its port. Calls it receives are logged, one Call-ID a line, in
# $STACK_DIR/agents/NAME.calls.
stack_agent_start() {
	local name=$1 scenario=${2:-agent_uas.xml} port out pid
	port=$(stack_free_port)
	mkdir -p "$STACK_DIR/agents"
	out=$(cd "$STACK_DIR/agents" && sipp -sf "$STACK_ROOT/tests/sipp/$scenario" \
		-i 127.0.0.1 -p "$port" ${STACK_SIPP_OPTS:-} -bg -nostdin -trace_logs -log_file "$STACK_DIR/agents/$name.calls" \
		-trace_err -error_file "$STACK_DIR/agents/$name.errors" 2>&1)
	pid=$(echo "$out" | sed -n 's/.*PID=\[\([0-9]*\)\].*/\1/p')
	if [ -z "$pid" ]; then
		echo "sipp agent $name did not start: $out" >&2
		return 1
	fi
	stack_track "$pid"
	touch "$STACK_DIR/agents/$name.calls"
	echo "$port"
}

# stack_calls CSV COUNT [sipp options...]: place COUNT calls through Kamailio, each dialing the
# next line's number (field0) from the next line's caller (field1).
stack_calls() {
	local csv=$1 count=$2
	shift 2
	(cd "$STACK_DIR" && sipp -sf "$STACK_ROOT/tests/sipp/caller_uac.xml" -inf "$csv" \
		-i 127.0.0.1 -p "$(stack_free_port)" -m "$count" -r 20 -l 50 -nostdin \
		-timeout 60 -timeout_error -trace_err -error_file callers.errors \
		"$@" "127.0.0.1:$KAM_PORT" >"$STACK_DIR/callers.out" 2>&1)
}

# stack_rejected_call CSV STATUS: one call that must be answered with STATUS.
stack_rejected_call() {
	local csv=$1 status=$2 scen="$STACK_DIR/rejected_$2.xml"
	sed "s/@STATUS@/$status/g" "$STACK_ROOT/tests/sipp/caller_rejected.xml.in" >"$scen"
	(cd "$STACK_DIR" && sipp -sf "$scen" -inf "$csv" -i 127.0.0.1 -p "$(stack_free_port)" \
		-m 1 -nostdin -timeout 20 -timeout_error -trace_err -error_file "rejected_$status.errors" \
		"127.0.0.1:$KAM_PORT" >"$STACK_DIR/rejected_$status.out" 2>&1)
}

# stack_diagnose: after a failed check, what the parts said, as TAP comments, so that a failure
# seen only in CI (where the folder is gone afterwards) shows its cause: sipp's unexpected
# messages, Kamailio's errors and warnings, PostgreSQL's errors. A few lines of each.
stack_diagnose() {
	local f
	[ -n "${STACK_DIR:-}" ] && [ -d "$STACK_DIR" ] && [ -z "${STACK_DIAGNOSED:-}" ] || return 0
	STACK_DIAGNOSED=1
	echo "# what the parts said (the test failed):"
	for f in $(find "$STACK_DIR" -maxdepth 2 -name '*.errors' -size +0 2>/dev/null | sort); do
		echo "# --- ${f#"$STACK_DIR"/}"
		# The callers' wait for a late 180 times out in almost every call, as it should.
		grep -a . "$f" | grep -av 'receive timeout on message .*jumping to label' | head -n 12 |
			cut -c 1-240 | sed 's/^/#   /'
	done
	for f in $(find "$STACK_DIR" -maxdepth 2 -name 'kamailio*.log' 2>/dev/null | sort); do
		echo "# --- ${f#"$STACK_DIR"/}: errors and warnings"
		grep -aE "(ERROR|WARNING|CRITICAL|ALERT):" "$f" | head -n 30 | cut -c 1-240 | sed 's/^/#   /'
	done
	for f in $(find "$STACK_DIR" -maxdepth 3 -name 'server.log' 2>/dev/null | sort); do
		echo "# --- ${f#"$STACK_DIR"/}: errors"
		grep -aE "(ERROR|FATAL|PANIC):" "$f" | head -n 15 | cut -c 1-240 | sed 's/^/#   /'
	done
	return 0
}

stack_stop() {
	set +e
	[ "${TAP_FAILED:-0}" -eq 0 ] || stack_diagnose
	local pid
	local pids
	pids=$(cat "${STACK_DIR:-/nonexistent}/pids" 2>/dev/null)
	for pid in $pids; do kill "$pid" 2>/dev/null; done
	for pid in $pids; do
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	done
	rm -f "${STACK_DIR:-/nonexistent}/pids"
	# The clusters of tests/lib/ha.sh (a primary and its standby), one data folder a line; thawed
	# first, since a frozen server ignores pg_ctl.
	local data
	for data in $(cat "${STACK_DIR:-/nonexistent}/clusters" 2>/dev/null); do
		[ -f "$data/postmaster.pid" ] || continue
		pid=$(head -n 1 "$data/postmaster.pid")
		kill -CONT "$pid" $(pgrep -P "$pid") 2>/dev/null
		stack_pg_stop_in "$data"
	done
	stack_pg_stop || true
	if [ -n "${STACK_DIR:-}" ] && [ -z "${CCROUTE_KEEP:-}" ]; then rm -rf "$STACK_DIR"; fi
	return 0
}
