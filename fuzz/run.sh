#!/usr/bin/env bash
# Builds each libFuzzer target with clang (ASan + UBSan) and runs it for a bounded time.
# Usage: fuzz/run.sh [seconds per target] [build dir]
set -euo pipefail
seconds=${1:-60}
out=${2:-build-fuzz}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
for src in "$here"/*_fuzz.cpp; do
  name=$(basename "$src" .cpp)
  clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$here/../include" "$src" -o "$out/$name"
  corpus="$out/corpus_${name%_fuzz}"
  mkdir -p "$corpus"
  seeds="$here/corpus/${name%_fuzz}"
  echo "fuzzing $name for ${seconds}s"
  "$out/$name" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 "$corpus" "$seeds" 2>&1 |
    grep -E "^(Done|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)" || true
  # libFuzzer exits non-zero on a finding; `set -o pipefail` would hide it behind grep.
  "$out/$name" -runs=0 "$corpus" "$seeds" >/dev/null 2>&1
done
