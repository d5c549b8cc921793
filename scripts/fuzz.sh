#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for N seconds
# (default 60) from its seed corpus. New inputs go to a temporary directory;
# a crash leaves its reproducer in build-fuzz/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
cmake --preset fuzz >/dev/null
cmake --build build-fuzz -j2 --target plan_fuzz job_fuzz agent_sync_fuzz oip_fuzz
for f in plan job agent_sync oip; do
  work=$(mktemp -d)
  echo "fuzz: ${f}_fuzz for ${seconds}s"
  corpus=../fuzz/corpus/${f%_sync}
  case $f in
    agent_sync) dict=() ;;
    oip) dict=(-dict=../fuzz/corpus/oip.dict) ;;
    *) dict=(-dict=../fuzz/corpus/spec.dict) ;;
  esac
  (cd build-fuzz && ./fuzz/${f}_fuzz -max_total_time="$seconds" -print_final_stats=1 "${dict[@]}" \
      "$work" "$corpus" 2>&1 | grep -E "stat::number_of_executed_units|ERROR|SUMMARY" || true)
  rm -rf "$work"
done
ls build-fuzz/crash-* build-fuzz/leak-* build-fuzz/timeout-* 2>/dev/null && { echo "fuzz: found a failing input"; exit 1; }
echo "fuzz: no failures"
