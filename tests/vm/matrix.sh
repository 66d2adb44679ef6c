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
passed=0 failed=0 unavailable=0
summary=()
for k in "${kernels[@]}"; do
  log=$build/kernel-$k.log
  start=$SECONDS
  "$here/run-kernel.sh" --timeout "${EBPFRUN_VM_TIMEOUT:-1200}" "$k" -- bash "$here/guest-suite.sh" "$build" "${EBPFRUN_VM_TESTS:-}" >"$log" 2>&1
  rc=$?
  took=$((SECONDS - start))
  # The guest's own count, e.g. "100% tests passed, 0 tests failed out of 41".
  tests=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$log" | tail -n 1)
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    summary+=("kernel $k: passed (${took}s): ${tests:-no ctest summary}")
  elif [ $rc -eq 3 ]; then
    unavailable=$((unavailable + 1))
    summary+=("kernel $k: UNAVAILABLE, not run: $(tail -n 1 "$log")")
  else
    failed=$((failed + 1))
    summary+=("kernel $k: FAILED with status $rc (${took}s): ${tests:-no ctest summary}; output below")
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
