#!/usr/bin/env bash
# The cap on password hashes at once (ccroute.password_hash_slots): with one slot taken by a
# long hash, another hash that may not wait is refused with 53000, one that may wait gets the
# slot when it frees, and once it is free a hash that may not wait goes through.
source "$(dirname "$0")/../lib/e2e.sh"

sqlstate() { sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -n 1; }

psql -X -q -c "ALTER SYSTEM SET ccroute.password_hash_slots = 1" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
check_eq "one hash slot" 1 "$(psql -X -A -t -c "SHOW ccroute.password_hash_slots")"

# A hash of 512 MiB and 8 passes holds the slot for a second or more.
psql -X -A -t -o /dev/null -c "SET ccroute.password_hash_memory = '512MB'" \
	-c "SET ccroute.password_hash_iterations = 8" -c "SELECT ccroute.password_hash('long one')" &
long=$!
sleep 0.3
refused=$(psql -X -q -A -t -v VERBOSITY=verbose -c "SET ccroute.password_hash_wait_ms = 0" \
	-c "SELECT ccroute.password_hash('short one') IS NOT NULL" 2>&1)
kill -0 "$long" 2>/dev/null
check_eq "the long hash still held the slot" 0 $?
check_eq "a hash that may not wait is refused while the slot is taken" 53000 "$(sqlstate <<<"$refused")"
waited=$(psql -X -q -A -t -c "SET ccroute.password_hash_wait_ms = 30000" \
	-c "SELECT ccroute.password_hash('short one') IS NOT NULL" 2>&1)
check_eq "a hash that may wait gets the slot when it frees" t "$waited"
wait "$long"
check_eq "the long hash completed" 0 $?
free=$(psql -X -q -A -t -c "SET ccroute.password_hash_wait_ms = 0" \
	-c "SELECT ccroute.password_hash('short one') IS NOT NULL" 2>&1)
check_eq "control: with the slot free, a hash that may not wait goes through" t "$free"
