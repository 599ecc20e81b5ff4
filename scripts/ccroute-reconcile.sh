#!/usr/bin/env bash
# ccroute-reconcile.sh: ends the calls the database holds and no proxy does any more.
#
# The database learns of a call's end from the proxy that holds its dialog. When that proxy is
# gone (killed, its machine lost: its dialogs die with it), or when a promoted standby missed
# the last ends (asynchronous replication), calls stay in ccroute.live_call and their agents
# reserved or on a call. This script asks every proxy for the calls it holds (kamcmd
# dlg.briefing), then ends every live call that arrived more than --grace-s seconds before it
# started and that none of them holds: answered ones as ended, the others as abandoned (their
# agents are freed; history keeps them). Every proxy of the group must be listed and must
# answer: one that does not stops the script before anything changes (its calls would be ended
# while they are still going on).
#
#   ccroute-reconcile.sh --proxy unix:/run/kamailio/kamailio_ctl [--proxy udp:10.0.0.12:2046 ...]
#                        [--grace-s 2] [--dry-run] [--host H] [--port P] [--user U] [--dbname D]
# Connects to the primary as a superuser (the default: the local socket as postgres), since
# it reads every tenant's live calls. Prints what it ended, one call a line, then a summary.
set -u
proxies=()
grace=2
dry=0
export PGDATABASE=${PGDATABASE:-ccroute}
while [ $# -gt 0 ]; do
	case $1 in
	--proxy) proxies+=("$2"); shift 2 ;;
	--grace-s) grace=$2; shift 2 ;;
	--dry-run) dry=1; shift ;;
	--host) export PGHOST=$2; shift 2 ;;
	--port) export PGPORT=$2; shift 2 ;;
	--user) export PGUSER=$2; shift 2 ;;
	--dbname) export PGDATABASE=$2; shift 2 ;;
	*) echo "ccroute-reconcile: unknown option $1" >&2; exit 2 ;;
	esac
done
[ ${#proxies[@]} -gt 0 ] || { echo "ccroute-reconcile: list every proxy with --proxy" >&2; exit 2; }
case $grace in '' | *[!0-9]*) echo "ccroute-reconcile: --grace-s is whole seconds" >&2; exit 2 ;; esac

held=$(mktemp)
trap 'rm -f "$held"' EXIT
# The moment before the proxies are asked: a call that arrives later is theirs to report.
since=$(psql -XAtq -v ON_ERROR_STOP=1 -c "SELECT pg_catalog.now()") ||
	{ echo "ccroute-reconcile: the database does not answer" >&2; exit 1; }
for p in "${proxies[@]}"; do
	if ! out=$(kamcmd -s "$p" dlg.briefing c 2>&1); then
		echo "ccroute-reconcile: proxy $p does not answer ($out): nothing changed" >&2
		exit 1
	fi
	echo "$out" | sed -n 's/^[[:space:]]*call-id: //p' >>"$held"
done

if [ "$dry" = 1 ]; then
	action="'would end'"
	apply="false"
else
	action="ccroute.call_event(l.tenant_id, l.call_seq, CASE l.state WHEN 'answered' THEN 'ended' ELSE 'abandoned' END)"
	apply="true"
fi
psql -XAq -v ON_ERROR_STOP=1 -F' ' <<SQL || exit 1
BEGIN;
CREATE TEMP TABLE held (call_id text) ON COMMIT DROP;
\copy held FROM '$held'
CREATE TEMP TABLE gone ON COMMIT DROP AS
SELECT l.tenant_id, l.call_seq, l.call_id, l.state
  FROM ccroute.live_call l
 WHERE l.arrived_at < '$since'::timestamptz - interval '$grace s'
   AND NOT EXISTS (SELECT 1 FROM held h WHERE h.call_id = l.call_id);
\pset tuples_only on
SELECT 'tenant ' || tenant_id || ' call ' || call_seq || ' (' || call_id || ', ' || state || '): '
       || CASE WHEN $apply THEN 'ended' ELSE 'would be ended' END
  FROM (SELECT g.*, $action AS r FROM gone g JOIN ccroute.live_call l USING (tenant_id, call_seq)) x
 ORDER BY tenant_id, call_seq;
SELECT 'reconciled: ' || (SELECT count(*) FROM gone) || ' live calls no proxy holds ('
       || (SELECT count(*) FROM held) || ' held by ' || ${#proxies[@]} || ' proxies)';
COMMIT;
SQL
