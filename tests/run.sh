#!/usr/bin/env bash
# The whole test suite: pg_regress tests of the extension against a throwaway cluster, then every
# end-to-end test in tests/e2e/. Ends with one line "N passed, N failed" over all of them.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
# Everything this run starts lives under a folder of its own, so that the leftovers check below
# looks at (and stops) this run's processes only, never those of another run on the machine.
TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/ccroute-run.XXXXXX")
export TMPDIR
chmod 755 "$TMPDIR"
source tests/lib/stack.sh

passed=0
failed=0
count() { # count OK|FAIL NAME
	if [ "$1" = OK ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

# For development, ONLY=regex runs the pg_regress part and the end-to-end scripts whose path
# matches (ONLY=regress: pg_regress alone); CI runs everything.
only=${ONLY:-.}

# --- pg_regress: every pg_ext/sql/*.sql, one test each, in name order.
if echo regress | grep -Eq "$only"; then
echo "== pg_regress (pg_ext/sql)"
stack_init
trap stack_stop EXIT
if stack_pg_cluster; then
	regress_out=$STACK_DIR/regress
	mkdir -p "$regress_out"
	tests=$(cd pg_ext/sql && ls *.sql | sed 's/\.sql$//')
	"$(pg_config --pkglibdir)/pgxs/src/test/regress/pg_regress" \
		--inputdir=pg_ext --outputdir="$regress_out" --host="$PGHOST" --port="$PGPORT" \
		--user="$PGUSER" --dbname=contrib_regression $tests >"$regress_out/output" 2>&1
	for t in $tests; do
		line=$(grep -E "^(test| ) *$t +\.\.\. " "$regress_out/output" | head -n 1)
		case "$line" in
		*"... ok"*) echo "ok - pg_regress $t"; count OK ;;
		*) echo "not ok - pg_regress $t"; count FAIL ;;
		esac
	done
	rm -f pg_ext/regression.diffs
	if [ -s "$regress_out/regression.diffs" ]; then
		cp "$regress_out/regression.diffs" pg_ext/regression.diffs
		rm -rf pg_ext/results && cp -r "$regress_out/results" pg_ext/results
		echo "# differences: pg_ext/regression.diffs"
		head -n 60 pg_ext/regression.diffs | sed 's/^/#   /'
	fi
else
	echo "not ok - a throwaway PostgreSQL cluster starts"; count FAIL
fi
stack_stop
trap - EXIT
fi

# --- End-to-end tests: each prints "ok - ..." / "not ok - ..." lines; a script that dies
# before printing a failure still counts as one.
for t in tests/e2e/*.sh; do
	echo "$t" | grep -Eq "$only" || continue
	echo "== $t"
	out=$(mktemp)
	"$t" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	ok=$(grep -c '^ok - ' "$out")
	nok=$(grep -c '^not ok - ' "$out")
	passed=$((passed + ok))
	failed=$((failed + nok))
	if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
		echo "not ok - $t exited $rc"; failed=$((failed + 1))
	fi
	if [ "$rc" -eq 0 ] && [ "$ok" -eq 0 ]; then
		echo "not ok - $t checked nothing"; failed=$((failed + 1))
	fi
	rm -f "$out"
done

# Every test stops what it started, also when it fails.
echo "== leftovers"
left=$(pgrep -f "${TMPDIR:-/tmp}/ccroute\." | tr '\n' ' ')
if [ -z "$left" ]; then
	echo "ok - no server or phone started by the tests outlives them"; passed=$((passed + 1))
else
	echo "not ok - processes outlive the tests: $left"; failed=$((failed + 1))
	pkill -f "${TMPDIR:-/tmp}/ccroute\." || true
fi

[ -n "${CCROUTE_KEEP:-}" ] || rm -rf "$TMPDIR"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
