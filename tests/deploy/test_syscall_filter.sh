#!/usr/bin/env bash
# The unit's SystemCallFilter= lets the collectors run: every system call the
# six collectors make (compile child, load, attach, collection, teardown), as
# traced by deploy/measure-syscalls.sh with the unit's capabilities and an
# empty cache, is either in systemd's @system-service set or named in the
# filter. The filter must not grow silently: only @system-service plus names.
# Usage: test_syscall_filter.sh EBPFRUN SOURCE_DIR
set -uo pipefail
EBPFRUN=$1
SRC=$2
UNIT=$SRC/deploy/systemd/ebpfrun-agent.service.in
if [ "$(id -u)" != 0 ]; then
  if [ "${CI:-}" = true ]; then echo "FAILED: tracing as uid 65534 needs root and CI=true forbids skipping"; exit 1; fi
  echo "skipped: tracing as uid 65534 needs root"
  exit 77
fi
for tool in strace systemd-analyze; do
  command -v "$tool" >/dev/null || { echo "FAILED: $tool is missing (./setup.sh deps installs it)"; exit 1; }
done

filter=$(sed -n 's/^SystemCallFilter=//p' "$UNIT")
read -r -a words <<<"$filter"
[ "${words[0]:-}" = "@system-service" ] || { echo "FAILED: SystemCallFilter= does not start with @system-service: $filter"; exit 1; }
extras=("${words[@]:1}")
echo "filter: @system-service + ${extras[*]}"

needed=$("$SRC/deploy/measure-syscalls.sh" "$UNIT" "$EBPFRUN" "$SRC/scripts/collectors.lua" --duration 2 --interval 1)
rc=$?
[ "$rc" = 0 ] || { echo "FAILED: measure-syscalls.sh exit $rc"; exit 1; }
echo "needed beyond @system-service: $(echo $needed)"
failed=0
for call in $needed; do
  found=0
  for e in "${extras[@]}"; do [ "$e" = "$call" ] && found=1; done
  if [ "$found" = 1 ]; then echo "ok      $call is in the filter"; else echo "FAILED  $call is used but not allowed by the unit"; failed=1; fi
done
for e in "${extras[@]}"; do
  grep -qx "$e" <<<"$needed" || { echo "FAILED  $e is allowed but no collector uses it (measure again)"; failed=1; }
done
exit "$failed"
