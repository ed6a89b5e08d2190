#!/usr/bin/env bash
# Runs every fuzzer (libFuzzer, ASan+UBSan) for FUZZ_SECONDS each, starting from its seeds in tests/fuzz. CI runs it
# for a minute per fuzzer; a campaign runs it longer with FUZZ_MERGE=1, which then adds to the seeds the inputs of the
# campaign's corpus that reach code the seeds did not (libFuzzer's -merge keeps the smallest such inputs), so the
# next run starts where this one ended. Findings (crash-, leak-, timeout-, oom- files) land in build/fuzz/findings.
# Usage: FUZZ_SECONDS=900 FUZZ_MERGE=1 bash scripts/fuzz.sh [fuzzer ...]   (default: all five)
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_MERGE=${FUZZ_MERGE:-0}
CC=clang-14 CXX=clang++-14 cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_MAKE_PROGRAM="$PWD/.venv/bin/ninja" -DTIERCEL_BUILD_MODULE=OFF -DTIERCEL_BUILD_FUZZ=ON >/dev/null
cmake --build build/fuzz -j "$(nproc)"
mkdir -p build/fuzz/findings

declare -A SEEDS=([fuzz_http1_parser]=seeds [fuzz_http1_connection]=connection_seeds [fuzz_http2]=http2_seeds
  [fuzz_multipart]=multipart_seeds [fuzz_websocket]=websocket_seeds)
declare -A FLAGS=([fuzz_http1_parser]=-dict=tests/fuzz/http1.dict)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(fuzz_http1_parser fuzz_http1_connection fuzz_http2 fuzz_multipart fuzz_websocket)
total=0
for name in "${names[@]}"; do
  seeds=tests/fuzz/${SEEDS[$name]:?unknown fuzzer $name}
  corpus=build/fuzz/corpus-$name
  rm -rf "$corpus" && mkdir -p "$corpus"
  echo "-- $name"
  # shellcheck disable=SC2086
  "build/fuzz/$name" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -artifact_prefix=build/fuzz/findings/ \
    ${FLAGS[$name]:-} "$corpus" "$seeds" >"build/fuzz/$name.log" 2>&1 || { tail -n 60 "build/fuzz/$name.log"; exit 1; }
  grep -E "^Done" "build/fuzz/$name.log"
  runs=$(sed -n 's/^stat::number_of_executed_units: //p' "build/fuzz/$name.log")
  total=$((total + runs))
  if [ "$FUZZ_MERGE" = 1 ]; then
    before=$(ls "$seeds" | wc -l)
    "build/fuzz/$name" -merge=1 ${FLAGS[$name]:-} "$seeds" "$corpus" >"build/fuzz/$name.merge.log" 2>&1 \
      || { tail -n 30 "build/fuzz/$name.merge.log"; exit 1; }
    echo "   seeds: $before -> $(ls "$seeds" | wc -l)"
  fi
done
echo "executions in total: $total"
