#!/usr/bin/env bash
# Retention, travelling in time: the daily maintenance run day by day for 70 days, across three
# month boundaries, while calls, presence changes and recordings (rows and real files) keep
# arriving. Every day: no history row older than its tenant's limit and every younger row still
# there (so the 12 months stay whole), no recording row or file past its limit, a second run the
# same day does nothing. A tenant cancelled on day 5 is still whole on day 34 and gone on day 35
# from every relation, the recordings folder and the roles, its audit rows impersonal; the other
# tenants are untouched. Then the partitions maintenance made are checked as the catalog test
# checks tables, and the recordings' removal is attacked.
source "$(dirname "$0")/../lib/e2e.sh"

rec=$STACK_DIR/recordings
outside=$STACK_DIR/outside
mkdir -p "$rec" "$outside" "$STACK_DIR/recordings-evil"
chown -R "$STACK_PG_USER" "$rec" "$outside" "$STACK_DIR/recordings-evil"
psql -X -q -d postgres -c "ALTER SYSTEM SET ccroute.recordings_dir = '$rec'" -c 'SELECT pg_reload_conf()' >/dev/null
sql() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$@"; }
# Files are made as the server's user, as a recorder writing beside it would.
put_file() { stack_as_pg sh -c 'mkdir -p "$(dirname "$1")" && echo audio >"$1"' sh "$rec/$1"; }

day0='2027-01-10 03:00+00'

# Three tenants: acme keeps the most (12 months of reports, 3 of recordings), beta less (6 and
# 1), gone will cancel. Each has people, an agent, a number, a skill, a rule. The expected
# history is kept beside, outside the extension, to compare with what maintenance leaves.
sql -o /dev/null <<SQL || tap_not_ok "the tenants and 13 months of history load"
SET ROLE dba;
SELECT ccroute.create_tenant('acme', 'Asia/Tokyo', 'acme.test');
SELECT ccroute.create_tenant('beta', 'UTC', 'beta.test');
SELECT ccroute.create_tenant('gone', 'Europe/Paris', 'gone.test');
SELECT ccroute.create_person(t, 'tenant_admin', 'admin', initcap(t) || ' Admin'),
       ccroute.create_person(t, 'agent', 'ann', 'Ann Zzyzx-' || t),
       ccroute.create_person(t, 'analyst', 'ana', 'Ana Qwxv-' || t)
  FROM unnest(ARRAY['acme', 'beta', 'gone']) t;
RESET ROLE;
UPDATE ccroute.tenant SET report_retention = '6 months', recording_retention = '1 month' WHERE name = 'beta';
DO \$\$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['acme', 'beta', 'gone'] LOOP
        EXECUTE format('SET SESSION AUTHORIZATION %I', t || '.admin');
        INSERT INTO ccroute.skill (name) VALUES ('sales');
        INSERT INTO ccroute.agent (name, extension, mobile, person_id)
        SELECT 'Ann Zzyzx-' || t, '100', '+819012340000',
               (SELECT p.person_id FROM ccroute.person p WHERE p.login = 'ann');
        INSERT INTO ccroute.agent_skill (agent_id, skill_id) SELECT a.agent_id, s.skill_id FROM ccroute.agent a, ccroute.skill s;
        PERFORM ccroute.save_rule('return function() end', 'a rule');
        RESET SESSION AUTHORIZATION;
        EXECUTE format('SET ROLE dba');
        PERFORM ccroute.add_did(t, CASE t WHEN 'acme' THEN '+81311110000' WHEN 'beta' THEN '+81322220000' ELSE '+33133330000' END, 'sales');
        RESET ROLE;
        EXECUTE format('SET SESSION AUTHORIZATION %I', t || '.admin');
        PERFORM ccroute.set_agent_state('100', 'ready');
        RESET SESSION AUTHORIZATION;
    END LOOP;
END
\$\$;

CREATE SCHEMA t;
CREATE TABLE t.expected (tenant_id bigint, call_seq bigint, arrived_at timestamptz);
CREATE TABLE t.expected_rec (tenant_id bigint, path text, created_at timestamptz);
-- Loads the calls (one every 6 hours), presence changes (two a day) and recordings of one
-- stretch of time for every active tenant, and returns the recordings' paths for their files.
CREATE FUNCTION t.load(p_from timestamptz, p_to timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS \$f\$
BEGIN
    INSERT INTO t.expected
    SELECT x.tenant_id, nextval('ccroute.live_call_call_seq_seq'), g
      FROM ccroute.tenant x, generate_series(p_from, p_to - interval '1 second', interval '6 hours') g
     WHERE x.status = 'active';
    INSERT INTO ccroute.call_history (tenant_id, call_seq, call_id, caller, dialed, action, outcome,
                                      arrived_at, answered_at, ended_at, wait_seconds, talk_seconds)
    SELECT e.tenant_id, e.call_seq, 'call-' || e.call_seq, '+819099990000', '+81311110000', 'agent',
           'answered', e.arrived_at, e.arrived_at + interval '10 seconds',
           e.arrived_at + interval '100 seconds', 10, 90
      FROM t.expected e WHERE e.arrived_at >= p_from AND e.arrived_at < p_to;
    INSERT INTO ccroute.agent_state_history (tenant_id, agent_id, changed_at, presence, reason)
    SELECT a.tenant_id, a.agent_id, g + o.at, o.presence, o.reason
      FROM ccroute.agent a JOIN ccroute.tenant x ON x.tenant_id = a.tenant_id AND x.status = 'active',
           generate_series(p_from, p_to - interval '1 second', interval '1 day') g,
           (VALUES (interval '1 hour', 'not_ready', 'lunch'), (interval '2 hours', 'ready', NULL)) o(at, presence, reason);
    WITH r AS (
        INSERT INTO ccroute.recording (tenant_id, call_seq, caller, path, size_bytes, duration_seconds, created_at)
        SELECT x.tenant_id, NULL, '+819099990000',
               x.tenant_id || '/' || to_char(g, 'YYYY-MM-DD') || '/call.wav', 6, 90, g
          FROM ccroute.tenant x, generate_series(p_from, p_to - interval '1 second', interval '1 day') g
         WHERE x.status = 'active'
        RETURNING tenant_id, path, created_at)
    INSERT INTO t.expected_rec SELECT * FROM r;
    RETURN QUERY SELECT e.path FROM t.expected_rec e WHERE e.created_at >= p_from AND e.created_at < p_to;
END
\$f\$;
SQL
for p in $(sql -c "SELECT t.load(timestamptz '$day0' - interval '13 months', '$day0')"); do put_file "$p"; done
gone=$(sql -c "SELECT tenant_id FROM ccroute.tenant WHERE name = 'gone'")
check_eq "13 months of history wait in the default partitions before the first run" \
	"$(sql -c "SELECT count(*) FROM t.expected")" "$(sql -c "SELECT count(*) FROM ccroute.call_history_default")"

# What must hold after each day's run, as one line per broken rule (none: empty).
cat >"$STACK_DIR/invariants.sql" <<'SQL'
SELECT 'history older than the limit: ' || x.name || ' ' || count(*)
  FROM ccroute.call_history h JOIN ccroute.tenant x USING (tenant_id)
 WHERE h.arrived_at < :'now'::timestamptz - x.report_retention GROUP BY x.name
UNION ALL
SELECT 'presence older than the limit: ' || x.name || ' ' || count(*)
  FROM ccroute.agent_state_history h JOIN ccroute.tenant x USING (tenant_id)
 WHERE h.changed_at < :'now'::timestamptz - x.report_retention GROUP BY x.name
UNION ALL
-- Every row within the limit is still there: the whole 12 (or 6) months stay queryable.
SELECT 'history within the limit missing: ' || x.name || ' ' || count(*)
  FROM t.expected e JOIN ccroute.tenant x USING (tenant_id)
 WHERE e.arrived_at >= :'now'::timestamptz - x.report_retention
   AND NOT EXISTS (SELECT FROM ccroute.call_history h WHERE h.tenant_id = e.tenant_id AND h.call_seq = e.call_seq)
 GROUP BY x.name
UNION ALL
SELECT 'recording past its limit: ' || r.path
  FROM ccroute.recording r JOIN ccroute.tenant x USING (tenant_id)
 WHERE r.created_at < :'now'::timestamptz - x.recording_retention
UNION ALL
SELECT 'recording within the limit missing: ' || e.path
  FROM t.expected_rec e JOIN ccroute.tenant x USING (tenant_id)
 WHERE e.created_at >= :'now'::timestamptz - x.recording_retention
   AND NOT EXISTS (SELECT FROM ccroute.recording r WHERE r.tenant_id = e.tenant_id AND r.path = e.path)
UNION ALL
SELECT 'a month without its partition: ' || h.parent || ' ' || to_char(m, 'YYYY-MM')
  FROM ccroute.partitioned_history() h,
       generate_series(date_trunc('month', :'now'::timestamptz AT TIME ZONE 'UTC'),
                       date_trunc('month', :'now'::timestamptz AT TIME ZONE 'UTC') + interval '2 months',
                       interval '1 month') m
 WHERE to_regclass(format('%s_y%sm%s', h.parent, to_char(m, 'YYYY'), to_char(m, 'MM'))) IS NULL
UNION ALL
-- Every month with rows has its partition: nothing waits in a default partition.
SELECT 'rows left in a default partition: ' || d.relid
  FROM (SELECT i.inhrelid::regclass AS relid
          FROM ccroute.partitioned_history() h JOIN pg_inherits i ON i.inhparent = h.parent
          JOIN pg_class c ON c.oid = i.inhrelid
         WHERE pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT') d
 WHERE (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', d.relid), false, true, '')))[1]::text <> '0';
SQL

broken=0
second_runs=0
files_off=0
for d in $(seq 0 69); do
	now=$(sql -c "SELECT (timestamptz '$day0' + $d * interval '1 day')")
	if [ "$d" -gt 0 ]; then
		for p in $(sql -c "SELECT t.load(timestamptz '$now' - interval '1 day', '$now')"); do put_file "$p"; done
	fi
	[ "$d" -eq 5 ] && sql -c "SET ROLE dba" -c "SELECT ccroute.cancel_tenant('gone')" -c "RESET ROLE" \
		-c "UPDATE ccroute.tenant SET cancelled_at = '$now' WHERE name = 'gone'" >/dev/null
	sql -o /dev/null -c "SELECT * FROM ccroute.maintain('$now')" || broken=$((broken + 1))
	# (The reports' roll-up follows the real clock too, never past a day before it: when that
	# clock passes a quarter hour between the two runs, the second rolls that quarter up.)
	again=$(sql -c "SELECT string_agg(concat_ws(' ', step, tenant, object, rows), '; ') FROM ccroute.maintain('$now')
		WHERE step <> 'rolled up reports'")
	[ -z "$again" ] || { second_runs=$((second_runs + 1)); echo "# day $d, second run: $again" | cut -c 1-300; }
	problems=$(sql -v now="$now" -f "$STACK_DIR/invariants.sql")
	if [ -n "$problems" ]; then
		broken=$((broken + 1))
		echo "# day $d ($now): $problems" | head -n 5
	fi
	# The files on disk are exactly the rows' files.
	if ! diff <(cd "$rec" && find . -type f | sed 's|^\./||' | sort) \
		<(sql -c "SELECT path FROM ccroute.recording ORDER BY 1" | sort) >/dev/null; then
		files_off=$((files_off + 1))
		echo "# day $d: files and recording rows differ"
	fi
	if [ "$d" -eq 34 ]; then
		check_eq "day 34: the cancelled tenant is still whole (29 days after cancelling)" "1|1|3" \
			"$(sql -c "SELECT count(*), (SELECT count(*) FROM ccroute.agent WHERE tenant_id = $gone),
				(SELECT count(*) FROM pg_roles WHERE rolname LIKE 'gone.%') FROM ccroute.tenant WHERE name = 'gone'")"
	fi
	if [ "$d" -eq 35 ]; then
		purge_line=$(sql -c "SELECT count(*) FROM ccroute.audit_log WHERE tenant_id = $gone AND object = 'purge_tenant'")
	fi
done
check_eq "70 daily runs across 3 month ends: every rule held every day" 0 "$broken"
check_eq "a second run on the same day does nothing (70 days)" 0 "$second_runs"
check_eq "every day the recordings' files are exactly their rows' files" 0 "$files_off"
check_eq "the purge is in the audit log" 1 "${purge_line:-0}"

# The cancelled tenant, 30 days after cancelling: in no relation of the schema (partitions and
# the rest, read as a superuser, past row-level security), no file, no role.
left=$(sql <<SQL
SELECT string_agg(rel || ':' || n, ' ') FROM (
    SELECT c.oid::regclass::text AS rel,
           (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s WHERE tenant_id = $gone', c.oid::regclass), false, true, '')))[1]::text::bigint AS n
      FROM pg_class c
     WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relkind IN ('r', 'p')
       AND c.relname <> 'audit_log'
       AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')) x
 WHERE n > 0
SQL
)
check_eq "the purged tenant has no row in any relation of the schema" "" "$left"
check_le "its rows were looked for in every relation with tenant rows (at least 20)" 0 \
	$((20 - $(sql -c "SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relkind IN ('r', 'p')
		AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')") ))
check_eq "the purged tenant's recordings folder is gone" "absent" "$([ -e "$rec/$gone" ] && echo present || echo absent)"
check_eq "the purged tenant's people's roles are dropped" 0 "$(sql -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'gone.%'")"
check_le "its audit rows stay (they age out with the audit retention)" 0 \
	$((10 - $(sql -c "SELECT count(*) FROM ccroute.audit_log WHERE tenant_id = $gone")))
check_eq "its audit rows name no one: no name, login, number or extension" 0 \
	"$(sql -c "SELECT count(*) FROM ccroute.audit_log WHERE tenant_id = $gone
		AND (concat_ws(' ', login_role, acting_role, old_row, new_row) ~* 'zzyzx|gone admin|qwxv|gone\\.|\\+8190|\\+3313|\"100\"|ann|gone.test')")"
check_eq "control: the other tenants' audit rows still name their people" 2 \
	"$(sql -c "SELECT count(DISTINCT tenant_id) FROM ccroute.audit_log WHERE new_row::text ~ 'Zzyzx'")"
check_eq "the other tenants keep their people, agents and rules" "2|2|2" \
	"$(sql -c "SELECT (SELECT count(*) FROM pg_roles WHERE rolname IN ('acme.ann', 'beta.ann')),
		(SELECT count(*) FROM ccroute.agent), (SELECT count(*) FROM ccroute.routing_rule)")"

# The partitions maintenance made hold to the catalog's rules, as tables do.
check_eq "maintenance made partitions (call history and presence)" yes \
	"$(sql -c "SELECT CASE WHEN count(*) >= 30 THEN 'yes' ELSE count(*)::text END FROM pg_class
		WHERE relnamespace = 'ccroute'::regnamespace AND relispartition AND relname ~ '_y[0-9]{4}m[0-9]{2}$'")"
check_eq "every partition has row-level security enabled and forced, the owner's, no grants" "" \
	"$(sql -c "SELECT string_agg(c.relname, ' ') FROM pg_class c
		WHERE c.relnamespace = 'ccroute'::regnamespace AND c.relispartition AND c.relkind IN ('r', 'p')
		  AND (NOT (c.relrowsecurity AND c.relforcerowsecurity) OR c.relowner <> 'ccroute_owner'::regrole
		       OR EXISTS (SELECT FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner))")"
part=$(sql -c "SELECT relname FROM pg_class WHERE relname ~ '^call_history_y[0-9]{4}m[0-9]{2}$' ORDER BY relname DESC OFFSET 3 LIMIT 1")
check_eq "control: acme's analyst reads acme's calls through the history" "yes" \
	"$(sql -c 'SET SESSION AUTHORIZATION "acme.ana"' -c "SELECT CASE WHEN count(*) > 0 AND count(*) = count(*) FILTER (WHERE tenant_id = (SELECT tenant_id FROM ccroute.role_map WHERE role_name = 'acme.ana')) THEN 'yes' END FROM ccroute.call_history")"
check_eq "attack: acme's analyst reads a partition directly ($part): 42501" "42501" \
	"$(psql -X -A -t -q -v VERBOSITY=sqlstate -c 'SET SESSION AUTHORIZATION "acme.ana"' -c "SELECT count(*) FROM ccroute.$part" 2>&1 | grep -o 42501)"
check_eq "attack: acme's analyst turns maintenance on: 42501" "42501" \
	"$(psql -X -A -t -q -v VERBOSITY=sqlstate -c 'SET SESSION AUTHORIZATION "acme.ana"' -c "SET ccroute.maintenance = on" 2>&1 | grep -o 42501)"
check_eq "attack: a superuser deletes call history outside maintenance: 42501" "42501" \
	"$(psql -X -A -t -q -v VERBOSITY=sqlstate -c "DELETE FROM ccroute.call_history WHERE true" 2>&1 | grep -o 42501)"

# Removing recordings' files, attacked. The last day's run is repeated with expired rows whose
# paths try to leave the folder.
acme=$(sql -c "SELECT tenant_id FROM ccroute.tenant WHERE name = 'acme'")
echo secret | stack_as_pg tee "$outside/secret.wav" "$STACK_DIR/recordings-evil/look-alike.wav" >/dev/null
stack_as_pg ln -s "$outside" "$rec/$acme/evil-folder"
stack_as_pg ln -s "$outside/secret.wav" "$rec/$acme/evil-link.wav"
last=$(sql -c "SELECT (timestamptz '$day0' + 69 * interval '1 day')")
check_eq "attack: a recording path with .. is refused when stored: 23514" "23514" \
	"$(psql -X -A -t -q -v VERBOSITY=sqlstate -c "INSERT INTO ccroute.recording (tenant_id, caller, path, size_bytes, duration_seconds)
		VALUES ($acme, '+819099990000', '$acme/../../outside/secret.wav', 1, 1)" 2>&1 | grep -o 23514)"
check_eq "attack: another tenant's folder in a recording path is refused when stored: 23514" "23514" \
	"$(psql -X -A -t -q -v VERBOSITY=sqlstate -c "INSERT INTO ccroute.recording (tenant_id, caller, path, size_bytes, duration_seconds)
		VALUES ($acme, '+819099990000', '$(sql -c "SELECT tenant_id FROM ccroute.tenant WHERE name = 'beta'")/x.wav', 1, 1)" 2>&1 | grep -o 23514)"
for p in "../outside/secret.wav" "$acme/../../outside/secret.wav" "../recordings-evil/look-alike.wav" \
	"$STACK_DIR/recordings-evil/look-alike.wav" "$rec/../recordings-evil/look-alike.wav"; do
	check_eq "attack: removing \"$p\" is refused" "refused" \
		"$(sql -c "SELECT CASE WHEN ccroute.remove_recording_file('$p') IN ('the path has a \".\" or \"..\" part', 'the path is absolute') THEN 'refused' END")"
done
sql -o /dev/null -c "INSERT INTO ccroute.recording (tenant_id, caller, path, size_bytes, duration_seconds, created_at) VALUES
	($acme, '+819099990000', '$acme/evil-folder/secret.wav', 1, 1, '2020-01-01'),
	($acme, '+819099990000', '$acme/evil-link.wav', 1, 1, '2020-01-01')"
refused=$(sql -c "SELECT string_agg(object, ' | ' ORDER BY object) FROM ccroute.maintain('$last') WHERE step = 'refused recording'")
check_eq "attack: expired recordings through a linked folder and a link are refused by maintenance" \
	"$acme/evil-folder/secret.wav: a folder on the path is a symbolic link or not a folder | $acme/evil-link.wav: the file is a symbolic link" "$refused"
check_eq "the files outside the folder are untouched, the link itself too" "secret|secret|link" \
	"$(cat "$outside/secret.wav")|$(cat "$STACK_DIR/recordings-evil/look-alike.wav")|$([ -L "$rec/$acme/evil-link.wav" ] && echo link)"
check_eq "the refused recordings keep their rows and are pending" "2" \
	"$(sql -c "SELECT rows FROM ccroute.maintenance_pending('$last') WHERE step = 'delete recordings' AND tenant = 'acme'")"

# A file goes only when its row's deletion commits: not after a rollback, nor a rolled back
# savepoint; then it goes with the commit.
sql -o /dev/null -c "DELETE FROM ccroute.recording WHERE path LIKE '%evil%'"
victim=$(sql -c "SELECT path FROM ccroute.recording WHERE tenant_id = $acme ORDER BY created_at LIMIT 1")
later=$(sql -c "SELECT created_at + interval '3 months' + interval '1 second' FROM ccroute.recording WHERE path = '$victim'")
sql -o /dev/null -c "BEGIN" -c "SELECT * FROM ccroute.maintain('$later')" -c "ROLLBACK"
check_eq "a maintenance that rolls back removes no file and keeps the row" "audio|1" \
	"$(cat "$rec/$victim" 2>/dev/null)|$(sql -c "SELECT count(*) FROM ccroute.recording WHERE path = '$victim'")"
sql -o /dev/null -c "BEGIN" -c "SAVEPOINT s" -c "SELECT ccroute.remove_recording_file('$victim')" -c "ROLLBACK TO s" -c "COMMIT"
check_eq "a removal in a rolled back savepoint removes nothing" "audio" "$(cat "$rec/$victim" 2>/dev/null)"
sql -o /dev/null -c "SELECT * FROM ccroute.maintain('$later')"
check_eq "the committed maintenance removes the expired file and its row" "absent|0" \
	"$([ -e "$rec/$victim" ] && echo present || echo absent)|$(sql -c "SELECT count(*) FROM ccroute.recording WHERE path = '$victim'")"

# A month due to be dropped while a long report holds the history: maintenance does not queue
# its lock (which would hold up the router's inserts behind the report) but postpones the drop
# and deletes the month's rows; the next run drops it.
due='2027-04-02 03:00+00'
psql -X -q -c "BEGIN" -c "LOCK TABLE ccroute.call_history IN ACCESS SHARE MODE" -c "SELECT pg_sleep(4)" -c "COMMIT" >/dev/null &
holder=$!
sleep 0.5
t0=$(date +%s%N)
steps=$(sql -c "SELECT string_agg(DISTINCT step, ',' ORDER BY step) FROM ccroute.maintain('$due') WHERE step = 'postponed drop' AND object LIKE 'ccroute.call_history%'")
took=$((($(date +%s%N) - t0) / 1000000))
check_eq "a drop behind a long report is postponed, not queued" "postponed drop" "$steps"
check_le "maintenance behind a long report returns within 2 s (took $took ms)" 2000 "$took"
check_eq "the postponed month's rows are deleted all the same" 0 \
	"$(sql -c "SELECT count(*) FROM ccroute.call_history h JOIN ccroute.tenant x USING (tenant_id) WHERE h.arrived_at < timestamptz '$due' - x.report_retention")"
wait "$holder"
check_eq "the next run drops the month" "dropped partition" \
	"$(sql -c "SELECT string_agg(DISTINCT step, ',') FROM ccroute.maintain('$due') WHERE step = 'dropped partition' AND object LIKE 'ccroute.call_history%'")"

tap_exit
