# e2e.sh: the start every end-to-end test shares. Sourced as
#   source "$(dirname "$0")/../lib/e2e.sh" [stack_pg_start | stack_pg_cluster]
# it moves to the project's root, loads the helpers, makes the temporary folder, arranges for
# everything started to be stopped on exit, and starts PostgreSQL: with the extension and the
# test logins (stack_pg_start, the default) or bare (stack_pg_cluster).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source tests/lib/stack.sh
source tests/lib/tap.sh

stack_init
trap stack_stop EXIT
"${1:-stack_pg_start}" || { tap_not_ok "postgresql starts"; exit 1; }
