#!/usr/bin/env bash
# netmon serve, the daemon, against a real kernel and real clients nobody here wrote (curl,
# promtool, Prometheus, systemd's own tools), inside throwaway network namespaces:
#   nmsrv-PID       the namespace under test: lo only at first; later veth0 192.0.2.2/24 with a
#                   default route via 192.0.2.1
#   nmsrv-PID-peer  the other end: veth1 192.0.2.1/24
# Checks, in order:
#   bad --listen values → exit 2 with one clear line; `systemd-analyze verify` accepts the build's
#   netmon.service and netmon.socket (ExecStart pointed at this netmon) without a word;
#   sd_notify: READY=1 with STATUS naming the address, later STOPPING=1 (received with
#   systemd-socket-activate --datagram as the listener: no socat or python3 needed);
#   /v1/status equals `netmon status --json` run in the same namespace (but for the counters and
#   the sequence); /v1/reach before the route (no-route), for a malformed remote (400), 404, 421;
#   /metrics accepted by `promtool check metrics`, OpenMetrics on request (content type, "# EOF");
#   /v1/events read by `curl -N`: the joining state, then a route event and a reachability event
#   to online once a veth pair, an address and a default route appear; /v1/reach after (reachable);
#   Prometheus 2.42 scraping the daemon every second: the target is up (it asks for OpenMetrics)
#   and netmon_reachability{family="any",state="online"} goes 1, then 0 once the peer's end goes
#   down (also seen on the event stream); socket activation with systemd-socket-activate
#   ("(from systemd)", /-/ready 200); --listen 0.0.0.0:0 warns, unix:/PATH serves curl
#   --unix-socket and the socket file is removed at exit; a second serve on a port or a live Unix
#   socket already in use exits 1 and leaves the first one serving; SIGTERM with a stream open:
#   exit 0 and the stream ends.
# Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN), `ip netns` and curl; skips (77) otherwise. promtool and
# prometheus (package prometheus), systemd-socket-activate and systemd-analyze (package systemd):
# each part that lacks its tool says so and is left out. Touches nothing outside its own namespaces.
# Every background process is bounded by `timeout -s KILL`. Checks JSON with grep and sed only.
set -u
netmon=${1:?usage: serve.sh PATH-TO-NETMON}
# The whole run is bounded: 85 s, then SIGTERM to everything in the foreground (the EXIT trap
# cleans up), SIGKILL 5 s later. A passing run takes about 8 s, Prometheus' startup most of it.
if [[ -z ${NETMON_SERVE_TEST_BOUNDED:-} ]]; then
  NETMON_SERVE_TEST_BOUNDED=1 exec timeout -k 5 85 bash "$0" "$@"
fi
source "$(dirname "$0")/lib/namespaces.bash" nmsrv

# Background processes of this script: each is a timeout(1), which leads its own process group, so
# killing the group takes its child along (killing timeout alone would orphan it, still running in
# the namespace). Then the library's cleanup removes the namespaces and $tmp.
spawned=()
cleanup_serve() {
  local pid
  for pid in "${spawned[@]}"; do
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  cleanup
}
trap cleanup_serve EXIT
trap 'echo "FAIL: stopped by SIGTERM (the 85 s bound?) after $SECONDS s"; exit 1' TERM

ok() { echo "ok: $*"; }
has() { grep -qF -- "$1"; }
tool() { command -v "$1" >/dev/null; }
in_ns() { ip netns exec "$ns" "$@"; }
# http ARGS...: curl in the namespace, bounded.
http() { in_ns curl -sS --max-time 5 "$@"; }
# wait_for_bytes SECONDS FILE COMMAND...: as wait_for_output, but wakes on every byte written, for a
# file whose last record has no newline (sd_notify datagrams are copied as they come).
wait_for_bytes() {
  local seconds=$1 file=$2
  shift 2
  "$@" && return 0
  while IFS= read -r -n 1 _; do "$@" && return 0; done < <(timeout "$seconds" tail -c +1 -f "$file" 2>/dev/null)
  "$@"
}
# wait_for_exit SECONDS PID: true once PID has exited, false at the deadline.
wait_for_exit() { timeout "$1" tail --pid="$2" -s 0.05 -f /dev/null 2>/dev/null; }
# poll_until SECONDS COMMAND...: re-runs COMMAND every 0.2 s until it succeeds; false at the
# deadline. Only for state held by another server (Prometheus' query API), which cannot notify.
poll_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
listening_port() { sed -n 's/^netmon serve: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$1" | head -n 1; }
says_listening() { grep -q '^netmon serve: listening on ' "$1"; }

# ─── bad --listen: exit 2, one line "netmon: --listen <reason>" (before any namespace) ─────────
expect_listen_error() {
  local want=$1 value=$2
  timeout 10 "$netmon" serve --listen "$value" >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
  [[ $rc -eq 2 ]] || fail "--listen $value: exit $rc, expected 2: $(cat "$tmp/out" "$tmp/err")"
  [[ $(wc -l <"$tmp/err") -eq 1 && ! -s $tmp/out ]] || fail "--listen $value: expected one stderr line: $(cat "$tmp/out" "$tmp/err")"
  grep -q '^netmon: --listen ' "$tmp/err" && has "$want" <"$tmp/err" ||
    fail "--listen $value: stderr lacks 'netmon: --listen ... $want': $(cat "$tmp/err")"
}
expect_listen_error "missing port in 'nonsense'" nonsense
nonsense=$(cat "$tmp/err")
expect_listen_error "'localhost' is not a literal IP address" localhost:80
expect_listen_error "the port must be a number from 0 to 65535" 127.0.0.1:65536
expect_listen_error "put an IPv6 address in brackets" ::1:80
expect_listen_error "needs an absolute path" unix:relative.sock
[[ $failures -eq 0 ]] && ok "--listen nonsense (and 4 other bad values): exit 2, one line: $nonsense"

# ─── the systemd units configured by this build ──────────────────────────────────────────────
# The binary is BUILD/tools/netmon/netmon; the units are configured into BUILD/dist/systemd/. Their
# ExecStart= names the install path, which need not exist here (systemd-analyze then complains only
# about that), so the copies checked point at this netmon instead.
netmon_abs=$(realpath "$netmon")
units=$(dirname "$netmon_abs")/../../dist/systemd
if ! tool systemd-analyze; then
  echo "skip: systemd-analyze verify: systemd-analyze not installed (package systemd)"
elif [[ ! -f $units/netmon.service || ! -f $units/netmon.socket ]]; then
  echo "skip: systemd-analyze verify: no configured units in $units (netmon not at BUILD/tools/netmon/netmon?)"
else
  mkdir "$tmp/units"
  for unit in netmon.service netmon.socket netmon-wait-online.service; do
    sed "s|^ExecStart=/[^ ]*/netmon |ExecStart=$netmon_abs |" "$units/$unit" >"$tmp/units/$unit"
  done
  grep -qxF "ExecStart=$netmon_abs serve" "$tmp/units/netmon.service" ||
    fail "netmon.service: ExecStart is not '<bindir>/netmon serve': $(grep '^ExecStart=' "$units/netmon.service")"
  for want in Type=notify DynamicUser=yes CapabilityBoundingSet= WantedBy=multi-user.target; do
    grep -qxF "$want" "$tmp/units/netmon.service" || fail "netmon.service lacks $want"
  done
  grep -qxF 'ListenStream=127.0.0.1:10933' "$tmp/units/netmon.socket" || fail "netmon.socket lacks ListenStream=127.0.0.1:10933"
  (cd "$tmp/units" && timeout 30 systemd-analyze verify netmon.service netmon.socket netmon-wait-online.service) \
    >"$tmp/verify.out" 2>&1
  rc=$?
  if [[ $rc -eq 0 && ! -s $tmp/verify.out ]]; then
    ok "systemd-analyze verify: netmon.service, netmon.socket, netmon-wait-online.service without a complaint"
  else
    fail "systemd-analyze verify: exit $rc: $(cat "$tmp/verify.out")"
  fi
fi

# ─── the namespace and the daemon ────────────────────────────────────────────────────────────
if [[ $(id -u) -ne 0 ]]; then
  [[ $failures -eq 0 ]] || die "$failures check(s) failed"
fi
tool curl || skip "needs curl"
create_namespaces
ip -n "$ns" link set lo up || die "lo up"

# The sd_notify listener: systemd-socket-activate binds the datagram socket, runs `cat` on it on the
# first datagram, and cat copies each datagram (without separators) into $tmp/notify.out.
notify=()
if tool systemd-socket-activate; then
  : >"$tmp/notify.out"
  timeout -s KILL 80 systemd-socket-activate --datagram -l "$tmp/notify.sock" \
    sh -c 'exec cat <&3 >>"$0"' "$tmp/notify.out" 2>"$tmp/notify.err" </dev/null &
  spawned+=($!)
  wait_for_output 10 "$tmp/notify.err" grep -q 'Listening on' "$tmp/notify.err" || die "systemd-socket-activate --datagram: $(cat "$tmp/notify.err")"
  notify=(NOTIFY_SOCKET="$tmp/notify.sock")
else
  echo "skip: sd_notify: systemd-socket-activate not installed (package systemd), nothing to receive datagrams"
fi

# veth* links are counted (--no-default-ignore): they are what this test changes.
env "${notify[@]}" timeout -s KILL 80 ip netns exec "$ns" "$netmon" --no-default-ignore serve --listen 127.0.0.1:0 \
  >"$tmp/daemon.out" 2>"$tmp/daemon.err" </dev/null &
daemon=$!
spawned+=("$daemon")
wait_for_output 10 "$tmp/daemon.err" says_listening "$tmp/daemon.err" || die "serve never said it listens: $(cat "$tmp/daemon.err")"
port=$(listening_port "$tmp/daemon.err")
[[ -n $port ]] || die "no 'listening on 127.0.0.1:PORT' line: $(cat "$tmp/daemon.err")"
base=http://127.0.0.1:$port
ok "serve --listen 127.0.0.1:0 listens on port $port"

# Prometheus starts now, in parallel with the checks below (its startup takes seconds). Port 9090
# is free: the namespace is new, and port 0 picks from the ephemeral range (32768 and up).
prom_port=9090
if tool prometheus; then
  cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: netmon
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
  prom_started=$SECONDS
  timeout -s KILL 80 ip netns exec "$ns" prometheus --config.file="$tmp/prometheus.yml" \
    --storage.tsdb.path="$tmp/prometheus" --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 </dev/null &
  spawned+=($!)
else
  echo "skip: Prometheus scraping: prometheus not installed (package prometheus)"
fi

# ─── sd_notify: READY=1 once the initial dump is mirrored and the socket listens ─────────────
if [[ ${#notify[@]} -ne 0 ]]; then
  notified() { grep -q "$1" "$tmp/notify.out" 2>/dev/null; }
  if wait_for_bytes 10 "$tmp/notify.out" notified "STATUS=serving on 127\.0\.0\.1:$port"; then
    has 'READY=1' <"$tmp/notify.out" && ok "sd_notify: READY=1, STATUS=serving on 127.0.0.1:$port" ||
      fail "sd_notify: no READY=1: $(cat "$tmp/notify.out")"
  else
    fail "sd_notify: no READY=1 with STATUS=serving on 127.0.0.1:$port: $(cat "$tmp/notify.out" "$tmp/notify.err" 2>&1)"
  fi
fi

# ─── /v1/status is `netmon status --json` ────────────────────────────────────────────────────
# Keys as a sorted set: the shape of a document. normalized: without what two monitors count
# differently (their own netlink messages) or number differently (the event sequence).
keys() { grep -oE '"[a-z0-9_]+":' | sort -u; }
normalized() { sed -E -e 's/"counters":\{[^{}]*\},?//' -e 's/"sequence":[0-9]+,?//'; }
link_names() { grep -oE '"name":"[^"]*"' | tr '\n' ' '; }
# The outer object's own string fields: the nested objects and arrays dropped first (a verdict also
# holds "reachability" and "reason").
top_fields() {
  sed -E -e 's/"flags":\[[^]]*\]//g' -e 's/"route":\{[^{}]*\}//g' -e 's/"(ipv4_|ipv6_)?verdict":\{[^{}]*\}//g' \
    -e 's/"counters":\{[^{}]*\}//g' -e 's/"addresses":\[[^]]*\]//g' -e 's/"links":\[[^]]*\]//g' \
    -e 's/"rules":\[[^]]*\]//g' | grep -oE '"(reachability|reason|ipv4|ipv6|transport_medium)":"[^"]*"' | tr '\n' ' '
}
# compare_status WHEN EXACT: /v1/status against `status --json`; EXACT (yes/no): the whole document
# too. Leaves the /v1/status document in $status_api.
compare_status() {
  local api cli
  api=$(http -f "$base/v1/status") || { fail "$1: GET /v1/status failed"; return; }
  cli=$(timeout 20 ip netns exec "$ns" "$netmon" --no-default-ignore status --json 2>"$tmp/status.err") ||
    { fail "$1: status --json failed: $(cat "$tmp/status.err")"; return; }
  status_api=$api
  [[ $(keys <<<"$api") == "$(keys <<<"$cli")" ]] ||
    fail "$1: /v1/status and status --json differ in shape: $(diff <(keys <<<"$api") <(keys <<<"$cli") | tr '\n' ' ')"
  [[ -n $(top_fields <<<"$api") && $(top_fields <<<"$api") == "$(top_fields <<<"$cli")" ]] ||
    fail "$1: /v1/status says $(top_fields <<<"$api"); status --json $(top_fields <<<"$cli")"
  [[ $(link_names <<<"$api") == "$(link_names <<<"$cli")" ]] ||
    fail "$1: links differ: /v1/status $(link_names <<<"$api"); status --json $(link_names <<<"$cli")"
  if [[ $2 == yes && $(normalized <<<"$api") != "$(normalized <<<"$cli")" ]]; then
    fail "$1: /v1/status differs from status --json: $(diff <(normalized <<<"$api" | tr ',' '\n') <(normalized <<<"$cli" | tr ',' '\n') | tr '\n' ' ')"
  fi
}
compare_status "lo only" yes
has '"reachability":"disconnected"' <<<"$status_api" && has '"name":"lo"' <<<"$status_api" ||
  fail "lo only: /v1/status is not disconnected with lo: $status_api"
ok "/v1/status equals status --json (but counters and sequence): $(top_fields <<<"$status_api")links $(link_names <<<"$status_api")"

# ─── /v1/reach before any route; bad requests ────────────────────────────────────────────────
reach=$(http -f "$base/v1/reach?remote=198.51.100.7") || fail "GET /v1/reach?remote=198.51.100.7 failed"
for want in '"reachable":false' '"reason":"no-route"' '"remote":"198.51.100.7"'; do
  has "$want" <<<"$reach" || fail "/v1/reach before the route lacks $want: $reach"
done
ok "/v1/reach?remote=198.51.100.7 before the route: reachable false, reason no-route"
# expect_code CODE BODY_PATTERN PATH [CURL-ARGS...]
expect_code() {
  local want=$1 pattern=$2 path=$3 code
  shift 3
  code=$(http -o "$tmp/body" -w '%{http_code}' "$@" "$base$path")
  [[ $code == "$want" ]] && grep -qE -- "$pattern" "$tmp/body" ||
    fail "GET $path $*: HTTP $code, expected $want with /$pattern/: $(cat "$tmp/body")"
}
expect_code 400 '^\{"error":".*198\.51\.100\.300' '/v1/reach?remote=198.51.100.300'
malformed=$(cat "$tmp/body")
expect_code 400 '^\{"error":".*remote' '/v1/reach'
expect_code 400 '^\{"error":"' '/v1/reach?remote=%zz'
expect_code 404 'not found' '/v1/nothing'
expect_code 421 . '/v1/status' -H 'Host: attacker.example'
ok "/v1/reach?remote=198.51.100.300: 400 $malformed; no remote, a bad %-escape: 400; 404; a foreign Host: 421"

# ─── /metrics: promtool, and OpenMetrics on request ──────────────────────────────────────────
code=$(http -o "$tmp/metrics" -D "$tmp/metrics.headers" -w '%{http_code}' "$base/metrics")
[[ $code == 200 ]] || fail "GET /metrics: HTTP $code"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$tmp/metrics.headers" ||
  fail "/metrics: Content-Type: $(grep -i '^Content-Type' "$tmp/metrics.headers")"
grep -qxF 'netmon_reachability{family="any",state="disconnected"} 1' "$tmp/metrics" ||
  fail "/metrics lacks netmon_reachability{family=\"any\",state=\"disconnected\"} 1"
if tool promtool; then
  promtool check metrics <"$tmp/metrics" >"$tmp/promtool.out" 2>&1
  rc=$?
  [[ $rc -eq 0 && ! -s $tmp/promtool.out ]] && ok "promtool check metrics accepts /metrics ($(grep -c '^# TYPE' "$tmp/metrics") families)" ||
    fail "promtool check metrics: exit $rc: $(cat "$tmp/promtool.out")"
else
  echo "skip: promtool check metrics: promtool not installed (package prometheus)"
fi
code=$(http -o "$tmp/openmetrics" -D "$tmp/openmetrics.headers" -w '%{http_code}' \
  -H 'Accept: application/openmetrics-text; version=1.0.0' "$base/metrics")
[[ $code == 200 ]] || fail "GET /metrics (OpenMetrics): HTTP $code"
grep -qi '^Content-Type: application/openmetrics-text; version=1.0.0' "$tmp/openmetrics.headers" ||
  fail "/metrics with Accept OpenMetrics: Content-Type: $(grep -i '^Content-Type' "$tmp/openmetrics.headers")"
[[ $(tail -n 1 "$tmp/openmetrics") == '# EOF' && $(tail -c 1 "$tmp/openmetrics" | od -An -c | tr -d ' ') == '\n' ]] ||
  fail "/metrics as OpenMetrics does not end with '# EOF' and a newline: $(tail -n 2 "$tmp/openmetrics")"
[[ $(grep -c '^# EOF' "$tmp/openmetrics") -eq 1 ]] || fail "/metrics as OpenMetrics has more than one '# EOF'"
ok "/metrics with Accept: application/openmetrics-text: that content type, ends with # EOF"

# ─── /v1/events: the change arrives on a stream read by curl ─────────────────────────────────
timeout -s KILL 80 ip netns exec "$ns" curl -sS -N "$base/v1/events" >"$tmp/events" 2>"$tmp/events.err" </dev/null &
stream=$!
spawned+=("$stream")
joined() { [[ $(grep -c '^data: {.*"previous":"unknown".*"type":"reachability"' "$tmp/events") -ge 3 ]]; }
wait_for_output 10 "$tmp/events" joined || die "/v1/events: no joining state: $(cat "$tmp/events" "$tmp/events.err")"
grep -qE '^id: [0-9a-f]+-[0-9]+$' "$tmp/events" || fail "/v1/events: no 'id: <run>-<sequence>' line: $(head -n 3 "$tmp/events")"
ok "/v1/events: joined with ipv4, ipv6 and any reachability (previous unknown)"

connect_namespaces
ip -n "$ns" route add default via 192.0.2.1 dev veth0 || die "default route"

route_event='^data: \{"change":"added","route":\{"destination":"0\.0\.0\.0/0","family":"ipv4","gateway":"192\.0\.2\.1","interface":"veth0",.*"type":"route"\}$'
# reachability_event FAMILY STATE: the pattern of the event that FAMILY became STATE.
reachability_event() { echo "^data: \{\"explanation\":\"[^\"]*\",\"family\":\"$1\",\"previous\":\"[a-z]+\",\"reachability\":\"$2\",.*\"type\":\"reachability\""; }
online_event=$(reachability_event any online)
went_online() { grep -qE "$online_event" "$tmp/events"; }
wait_for_output 10 "$tmp/events" went_online || fail "/v1/events: no reachability event to online: $(grep '^data' "$tmp/events" | tail -n 5)"
route_line=$(grep -nE "$route_event" "$tmp/events" | head -n 1 | cut -d: -f1)
online_line=$(grep -nE "$online_event" "$tmp/events" | head -n 1 | cut -d: -f1)
if [[ -z $route_line ]]; then
  fail "/v1/events: no route event for the default route: $(grep '^data' "$tmp/events" | tail -n 5)"
elif [[ -n $online_line ]]; then
  ((route_line < online_line)) || fail "/v1/events: the online event came before the route that made it"
  ok "/v1/events: data: {\"change\":\"added\",\"route\":{\"destination\":\"0.0.0.0/0\",...\"type\":\"route\"}, then any $(grep -m1 -oE "$online_event" "$tmp/events" | grep -oE '"previous":"[a-z]+","reachability":"online"')"
fi

reach=$(http -f "$base/v1/reach?remote=198.51.100.7") || fail "GET /v1/reach?remote=198.51.100.7 failed"
for want in '"reachable":true' '"gateway":"192.0.2.1"' '"interface":"veth0"' '"reason":null'; do
  has "$want" <<<"$reach" || fail "/v1/reach after the route lacks $want: $reach"
done
ok "/v1/reach?remote=198.51.100.7 after the route: reachable true via 192.0.2.1 dev veth0"
# Compared once IPv6 has its link-local address too (the daemon says ipv6 local), so that nothing
# changes between the two reads.
ipv6_local_event=$(reachability_event ipv6 local)
ipv6_local() { grep -qE "$ipv6_local_event" "$tmp/events"; }
wait_for_output 10 "$tmp/events" ipv6_local || fail "/v1/events: no ipv6 local event: $(grep '^data' "$tmp/events" | tail -n 5)"
compare_status "online" no
has '"reachability":"online"' <<<"$status_api" || fail "online: /v1/status is not online: $status_api"
ok "/v1/status and status --json agree once online (shape, fields, links): $(top_fields <<<"$status_api")links $(link_names <<<"$status_api")"

# ─── Prometheus scrapes the daemon ───────────────────────────────────────────────────────────
online_query='netmon_reachability{family="any",state="online"}'
prom_get() { in_ns curl -sS --max-time 2 -G "http://127.0.0.1:$prom_port$1" "${@:2}" 2>/dev/null; }
online_value() { prom_get /api/v1/query --data-urlencode "query=$online_query" | sed -nE 's/.*"value":\[[0-9.e+]+,"([^"]*)"\].*/\1/p'; }
has_result() { [[ -n $(online_value) ]]; }
value_is() { [[ $(online_value) == "$1" ]]; }
if tool prometheus; then
  if ! poll_until $((30 - (SECONDS - prom_started))) has_result; then
    fail "Prometheus: no result for $online_query within 30 s: $(prom_get /api/v1/targets) $(tail -n 5 "$tmp/prometheus.log")"
  else
    ok "Prometheus answers $online_query, $((SECONDS - prom_started)) s after its start"
    targets=$(prom_get /api/v1/targets)
    # Prometheus asks for OpenMetrics first, so its parser reads that format here.
    has '"health":"up"' <<<"$targets" && has '"lastError":""' <<<"$targets" &&
      ok "Prometheus: target up, no scrape error ($(grep -oE '"scrapeUrl":"[^"]*"' <<<"$targets"))" ||
      fail "Prometheus: the target is not up without error: $targets"
    poll_until 10 value_is 1 && ok "Prometheus: $online_query = 1" ||
      fail "Prometheus: $online_query is '$(online_value)', expected 1"
  fi
fi

# Offline: the peer's end goes down, veth0 loses carrier, the kernel flushes its routes.
ip -n "$peer" link set veth1 down || die "veth1 down"
offline_event=$(reachability_event any disconnected)
went_offline() { grep -qE "$offline_event" "$tmp/events"; }
wait_for_output 10 "$tmp/events" went_offline &&
  ok "/v1/events: any disconnected once the peer's end went down" ||
  fail "/v1/events: no reachability event to disconnected: $(grep '^data' "$tmp/events" | tail -n 5)"
if tool prometheus && has_result; then
  poll_until 10 value_is 0 && ok "Prometheus: $online_query = 0 after the change" ||
    fail "Prometheus: $online_query is '$(online_value)' after going offline, expected 0"
fi

# ─── socket activation: systemd-socket-activate passes a listening socket ────────────────────
if tool systemd-socket-activate; then
  timeout -s KILL 30 ip netns exec "$ns" systemd-socket-activate -l 127.0.0.1:10933 "$netmon" serve \
    >"$tmp/activated.out" 2>"$tmp/activated.err" </dev/null &
  activated=$!
  spawned+=("$activated")
  # It execs netmon only on the first connection; until then it only listens.
  wait_for_output 10 "$tmp/activated.err" grep -q 'Listening on 127.0.0.1:10933' "$tmp/activated.err" ||
    fail "systemd-socket-activate: $(cat "$tmp/activated.err")"
  code=$(http -o "$tmp/ready" -w '%{http_code}' http://127.0.0.1:10933/-/ready)
  [[ $code == 200 ]] || fail "socket activation: GET /-/ready: HTTP $code: $(cat "$tmp/ready" "$tmp/activated.err")"
  grep -qxF 'netmon serve: listening on 127.0.0.1:10933 (from systemd)' "$tmp/activated.err" &&
    ok "socket activation: /-/ready 200 on 127.0.0.1:10933; stderr: listening on 127.0.0.1:10933 (from systemd)" ||
    fail "socket activation: stderr lacks 'listening on 127.0.0.1:10933 (from systemd)': $(cat "$tmp/activated.err")"
  kill -TERM "$activated"
  wait_for_exit 10 "$activated" || fail "socket activation: netmon did not exit within 10 s of SIGTERM"
  wait "$activated"
  rc=$?
  [[ $rc -eq 0 ]] || fail "socket activation: exit $rc after SIGTERM: $(cat "$tmp/activated.err")"
else
  echo "skip: socket activation: systemd-socket-activate not installed (package systemd)"
fi

# ─── --listen 0.0.0.0:0 warns; unix:/PATH serves; addresses in use are not taken over ────────
timeout -s KILL 30 ip netns exec "$ns" "$netmon" serve --listen 0.0.0.0:0 --listen "unix:$tmp/x.sock" \
  >"$tmp/wide.out" 2>"$tmp/wide.err" </dev/null &
wide=$!
spawned+=("$wide")
serves_unix() { grep -qxF "netmon serve: listening on unix:$tmp/x.sock" "$tmp/wide.err"; }
wait_for_output 10 "$tmp/wide.err" serves_unix || fail "serve --listen unix:$tmp/x.sock: $(cat "$tmp/wide.err")"
warning=$(grep 'reachable from other hosts' "$tmp/wide.err")
[[ -n $warning ]] && grep -q '^netmon serve: warning: 0\.0\.0\.0:0 is reachable from other hosts' <<<"$warning" &&
  ok "--listen 0.0.0.0:0 warns: $warning" || fail "--listen 0.0.0.0:0: no warning: $(cat "$tmp/wide.err")"
# unix_status WHEN: GET /v1/status over the Unix socket, with curl --unix-socket.
unix_status() {
  local code
  rm -f "$tmp/unix.json"
  code=$(timeout 10 curl -sS --max-time 5 --unix-socket "$tmp/x.sock" -o "$tmp/unix.json" -w '%{http_code}' \
    http://localhost/v1/status 2>&1)
  [[ $code == 200 ]] && has '"reachability":"disconnected"' <"$tmp/unix.json" && return 0
  fail "curl --unix-socket $tmp/x.sock /v1/status $1: $code $(cat "$tmp/unix.json" 2>/dev/null)"
  return 1
}
unix_status "" && ok "--listen unix:$tmp/x.sock: curl --unix-socket gets /v1/status"

# expect_in_use WHAT ARGS...: a second serve on addresses a running one holds fails to bind (exit 1)
# instead of taking them over. A live Unix socket is not a leftover of an earlier run.
expect_in_use() {
  local what=$1 second rc
  shift
  timeout -s KILL 20 ip netns exec "$ns" "$netmon" serve "$@" >"$tmp/second.out" 2>"$tmp/second.err" </dev/null &
  second=$!
  spawned+=("$second")
  said_something() { grep -qE '^netmon( serve: listening on |: )' "$tmp/second.err"; }
  wait_for_output 10 "$tmp/second.err" said_something
  if grep -q '^netmon serve: listening on ' "$tmp/second.err"; then
    fail "a second serve $* took over $what from the running one (expected exit 1, bind: Address already in use): $(cat "$tmp/second.err")"
    kill -TERM "$second"
    wait_for_exit 5 "$second"
    wait "$second"
    return
  fi
  wait_for_exit 5 "$second"
  wait "$second"
  rc=$?
  [[ $rc -eq 1 ]] && grep -q "^netmon: listen on .*: bind: Address already in use" "$tmp/second.err" &&
    ok "a second serve $*: exit 1, $(cat "$tmp/second.err")" ||
    fail "a second serve $*: exit $rc, expected 1 with 'bind: Address already in use': $(cat "$tmp/second.err")"
}
expect_in_use "127.0.0.1:$port" --listen "127.0.0.1:$port"
expect_in_use "the live Unix socket $tmp/x.sock" --listen "unix:$tmp/x.sock"
unix_status "(the first server, after a second one tried its path)" &&
  ok "the first server still answers on unix:$tmp/x.sock"

kill -TERM "$wide"
wait_for_exit 10 "$wide" || fail "serve (0.0.0.0, unix) did not exit within 10 s of SIGTERM"
wait "$wide"
rc=$?
[[ $rc -eq 0 ]] || fail "serve (0.0.0.0, unix): exit $rc after SIGTERM: $(cat "$tmp/wide.err")"
[[ ! -e $tmp/x.sock ]] && ok "serve removed its Unix socket at exit" || fail "serve left its Unix socket $tmp/x.sock behind"

# ─── SIGTERM with the event stream open: exit 0, the stream ends ─────────────────────────────
kill -0 "$stream" 2>/dev/null || fail "the /v1/events stream ended early: $(cat "$tmp/events.err")"
kill -TERM "$daemon"  # timeout(1) passes it on to netmon
wait_for_exit 10 "$daemon" || fail "serve did not exit within 10 s of SIGTERM"
wait "$daemon"
rc=$?
[[ $rc -eq 0 ]] || fail "serve: exit $rc after SIGTERM, expected 0: $(cat "$tmp/daemon.err")"
grep -qx 'netmon serve: stopping' "$tmp/daemon.err" || fail "serve: no 'stopping' line: $(cat "$tmp/daemon.err")"
wait_for_exit 10 "$stream" || fail "curl -N /v1/events still running 10 s after the daemon exited"
wait "$stream"
curl_rc=$?
[[ $curl_rc -eq 0 ]] || fail "curl -N /v1/events: exit $curl_rc after the daemon stopped: $(cat "$tmp/events.err")"
[[ $rc -eq 0 && $curl_rc -eq 0 ]] && ok "SIGTERM with a stream open: serve exits 0, curl -N ends (exit 0)"
if [[ ${#notify[@]} -ne 0 ]]; then
  wait_for_bytes 10 "$tmp/notify.out" notified 'STOPPING=1' && ok "sd_notify: STOPPING=1 at SIGTERM" ||
    fail "sd_notify: no STOPPING=1: $(cat "$tmp/notify.out")"
fi

echo "ran in $SECONDS s"
if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "PASS"
