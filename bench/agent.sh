#!/usr/bin/env bash
# bench/agent: the agent (`ebpfrun agent`, six collectors, 5 s interval, filtered
# to the workload's processes with --comm workload) in two phases, side by side
# with Debian's prometheus-node-exporter scraped the same way.
#  1. The default configuration (series aggregated by comm) under a standard
#     workload: CPU % of one core and peak RSS over DURATION seconds (default
#     60) while both are scraped every 5 s, then /metrics latency p50/p99 over
#     SCRAPES keep-alive scrapes (default 300).
#  2. A series per process (--drop-labels ''), raised by short-lived processes
#     (each a new pid) to about 1k and then 10k series: latency and RSS at each.
# Not a test: it prints a table.
# Needs root, prometheus-node-exporter (./setup.sh deps) and a built tree.
# Usage: bench/agent.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
[[ $EUID -eq 0 ]] || { echo "bench/agent.sh loads BPF programs: run it as root" >&2; exit 1; }
command -v prometheus-node-exporter >/dev/null || { echo "bench/agent.sh needs prometheus-node-exporter (./setup.sh deps)" >&2; exit 1; }
[[ -x $BUILD/ebpfrun ]] || { echo "no $BUILD/ebpfrun: build it first" >&2; exit 1; }
WORKLOAD=$BUILD/tests/workload
if [[ ! -x $WORKLOAD ]]; then
  WORKLOAD=$(mktemp)
  gcc -O2 -static -o "$WORKLOAD" "$ROOT/tests/data/workload/workload.c"
fi
exec python3 "$ROOT/bench/agent/measure.py" "$BUILD/ebpfrun" "$WORKLOAD" "$ROOT/scripts"
