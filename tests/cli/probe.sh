#!/usr/bin/env bash
# netmon status --probe end to end, against busybox httpd in a peer namespace of the test's own:
#   nmprobe-PID       the namespace under test: veth0 192.0.2.2/24, default via 192.0.2.1
#   nmprobe-PID-peer  the other end: veth1 192.0.2.1/24, 198.51.100.1/32 on lo, httpd on :8080
# 1. the expected body: online, captive_portal false, probe.outcome online.
# 2. a 404 in its place (a page other than the answer): site, captive_portal true.
# 3. a port nobody listens on: site, probe.outcome no-answer.
# 4. wait-online --probe (0 when online, 1 behind the portal), watch --probe (probe event, site),
#    serve --probe (/metrics and /v1/status show the portal).
# 5. bad probe arguments exit 2.
# The default URL is never contacted. Needs root and `ip netns`; skips (77) otherwise.
set -u
netmon=${1:?usage: probe.sh PATH-TO-NETMON}
source "$(dirname "$0")/lib/namespaces.bash" nmprobe

command -v busybox >/dev/null && busybox httpd --help >/dev/null 2>&1 || skip "needs busybox httpd"
create_namespaces
connect_namespaces
ip -n "$peer" addr add 198.51.100.1/32 dev lo || die "server address"
ip -n "$peer" link set lo up || die "peer lo up"
ip -n "$ns" route add default via 192.0.2.1 dev veth0 || die "default route"
ip -n "$ns" link set lo up || die "lo up (serve listens on 127.0.0.1)"

mkdir -p "$tmp/www" && printf 'NetworkManager is online\n' >"$tmp/www/nm"
# Without -f, busybox httpd binds and listens, then daemonizes: it serves once this returns. It is
# ended with everything else left in the peer namespace.
ip netns exec "$peer" busybox httpd -p 198.51.100.1:8080 -h "$tmp/www" || die "httpd did not start"
end_peer_processes() { ip netns pids "$peer" 2>/dev/null | xargs -r kill -KILL 2>/dev/null; cleanup; }
trap end_peer_processes EXIT

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

# wait-online --probe: 0 once the probe answers online; behind a portal it waits, then 1.
timeout 30 "$netmon" --netns "$ns" --no-default-ignore wait-online --timeout 10 -q \
  --probe=http://198.51.100.1:8080/nm --probe-expect-body 'NetworkManager is online'
[[ $? -eq 0 ]] || fail "wait-online --probe with the expected answer must exit 0"
timeout 30 "$netmon" --netns "$ns" --no-default-ignore wait-online --timeout 2 \
  --probe=http://198.51.100.1:8080/missing >"$tmp/wait.out" 2>&1
code=$?
[[ $code -eq 1 ]] || fail "wait-online --probe behind a portal must time out with 1, got $code: $(cat "$tmp/wait.out")"
has 'probe' <"$tmp/wait.out" || fail "wait-online should name the probe as missing: $(cat "$tmp/wait.out")"

# watch --probe: a probe event with the portal and reachability site, as JSON lines.
timeout -s KILL 30 "$netmon" --netns "$ns" --no-default-ignore watch --json \
  --probe=http://198.51.100.1:8080/missing >"$tmp/watch.out" 2>&1 &
watcher=$!
wait_for_output 15 "$tmp/watch.out" grep -q '"type":"probe".*"captive-portal"\|"captive-portal".*"type":"probe"' "$tmp/watch.out" ||
  fail "watch --probe printed no captive-portal probe event: $(cat "$tmp/watch.out")"
wait_for_output 5 "$tmp/watch.out" grep -q '"family":"any".*"reachability":"site"\|"reachability":"site".*"family":"any"\|"family":"any","previous":"online","reachability":"site"' "$tmp/watch.out" ||
  fail "watch --probe printed no overall reachability site: $(cat "$tmp/watch.out")"
kill -TERM "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null

# serve --probe: the verdict reaches /metrics and /v1/status.
ip netns exec "$ns" timeout -s KILL 30 "$netmon" --no-default-ignore serve --listen 127.0.0.1:0 \
  --probe=http://198.51.100.1:8080/missing 2>"$tmp/serve.err" &
server=$!
wait_for_output 10 "$tmp/serve.err" grep -q 'listening on 127.0.0.1:' "$tmp/serve.err" ||
  die "serve did not start: $(cat "$tmp/serve.err")"
port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$tmp/serve.err" | head -1 | cut -d: -f2)
# The probe runs on the daemon's schedule: /v1/events says when its verdict is in (as a change,
# or already in the joining reachability frames).
ip netns exec "$ns" timeout -s KILL 20 curl -sN "http://127.0.0.1:$port/v1/events" >"$tmp/events" &
wait_for_output 15 "$tmp/events" grep -q '"reason":"captive-portal"' "$tmp/events" ||
  fail "serve --probe: /v1/events shows no captive portal: $(cat "$tmp/events")"
ip netns exec "$ns" curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" >"$tmp/metrics"
grep -qx 'netmon_captive_portal 1' "$tmp/metrics" &&
  grep -qx 'netmon_probe_outcome{outcome="captive-portal"} 1' "$tmp/metrics" ||
  fail "serve --probe: /metrics shows no captive portal: $(grep -i probe "$tmp/metrics" | head)"
ip netns exec "$ns" curl -sf --max-time 5 "http://127.0.0.1:$port/v1/status" | has '"captive_portal":true' ||
  fail "serve --probe: /v1/status has no captive_portal true"
kill -TERM "$server" 2>/dev/null
wait "$server" 2>/dev/null

"$netmon" status --probe=ftp://198.51.100.1/ >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "a non-HTTP probe URL must exit 2"
"$netmon" status --probe-expect-status 204 >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "--probe-expect-status without --probe must exit 2"

[[ $failures -eq 0 ]] || exit 1
echo "PASS"
