#!/usr/bin/env bash
# bench/compile: compile one realistic CO-RE probe (tests/data/coreprog/procwatch.bpf.c,
# a libbpf-bootstrap style program) four ways and print wall time and peak RSS of
# the whole process, side by side with the clang-16 driver on the same file:
#   first compile   empty cache: vmlinux.h generated, PCH built, object compiled
#   PCH compile     object-cache miss with vmlinux.h and the PCH already cached
#   --no-cache      nothing cached is used: vmlinux.h generated in memory, no PCH
#   cache hit       object served from the cache (LLVM is never loaded)
#   clang-16        clang-16 -O2 -g -target bpf -c, same source, same vmlinux.h
# Medians of RUNS runs (default 7); the first-compile row is one run per fresh cache.
# Usage: bench/compile.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
RUNS=${RUNS:-7}
EBPFRUN=$BUILD/ebpfrun
PROBE=$ROOT/tests/data/coreprog/procwatch.bpf.c
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# measure CMD...: prints "<wall ms> <peak RSS KiB>" for one run.
measure() {
  local start end
  start=$(date +%s%N)
  /usr/bin/time -f "%M" -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
  end=$(date +%s%N)
  echo "$(( (end - start) / 1000 )) $(tail -n1 "$WORK/rss")"
}

# median_of CMD...: runs RUNS times, prints "median_ms max_rss_mib".
median_of() {
  local i samples=() rss_max=0 line us rss
  for ((i = 0; i < RUNS; i++)); do
    line=$(measure "$@")
    us=${line% *}; rss=${line#* }
    samples+=("$us")
    (( rss > rss_max )) && rss_max=$rss
  done
  local median
  median=$(printf '%s\n' "${samples[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  awk -v us="$median" -v kb="$rss_max" 'BEGIN { printf "%.1f %.1f\n", us / 1000, kb / 1024 }'
}

first_compile() {
  local i samples=() rss_max=0 line us rss
  for ((i = 0; i < 3; i++)); do
    rm -rf "$WORK/cold"
    line=$(XDG_CACHE_HOME=$WORK/cold measure "$EBPFRUN" compile "$PROBE" -o "$WORK/cold.o")
    us=${line% *}; rss=${line#* }
    samples+=("$us")
    (( rss > rss_max )) && rss_max=$rss
  done
  local median
  median=$(printf '%s\n' "${samples[@]}" | sort -n | sed -n 2p)
  awk -v us="$median" -v kb="$rss_max" 'BEGIN { printf "%.1f %.1f\n", us / 1000, kb / 1024 }'
}

export XDG_CACHE_HOME=$WORK/cache
"$EBPFRUN" compile "$PROBE" -o "$WORK/warm.o"   # builds vmlinux.h + PCH + one cache entry
VMLINUX_DIR=$(dirname "$(find "$WORK/cache" -name vmlinux.h | head -n1)")

read -r cold_ms cold_mib < <(first_compile)
# The object entries are removed before each run (inside the measured command,
# a few microseconds) so that the object cache misses and the PCH is used.
read -r pch_ms pch_mib < <(median_of bash -c 'rm -rf "$XDG_CACHE_HOME/ebpfrun/objects"; exec "$@"' _ \
  "$EBPFRUN" compile "$PROBE" -o "$WORK/pch.o")
read -r nocache_ms nocache_mib < <(median_of "$EBPFRUN" --no-cache compile "$PROBE" -o "$WORK/nocache.o")
read -r hit_ms hit_mib < <(median_of "$EBPFRUN" compile "$PROBE" -o "$WORK/hit.o")
read -r clang_ms clang_mib < <(median_of clang-16 -O2 -g -target bpf -D__TARGET_ARCH_x86 \
  -I"$VMLINUX_DIR" -I"$(dirname "$PROBE")" -c "$PROBE" -o "$WORK/clang.o")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "bench/compile — $(basename "$PROBE"), $RUNS runs (median wall, max peak RSS), $(uname -r), $(nproc) CPUs"
echo
echo "| case | wall ms | peak RSS MiB | wall vs clang-16 |"
echo "|---|---:|---:|---:|"
echo "| ebpfrun first compile (vmlinux.h + PCH + object) | $cold_ms | $cold_mib | $(ratio "$cold_ms" "$clang_ms")× |"
echo "| ebpfrun compile with PCH (object cache miss) | $pch_ms | $pch_mib | $(ratio "$pch_ms" "$clang_ms")× |"
echo "| ebpfrun --no-cache (vmlinux.h in memory, no PCH) | $nocache_ms | $nocache_mib | $(ratio "$nocache_ms" "$clang_ms")× |"
echo "| ebpfrun cache hit | $hit_ms | $hit_mib | $(ratio "$hit_ms" "$clang_ms")× |"
echo "| clang-16 -O2 -g -target bpf | $clang_ms | $clang_mib | 1.00× |"
echo
awk -v pch="$pch_ms" -v clang="$clang_ms" -v hit="$hit_ms" -v rss="$hit_mib" 'BEGIN {
  printf "targets: PCH compile <= clang driver: %s; cache hit <= 30 ms: %s; cache hit <= 27 MiB: %s\n",
    (pch <= clang ? "met" : "MISSED"), (hit <= 30 ? "met" : "MISSED"), (rss <= 27 ? "met" : "MISSED") }'
