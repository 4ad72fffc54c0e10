#!/usr/bin/env bash
# Consumers as tests: check.sh <find_package|subdirectory|pkg-config> <fp8kit source> <work dir> <c++>
set -euo pipefail
kind=$1 src=$2 work=$3 cxx=$4
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
case "$kind" in
  find_package)
    cmake -S "$src" -B "$work/fp8kit" -DCMAKE_CXX_COMPILER="$cxx" -DFP8KIT_BUILD_TESTS=OFF \
      -DFP8KIT_BUILD_BENCHMARKS=OFF -DFP8KIT_BUILD_EXAMPLES=OFF -DFP8KIT_INSTALL=ON >/dev/null
    cmake --install "$work/fp8kit" --prefix "$work/prefix" >/dev/null
    cmake -S "$here/find_package" -B "$work/consumer" -DCMAKE_CXX_COMPILER="$cxx" \
      -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
    cmake --build "$work/consumer" >/dev/null
    "$work/consumer/consumer" ;;
  subdirectory)
    cmake -S "$here/subdirectory" -B "$work/consumer" -DCMAKE_CXX_COMPILER="$cxx" \
      -DFP8KIT_SOURCE_DIR="$src" >/dev/null
    cmake --build "$work/consumer" >/dev/null
    "$work/consumer/consumer" ;;
  pkg-config)
    cmake -S "$src" -B "$work/fp8kit" -DCMAKE_CXX_COMPILER="$cxx" -DFP8KIT_BUILD_TESTS=OFF \
      -DFP8KIT_BUILD_BENCHMARKS=OFF -DFP8KIT_BUILD_EXAMPLES=OFF -DFP8KIT_INSTALL=ON \
      -DCMAKE_INSTALL_PREFIX="$work/prefix" >/dev/null
    cmake --install "$work/fp8kit" >/dev/null
    export PKG_CONFIG_PATH="$work/prefix/share/pkgconfig"
    # shellcheck disable=SC2046
    "$cxx" $(pkg-config --cflags fp8kit) "$here/consumer.cpp" -o "$work/consumer"
    "$work/consumer" ;;
  *) echo "unknown consumer kind $kind" >&2; exit 2 ;;
esac
