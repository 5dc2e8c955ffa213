#!/usr/bin/env bash
# netmon status and watch against a real kernel, inside throwaway network namespaces:
#   nmcli-PID       the namespace under test: veth0 192.0.2.2/24, default via 192.0.2.1
#   nmcli-PID-peer  the other end of the veth pair: veth1 192.0.2.1/24
# 1. `status --json` says online and shows veth0 routable (and, without --no-default-ignore, ignored).
# 2. `watch --json --record F` prints the initial state, then an ipv4 disconnected line once veth0
#    goes down; SIGINT ends it with exit 0.
# 3. `watch --json --replay F` prints the same change from the recording and exits 0.
# Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and `ip netns`; skips (77) otherwise. Touches nothing
# outside its own namespaces. Checks JSON with bash and sed only (no python3 or jq needed).
set -u
netmon=${1:?usage: status_netns.sh PATH-TO-NETMON}
source "$(dirname "$0")/lib/namespaces.bash" nmcli

create_namespaces
connect_namespaces
ip -n "$ns" route add default via 192.0.2.1 dev veth0 || die "default route"

veth0_has_carrier() { ip -n "$ns" link show veth0 | grep -q 'LOWER_UP'; }
# Link notifications go to a file first, so a change between the check and the wait is not missed.
ip -n "$ns" monitor link >"$tmp/links.mon" 2>&1 &
link_monitor=$!
wait_for_output 10 "$tmp/links.mon" veth0_has_carrier || die "veth0 never got carrier"
kill "$link_monitor" 2>/dev/null; wait "$link_monitor" 2>/dev/null

# JSON checks with sed: drop the nested objects and arrays so that the keys left are the outer
# object's own (a verdict also holds "reachability", a route also holds "family").
top_level() {
  sed -E -e 's/"flags":\[[^]]*\]//g' -e 's/"route":\{[^{}]*\}//g' -e 's/"(ipv4_|ipv6_)?verdict":\{[^{}]*\}//g' \
    -e 's/"counters":\{[^{}]*\}//g' -e 's/"addresses":\[[^]]*\]//g' -e 's/"links":\[[^]]*\]//g' \
    -e 's/"rules":\[[^]]*\]//g' -e 's/"(link|address|rule)":\{[^{}]*\}//g'
}
# The link object named $1 of a status document, without its addresses.
link_object() { sed -E -e 's/"flags":\[[^]]*\]//g' -e 's/"addresses":\[[^]]*\]//g' | grep -oE "\{[^{}]*\"name\":\"$1\"[^{}]*\}"; }
has() { grep -qF -- "$1"; }

# 1. status
status_json=$(timeout 20 "$netmon" --netns "$ns" --no-default-ignore status --json 2>"$tmp/status.err")
rc=$?
[[ $rc -eq 0 ]] || die "status --json: exit $rc: $(cat "$tmp/status.err")"
[[ $(printf '%s\n' "$status_json" | wc -l) -eq 1 ]] || fail "status --json printed more than one line"
outer=$(printf '%s' "$status_json" | top_level)
for want in '"reachability":"online"' '"ipv4":"online"' '"reason":"internet-route"' '"explanation":"' \
  '"transport_medium":"' '"route_count":'; do
  printf '%s' "$outer" | has "$want" || fail "status --json lacks $want: $status_json"
done
for key in '"ipv4_verdict":{' '"ipv6_verdict":{' '"counters":{' '"links":['; do
  printf '%s' "$status_json" | has "$key" || fail "status --json lacks $key"
done
veth0=$(printf '%s' "$status_json" | link_object veth0)
[[ -n $veth0 ]] || fail "status --json has no link veth0: $status_json"
for want in '"operational_state":"routable"' '"carrier":true' '"up":true' '"kind":"veth"' '"ignored":false'; do
  printf '%s' "$veth0" | has "$want" || fail "veth0 lacks $want: $veth0"
done
printf '%s' "$status_json" | has '"address":"192.0.2.2","family":"ipv4"' ||
  printf '%s' "$status_json" | grep -qE '"address":"192\.0\.2\.2"' || fail "status --json lacks 192.0.2.2"

# Without --no-default-ignore, "veth*" is container plumbing and is ignored.
default_json=$(timeout 20 "$netmon" --netns "$ns" status --json 2>"$tmp/status.err") ||
  fail "status --json (default ignore): $(cat "$tmp/status.err")"
printf '%s' "$default_json" | link_object veth0 | has '"ignored":true' ||
  fail "veth0 not ignored by default: $default_json"

text=$(timeout 20 "$netmon" --netns "$ns" --no-default-ignore status 2>&1) || fail "status (text) failed: $text"
printf '%s\n' "$text" | grep -q '^ *Reachability: online' || fail "status text lacks the overall line: $text"
printf '%s\n' "$text" | grep -qE '^ *[0-9]+ +veth0 +veth +routable +yes +192\.0\.2\.2/24' ||
  fail "status text lacks the veth0 row: $text"

# 2. watch
timeout -s KILL 30 "$netmon" --netns "$ns" --no-default-ignore watch --json --record "$tmp/recording" \
  >"$tmp/watch.out" 2>"$tmp/watch.err" &
background=$!
initial_lines_printed() { [[ $(grep -c '"previous":"unknown"' "$tmp/watch.out") -ge 3 ]]; }
wait_for_output 10 "$tmp/watch.out" initial_lines_printed || die "watch printed no initial state: $(cat "$tmp/watch.out" "$tmp/watch.err")"
for family in ipv4 ipv6 any; do
  grep '"previous":"unknown"' "$tmp/watch.out" | top_level | grep -F "\"family\":\"$family\"" |
    has '"type":"reachability"' || fail "watch: no initial reachability line for $family"
done
grep '"previous":"unknown"' "$tmp/watch.out" | top_level | grep -F '"family":"ipv4"' |
  has '"reachability":"online"' || fail "watch: initial ipv4 line is not online"

ip -n "$ns" link set veth0 down || die "veth0 down"
ipv4_disconnected() {
  top_level <"$1" | grep -F '"type":"reachability"' | grep -F '"family":"ipv4"' |
    grep -F '"previous":"online"' | has '"reachability":"disconnected"'
}
wait_for_output 10 "$tmp/watch.out" ipv4_disconnected "$tmp/watch.out" ||
  fail "watch: no ipv4 disconnected line within 10 s: $(cat "$tmp/watch.out" "$tmp/watch.err")"
grep -F '"type":"link"' "$tmp/watch.out" | has '"name":"veth0"' || fail "watch: no link event for veth0"
grep -qE '"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"' "$tmp/watch.out" ||
  fail "watch: time is not RFC 3339 with microseconds"

# timeout(1) passes SIGINT on to netmon and returns its exit status; it kills a netmon that hangs
# (exit 137) at its deadline.
kill -INT "$background"
wait "$background"
rc=$?
background=
[[ $rc -ne 137 ]] || fail "watch did not exit after SIGINT (killed at the timeout deadline)"
[[ $rc -eq 0 ]] || fail "watch exited $rc after SIGINT, expected 0: $(cat "$tmp/watch.err")"
bad_lines=$(grep -cvE '^\{.*\}$' "$tmp/watch.out")
[[ $bad_lines -eq 0 ]] || fail "watch --json printed $bad_lines line(s) that are not one JSON object"

# 3. replay the recording (with the same ignore policy: it is applied when replaying)
timeout 20 "$netmon" --no-default-ignore watch --json --replay "$tmp/recording" >"$tmp/replay.out" 2>"$tmp/replay.err"
rc=$?
[[ $rc -eq 0 ]] || fail "watch --replay: exit $rc: $(cat "$tmp/replay.err")"
ipv4_disconnected "$tmp/replay.out" || fail "watch --replay: no ipv4 disconnected line: $(cat "$tmp/replay.out")"

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "PASS"
