#!/bin/bash
# Installs the build tree into a scratch prefix, builds tests/consumer against it with
# find_package(netmon) and with pkg-config, and runs both.
set -euo pipefail
build_dir=$1; source_dir=$2; compiler=${3:-c++}; sanitize=${4:-}
flags=""
[ -n "$sanitize" ] && flags="-fsanitize=$sanitize"
prefix=$(mktemp -d); trap 'rm -rf "$prefix"' EXIT
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
cmake -S "$source_dir/tests/consumer" -B "$prefix/consumer-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER="$compiler" -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$prefix/consumer-build" >/dev/null
out=$("$prefix/consumer-build/consumer")
echo "find_package consumer: $out"
expected='^(disconnected|local|site|online) [0-9]+\.[0-9]+\.[0-9]+$'
[[ "$out" =~ $expected ]] || { echo "unexpected output: $out"; exit 1; }
# pkg-config: the same program, compiled by hand (--define-prefix: the scratch prefix is not the
# configured one).
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
"$compiler" $flags -o "$prefix/consumer-pc" "$source_dir/tests/consumer/main.cc" $(pkg-config --define-prefix --cflags --libs netmon)
out=$("$prefix/consumer-pc")
echo "pkg-config consumer: $out"
[[ "$out" =~ $expected ]] || { echo "unexpected output: $out"; exit 1; }
