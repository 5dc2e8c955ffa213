#!/usr/bin/env bash
# netmon status --probe end to end, against busybox httpd in a peer namespace of the test's own:
#   nmprobe-PID       the namespace under test: veth0 192.0.2.2/24, default via 192.0.2.1
#   nmprobe-PID-peer  the other end: veth1 192.0.2.1/24, 198.51.100.1/32 on lo, httpd on :8080
# 1. the expected body: online, captive_portal false, probe.outcome online.
# 2. a 404 in its place (a page other than the answer): site, captive_portal true.
# 3. a port nobody listens on: site, probe.outcome no-answer.
# 4. bad probe arguments exit 2.
# The default URL is never contacted. Needs root and `ip netns`; skips (77) otherwise.
set -u
netmon=${1:?usage: probe.sh PATH-TO-NETMON}
source "$(dirname "$0")/lib/namespaces.bash" nmprobe

command -v busybox >/dev/null && busybox httpd --help >/dev/null 2>&1 || skip "needs busybox httpd"
create_namespaces
ip -n "$ns" link add veth0 type veth peer name veth1 netns "$peer" || die "create veth pair"
ip -n "$peer" addr add 192.0.2.1/24 dev veth1 || die "address on veth1"
ip -n "$peer" addr add 198.51.100.1/32 dev lo || die "server address"
ip -n "$peer" link set lo up || die "peer lo up"
ip -n "$peer" link set veth1 up || die "veth1 up"
ip -n "$ns" addr add 192.0.2.2/24 dev veth0 || die "address on veth0"
ip -n "$ns" link set veth0 up || die "veth0 up"
ip -n "$ns" route add default via 192.0.2.1 dev veth0 || die "default route"

mkdir -p "$tmp/www" && printf 'NetworkManager is online\n' >"$tmp/www/nm"
ip netns exec "$peer" busybox httpd -f -p 198.51.100.1:8080 -h "$tmp/www" &
background=$!
# Ready when it accepts (bounded: 10 s of 50 ms checks).
for _ in $(seq 200); do
  ip netns exec "$peer" ss -Hltn 'sport = :8080' | grep -q 8080 && break
  sleep 0.05
done
ip netns exec "$peer" ss -Hltn 'sport = :8080' | grep -q 8080 || die "httpd did not start"

has() { grep -qF -- "$1"; }
status() { timeout 30 "$netmon" --netns "$ns" --no-default-ignore status --json "$@"; }

out=$(status --probe=http://198.51.100.1:8080/nm --probe-expect-body 'NetworkManager is online') ||
  fail "status --probe exited $?"
echo "$out" | has '"reachability":"online"' || fail "expected online: $out"
echo "$out" | has '"captive_portal":false' || fail "expected captive_portal false: $out"
echo "$out" | has '"outcome":"online"' || fail "expected probe outcome online: $out"
echo "$out" | has '"url":"http://198.51.100.1:8080/nm"' || fail "expected the probe url: $out"
echo "$out" | has '"latency_seconds":' || fail "expected latency_seconds: $out"

out=$(status --probe=http://198.51.100.1:8080/missing --probe-expect-body 'NetworkManager is online') ||
  fail "status --probe (portal) exited $?"
echo "$out" | has '"reachability":"site"' || fail "expected site behind the portal: $out"
echo "$out" | has '"captive_portal":true' || fail "expected captive_portal true: $out"
echo "$out" | has '"outcome":"captive-portal"' || fail "expected outcome captive-portal: $out"
echo "$out" | has '"reason":"captive-portal"' || fail "expected reason captive-portal: $out"

out=$(status --probe=http://198.51.100.1:8081/nm --probe-timeout 3) || fail "status --probe (refused) exited $?"
echo "$out" | has '"reachability":"site"' || fail "expected site without an answer: $out"
echo "$out" | has '"outcome":"no-answer"' || fail "expected outcome no-answer: $out"
echo "$out" | has '"reason":"probe-no-answer"' || fail "expected reason probe-no-answer: $out"

text=$(timeout 30 "$netmon" --netns "$ns" --no-default-ignore status --probe=http://198.51.100.1:8080/missing) ||
  fail "status --probe (text) exited $?"
echo "$text" | has 'captive portal' || fail "expected the portal in the text: $text"

"$netmon" status --probe=ftp://198.51.100.1/ >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "a non-HTTP probe URL must exit 2"
"$netmon" status --probe-expect-status 204 >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "--probe-expect-status without --probe must exit 2"

[[ $failures -eq 0 ]] || exit 1
echo "PASS"
