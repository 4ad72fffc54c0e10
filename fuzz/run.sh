#!/usr/bin/env bash
# Builds each libFuzzer target with clang (ASan + UBSan) and runs it for a bounded time. The
# targets build, then run, side by side (one core each).
# Usage: fuzz/run.sh [seconds per target] [build dir]
set -euo pipefail
seconds=${1:-60}
out=${2:-build-fuzz}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
names=()
for src in "$here"/*_fuzz.cpp; do names+=("$(basename "$src" .cpp)"); done

# Waits for every background job; fails if any failed.
wait_all() {
  local status=0
  for pid in "$@"; do wait "$pid" || status=1; done
  return "$status"
}

pids=()
for name in "${names[@]}"; do
  clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$here/../include" "$here/$name.cpp" -o "$out/$name" &
  pids+=($!)
done
wait_all "${pids[@]}"

fuzz() {
  local name=$1 corpus="$out/corpus_${1%_fuzz}" seeds="$here/corpus/${1%_fuzz}"
  mkdir -p "$corpus"
  # Non-zero exit on a finding; the input that found it is saved as $out/<name>-crash-*.
  "$out/$name" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="$out/$name-" "$corpus" "$seeds" >"$out/$name.log" 2>&1
}
echo "fuzzing ${names[*]} for ${seconds}s each, side by side"
pids=()
for name in "${names[@]}"; do
  fuzz "$name" &
  pids+=($!)
done
status=0
wait_all "${pids[@]}" || status=1
for name in "${names[@]}"; do
  echo "--- $name"
  grep -E "^(Done|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)" "$out/$name.log" || true
done
exit "$status"
