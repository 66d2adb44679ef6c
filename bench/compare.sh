#!/usr/bin/env bash
# bench/compare: one table per capability, each ebpfrun script next to bpftrace
# and to the libbpf-tools tool doing the same job, measured in the same run.
#
#   capability  ebpfrun                  bpftrace                      libbpf-tools
#   syscalls    scripts/syscalls.lua     count + latency per syscall   syscount -L
#   runqlat     scripts/scheduler.lua    /usr/sbin/runqlat.bt          runqlat
#               --runq-only (and the whole
#               collector, a row of its own)
#   tcpstate    scripts/tcpstate.lua     inet_sock_set_state printf    tcpstates
#   execsnoop   scripts/execsnoop.lua    /usr/sbin/execsnoop.bt        execsnoop
#
# Each tracer is started once (after one warm-up start, so that ebpfrun's
# object cache holds what it can), under GNU time and strace (bpf() calls
# only, via seccomp: the traced process runs at full speed otherwise):
#   start       wall seconds from launch until its BPF links stop appearing
#               (all its programs attached)
#   load s      the sum of its BPF_PROG_LOAD calls (strace -T)
#   progs       programs it loaded
#   ns/event    in-kernel run time per program run, over the workload, from
#               kernel.bpf_stats_enabled=1 (on during the measured run only),
#               summed over the tracer's programs: "enter+exit" style sums
#   slowdown    the workload's wall time under the tracer / alone (stats off)
#   CPU s       user+system seconds of the tracer's whole run (start, the
#               workload, its final output), strace's own share included
#   RSS MiB     its peak resident set (the largest process of its tree)
#   out lines   lines the tracer wrote to stdout over its run: the events
#               delivered to user space for the per-event tools (execsnoop,
#               tcpstates), the table rows for the aggregating ones
# Under each table, ns/run per program (name: ns over runs), so that a tool
# with more, cheaper programs can be compared per event as well.
# Then a start table: each ebpfrun script started from an empty object cache
# with its prebuilt object (what a fresh install does), from an empty cache
# without prebuilt objects (it compiles), and from a warm cache, next to the
# libbpf-tools binary and bpftrace: seconds until attached, CPU seconds and
# peak RSS of a run that stops as soon as it is attached; then the prebuilt
# start as ratios to libbpf-tools and bpftrace.
# Workloads: syscalls, runqlat: dd if=/dev/zero of=/dev/null bs=1 count=DD_COUNT
# (default 1,000,000: 2 M syscalls); execsnoop: EXECS (default 500) runs of
# /bin/true; tcpstate: TCP_CONNECTS (default 500) local connections.
# Figures, not assertions: the machine may be shared (say so with the table).
# Needs root, bpftrace, libbpf-tools, strace, GNU time, python3.
# Leaves no program loaded, kernel.bpf_stats_enabled as it was.
# Usage: bench/compare.sh [BUILD_DIR]   (CAPABILITIES="syscalls execsnoop" for a subset)
set -uo pipefail
# Job control: background jobs keep SIGINT (the tracers print and exit on it).
set -m
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
EBPFRUN=$BUILD/ebpfrun
DD_COUNT=${DD_COUNT:-1000000}
EXECS=${EXECS:-500}
TCP_CONNECTS=${TCP_CONNECTS:-500}
CAPABILITIES=${CAPABILITIES:-syscalls runqlat tcpstate execsnoop}
STATS=/proc/sys/kernel/bpf_stats_enabled

[[ $EUID -eq 0 ]] || { echo "bench/compare.sh loads BPF programs: run it as root" >&2; exit 1; }
for tool in bpftrace bpftool strace /usr/bin/time python3 /usr/sbin/syscount; do
  command -v "$tool" >/dev/null || { echo "bench/compare.sh needs $tool (./setup.sh deps)" >&2; exit 1; }
done
[[ -x $EBPFRUN ]] || { echo "no $EBPFRUN: build it first" >&2; exit 1; }
export EBPFRUN_COMPILER_LIB=${EBPFRUN_COMPILER_LIB:-$BUILD/libebpfrun-clang.so}

WORK=$(mktemp -d /tmp/ebpfrun-compare.XXXXXX)
STATS_BEFORE=$(cat $STATS)
TRACER_PID=
cleanup() {
  [[ -n $TRACER_PID ]] && kill -INT -- -"$TRACER_PID" 2>/dev/null && wait "$TRACER_PID" 2>/dev/null
  echo "$STATS_BEFORE" >$STATS
  rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 1" INT TERM

# The tracer commands per capability and tool.
declare -A CMD=(
  [syscalls.ebpfrun]="$EBPFRUN $ROOT/scripts/syscalls.lua"
  [syscalls.bpftrace]="bpftrace -e 'tracepoint:raw_syscalls:sys_enter { @start[tid] = nsecs; }
    tracepoint:raw_syscalls:sys_exit /@start[tid]/ { @count[args->id] = count();
      @ns[args->id] = sum(nsecs - @start[tid]); delete(@start[tid]); }'"
  [syscalls.libbpf-tools]="/usr/sbin/syscount -L"
  [runqlat.ebpfrun]="$EBPFRUN $ROOT/scripts/scheduler.lua --runq-only"
  [runqlat.ebpfrun-collector]="$EBPFRUN $ROOT/scripts/scheduler.lua"
  [runqlat.bpftrace]="bpftrace /usr/sbin/runqlat.bt"
  [runqlat.libbpf-tools]="/usr/sbin/runqlat"
  [tcpstate.ebpfrun]="$EBPFRUN $ROOT/scripts/tcpstate.lua"
  [tcpstate.bpftrace]="bpftrace -e 'tracepoint:sock:inet_sock_set_state {
    printf(\"%d %s %d %d\\n\", pid, comm, args->oldstate, args->newstate); }'"
  [tcpstate.libbpf-tools]="/usr/sbin/tcpstates"
  [execsnoop.ebpfrun]="$EBPFRUN $ROOT/scripts/execsnoop.lua"
  [execsnoop.bpftrace]="bpftrace /usr/sbin/execsnoop.bt"
  [execsnoop.libbpf-tools]="/usr/sbin/execsnoop"
)

workload() {
  case $1 in
    syscalls | runqlat) dd if=/dev/zero of=/dev/null bs=1 count="$DD_COUNT" status=none ;;
    execsnoop) for ((i = 0; i < EXECS; i++)); do /bin/true; done ;;
    tcpstate) python3 - "$TCP_CONNECTS" <<'EOF'
import socket, sys
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(128)
for _ in range(int(sys.argv[1])):
    c = socket.create_connection(server.getsockname()); a, _ = server.accept(); c.close(); a.close()
EOF
      ;;
  esac
}

seconds() { date +%s.%N; }
timed_workload() { local t0 t1; t0=$(seconds); workload "$1"; t1=$(seconds); echo "$t1 - $t0" | bc -l; }

# Pids of a process tree (the tracer runs under time and strace).
tree_pids() {
  local pid=$1 child
  echo "$pid"
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do tree_pids "$child"; done
}
# BPF program ids and link count held by the tree's open fds.
prog_ids() {
  local pid
  for pid in $(tree_pids "$1"); do
    grep -h '^prog_id:' /proc/"$pid"/fdinfo/* 2>/dev/null | awk '{print $2}'
  done | sort -un
}
link_count() {
  local pid
  for pid in $(tree_pids "$1"); do
    ls -l /proc/"$pid"/fd 2>/dev/null | grep -cE 'bpf_link|perf_event' || true
  done | awk '{s += $1} END {print s + 0}'
}

# "name run_time_ns run_cnt" per program, one line each.
prog_stats_each() {
  local id
  for id in "$@"; do
    bpftool prog show id "$id" --json 2>/dev/null | python3 -c '
import json, sys
p = json.load(sys.stdin)
print(p.get("name", "?"), p.get("run_time_ns", 0), p.get("run_cnt", 0))' || true
  done
}

# run_time_ns and run_cnt summed over programs.
prog_stats() {
  local id out rt=0 rc=0
  for id in "$@"; do
    out=$(bpftool prog show id "$id" --json 2>/dev/null) || continue
    rt=$((rt + $(sed -n 's/.*"run_time_ns":\([0-9]*\).*/\1/p' <<<"$out" | grep . || echo 0)))
    rc=$((rc + $(sed -n 's/.*"run_cnt":\([0-9]*\).*/\1/p' <<<"$out" | grep . || echo 0)))
  done
  echo "$rt $rc"
}

measure() {
  local cap=$1 tool=$2 out=$WORK/$cap.$tool
  local cmd=${CMD[$cap.$tool]}
  # Warm-up start: ebpfrun's object cache, the page cache for everyone.
  bash -c "exec $cmd" >/dev/null 2>&1 &
  local warm=$!
  sleep 3
  kill -INT -- -$warm 2>/dev/null
  wait $warm 2>/dev/null

  local t0 t_last links last_links=-1 stable=0
  t0=$(seconds)
  /usr/bin/time -f '%e %U %S %M' -o "$out.time" \
    strace -f --seccomp-bpf -e trace=bpf -T -o "$out.strace" bash -c "exec $cmd" >"$out.stdout" 2>"$out.stderr" &
  TRACER_PID=$!
  t_last=$t0
  # Attached: the number of links has not changed for 1 s.
  for ((i = 0; i < 600 && stable < 20; i++)); do
    sleep 0.05
    links=$(link_count $TRACER_PID)
    if [[ $links != "$last_links" ]]; then last_links=$links; t_last=$(seconds); stable=0
    elif ((links > 0)); then stable=$((stable + 1)); fi
  done
  local start ids
  start=$(echo "$t_last - $t0" | bc -l)
  mapfile -t ids < <(prog_ids $TRACER_PID)
  if ((${#ids[@]} == 0)); then
    kill -INT -- -$TRACER_PID 2>/dev/null
    wait $TRACER_PID 2>/dev/null
    TRACER_PID=
    echo "| $tool | did not attach: $(grep -m1 -iE 'error|fail' "$out.stderr" | cut -c1-80) | | | | | | | |"
    return
  fi
  local slowed
  slowed=$(timed_workload "$cap")
  local before after
  echo 1 >$STATS
  before=$(prog_stats "${ids[@]}")
  prog_stats_each "${ids[@]}" >"$out.each.before"
  workload "$cap"
  after=$(prog_stats "${ids[@]}")
  prog_stats_each "${ids[@]}" >"$out.each.after"
  echo 0 >$STATS
  # To the whole job (its own process group under set -m): GNU time ignores
  # SIGINT while it waits, the tracer prints and exits on it.
  kill -INT -- -$TRACER_PID 2>/dev/null
  wait $TRACER_PID 2>/dev/null
  TRACER_PID=
  local rt rc
  rt=$(($(cut -d' ' -f1 <<<"$after") - $(cut -d' ' -f1 <<<"$before")))
  rc=$(($(cut -d' ' -f2 <<<"$after") - $(cut -d' ' -f2 <<<"$before")))
  local load
  load=$(grep -E 'bpf\(BPF_PROG_LOAD' "$out.strace" | sed -n 's/.*<\([0-9.]*\)>$/\1/p' | awk '{s += $1} END {printf "%.3f", s}')
  read -r _wall user sys rss <"$out.time" || true
  printf '| %s | %.2f | %s | %d | %s | %.2f× | %.2f | %.1f | %d |\n' "$tool" "$start" "$load" "${#ids[@]}" \
    "$([[ $rc -gt 0 ]] && echo "$((rt / rc)) ($rc runs)" || echo -)" \
    "$(echo "$slowed / $ALONE" | bc -l)" "$(echo "${user:-0} + ${sys:-0}" | bc -l)" "$(echo "${rss:-0} / 1024" | bc -l)" \
    "$(wc -l <"$out.stdout")"
  # The per-program figures, printed under the table.
  PER_PROGRAM+="$tool: $(paste -d' ' "$out.each.before" "$out.each.after" |
    awk '{ rc = $6 - $3; if (rc > 0) printf "%s%s %d ns (%d runs)", sep, $1, ($5 - $2) / rc, rc; else printf "%s%s idle", sep, $1; sep = ", " }')"$'\n'
}

echo "bench/compare.sh on $(uname -r), $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for cap in $CAPABILITIES; do
  workload "$cap" # warm
  ALONE=$(timed_workload "$cap")
  echo
  printf '%s (workload alone %.2f s)\n\n' "$cap" "$ALONE"
  echo "| tool | start s | BPF_PROG_LOAD s | progs | ns/run (runs) | slowdown | CPU s | RSS MiB | out lines |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  PER_PROGRAM=
  # A capability whose job is part of a collector's also has the whole
  # collector measured (runqlat: the scheduler collector without --runq-only).
  extra=
  [[ -n ${CMD[$cap.ebpfrun-collector]:-} ]] && extra=ebpfrun-collector
  for tool in ebpfrun $extra bpftrace libbpf-tools; do measure "$cap" "$tool"; done
  echo
  printf 'ns/run per program:\n%s' "$PER_PROGRAM"
done

# START_REPEATS starts of `cmd` under `env` (VAR=VALUE words), each stopped
# once attached: sets START_RESULT to the medians of "start_s cpu_s rss_mib",
# or "-" when it never attached. bench/start_once.py polls the tracer's
# descriptors every 5 ms and takes CPU and peak RSS from wait4 (GNU time's
# CPU seconds come in 10 ms steps, too coarse for a start of ~0.02 s);
# --fresh-cache as its first argument gives every start an empty cache.
START_REPEATS=${START_REPEATS:-5}
start_only() {
  local cmd=$1 out=$2 fresh=()
  shift 2
  [[ ${1:-} == --fresh-cache ]] && { fresh=(--fresh-cache); shift; }
  env "$@" python3 "$ROOT/bench/start_once.py" --repeat "$START_REPEATS" "${fresh[@]}" bash -c "exec $cmd" \
    >"$out.start" 2>/dev/null
  START_RESULT=$(tail -n 1 "$out.start")
  [[ -n $START_RESULT ]] || START_RESULT="-"
}

echo
echo "start (until attached; then stopped), CPU s and peak RSS of that run: medians of $START_REPEATS starts"
echo
echo "| capability | ebpfrun, empty cache, prebuilt | ebpfrun, empty cache, compiles | ebpfrun, cached | libbpf-tools | bpftrace |"
echo "|---|---:|---:|---:|---:|---:|"
RATIOS=()
for cap in $CAPABILITIES; do
  cells=()
  start_only "${CMD[$cap.ebpfrun]}" "$WORK/$cap.prebuilt" --fresh-cache
  cells+=("$START_RESULT")
  start_only "${CMD[$cap.ebpfrun]}" "$WORK/$cap.compile" --fresh-cache EBPFRUN_PREBUILT_DIR=/nonexistent
  cells+=("$START_RESULT")
  # The cached starts share one cache, filled by a first start not counted.
  cache=$(mktemp -d "$WORK/cache.XXXXXX")
  START_REPEATS=1 start_only "${CMD[$cap.ebpfrun]}" "$WORK/$cap.fill" XDG_CACHE_HOME="$cache" \
    EBPFRUN_PREBUILT_DIR=/nonexistent
  start_only "${CMD[$cap.ebpfrun]}" "$WORK/$cap.cached" XDG_CACHE_HOME="$cache" EBPFRUN_PREBUILT_DIR=/nonexistent
  cells+=("$START_RESULT")
  start_only "${CMD[$cap.libbpf-tools]}" "$WORK/$cap.libbpf" PATH="$PATH"
  cells+=("$START_RESULT")
  start_only "${CMD[$cap.bpftrace]}" "$WORK/$cap.bpftrace" PATH="$PATH"
  cells+=("$START_RESULT")
  row="| $cap |"
  for c in "${cells[@]}"; do
    read -r st cpu rss <<<"$c"
    if [[ $c == - ]]; then row+=" did not attach |"; else row+=" $st s, $cpu CPU s, $rss MiB |"; fi
  done
  echo "$row"
  read -r p_st p_cpu p_rss <<<"${cells[0]}"
  read -r l_st l_cpu l_rss <<<"${cells[3]}"
  read -r b_st _ b_rss <<<"${cells[4]}"
  ratio() { echo "$2" | awk -v a="$1" '{ if ($1 + 0 > 0 && a != "-") printf "%.2f×", a / $1; else printf "-" }'; }
  RATIOS+=("| $cap | $(ratio "$p_st" "$l_st") | $(ratio "$p_cpu" "$l_cpu") | $(ratio "$p_rss" "$l_rss") | $(ratio "$p_st" "$b_st") | $(ratio "$p_rss" "$b_rss") |")
done
echo
echo "ebpfrun's prebuilt start as ratios (targets: ≤ 1.2× libbpf-tools' wall and CPU, ≤ 1.3× its peak RSS, ≤ 0.5× bpftrace's wall)"
echo
echo "| capability | wall / libbpf-tools | CPU / libbpf-tools | peak RSS / libbpf-tools | wall / bpftrace | peak RSS / bpftrace |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${RATIOS[@]}"
