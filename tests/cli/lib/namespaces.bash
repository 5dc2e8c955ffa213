# Shared by the CLI tests (sourced, not run; CTest runs only tests/cli/*.sh):
#   source "$(dirname "$0")/lib/namespaces.bash" PREFIX
# sets ns=PREFIX-PID and peer=PREFIX-PID-peer (created by create_namespaces), tmp (a temporary
# directory) and failures (counted by fail); `background` may hold the pid of a background netmon,
# which is killed on exit. Everything is removed on exit; nothing outside the two namespaces is
# touched.
ns=$1-$$
peer=$1-$$-peer
tmp=$(mktemp -d)
background=
failures=0

cleanup() {
  if [[ -n $background ]]; then
    # timeout(1) puts itself and its child in a process group of its own: end both.
    kill -KILL -- "-$background" 2>/dev/null
    kill -KILL "$background" 2>/dev/null
    wait "$background" 2>/dev/null
  fi
  ip netns del "$ns" 2>/dev/null
  ip netns del "$peer" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

skip() {
  echo "SKIP: $*"
  exit 77
}
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
die() {
  echo "FAIL: $*"
  exit 1
}

# create_namespaces: both namespaces, without IPv6 DAD (new links would otherwise hold tentative
# addresses for 1-2 s). Skips (77) without root and `ip netns`.
create_namespaces() {
  [[ $(id -u) -eq 0 ]] || skip "needs CAP_NET_ADMIN (run as root)"
  command -v ip >/dev/null || skip "needs CAP_NET_ADMIN and iproute2 (ip netns)"
  ip netns add "$ns" 2>/dev/null || skip "needs CAP_NET_ADMIN: ip netns add failed"
  ip netns add "$peer" || die "ip netns add $peer"
  local n
  for n in "$ns" "$peer"; do
    ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 ||
      die "sysctl accept_dad in $n"
  done
}

# connect_namespaces: veth0 192.0.2.2/24 in $ns to veth1 192.0.2.1/24 in $peer, both up (routes are
# the caller's).
connect_namespaces() {
  ip -n "$ns" link add veth0 type veth peer name veth1 netns "$peer" || die "create veth pair"
  ip -n "$peer" addr add 192.0.2.1/24 dev veth1 || die "address on veth1"
  ip -n "$peer" link set veth1 up || die "veth1 up"
  ip -n "$ns" addr add 192.0.2.2/24 dev veth0 || die "address on veth0"
  ip -n "$ns" link set veth0 up || die "veth0 up"
}

# wait_for_output SECONDS FILE COMMAND...: re-runs COMMAND each time FILE gains a line (tail -f
# wakes on the write; no fixed sleep) until it succeeds; false at the deadline.
wait_for_output() {
  local seconds=$1 file=$2
  shift 2
  "$@" && return 0
  while IFS= read -r _; do "$@" && return 0; done < <(timeout "$seconds" tail -n +1 -f "$file")
  "$@"
}
