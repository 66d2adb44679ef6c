#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time (a ctest test).
#   run_fuzzer.sh FUZZER SEED_CORPUS WORK_DIR SECONDS [DICT]
# The committed seed corpus is read, never written: new inputs go to
# WORK_DIR/corpus and a crashing input to WORK_DIR/crash-*, which the failure
# message names so it can be added to the seed corpus once fixed.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4 dict=${5:-}
mkdir -p "$work/corpus"
args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
      -artifact_prefix="$work/")
[ -n "$dict" ] && args+=(-dict="$dict")
if ! "$fuzzer" "${args[@]}" "$work/corpus" "$seeds" 2>"$work/log"; then
  tail -n 60 "$work/log"
  echo "fuzz: $(basename "$fuzzer") failed; reproduce with: $fuzzer $(ls -t "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | head -1)" >&2
  exit 1
fi
grep -E '^stat::(number_of_executed_units|new_units_added)|^Done' "$work/log" || true
