#!/usr/bin/env bash
# People's reads of caller numbers are audited (R5): pgaudit's object audit writes every
# statement of a person that reads a caller column (live_call, call_history) to the server log, naming the person.
source "$(dirname "$0")/../lib/e2e.sh"
log=$STACK_DIR/pg/server.log

psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -U dba <<'SQL' || { tap_not_ok "fixture"; exit 1; }
SELECT ccroute.create_tenant('acme');
SELECT ccroute.add_did('acme', '+81311110000', NULL, 'sip:alice@192.0.2.10');
SELECT ccroute.create_person('acme', 'analyst', 'ana', 'Ana');
SQL
psql -X -q -o /dev/null -U kamailio -c "SELECT * FROM ccroute.route_call('c1', '+819012345678', '+81311110000')"
check_eq "routing a call writes no read audit line" 0 "$(grep -c 'AUDIT: OBJECT' "$log")"

check_eq "the analyst reads the numbers dialed" "+81311110000" \
	"$(psql -XAt -U acme.ana -c 'SELECT did FROM ccroute.did')"
check_eq "reading tables without caller numbers writes no audit line" 0 "$(grep -c 'AUDIT: OBJECT' "$log")"

check_eq "the analyst reads the caller number" "+819012345678" \
	"$(psql -XAt -U acme.ana -c 'SELECT caller FROM ccroute.call_log')"
sleep 0.2
line=$(grep 'AUDIT: OBJECT' "$log" | tail -n 1)
case "$line" in
*"user=acme.ana"*"READ,SELECT,TABLE,ccroute."*",SELECT caller FROM ccroute.call_log"*)
	tap_ok "the read is in the server log with the person's role, the table and the statement" ;;
*) tap_not_ok "the read is in the server log with the person's role, the table and the statement" \
	"last audit line: ${line:-none}" ;;
esac

tap_exit
