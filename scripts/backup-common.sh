# backup-common.sh: what scripts/backup.sh and scripts/restore.sh share. Sourced by both after
# they set PROG (the name in their messages) and USAGE (the sed range of their usage lines).

usage() {
	sed -n "${USAGE}p" "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
die() {
	echo "$PROG: $*" >&2
	exit 1
}
psql_q() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$@"; }

# common_option OPTION VALUE: the options both take (connection, --os-user, --help); anything
# else is refused.
common_option() {
	case "$1" in
	--host) export PGHOST=${2:-} ;;
	--port) export PGPORT=${2:-} ;;
	--user) export PGUSER=${2:-} ;;
	--os-user) os_user=${2:-} ;;
	-h | --help) usage ;;
	*) echo "$PROG: unknown argument: $1" >&2; usage ;;
	esac
}

# become_os_user [FOLDER]: started as root, runs the script again as $os_user (PostgreSQL's
# tools then use peer authentication on the server's socket), FOLDER made first and given to it.
become_os_user() {
	[ "$(id -u)" -eq 0 ] && [ "$os_user" != root ] || return 0
	if [ -n "${1:-}" ]; then
		mkdir -p "$1" && chown "$os_user" "$1" && chmod 700 "$1" || die "cannot prepare $1"
	fi
	exec runuser -u "$os_user" -- "$0" "${args[@]}"
}

# The query of every ordinary table's row count, one "schema.table<TAB>count" a line, partitions
# one by one (ONLY: each row counted once), without another extension's tables that it keeps out
# of dumps. The backup runs it in the dump's snapshot, the restore after loading: the two
# outputs must be equal, so both run this one text.
table_counts_sql() {
	cat <<-'SQL'
		SELECT n.nspname || '.' || c.relname || E'\t' ||
		       (xpath('/row/n/text()', query_to_xml(pg_catalog.format('SELECT count(*) AS n FROM ONLY %I.%I', n.nspname, c.relname),
		                                            false, true, '')))[1]::text
		  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
		   AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
		                    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
		                      AND c.oid <> ALL (coalesce(e.extconfig, '{}')))
		 ORDER BY 1
	SQL
}
