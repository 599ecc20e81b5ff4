#!/usr/bin/env bash
# The test callers themselves, sipp to sipp with no proxy: a phone whose 180 comes after its 200
# (two proxy workers relaying a 180 and a 200 may send them in either order: tm sends a reply
# after releasing the transaction's lock) must not make a caller give up, or the e2e tests fail
# a call now and then with the call left in progress until the dialog timeout (CI, stop 18).
source "$(dirname "$0")/../lib/e2e.sh" true  # no database
printf 'SEQUENTIAL\n+81312345678;+819011110001;\n' >"$STACK_DIR/calls.csv"
# calls SCENARIO PORT NAME: three calls straight to the phone on PORT; sipp's exit status.
calls() {
	(cd "$STACK_DIR" && timeout 30 sipp -sf "$1" -inf calls.csv -i 127.0.0.1 -p "$(stack_free_port)" \
		-m 3 -r 10 -nostdin -timeout 20 -timeout_error -trace_err -error_file "$3.errors" \
		"127.0.0.1:$2" >"$3.out" 2>&1)
}
on_time=$(stack_agent_start on_time) && late=$(stack_agent_start late agent_late_ringing.xml) ||
	{ tap_not_ok "sipp phones start"; exit 1; }
calls "$STACK_ROOT/tests/sipp/caller_uac.xml" "$on_time" uac_on_time
check_eq "control: the caller completes calls to a phone that rings before it answers" 0 $?
calls "$STACK_ROOT/tests/sipp/caller_uac.xml" "$late" uac_late
check_eq "the caller completes calls whose 180 comes after the 200" 0 $?
check_eq "the late phone took a BYE for each call" 3 "$(grep -c . "$STACK_DIR/agents/late.calls")"
# The same caller without its wait for a late 180 (a plain 200 ms pause, as before) gives up.
sed -e '/<recv response="180" timeout=/d' -e '/<label id="talk"\/>/d' \
	-e 's/<pause milliseconds="100"\/>/<pause milliseconds="200"\/>/' tests/sipp/caller_uac.xml >"$STACK_DIR/no_wait.xml"
calls "$STACK_DIR/no_wait.xml" "$late" no_wait
check_eq "control: a caller that does not wait for it gives up on the late 180 (sipp exit 1)" 1 $?
check_eq "and said why" 3 "$(grep -c 'unexpected message.*while pausing' "$STACK_DIR/no_wait.errors")"
tap_exit
