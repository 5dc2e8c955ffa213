#!/bin/bash
# clang-tidy-14 with the checked-in .clang-tidy over netmon's own sources (src/, tools/; the public
# headers in include/ through them), on a compile database of a plain clang configuration. Exits
# non-zero on any finding (WarningsAsErrors: '*').
#
# Not part of tests/run-all.sh: the 44 sources take 6.5 min of CPU (4 min wall on the 2-core
# machine with a test suite running beside it; 755 s wall with three builds beside it), and the
# test command's fault and fuzz additions already use the ~8 minutes left under the 40-minute CI
# budget (Beast/CLI11 translation units take tens of seconds each). Run it
# before sending a change; a FILE-REGEX narrows it to what you touched.
#
#   tests/clang-tidy.sh [BUILD_DIR] [FILE-REGEX]      (default build-test/tidy, all sources)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-test/tidy}
filter=${2:-"$PWD/(src|tools)/.*\\.cc\$"}
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNETMON_BUILD_TESTS=OFF \
  -DNETMON_BUILD_BENCH=OFF >/dev/null
# version.h is generated at configure time; nothing else needs building for the analysis.
echo "=== clang-tidy: $(grep -oE '"file": "[^"]*"' "$build/compile_commands.json" | cut -d'"' -f4 | grep -cE "$filter" || true) files"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
run-clang-tidy-14 -p "$build" -j "$(nproc)" -quiet "$filter" >"$log" 2>&1 || status=$?
# Its chatter trimmed: the findings, and the summary of any file that failed.
grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated|^Suppressed [0-9]+ warnings|^Use -header-filter|^clang-tidy-14 .*-p=' "$log" || true
if [ "$status" -ne 0 ]; then
  echo "clang-tidy: findings above (exit $status)"
  exit 1
fi
echo "clang-tidy: clean"
