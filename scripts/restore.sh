#!/usr/bin/env bash
# restore.sh: one generation written by backup.sh, into a cluster that does not hold the
# database yet (docs/operations.md, "Restoring").
#
#   scripts/restore.sh --from GENERATION [--host HOST] [--port PORT] [--user USER]
#                      [--dbname NAME] [--no-globals] [--os-user NAME]
#
# In order: the generation's checksums; the roles (globals.sql: every role with its attributes,
# SCRAM secret and memberships; a role that already exists keeps its name and gets the archived
# attributes; --no-globals skips this, e.g. when a first attempt already restored them); a new
# database NAME (default: the archived one) with the archived encoding and locale; the extension
# at the archived version (update it afterwards with ALTER EXTENSION ccroute UPDATE); the
# archive, its rows loaded with triggers disabled so that nothing fires twice (the audit trigger
# would write the restored changes again); the database's own settings; ANALYZE; and then
# every table's row count, which must equal the count taken in the dump's snapshot. Any failure
# drops the database it created and exits non-zero.
#
# Runs as a superuser of the target cluster (row-level security is FORCEd on every table, and
# disabling triggers needs one). Started as root, it runs as --os-user (postgres).
set -u -o pipefail
umask 077

PROG=restore USAGE=5,6
source "$(dirname "$0")/backup-common.sh"

from='' dbname='' globals=yes os_user=postgres
args=("$@")
while [ $# -gt 0 ]; do
	case "$1" in
	--no-globals) globals=no; shift; continue ;;
	--from) from=${2:-} ;;
	--dbname) dbname=${2:-} ;;
	*) common_option "$@" ;;
	esac
	[ $# -ge 2 ] || usage
	shift 2
done
[ -n "$from" ] || usage
become_os_user
[ -d "$from" ] || die "no generation at $from"
from=$(cd "$from" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ccroute-restore.XXXXXX" 2>/dev/null || mktemp -d /tmp/ccroute-restore.XXXXXX) ||
	die "cannot make a work folder"
created=
cleanup() {
	if [ -n "$created" ]; then
		echo "restore: dropping the half-restored database $created" >&2
		dropdb --maintenance-db=postgres --if-exists "$created"
	fi
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$from" && sha256sum --quiet -c SHA256SUMS) || die "$from does not match its checksums"
info() { sed -n "s/^$1=//p" "$from/info"; }
dbname=${dbname:-$(info dbname)}
psql_pg() { psql_q -d postgres "$@"; }
super=$(psql_pg -c "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user") ||
	die "cannot connect to the target cluster"
[ "$super" = t ] || die "restore as a superuser of the target cluster"
[ "$(psql_pg -v db="$dbname" <<<"SELECT count(*) FROM pg_catalog.pg_database WHERE datname = :'db'")" = 0 ] ||
	die "database $dbname exists: restore into a new database (--dbname) or drop it first"
version=$(info ccroute_version)
if [ -n "$version" ]; then
	[ "$(psql_pg -v v="$version" <<<"SELECT count(*) FROM pg_catalog.pg_available_extension_versions
		WHERE name = 'ccroute' AND version = :'v'")" = 1 ] ||
		die "ccroute $version is not installed in the target cluster (make install, as for the source)"
fi

# Roles first: the database's objects name them. pg_dumpall writes CREATE ROLE then ALTER ROLE
# for each role, so a role that exists (the bootstrap superuser) fails its CREATE only: that
# error is expected, any other stops the restore. (Secrets come hashed; people's memberships
# come after every role's secret, so the password-check hook sees no person yet.)
if [ "$globals" = yes ]; then
	psql -X -q -d postgres -f "$from/globals.sql" >"$work/globals.out" 2>&1
	unexpected=$(grep 'ERROR:' "$work/globals.out" | grep -v 'ERROR:  role "[^"]*" already exists')
	[ -z "$unexpected" ] || die "restoring the roles failed: $unexpected (roles restored already? --no-globals)"
	echo "restore: roles restored ($(grep -c '^CREATE ROLE ' "$from/globals.sql") in globals.sql)"
fi

psql_pg -v db="$dbname" -v owner="$(info owner)" -v enc="$(info encoding)" -v coll="$(info collate)" \
	-v ctype="$(info ctype)" <<-'SQL' || die "cannot create database $dbname"
	CREATE DATABASE :"db" WITH TEMPLATE template0 OWNER :"owner" ENCODING :'enc' LC_COLLATE :'coll' LC_CTYPE :'ctype';
SQL
created=$dbname
# The extension at the version that wrote the rows: the archive's CREATE EXTENSION names no
# version, and a newer default could have other columns. Its schema entry is then left out.
pg_restore --list "$from/ccroute.dump" >"$work/contents.txt" || die "the archive does not read back"
if [ -n "$version" ]; then
	psql -X -q -v ON_ERROR_STOP=1 -d "$dbname" -v v="$version" <<-'SQL' || die "cannot create extension ccroute $version"
		CREATE SCHEMA ccroute;
		CREATE EXTENSION ccroute VERSION :'v' SCHEMA ccroute;
	SQL
	grep -v '^[0-9]*; [0-9]* [0-9]* SCHEMA - ccroute ' "$work/contents.txt" >"$work/all.txt"
else
	cp "$work/contents.txt" "$work/all.txt"
fi
# Partitions maintenance made are attached last. The extension's partitioned tables exist with
# their keys and indexes before the archive's partitions do, so attaching a partition at once
# would give it its parent's indexes, and the archive's own (post-data) would then collide.
# Attached after their rows and indexes, each partition's indexes are matched to its parent's.
attach='^[0-9]*; [0-9]* [0-9]* \(TABLE\|INDEX\) ATTACH '
grep "$attach" "$work/all.txt" >"$work/attach.txt"
grep -v "$attach" "$work/all.txt" >"$work/list.txt"
# In passes, since the tables of the extension exist with their triggers before their rows
# arrive and pg_restore disables triggers only in a data-only restore: objects; rows, with every
# trigger off (ALTER TABLE ... DISABLE TRIGGER ALL: audit, append-only, cache invalidation,
# foreign keys); indexes, constraints and security of the partitions; their attachment.
for pass in "--section=pre-data -L $work/list.txt" "--data-only --disable-triggers -L $work/list.txt" \
	"--section=post-data -L $work/list.txt" "-L $work/attach.txt"; do
	[ -s "${pass##* }" ] || continue
	# shellcheck disable=SC2086
	pg_restore -d "$dbname" --single-transaction --exit-on-error $pass "$from/ccroute.dump" \
		2>"$work/pg_restore.err" || die "pg_restore ${pass% -L *} failed: $(head -n 5 "$work/pg_restore.err")"
done
psql -X -q -v ON_ERROR_STOP=1 -1 -d "$dbname" -v dbname="$dbname" -f "$from/database.sql" ||
	die "restoring the database's settings failed"
vacuumdb -q --analyze-only -d "$dbname" || die "ANALYZE failed"

# Every table as many rows as in the dump's snapshot.
table_counts_sql | psql_q -d "$dbname" >"$work/rows.txt" || die "cannot count the restored rows"
if ! diff "$from/rows.txt" "$work/rows.txt" >"$work/rows.diff"; then
	die "restored row counts differ from the dump's (< archived, > restored): $(head -n 10 "$work/rows.diff" | tr '\n' ' ')"
fi
created=
echo "restore: $dbname restored from $from (taken $(info taken_at)): $(wc -l <"$work/rows.txt") tables," \
	"$(awk -F '\t' '{n += $2} END {print n}' "$work/rows.txt") rows, counts equal to the dump's"
