#!/usr/bin/env bash
# The rules' sandbox, attacked through the offline checker (rules/ccroute-rule-check), which
# runs the extension's own sandbox code: each attack beside a control of the same shape that
# works, each asserting which limit or error stopped it, and that the process survived to say so.
cd "$(dirname "$0")/../.."
source tests/lib/tap.sh
make -s -C rules >/dev/null || { tap_not_ok "the rule checker builds"; exit 1; }
check=rules/ccroute-rule-check
samples=tests/rules/samples.lua
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# outcome [OPTIONS...] < RULE: the checker's verdict on the rule for the sample call: the
# sample's line without its name, or the compile line when it does not compile.
outcome() {
	cat >"$work/rule.lua"
	local out
	out=$(timeout 20 "$check" "$@" "$work/rule.lua" "$samples" 2>&1)
	case $? in
	0 | 1) echo "$out" | sed -n 's/^call: //p' ;;
	2) echo "$out" | sed -n 's/^compile: //p' ;;
	*) echo "checker died ($out)" ;;
	esac
}

# attack NAME EXPECTED [OPTIONS...] < RULE: the outcome starts with EXPECTED.
attack() {
	local name=$1 expected=$2 got
	shift 2
	got=$(outcome "$@")
	# EXPECTED may list alternatives: "stopped instructions|stopped deadline".
	local alt
	IFS='|' read -ra alts <<<"$expected"
	for alt in "${alts[@]}"; do
		case $got in "$alt"*) tap_ok "attack: $name"; return ;; esac
	done
	tap_not_ok "attack: $name" "expected: $expected..." "actual:   $got"
}
control() {
	local name=$1 expected=$2 got
	shift 2
	got=$(outcome "$@")
	check_eq "control: $name" "$expected" "$got"
}

# --- Endless work: the instruction budget, the deadline; no pcall, xpcall or error handler
# swallows them. The attacks that assert the budget get a 2 s deadline, so that on a loaded
# machine the 10 ms deadline does not stop them first; the deadline has attacks of its own.
control "a bounded loop" "agents 103" <<'EOF'
return function(call, agents)
  local best
  for i = 1, 1000 do best = agents[#agents].extension end
  return { agents = { best } }
end
EOF
attack "an endless loop" "stopped instructions: instruction budget of 1000000 spent" --deadline-ms 2000 <<'EOF'
return function() while true do end end
EOF
attack "an endless loop inside pcall, retried forever" "stopped instructions" --deadline-ms 2000 <<'EOF'
return function()
  while true do pcall(function() while true do end end) end
end
EOF
attack "an endless error handler in xpcall" "stopped instructions" --deadline-ms 2000 <<'EOF'
return function()
  while true do
    xpcall(function() while true do end end, function() while true do end end)
  end
end
EOF
attack "an error object that loops when printed" "stopped instructions|stopped deadline" <<'EOF'
return function()
  local mt = { __tostring = function() while true do end end }
  while true do pcall(error, setmetatable({}, mt)) end
end
EOF
start=$(date +%s%N)
attack "an endless loop with no instruction budget meets the deadline" \
	"stopped deadline: deadline of 50 ms passed" --instructions 100000000000 --deadline-ms 50 <<'EOF'
return function() local x = 0 while true do x = x + 1 end end
EOF
check_le "the deadline stopped it within 1 s (ms)" 1000 $((($(date +%s%N) - start) / 1000000))
attack "an endless loop in the rule's top level" "stopped instructions" --deadline-ms 2000 <<'EOF'
while true do end
return function() end
EOF
control "recursion of a sane depth" "default" <<'EOF'
local function depth(n) if n == 0 then return 0 end return 1 + depth(n - 1) end
return function() depth(150) end
EOF
attack "endless recursion" "stopped memory" --deadline-ms 2000 <<'EOF'
local function f(n) return f(n + 1) + 1 end
return function() f(1) end
EOF
attack "endless recursion, caught and retried" "stopped memory" --deadline-ms 2000 <<'EOF'
local function f(n) return f(n + 1) + 1 end
return function() while true do pcall(f, 1) end end
EOF

# --- Memory: the cap on the state, and on any single block (the longest string). These attacks
# get a 2 s deadline so that the memory cap, not the 10 ms deadline, is what stops them even on a
# loaded machine: the cap is what they assert.
control "a modest string and table" "default" <<'EOF'
return function()
  local s = string.rep("x", 10000)
  local t = {}
  for i = 1, 1000 do t[i] = i end
  assert(#s == 10000 and #t == 1000)
end
EOF
attack "string.rep of 100 MB" "stopped memory" --deadline-ms 2000 <<'EOF'
return function() return { note = string.rep("x", 100000000) } end
EOF
attack "doubling a string by concatenation" "stopped memory" --deadline-ms 2000 <<'EOF'
return function() local s = "x" while true do s = s .. s end end
EOF
attack "a growing table of tables" "stopped memory" --deadline-ms 2000 <<'EOF'
return function() local t = {} while true do t[#t + 1] = { 1, 2, 3, 4 } end end
EOF
attack "a memory error caught by pcall, then more" "stopped memory" --deadline-ms 2000 <<'EOF'
return function()
  local keep = {}
  while true do
    pcall(function() keep[#keep + 1] = string.rep("y", 500000) end)
  end
end
EOF

# --- Reaching outside: no io, os (but time), debug, package, require, load, dofile; no binary
# chunks; library tables and the string metatable read-only.
control "os.time and os.date" "default" <<'EOF'
return function() assert(os.time() > 0 and type(os.date("*t").hour) == "number") end
EOF
for expr in 'io.open("/etc/passwd")' 'os.execute("id")' 'os.getenv("HOME")' 'os.exit(1)' \
	'os.remove("/tmp/x")' 'debug.getregistry()' 'require("os")' 'package.loaded.io' \
	'load("return 1")()' 'loadstring("return 1")' 'dofile("/etc/passwd")' 'loadfile("/etc/passwd")' \
	'string.dump(function() end)' '_G.io.open("/etc/passwd")' '_ENV.io.open("/etc/passwd")' 'rawset(string, "x", 1)' \
	'collectgarbage("collect")' 'coroutine.create(print)' 'print("x")'; do
	attack "$expr" "stopped error: " <<EOF
return function() local r = $expr return { note = tostring(r) } end
EOF
done
attack "a binary chunk" "stopped syntax: " <<<$'\x1bLua\x54\x00\x19\x93\r\n\x1a\n'
attack "changing the string library" "stopped error: " <<'EOF'
return function() string.upper = function() return "pwned" end end
EOF
attack "changing strings' metatable" "stopped error: " <<'EOF'
return function() getmetatable("").__index = { upper = function() return "pwned" end } end
EOF
control "getmetatable of a string gives nothing" "default" <<'EOF'
return function() assert(getmetatable("") == false) end
EOF
attack "a finalizer (__gc) to run outside the rule" "stopped error: " <<'EOF'
return function() setmetatable({}, { __gc = function() while true do end end }) end
EOF
control "a metatable without a finalizer" "default" <<'EOF'
return function() local t = setmetatable({}, { __index = function() return 1 end }) assert(t.x == 1) end
EOF
long=$(head -c 70000 /dev/zero | tr '\0' ' ')
attack "a 70 kB source" "stopped syntax: source of 700" <<EOF
$long
return function() end
EOF

# --- Patterns: the hook never fires inside C, so a costly pattern is refused up front.
control "a pattern on a caller number" "agents 101" <<'EOF'
return function(call, agents)
  if call.caller:match("^%+81(%d+)$") and ("a,b,c"):gsub(",", ";") == "a;b;c" then
    return { agents = { agents[1].extension } }
  end
end
EOF
start=$(date +%s%N)
attack "a catastrophic pattern on a large subject" "stopped error: " <<'EOF'
return function()
  local s = string.rep("a", 5000)
  return { note = tostring(s:find(".-.-.-.-.-.-b")) }
end
EOF
attack "a catastrophic pattern through gmatch" "stopped error: " <<'EOF'
return function()
  for m in string.rep("a", 3000):gmatch("a*a*a*a*b") do end
end
EOF
check_le "the costly patterns were refused within 1 s (ms)" 1000 $((($(date +%s%N) - start) / 1000000))
control "a plain find on a large subject" "default" <<'EOF'
return function() assert(string.rep("a", 100000):find(".-.-b", 1, true) == nil) end
EOF

# --- What a rule returns.
control "a full decision" "skill japanese 5 priority 3 (note: ivr 2)" <<'EOF'
return function() return { skill = "japanese", min_proficiency = 5, priority = 3, note = "ivr 2" } end
EOF
control "a reject" "reject 486 Closed for inventory" <<'EOF'
return function() return { reject = 486, reason = "Closed for inventory" } end
EOF
attack "a number instead of a decision" "stopped bad_result: rule result: a table or nil" <<'EOF'
return function() return 42 end
EOF
attack "agents as a string" "stopped bad_result: " <<'EOF'
return function() return { agents = "101" } end
EOF
attack "1,000 agents" "stopped bad_result: rule result: agents must list 1 to 64" <<'EOF'
return function() local t = {} for i = 1, 1000 do t[i] = "1" .. i end return { agents = t } end
EOF
attack "a 100 kB note" "stopped bad_result: " <<'EOF'
return function() return { note = string.rep("n", 100000) } end
EOF
attack "a 200 reject" "stopped bad_result: rule result: reject must be an integer from 400 to 699" <<'EOF'
return function() return { reject = 200 } end
EOF
attack "two decisions at once" "stopped bad_result: rule result: at most one" <<'EOF'
return function() return { overflow = true, forward = "voicemail" } end
EOF
attack "an unknown field" "stopped bad_result: rule result: unknown field dial" <<'EOF'
return function() return { dial = "+19005550100" } end
EOF
attack "a decision hidden behind __index" "default" <<'EOF'
return function() return setmetatable({}, { __index = function() while true do end end }) end
EOF
attack "a rule that is not a function" "stopped error: " <<'EOF'
return 42
EOF
attack "a syntax error, with its line" "stopped syntax: rule:2:" <<'EOF'
return function()
  if then
end
EOF
tap_exit
