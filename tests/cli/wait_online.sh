#!/usr/bin/env bash
# netmon wait-online against a real kernel, inside throwaway network namespaces:
#   nmwo-PID       the namespace under test: veth0 192.0.2.2/24 + 2001:db8::2/64, veth2 198.51.100.2/24
#   nmwo-PID-peer  the other ends: veth1 192.0.2.1/24 + 2001:db8::1/64, veth3 198.51.100.1/24; both
#                  start down, so veth0 and veth2 start without carrier
# Each waiting case starts wait-online in the background, waits until it printed what it waits for
# (it is then blocked on the kernel's events), makes the change from this shell, and checks the
# exit status and output. Cases, in order:
#   bad arguments → 2 (runs unprivileged too); -i with a min (and max) state; an -i link that
#   appears later; never online → 1 at --timeout 1; a default route added while waiting → 0, with
#   the latency from `ip route add` returning to wait-online's exit; already online → 0 at once;
#   --ipv6 while IPv4 is online; --any; --remote behind a blackhole, then reachable; SIGTERM → 1.
# Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and `ip netns`; skips (77) otherwise. Touches nothing
# outside its own namespaces. Every netmon run is bounded by `timeout`.
set -u
netmon=${1:?usage: wait_online.sh PATH-TO-NETMON}
source "$(dirname "$0")/lib/namespaces.bash" nmwo
# stamp VAR: microseconds since the epoch into VAR. Bash 5's EPOCHREALTIME needs no fork: a `date`
# costs ~15 ms on a busy 2-core machine, more than the latency measured with it.
stamp() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then printf -v "$1" '%s' "${EPOCHREALTIME//[!0-9]/}"; else printf -v "$1" '%s' "$(date +%s%6N)"; fi
}
# since START VAR: microseconds from START until now into VAR.
since() {
  local now
  stamp now
  printf -v "$2" '%s' $((now - $1))
}
has() { grep -qF -- "$1"; }

# run ARGS...: wait-online in the test namespace (veth* counts: --no-default-ignore), bounded by
# timeout 10; exit code in $rc, duration in $ms (and $us), output in $tmp/out and $tmp/err.
run() {
  local start
  stamp start
  timeout 10 "$netmon" --netns "$ns" --no-default-ignore wait-online "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
  since "$start" us
  ms=$((us / 1000))
}
out() { cat "$tmp/out" "$tmp/err"; }

# ─── bad arguments: exit 2, one line "netmon: <reason>" on stderr, nothing on stdout ─────────
expect_usage_error() {
  timeout 10 "$netmon" wait-online "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
  [[ $rc -eq 2 ]] || fail "wait-online $*: exit $rc, expected 2: $(out)"
  [[ $(wc -l <"$tmp/err") -eq 1 ]] || fail "wait-online $*: expected one stderr line: $(cat "$tmp/err")"
  grep -q '^netmon: .' "$tmp/err" || fail "wait-online $*: stderr does not start with 'netmon: ': $(cat "$tmp/err")"
  [[ ! -s $tmp/out ]] || fail "wait-online $*: unexpected stdout: $(cat "$tmp/out")"
}
# expect_usage_error_with MESSAGE ARGS...
expect_usage_error_with() {
  local want=$1
  shift
  expect_usage_error "$@"
  has "$want" <"$tmp/err" || fail "wait-online $*: stderr lacks '$want': $(cat "$tmp/err")"
}
expect_usage_error_with "unknown operational state 'bogus'" -i eth0:bogus
expect_usage_error_with "unknown operational state 'up'" -o up
expect_usage_error_with "'-1' is negative" --timeout -1
expect_usage_error_with "'-1' is negative" --timeout=-1
expect_usage_error_with "not a number of seconds" --timeout soon
expect_usage_error_with "unknown reachability 'bogus'" --reachability bogus
expect_usage_error_with "too many fields" -i a:b:c:d
expect_usage_error_with "not a valid interface name" -i a/b
expect_usage_error_with "not a valid interface name" -i sixteen-chars-xx
expect_usage_error_with "above maximum state" -i eth0:routable:carrier
expect_usage_error_with "matches --ignore" -i eth0 --ignore 'eth*'
expect_usage_error_with "'1.2.3' is not an IP address" --remote 1.2.3
expect_usage_error_with "needs a scope" --remote fe80::1
expect_usage_error --bogus
expect_usage_error --timeout

# ─── namespaces ──────────────────────────────────────────────────────────────────────────────
if [[ $(id -u) -ne 0 ]]; then
  [[ $failures -eq 0 ]] || die "$failures argument check(s) failed"
fi
create_namespaces
ip -n "$ns" link add veth0 type veth peer name veth1 netns "$peer" || die "create veth0/veth1"
ip -n "$ns" link add veth2 type veth peer name veth3 netns "$peer" || die "create veth2/veth3"
ip -n "$peer" addr add 192.0.2.1/24 dev veth1 || die "address on veth1"
ip -n "$peer" addr add 2001:db8::1/64 dev veth1 nodad || die "IPv6 address on veth1"
ip -n "$peer" addr add 198.51.100.1/24 dev veth3 || die "address on veth3"
ip -n "$ns" addr add 192.0.2.2/24 dev veth0 || die "address on veth0"
ip -n "$ns" addr add 2001:db8::2/64 dev veth0 nodad || die "IPv6 address on veth0"
ip -n "$ns" addr add 198.51.100.2/24 dev veth2 || die "address on veth2"
ip -n "$ns" link set veth0 up || die "veth0 up"
ip -n "$ns" link set veth2 up || die "veth2 up"

is_waiting() { grep -q '^netmon: waiting ' "$tmp/bg.out"; }

# start_waiting ARGS...: wait-online in the background; returns once it says it is waiting.
start_waiting() {
  timeout 10 "$netmon" --netns "$ns" --no-default-ignore wait-online "$@" >"$tmp/bg.out" 2>"$tmp/bg.err" </dev/null &
  background=$!
  wait_for_output 10 "$tmp/bg.out" is_waiting || die "wait-online $* never said it was waiting: $(cat "$tmp/bg.out" "$tmp/bg.err")"
}
# change COMMAND...: runs the change, noting when it started and when it returned. A route's
# notification is sent before the kernel acknowledges the request, so it is queued by then; a carrier
# change reaches the veth peer through the kernel's linkwatch work, possibly a little later.
change() {
  stamp started
  "$@" || die "$*"
  stamp changed
}
# finish: waits for the background wait-online; exit code in $rc, the time since $changed in $ms (and $us).
finish() {
  wait "$background"
  rc=$?
  since "$changed" us
  since "$started" us_from_start
  ms=$((us / 1000))
  background=
}
us_text() {
  printf '%d.%03d ms (%d.%03d ms from its start)' $((us / 1000)) $((us % 1000)) $((us_from_start / 1000)) \
    $((us_from_start % 1000))
}
latencies=()

# ─── -i with a state range; a link that appears later ────────────────────────────────────────
run -i veth0:routable --timeout 1
[[ $rc -eq 1 ]] || fail "-i veth0:routable without carrier: exit $rc, expected 1: $(out)"
has 'veth0 is no-carrier' <"$tmp/err" || fail "-i veth0:routable: timeout message does not name veth0's state: $(out)"
run -i veth0:no-carrier:carrier
[[ $rc -eq 0 ]] || fail "-i veth0:no-carrier:carrier: exit $rc, expected 0: $(out)"
has 'veth0 no-carrier' <"$tmp/out" || fail "-i veth0:no-carrier:carrier: success line: $(out)"

start_waiting -i veth0:routable
has 'for veth0 routable' <"$tmp/bg.out" || fail "-i veth0:routable: waiting line: $(cat "$tmp/bg.out")"
change ip -n "$peer" link set veth1 up
finish
[[ $rc -eq 0 ]] || fail "-i veth0:routable after carrier: exit $rc, expected 0: $(cat "$tmp/bg.out" "$tmp/bg.err")"
grep -q '^netmon: ready after .*veth0 routable' "$tmp/bg.out" || fail "-i veth0:routable: success line: $(cat "$tmp/bg.out")"
[[ $ms -lt 1000 ]] || fail "-i veth0:routable exited $ms ms after veth1 came up"
latencies+=("carrier $(us_text)")

start_waiting -i late0
has 'late0 does not exist' <"$tmp/bg.out" || fail "-i late0: waiting line does not say late0 is missing: $(cat "$tmp/bg.out")"
ip -n "$ns" link add late0 type veth peer name late1 && ip -n "$ns" link set late1 up && ip -n "$ns" link set late0 up ||
  die "create late0"
stamp changed
finish
[[ $rc -eq 0 ]] || fail "-i late0 once it exists: exit $rc, expected 0: $(cat "$tmp/bg.out" "$tmp/bg.err")"
grep -q '^netmon: ready after .*late0 degraded' "$tmp/bg.out" || fail "-i late0: success line: $(cat "$tmp/bg.out")"

# ─── never online: exit 1 at the timeout, naming what is missing ─────────────────────────────
run --timeout 1
[[ $rc -eq 1 ]] || fail "no default route, --timeout 1: exit $rc, expected 1: $(out)"
[[ $ms -ge 1000 && $ms -lt 3000 ]] || fail "--timeout 1 took $ms ms"
[[ $(wc -l <"$tmp/err") -eq 1 ]] || fail "--timeout 1: expected one stderr line: $(cat "$tmp/err")"
grep -q '^netmon: timed out after 1 s waiting for online' "$tmp/err" || fail "--timeout 1: message: $(cat "$tmp/err")"
has 'ipv4 site: no route covers' <"$tmp/err" || fail "--timeout 1: message does not say what IPv4 lacks: $(cat "$tmp/err")"
grep -q '^netmon: waiting up to 1 s for online' "$tmp/out" || fail "--timeout 1: no waiting line: $(cat "$tmp/out")"

# ─── offline, then a default route from another process: exit 0 promptly ─────────────────────
start_waiting
change ip -n "$ns" route add default via 192.0.2.1 dev veth0
finish
[[ $rc -eq 0 ]] || fail "default route added: exit $rc, expected 0: $(cat "$tmp/bg.out" "$tmp/bg.err")"
grep -q '^netmon: ready after [0-9.]* s: online: default route via 192.0.2.1 dev veth0' "$tmp/bg.out" ||
  fail "default route added: success line: $(cat "$tmp/bg.out")"
[[ $ms -lt 1000 ]] || fail "wait-online exited $ms ms after the default route was added"
latencies+=("default route $(us_text)")

# ─── already online: exit 0 at once, no waiting line ─────────────────────────────────────────
run
[[ $rc -eq 0 ]] || fail "already online: exit $rc, expected 0: $(out)"
[[ $ms -lt 2000 ]] || fail "already online took $ms ms"
[[ $(wc -l <"$tmp/out") -eq 1 ]] && grep -q '^netmon: ready after .*online: default route via 192.0.2.1' "$tmp/out" ||
  fail "already online: output: $(out)"
run --quiet
[[ $rc -eq 0 && ! -s $tmp/out && ! -s $tmp/err ]] || fail "--quiet, already online: exit $rc, output: $(out)"

# ─── --ipv6: IPv4 is online, wait for a global IPv6 route ────────────────────────────────────
run -6 --timeout 1
[[ $rc -eq 1 ]] || fail "-6 without an IPv6 route: exit $rc, expected 1: $(out)"
has 'ipv6 site: no route covers' <"$tmp/err" || fail "-6: timeout message does not say what IPv6 lacks: $(out)"
start_waiting --ipv6
has 'for ipv6 online' <"$tmp/bg.out" || fail "--ipv6: waiting line: $(cat "$tmp/bg.out")"
change ip -n "$ns" -6 route add default via 2001:db8::1 dev veth0
finish
[[ $rc -eq 0 ]] || fail "--ipv6 after the IPv6 route: exit $rc, expected 0: $(cat "$tmp/bg.out" "$tmp/bg.err")"
has 'ipv6 online: default route via 2001:db8::1 dev veth0' <"$tmp/bg.out" || fail "--ipv6: success line: $(cat "$tmp/bg.out")"
[[ $ms -lt 1000 ]] || fail "--ipv6 exited $ms ms after the IPv6 default route was added"
latencies+=("ipv6 default route $(us_text)")
run -4 -6
[[ $rc -eq 0 ]] || fail "-4 -6 with both online: exit $rc: $(out)"

# ─── --any: one of two interfaces suffices ───────────────────────────────────────────────────
start_waiting --any -i veth2:routable -i late0:routable
has 'one of veth2 routable, late0 routable' <"$tmp/bg.out" || fail "--any: waiting line: $(cat "$tmp/bg.out")"
change ip -n "$peer" link set veth3 up
finish
[[ $rc -eq 0 ]] || fail "--any after veth2 came up: exit $rc, expected 0: $(cat "$tmp/bg.out" "$tmp/bg.err")"
grep -q '^netmon: ready after .*: veth2 routable$' "$tmp/bg.out" || fail "--any: success line: $(cat "$tmp/bg.out")"
[[ $ms -lt 1000 ]] || fail "--any exited $ms ms after veth3 came up"
latencies+=("--any carrier $(us_text)")
run -i veth2:routable -i late0:routable --timeout 1
[[ $rc -eq 1 ]] || fail "both of veth2, late0 routable: exit $rc, expected 1: $(out)"
has 'missing: late0 is degraded' <"$tmp/err" && ! has 'veth2 is' <"$tmp/err" ||
  fail "all of veth2, late0: timeout message should name late0 only: $(cat "$tmp/err")"

# ─── --remote: the connection monitor's answer (the kernel's route lookup) ───────────────────
run --remote fe80::1%nosuch0 --timeout 1
[[ $rc -eq 1 ]] && has 'fe80::1 dev nosuch0: its interface does not exist' <"$tmp/err" ||
  fail "--remote scoped to a missing interface is waited for: exit $rc, expected 1: $(out)"
ip -n "$ns" route add blackhole 203.0.113.0/24 || die "blackhole route"
run --remote 203.0.113.9 --timeout 1
[[ $rc -eq 1 ]] || fail "--remote behind a blackhole: exit $rc, expected 1: $(out)"
has '203.0.113.9 unreachable (blackhole)' <"$tmp/err" || fail "--remote: timeout message does not name the blackhole: $(out)"
start_waiting --remote 203.0.113.9 --remote 192.0.2.1
has 'for 203.0.113.9 reachable and 192.0.2.1 reachable' <"$tmp/bg.out" || fail "--remote: waiting line: $(cat "$tmp/bg.out")"
change ip -n "$ns" route del blackhole 203.0.113.0/24
finish
[[ $rc -eq 0 ]] || fail "--remote after the blackhole went: exit $rc, expected 0: $(cat "$tmp/bg.out" "$tmp/bg.err")"
has '203.0.113.9 reachable: via 192.0.2.1 dev veth0' <"$tmp/bg.out" || fail "--remote: success line: $(cat "$tmp/bg.out")"
[[ $ms -lt 1000 ]] || fail "--remote exited $ms ms after the blackhole route was deleted"
latencies+=("--remote $(us_text)")

# ─── SIGTERM while waiting: exit 1, naming what was missing ──────────────────────────────────
start_waiting -i nosuch0
stamp started
kill -TERM "$background"  # timeout(1) passes it on to wait-online
stamp changed
finish
[[ $rc -eq 1 ]] || fail "SIGTERM: exit $rc, expected 1: $(cat "$tmp/bg.out" "$tmp/bg.err")"
grep -q '^netmon: interrupted by SIGTERM .*nosuch0 does not exist' "$tmp/bg.err" ||
  fail "SIGTERM: message: $(cat "$tmp/bg.err")"

printf 'from the ip command returning to wait-online exiting:'; printf ' %s;' "${latencies[@]}"; echo
if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "PASS"
