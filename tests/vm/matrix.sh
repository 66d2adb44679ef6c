#!/usr/bin/env bash
# The kernel matrix: boots each kernel under qemu (tests/vm/run-kernel.sh) and
# runs tests/vm/guest-suite.sh in it against BUILD_DIR. Prints one line per
# kernel and exits non-zero if any guest failed, after showing its output.
#
#   tests/vm/matrix.sh BUILD_DIR [KERNEL...]      (default: 6.1 6.12)
#
# The last line is "kernel matrix: N passed, N failed, N unavailable"
# (./setup.sh test reads it). A kernel that cannot be downloaded (no
# network, no Debian 12 apt sources) is unavailable: a failure under
# CI=true, so that CI never passes without having run the matrix; elsewhere
# a loud skip.
#
# Budget: ./setup.sh test gives the matrix 20 minutes for both kernels on a
# 2-core machine (TCG emulation); see README.md, "The kernel matrix", for
# measured times. EBPFRUN_VM_TIMEOUT (seconds, default 1200) bounds each
# guest; EBPFRUN_VM_TESTS (a ctest regex) replaces the guests' test set.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: matrix.sh BUILD_DIR [KERNEL...]}" && pwd)
shift
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)
# The host kernel's BTF, so that guests find the host's compiled objects.
cp /sys/kernel/btf/vmlinux "$build/host-vmlinux.btf"
# Every shipped BPF source compiled here, against that BTF, to files that each
# guest loads without recompiling (CO-RE: tests/vm/load-objects.lua).
if ! "$here/compile-shipped.sh" "$build/ebpfrun" "$here/../.." "$build/core-objects" "$build/host-vmlinux.btf"; then
  echo "kernel matrix: the shipped BPF sources do not compile on the host"
  echo "kernel matrix: 0 passed, ${#kernels[@]} failed, 0 unavailable"
  exit 1
fi
# The kernels boot side by side: with one TCG thread per guest
# (run-kernel.sh), two guests keep a 2-core machine busy and the matrix takes
# the time of its slowest kernel instead of the sum. EBPFRUN_VM_JOBS=1 runs
# them one after another.
jobs=${EBPFRUN_VM_JOBS:-$(nproc)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
declare -A rcs took
run_one() {
  local rc start=$SECONDS
  "$here/run-kernel.sh" --timeout "${EBPFRUN_VM_TIMEOUT:-1200}" "$1" -- bash "$here/guest-suite.sh" "$build" "${EBPFRUN_VM_TESTS:-}" >"$build/kernel-$1.log" 2>&1
  rc=$?
  # Status and time go through files: with EBPFRUN_VM_JOBS below the number
  # of kernels, `wait -n` may already have reaped a guest's job.
  echo "$rc $((SECONDS - start))" >"$build/kernel-$1.status"
}
for k in "${kernels[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  echo "kernel $k: started"
  rm -f "$build/kernel-$k.status"
  run_one "$k" &
done
wait
for k in "${kernels[@]}"; do
  read -r rcs[$k] took[$k] <"$build/kernel-$k.status" 2>/dev/null || { rcs[$k]=125 took[$k]="?"; }
done
passed=0 failed=0 unavailable=0
summary=()
for k in "${kernels[@]}"; do
  log=$build/kernel-$k.log
  rc=${rcs[$k]}
  # The guest's own count, e.g. "100% tests passed, 0 tests failed out of 41".
  tests=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$log" | tail -n 1)
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    summary+=("kernel $k: passed (${took[$k]}s): ${tests:-no ctest summary}")
  elif [ "$rc" -eq 3 ]; then
    unavailable=$((unavailable + 1))
    summary+=("kernel $k: UNAVAILABLE, not run: $(tail -n 1 "$log")")
  else
    failed=$((failed + 1))
    summary+=("kernel $k: FAILED with status $rc (${took[$k]}s): ${tests:-no ctest summary}; output below")
    echo "----- kernel $k (status $rc) -----"
    cat "$log"
  fi
done
printf '%s\n' "${summary[@]}"
if [ $unavailable -gt 0 ]; then
  if [ "${CI:-}" = true ]; then
    echo "kernel matrix: $unavailable kernel(s) could not be downloaded; under CI=true that is a failure"
  else
    echo "kernel matrix: WARNING: $unavailable kernel(s) could not be downloaded and were NOT tested"
  fi
fi
echo "kernel matrix: $passed passed, $failed failed, $unavailable unavailable"
[ $failed -eq 0 ] && { [ $unavailable -eq 0 ] || [ "${CI:-}" != true ]; }
