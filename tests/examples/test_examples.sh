#!/usr/bin/env bash
# Runs every example script briefly on the real kernel, with a workload that
# gives it something to see, and checks it exits 0 and prints what it should.
# Usage: test_examples.sh EBPFRUN SOURCE_DIR
set -uo pipefail
EBPFRUN=$1
SRC=$2
if [ "$(id -u)" != 0 ]; then
  if [ "${CI:-}" = true ]; then echo "examples need root and CI=true forbids skipping"; exit 1; fi
  echo "skipped: the examples need root"; echo "0 passed, 0 failed"; exit 0
fi
passed=0 failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"; kill $(jobs -p) 2>/dev/null' EXIT

# workload: a background loop of opens, execs, reads and mallocs.
( while true; do cat /etc/hostname >/dev/null; /bin/true; sleep 0.02; done ) &

check() {  # name, expected regex, command...
  local name=$1 pattern=$2
  shift 2
  if timeout 60 "$@" >"$work/out" 2>"$work/err" && grep -Eq "$pattern" "$work/out"; then
    echo "ok      $name"; passed=$((passed + 1))
  else
    echo "FAILED  $name"; sed 's/^/    /' "$work/err" | tail -20; sed 's/^/    out: /' "$work/out" | head -10
    failed=$((failed + 1))
  fi
}

check syscalls_by_process '^  cat +[0-9]+' "$EBPFRUN" "$SRC/examples/syscalls_by_process.lua" --duration 1.5 --interval 1 --comm cat
check opensnoop '/etc/hostname' "$EBPFRUN" "$SRC/examples/opensnoop.lua" --duration 1.5 --comm cat
check malloc_sizes '^\[[0-9]' "$EBPFRUN" "$SRC/examples/malloc_sizes.lua" --duration 1.5
check exec_json '"filename":"/bin/true"|"filename":"/usr/bin/true"' "$EBPFRUN" "$SRC/examples/exec_json.lua" --duration 1.5
check read_latency '^[0-9]+ +cat ' "$EBPFRUN" "$SRC/examples/read_latency.lua" --duration 2.2 --interval 1 --comm cat
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
