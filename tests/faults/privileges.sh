#!/usr/bin/env bash
# Fault suite: least privilege. Runs `ebpfrun doctor` and one probe of each
# feature class as an unprivileged user (uid 65534) with reduced capability
# sets (setpriv), and checks that what fails names exactly what is missing —
# the capability or the file permission the kernel wanted — and that what
# should work with that set does work. The expectations are the table measured
# on Linux 6.18 (runtime/system/privileges.h):
#   maps, ring buffers, pinning     CAP_BPF
#   raw_tp, tp_btf, perf_event      CAP_BPF + CAP_PERFMON
#   tracepoints, -l                 + read access to tracefs (CAP_DAC_READ_SEARCH when it is 0700 root)
#   uprobes                         + CAP_SYS_ADMIN
#   cgroup/socket programs          + CAP_NET_ADMIN
#   --stats                         CAP_SYS_ADMIN
#   -c CMD                          write access to the cgroup2 root (CAP_DAC_OVERRIDE)
#
# Usage: privileges.sh EBPFRUN   (root, with setpriv from util-linux)
set -uo pipefail
EBPFRUN=$1
if [ "$(id -u)" != 0 ]; then
  if [ "${CI:-}" = true ]; then echo "the privilege fault tests need root and CI=true forbids skipping"; exit 1; fi
  echo "skipped: the privilege fault tests need root (to drop to an unprivileged user)"; exit 0
fi
work=$(mktemp -d /tmp/ebpfrun-faults-privileges-XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir -p "$work/cache" && chown 65534:65534 "$work/cache"
passed=0 failed=0

# The user's view of tracefs decides the tracepoint expectations.
TRACEFS_CLOSED=0
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all test -r /sys/kernel/tracing/events || TRACEFS_CLOSED=1

# as CAPS ARGS...: runs ebpfrun as uid 65534 with exactly CAPS (e.g. "+bpf,+perfmon").
as() {
  local caps=$1
  shift
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" XDG_CACHE_HOME="$work/cache" \
    EBPFRUN_COMPILER_LIB="${EBPFRUN_COMPILER_LIB:-}" \
    setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps="-all${caps:+,$caps}" \
    --ambient-caps="-all${caps:+,$caps}" "$EBPFRUN" "$@" >"$work/out" 2>"$work/err"
}

# expect NAME EXIT PATTERN [ABSENT]: the last run exited EXIT, its output
# (stdout + stderr) matches the extended regex PATTERN and not ABSENT.
expect() {
  local name=$1 code=$2 pattern=$3 absent=${4:-}
  local rc=$last_rc
  if [ "$rc" = "$code" ] && cat "$work/out" "$work/err" | grep -Eq -- "$pattern" &&
    { [ -z "$absent" ] || ! cat "$work/out" "$work/err" | grep -Eq -- "$absent"; }; then
    echo "ok      $name"
    passed=$((passed + 1))
  else
    echo "FAILED  $name (exit $rc, wanted $code; wanted /$pattern/${absent:+, not /$absent/})"
    sed 's/^/    /' "$work/err" | tail -6
    failed=$((failed + 1))
  fi
}
run() { as "$@"; last_rc=$?; }

probe() {  # file name, SEC, attach spec
  cat >"$work/$1.lua" <<EOF
local ebpf = require "ebpf"
local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } priv_rb SEC(".maps");
SEC("$2")
int priv_probe(void *ctx) { return 0; }
]] })
assert(obj:attach("priv_probe", "$3"))
obj:ringbuf("priv_rb", "int"):on(function() end)
ebpf.run { duration = 0.2 }
print("ran")
EOF
  chmod 644 "$work/$1.lua"
}
probe tracepoint "tracepoint/syscalls/sys_enter_getppid" "tracepoint/syscalls/sys_enter_getppid"
probe rawtp "raw_tp/sys_enter" "raw_tp/sys_enter"
probe tpbtf "tp_btf/sched_switch" "tp_btf/sched_switch"
probe uprobe "uprobe" "uprobe/libc:malloc"
probe perf "perf_event" "perf_event/cpu-clock:freq=49"
probe cgroup "cgroup_skb/ingress" "cgroup/skb_ingress:$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)"

BP="+bpf,+perfmon"
BPD="+bpf,+perfmon,+dac_read_search"

# Compile once as root so that the runs below only load (a compile as uid
# 65534 works too, but takes the time of a cold cache every time).
run "" --version
expect "setpriv runs ebpfrun as uid 65534" 0 "ebpfrun"

# --- doctor: one line per feature, naming what is missing ----------------
run "$BP" doctor --json
expect "doctor (bpf+perfmon): tracepoints not allowed, naming tracefs and CAP_DAC_READ_SEARCH" 0 \
  '"check":"may use tracepoints","status":"warning".*not readable.*CAP_DAC_READ_SEARCH'
expect "doctor (bpf+perfmon): raw_tp/tp_btf allowed" 0 '"check":"may use raw_tp/tp_btf","status":"ok"'
expect "doctor (bpf+perfmon): ring buffers allowed" 0 '"check":"may use ring buffers","status":"ok"'
expect "doctor (bpf+perfmon): uprobes need CAP_SYS_ADMIN" 0 \
  '"check":"may use uprobes","status":"warning".*CAP_SYS_ADMIN is missing'
expect "doctor (bpf+perfmon): --stats needs CAP_SYS_ADMIN" 0 '"check":"may use --stats","status":"warning".*CAP_SYS_ADMIN'
expect "doctor (bpf+perfmon): cgroup programs need CAP_NET_ADMIN" 0 \
  '"check":"may use cgroup programs","status":"warning".*CAP_NET_ADMIN is missing'
expect "doctor (bpf+perfmon): -c needs write access to the cgroup root" 0 \
  '"check":"may use -c CMD","status":"warning".*not writable.*CAP_DAC_OVERRIDE'
expect "doctor (bpf+perfmon): tracefs check says mounted but unreadable" 0 \
  '"check":"tracefs","status":"warning".*mounted at .* but .*not readable'
run "$BP" doctor
expect "doctor (bpf+perfmon): the summary names what is not allowed" 0 \
  "not allowed with this process's privileges: .*tracepoints.*uprobes"
run "$BPD,+sys_admin,+net_admin,+dac_override" doctor --json
expect "doctor (all needed caps): every feature allowed" 0 '"check":"may use uprobes","status":"ok"' \
  '"check":"may use [^"]*","status":"warning"'
run "+bpf" doctor
expect "doctor (bpf only): CAP_PERFMON blocks, named" 1 "CAP_PERFMON is missing"
run "" doctor
expect "doctor (no caps): CAP_BPF blocks, named" 1 "CAP_BPF is missing"

# --- each feature class under reduced sets ---------------------------------
run "$BP" "$work/rawtp.lua"
expect "raw_tp with bpf+perfmon runs" 0 "^ran"
run "$BP" "$work/tpbtf.lua"
expect "tp_btf with bpf+perfmon runs" 0 "^ran"
run "$BP" "$work/perf.lua"
expect "perf_event sampling with bpf+perfmon runs" 0 "^ran"
if [ "$TRACEFS_CLOSED" = 1 ]; then
  run "$BP" "$work/tracepoint.lua"
  expect "tracepoint with bpf+perfmon names tracefs and CAP_DAC_READ_SEARCH, not 'not mounted'" 1 \
    "tracefs is mounted at .* cannot read it.*CAP_DAC_READ_SEARCH" "is not mounted"
  run "$BP" -l 'syscalls:sys_enter_getpp*'
  expect "-l with bpf+perfmon names CAP_DAC_READ_SEARCH" 1 "CAP_DAC_READ_SEARCH" "is not mounted"
fi
run "$BPD" "$work/tracepoint.lua"
expect "tracepoint + ring buffer with bpf+perfmon+dac_read_search runs (the collectors' set)" 0 "^ran"
run "$BPD" "$work/uprobe.lua"
expect "uprobe with bpf+perfmon+dac_read_search names CAP_SYS_ADMIN" 1 "not permitted for uprobes: CAP_SYS_ADMIN is missing" \
  "needs root \(or CAP_BPF and CAP_PERFMON\)"
run "$BPD,+sys_admin" "$work/uprobe.lua"
expect "uprobe with bpf+perfmon+sys_admin runs" 0 "^ran"
run "$BPD" "$work/cgroup.lua"
expect "cgroup program with bpf+perfmon names CAP_NET_ADMIN" 1 "CAP_NET_ADMIN is missing"
run "$BPD" --stats "$work/rawtp.lua"
expect "--stats with bpf+perfmon names CAP_SYS_ADMIN" 1 "CAP_SYS_ADMIN"
run "$BPD" -c true "$work/rawtp.lua"
expect "-c with bpf+perfmon names the cgroup root and CAP_DAC_OVERRIDE" 1 "not writable.*CAP_DAC_OVERRIDE"
run "$BPD" -e 'print("ran")'
expect "a script with bpf+perfmon+dac_read_search passes the preflight" 0 "^ran"
run "$BPD" "$(dirname "$0")/../../scripts/syscalls.lua" --duration 1
expect "the syscalls collector runs with bpf+perfmon+dac_read_search" 0 "SYSCALL"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
