#!/bin/bash
# profile.lua on the real kernel: the stacks target spins in spin_here(),
# called from stacks_outer() and main(), built with frame pointers; sampling
# its pid must fold that user path, and count spin_here as the top function.
# Usage: test_profile.sh EBPFRUN SOURCE_DIR TARGET. Exit 77: skipped (not root).
set -u
ebpfrun=$1 src=$2 target=$3
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: profile needs root"
  [ "${CI:-}" = true ] && exit 1
  exit 77
fi
out=$(mktemp -d /tmp/stacks-profile.XXXXXX)
"$target" >"$out/target.out" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$out"' EXIT
fail=0
"$ebpfrun" "$src/scripts/profile.lua" --pid "$pid" -F 199 --duration 2 --folded >"$out/folded" 2>"$out/err" || {
  echo "FAIL: profile --folded exited $?"; cat "$out/err"; fail=1; }
if ! grep -qE '^stacks_target_d;(.*;)?main;stacks_outer;spin_here [0-9]+$' "$out/folded"; then
  echo "FAIL: no folded line main;stacks_outer;spin_here"; head -20 "$out/folded"; fail=1
fi
"$ebpfrun" "$src/scripts/profile.lua" --pid "$pid" -F 199 --duration 1 --top 3 --svg "$out/flame.svg" >"$out/table" 2>"$out/err" || {
  echo "FAIL: profile exited $?"; cat "$out/err"; fail=1; }
if ! awk 'NR == 2 { exit !($1 == "spin_here") }' "$out/table"; then
  echo "FAIL: spin_here is not the top function"; cat "$out/table"; fail=1
fi
# The flame graph parses as XML and holds the frames; headless Chromium renders it.
if ! python3 - "$out/flame.svg" <<'PY'
import sys, xml.etree.ElementTree as E
names = {g.get("data-name") for g in E.parse(sys.argv[1]).getroot().iter("{http://www.w3.org/2000/svg}g")}
missing = {"stacks_target_d", "main", "stacks_outer", "spin_here"} - names
sys.exit(f"missing frames {missing}" if missing else 0)
PY
then echo "FAIL: flame graph"; fail=1; fi
# The kernel matrix's guests (tests/vm) skip the rendering: it does not depend
# on the kernel, the host's suite does it, and Chromium under qemu's
# emulation outlasts the timeout.
if [ -n "${EBPFRUN_VM_KERNEL:-}" ]; then
  echo "note: in the kernel matrix's guest, flame graph not rendered (the host suite renders it)"
elif command -v chromium >/dev/null; then
  timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$out/chromium" --window-size=1200,400 \
    --screenshot="$out/flame.png" "file://$out/flame.svg" >/dev/null 2>&1
  if [ ! -s "$out/flame.png" ]; then echo "FAIL: chromium did not render the flame graph"; fail=1; fi
  [ -n "${EBPFRUN_KEEP_FLAMEGRAPH:-}" ] && cp "$out/flame.png" "$out/flame.svg" "$EBPFRUN_KEEP_FLAMEGRAPH/"
elif [ "${CI:-}" = true ]; then echo "FAIL: chromium is not installed"; fail=1
else echo "note: chromium not installed, flame graph not rendered"; fi
"$ebpfrun" "$src/scripts/profile.lua" -F 0 >/dev/null 2>"$out/err"
rc=$?
if [ $rc != 2 ] || ! grep -q "frequency" "$out/err"; then echo "FAIL: -F 0 gave $rc"; fail=1; fi
[ $fail = 0 ] && echo "PASS"
exit $fail
