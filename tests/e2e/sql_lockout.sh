#!/usr/bin/env bash
# People's PostgreSQL logins lock after their tenant's max_failed_attempts failed password
# authentications in a row (pg_ext/README.md, Signing in): over TCP with scram-sha-256, wrong
# passwords up to the limit are refused as wrong, then even the right one is refused as locked,
# with one message for both; the lock survives a restart; the tenant admin's unlock lets the
# right password in again; a success resets the count; a tenant without a limit never locks;
# another tenant's person of the same login and a role that is no person are never touched;
# the lock and the unlock are audited, without a password; a locked refusal takes the time of a
# wrong password's. The account is one: the gateway's failures lock the SQL login, and the
# tenant admin's unlock_account lifts it. After review: a host pg_hba.conf rejects is not told
# of the lock; a password set during the lock does not lift it; a look-alike "ccroute" schema in
# a database without the extension is never run by the worker; the table holds at most
# ccroute.lockout_max_roles roles; logins wait for a missing worker only at the start.
source "$(dirname "$0")/../lib/e2e.sh"

# TCP on 127.0.0.1 asks for a SCRAM password (the first matching line wins); the socket stays
# trust, for the fixture and the tenant admin; database nosuchdb is rejected over TCP. The
# lock-out's worker works in database ccroute.
hba=$PGHOST/data/pg_hba.conf
{ echo "host nosuchdb all 127.0.0.1/32 reject"; echo "host all all 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$STACK_DIR/pg_hba.conf"
cat "$STACK_DIR/pg_hba.conf" >"$hba"
cat >>"$PGHOST/data/postgresql.conf" <<'EOF'
ccroute.lockout_database = 'ccroute'
password_encryption = 'scram-sha-256'
EOF
restart() { stack_as_pg "$STACK_PG_BIN/pg_ctl" -D "$PGHOST/data" -l "$PGHOST/server.log" -w -t 60 -m fast restart >/dev/null; }
restart || { tap_not_ok "postgresql restarts with the lock-out"; exit 1; }

q() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$@"; }

RIGHT='Right-pass-7Kq'
WRONG='Wrong-pass-3Zx'
PLAIN='Plain-pass-9Wm'

q -o /dev/null -U dba <<'SQL' || { tap_not_ok "fixture: tenants and people"; exit 1; }
SELECT ccroute.create_tenant('acme'), ccroute.create_tenant('beta'), ccroute.create_tenant('free');
SELECT ccroute.create_person('acme', 'tenant_admin', 'boss', 'Boss'),
       ccroute.create_person('acme', 'analyst', 'ann', 'Ann'),
       ccroute.create_person('acme', 'analyst', 'rob', 'Rob'),
       ccroute.create_person('acme', 'supervisor', 'tim', 'Tim'),
       ccroute.create_person('beta', 'analyst', 'ann', 'Ann of beta'),
       ccroute.create_person('free', 'analyst', 'fay', 'Fay');
SQL
q -o /dev/null <<SQL || { tap_not_ok "fixture: limits and a role that is no person"; exit 1; }
UPDATE ccroute.password_policy SET max_failed_attempts = 3
 WHERE tenant_id IN (SELECT tenant_id FROM ccroute.tenant WHERE name IN ('acme', 'beta'));
CREATE ROLE plain LOGIN PASSWORD '$PLAIN';
SQL
# Each person sets their own SQL password, over the socket.
for role in acme.ann acme.rob acme.tim beta.ann free.fay; do
	out=$(q -U "$role" -c "SELECT ccroute.set_sql_password('$RIGHT')" 2>&1)
	[ "$out" = ok ] || { tap_not_ok "fixture: $role sets a password" "$out"; exit 1; }
done

# login ROLE PASSWORD: one login over TCP; prints "ok" or the server's FATAL message.
login() {
	local out
	out=$(PGPASSWORD=$2 psql -X -A -t -w -h 127.0.0.1 -p "$PGPORT" -U "$1" -d ccroute -c 'SELECT 1' 2>&1)
	if [ "$out" = 1 ]; then echo ok; else sed -n 's/.*FATAL:  //p' <<<"$out" | head -n 1; fi
}
# logins ROLE PASSWORD N: N logins, their outcomes on one line, " | " between.
logins() {
	local i out=()
	for i in $(seq 1 "$3"); do out+=("$(login "$1" "$2")"); done
	local IFS='|'
	echo "${out[*]}" | sed 's/|/ | /g'
}
wrong() { echo "password authentication failed for user \"$1\""; }
locked() { echo "the login of role \"$1\" is locked"; }
# until_true SQL: waits up to 10 s for the worker to have made SQL true.
until_true() {
	for _ in $(seq 1 100); do
		[ "$(q -c "$1")" = t ] && return 0
		sleep 0.1
	done
	return 1
}

check_eq "the lock-out's worker has loaded people's roles" "ready acme.ann" \
	"$(q -c "SELECT ccroute.sql_login_lockout_state(), role_name FROM ccroute.sql_login_lockout()
	          WHERE role_name = 'acme.ann'" | tr '|' ' ')"

# --- Lock-out at the tenant's limit (3).
check_eq "acme.ann: three wrong passwords are refused as wrong" \
	"$(wrong acme.ann) | $(wrong acme.ann) | $(wrong acme.ann)" "$(logins acme.ann "$WRONG" 3)"
check_eq "acme.ann: then the right password is refused as locked" "$(locked acme.ann)" "$(login acme.ann "$RIGHT")"
check_eq "acme.ann: and a wrong one with the same message" "$(locked acme.ann)" "$(login acme.ann "$WRONG")"
check_eq "acme.ann: also over the socket, where no password is asked (trust)" "$(locked acme.ann)" \
	"$(psql -X -A -t -U acme.ann -c 'SELECT 1' 2>&1 | sed -n 's/.*FATAL:  //p')"
check_eq "acme.ann: a connection pg_hba.conf rejects gets PostgreSQL's refusal, not the lock" \
	"pg_hba.conf rejects connection for host \"127.0.0.1\", user \"acme.ann\", database \"nosuchdb\", no encryption" \
	"$(PGPASSWORD=$RIGHT psql -X -A -t -w -h 127.0.0.1 -p "$PGPORT" -U acme.ann -d nosuchdb -c 'SELECT 1' 2>&1 |
	   sed -n 's/.*FATAL:  //p' | head -n 1)"
check_eq "beta.ann, the same login in another tenant, logs in" ok "$(login beta.ann "$RIGHT")"

until_true "SELECT EXISTS (SELECT FROM ccroute.sql_login_lock WHERE role_name = 'acme.ann')" ||
	tap_not_ok "the worker makes the lock durable"
check_eq "the lock is in the account (the account review) and in the role (VALID UNTIL in the past)" "t|t" \
	"$(q -c "SELECT r.locked, (SELECT rolvaliduntil < now() FROM pg_roles WHERE rolname = 'acme.ann')
	           FROM ccroute.account_review r JOIN ccroute.tenant t USING (tenant_id)
	          WHERE t.name = 'acme' AND r.login = 'ann'")"

restart || { tap_not_ok "postgresql restarts"; exit 1; }
check_eq "after a restart the right password is still refused as locked" "$(locked acme.ann)" "$(login acme.ann "$RIGHT")"

# --- The tenant admin unlocks (over the socket, as the person they are).
check_eq "the tenant admin unlocks acme.ann" "" \
	"$(q -U acme.boss -c "SELECT ccroute.unlock_person('acme', 'ann')" 2>&1)"
until_true "SELECT NOT locked FROM ccroute.sql_login_lockout() WHERE role_name = 'acme.ann'" ||
	tap_not_ok "the worker lifts the lock"
check_eq "after the unlock the right password logs in" ok "$(login acme.ann "$RIGHT")"
check_eq "the unlock gives the role its own VALID UNTIL back" infinity \
	"$(q -c "SELECT rolvaliduntil FROM pg_roles WHERE rolname = 'acme.ann'")"

# --- A success resets the count; a client that hangs up before answering (psql -w without a
# password) is not a failure.
check_eq "acme.rob: two failures, two logins without a password, a success, two failures, a success" \
	"$(wrong acme.rob) | $(wrong acme.rob) | fe_sendauth: no password supplied | fe_sendauth: no password supplied | ok | $(wrong acme.rob) | $(wrong acme.rob) | ok" \
	"$(for pw in "$WRONG" "$WRONG" "" "" "$RIGHT" "$WRONG" "$WRONG" "$RIGHT"; do
		if [ -z "$pw" ]; then
			psql -X -A -t -w -h 127.0.0.1 -p "$PGPORT" -U acme.rob -d ccroute -c 'SELECT 1' 2>&1 | head -n 1 | sed 's/.*: fe_/fe_/'
		else login acme.rob "$pw"; fi
	done | paste -sd '|' | sed 's/|/ | /g')"

# --- Never locked: a tenant without a limit, a role that is no person.
logins free.fay "$WRONG" 6 >/dev/null
check_eq "free.fay (no limit): the right password after six wrong ones logs in" ok "$(login free.fay "$RIGHT")"
logins plain "$WRONG" 6 >/dev/null
check_eq "plain (no person): the right password after six wrong ones logs in" ok "$(login plain "$PLAIN")"
check_eq "plain is not in the lock-out's table" 0 \
	"$(q -c "SELECT count(*) FROM ccroute.sql_login_lockout() WHERE role_name = 'plain'")"

# --- The audit: the lock (INSERT) and the unlock (DELETE) of acme.ann's role, the outcomes,
# no password anywhere.
until_true "SELECT count(*) >= 2 FROM ccroute.audit_log WHERE object = 'sql_login' AND new_row->>'login' = 'rob'" ||
	tap_not_ok "the worker writes rob's outcomes"
check_eq "audited: acme.ann's lock and unlock" "DELETE INSERT" \
	"$(q -c "SELECT string_agg(a.action, ' ' ORDER BY a.action) FROM ccroute.audit_log a
	          WHERE a.object = 'sql_login_lock' AND coalesce(a.new_row, a.old_row)->>'role_name' = 'acme.ann'")"
check_eq "audited: acme.ann's outcomes (wrong passwords that locked, refusals while locked, the login after the unlock)" \
	"locked ok wrong_password" \
	"$(q -c "SELECT string_agg(DISTINCT a.new_row->>'outcome', ' ') FROM ccroute.audit_log a
	          JOIN ccroute.tenant t USING (tenant_id)
	          WHERE t.name = 'acme' AND a.object = 'sql_login' AND a.new_row->>'login' = 'ann'")"
check_eq "audited: the failure that locked says so" t \
	"$(q -c "SELECT bool_or((a.new_row->>'locked_now')::boolean) FROM ccroute.audit_log a
	          JOIN ccroute.tenant t USING (tenant_id)
	          WHERE t.name = 'acme' AND a.object = 'sql_login' AND a.new_row->>'login' = 'ann'")"
check_eq "the tenant admin's unlock is audited" 1 \
	"$(q -c "SELECT count(*) FROM ccroute.audit_log WHERE object = 'unlock_person' AND new_row->>'login' = 'ann'")"

# --- Time: a locked role refused with its right password, against a wrong password refused,
# measured in turn (so that load on the machine falls on both).
logins acme.tim "$WRONG" 3 >/dev/null
check_eq "acme.tim is locked" "$(locked acme.tim)" "$(login acme.tim "$RIGHT")"
until_true "SELECT EXISTS (SELECT FROM ccroute.sql_login_lock WHERE role_name = 'acme.tim')" ||
	tap_not_ok "the worker makes tim's lock durable"
ms() { local s e; s=$(date +%s%N); login "$@" >/dev/null; e=$(date +%s%N); echo $(((e - s) / 1000)); }
for _ in $(seq 1 15); do
	echo "locked $(ms acme.tim "$RIGHT")"
	echo "wrong $(ms free.fay "$WRONG")"
done >"$STACK_DIR/times"
median() { awk -v k="$1" '$1 == k {print $2}' "$STACK_DIR/times" | sort -n | sed -n 8p; }
lk=$(median locked)
wr=$(median wrong)
echo "# median refusal: locked ${lk} us, wrong password ${wr} us"
check_le "a locked refusal takes at most twice a wrong password's (${lk} us against ${wr} us)" $((2 * wr)) "$lk"
check_le "and at least half of it" "$lk" $((wr / 2))

# --- A password set while locked (the person's session opened before the lock, here SET SESSION
# AUTHORIZATION) gives the role the policy's validity: the worker puts the lock's back, so that
# the new right password still fails inside SCRAM (no proof of the server, no oracle), and keeps
# that validity for the unlock.
NEW='Right-pass-new4'
check_eq "acme.tim, locked, sets a new SQL password in a session of their own" ok \
	"$(q -c "SET SESSION AUTHORIZATION \"acme.tim\"; SELECT ccroute.set_sql_password('$NEW')")"
until_true "SELECT rolvaliduntil = '-infinity' FROM pg_roles WHERE rolname = 'acme.tim'" ||
	tap_not_ok "the worker puts the lock's VALID UNTIL back on acme.tim"
check_eq "acme.tim's role is still expired, its validity kept for the unlock" "-infinity|infinity" \
	"$(q -c "SELECT r.rolvaliduntil, l.valid_until_before FROM pg_roles r
	          JOIN ccroute.sql_login_lock l ON l.role_name = r.rolname WHERE r.rolname = 'acme.tim'")"
check_eq "acme.tim: the new password is refused as locked" "$(locked acme.tim)" "$(login acme.tim "$NEW")"

# --- One account, one lock: failures at the gateway lock the SQL login too, and a tenant admin's
# unlock through the gateway (unlock_account, by token) lifts it for both.
q -o /dev/null -U dba <<'SQL' || tap_not_ok "fixture: gateway passwords and the admin's device"
SELECT ccroute.set_password('acme', 'boss', 'Right-pass-gw1'), ccroute.set_password('acme', 'rob', 'Right-pass-gw2');
SELECT ccroute.register_device('acme', 'boss', 'aa:bb:cc:dd:ee:01');
SQL
check_eq "acme.rob: three wrong passwords at the gateway lock the account" \
	"wrong_credentials wrong_credentials wrong_credentials locked" \
	"$(for pw in "$WRONG" "$WRONG" "$WRONG" Right-pass-gw2; do
		q -U gateway -c "SELECT outcome FROM ccroute.authenticate('acme', 'rob', '$pw')"
	done | tr '\n' ' ' | sed 's/ $//')"
until_true "SELECT locked FROM ccroute.sql_login_lockout() WHERE role_name = 'acme.rob'" ||
	tap_not_ok "the worker learns of the gateway's lock"
check_eq "acme.rob: the SQL login is locked as well" "$(locked acme.rob)" "$(login acme.rob "$RIGHT")"
check_eq "the tenant admin unlocks acme.rob and acme.tim with their gateway token" "|" \
	"$(q -U gateway -c "SELECT ccroute.unlock_account(a.token, 'rob'), ccroute.unlock_account(a.token, 'tim')
	                     FROM ccroute.authenticate('acme', 'boss', 'Right-pass-gw1', 'aa:bb:cc:dd:ee:01') a" 2>&1)"
until_true "SELECT bool_and(NOT locked) FROM ccroute.sql_login_lockout() WHERE role_name IN ('acme.rob', 'acme.tim')" ||
	tap_not_ok "the worker lifts both locks"
check_eq "after unlock_account both right passwords log in (acme.tim's the one set while locked)" "ok ok" \
	"$(login acme.rob "$RIGHT") $(login acme.tim "$NEW")"

check_eq "no audit row holds a password" 0 \
	"$(q -c "SELECT count(*) FROM ccroute.audit_log
	          WHERE coalesce(old_row::text, '') || coalesce(new_row::text, '') ~ '(Right|Wrong|Plain)-pass'")"

# --- The worker runs as superuser: in a database without the extension, a schema "ccroute" with
# look-alike functions made by the database's owner is never run.
q -o /dev/null <<'SQL' || tap_not_ok "fixture: a database owned by mallory"
CREATE ROLE mallory LOGIN;
CREATE DATABASE lookalike OWNER mallory;
SQL
q -o /dev/null -U mallory -d lookalike <<'SQL' || tap_not_ok "fixture: mallory's look-alike schema"
CREATE SCHEMA ccroute;
CREATE FUNCTION ccroute.sync_sql_login_locks()
RETURNS TABLE (role_name name, max_failed_attempts integer, failed_attempts integer, locked boolean)
LANGUAGE sql AS $$ ALTER ROLE mallory SUPERUSER; SELECT NULL::name, 0, 0, false WHERE false $$;
CREATE FUNCTION ccroute.record_sql_logins(name, integer, integer, integer, integer) RETURNS boolean
LANGUAGE sql AS $$ ALTER ROLE mallory SUPERUSER; SELECT true $$;
SQL
echo "ccroute.lockout_database = 'lookalike'" >>"$PGHOST/data/postgresql.conf"
restart || { tap_not_ok "postgresql restarts with the look-alike database"; exit 1; }
until_true "SELECT ccroute.sql_login_lockout_state() = 'off'" || tap_not_ok "the worker finds no extension"
sleep 1
check_eq "the worker did not run mallory's functions" f "$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'")"

# --- At most ccroute.lockout_max_roles roles in shared memory (106 people, room for 100): the
# rest are named in a WARNING, and the table takes no spare shared memory beyond its own.
q -o /dev/null -U dba -c "SELECT ccroute.create_tenant('many');
	SELECT ccroute.create_person('many', 'analyst', 'p' || i, 'P ' || i) FROM generate_series(1, 100) i" ||
	tap_not_ok "fixture: 100 more people"
printf "ccroute.lockout_database = 'ccroute'\nccroute.lockout_max_roles = 100\n" >>"$PGHOST/data/postgresql.conf"
restart || { tap_not_ok "postgresql restarts with room for 100 roles"; exit 1; }
until_true "SELECT ccroute.sql_login_lockout_state() = 'ready'" || tap_not_ok "the worker loads the table"
check_eq "the table holds 100 roles" 100 "$(q -c "SELECT count(*) FROM ccroute.sql_login_lockout()")"
grep -q "6 people's roles are not protected by the SQL-login lock-out" "$PGHOST/server.log"
check_eq "the 6 left out are in a WARNING" 0 $?

# --- A worker that never comes (no background worker slot to register it in) holds logins up
# only for 2 s after the first of them, not 2 s each for as long as the server runs.
echo "max_worker_processes = 0" >>"$PGHOST/data/postgresql.conf"
restart || { tap_not_ok "postgresql restarts without room for the worker"; exit 1; }
check_eq "without its worker the lock-out stays starting" starting "$(q -c "SELECT ccroute.sql_login_lockout_state()")"
sleep 2
t=$(ms free.fay "$RIGHT")
check_le "a login 2 s later does not wait for the worker (${t} us)" 1000000 "$t"

tap_exit
