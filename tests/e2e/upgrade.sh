#!/usr/bin/env bash
# The upgrade chain: a database created at the first version (0.1), holding data, is updated
# through every step to the newest version; its schema must then equal a fresh install's, and
# its data must still be there and still route.
source "$(dirname "$0")/../lib/e2e.sh" stack_pg_cluster
latest=$(sed -n "s/^default_version = '\(.*\)'/\1/p" pg_ext/ccroute.control)
dump() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$1" -f tests/sql/describe_schema.sql; }

psql -X -q -d postgres -c 'CREATE DATABASE fresh' -c 'CREATE DATABASE upgraded'
psql -X -q -v ON_ERROR_STOP=1 -d fresh -c 'CREATE EXTENSION ccroute' ||
	tap_not_ok "a fresh install of $latest"

# Version 0.1, with the data it could hold: an active and a cancelled tenant, numbers, a call.
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -d upgraded <<'SQL' || tap_not_ok "version 0.1 with data"
CREATE EXTENSION ccroute VERSION '0.1';
INSERT INTO ccroute.tenant (name) VALUES ('acme'), ('gone');
INSERT INTO ccroute.did (did, tenant_id, destination) VALUES
  ('+81312345678', 1, 'sip:alice@192.0.2.10'), ('+81399999999', 2, 'sip:bob@192.0.2.11');
UPDATE ccroute.tenant SET status = 'cancelled' WHERE name = 'gone';
SELECT * FROM ccroute.route_call('before-update', '+819011112222', '+81312345678');
SQL

psql -X -q -v ON_ERROR_STOP=1 -d upgraded -c 'ALTER EXTENSION ccroute UPDATE'
check_eq "ALTER EXTENSION UPDATE reaches $latest" "$latest" \
	"$(psql -XAt -d upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'ccroute'")"

diff <(dump upgraded) <(dump fresh) >"$STACK_DIR/schema.diff"
check_eq "the updated schema equals a fresh install's" 0 $?
check_le "the schema description is not empty ($(dump fresh | wc -l) lines)" 0 $((100 - $(dump fresh | wc -l)))
[ -s "$STACK_DIR/schema.diff" ] && head -n 40 "$STACK_DIR/schema.diff" | sed 's/^/#   /'

check_eq "the call recorded before the update is still there" 1 \
	"$(psql -XAt -d upgraded -c "SELECT count(*) FROM ccroute.call_history WHERE call_id = 'before-update'")"
check_eq "every number is in the DID directory" "+81312345678:acme +81399999999:gone" \
	"$(psql -XAt -d upgraded -c "SELECT string_agg(d.did || ':' || t.name, ' ' ORDER BY d.did)
		FROM ccroute.did_directory d JOIN ccroute.tenant t USING (tenant_id)")"
check_eq "the cancelled tenant got a cancellation time" "gone" \
	"$(psql -XAt -d upgraded -c "SELECT string_agg(name, ' ') FROM ccroute.tenant WHERE cancelled_at IS NOT NULL")"
psql -X -q -d upgraded -c 'CREATE ROLE up_kamailio IN ROLE ccroute_kamailio'
check_eq "a number of 0.1 still routes after the update" "destination|sip:alice@192.0.2.10" \
	"$(psql -XAtq -d upgraded -c 'SET ROLE up_kamailio' \
		-c "SELECT action, target FROM ccroute.route_call('after-update', '+819011112222', '+81312345678')")"
check_eq "a cancelled tenant's number is still refused after the update" "reject|410" \
	"$(psql -XAtq -d upgraded -c 'SET ROLE up_kamailio' \
		-c "SELECT action, sip_status FROM ccroute.route_call('after-update-2', 'anonymous', '+81399999999')")"

tap_exit
