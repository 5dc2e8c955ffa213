#!/bin/bash
# The whole test suite, three times: a -Werror gcc build, ASan+UBSan, and TSan built with clang
# (whose -Wthread-safety analysis then checks the NETMON_GUARDED_BY annotations too).
# Then a short libFuzzer run of every fuzz target with its seeds and kept crashers
# (tests/fuzz/run-short). clang-tidy is tests/clang-tidy.sh, run on its own: see its header.
# Tests that need CAP_NET_ADMIN skip (CTest reports them as skipped) when run without it.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
failed=()

run_suite() {  # NAME CMAKE-ARGS...
  local name=$1; shift
  echo "=== $name: configure and build"
  cmake -S . -B "build-test/$name" -G Ninja -DNETMON_WERROR=ON -DNETMON_BUILD_BENCH=OFF "$@" >/dev/null
  cmake --build "build-test/$name" -j "$jobs"
  echo "=== $name: ctest"
  if ! ctest --test-dir "build-test/$name" --output-on-failure -j 1 --timeout 600; then
    failed+=("$name")
  fi
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

run_suite gcc -DCMAKE_BUILD_TYPE=Debug
run_suite asan-ubsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNETMON_SANITIZE=address,undefined
# TSan of this clang maps memory at fixed places that a 32-bit mmap randomisation can collide
# with; when the kernel randomises that much, run the TSan suite without address randomisation.
if [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)" -gt 28 ] && command -v setarch >/dev/null; then
  tsan_wrapper="setarch $(uname -m) -R"
else
  tsan_wrapper=""
fi
CC=clang-14 CXX=clang++-14 cmake -S . -B build-test/tsan -G Ninja -DNETMON_WERROR=ON -DNETMON_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNETMON_SANITIZE=thread >/dev/null
echo "=== tsan: build"
cmake --build build-test/tsan -j "$jobs"
echo "=== tsan: ctest"
if ! $tsan_wrapper ctest --test-dir build-test/tsan --output-on-failure -j 1 --timeout 600; then failed+=(tsan); fi

if ! tests/fuzz/run-short build-test/fuzz; then failed+=(fuzz); fi

if [ ${#failed[@]} -ne 0 ]; then
  echo "FAILED suites: ${failed[*]}"
  exit 1
fi
echo "all suites passed (gcc, asan-ubsan, tsan, fuzz)"
