#!/usr/bin/env bash
# The daemon benchmark: `netmon serve` under HTTP load and 1,000 event-stream clients, each figure
# printed next to a baseline measured in the same run, with the ratio (bench/README.md, "netmon
# serve"). bench/run runs it through build-bench/bench/serve_bench, a wrapper that passes --netmon
# and --client.
#
# usage: serve_bench.sh --netmon PATH --client PATH [--json] [--samples] [--clients N] [--changes N]
#                       [--wrk-duration S] [--wrk-threads N] [--wrk-connections N]
#   --netmon PATH        the netmon binary (Release)
#   --client PATH        serve_bench_client (bench/serve_bench.cc)
#   --json               one JSON object with every figure instead of the tables
#   --samples            also print every change's timings (client output lines sample.*)
#   --clients N          event-stream clients in the fan-out phases (default 1000)
#   --changes N          route changes per phase, even (default 100: 50 adds, 50 deletes)
#   --wrk-duration S     seconds per wrk run (default 10)
#   --wrk-threads N, --wrk-connections N   (default 2 and 50)
#
# What it does, all inside a network namespace it makes (ip netns add) and deletes at exit:
#   1. 20 veth links (10 pairs, up, one IPv4 address each), a default route and 10,000 /24 routes
#      (ip -batch), then `netmon serve --listen 127.0.0.1:0` on that state;
#   2. serve_bench_client: 1 SSE client, then the bare fan-out floor with N clients, then N clients
#      on the daemon, each over --changes route changes, with the bare rtnetlink listener floor in
#      every round, the daemon's memory and CPU (see bench/serve_bench.cc);
#   3. wrk against /metrics, /v1/status and /-/healthy of the daemon, and against byte-identical
#      static copies of the two bodies served by nginx (keep-alive, one process, when installed)
#      and busybox httpd (fork per request, no keep-alive).
# Every packet stays on the namespace's loopback; the host's links, addresses and routes are never
# touched. Every background process is killed at exit. Every wait is bounded.
#
# Exit status: 0 when every measurement completed and every count was exact; 1 when something
# failed; 2 for bad arguments; 77 when not root. Timings are results, never failures.
set -euo pipefail

netmon=""
client=""
json=0
samples=0
clients=1000
changes=100
wrk_duration=10
wrk_threads=2
wrk_connections=50

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
bad() { echo "serve_bench: $*" >&2; exit 2; }
number() { [[ $2 =~ ^[0-9]+$ ]] || bad "$1 needs a number, not '$2'"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --netmon) [[ $# -ge 2 ]] || bad "--netmon needs a path"; netmon=$2; shift ;;
    --client) [[ $# -ge 2 ]] || bad "--client needs a path"; client=$2; shift ;;
    --json) json=1 ;;
    --samples) samples=1 ;;
    --clients) [[ $# -ge 2 ]] || bad "--clients needs a number"; number "$1" "$2"; clients=$2; shift ;;
    --changes) [[ $# -ge 2 ]] || bad "--changes needs a number"; number "$1" "$2"; changes=$2; shift ;;
    --wrk-duration) [[ $# -ge 2 ]] || bad "--wrk-duration needs seconds"; number "$1" "$2"; wrk_duration=$2; shift ;;
    --wrk-threads) [[ $# -ge 2 ]] || bad "--wrk-threads needs a number"; number "$1" "$2"; wrk_threads=$2; shift ;;
    --wrk-connections) [[ $# -ge 2 ]] || bad "--wrk-connections needs a number"; number "$1" "$2"; wrk_connections=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) bad "unknown argument $1 (see --help)" ;;
  esac
  shift
done
[[ -x $netmon ]] || bad "--netmon: no executable at '$netmon'"
[[ -x $client ]] || bad "--client: no executable at '$client'"
(( clients >= 1 && clients <= 10000 )) || bad "--clients must be 1..10000"
(( changes >= 2 && changes <= 500 && changes % 2 == 0 )) || bad "--changes must be even, 2..500"
(( wrk_duration >= 1 && wrk_duration <= 120 )) || bad "--wrk-duration must be 1..120 s"
(( wrk_threads >= 1 && wrk_connections >= wrk_threads && wrk_connections <= 1000 )) || bad "bad wrk threads/connections"

if [[ $(id -u) -ne 0 ]]; then
  echo "serve_bench: needs root (ip netns add, routes in the namespace)" >&2
  exit 77
fi
for tool in ip curl; do
  command -v "$tool" >/dev/null || { echo "serve_bench: $tool is missing" >&2; exit 1; }
done
have_wrk=0; command -v wrk >/dev/null && have_wrk=1
have_nginx=0; command -v nginx >/dev/null && have_nginx=1
have_busybox=0; command -v busybox >/dev/null && busybox --list 2>/dev/null | grep -x httpd >/dev/null && have_busybox=1

log() { echo "serve_bench: $*" >&2; }

# ---------------------------------------------------------------------------------------------
# Cleanup: every process started here, then the namespace.
ns="netmon-serve-bench-$$"
declare -A R  # every figure, by key
R[machine.load_start]=$(cut -d' ' -f1-3 /proc/loadavg)
work=$(mktemp -d /tmp/netmon-serve-bench.XXXXXX)
pids=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Foreground only: a function run with & would leave $! naming a subshell, not the process.
in_ns() { ip netns exec "$ns" "$@"; }

failed=()

# ---------------------------------------------------------------------------------------------
# 1. The namespace and its state.
ip netns list | awk '{print $1}' | grep -qx "$ns" && { log "namespace $ns exists already"; exit 1; }
ip netns add "$ns"
ip -n "$ns" link set lo up
# Skip IPv6 duplicate address detection: no address turns up seconds later, mid-measurement.
in_ns sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
pairs=10
routes=10000
{
  for ((p = 0; p < pairs; p++)); do
    echo "link add sv${p}a type veth peer name sv${p}b"
    echo "link set sv${p}a up"
    echo "link set sv${p}b up"
    echo "address add 10.255.$p.1/24 dev sv${p}a"
    echo "address add 10.254.$p.1/24 dev sv${p}b"
  done
  echo "route add default via 10.255.0.254 dev sv0a"
} >"$work/links.batch"
ip -n "$ns" -batch "$work/links.batch"
# 10,000 /24s in 10.0.0.0-10.39.15.0, spread over the 20 links.
awk -v n="$routes" -v pairs="$pairs" 'BEGIN {
  for (j = 0; j < n; j++) {
    p = int(j / 2) % pairs; end = (j % 2) ? "b" : "a"
    printf "route add 10.%d.%d.0/24 dev sv%d%s\n", int(j / 256), j % 256, p, end
  }
}' >"$work/routes.batch"
start_ns=$(date +%s%N)
ip -n "$ns" -batch "$work/routes.batch"
R[setup.routes_ms]=$(( ($(date +%s%N) - start_ns) / 1000000 ))
R[setup.links]=$(ip -n "$ns" -o link show type veth | wc -l)
R[setup.ipv4_routes]=$(ip -n "$ns" -4 route show table main | wc -l)
sleep 1  # let the link-up events (IPv6 link-local addresses and routes) settle before the daemon starts

# ---------------------------------------------------------------------------------------------
# 2. The daemon.
max_connections=$((clients + 100))
ip netns exec "$ns" "$netmon" serve --listen 127.0.0.1:0 --max-stream-clients "$clients" \
  --max-connections "$max_connections" \
  2>"$work/daemon.log" &
daemon=$!  # ip netns exec execs the command: this is the daemon's pid
pids+=("$daemon")
port=""
for _ in $(seq 1 200); do
  port=$(sed -n 's/^netmon serve: listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/daemon.log" | head -1)
  [[ -n $port ]] && break
  kill -0 "$daemon" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $port ]]; then
  log "the daemon did not start listening within 20 s:"; cat "$work/daemon.log" >&2; exit 1
fi
exe=$(readlink -f "/proc/$daemon/exe" || true)
[[ $exe == "$(readlink -f "$netmon")" ]] || { log "pid $daemon is not the daemon (it runs '$exe')"; exit 1; }
base="http://127.0.0.1:$port"

# Memory and CPU of the daemon.
vm() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# Run time of all threads in ns (%d would clamp at 2^31 in mawk).
sched_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }

# The bodies: their sizes, and byte-identical copies for the static servers.
mkdir -p "$work/www"
for entry in metrics:metrics v1/status:v1_status -/healthy:healthy; do
  path=${entry%%:*} key=${entry#*:}
  file="$work/www/$path"
  mkdir -p "$(dirname "$file")"
  result=$(in_ns curl -s --max-time 10 -o "$file" -w '%{http_code} %{size_download}' "$base/$path") || result="000 0"
  R[body.$key.status]=${result% *}
  R[body.$key.bytes]=${result#* }
  [[ ${result% *} == 200 ]] || failed+=("GET /$path answered ${result% *}")
done

# ---------------------------------------------------------------------------------------------
# 3. Event streams (before any HTTP load, so "idle" memory is the daemon's first figure).
log "event streams: 1 client, bare floor and netmon with $clients clients, $changes changes each"
client_args=(--port "$port" --daemon-pid "$daemon" --link sv0a --clients "$clients" --changes "$changes")
[[ $samples -eq 1 ]] && client_args+=(--samples)
client_status=0
in_ns timeout --signal=TERM --kill-after=5 240 "$client" "${client_args[@]}" >"$work/client.out" \
  2>"$work/client.err" || client_status=$?
while IFS='=' read -r key value; do
  [[ -n $key && $key != sample.* ]] && R[$key]=$value
done <"$work/client.out"
if [[ $client_status -ne 0 ]]; then
  failed+=("serve_bench_client exit $client_status")
  sed 's/^/  /' "$work/client.err" >&2
fi

# ---------------------------------------------------------------------------------------------
# 4. HTTP load.
wrk_args=(-t"$wrk_threads" -c"$wrk_connections" -d"${wrk_duration}s" --latency --timeout 5s)
# wrk output → R[wrk.NAME.*]: req/s, p50/p99 in ms, requests, non-2xx, socket errors.
parse_wrk() {
  local name=$1 out=$2
  # shellcheck disable=SC2016
  eval "$(awk -v n="$name" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { printf "R[wrk.%s.p50_ms]=%.3f\n", n, ms($2) }
    $1 == "99%" { printf "R[wrk.%s.p99_ms]=%.3f\n", n, ms($2) }
    $1 == "Requests/sec:" { printf "R[wrk.%s.rps]=%.0f\n", n, $2 }
    $2 == "requests" && $3 == "in" { printf "R[wrk.%s.requests]=%d\n", n, $1 }
    /Non-2xx or 3xx responses:/ { printf "R[wrk.%s.non2xx]=%d\n", n, $NF }
    /Socket errors:/ { gsub(/,/, ""); printf "R[wrk.%s.socket_errors]=%d\n", n, $4 + $6 + $8 + $10 }
  ' "$out")"
  : "${R[wrk.$name.non2xx]:=0}" "${R[wrk.$name.socket_errors]:=0}"
  [[ -n ${R[wrk.$name.rps]:-} ]] || failed+=("wrk $name gave no figures")
}
run_wrk() {  # NAME URL [PID whose CPU to count]
  local name=$1 url=$2 pid=${3:-} before=0
  [[ -n $pid ]] && before=$(sched_ns "$pid")
  if in_ns timeout 60 wrk "${wrk_args[@]}" "$url" >"$work/wrk.$name" 2>&1; then
    parse_wrk "$name" "$work/wrk.$name"
    if [[ -n $pid && -n ${R[wrk.$name.requests]:-} && ${R[wrk.$name.requests]} -gt 0 ]]; then
      R[wrk.$name.server_cpu_us_per_req]=$(awk -v a="$before" -v b="$(sched_ns "$pid")" -v n="${R[wrk.$name.requests]}" \
        'BEGIN { printf "%.1f", (b - a) / 1000 / n }')
    fi
  else
    failed+=("wrk $name")
    sed 's/^/  /' "$work/wrk.$name" >&2
  fi
}
wait_http() {  # URL: bounded wait for a server to answer
  for _ in $(seq 1 50); do
    in_ns curl -s --max-time 1 -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}

if [[ $have_wrk -eq 1 ]]; then
  log "wrk ${wrk_args[*]}: netmon"
  run_wrk netmon_metrics "$base/metrics" "$daemon"
  run_wrk netmon_status "$base/v1/status" "$daemon"
  run_wrk netmon_healthy "$base/-/healthy" "$daemon"
  R[memory.after_wrk.rss_kb]=$(vm "$daemon" VmRSS)
  R[memory.after_wrk.hwm_kb]=$(vm "$daemon" VmHWM)

  if [[ $have_nginx -eq 1 ]]; then
    log "wrk: nginx static copies"
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nodelay on;
  keepalive_timeout 60s;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:8082;
    root $work/www;
  }
}
EOF
    ip netns exec "$ns" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
    nginx_pid=$!
    pids+=("$nginx_pid")
    if wait_http "http://127.0.0.1:8082/metrics"; then
      run_wrk nginx_metrics "http://127.0.0.1:8082/metrics" "$nginx_pid"
      run_wrk nginx_status "http://127.0.0.1:8082/v1/status" "$nginx_pid"
    else
      failed+=("nginx did not answer"); cat "$work/nginx/error.log" >&2 || true
    fi
    kill -TERM "$nginx_pid" 2>/dev/null || true
  fi

  if [[ $have_busybox -eq 1 ]]; then
    log "wrk: busybox httpd static copies"
    ip netns exec "$ns" busybox httpd -f -p 127.0.0.1:8081 -h "$work/www" &
    busybox_pid=$!
    pids+=("$busybox_pid")
    if wait_http "http://127.0.0.1:8081/metrics"; then
      run_wrk busybox_metrics "http://127.0.0.1:8081/metrics"
      run_wrk busybox_status "http://127.0.0.1:8081/v1/status"
    else
      failed+=("busybox httpd did not answer")
    fi
    kill -TERM "$busybox_pid" 2>/dev/null || true
  fi
else
  log "wrk is not installed: HTTP load skipped"
fi
kill -0 "$daemon" 2>/dev/null || failed+=("the daemon exited during the run")
R[daemon.threads]=$(vm "$daemon" Threads || echo 0)

# ---------------------------------------------------------------------------------------------
# 5. Report.
R[machine.kernel]="$(uname -sr) $(uname -m)"
R[machine.cpus]=$(nproc)
R[machine.cpu_model]=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
R[machine.debian]=$(cat /etc/debian_version 2>/dev/null || echo "?")
R[machine.load_end]=$(cut -d' ' -f1-3 /proc/loadavg)
R[run.date]=$(date -u '+%Y-%m-%d %H:%M UTC')
R[run.clients]=$clients
R[run.changes]=$changes
R[run.wrk]="wrk ${wrk_args[*]}"

g() { local v=${R[$1]:-}; [[ -n $v ]] && echo "$v" || echo "n/a"; }
# Arithmetic on figures that may be missing: prints n/a when an operand is not a number.
calc() {  # FORMAT EXPR KEY...   (the keys' values are v0, v1, ... in EXPR)
  local format=$1 expr=$2; shift 2
  local args=() i=0 key v
  for key in "$@"; do
    v=${R[$key]:-}
    [[ $v =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || { echo "n/a"; return; }
    args+=(-v "v$i=$v"); i=$((i + 1))
  done
  awk "${args[@]}" "BEGIN { printf \"$format\", $expr }" 2>/dev/null || echo "n/a"
}
ratio() {  # KEY_A KEY_B: A/B as "1.23x", or n/a
  local a=${R[$1]:-} b=${R[$2]:-}
  if [[ $a =~ ^[0-9]+(\.[0-9]+)?$ && $b =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    awk -v a="$a" -v b="$b" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2fx\n", a / b }'
  else
    echo "n/a"
  fi
}
ms() { calc "%.2f" "v0 / 1000" "$1"; }
mib() { calc "%.1f" "v0 / 1024" "$1"; }

if [[ $json -eq 1 ]]; then
  {
    printf '{"benchmark": "serve_bench", "exit_status": %d, "failures": [' "$(( ${#failed[@]} > 0 ? 1 : 0 ))"
    sep=""
    for f in "${failed[@]}"; do printf '%s"%s"' "$sep" "${f//\"/\'}"; sep=", "; done
    printf '], "figures": {'
    sep=""
    for key in $(printf '%s\n' "${!R[@]}" | sort); do
      value=${R[$key]}
      if [[ $value =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then printf '%s"%s": %s' "$sep" "$key" "$value"
      else printf '%s"%s": "%s"' "$sep" "$key" "${value//\"/\'}"; fi
      sep=", "
    done
    printf '}}\n'
  }
else
  us() { calc "%.0f" "v0" "$1"; }  # a figure in us, rounded
  per_change() { calc "%.1f us" "v0 * 1000 / v1" "$1.server_cpu_ms" "$1.changes"; }
  echo "netmon serve benchmark ($(g run.date))"
  echo "machine: $(g machine.kernel), $(g machine.cpus) CPUs ($(g machine.cpu_model)), Debian $(g machine.debian);" \
    "load average (1/5/15 min) $(g machine.load_start) at the start, $(g machine.load_end) at the end"
  echo "namespace: $(g setup.links) veth links (10 pairs, up, addressed), $(g setup.ipv4_routes) IPv4 routes in main" \
    "(10,000 /24 + default + connected; ip -batch took $(g setup.routes_ms) ms)"
  echo "daemon: netmon serve --max-stream-clients $clients --max-connections $max_connections" \
    "($(g daemon.threads) thread)"
  echo "bodies: /metrics $(g body.metrics.bytes) B, /v1/status $(g body.v1_status.bytes) B," \
    "/-/healthy $(g body.healthy.bytes) B; SSE frame of one route change $(g fanout.frame_bytes) B"
  echo
  if [[ $have_wrk -eq 1 ]]; then
    echo "HTTP load: $(g run.wrk), in the namespace (wrk and the server share the $(g machine.cpus) CPUs)"
    printf '%-40s %-11s %8s %8s %8s %7s %11s\n' "server" "path" "req/s" "p50 ms" "p99 ms" "errors" "CPU/req us"
    for row in "netmon_metrics|netmon (renders every request)|/metrics" \
               "netmon_status|netmon|/v1/status" \
               "netmon_healthy|netmon (its HTTP floor)|/-/healthy" \
               "nginx_metrics|nginx (1 process, keep-alive, static)|/metrics" \
               "nginx_status|nginx|/v1/status" \
               "busybox_metrics|busybox httpd (fork per request)|/metrics" \
               "busybox_status|busybox httpd|/v1/status"; do
      IFS='|' read -r name label path <<<"$row"
      [[ -n ${R[wrk.$name.rps]:-} ]] || continue
      errors=$(( ${R[wrk.$name.non2xx]:-0} + ${R[wrk.$name.socket_errors]:-0} ))
      printf '%-40s %-11s %8s %8s %8s %7s %11s\n' "$label" "$path" "$(g "wrk.$name.rps")" "$(g "wrk.$name.p50_ms")" \
        "$(g "wrk.$name.p99_ms")" "$errors" "${R[wrk.$name.server_cpu_us_per_req]:--}"
    done
    echo "  static copies are byte-identical to the daemon's bodies; busybox httpd closes every connection, so wrk"
    echo "  reconnects for each request. CPU/req: the server process's run time (schedstat) / requests."
    echo
  fi
  echo "Event stream: one route change (a /32 added or deleted) -> SSE clients; $changes changes per row, 20 ms apart;"
  echo "microseconds from just before the send() of the change"
  printf '%-38s %8s %8s   %8s %8s %8s   %12s\n' "" "first" "client" "last" "client" "" "server CPU"
  printf '%-38s %8s %8s   %8s %8s %8s   %12s\n' "" "p50" "p99" "p50" "p99" "max" "per change"
  printf '%-38s %8s %8s   %8s %8s %8s   %12s\n' "kernel floor: bare rtnetlink listener" \
    "$(us single.floor.p50_us)" "$(us single.floor.p99_us)" "-" "-" "-" "-"
  for row in "single|netmon, 1 client" "bare|bare fan-out floor, $clients clients" "fanout|netmon, $clients clients"; do
    IFS='|' read -r phase label <<<"$row"
    printf '%-38s %8s %8s   %8s %8s %8s   %12s\n' "$label" "$(us "$phase.first.p50_us")" "$(us "$phase.first.p99_us")" \
      "$(us "$phase.last.p50_us")" "$(us "$phase.last.p99_us")" "$(us "$phase.last.max_us")" "$(per_change "$phase")"
  done
  echo "  netmon applied the change (the event's \"time\"), p50/p99:" \
    "1 client $(us single.applied.p50_us)/$(us single.applied.p99_us) us," \
    "$clients clients $(us fanout.applied.p50_us)/$(us fanout.applied.p99_us) us"
  echo "  median client, p50: netmon $(us fanout.median.p50_us) us, bare floor $(us bare.median.p50_us) us;" \
    "kernel floor p50 in the $clients-client rounds: $(us fanout.floor.p50_us) us"
  echo "  joining: $clients clients connected and got their first frames in $(g fanout.connect_ms) ms" \
    "(bare floor $(g bare.connect_ms) ms)"
  echo "  bare fan-out floor: a thread of the client process with its own rtnetlink socket turns each change into"
  echo "  one frame of the daemon's shape and send()s it to every client (no HTTP, Asio or mirror); same reader."
  echo "  server CPU: netmon's run time, all threads (schedstat; utime+stime over the $clients-client phase:" \
    "$(calc "%.0f" "v0" fanout.cpu_ms) ms);"
  echo "  for the bare floor, its thread's CPU time during its fan-outs."
  echo
  echo "Daemon memory, VmRSS / VmHWM in MiB"
  memrow() { printf '  %-46s %6s / %-6s %s\n' "$1" "$(mib "$2.rss_kb")" "$(mib "$2.hwm_kb")" "${3:-}"; }
  memrow "idle (initial dump done)" idle
  memrow "1 client" single.connected
  memrow "$clients clients connected" fanout.connected \
    "($(calc "%.1f" "(v0 - v1) / v2" fanout.connected.rss_kb single.after_flush.rss_kb run.clients) KiB per client)"
  memrow "after $changes changes sent to $clients clients" fanout.after_changes
  memrow "1 s after the $clients clients closed" fanout.after_close_1s \
    "(the daemon still counts $(g fanout.after_close_1s.sse_clients) stream clients)"
  memrow "after 2 more changes" fanout.after_flush "(stream clients: $(g fanout.after_flush.sse_clients))"
  memrow "after the wrk runs" memory.after_wrk
  echo
  echo "Summary: netmon against the baseline measured in this run"
  srow() { printf '%-34s %10s %10s %8s   %s\n' "$@"; }
  srow "" "netmon" "baseline" "ratio" "baseline"
  srow "GET /metrics, req/s" "$(g wrk.netmon_metrics.rps)" "$(g wrk.nginx_metrics.rps)" \
    "$(ratio wrk.netmon_metrics.rps wrk.nginx_metrics.rps)" "nginx, same bytes, static"
  srow "GET /metrics, p99 ms" "$(g wrk.netmon_metrics.p99_ms)" "$(g wrk.nginx_metrics.p99_ms)" \
    "$(ratio wrk.netmon_metrics.p99_ms wrk.nginx_metrics.p99_ms)" "nginx, same bytes, static"
  srow "GET /v1/status, req/s" "$(g wrk.netmon_status.rps)" "$(g wrk.nginx_status.rps)" \
    "$(ratio wrk.netmon_status.rps wrk.nginx_status.rps)" "nginx, same bytes, static"
  srow "GET /v1/status, p99 ms" "$(g wrk.netmon_status.p99_ms)" "$(g wrk.nginx_status.p99_ms)" \
    "$(ratio wrk.netmon_status.p99_ms wrk.nginx_status.p99_ms)" "nginx, same bytes, static"
  srow "GET /metrics, req/s" "$(g wrk.netmon_metrics.rps)" "$(g wrk.busybox_metrics.rps)" \
    "$(ratio wrk.netmon_metrics.rps wrk.busybox_metrics.rps)" "busybox httpd, same bytes"
  srow "change -> 1 client, p50 ms" "$(ms single.last.p50_us)" "$(ms single.floor.p50_us)" \
    "$(ratio single.last.p50_us single.floor.p50_us)" "kernel notification floor"
  srow "change -> 1 client, p99 ms" "$(ms single.last.p99_us)" "$(ms single.floor.p99_us)" \
    "$(ratio single.last.p99_us single.floor.p99_us)" "kernel notification floor"
  srow "change -> first of $clients, p50 ms" "$(ms fanout.first.p50_us)" "$(ms single.last.p50_us)" \
    "$(ratio fanout.first.p50_us single.last.p50_us)" "netmon with 1 client"
  srow "change -> last of $clients, p50 ms" "$(ms fanout.last.p50_us)" "$(ms bare.last.p50_us)" \
    "$(ratio fanout.last.p50_us bare.last.p50_us)" "bare fan-out floor"
  srow "change -> last of $clients, p99 ms" "$(ms fanout.last.p99_us)" "$(ms bare.last.p99_us)" \
    "$(ratio fanout.last.p99_us bare.last.p99_us)" "bare fan-out floor"
  srow "CPU per change, $clients clients, ms" "$(calc "%.2f" "v0 / v1" fanout.server_cpu_ms fanout.changes)" \
    "$(calc "%.2f" "v0 / v1" bare.server_cpu_ms bare.changes)" \
    "$(calc "%.2fx" "(v0 / v1) / (v2 / v3)" fanout.server_cpu_ms fanout.changes bare.server_cpu_ms bare.changes)" \
    "bare fan-out floor"
  srow "VmRSS, $clients clients, MiB" "$(mib fanout.connected.rss_kb)" "$(mib idle.rss_kb)" \
    "$(ratio fanout.connected.rss_kb idle.rss_kb)" "netmon idle"
  echo
  echo "Checks (1 client / bare / $clients clients):" \
    "deliveries missing $(g single.missing)/$(g bare.missing)/$(g fanout.missing)," \
    "duplicated $(g single.duplicates)/$(g bare.duplicates)/$(g fanout.duplicates)," \
    "ids not matching the sequence $(g single.id_mismatches)/$(g bare.id_mismatches)/$(g fanout.id_mismatches)," \
    "clients closed by the server $(g single.closed_by_server)/$(g bare.closed_by_server)/$(g fanout.closed_by_server)"
  if [[ $samples -eq 1 ]]; then
    echo
    grep '^sample\.' "$work/client.out" || true
  fi
fi

if [[ ${#failed[@]} -gt 0 ]]; then
  log "failed: ${failed[*]}"
  exit 1
fi
exit 0
