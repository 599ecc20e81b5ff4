#!/usr/bin/env bash
# backup.sh: one night's backup of the ccroute database, then the rotation (docs/operations.md,
# "Backups").
#
#   scripts/backup.sh --dir FOLDER [--host HOST] [--port PORT] [--user USER] [--dbname DB]
#                     [--date YYYY-MM-DD] [--weekly-on DAY] [--daily N] [--weekly N]
#                     [--os-user NAME]
#
# Writes one generation, FOLDER/daily/DATE/, holding a logical dump of the database
# (ccroute.dump, pg_dump's custom format), the cluster's roles with their SCRAM secrets and
# memberships (globals.sql, pg_dumpall --globals-only), the database's own settings
# (database.sql), every table's row count in the dump's snapshot (rows.txt), the archive's table
# of contents (contents.txt), facts for the restore (info), the server's non-default settings
# for reference (server-settings.txt) and SHA256SUMS. On the weekly day (ISO 1-7 or mon..sun,
# default sun) the same generation is also kept as FOLDER/weekly/DATE/ (hard links: no second
# copy). Then only the DAILY (2) newest daily and WEEKLY (5) newest weekly generations are kept.
#
# A generation is written in a work folder and renamed into place only once it is complete and
# verified (pg_restore reads its whole table of contents; every table counted has its data in
# it; the checksums are written); a failed night exits non-zero, leaves no partial generation and
# deletes nothing. Runs as a superuser of the cluster (row-level security is FORCEd on every
# table: anyone else would dump nothing or fail). Started as root, it runs as --os-user
# (postgres), which then owns the folder. Connection: the options, else PGHOST, PGPORT, PGUSER.
set -u -o pipefail
umask 077

PROG=backup USAGE=5,7
source "$(dirname "$0")/backup-common.sh"

folder='' date='' weekly_on=sun keep_daily=2 keep_weekly=5 os_user=postgres dbname=ccroute
args=("$@")
while [ $# -gt 0 ]; do
	case "$1" in
	--dir) folder=${2:-} ;;
	--dbname) dbname=${2:-} ;;
	--date) date=${2:-} ;;
	--weekly-on) weekly_on=${2:-} ;;
	--daily) keep_daily=${2:-} ;;
	--weekly) keep_weekly=${2:-} ;;
	*) common_option "$@" ;;
	esac
	[ $# -ge 2 ] || usage
	shift 2
done
[ -n "$folder" ] || usage
case "$keep_daily$keep_weekly" in *[!0-9]*) die "--daily and --weekly take a number" ;; esac
[ "$keep_daily" -ge 1 ] && [ "$keep_weekly" -ge 1 ] || die "--daily and --weekly keep at least 1"
date=${date:-$(date +%F)}
[[ "$date" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] && date -d "$date" +%F >/dev/null 2>&1 ||
	die "--date takes YYYY-MM-DD, not '$date'"
case "$(echo "$weekly_on" | tr 'A-Z' 'a-z')" in
1 | mon*) weekly_on=1 ;; 2 | tue*) weekly_on=2 ;; 3 | wed*) weekly_on=3 ;; 4 | thu*) weekly_on=4 ;;
5 | fri*) weekly_on=5 ;; 6 | sat*) weekly_on=6 ;; 7 | sun*) weekly_on=7 ;;
*) die "--weekly-on takes 1-7 (Monday is 1) or a day's name, not '$weekly_on'" ;;
esac

become_os_user "$folder"

mkdir -p "$folder/daily" "$folder/weekly" || die "cannot write in $folder"
folder=$(cd "$folder" && pwd)
# One run at a time per folder.
exec 9>>"$folder/.lock" || die "cannot open $folder/.lock"
flock -n 9 || die "another backup is running in $folder"

work=$folder/.work-$date.$$
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
mkdir "$work" || die "cannot write in $folder"
sql() { psql_q -d "$dbname" "$@"; }

# Before anything is written: a superuser, and no table of ccroute that pg_dump would write
# without its rows (a ccroute older than 0.7 marks none: update it first).
super=$(sql -c "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user") ||
	die "cannot connect to database $dbname"
[ "$super" = t ] || die "$(sql -c 'SELECT current_user') is not a superuser: row-level security would hide rows"
unmarked=$(sql <<-'SQL'
	SELECT string_agg(c.oid::regclass::text, ' ' ORDER BY c.relname)
	  FROM pg_catalog.pg_depend d
	  JOIN pg_catalog.pg_class c ON c.oid = d.objid
	  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
	 WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_extension'::regclass
	   AND d.deptype = 'e' AND c.relkind IN ('r', 'S') AND c.oid <> ALL (coalesce(e.extconfig, '{}'))
	   AND e.extname = 'ccroute'
SQL
) || die "cannot read the extensions' tables"
[ -z "$unmarked" ] || die "these extension tables would be dumped without their rows: $unmarked (ALTER EXTENSION ccroute UPDATE)"

# One snapshot for the dump and the row counts: a session exports it and stays in its
# transaction until both are done. It writes its results to files (\g FILE closes the file).
mkfifo "$work/.session" || die "cannot make a fifo in $work"
sql <"$work/.session" >"$work/.session.out" 2>&1 &
session=$!
exec 8>"$work/.session"
cat >&8 <<-EOF
	BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
	SELECT pg_catalog.pg_export_snapshot() \g '$work/.snapshot'
EOF
for _ in $(seq 1 300); do
	[ -s "$work/.snapshot" ] && break
	kill -0 "$session" 2>/dev/null || break
	sleep 0.1
done
snapshot=$(cat "$work/.snapshot" 2>/dev/null)
[ -n "$snapshot" ] || { cat "$work/.session.out" >&2; die "could not export a snapshot"; }

failed=
pg_dump -Fc --snapshot="$snapshot" -d "$dbname" -f "$work/ccroute.dump" 2>"$work/.pg_dump.err" ||
	failed="pg_dump failed: $(grep -v 'circular foreign-key\|detail: \|hint: ' "$work/.pg_dump.err" | head -n 5)"
# Every ordinary table's rows, counted in the same snapshot.
{
	table_counts_sql
	cat <<-EOF
		\g '$work/rows.txt'
		COMMIT;
		\q
	EOF
} >&8
exec 8>&-
wait "$session" || failed=${failed:-"counting rows failed: $(head -n 5 "$work/.session.out")"}
[ -z "$failed" ] || die "$failed; nothing was rotated"

pg_dumpall --globals-only -f "$work/globals.sql" || die "pg_dumpall --globals-only failed; nothing was rotated"
sql -v db="$dbname" >"$work/database.sql" <<-'SQL' || die "reading the database's settings failed; nothing was rotated"
	SELECT CASE WHEN s.setrole = 0 THEN 'ALTER DATABASE :"dbname"'
	            ELSE pg_catalog.format('ALTER ROLE %I IN DATABASE :"dbname"', r.rolname) END
	       || pg_catalog.format(' SET %I = %L;', split_part(cfg, '=', 1), substr(cfg, strpos(cfg, '=') + 1))
	  FROM pg_catalog.pg_db_role_setting s
	  JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase AND d.datname = :'db'
	  LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole,
	       unnest(s.setconfig) cfg
	 ORDER BY 1
SQL
sql -c "SELECT name || ' = ' || setting || ' (' || source || ')' FROM pg_catalog.pg_settings
	WHERE source NOT IN ('default', 'override', 'client', 'session') ORDER BY 1" >"$work/server-settings.txt" ||
	die "reading the server's settings failed; nothing was rotated"
sql -v db="$dbname" -v date="$date" >"$work/info" <<-'SQL' || die "reading the database's facts failed; nothing was rotated"
	SELECT 'date=' || :'date' UNION ALL
	SELECT 'taken_at=' || now() UNION ALL
	SELECT v.fact FROM pg_catalog.pg_database d,
	       LATERAL (VALUES ('dbname=' || d.datname), ('owner=' || pg_catalog.pg_get_userbyid(d.datdba)),
	                       ('encoding=' || pg_catalog.pg_encoding_to_char(d.encoding)),
	                       ('collate=' || d.datcollate), ('ctype=' || d.datctype)) v (fact)
	 WHERE d.datname = :'db' UNION ALL
	SELECT 'server_version=' || current_setting('server_version') UNION ALL
	SELECT 'ccroute_version=' || extversion FROM pg_catalog.pg_extension WHERE extname = 'ccroute'
SQL

# Verification: the archive's whole table of contents reads back; every counted table has its
# data entry in it (a table with rows and no data entry would come back empty).
pg_restore --list "$work/ccroute.dump" >"$work/contents.txt" 2>"$work/.verify.err" ||
	die "the archive does not read back: $(head -n 3 "$work/.verify.err"); nothing was rotated"
missing=$(cut -f 1 "$work/rows.txt" | while read -r t; do
	grep -q "^[0-9]*; [0-9]* [0-9]* TABLE DATA ${t%%.*} ${t#*.} " "$work/contents.txt" || echo "$t"
done)
[ -z "$missing" ] || die "tables without their data in the archive: $(echo $missing); nothing was rotated"
grep -q '^CREATE ROLE ' "$work/globals.sql" || die "globals.sql holds no role; nothing was rotated"
rm -f "$work"/.session* "$work/.snapshot" "$work"/.*.err
(cd "$work" && sha256sum ccroute.dump globals.sql database.sql rows.txt contents.txt info server-settings.txt >SHA256SUMS) ||
	die "writing the checksums failed; nothing was rotated"

# In place: a generation of the same date is replaced only now.
if [ -e "$folder/daily/$date" ]; then
	mv "$folder/daily/$date" "$folder/.replaced-$date.$$" || die "cannot replace daily/$date"
fi
mv "$work" "$folder/daily/$date" || die "cannot move the generation into daily/$date"
rm -rf "$folder/.replaced-$date.$$"
kinds=daily
if [ "$(date -d "$date" +%u)" -eq "$weekly_on" ]; then
	rm -rf "$folder/weekly/.new-$date" &&
		cp -al "$folder/daily/$date" "$folder/weekly/.new-$date" &&
		rm -rf "$folder/weekly/$date" &&
		mv "$folder/weekly/.new-$date" "$folder/weekly/$date" || die "cannot keep $date as a weekly generation"
	kinds="daily and weekly"
fi

# Rotation: the newest generations by date are kept; only folders named as dates count.
rotate() { # rotate SUBFOLDER KEEP
	local gens=("$folder/$1"/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]) i # oldest first
	[ -d "${gens[0]}" ] || return 0
	for ((i = 0; i < ${#gens[@]} - $2; i++)); do
		rm -rf "${gens[$i]}" && echo "backup: removed $1/${gens[$i]##*/}"
	done
}
rotate daily "$keep_daily"
rotate weekly "$keep_weekly"
echo "backup: $date written ($kinds, $(du -sh "$folder/daily/$date" | cut -f 1)) in $folder;" \
	"daily: $(ls "$folder/daily" | tr '\n' ' ')weekly: $(ls "$folder/weekly" | tr '\n' ' ')"
