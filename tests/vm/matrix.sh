#!/usr/bin/env bash
# The kernel matrix: boots each kernel under qemu (tests/vm/run-kernel.sh) and
# runs tests/vm/guest-suite.sh in it against BUILD_DIR. Prints one line per
# kernel and exits non-zero if any guest failed, after showing its output.
#
#   tests/vm/matrix.sh BUILD_DIR [KERNEL...]      (default: 6.1 6.12)
#
# Budget: about 10 minutes per kernel on a 2-core machine (TCG emulation);
# EBPFRUN_VM_TIMEOUT (seconds, default 1200) bounds each guest.
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
  exit 1
fi
failed=0
summary=()
for k in "${kernels[@]}"; do
  log=$build/kernel-$k.log
  start=$SECONDS
  "$here/run-kernel.sh" --timeout "${EBPFRUN_VM_TIMEOUT:-1200}" "$k" -- bash "$here/guest-suite.sh" "$build" "${EBPFRUN_VM_TESTS:-}" >"$log" 2>&1
  rc=$?
  took=$((SECONDS - start))
  if [ $rc -eq 0 ]; then
    summary+=("kernel $k: passed (${took}s)")
  else
    failed=$((failed + 1))
    summary+=("kernel $k: FAILED with status $rc (${took}s); output below")
    echo "----- kernel $k (status $rc) -----"
    cat "$log"
  fi
done
printf '%s\n' "${summary[@]}"
echo "kernel matrix: $(( ${#kernels[@]} - failed )) passed, $failed failed"
[ $failed -eq 0 ]
