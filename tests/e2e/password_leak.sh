#!/usr/bin/env bash
# A sentinel password must appear nowhere the server keeps text: not in a server log line (the
# server logs every statement, with parameters, durations and failing statements), not in
# pg_stat_statements, not in pg_stat_activity, not in the audit log, not in an error message.
# It is used in successful sign-ins and password changes, in calls that fail (a wrong password,
# a policy violation, an over-long password, a bad token), through the simple query protocol
# (psql, the password inside the statement's text) and the extended one (pgbench -M extended,
# the password a bound parameter). The application role carries the settings pg_ext/README.md
# documents; the same calls by a role without them are the positive control: they do leak, so
# the checks can see a leak.
source "$(dirname "$0")/../lib/e2e.sh"

SENTINEL='Sentinel-7Qx2Kp9-lk'
# The checks' own statements are logged too: they look for it by a pattern that does not hold it.
HIDDEN="'%Sentin' || 'el-%'"
SENTINEL_NEW='Sentinel-Zr5Vw3m-nx'
CONTROL='Control-Hd8Lq4n-visible'

# The server as loud as it gets: every statement, every parameter, every duration, the
# statement of every error and notice, pgaudit logging everything, pg_stat_statements on.
cat >>"$PGHOST/data/postgresql.conf" <<'EOF'
shared_preload_libraries = 'ccroute,pgaudit,pg_stat_statements'
log_statement = 'all'
log_min_duration_statement = 0
log_duration = on
log_min_messages = info
log_min_error_statement = info
log_parameter_max_length = -1
log_parameter_max_length_on_error = -1
pgaudit.log = 'all'
pgaudit.log_parameter = on
pg_stat_statements.track = 'all'
compute_query_id = on
EOF
stack_as_pg "$STACK_PG_BIN/pg_ctl" -D "$PGHOST/data" -l "$PGHOST/server.log" -w -t 60 restart >/dev/null ||
	{ tap_not_ok "postgresql restarts with full logging"; exit 1; }

psql -X -q -o /dev/null -v ON_ERROR_STOP=1 <<'SQL' || { tap_not_ok "fixture"; exit 1; }
CREATE EXTENSION pg_stat_statements;
-- The settings for every role that authenticates (pg_ext/README.md, Signing in).
ALTER ROLE gateway SET log_statement = 'none';
ALTER ROLE gateway SET log_min_duration_statement = -1;
ALTER ROLE gateway SET log_duration = off;
ALTER ROLE gateway SET log_min_error_statement = 'panic';
ALTER ROLE gateway SET log_parameter_max_length = 0;
ALTER ROLE gateway SET log_parameter_max_length_on_error = 0;
ALTER ROLE gateway SET pgaudit.log = 'none';
ALTER ROLE gateway SET pg_stat_statements.track = 'none';
ALTER ROLE gateway SET track_activities = off;
-- The control: an application role without them.
CREATE ROLE leaky LOGIN IN ROLE ccroute_gateway;
SQL
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba <<'SQL' || { tap_not_ok "fixture: people"; exit 1; }
SELECT ccroute.create_tenant('acme'), ccroute.create_tenant('strict');
SELECT ccroute.create_person('acme', 'agent', 'ann', 'Ann'), ccroute.create_person('acme', 'agent', 'cal', 'Cal'),
       ccroute.create_person('strict', 'agent', 'sam', 'Sam');
SELECT ccroute.set_password('acme', 'ann', 'first-pass-1'), ccroute.set_password('acme', 'cal', 'first-pass-2'),
       ccroute.set_password('strict', 'sam', 'first-pass-3');
SQL
# Sam's tenant asks for 32 characters: the sentinel breaks its policy.
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -c \
	"UPDATE ccroute.password_policy SET min_length = 32, max_length_agent = 64
	  WHERE tenant_id = (SELECT tenant_id FROM ccroute.tenant WHERE name = 'strict')" ||
	{ tap_not_ok "fixture: strict policy"; exit 1; }

# --- The simple protocol: the sentinel is in the statements' text.
simple_out=$(psql -X -A -t -U gateway 2>&1 <<SQL
-- Ann changes her first password to the sentinel, then signs in with it.
SELECT ccroute.change_password(token, 'first-pass-1', '$SENTINEL')
  FROM ccroute.authenticate('acme', 'ann', 'first-pass-1');
SELECT outcome FROM ccroute.authenticate('acme', 'ann', '$SENTINEL');
-- Failures: the sentinel as Cal's (wrong) password, as Sam's new password (too short for
-- his tenant), too long, with a bad token.
SELECT outcome FROM ccroute.authenticate('acme', 'cal', '$SENTINEL');
SELECT ccroute.change_password(token, 'first-pass-3', '$SENTINEL')
  FROM ccroute.authenticate('strict', 'sam', 'first-pass-3');
SELECT outcome FROM ccroute.authenticate('acme', 'ann', repeat('$SENTINEL', 300));
SELECT ccroute.change_password('1.' || repeat('0', 64), '$SENTINEL', '$SENTINEL');
SELECT ccroute.change_password('not a token', '$SENTINEL', '$SENTINEL');
SQL
)
check_eq "simple protocol: the sentinel works as a password" \
	"ok ok wrong_credentials refused: shorter than 32 characters" \
	"$(grep -E '^(ok|wrong_credentials|refused)' <<<"$simple_out" | tr '\n' ' ' | sed 's/ $//')"
check_eq "simple protocol: the failing calls failed" 3 "$(grep -c '^ERROR:' <<<"$simple_out")"

# --- The extended protocol: the sentinel is a bound parameter.
cat >"$STACK_DIR/extended.sql" <<'EOF'
SELECT token AS tok FROM ccroute.authenticate(:tenant, :login, :pw) \gset
SELECT ccroute.change_password(:tok, :pw, :newpw);
SELECT outcome FROM ccroute.authenticate(:tenant, :login, :newpw);
SELECT outcome FROM ccroute.authenticate(:tenant, 'cal', :newpw);
EOF
extended() {
	pgbench -n -M extended -t 1 -c 1 -U "$1" -D tenant=acme -D login=ann -D pw="$2" -D newpw="$3" \
		-f "$STACK_DIR/extended.sql" ccroute 2>&1
}
ext_out=$(extended gateway "$SENTINEL" "$SENTINEL_NEW")
check_eq "extended protocol: the calls ran" 1 \
	"$(grep -c 'number of transactions actually processed: 1/1' <<<"$ext_out")"
check_eq "extended protocol: the new sentinel is the password now" ok \
	"$(psql -X -A -t -U gateway -c "SELECT outcome FROM ccroute.authenticate('acme', 'ann', '$SENTINEL_NEW')")"

# --- pg_stat_activity, while a sign-in with the sentinel is running.
psql -X -A -t -U gateway -o /dev/null \
	-c "SELECT outcome, pg_sleep(2) FROM ccroute.authenticate('acme', 'ann', '$SENTINEL_NEW')" &
gw=$!
psql -X -A -t -U leaky -o /dev/null \
	-c "SELECT outcome, pg_sleep(2) FROM ccroute.authenticate('acme', 'cal', '$CONTROL')" &
lk=$!
sleep 1
activity_gw=$(psql -X -A -t -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE $HIDDEN AND pid <> pg_backend_pid()")
gw_there=$(psql -X -A -t -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'gateway'")
activity_lk=$(psql -X -A -t -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%Control-Hd8' || 'Lq4n%' AND pid <> pg_backend_pid()")
wait $gw $lk
check_eq "the gateway's sign-in was running when pg_stat_activity was read" 1 "$gw_there"
check_eq "pg_stat_activity never shows the sentinel" 0 "$activity_gw"
check_eq "control: pg_stat_activity shows a role without the settings" 1 "$activity_lk"

# --- The control's calls, through both protocols.
psql -X -A -t -U leaky -o /dev/null -c "SELECT outcome FROM ccroute.authenticate('acme', 'cal', '$CONTROL')"
extended leaky "$CONTROL" "$CONTROL" >/dev/null

# --- Where the sentinel must not be.
log=$PGHOST/server.log
check_eq "no server log line holds the sentinel" 0 "$(grep -c 'Sentinel-' "$log")"
check_eq "control: the log holds the control's password (simple and extended)" yes \
	"$(grep -q "authenticate('acme', 'cal', '$CONTROL')" "$log" && grep -q "= '$CONTROL'" "$log" && echo yes)"
check_eq "the log has the gateway's connections, so its sessions were logged at all" yes \
	"$(grep -q 'user=gateway' "$log" && echo yes)"
check_eq "pg_stat_statements holds no gateway statement" 0 \
	"$(psql -X -A -t -c "SELECT count(*) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
	                     WHERE r.rolname = 'gateway'")"
check_eq "pg_stat_statements holds no sentinel" 0 \
	"$(psql -X -A -t -c "SELECT count(*) FROM pg_stat_statements WHERE query LIKE $HIDDEN")"
check_eq "control: pg_stat_statements tracks a role without the settings" yes \
	"$(psql -X -A -t -c "SELECT count(*) > 0 FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
	                     WHERE r.rolname = 'leaky' AND s.query LIKE '%authenticate%'" | sed 's/^t$/yes/')"
check_eq "no audit row holds the sentinel" 0 \
	"$(psql -X -A -t -c "SELECT count(*) FROM ccroute.audit_log
	                     WHERE coalesce(old_row::text, '') || coalesce(new_row::text, '') LIKE $HIDDEN")"
check_eq "the audit has the sign-ins (so it was written)" yes \
	"$(psql -X -A -t -c "SELECT count(*) >= 6 FROM ccroute.audit_log WHERE object = 'authenticate'" | sed 's/^t$/yes/')"
check_eq "no error message the client saw holds the sentinel" 0 \
	"$(grep '^ERROR:\|^DETAIL:\|^HINT:\|^CONTEXT:' <<<"$simple_out$ext_out" | grep -c 'Sentinel-')"
check_eq "no stored hash or session holds it in clear" 0 \
	"$(psql -X -A -t -c "SELECT count(*) FROM (SELECT password_hash FROM ccroute.login_credential
	                     UNION ALL SELECT password_hash FROM ccroute.password_history) h
	                     WHERE h.password_hash LIKE $HIDDEN")"
