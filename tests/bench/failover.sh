#!/usr/bin/env bash
# make bench, failure part: tests/e2e/failover.sh (the database frozen, thawed, crashed and
# restarted under load) run harder, its figures held to the tight bounds: every final answer
# within the deadline plus 100 ms, every worker routing again within 2 s of the restart.
# Writes tests/bench/results/failover-<date>.md.
set -u
cd "$(dirname "$0")/../.."
RATE=${RATE:-100}
AGENTS=${AGENTS:-60}
CHILDREN=${CHILDREN:-8}
out=$(RATE=$RATE AGENTS=$AGENTS CHILDREN=$CHILDREN bash tests/e2e/failover.sh 2>&1)
slowest=$(echo "$out" | sed -n 's/^# slowest final answer: \([0-9.]*\) ms.*/\1/p')
last_fallback=$(echo "$out" | sed -n 's/^# last fallback seen \([0-9]*\) ms.*/\1/p')
verdict() { awk -v v="$1" -v b="$2" 'BEGIN {print (v != "" && v <= b) ? "met" : "not met"}'; }

mkdir -p tests/bench/results
report=tests/bench/results/failover-$(date -u +%Y-%m-%d).md
cat >"$report" <<REPORT
# Failover benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')

Command: \`make bench\` (tests/bench/failover.sh: tests/e2e/failover.sh with RATE=$RATE,
AGENTS=$AGENTS, CHILDREN=$CHILDREN). Machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(uname -r).
$RATE calls/s for 35 s through the shipped configuration (deadline 100 ms, fallback PBX); the
database is frozen (kill -STOP) at 5 s, thawed at 10 s, crashed at 15 s, restarted at 20 s.
Durable commits.

| figure | measured | bound | |
| --- | --- | --- | --- |
| slowest final answer to an INVITE | ${slowest:-?} ms | deadline + 100 ms = 200 ms | $(verdict "$slowest" 200) |
| last call sent to the fallback after the restart | ${last_fallback:-?} ms | 2,000 ms | $(verdict "$last_fallback" 2000) |

The run's own checks and figures:

\`\`\`
$(echo "$out" | grep -E '^(ok|not ok|#)')
\`\`\`
REPORT
cat "$report"
