#!/usr/bin/env bash
# Fault suite: `ebpfrun -c CMD` killed by a signal leaves nothing behind.
#
# Each trial starts `ebpfrun -v -c 'sh -c "sleep N & sleep N"' SCRIPT` (a
# command with a child in the background and one in the foreground), waits
# until its probe is attached (or, for the early-SIGINT loop, a little while
# into the compile), sends one signal, and then checks exactly, within a few
# seconds:
#   - no cgroup of that run (ebpfrun-c-PID-*) under the cgroup2 root,
#   - no process of the traced command (its sleeps carry a unique marker),
#   - no cleanup guard of that run still running,
#   - no private cgroup2 mount (/tmp/ebpfrun-cgroup2-PID-*), mounted or not,
#   - none of the BPF programs of that run (by id), and none left with the
#     loop's program name (fsig_*, used by this suite only),
#   - no temporary file in the run's cache directory.
# Loops (side by side, each with its own program name): SIGKILL, SIGHUP,
# SIGPIPE (`| head -1`), SIGINT early (during the compile), SIGQUIT and SIGTERM; then runs whose cleanup guard is killed too
# (the whole process group gets SIGKILL), whose leftovers the next -c run must
# remove; then SIGKILL with no cgroup2 mounted (a private mount under /tmp).
#
# Usage: signals.sh EBPFRUN [TRIALS]   (root; TRIALS per loop, default 20)
set -uo pipefail
EBPFRUN=$1
TRIALS=${2:-20}
if [ "$(id -u)" != 0 ]; then
  if [ "${CI:-}" = true ]; then echo "the signal fault tests need root and CI=true forbids skipping"; exit 1; fi
  echo "skipped: the signal fault tests need root"; exit 0
fi
ulimit -c 0  # SIGQUIT dumps core by default
work=$(mktemp -d /tmp/ebpfrun-faults-signals-XXXXXX)
export XDG_CACHE_HOME=$work/cache
trap 'rm -rf "$work"' EXIT
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
# bash starts background commands with SIGINT and SIGQUIT ignored (no job
# control), and ebpfrun, like any program, keeps what it inherits: give them
# back their default action, as a terminal would.
DEFAULT_SIGNALS="env --default-signal=INT,QUIT"
passed=0 failed=0
marker_base=$((700000 + $$ % 10000 * 10))
trial_no=0

# make_probe NAME: a script whose one program is called NAME (each loop has
# its own, so that loops run side by side and "no program of that name is
# left" stays exact per loop).
make_probe() {
  cat >"$work/$1.lua" <<EOF
local ebpf = require "ebpf"
io.stdout:setvbuf("no")
local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
SEC("tracepoint/syscalls/sys_enter_getppid")
int $1(void *ctx) { /*FILTER*/ return 0; }
]] })
assert(obj:attach_all())
io.stderr:write("fault probe attached\\n")
ebpf.run { every = 0.05, tick = function() print("tick") end }
EOF
}

fail() {
  echo "FAILED  $1"
  sed 's/^/    err: /' "$err" | tail -8
  failed=$((failed + 1))
}

wait_for() {  # seconds, command...: polls every 20 ms until the command succeeds
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.02
  done
}

attached() { grep -q "fault probe attached" "$err"; }
started() { grep -q -- "-c: started" "$err"; }
# The run's ebpfrun pid, from its cgroup name in the -v log.
run_pid() { sed -n 's/.*-c: started .* in cgroup \S*ebpfrun-c-\([0-9]*\)-[0-9]* (id.*/\1/p' "$err" | head -1; }
run_cgroup() { sed -n 's/.*-c: started .* in cgroup \(\S*\) (id.*/\1/p' "$err" | head -1; }
prog_ids() { bpftool prog show 2>/dev/null | sed -n "s/^\([0-9]*\): .* name $prog .*/\1/p"; }

# Nothing of the run with ebpfrun pid $1, command marker $2, program ids $3 is left.
nothing_left() {
  local pid=$1 marker=$2 ids=$3 id
  compgen -G "$CGROOT/ebpfrun-c-$pid-*" >/dev/null && return 1
  pgrep -f "sleep $marker" >/dev/null && return 1
  compgen -G "/tmp/ebpfrun-cgroup2-$pid-*" >/dev/null && return 1
  grep -q "ebpfrun-cgroup2-$pid-" /proc/self/mounts && return 1
  for id in $ids; do bpftool prog show id "$id" >/dev/null 2>&1 && return 1; done
  [ -n "$(prog_ids)" ] && return 1
  [ -n "$(find "$XDG_CACHE_HOME" -name '*.tmp*' 2>/dev/null)" ] && return 1
  [ -n "$(ps -eo pid=,comm= | awk -v p="$guard" '$1 == p && $2 == "ebpfrun-guard"')" ] && return 1
  return 0
}

explain_left() {
  local pid=$1 marker=$2
  echo "    left: cgroups: $(compgen -G "$CGROOT/ebpfrun-c-$pid-*" | tr '\n' ' ')"
  echo "    left: processes: $(pgrep -af "sleep $marker" | tr '\n' ' ')"
  echo "    left: mounts: $(grep "ebpfrun-cgroup2-$pid-" /proc/self/mounts | tr '\n' ' ') $(compgen -G "/tmp/ebpfrun-cgroup2-$pid-*")"
  echo "    left: programs: $(prog_ids | tr '\n' ' ')  guard: $guard"
}

# One trial: how (kill|pipe|early|group), signal.
trial() {
  local how=$1 sig=$2 marker pid ids=""
  trial_no=$((trial_no + 1))
  marker=$((marker_base * 1000 + loop_no * 100 + trial_no))
  local cmd="sleep $marker & sleep $marker"
  : >"$err"
  guard=""
  if [ "$how" = pipe ]; then
    ( $DEFAULT_SIGNALS "$EBPFRUN" -v -c "$cmd" "$probe" 2>"$err" | head -1 >/dev/null ) &
  else
    # setsid: a process group of its own (for the "group" loop); from a
    # script it execs ebpfrun directly, so $! is ebpfrun's pid.
    setsid $DEFAULT_SIGNALS "$EBPFRUN" -v -c "$cmd" "$probe" >/dev/null 2>"$err" &
  fi
  local bg=$!
  if [ "$how" = early ]; then
    # Somewhere in the first moments of the run: before the cgroup exists,
    # while it is being made, during the compile, or just after the attach.
    sleep "0.$(printf %02d $((RANDOM % 80)))"
    pid=$bg
  else
    if ! wait_for 60 attached; then fail "$how $sig #$trial_no: never attached"; kill -KILL $bg; wait $bg 2>/dev/null; return; fi
    pid=$(run_pid)
  fi
  ids=$(prog_ids)
  guard=$(ps -eo pid=,ppid=,comm= | awk -v p="$pid" '$2 == p && $3 == "ebpfrun-guard" { print $1 }')
  case $how in
    kill | early) kill -s "$sig" "$pid" ;;
    group) kill -s KILL -- "-$pid" ;;  # setsid: the process group is ebpfrun's pid
    pipe) ;;                          # head exits after the first line; the next write raises SIGPIPE
  esac
  wait $bg 2>/dev/null
  if [ "$how" = group ]; then
    # The guard died with ebpfrun: the cgroup is left, and the next -c run removes it.
    "$EBPFRUN" -c true -e 'os.exit(0)' >/dev/null 2>>"$err"
  fi
  if wait_for 5 nothing_left "$pid" "$marker" "$ids"; then
    passed=$((passed + 1))
  else
    fail "$how $sig #$trial_no (ebpfrun pid $pid)"
    explain_left "$pid" "$marker"
  fi
}

# loop NAME HOW SIGNAL TRIALS PROGRAM: runs in the background, its report in
# $work/report.PROGRAM; the exit status says whether it was clean.
loop_no=0
loop() {
  loop_no=$((loop_no + 1))
  (
    prog=$5 probe=$work/$5.lua err=$work/err.$5 trial_no=0 passed=0 failed=0
    for ((i = 0; i < $4; i++)); do trial "$2" "$3"; done
    echo "$1: $passed clean, $failed with leftovers"
    [ "$failed" = 0 ]
  ) >"$work/report.$5" 2>&1 &
}
collect() {  # waits for the loops started since the last collect and prints their reports
  local job
  for job in $(jobs -p); do wait "$job" || loops_failed=$((loops_failed + 1)); done
  cat "$work"/report.* 2>/dev/null
  rm -f "$work"/report.*
}

# Warm the cache so that trials time the run, not the first compile: the
# first compile alone (it builds the cache's precompiled header), the others
# side by side.
for p in fsig_kill fsig_hup fsig_pipe fsig_int fsig_quit fsig_term fsig_group fsig_private; do make_probe $p; done
"$EBPFRUN" -c "sleep 0.1" "$work/fsig_kill.lua" >/dev/null 2>&1
for p in fsig_hup fsig_pipe fsig_int fsig_quit fsig_term fsig_group fsig_private; do
  "$EBPFRUN" -c "sleep 0.1" "$work/$p.lua" >/dev/null 2>&1 &
done
wait

start=$SECONDS
loops_failed=0
loop "SIGKILL" kill KILL "$TRIALS" fsig_kill
loop "SIGHUP" kill HUP "$TRIALS" fsig_hup
loop "SIGPIPE (| head -1)" pipe PIPE "$TRIALS" fsig_pipe
loop "early SIGINT" early INT "$TRIALS" fsig_int
collect
loop "SIGQUIT" kill QUIT 5 fsig_quit
loop "SIGTERM" kill TERM 5 fsig_term
loop "SIGKILL to ebpfrun and its guard" group KILL 5 fsig_group
collect

# No cgroup2 mounted: -c makes a private mount under /tmp, and SIGKILL must
# not leave it (nor its directory) behind. Runs in a mount namespace of its own.
passed=0 failed=0
if command -v unshare >/dev/null; then
  prog=fsig_private probe=$work/fsig_private.lua err=$work/err.fsig_private loop_no=9 trial_no=0
  cat >"$work/private.sh" <<EOF
for m in \$(awk '\$3 == "cgroup2" { print \$2 }' /proc/self/mounts); do umount -l "\$m"; done
exec env --default-signal=INT,QUIT "$EBPFRUN" -v -c "\$1" "$probe"
EOF
  for ((i = 0; i < 5; i++)); do
    trial_no=$((trial_no + 1))
    marker=$((marker_base * 1000 + loop_no * 100 + trial_no))
    : >"$err"
    guard=""
    unshare -m --propagation private bash "$work/private.sh" "sleep $marker & sleep $marker" >/dev/null 2>"$err" &
    bg=$!
    if ! wait_for 60 attached; then fail "private mount #$i: never attached"; kill -KILL $bg; wait $bg 2>/dev/null; continue; fi
    pid=$(run_pid)
    case $(run_cgroup) in /tmp/ebpfrun-cgroup2-"$pid"-*) ;; *) fail "private mount #$i: cgroup not under a private mount"; continue ;; esac
    ids=$(prog_ids)
    kill -KILL "$pid"
    wait $bg 2>/dev/null
    if wait_for 5 nothing_left "$pid" "$marker" "$ids"; then passed=$((passed + 1)); else
      fail "private mount SIGKILL #$i (ebpfrun pid $pid)"
      explain_left "$pid" "$marker"
    fi
  done
  echo "SIGKILL with a private cgroup2 mount: $passed clean, $failed with leftovers"
fi

echo "$loops_failed loops and $failed private-mount trials with leftovers; $((SECONDS - start)) s"
[ "$loops_failed" = 0 ] && [ "$failed" = 0 ]
