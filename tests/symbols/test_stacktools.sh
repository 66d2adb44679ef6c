#!/bin/bash
# stackcount.lua and offcputime.lua on the real kernel, against the stacks
# target (tests/data/stacks/target.c, frame pointers): `opens N` opens
# /dev/null N times from open_here() <- open_outer() <- main(), and `naps N MS`
# sleeps N times MS ms in nap_here() <- nap_outer() <- main(). The tools must
# count exactly those opens on that stack, and attribute about N x MS ms of
# off-CPU time to the sleeping stack, with its kernel path (and not the
# frames of the tracing machinery itself).
# Usage: test_stacktools.sh EBPFRUN SOURCE_DIR TARGET. Exit 77: skipped (not root).
set -u
ebpfrun=$1 src=$2 target=$3
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: the stack tools need root"
  [ "${CI:-}" = true ] && exit 1
  exit 77
fi
out=$(mktemp -d /tmp/stacktools.XXXXXX)
tool_pid=
trap '[ -n "$tool_pid" ] && kill $tool_pid 2>/dev/null; wait; rm -rf "$out"' EXIT
fail=0
COMM=stacks_target_d
# kernel_older_than MAJOR MINOR: "yes" when the running kernel is.
kernel_older_than() {
  local v
  v=$(uname -r)
  v=${v%%-*}
  awk -v v="$v" -v M="$1" -v m="$2" 'BEGIN { split(v, a, "."); print (a[1] < M || (a[1] == M && a[2] < m)) ? "yes" : "no" }'
}

# run_with NAME WORKLOAD TOOL-ARGS...: runs the tool, starts WORKLOAD once
# the tool says it is tracing (its first stderr line), waits for the tool.
run_with() {
  local name=$1 workload=$2
  shift 2
  : >"$out/$name.err"
  "$ebpfrun" "$@" >"$out/$name.out" 2>"$out/$name.err" &
  tool_pid=$!
  local i=0
  while ! grep -qE 'counting stacks|tracing off-CPU' "$out/$name.err" && kill -0 $tool_pid 2>/dev/null && [ $i -lt 600 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  # The workload lingers LINGER ms after its work (default 4 s: its mappings
  # are still there when the tool symbolizes at its end).
  $workload "${LINGER:-4000}" >/dev/null &
  wait $tool_pid
  local rc=$?
  tool_pid=
  if [ $rc != 0 ]; then echo "FAIL: $name exited $rc"; cat "$out/$name.err"; fail=1; fi
}

# ---- stackcount
SC="$src/scripts/stackcount.lua"
run_with sc_folded "$target opens 7" "$SC" tracepoint/syscalls/sys_enter_openat --comm $COMM --stacks user --folded --duration 2
if ! grep -qE "^$COMM;(.*;)?main;open_outer;open_here 7$" "$out/sc_folded.out"; then
  echo "FAIL: stackcount --folded has no line ...;main;open_outer;open_here 7"; cat "$out/sc_folded.out"; fail=1
fi
run_with sc_table "$target opens 9" "$SC" tracepoint/syscalls/sys_enter_openat --comm $COMM --top 1 --duration 2
# The top stack: nine hits, the kernel's syscall entry above the user path.
# Kernels before 6.12 (Debian's 6.1, in the kernel matrix) run syscall
# tracepoint programs with the user-mode registers: there the top stack has
# the user path alone, and stackcount must say why.
if [ "$(kernel_older_than 6 12)" = yes ] && grep -q "no kernel stacks at tracepoint/syscalls/sys_enter_openat" "$out/sc_table.err"; then
  if ! awk -v comm=$COMM 'NR == 1 { ok = ($1 == 9 && $2 == "count" && $3 == comm) } /open_here/ { u = 1 } END { exit !(ok && u) }' "$out/sc_table.out"; then
    echo "FAIL: stackcount's top stack is not the nine opens with user frames"; cat "$out/sc_table.out"; fail=1
  fi
elif ! awk -v comm=$COMM 'NR == 1 { ok = ($1 == 9 && $2 == "count" && $3 == comm) }
     /do_syscall_64/ { k = 1 } /^ +--$/ { sep = 1 } /open_here/ { u = sep && k } END { exit !(ok && k && u) }' "$out/sc_table.out"; then
  echo "FAIL: stackcount's top stack is not the nine opens with kernel and user frames"; cat "$out/sc_table.out" "$out/sc_table.err"; fail=1
fi
run_with sc_json "$target opens 4" "$SC" tracepoint/syscalls/sys_enter_openat --comm $COMM --stacks user --json --duration 2
if ! python3 - "$out/sc_json.out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
hit = [r for r in rows if r["user"][:3] == ["open_here", "open_outer", "main"]]
sys.exit(0 if len(hit) == 1 and hit[0]["count"] == 4 and hit[0]["kernel"] == [] else f"rows: {rows}")
PY
then echo "FAIL: stackcount --json"; fail=1; fi
# A process that exits 300 ms after its opens, long before the tool ends:
# the tool opened its files while it ran, so its stack still symbolizes.
LINGER=300 run_with sc_exited "$target opens 6" "$SC" tracepoint/syscalls/sys_enter_openat --comm $COMM --stacks user --folded --duration 2.5
if ! grep -qE "^$COMM;(.*;)?main;open_outer;open_here 6$" "$out/sc_exited.out"; then
  echo "FAIL: stackcount: a process that exited early is not symbolized"; cat "$out/sc_exited.out"; fail=1
fi
# A uprobe at the function's first instruction: the frame-pointer unwinder
# may not see the direct caller yet (the frame is not set up), so only the
# function and main are required.
run_with sc_uprobe "$target opens 5" "$SC" "uprobe/$target:open_here" --stacks user --folded --duration 2
if ! grep -qE "^$COMM;(.*;)?main;(open_outer;)?open_here 5$" "$out/sc_uprobe.out"; then
  echo "FAIL: stackcount at a uprobe"; cat "$out/sc_uprobe.out"; fail=1
fi
for bad in "nosuch/probe" "tracepoint/nosuch/nothing"; do
  "$ebpfrun" "$SC" "$bad" --duration 1 >/dev/null 2>"$out/bad.err"
  rc=$?
  if [ $rc != 2 ] || [ "$(wc -l <"$out/bad.err")" != 1 ]; then
    echo "FAIL: stackcount $bad gave $rc:"; cat "$out/bad.err"; fail=1
  fi
done

# ---- offcputime
OC="$src/scripts/offcputime.lua"
# 10 sleeps of 50 ms: 500 ms off CPU in nap_here (plus the wake-up latency).
run_with oc_folded "$target naps 10 50" "$OC" --comm $COMM --folded --duration 3 --svg "$out/offcpu.svg"
if ! python3 - "$out/oc_folded.out" <<'PY'
import sys
total = 0
for line in open(sys.argv[1]):
    stack, us = line.rsplit(" ", 1)
    frames = stack.split(";")
    if "main;nap_outer;nap_here" in stack and ("schedule" in frames or "do_nanosleep" in frames):
        total += int(us)
sys.exit(0 if 450_000 <= total <= 1_500_000 else f"nap_here stacks: {total} us, expected about 500000")
PY
then echo "FAIL: offcputime --folded"; cat "$out/oc_folded.out"; fail=1; fi
if ! python3 - "$out/offcpu.svg" <<'PY'
import sys, xml.etree.ElementTree as E
names = {g.get("data-name") for g in E.parse(sys.argv[1]).getroot().iter("{http://www.w3.org/2000/svg}g")}
missing = {"stacks_target_d", "main", "nap_outer", "nap_here"} - names
sys.exit(f"missing frames {missing}" if missing else 0)
PY
then echo "FAIL: offcputime --svg"; fail=1; fi
run_with oc_json "$target naps 4 30" "$OC" --comm $COMM --json --top 1 --duration 2
if ! python3 - "$out/oc_json.out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ok = len(rows) == 1 and rows[0]["user"][:3] == ["nap_here", "nap_outer", "main"] and 100_000 <= rows[0]["us"] <= 1_000_000
ok = ok and "schedule" in rows[0]["kernel"] and not rows[0]["kernel"][0].startswith(("bpf_", "__traceiter"))
sys.exit(0 if ok else f"rows: {rows}")
PY
then echo "FAIL: offcputime --json"; cat "$out/oc_json.out"; fail=1; fi
# --wakeup: the naps are ended by their hrtimer, so the waker's kernel stack
# (after "--", innermost first) runs hrtimer_wakeup, and the time is the same.
run_with oc_wakeup "$target naps 10 50" "$OC" --comm $COMM --wakeup --folded --duration 3
if ! python3 - "$out/oc_wakeup.out" <<'PY'
import sys
total = 0
for line in open(sys.argv[1]):
    stack, us = line.rsplit(" ", 1)
    if "main;nap_outer;nap_here" not in stack or ";--;" not in stack:
        continue
    sleeper, waker = stack.split(";--;", 1)
    if "do_nanosleep" in sleeper.split(";") and "hrtimer_wakeup" in waker.split(";"):
        total += int(us)
sys.exit(0 if 450_000 <= total <= 1_500_000 else f"nap_here stacks woken by hrtimer_wakeup: {total} us, expected about 500000")
PY
then echo "FAIL: offcputime --wakeup"; cat "$out/oc_wakeup.out"; fail=1; fi
run_with oc_wakeup_json "$target naps 4 30" "$OC" --comm $COMM --wakeup --stacks kernel --json --top 1 --duration 2
if ! python3 - "$out/oc_wakeup_json.out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ok = len(rows) == 1 and "do_nanosleep" in rows[0]["kernel"] and "waker" in rows[0]
ok = ok and "hrtimer_wakeup" in rows[0]["waker"]["kernel"] and rows[0]["waker"]["user"] == []
sys.exit(0 if ok else f"rows: {rows}")
PY
then echo "FAIL: offcputime --wakeup --json"; cat "$out/oc_wakeup_json.out"; fail=1; fi
# Blocks shorter than --min-us are left out: 30 ms sleeps against 200 ms.
run_with oc_min "$target naps 4 30" "$OC" --comm $COMM --folded --min-us 200000 --duration 2
if grep -q "nap_here" "$out/oc_min.out"; then
  echo "FAIL: offcputime --min-us 200000 still counts 30 ms sleeps"; cat "$out/oc_min.out"; fail=1
fi
"$ebpfrun" "$OC" --min-us -1 >/dev/null 2>"$out/bad.err"
rc=$?
if [ $rc != 2 ] || ! grep -q "min-us" "$out/bad.err"; then echo "FAIL: --min-us -1 gave $rc"; fail=1; fi
[ $fail = 0 ] && echo "PASS"
exit $fail
