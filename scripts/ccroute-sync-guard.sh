#!/usr/bin/env bash
# ccroute-sync-guard.sh: synchronous replication that never stops the calls.
#
# With synchronous replication (synchronous_standby_names) every commit waits until the standby
# has it: a promoted standby then misses no call. But with one standby, a lost standby makes
# every commit wait for ever, and routing stops. This guard runs beside each database server
# (it does nothing while its server is a standby) and, on the primary, every --interval-ms:
#   - degrades to asynchronous replication (synchronous_standby_names = '') when no synchronous
#     standby has been connected for two checks in a row, or when a commit has waited for the
#     standby longer than --wait-ms: the waiting commits then complete at once;
#   - restores --names once a standby streams again and has answered within the last 2 s, and
#     at least --hold-ms after the last degrade (no flapping on a standby that comes and goes);
#     for --hold-ms after a restore, only a commit that waits too long degrades again.
# Each change is one ALTER SYSTEM and pg_reload_conf(), logged on stdout with its reason.
# While degraded, a second failure (the primary lost before the standby is back) may lose the
# last commits: docs/operations.md, "Replication and failover", says what is then reconciled.
#
#   ccroute-sync-guard.sh --names 'ANY 1 (db1, db2)' [--host H] [--port P] [--user U]
#                         [--interval-ms 200] [--wait-ms 500] [--hold-ms 2000]
# The names are the standbys' application_name (cluster_name): list every server of the group,
# so the setting stays right after a failover. Runs until killed.
set -u
names=
interval_ms=200
wait_ms=500
hold_ms=2000
while [ $# -gt 0 ]; do
	case $1 in
	--names) names=$2; shift 2 ;;
	--host) export PGHOST=$2; shift 2 ;;
	--port) export PGPORT=$2; shift 2 ;;
	--user) export PGUSER=$2; shift 2 ;;
	--interval-ms) interval_ms=$2; shift 2 ;;
	--wait-ms) wait_ms=$2; shift 2 ;;
	--hold-ms) hold_ms=$2; shift 2 ;;
	*) echo "ccroute-sync-guard: unknown option $1" >&2; exit 2 ;;
	esac
done
[ -n "$names" ] || { echo "ccroute-sync-guard: --names is required" >&2; exit 2; }
case $interval_ms$wait_ms$hold_ms in *[!0-9]*) echo "ccroute-sync-guard: times are in ms" >&2; exit 2 ;; esac
export PGDATABASE=${PGDATABASE:-postgres} PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-2} PGAPPNAME=ccroute-sync-guard
quoted=${names//\'/\'\'}

now_ms() { echo $(($(date +%s%N) / 1000000)); }
log() { echo "$(date -u '+%Y-%m-%d %H:%M:%S.%3N') ccroute-sync-guard: $*"; }
set_names() { # set_names VALUE REASON
	if psql -XAtq -v ON_ERROR_STOP=1 -c "ALTER SYSTEM SET synchronous_standby_names = '$1'" \
		-c "SELECT pg_reload_conf()" >/dev/null; then
		log "synchronous_standby_names = '$1': $2"
		return 0
	fi
	return 1
}

missing=0
degraded_at=0
restored_at=0
while :; do
	# primary?|current names|synchronous standbys|fresh streaming standbys|longest commit wait ms
	state=$(timeout 5 psql -XAt -F'|' -c "
		SELECT NOT pg_is_in_recovery(), current_setting('synchronous_standby_names'),
		       (SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')),
		       (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'
		           AND reply_time > clock_timestamp() - interval '2 s'),
		       (SELECT coalesce(max(extract(epoch FROM clock_timestamp() - query_start) * 1000), 0)::bigint
		          FROM pg_stat_activity WHERE wait_event = 'SyncRep')" 2>/dev/null)
	IFS='|' read -r primary current sync fresh waited <<<"$state"
	if [ "${primary:-}" = t ]; then
		if [ -n "$current" ]; then
			# Right after a restore the walsenders take a moment to count as synchronous: no
			# standby is called missing before --hold-ms (a commit that waits still counts).
			if [ "$sync" -eq 0 ] && [ $(($(now_ms) - restored_at)) -ge "$hold_ms" ]; then
				missing=$((missing + 1))
			else
				missing=0
			fi
			if [ "$missing" -ge 2 ] || [ "$waited" -ge "$wait_ms" ]; then
				reason="no synchronous standby connected"
				[ "$waited" -ge "$wait_ms" ] && reason="a commit waited ${waited} ms for the standby"
				set_names "" "degraded to asynchronous replication ($reason)" && degraded_at=$(now_ms)
				missing=0
			fi
		elif [ "$fresh" -gt 0 ] && [ $(($(now_ms) - degraded_at)) -ge "$hold_ms" ]; then
			set_names "$quoted" "synchronous replication restored (a standby streams)" && restored_at=$(now_ms)
		fi
	fi
	sleep "$(awk -v m="$interval_ms" 'BEGIN {printf "%.3f", m / 1000}')"
done
