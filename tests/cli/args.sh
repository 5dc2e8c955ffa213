#!/usr/bin/env bash
# The command line itself: help, version, and the exit-code contract for bad arguments (2, one line
# "netmon: <reason>" on stderr) and runtime failures (1). Needs no privileges and no network.
set -u
netmon=${1:?usage: args.sh PATH-TO-NETMON}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# run ARGS...: runs netmon, leaving the exit code in $rc and the output in $tmp/out, $tmp/err.
run() {
  "$netmon" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
}

stderr_lines() { wc -l <"$tmp/err" | tr -d ' '; }

# expect_usage_error ARGS...: exit 2, exactly one stderr line starting "netmon: ", nothing on stdout.
expect_usage_error() {
  run "$@"
  [[ $rc -eq 2 ]] || fail "netmon $*: exit $rc, expected 2"
  [[ $(stderr_lines) -eq 1 ]] || fail "netmon $*: $(stderr_lines) stderr lines, expected 1: $(cat "$tmp/err")"
  grep -q '^netmon: .' "$tmp/err" || fail "netmon $*: stderr does not start with 'netmon: ': $(cat "$tmp/err")"
  [[ ! -s $tmp/out ]] || fail "netmon $*: unexpected stdout: $(cat "$tmp/out")"
}

run --help
[[ $rc -eq 0 ]] || fail "--help: exit $rc"
grep -q 'status' "$tmp/out" && grep -q 'watch' "$tmp/out" || fail "--help does not list status and watch"
grep -q -- '--netns' "$tmp/out" || fail "--help does not list --netns"

run watch --help
[[ $rc -eq 0 ]] || fail "watch --help: exit $rc"
grep -q 'unknown' "$tmp/out" || fail "watch --help does not document the initial state lines"

run status --help
[[ $rc -eq 0 ]] || fail "status --help: exit $rc"
grep -q -- '--json' "$tmp/out" || fail "status --help does not list --json"

run --version
[[ $rc -eq 0 ]] || fail "--version: exit $rc"
grep -Eq '^netmon [0-9]+\.[0-9]+\.[0-9]+' "$tmp/out" || fail "--version printed: $(cat "$tmp/out")"

expect_usage_error
expect_usage_error bogus
expect_usage_error --bogus status
expect_usage_error status --bogus
expect_usage_error status extra-argument
expect_usage_error watch --events bogus
expect_usage_error watch --events link,bogus
expect_usage_error watch --events
expect_usage_error --netns
expect_usage_error watch --record "$tmp/a" --replay "$tmp/b"

# A runtime failure: the namespace does not exist (or, unprivileged, cannot be entered).
run status --netns "does-not-exist-$$"
[[ $rc -eq 1 ]] || fail "status --netns does-not-exist: exit $rc, expected 1"
[[ $(stderr_lines) -eq 1 ]] && grep -q '^netmon: .' "$tmp/err" ||
  fail "status --netns does-not-exist: stderr: $(cat "$tmp/err")"
run watch --replay "$tmp/no-such-recording"
[[ $rc -eq 1 ]] || fail "watch --replay missing-file: exit $rc, expected 1"
grep -q '^netmon: .' "$tmp/err" || fail "watch --replay missing-file: stderr: $(cat "$tmp/err")"

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "PASS"
