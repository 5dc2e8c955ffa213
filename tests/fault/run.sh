#!/bin/bash
# Runs the fault tests matching FILTER (netmon_fault_tests --gtest_filter=*FILTER*) and exits 77
# when GoogleTest skipped them (no privileges, no shim), so CTest reports Skipped, not Passed.
set -uo pipefail
binary=$1 filter=$2
output=$("$binary" --gtest_filter="*${filter}*" 2>&1)
status=$?
printf '%s\n' "$output"
if [ $status -eq 0 ] && grep -q '\[  SKIPPED \]' <<<"$output" && ! grep -q '\[       OK \]' <<<"$output"; then
  exit 77
fi
exit $status
