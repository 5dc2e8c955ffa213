#!/usr/bin/env bash
# netmon reach against a real kernel, inside throwaway network namespaces:
#   nmreach-PID       the namespace under test: veth0 192.0.2.2/24;
#                     198.51.100.0/24 via 192.0.2.1, blackhole 203.0.113.0/25, nothing for
#                     203.0.113.128/25
#   nmreach-PID-peer  the other end of the veth pair: veth1 192.0.2.1/24
# 1. reachable: exit 0; the text names veth0; --json says reachable, reason null, interface veth0,
#    the gateway and the source; on-link: gateway null.
# 2. not reachable: exit 1 with reason no-route / blackhole (text and JSON).
# 3. bad arguments: exit 2, one line on stderr, nothing on stdout (malformed address, --from an
#    address not on this host, --interface nosuchif, unscoped fe80::1, no REMOTE).
# 4. `reach --watch --json`: the initial answer, then a link-down line once the peer's end goes
#    down (our veth0 loses carrier); SIGTERM ends it with the status of the last answer (1).
# Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and `ip netns`; skips (77) otherwise. Touches nothing
# outside its own namespaces. Checks JSON with bash and sed only (no python3 or jq needed).
set -u
netmon=${1:?usage: reach.sh PATH-TO-NETMON}
source "$(dirname "$0")/lib/namespaces.bash" nmreach

create_namespaces
ip -n "$ns" link set lo up || die "lo up"
connect_namespaces
ip -n "$ns" route add 198.51.100.0/24 via 192.0.2.1 dev veth0 || die "route 198.51.100.0/24"
ip -n "$ns" route add blackhole 203.0.113.0/25 || die "blackhole 203.0.113.0/25"

veth0_has_carrier() { ip -n "$ns" link show veth0 | grep -q 'LOWER_UP'; }
# Link notifications go to a file first, so a change between the check and the wait is not missed.
ip -n "$ns" monitor link >"$tmp/links.mon" 2>&1 &
link_monitor=$!
wait_for_output 10 "$tmp/links.mon" veth0_has_carrier || die "veth0 never got carrier"
kill "$link_monitor" 2>/dev/null; wait "$link_monitor" 2>/dev/null

# reach ARGS...: `netmon --netns NS reach ARGS`, exit code in $rc, output in $tmp/out, $tmp/err.
reach() {
  timeout 20 "$netmon" --netns "$ns" reach "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
}
out() { cat "$tmp/out"; }
has() { grep -qF -- "$1"; }
# The outer object of a reach --json line (a --watch change line also holds "previous":{...}).
top_level() { sed -E -e 's/"previous":\{[^{}]*\}//g'; }

# expect_json WHAT WANT...: $tmp/out is exactly one JSON object holding every WANT at its top level.
expect_json() {
  local what=$1 want
  shift
  [[ $(wc -l <"$tmp/out") -eq 1 ]] || fail "$what: expected one line: $(out)"
  grep -qE '^\{.*\}$' "$tmp/out" || fail "$what: not one JSON object: $(out)"
  for want in "$@"; do
    top_level <"$tmp/out" | has "$want" || fail "$what: lacks $want: $(out)"
  done
}

# 1. reachable
reach 198.51.100.10
[[ $rc -eq 0 ]] || fail "reach 198.51.100.10: exit $rc, expected 0: $(out) $(cat "$tmp/err")"
out | grep -q '^198\.51\.100\.10 reachable' || fail "reach text does not start with the remote and 'reachable': $(out)"
out | grep -qE '\bdev veth0\b' || fail "reach text does not name veth0: $(out)"
out | has 'via 192.0.2.1' || fail "reach text does not name the gateway: $(out)"

reach 198.51.100.10 --json
[[ $rc -eq 0 ]] || fail "reach --json: exit $rc, expected 0: $(cat "$tmp/err")"
expect_json "reach 198.51.100.10 --json" '"remote":"198.51.100.10"' '"local":null' '"reachable":true' \
  '"reason":null' '"interface":"veth0"' '"gateway":"192.0.2.1"' '"source":"192.0.2.2"' \
  '"route_type":"unicast"' '"kernel_error":null' '"explanation":"reachable:'

reach 192.0.2.1 --json
[[ $rc -eq 0 ]] || fail "reach 192.0.2.1 --json: exit $rc, expected 0: $(cat "$tmp/err")"
expect_json "reach 192.0.2.1 --json (on-link)" '"reachable":true' '"interface":"veth0"' '"gateway":null'

reach 198.51.100.10 --from 192.0.2.2 --interface veth0 --json
[[ $rc -eq 0 ]] || fail "reach --from 192.0.2.2 --interface veth0: exit $rc: $(cat "$tmp/err")"
expect_json "reach --from --interface" '"local":"192.0.2.2"' '"reachable":true' '"interface":"veth0"'

# 2. not reachable
reach 203.0.113.200
[[ $rc -eq 1 ]] || fail "reach 203.0.113.200 (no route): exit $rc, expected 1: $(out) $(cat "$tmp/err")"
out | has 'unreachable (no-route)' || fail "no-route text: $(out)"
[[ ! -s $tmp/err ]] || fail "no-route is an answer, not an error; stderr: $(cat "$tmp/err")"

reach 203.0.113.200 --json
[[ $rc -eq 1 ]] || fail "reach 203.0.113.200 --json: exit $rc, expected 1"
expect_json "no route --json" '"reachable":false' '"reason":"no-route"' '"gateway":null' '"interface":null'

reach 203.0.113.10 --json
[[ $rc -eq 1 ]] || fail "reach 203.0.113.10 (blackhole): exit $rc, expected 1: $(out) $(cat "$tmp/err")"
expect_json "blackhole --json" '"remote":"203.0.113.10"' '"reachable":false' '"reason":"blackhole"'

# 3. bad arguments: exit 2, one line "netmon: ..." on stderr, nothing on stdout.
expect_usage_error() {
  local what=$1
  shift
  reach "$@"
  [[ $rc -eq 2 ]] || fail "$what (reach $*): exit $rc, expected 2: $(out) $(cat "$tmp/err")"
  [[ $(wc -l <"$tmp/err") -eq 1 ]] || fail "$what (reach $*): expected one stderr line: $(cat "$tmp/err")"
  grep -q '^netmon: .' "$tmp/err" || fail "$what (reach $*): stderr does not start with 'netmon: ': $(cat "$tmp/err")"
  [[ ! -s $tmp/out ]] || fail "$what (reach $*): unexpected stdout: $(out)"
}
expect_usage_error "malformed address" 192.0.2.300
expect_usage_error "--from an address not on this host" 198.51.100.10 --from 192.0.2.99
expect_usage_error "--from the peer's address" 198.51.100.10 --from 192.0.2.1
expect_usage_error "--interface that does not exist" 198.51.100.10 --interface nosuchif
expect_usage_error "unscoped link-local remote" fe80::1
expect_usage_error "families that differ" 198.51.100.10 --from 2001:db8::1
expect_usage_error "missing REMOTE"

# 4. --watch --json
timeout -s KILL 30 "$netmon" --netns "$ns" reach 198.51.100.10 --watch --json >"$tmp/watch.out" 2>"$tmp/watch.err" </dev/null &
background=$!
initial_printed() { grep -F '"reachable":true' "$tmp/watch.out" | grep -qF '"interface":"veth0"'; }
wait_for_output 10 "$tmp/watch.out" initial_printed ||
  die "reach --watch printed no initial answer: $(cat "$tmp/watch.out" "$tmp/watch.err")"
[[ $(wc -l <"$tmp/watch.out") -eq 1 ]] || fail "reach --watch: more than the initial line before any change: $(cat "$tmp/watch.out")"
has '"previous":null' <"$tmp/watch.out" || fail "reach --watch: the initial line has a previous answer: $(cat "$tmp/watch.out")"

ip -n "$peer" link set veth1 down || die "veth1 down"
link_down_printed() { top_level <"$tmp/watch.out" | grep -F '"reason":"link-down"' | grep -F '"reachable":false' | has '"interface":"veth0"'; }
wait_for_output 10 "$tmp/watch.out" link_down_printed ||
  fail "reach --watch: no link-down line within 10 s: $(cat "$tmp/watch.out" "$tmp/watch.err")"
grep -F '"reason":"link-down"' "$tmp/watch.out" | grep -F '"type":"connection"' | grep -qF '"previous":{' ||
  fail "reach --watch: the change line is not a connection event with its previous answer: $(cat "$tmp/watch.out")"
grep -F '"reason":"link-down"' "$tmp/watch.out" | grep -oE '"previous":\{[^{}]*\}' | has '"reachable":true' ||
  fail "reach --watch: the change line's previous answer is not the reachable one: $(cat "$tmp/watch.out")"

# timeout(1) passes SIGTERM on to netmon and returns its exit status; it kills a netmon that hangs
# (exit 137) at its deadline.
kill -TERM "$background"
wait "$background"
rc=$?
background=
[[ $rc -ne 137 ]] || fail "reach --watch did not exit after SIGTERM (killed at the timeout deadline)"
[[ $rc -eq 1 ]] || fail "reach --watch exited $rc after SIGTERM, expected 1 (the last answer: link-down): $(cat "$tmp/watch.err")"
bad_lines=$(grep -cvE '^\{.*\}$' "$tmp/watch.out")
[[ $bad_lines -eq 0 ]] || fail "reach --watch --json printed $bad_lines line(s) that are not one JSON object"
[[ ! -s $tmp/watch.err ]] || fail "reach --watch wrote to stderr: $(cat "$tmp/watch.err")"

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "PASS"
