#!/usr/bin/env bash
# bench/events: event delivery and one-liner start-up, ebpfrun side by side with bpftrace.
#
# 1. Event delivery. One producer (bench/events/producer.c, gcc -O2) calls
#    getppid() N times (default 2,000,000) in a tight loop once it gets SIGUSR1,
#    and prints its loop's start and end times. It runs
#      alone                      the baseline;
#      under ebpfrun              bench/events/consumer.lua: tracepoint
#                                 syscalls/sys_enter_getppid filtered to the
#                                 producer's pid, a ring buffer of {pid, ns}
#                                 events (RINGBUF_MIB, default 64), a Lua handler
#                                 that reads both fields of every event;
#      under ebpfrun, coalesce=0  the same with ebpf.run's wakeup coalescing off;
#      under bpftrace             printf("%d %d\n", pid, nsecs) per event, to a file.
#    The tracer attaches first (checked with `bpftool perf list`), then the loop
#    starts. Delivered = events that reached the handler (ebpfrun) or lines
#    written (bpftrace). Delivery window = from the loop's start until the
#    tracer handled its last event (so a tracer that lags behind the producer
#    pays for its backlog). Delivered/s = delivered / window. Missing = N minus
#    delivered; lost as reported = ring buffer drops and losses (ebpfrun's
#    reader stats) or "Lost N events" lines (bpftrace). EVENT_RUNS rounds
#    (default 3), the four cases interleaved so that noise from other load hits
#    all alike; each case's run with the median delivered/s is shown, missing
#    and lost are of the worst run.
# 2. Start-up of a one-liner (start to exit, 100 ms of tracing) and peak RSS,
#    ebpfrun -e 'count(…, "comm")' vs bpftrace's @[comm] = count(): ebpfrun with
#    an empty object cache (fresh XDG_CACHE_HOME: vmlinux.h, PCH and object are
#    built) and with the object cached. bpftrace has no cache: both of its rows
#    are the same runs. Medians of RUNS runs (default 5).
# Needs root, bpftrace, bpftool, gcc. Leaves nothing loaded or running.
# Usage: bench/events.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
N=${N:-2000000}
EVENT_RUNS=${EVENT_RUNS:-3}
RUNS=${RUNS:-5}
RINGBUF_MIB=${RINGBUF_MIB:-64}
EBPFRUN=$BUILD/ebpfrun
CONSUMER=$ROOT/bench/events/consumer.lua

[[ $EUID -eq 0 ]] || { echo "bench/events.sh loads BPF programs: run it as root" >&2; exit 1; }
for tool in bpftrace bpftool gcc; do
  command -v "$tool" >/dev/null || { echo "bench/events.sh needs $tool (apt-get install $tool)" >&2; exit 1; }
done
[[ -x $EBPFRUN ]] || { echo "no $EBPFRUN: build it first (make -C $BUILD ebpfrun)" >&2; exit 1; }

WORK=$(mktemp -d)
BACKGROUND=()   # pids this script started and has not reaped yet
MOUNTED_TRACEFS=
cleanup() {
  local pid
  # Children first: the tracers run under /usr/bin/time.
  for pid in "${BACKGROUND[@]}"; do pkill -KILL -P "$pid" 2>/dev/null || true; done
  for pid in "${BACKGROUND[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${BACKGROUND[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n $MOUNTED_TRACEFS ]]; then umount /sys/kernel/tracing 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
forget() {  # forget PID: it was reaped
  local keep=() pid
  for pid in "${BACKGROUND[@]}"; do [[ $pid == "$1" ]] || keep+=("$pid"); done
  BACKGROUND=("${keep[@]}")
}

if [[ ! -e /sys/kernel/tracing/events ]]; then
  mount -t tracefs tracefs /sys/kernel/tracing && MOUNTED_TRACEFS=1
fi

gcc -O2 -Wall -o "$WORK/producer" "$ROOT/bench/events/producer.c"
export XDG_CACHE_HOME=$WORK/cache

now_ns() { date +%s%N; }

# start_producer: starts the producer, waits until it waits for SIGUSR1; sets PRODUCER.
start_producer() {
  "$WORK/producer" "$N" >"$WORK/producer.out" &
  PRODUCER=$!
  BACKGROUND+=("$PRODUCER")
  until grep -q '^ready$' "$WORK/producer.out" 2>/dev/null; do
    kill -0 "$PRODUCER" 2>/dev/null || { echo "the producer exited before it was ready" >&2; exit 1; }
    sleep 0.01
  done
}

# run_producer: starts the loop, waits for its end; sets LOOP_START LOOP_END (ns).
run_producer() {
  kill -USR1 "$PRODUCER"
  wait "$PRODUCER"
  forget "$PRODUCER"
  read -r LOOP_START LOOP_END _ < <(tail -n1 "$WORK/producer.out")
}

# wait_attached TRACER_PID: until the tracer (or its child) has a BPF program on
# sys_enter_getppid; fails if the tracer exits first.
wait_attached() {
  local tracer=$1 deadline=$(( $(date +%s) + 120 )) pid
  for (( ;; )); do
    kill -0 "$tracer" 2>/dev/null || { echo "the tracer exited before attaching:" >&2; cat "$WORK/tracer.err" >&2; exit 1; }
    for pid in $(bpftool -j perf list 2>/dev/null | grep -o '"pid":[0-9]*,"fd":[0-9]*,"prog_id":[0-9]*,"fd_type":"tracepoint","tracepoint":"sys_enter_getppid"' | grep -o '^"pid":[0-9]*' | cut -d: -f2); do
      [[ $pid == "$tracer" ]] && return
      [[ $(awk '{ print $4 }' "/proc/$pid/stat" 2>/dev/null) == "$tracer" ]] && return
    done
    (( $(date +%s) < deadline )) || { echo "the tracer did not attach within 120 s" >&2; exit 1; }
    sleep 0.05
  done
}

# Each case sets RESULT="loop_ns window_ns delivered reported_lost peak_rss_kib end_rss_kib".
# Cases run in this shell (never in $(...)), so that the EXIT trap knows their
# processes.
case_alone() {
  start_producer
  run_producer
  RESULT="$(( LOOP_END - LOOP_START )) 0 0 0 0 0"
}

field() { sed -n "s/.*\<$1=\([0-9]*\).*/\1/p" <<<"$2"; }

case_ebpfrun() {  # case_ebpfrun COALESCE ("" = ebpf.run's default)
  local tracer out last
  start_producer
  rm -f "$WORK/done"
  /usr/bin/time -f "%M" -o "$WORK/tracer.rss" "$EBPFRUN" "$CONSUMER" "$PRODUCER" "$N" "$RINGBUF_MIB" \
    "$WORK/done" "$1" >"$WORK/tracer.out" 2>"$WORK/tracer.err" &
  tracer=$!
  BACKGROUND+=("$tracer")
  wait_attached "$tracer"
  run_producer
  touch "$WORK/done"
  wait "$tracer" || { echo "ebpfrun failed:" >&2; cat "$WORK/tracer.err" >&2; exit 1; }
  forget "$tracer"
  out=$(grep '^handled=' "$WORK/tracer.out")
  grep -q 'pid_ok=1' <<<"$out" || { echo "ebpfrun's handler read wrong pid fields: $out" >&2; exit 1; }
  last=$(field last_ns "$out")
  if (( last < LOOP_END )); then last=$LOOP_END; fi
  RESULT="$(( LOOP_END - LOOP_START )) $(( last - LOOP_START )) $(field handled "$out")"
  RESULT+=" $(( $(field lost "$out") + $(field dropped "$out") )) $(tail -n1 "$WORK/tracer.rss") $(field rss_kib "$out")"
}

case_bpftrace() {
  local tracer size last_size last_change now delivered lost
  start_producer
  /usr/bin/time -f "%M" -o "$WORK/tracer.rss" bpftrace \
    -e "tracepoint:syscalls:sys_enter_getppid /pid == $PRODUCER/ { printf(\"%d %d\n\", pid, nsecs); }" \
    >"$WORK/tracer.out" 2>"$WORK/tracer.err" &
  tracer=$!
  BACKGROUND+=("$tracer")
  wait_attached "$tracer"
  run_producer
  # bpftrace writes each line as it handles the event: its last event is handled
  # when the file stops growing (watched every 20 ms, given up after 500 ms still).
  last_size=-1; last_change=$(now_ns)
  for (( ;; )); do
    size=$(stat -c %s "$WORK/tracer.out"); now=$(now_ns)
    if [[ $size != "$last_size" ]]; then last_size=$size; last_change=$now
    elif (( now - last_change > 500000000 )); then break; fi
    sleep 0.02
  done
  pkill -INT -P "$tracer"   # bpftrace itself: /usr/bin/time ignores SIGINT
  wait "$tracer" || true
  forget "$tracer"
  delivered=$(grep -c '^[0-9]* [0-9]*$' "$WORK/tracer.out" || true)
  lost=$(cat "$WORK/tracer.out" "$WORK/tracer.err" | sed -n 's/.*Lost \([0-9]*\) events.*/\1/p' |
    awk '{ s += $1 } END { print s + 0 }')
  if (( last_change < LOOP_END )); then last_change=$LOOP_END; fi
  RESULT="$(( LOOP_END - LOOP_START )) $(( last_change - LOOP_START )) $delivered $lost $(tail -n1 "$WORK/tracer.rss") 0"
}

# median CASE_RESULTS...: the run with the median delivered/s (the median loop
# for the baseline), with the worst run's delivered and reported-lost counts.
median() {
  printf '%s\n' "$@" | awk -v runs="$#" '
    { key[NR] = ($2 > 0 ? $3 / $2 : -$1); line[NR] = $0
      if (NR == 1 || $3 < min_delivered) min_delivered = $3
      if ($4 > max_reported) max_reported = $4 }
    END {
      for (i = 1; i <= NR; i++) { rank = 0; for (j = 1; j <= NR; j++) if (key[j] < key[i] || (key[j] == key[i] && j < i)) rank++
                                  if (rank == int((runs - 1) / 2)) { split(line[i], f, " ") } }
      print f[1], f[2], f[3], f[4], f[5], f[6], min_delivered, max_reported + 0 }'
}

# The first compile builds vmlinux.h and the PCH; each case then compiles its
# own object (the producer's pid is compiled into the program) with the PCH.
"$EBPFRUN" "$CONSUMER" 1 0 "$RINGBUF_MIB" /dev/null >/dev/null 2>&1 || true

echo "event delivery: $N getppid calls; $EVENT_RUNS rounds of 4 cases ..." >&2
alone=(); ebpfrun=(); nocoalesce=(); bt=()
for (( round = 0; round < EVENT_RUNS; round++ )); do   # interleaved: noise hits all cases alike
  case_alone;        alone+=("$RESULT")
  case_ebpfrun "";   ebpfrun+=("$RESULT")
  case_ebpfrun 0;    nocoalesce+=("$RESULT")
  case_bpftrace;     bt+=("$RESULT")
done
read -r a_loop _ <<<"$(median "${alone[@]}")"
read -r e_loop e_win e_del _ e_rss e_end e_worst e_wrep <<<"$(median "${ebpfrun[@]}")"
read -r z_loop z_win z_del _ z_rss z_end z_worst z_wrep <<<"$(median "${nocoalesce[@]}")"
read -r b_loop b_win b_del _ b_rss _ b_worst b_wrep <<<"$(median "${bt[@]}")"

# measure CMD...: prints "<wall us> <peak RSS KiB>" for one run.
measure() {
  local start end
  start=$(now_ns)
  /usr/bin/time -f "%M" -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
  end=$(now_ns)
  echo "$(( (end - start) / 1000 )) $(tail -n1 "$WORK/rss")"
}

# median_of [cold] CMD...: runs RUNS times (cold: each with an empty cache);
# prints "median_ms max_rss_mib".
median_of() {
  local cold=0 i samples=() rss_max=0 line us rss
  [[ $1 == cold ]] && { cold=1; shift; }
  for (( i = 0; i < RUNS; i++ )); do
    if (( cold )); then
      rm -rf "$WORK/cold"
      line=$(XDG_CACHE_HOME=$WORK/cold measure "$@")
    else
      line=$(measure "$@")
    fi
    us=${line% *}; rss=${line#* }
    samples+=("$us")
    if (( rss > rss_max )); then rss_max=$rss; fi
  done
  local median
  median=$(printf '%s\n' "${samples[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  awk -v us="$median" -v kb="$rss_max" 'BEGIN { printf "%.1f %.1f\n", us / 1000, kb / 1024 }'
}

echo "one-liner start-up: $RUNS runs of each ..." >&2
ONELINER='require("ebpf.oneliner").duration = 0.1; count("tracepoint/syscalls/sys_enter_getppid", "comm")'
BT_ONELINER='tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); } interval:ms:100 { exit(); }'
"$EBPFRUN" -e "$ONELINER" >/dev/null 2>&1   # fills the cache for the cached runs
read -r cold_ms cold_mib < <(median_of cold "$EBPFRUN" -e "$ONELINER")
read -r hit_ms hit_mib < <(median_of "$EBPFRUN" -e "$ONELINER")
read -r bt_ms bt_mib < <(median_of bpftrace -e "$BT_ONELINER")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "—"; else printf "%.2f×", a / b }'; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.0f", ns / 1e6 }'; }
rate() { awk -v d="$1" -v ns="$2" 'BEGIN { printf "%.0f", d / (ns / 1e9) }'; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
slow() { awk -v a="$1" -v b="$a_loop" 'BEGIN { printf "%.2f×", a / b }'; }
e_rate=$(rate "$e_del" "$e_win"); z_rate=$(rate "$z_del" "$z_win"); b_rate=$(rate "$b_del" "$b_win")

echo "bench/events — $(uname -r), $(nproc) CPUs, $(bpftrace --version), ebpfrun ring buffer $RINGBUF_MIB MiB"
echo
echo "Event delivery: $N getppid calls traced by pid, each event read by the tracer's handler; median of"
echo "$EVENT_RUNS interleaved runs. Window = loop start until the tracer handled its last event;"
echo "delivered/s = delivered / window. Missing and lost: worst run."
echo
echo "| measure | producer alone | ebpfrun | ebpfrun, coalesce=0 | bpftrace | ebpfrun / bpftrace |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| producer loop ms | $(ms "$a_loop") | $(ms "$e_loop") | $(ms "$z_loop") | $(ms "$b_loop") | $(ratio "$e_loop" "$b_loop") |"
echo "| producer slowdown vs alone | 1.00× | $(slow "$e_loop") | $(slow "$z_loop") | $(slow "$b_loop") | $(ratio "$e_loop" "$b_loop") |"
echo "| events delivered | — | $e_del | $z_del | $b_del | $(ratio "$e_del" "$b_del") |"
echo "| events missing (N − delivered) | — | $(( N - e_worst )) | $(( N - z_worst )) | $(( N - b_worst )) | — |"
echo "| events lost as reported by the tracer | — | $e_wrep | $z_wrep | $b_wrep | — |"
echo "| delivery window ms | — | $(ms "$e_win") | $(ms "$z_win") | $(ms "$b_win") | $(ratio "$e_win" "$b_win") |"
echo "| backlog after loop end ms | — | $(ms $(( e_win - e_loop ))) | $(ms $(( z_win - z_loop ))) | $(ms $(( b_win - b_loop ))) | — |"
echo "| delivered events/s | $(rate "$N" "$a_loop") calls/s | $e_rate | $z_rate | $b_rate | $(ratio "$e_rate" "$b_rate") |"
echo "| tracer peak RSS MiB | — | $(mib "$e_rss") | $(mib "$z_rss") | $(mib "$b_rss") | $(ratio "$e_rss" "$b_rss") |"
echo "| tracer RSS at end MiB | — | $(mib "$e_end") | $(mib "$z_end") | — | — |"
echo
echo "coalesce=0: ebpf.run{coalesce = 0}, the event loop reading each ring buffer wakeup at once."
echo "ebpfrun's RSS counts its ring buffer twice ($(( 2 * RINGBUF_MIB )) MiB: the kernel maps the data area twice so that"
echo "records can wrap); the compile before it peaks at ~100 MiB (the pid filter is compiled into the"
echo "program, so each new pid is a new object). The one-liner rows below show a cache hit without a ring buffer."
echo
echo "One-liner start to exit (100 ms of tracing), median of $RUNS runs; peak RSS: max of the runs."
echo
echo "| measure | ebpfrun | bpftrace | ebpfrun / bpftrace |"
echo "|---|---:|---:|---:|"
echo "| start to exit ms, empty cache | $cold_ms | $bt_ms | $(ratio "$cold_ms" "$bt_ms") |"
echo "| start to exit ms, cached | $hit_ms | $bt_ms | $(ratio "$hit_ms" "$bt_ms") |"
echo "| peak RSS MiB, empty cache | $cold_mib | $bt_mib | $(ratio "$cold_mib" "$bt_mib") |"
echo "| peak RSS MiB, cached | $hit_mib | $bt_mib | $(ratio "$hit_mib" "$bt_mib") |"
echo
awk -v e="$e_rate" -v b="$b_rate" -v lost="$(( N - e_worst + e_wrep ))" 'BEGIN {
  printf "target: ebpfrun delivers >= 10x bpftrace with 0 lost: %s (%.1fx, %d lost)\n",
    (e >= 10 * b && lost == 0 ? "met" : "MISSED"), e / b, lost }'
