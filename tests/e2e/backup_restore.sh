#!/usr/bin/env bash
# Backups and a restore (R11, docs/operations.md): a cluster holding two tenants' people (with
# their SQL passwords), agents, rules, calls routed and ended, presence history, a recording,
# sign-in credentials, sessions, audit rows and monthly partitions is backed up by
# scripts/backup.sh and restored by scripts/restore.sh into a fresh cluster (another initdb,
# another port, the same preloaded libraries). There every table of ccroute, partitions
# included, has the source's row count and checksum, every sequence its position, the schema
# equals the source's, every role its attributes, secret, memberships and settings. The restored
# cluster works: a person logs in over TCP with SCRAM, the gateway signs an agent in, a new call
# routes with a call_seq past every restored one, and the audit log holds what it held, not
# twice as much. A backup taken while calls are routed restores with the counts of its one
# snapshot. Then the refusals, and the rotation over ten nights: two daily and five weekly
# generations left, the right ones; a failing night deletes nothing.
source "$(dirname "$0")/../lib/e2e.sh"

q() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$@"; }
note() { sed 's/^/#   /' <<<"$1"; }
backups=$STACK_DIR/backups
PASS_ANN='Xq7-sql-pass-4Tw'
PASS_BOB='Zk9-sql-pass-8Wv'
SIGN_IN='sign-in-pass-1'
started=$(date +%s)

# --- The source: two tenants, with everything a tenant has.
q -o /dev/null -U dba <<SQL || tap_not_ok "fixture: tenants, people, numbers"
SELECT ccroute.create_tenant('acme', 'Asia/Tokyo', 'acme.test'), ccroute.create_tenant('beta', 'UTC', 'beta.test');
SELECT ccroute.create_person(t, 'tenant_admin', 'admin', initcap(t) || ' Admin'),
       ccroute.create_person(t, 'agent', 'ann', 'Ann of ' || t),
       ccroute.create_person(t, 'agent', 'bob', 'Bob of ' || t),
       ccroute.create_person(t, 'analyst', 'ana', 'Ana of ' || t)
  FROM unnest(ARRAY['acme', 'beta']) t;
SELECT ccroute.set_password(t, 'ann', '$SIGN_IN'), ccroute.set_password(t, 'bob', '$SIGN_IN'),
       ccroute.register_device(t, 'admin', '00:11:22:33:44:55', 'office')
  FROM unnest(ARRAY['acme', 'beta']) t;
SQL
for t in acme beta; do
	q -o /dev/null -U "$t.admin" <<-SQL || tap_not_ok "fixture: $t's configuration"
		INSERT INTO ccroute.skill (name) VALUES ('sales'), ('support');
		INSERT INTO ccroute.agent (name, extension, mobile, person_id, contact_uri)
		SELECT 'Agent ' || p.login, CASE p.login WHEN 'ann' THEN '100' ELSE '101' END, '+819012340000',
		       p.person_id, 'sip:' || p.login || '@192.0.2.10'
		  FROM ccroute.person p WHERE p.login IN ('ann', 'bob');
		INSERT INTO ccroute.agent_skill (agent_id, skill_id, proficiency)
		SELECT a.agent_id, s.skill_id, 5 FROM ccroute.agent a, ccroute.skill s;
		INSERT INTO ccroute.schedule (name) VALUES ('office');
		INSERT INTO ccroute.holiday (day, name) VALUES ('2027-01-01', 'New Year');
		UPDATE ccroute.password_policy SET history = 3;
		SELECT ccroute.activate_rule(ccroute.save_rule('return function() end', 'a rule'));
		SELECT ccroute.set_agent_state('100', 'ready'), ccroute.set_agent_state('101', 'not_ready', 'lunch'),
		       ccroute.set_agent_state('101', 'ready');
	SQL
done
q -o /dev/null -U dba <<'SQL' || tap_not_ok "fixture: numbers"
SELECT ccroute.add_did('acme', '+81311110000', 'sales'), ccroute.add_did('beta', '+81322220000', 'sales');
SQL
# People's own SQL passwords (SCRAM secrets made on the server).
check_eq "fixture: two people set their SQL passwords" "ok ok" \
	"$(q -U acme.ann -c "SELECT ccroute.set_sql_password('$PASS_ANN')") $(q -U beta.bob -c "SELECT ccroute.set_sql_password('$PASS_BOB')")"
# Sign-ins through the gateway: sessions, a failure counted.
q -o /dev/null -U gateway <<SQL || tap_not_ok "fixture: sign-ins"
SELECT ccroute.authenticate('acme', 'ann', '$SIGN_IN'), ccroute.authenticate('beta', 'bob', '$SIGN_IN'),
       ccroute.authenticate('beta', 'ann', 'wrong-password');
SQL
# Calls: three per tenant routed; two answered and ended, one still ringing at the backup.
q -o /dev/null -U kamailio <<'SQL' || tap_not_ok "fixture: calls"
CREATE TEMP TABLE routed AS
SELECT c, r.* FROM (VALUES ('c1', '+81311110000'), ('c2', '+81322220000')) v (c, d),
       LATERAL ccroute.route_call(c, '+819099990000', d) r;
SELECT ccroute.call_event(tenant_id, call_seq, 'answered'), ccroute.call_event(tenant_id, call_seq, 'ended') FROM routed;
SELECT ccroute.route_call('c3', '+819099990001', '+81311110000');
SQL
# Settings of a role, of the database, of a role in the database; a recording; monthly
# partitions from maintenance, and a row older than them (in the default partition).
q -o /dev/null <<'SQL' || tap_not_ok "fixture: settings, recording, partitions"
ALTER ROLE gateway SET log_statement = 'none';
ALTER DATABASE ccroute SET work_mem = '8MB';
ALTER ROLE kamailio IN DATABASE ccroute SET statement_timeout = '2s';
INSERT INTO ccroute.recording (tenant_id, call_seq, caller, path, size_bytes, duration_seconds)
SELECT tenant_id, call_seq, caller, tenant_id || '/c1.wav', 6, 9 FROM ccroute.call_history WHERE call_id = 'c1';
SELECT count(*) FROM ccroute.maintain(now());
INSERT INTO ccroute.call_history (tenant_id, call_seq, call_id, caller, dialed, action, outcome, arrived_at)
SELECT tenant_id, nextval('ccroute.live_call_call_seq_seq'), 'old', '+819099990000', '+81311110000', 'agent',
       'answered', now() - interval '20 months'
  FROM ccroute.tenant WHERE name = 'acme';
SQL

# What is compared: every table of the schema (partitions one by one) with its row count and
# the md5 of its rows' text in order, read as a superuser (no row-level security); sequences'
# positions; the extension's version; every role but the bootstrap superuser and PostgreSQL's
# own, with attributes, secret, memberships and settings.
cat >"$STACK_DIR/state.sql" <<'SQL'
SELECT 'table ' || c.oid::regclass::text || ' ' ||
       (xpath('/row/s/text()', query_to_xml(pg_catalog.format(
           'SELECT count(*) || '' '' || md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) AS s FROM ONLY %s t',
           c.oid::regclass), false, true, '')))[1]::text
  FROM pg_class c WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relkind = 'r'
UNION ALL
SELECT 'sequence ' || schemaname || '.' || sequencename || ' ' || coalesce(last_value::text, 'unused')
  FROM pg_sequences WHERE schemaname = 'ccroute'
UNION ALL
SELECT 'extension ' || extname || ' ' || extversion FROM pg_extension WHERE extname = 'ccroute'
UNION ALL
SELECT 'role ' || rolname || ' super=' || rolsuper || ' inherit=' || rolinherit || ' createrole=' || rolcreaterole
       || ' createdb=' || rolcreatedb || ' login=' || rolcanlogin || ' replication=' || rolreplication
       || ' bypassrls=' || rolbypassrls || ' connlimit=' || rolconnlimit
       || ' validuntil=' || coalesce(rolvaliduntil::text, '-') || ' secret=' || coalesce(rolpassword, '-')
  FROM pg_authid WHERE rolname !~ '^pg_' AND rolname <> current_user
UNION ALL
SELECT 'member ' || m.rolname || ' of ' || g.rolname || ' admin=' || a.admin_option
  FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member JOIN pg_roles g ON g.oid = a.roleid
UNION ALL
SELECT 'setting ' || coalesce(r.rolname, '-') || ' in ' || coalesce(d.datname, '-') || ' ' || s.setconfig::text
  FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase
ORDER BY 1;
SQL
state() { q -f "$STACK_DIR/state.sql" "$@"; }
schema() { q -f tests/sql/describe_schema.sql "$@"; }
state >"$STACK_DIR/source.state"
schema >"$STACK_DIR/source.schema"
check_eq "every table and sequence of the extension is marked to be dumped with its rows" "" \
	"$(q -c "SELECT string_agg(c.relname, ' ') FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
		JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ccroute'
		WHERE d.deptype = 'e' AND c.relkind IN ('r', 'S') AND c.oid <> ALL (e.extconfig)")"
check_eq "fixture: the source holds rows of every kind (people, credentials, sessions, calls live and ended, presence, recording, audit, monthly partitions)" \
	"t" "$(q -c "SELECT (SELECT count(*) FROM ccroute.role_map) = 8 AND (SELECT count(*) FROM ccroute.login_credential) >= 4
		AND (SELECT count(*) FROM ccroute.app_session) = 2 AND (SELECT count(*) FROM ccroute.live_call) = 1
		AND (SELECT count(*) FROM ONLY ccroute.call_history_default) = 1
		AND (SELECT count(*) FROM ccroute.call_history) = 3 AND (SELECT count(*) FROM ccroute.agent_state_history) >= 6
		AND (SELECT count(*) FROM ccroute.recording) = 1 AND (SELECT count(*) FROM ccroute.audit_log) > 20
		AND (SELECT count(*) FROM ccroute.routing_rule) = 2 AND (SELECT count(*) FROM ccroute.person_device) = 2
		AND (SELECT count(*) FROM ccroute.month_partitions('ccroute.call_history')) >= 3
		AND (SELECT count(*) FROM ccroute.call_history h WHERE tableoid <> 'ccroute.call_history_default'::regclass) = 2")"
check_eq "fixture: the comparison covers at least 30 tables and 11 sequences" "t t" \
	"$([ "$(grep -c '^table ' "$STACK_DIR/source.state")" -ge 30 ] && echo t) $([ "$(grep -c '^sequence ' "$STACK_DIR/source.state")" -ge 11 ] && echo t)"

# --- The backup, as the nightly job takes it (as root: it runs as postgres).
t0=$(date +%s%N)
out=$(scripts/backup.sh --dir "$backups" --host "$PGHOST" --port "$PGPORT" --user postgres --date 2027-01-10 2>&1)
rc=$?
check_eq "backup.sh succeeds ($(( ($(date +%s%N) - t0) / 1000000 )) ms)" 0 "$rc"
note "$out"
gen=$backups/daily/2027-01-10
check_eq "the generation holds the dump, the roles, the settings, the counts, the contents and checksums" \
	"SHA256SUMS ccroute.dump contents.txt database.sql globals.sql info rows.txt server-settings.txt" \
	"$(ls "$gen" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
check_eq "2027-01-10 is a Sunday: the generation is kept as a weekly one too (same files, hard links)" \
	"$(stat -c %i "$gen/ccroute.dump" 2>/dev/null || echo 'no daily dump')" "$(stat -c %i "$backups/weekly/2027-01-10/ccroute.dump" 2>/dev/null)"
check_eq "the archive holds the rows of the extension's tables (the tenants' row is in it)" "1" \
	"$(pg_restore -a -t tenant -f - "$gen/ccroute.dump" 2>/dev/null | grep -c '^[0-9]*	acme	')"
check_eq "the generation is readable by no one but its owner" "drwx------ postgres" \
	"$(stat -c '%A %U' "$gen")"

# --- A fresh cluster: another initdb, another port, the source's settings (its preloaded
# libraries among them), TCP asking for SCRAM passwords.
R=$STACK_DIR/restored
R_PORT=$(stack_free_port)
restored_stop() {
	[ -f "$R/data/postmaster.pid" ] && stack_as_pg "$STACK_PG_BIN/pg_ctl" -D "$R/data" -m immediate -w stop >/dev/null 2>&1
	stack_stop
}
trap restored_stop EXIT
mkdir -p "$R" && chown "$STACK_PG_USER" "$R"
stack_as_pg "$STACK_PG_BIN/initdb" -D "$R/data" -U "$STACK_PG_USER" -A trust -E UTF8 --locale=C.UTF-8 >"$R/initdb.log" 2>&1 ||
	tap_not_ok "the fresh cluster is made" "$(tail -n 5 "$R/initdb.log")"
sed -n '/^listen_addresses = /,$p' "$PGHOST/data/postgresql.conf" |
	sed "s/^port = .*/port = $R_PORT/; s|^unix_socket_directories = .*|unix_socket_directories = '$R'|" >>"$R/data/postgresql.conf"
{ echo "host all all 127.0.0.1/32 scram-sha-256"; echo "local all all trust"; } >"$R/data/pg_hba.conf"
stack_as_pg "$STACK_PG_BIN/pg_ctl" -D "$R/data" -l "$R/server.log" -w -t 60 start >/dev/null ||
	tap_not_ok "the fresh cluster starts" "$(tail -n 5 "$R/server.log")"
check_eq "the fresh cluster preloads the source's libraries and has no database ccroute" "ccroute,pgaudit|0" \
	"$(q -h "$R" -p "$R_PORT" -d postgres -c "SELECT current_setting('shared_preload_libraries'),
		(SELECT count(*) FROM pg_database WHERE datname = 'ccroute')")"

t0=$(date +%s%N)
out=$(scripts/restore.sh --from "$gen" --host "$R" --port "$R_PORT" --user postgres 2>&1)
rc=$?
check_eq "restore.sh succeeds ($(( ($(date +%s%N) - t0) / 1000000 )) ms)" 0 "$rc"
note "$out"

# --- Everything as it was.
state -h "$R" -p "$R_PORT" -d ccroute >"$STACK_DIR/restored.state"
diff "$STACK_DIR/source.state" "$STACK_DIR/restored.state" >"$STACK_DIR/state.diff"
check_eq "every table's count and checksum, every sequence, role, membership and setting equal the source's ($(wc -l <"$STACK_DIR/source.state") lines)" \
	"" "$(head -n 20 "$STACK_DIR/state.diff")"
schema -h "$R" -p "$R_PORT" -d ccroute >"$STACK_DIR/restored.schema"
diff "$STACK_DIR/source.schema" "$STACK_DIR/restored.schema" >"$STACK_DIR/schema.diff"
check_eq "the restored schema equals the source's, maintenance's partitions with their security included" \
	"" "$(head -n 20 "$STACK_DIR/schema.diff")"
check_eq "people's roles came back with their SCRAM secrets" "2" \
	"$(q -h "$R" -p "$R_PORT" -d ccroute -c "SELECT count(*) FROM pg_authid WHERE rolname IN ('acme.ann', 'beta.bob')
		AND rolpassword LIKE 'SCRAM-SHA-256\$%'")"

audit_src=$(q -c "SELECT count(*) || ' ' || max(audit_id) FROM ccroute.audit_log")
check_eq "the restore wrote no audit row (its triggers were off): the same rows as the source, not twice as many" "$audit_src" \
	"$(q -h "$R" -p "$R_PORT" -d ccroute -c "SELECT count(*) || ' ' || max(audit_id) FROM ccroute.audit_log")"

# --- The restored cluster works.
login() { PGPASSWORD=$3 psql -X -A -t -w -h 127.0.0.1 -p "$1" -U "$2" -d ccroute -c 'SELECT current_user' 2>&1 | head -n 1; }
check_eq "a person logs in to the restored cluster over TCP with their password (SCRAM)" "acme.ann" \
	"$(login "$R_PORT" acme.ann "$PASS_ANN")"
check_eq "another tenant's person too" "beta.bob" "$(login "$R_PORT" beta.bob "$PASS_BOB")"
check_eq "a wrong password is refused there" "psql: error: connection to server at \"127.0.0.1\", port $R_PORT failed: FATAL:  password authentication failed for user \"acme.ann\"" \
	"$(login "$R_PORT" acme.ann "$PASS_BOB")"
check_eq "the gateway signs an agent in with the restored credentials" "ok" \
	"$(q -h "$R" -p "$R_PORT" -d ccroute -U gateway -c "SELECT outcome FROM ccroute.authenticate('beta', 'ann', '$SIGN_IN')")"
max_seq=$(q -h "$R" -p "$R_PORT" -d ccroute -c "SELECT max(call_seq) FROM (SELECT call_seq FROM ccroute.call_history UNION ALL SELECT call_seq FROM ccroute.live_call) x")
new=$(q -h "$R" -p "$R_PORT" -d ccroute -U kamailio -c "SELECT action || ' ' || call_seq FROM ccroute.route_call('after-restore', '+819099990002', '+81322220000')")
check_eq "a new call routes to an agent in the restored database" "agent" "${new%% *}"
check_le "its call_seq (${new##* }) comes after every restored one ($max_seq)" "$((${new##* } - 1))" "${max_seq:-0}"
q -o /dev/null -h "$R" -p "$R_PORT" -d ccroute -U acme.admin -c "INSERT INTO ccroute.skill (name) VALUES ('after restore')"
check_eq "a change after the restore is audited, numbered after the restored rows" "1" \
	"$(q -h "$R" -p "$R_PORT" -d ccroute -c "SELECT count(*) FROM ccroute.audit_log WHERE audit_id > ${audit_src##* }
		AND new_row->>'name' = 'after restore'")"

# --- A backup while calls keep coming: the dump and its row counts are of one snapshot, so
# the restore's own comparison of counts holds (it fails otherwise).
for i in $(seq 1 3000); do
	echo "SELECT ccroute.call_event(tenant_id, call_seq, 'ended') FROM ccroute.route_call('load-$i', '+819099990003', '+81322220000');"
done >"$STACK_DIR/load.sql"
q -o /dev/null -U kamailio -f "$STACK_DIR/load.sql" &
load=$!
for _ in $(seq 1 100); do
	[ "$(q -c "SELECT count(*) FROM ccroute.call_history WHERE call_id LIKE 'load-%'")" -gt 100 ] && break
	sleep 0.05
done
out=$(scripts/backup.sh --dir "$STACK_DIR/under-load" --host "$PGHOST" --port "$PGPORT" --user postgres --date 2027-01-11 2>&1)
rc=$?
running=$(kill -0 "$load" 2>/dev/null && echo running)
wait "$load"
loaded=$(q -c "SELECT count(*) FROM ccroute.call_history WHERE call_id LIKE 'load-%'")
check_eq "a backup taken while calls are routed and ended succeeds, the load still running at its end" \
	"0 running" "$rc $running"
out=$(scripts/restore.sh --from "$STACK_DIR/under-load/daily/2027-01-11" --host "$R" --port "$R_PORT" --user postgres \
	--dbname underload --no-globals 2>&1)
rc=$?
in_dump=$(q -h "$R" -p "$R_PORT" -d underload -c "SELECT count(*) FROM ccroute.call_history WHERE call_id LIKE 'load-%'")
check_eq "it restores (as database underload) with every table's count equal to its snapshot's, mid-load ($in_dump of $loaded calls)" \
	"0 t" "$rc $([ "${in_dump:-0}" -gt 0 ] && [ "$in_dump" -lt "$loaded" ] && echo t)"
note "$out"

# --- Refusals: a database that exists, a generation that does not match its checksums, and a
# database whose ccroute (0.6) would be dumped without its rows.
out=$(scripts/restore.sh --from "$gen" --host "$R" --port "$R_PORT" --user postgres --no-globals 2>&1)
check_eq "restore.sh refuses a database that exists (exit 1)" 1 "$?"
note "$out"
cp -a "$gen" "$STACK_DIR/tampered" && echo 'ccroute.tenant	99' >>"$STACK_DIR/tampered/rows.txt"
out=$(scripts/restore.sh --from "$STACK_DIR/tampered" --host "$R" --port "$R_PORT" --dbname other --no-globals 2>&1)
check_eq "restore.sh refuses a generation that does not match its checksums (exit 1, no database made)" "1 0" \
	"$? $(q -h "$R" -p "$R_PORT" -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'other'")"
note "$out"
q -o /dev/null -d postgres -c 'CREATE DATABASE old' && q -o /dev/null -d old -c "CREATE EXTENSION ccroute VERSION '0.6'"
out=$(scripts/backup.sh --dir "$STACK_DIR/old-backups" --host "$PGHOST" --port "$PGPORT" --user postgres --dbname old 2>&1)
rc=$?
check_eq "backup.sh refuses a database at ccroute 0.6, whose tables pg_dump writes without rows (exit 1, no generation)" \
	"1 " "$rc $(ls "$STACK_DIR/old-backups/daily" 2>/dev/null)"
note "$(cut -c 1-160 <<<"$out")..."

# --- Rotation over ten nights: seven Sundays (weekly) and three weekdays. Left: the two newest
# daily generations and the five newest weekly ones.
rm -rf "$backups"
nights="2027-01-03 2027-01-10 2027-01-17 2027-01-24 2027-01-31 2027-02-07 2027-02-14 2027-02-15 2027-02-16 2027-02-17"
bad=0
for d in $nights; do
	scripts/backup.sh --dir "$backups" --host "$PGHOST" --port "$PGPORT" --user postgres --date "$d" >/dev/null 2>&1 || bad=$((bad + 1))
done
check_eq "ten nightly backups succeed" 0 "$bad"
kept() { echo "daily: $(ls "$backups/daily" | tr '\n' ' ')weekly: $(ls "$backups/weekly" | tr '\n' ' ')"; }
check_eq "two daily and five weekly generations are kept, the newest" \
	"daily: 2027-02-16 2027-02-17 weekly: 2027-01-17 2027-01-24 2027-01-31 2027-02-07 2027-02-14 " "$(kept)"
check_eq "each weekly generation is its own night's" "2027-01-17 2027-01-24 2027-01-31 2027-02-07 2027-02-14" \
	"$(for w in "$backups"/weekly/*; do sed -n 's/^date=//p' "$w/info"; done | tr '\n' ' ' | sed 's/ $//')"
scripts/backup.sh --dir "$backups" --host "$PGHOST" --port "$PGPORT" --user postgres --date 2027-02-18 --weekly-on thu >/dev/null 2>&1
check_eq "the weekly day is configurable (--weekly-on thu): Thursday's is kept, the oldest weekly goes" \
	"daily: 2027-02-17 2027-02-18 weekly: 2027-01-24 2027-01-31 2027-02-07 2027-02-14 2027-02-18 " "$(kept)"
taken=$(sed -n 's/^taken_at=//p' "$backups/daily/2027-02-18/info")
scripts/backup.sh --dir "$backups" --host "$PGHOST" --port "$PGPORT" --user postgres --date 2027-02-18 >/dev/null 2>&1
check_eq "a second run on the same date replaces that date's generation, and nothing else" \
	"daily: 2027-02-17 2027-02-18 weekly: 2027-01-24 2027-01-31 2027-02-07 2027-02-14 2027-02-18 |new" \
	"$(kept)|$([ "$(sed -n 's/^taken_at=//p' "$backups/daily/2027-02-18/info")" != "$taken" ] && echo new)"
# The holder is one process (the subshell becomes sleep), so stopping it frees the lock.
(exec 9>>"$backups/.lock" && flock 9 && exec sleep 10) &
holder=$!
sleep 0.3
listing=$(kept)
out=$(scripts/backup.sh --dir "$backups" --host "$PGHOST" --port "$PGPORT" --user postgres --date 2027-02-19 2>&1)
rc=$?
check_eq "a run while another holds the folder refuses (exit 1) and changes nothing" "1 $listing" "$rc $(kept)"
note "$out"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
before=$(kept)
out=$(scripts/backup.sh --dir "$backups" --host 127.0.0.1 --port "$(stack_free_port)" --user postgres --date 2027-02-19 2>&1)
rc=$?
check_eq "a failing night (no server on that port) exits non-zero, saying why" "1 cannot connect" \
	"$rc $(grep -o 'cannot connect' <<<"$out")"
note "$out"
check_eq "and deletes no generation, leaving no partial one" "$before|" \
	"$(kept)|$(ls -A "$backups" | grep -v '^daily$\|^weekly$\|^\.lock$')"
check_eq "every generation left still matches its checksums" "" \
	"$(for g in "$backups"/daily/* "$backups"/weekly/*; do (cd "$g" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1) || echo "$g"; done)"

check_le "the test took at most 60 s" 60 $(($(date +%s) - started))
tap_exit
