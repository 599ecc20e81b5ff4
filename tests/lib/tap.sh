# tap.sh: named checks for the end-to-end tests. Each check prints "ok - NAME" or
# "not ok - NAME" (with what was expected), which tests/run.sh counts.

TAP_FAILED=0

tap_ok() { echo "ok - $1"; }
tap_not_ok() {
	echo "not ok - $1"
	shift
	[ $# -gt 0 ] && printf '#   %s\n' "$@"
	TAP_FAILED=$((TAP_FAILED + 1))
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then tap_ok "$1"; else tap_not_ok "$1" "expected: $2" "actual:   $3"; fi
}

# check_le NAME LIMIT VALUE: VALUE (an integer) is at most LIMIT.
check_le() {
	if [ "$3" -le "$2" ] 2>/dev/null; then tap_ok "$1"; else tap_not_ok "$1" "expected at most $2, got $3"; fi
}

tap_exit() { [ "$TAP_FAILED" -eq 0 ]; }
