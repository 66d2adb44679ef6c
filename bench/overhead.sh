#!/usr/bin/env bash
# bench/overhead: what each collector (scripts/NAME.lua) costs, side by side
# with a bpftrace program that counts the same events on the same tracepoints.
#
# Each collector gets a fixed workload (tests/data/workload/workload.c built
# gcc -O2 -static, and a small helper written here for what it has no mode for):
#   syscalls   workload openat: SYSCALL_OPENS (default 200,000) openat+close of one file
#   network    a local echo server (workload listen) and one connection echoing
#              NET_MIB (default 32) MiB in 4 KiB writes (workload send), then
#              NET_CONNECTS (default 1,000) connections opened and closed (helper
#              connects: each waits for the server's close, see helper.c below)
#   fileio     workload write: FILEIO_MIB (default 256) MiB in 4 KiB writes to a
#              file in /dev/shm
#   scheduler  helper pingpong: PINGPONG (default 100,000) one-byte round trips
#              over two pipes between two processes pinned to one CPU
#   memory     workload faults: MEMORY_PAGES (default 131,072) fresh anonymous pages
#   tcpstate   TCP_CONNECTS (default 4,000) connections to the local echo server
#              (helper connects)
# It runs ROUNDS times (default 3) each way, interleaved so that noise from
# other load hits all alike: alone; under the collector (ebpfrun
# scripts/NAME.lua, system-wide, no filter); under the bpftrace program. With
# a tracer attached the workload runs twice: first with kernel BPF statistics
# off (timed: the slowdown, median of the rounds, against the median of the
# runs alone), then with kernel.bpf_stats_enabled=1 (the programs' run_cnt and
# run_time_ns before and after it, read from the tracer's own program fds).
# ns/event = run time / run count of each program over those runs, summed over
# the rounds. Events of other processes that happen meanwhile count too, for
# both tracers alike. The bpftrace program only counts (or sums) per key: the
# collectors also time, attribute and keep state, so the ratio is what that
# extra work costs. ebpfrun uses tp_btf (raw tracepoints) where the collector
# does (scheduler); bpftrace uses the classic tracepoint, whose record the
# kernel builds before the program runs (outside run_time_ns, inside the
# slowdown).
# The floor: an empty bpftrace program on raw_syscalls:sys_enter during the
# syscalls workload, i.e. what the measurement itself reads for a program that
# does nothing (the stats' own clock reads, the call into the program).
# A collector that is missing or fails to start gets a row saying so.
# Needs root, bpftrace, bpftool, gcc, ss, taskset. Leaves no program loaded,
# no process running, kernel.bpf_stats_enabled as it was.
# Attach paths (docs/collectors.md#attach-paths): ATTACH_PATHS="fentry tracepoint"
# measures each collector once per path (EBPFRUN_ATTACH_PATH), as rows
# "network [fentry]" and "network [tracepoint]" of the same run; tcpclose (the
# tcpstate workload: its accepts take either path) can be listed in
# COLLECTORS too. BPFTRACE=0 leaves the bpftrace runs out (a kernel without
# the tracepoints they use: 6.1 has no sock_send_length).
# Usage: bench/overhead.sh [BUILD_DIR]   (COLLECTORS="syscalls memory" for a subset)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
ROUNDS=${ROUNDS:-3}
COLLECTORS=${COLLECTORS:-syscalls network fileio scheduler memory tcpstate}
SYSCALL_OPENS=${SYSCALL_OPENS:-200000}
NET_MIB=${NET_MIB:-32}
NET_CONNECTS=${NET_CONNECTS:-1000}
FILEIO_MIB=${FILEIO_MIB:-256}
PINGPONG=${PINGPONG:-100000}
MEMORY_PAGES=${MEMORY_PAGES:-131072}
TCP_CONNECTS=${TCP_CONNECTS:-4000}
EBPFRUN=$BUILD/ebpfrun
ATTACH_PATHS=${ATTACH_PATHS:-}
ATTACH_PATH=
WITH_BPFTRACE=${BPFTRACE:-1}
STATS=/proc/sys/kernel/bpf_stats_enabled

[[ $EUID -eq 0 ]] || { echo "bench/overhead.sh loads BPF programs: run it as root" >&2; exit 1; }
for tool in bpftrace bpftool gcc ss taskset; do
  command -v "$tool" >/dev/null || { echo "bench/overhead.sh needs $tool (./setup.sh deps)" >&2; exit 1; }
done
[[ -x $EBPFRUN ]] || { echo "no $EBPFRUN: build it first (make -C $BUILD ebpfrun)" >&2; exit 1; }

declare -A TARGET=([syscalls]=50 [network]=100 [fileio]=80 [scheduler]=60 [memory]=30 [tcpstate]=40 [tcpclose]=40)
FILEIO_CALLS="read pread64 readv preadv preadv2 write pwrite64 writev pwritev pwritev2"
fileio_probes() { local c out=""; for c in $FILEIO_CALLS; do out+="${out:+,}tracepoint:syscalls:$1_$c"; done; echo "$out"; }
# The bpftrace programs: the collector's tracepoints, each counting per key.
declare -A BPFTRACE=(
  [floor]='tracepoint:raw_syscalls:sys_enter { }'
  [syscalls]='tracepoint:raw_syscalls:sys_enter { @[comm, args->id] = count(); }
              tracepoint:raw_syscalls:sys_exit { @exit[comm, args->id] = count(); }'
  [network]='tracepoint:sock:sock_send_length { @tx[pid, comm, args->protocol] = sum(args->ret); }
             tracepoint:sock:sock_recv_length { @rx[pid, comm, args->protocol] = sum(args->ret); }
             tracepoint:sock:inet_sock_set_state { @state[args->oldstate, args->newstate] = count(); }
             tracepoint:tcp:tcp_retransmit_skb { @retransmits[comm] = count(); }'
  [fileio]="$(fileio_probes sys_enter) { @calls[comm, probe] = count(); }
            $(fileio_probes sys_exit) { @bytes[comm, probe] = sum(args->ret); }"
  [scheduler]='tracepoint:sched:sched_switch { @[comm] = count(); }
               tracepoint:sched:sched_wakeup { @wakeups[args->comm] = count(); }
               tracepoint:sched:sched_wakeup_new { @new[args->comm] = count(); }
               tracepoint:sched:sched_process_exit { @exits[comm] = count(); }'
  [memory]='tracepoint:exceptions:page_fault_user { @[comm] = count(); }
            tracepoint:exceptions:page_fault_kernel { @kernel[comm] = count(); }
            tracepoint:kmem:rss_stat { @rss[pid, args->member] = max(args->size); }
            tracepoint:oom:mark_victim { @oom[args->pid] = count(); }'
  [tcpstate]='tracepoint:sock:inet_sock_set_state { @[args->oldstate, args->newstate] = count(); }
              tracepoint:syscalls:sys_exit_accept4,tracepoint:syscalls:sys_exit_accept { @accepts[comm] = count(); }'
)
BPFTRACE[tcpclose]=${BPFTRACE[tcpstate]}

WORK=$(mktemp -d)
SHM_DIR=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
BACKGROUND=()   # pids this script started and has not reaped yet
SEEN_PROGS=()   # ids of every tracer program seen, checked at exit
MOUNTED_TRACEFS=
ORIGINAL_STATS=$(cat "$STATS")
# tree PID: PID and its descendants.
tree() {
  local pid
  echo "$1"
  for pid in $(pgrep -P "$1" 2>/dev/null); do tree "$pid"; done
}
kill_tree() {  # kill_tree PID SIGNAL
  local pid
  for pid in $(tree "$1"); do kill "-$2" "$pid" 2>/dev/null || true; done
}
cleanup() {
  local pid left=()
  for pid in "${BACKGROUND[@]}"; do kill_tree "$pid" KILL; done
  for pid in "${BACKGROUND[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "$ORIGINAL_STATS" >"$STATS"
  for pid in "${SEEN_PROGS[@]}"; do bpftool prog show id "$pid" >/dev/null 2>&1 && left+=("$pid"); done
  if (( ${#left[@]} )); then echo "bench/overhead.sh: programs still loaded: ${left[*]}" >&2; fi
  if [[ -n $MOUNTED_TRACEFS ]]; then umount /sys/kernel/tracing 2>/dev/null || true; fi
  rm -rf "$WORK" "$SHM_DIR"
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
echo 0 >"$STATS"

gcc -O2 -static -o "$WORK/workload" "$ROOT/tests/data/workload/workload.c" -lpthread
cat >"$WORK/helper.c" <<'EOF'
/* helper pingpong N: N one-byte round trips between two processes over two pipes.
 * helper connects PORT K: K TCP connections to 127.0.0.1:PORT, one after the
 * other, each shut down for writing and read until the peer closes it. Waiting
 * for the peer keeps a listener that accepts one connection at a time (workload
 * listen) in step: `workload connect` outruns it, overflows its accept queue and
 * stalls for a second per dropped SYN or ACK. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
static int pingpong(long n) {
  int there[2], back[2], status;
  char c = 0;
  if (pipe(there) || pipe(back)) return 1;
  pid_t child = fork();
  if (child == 0) {
    for (long i = 0; i < n; i++)
      if (read(there[0], &c, 1) != 1 || write(back[1], &c, 1) != 1) _exit(1);
    _exit(0);
  }
  for (long i = 0; i < n; i++)
    if (write(there[1], &c, 1) != 1 || read(back[0], &c, 1) != 1) return 1;
  waitpid(child, &status, 0);
  return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
static int connects(long port, long k) {
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char buf[64];
  for (long i = 0; i < k; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) != 0 || shutdown(s, SHUT_WR) != 0) return 1;
    while (read(s, buf, sizeof buf) > 0) {}
    close(s);
  }
  return 0;
}
int main(int argc, char **argv) {
  if (argc > 2 && !strcmp(argv[1], "pingpong")) return pingpong(atol(argv[2]));
  if (argc > 3 && !strcmp(argv[1], "connects")) return connects(atol(argv[2]), atol(argv[3]));
  return 2;
}
EOF
gcc -O2 -static -o "$WORK/helper" "$WORK/helper.c"
WL=$WORK/workload
export XDG_CACHE_HOME=$WORK/cache
now_us() { echo "${EPOCHREALTIME/./}"; }

# --- workloads: each runs its fixed amount of work, sets ELAPSED_US ---------
# A local TCP listener (workload listen PORT K) on a free port outside the
# ephemeral range; sets PORT and LISTENER.
start_listener() {
  local deadline=$(( $(date +%s) + 10 ))
  for (( ;; )); do
    PORT=$(( 20000 + RANDOM % 10000 ))
    [[ -z $(ss -Hltn "sport = :$PORT") ]] && break
  done
  "$WL" listen "$PORT" "$1" >/dev/null &
  LISTENER=$!
  BACKGROUND+=("$LISTENER")
  until [[ -n $(ss -Hltn "sport = :$PORT") ]]; do
    kill -0 "$LISTENER" 2>/dev/null || { echo "the listener exited early" >&2; return 1; }
    (( $(date +%s) < deadline )) || { echo "the listener did not listen within 10 s" >&2; return 1; }
    sleep 0.01
  done
}
finish_listener() {
  wait "$LISTENER" || { forget "$LISTENER"; echo "the listener failed" >&2; return 1; }
  forget "$LISTENER"
}
work_syscalls() {
  local start
  : >"$WORK/file"
  start=$(now_us)
  "$WL" openat "$SYSCALL_OPENS" "$WORK/file" >/dev/null || return 1
  ELAPSED_US=$(( $(now_us) - start ))
}
work_network() {
  local start
  start_listener $(( NET_CONNECTS + 1 )) || return 1
  start=$(now_us)
  "$WL" send "$PORT" $(( NET_MIB << 20 )) >/dev/null || return 1
  "$WORK/helper" connects "$PORT" "$NET_CONNECTS" || return 1
  ELAPSED_US=$(( $(now_us) - start ))
  finish_listener
}
work_fileio() {
  local start
  start=$(now_us)
  "$WL" write $(( FILEIO_MIB << 20 )) "$SHM_DIR/file" >/dev/null || return 1
  ELAPSED_US=$(( $(now_us) - start ))
  rm -f "$SHM_DIR/file"
}
work_scheduler() {
  local start
  start=$(now_us)
  taskset -c 0 "$WORK/helper" pingpong "$PINGPONG" || return 1
  ELAPSED_US=$(( $(now_us) - start ))
}
work_memory() {
  local start
  start=$(now_us)
  "$WL" faults "$MEMORY_PAGES" >/dev/null || return 1
  ELAPSED_US=$(( $(now_us) - start ))
}
work_tcpstate() {
  local start
  start_listener "$TCP_CONNECTS" || return 1
  start=$(now_us)
  "$WORK/helper" connects "$PORT" "$TCP_CONNECTS" || return 1
  ELAPSED_US=$(( $(now_us) - start ))
  finish_listener
}
work_tcpclose() { work_tcpstate; }
describe_work() {
  case $1 in
    tcpclose) describe_work tcpstate ;;
    syscalls) echo "$SYSCALL_OPENS openat+close" ;;
    network) echo "$NET_MIB MiB TCP echo + $NET_CONNECTS connects" ;;
    fileio) echo "$FILEIO_MIB MiB in 4 KiB writes" ;;
    scheduler) echo "$PINGPONG pipe round trips on 1 CPU" ;;
    memory) echo "$MEMORY_PAGES page faults" ;;
    tcpstate) echo "$TCP_CONNECTS TCP connects" ;;
  esac
}

# --- the tracer's programs, from its processes' fds --------------------------
# prog_stats PID...: "prog_id run_time_ns run_cnt" for every program fd.
# fdinfo_of KIND PID...: the fdinfo files of the processes' bpf-prog or bpf_link fds.
fdinfo_of() {
  local kind=$1 pid
  shift
  for pid in "$@"; do
    find "/proc/$pid/fd" -lname "anon_inode:$kind" -printf "/proc/$pid/fdinfo/%f\n" 2>/dev/null || true
  done
}
prog_stats() {
  local files
  mapfile -t files < <(fdinfo_of bpf-prog "$@")
  (( ${#files[@]} )) || return 0
  awk '/^prog_id:/ { id[FILENAME] = $2 } /^run_time_ns:/ { t[FILENAME] = $2 } /^run_cnt:/ { c[FILENAME] = $2 }
       END { for (f in id) if (!(id[f] in seen)) { seen[id[f]] = 1; print id[f], t[f] + 0, c[f] + 0 } }' \
    "${files[@]}" 2>/dev/null | sort -n
}
# attachments PID...: "prog_id tracepoint" for every program attached by these
# processes: through a perf event (bpftool perf list) or a raw tracepoint link.
attachments() {
  local files
  bpftool perf list 2>/dev/null | awk -v pids=" $* " '
    $1 == "pid" && index(pids, " " $2 " ") && $5 == "prog_id" && $7 == "tracepoint" { print $6, $8 }'
  mapfile -t files < <(fdinfo_of bpf_link "$@")
  (( ${#files[@]} )) || return 0
  awk '/^prog_id:/ { id[FILENAME] = $2 } /^tp_name:/ { tp[FILENAME] = $2 }
       END { for (f in tp) if (f in id) print id[f], tp[f] }' "${files[@]}" 2>/dev/null
}
# prog_names ID...: "prog_id name" (bpftool shows the full name from BTF).
prog_names() {
  bpftool prog show 2>/dev/null | awk -v ids=" $* " '
    /^[0-9]+:/ { id = $1; sub(":", "", id); if (index(ids, " " id " ")) for (i = 2; i < NF; i++) if ($i == "name") print id, $(i + 1) }'
}

# start_tracer KIND COLLECTOR: starts ebpfrun or bpftrace, waits until every
# program it loaded is attached; sets TRACER, PROG_IDS, and TP_OF / NAME_OF
# (by prog id). Returns 1 (reason in TRACER_ERROR) if it exits first.
declare -A TP_OF NAME_OF
start_tracer() {
  local kind=$1 name=$2 deadline=$(( $(date +%s) + 120 )) loaded attached stable=0 last=-1 pids
  if [[ $kind == ebpfrun ]]; then
    EBPFRUN_ATTACH_PATH=$ATTACH_PATH "$EBPFRUN" "$ROOT/scripts/$name.lua" --interval 3600 --json >"$WORK/tracer.out" 2>"$WORK/tracer.err" &
  else
    bpftrace -e "${BPFTRACE[$name]:-}" >"$WORK/tracer.out" 2>"$WORK/tracer.err" &
  fi
  TRACER=$!
  BACKGROUND+=("$TRACER")
  for (( ;; )); do
    if ! kill -0 "$TRACER" 2>/dev/null; then
      wait "$TRACER" 2>/dev/null || true
      forget "$TRACER"
      TRACER_ERROR=$(grep -v 'RLIMIT_MEMLOCK' "$WORK/tracer.err" | grep -m1 . || echo "exited before attaching")
      return 1
    fi
    pids=$(tree "$TRACER" | tr '\n' ' ')
    # shellcheck disable=SC2086
    loaded=$(prog_stats $pids | wc -l)
    # shellcheck disable=SC2086
    attached=$(attachments $pids | wc -l)
    # Attached once every loaded program is, or once the count has held for 1 s
    # (a program that is loaded but never attached).
    if (( attached > 0 && attached == last )); then stable=$(( stable + 1 )); else stable=0; fi
    last=$attached
    if (( loaded > 0 && attached >= loaded && stable >= 2 )) || (( attached > 0 && stable >= 10 )); then break; fi
    if (( $(date +%s) >= deadline )); then TRACER_ERROR="did not attach within 120 s"; stop_tracer; return 1; fi
    sleep 0.1
  done
  TRACER_PIDS=$pids
  TP_OF=(); NAME_OF=()
  local id tp nm
  # shellcheck disable=SC2086
  while read -r id tp; do TP_OF[$id]=$tp; done < <(attachments $TRACER_PIDS)
  # shellcheck disable=SC2086
  PROG_IDS=$(prog_stats $TRACER_PIDS | awk '{ print $1 }' | tr '\n' ' ')
  # shellcheck disable=SC2086
  while read -r id nm; do NAME_OF[$id]=$nm; done < <(prog_names $PROG_IDS)
  # shellcheck disable=SC2206
  SEEN_PROGS+=($PROG_IDS)
}
stop_tracer() {
  local i
  kill -INT "$TRACER" 2>/dev/null || true
  for (( i = 0; i < 100; i++ )); do kill -0 "$TRACER" 2>/dev/null || break; sleep 0.1; done
  kill_tree "$TRACER" KILL
  wait "$TRACER" 2>/dev/null || true
  forget "$TRACER"
}

# Per collector, summed over the rounds. Keys: "ebpfrun|NAME" for ebpfrun's
# programs (in load order, ORDER), "bpftrace|TRACEPOINT" for bpftrace's.
declare -A RUN_NS RUN_CNT TRACEPOINT_OF
ORDER=()
# measure KIND COLLECTOR: one round under one tracer; appends the timed run to
# TIMES_<KIND>. Returns 1 with FAILURE set when the tracer or workload fails.
measure() {
  local kind=$1 name=$2 id ns cnt key
  declare -A before_ns before_cnt
  if ! start_tracer "$kind" "$name"; then FAILURE="$kind: $TRACER_ERROR"; return 1; fi
  "work_$name" || { stop_tracer; FAILURE="the workload failed under $kind"; return 1; }
  if [[ $kind == ebpfrun ]]; then TIMES_EBPFRUN+=("$ELAPSED_US"); else TIMES_BPFTRACE+=("$ELAPSED_US"); fi
  echo 1 >"$STATS"
  # shellcheck disable=SC2086
  while read -r id ns cnt; do before_ns[$id]=$ns; before_cnt[$id]=$cnt; done < <(prog_stats $TRACER_PIDS)
  "work_$name" || { echo 0 >"$STATS"; stop_tracer; FAILURE="the workload failed under $kind"; return 1; }
  # shellcheck disable=SC2086
  while read -r id ns cnt; do
    [[ -n ${before_ns[$id]:-} ]] || continue
    if [[ $kind == ebpfrun ]]; then key="ebpfrun|${NAME_OF[$id]:-prog$id}"; else key="bpftrace|${TP_OF[$id]:-?}"; fi
    if [[ -z ${RUN_CNT[$key]:-} ]]; then
      RUN_NS[$key]=0; RUN_CNT[$key]=0
      if [[ $kind == ebpfrun ]]; then ORDER+=("${NAME_OF[$id]:-prog$id}"); fi
    fi
    RUN_NS[$key]=$(( RUN_NS[$key] + ns - before_ns[$id] ))
    RUN_CNT[$key]=$(( RUN_CNT[$key] + cnt - before_cnt[$id] ))
    if [[ $kind == ebpfrun ]]; then TRACEPOINT_OF[${NAME_OF[$id]:-prog$id}]=${TP_OF[$id]:-?}; fi
  done < <(prog_stats $TRACER_PIDS)
  echo 0 >"$STATS"
  stop_tracer
}

median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
per_event() { awk -v ns="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", ns / n; else print "—" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "—" || b == "—" || b == 0) print "—"; else printf "%.2f×", a / b }'; }
met() { awk -v v="$1" -v t="$2" 'BEGIN { if (v == "—" || t == "—") print "—"; else print (v <= t ? "yes" : "**no**") }'; }
slowdown() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "—"; else printf "%.2f×", a / b }'; }

ROWS=()
NOTES=()
IDLE=()
bench_collector() {
  local name=$1 target=${TARGET[$1]:-—} round key prog tp e_ns b_ns tot_ns=0 tot_cnt=0 bt_ns=0 bt_cnt=0 idle=()
  local a_med e_med b_med label="$name${ATTACH_PATH:+ [$ATTACH_PATH]}"
  RUN_NS=(); RUN_CNT=(); TRACEPOINT_OF=(); ORDER=()
  TIMES_ALONE=(); TIMES_EBPFRUN=(); TIMES_BPFTRACE=()
  if [[ ! -f $ROOT/scripts/$name.lua ]]; then
    ROWS+=("| $label | — (scripts/$name.lua does not exist) | — | $target | — | — | — | — | — |")
    return
  fi
  # Compiles the collector once into the cache, and checks that it runs.
  if ! EBPFRUN_ATTACH_PATH=$ATTACH_PATH timeout 300 "$EBPFRUN" "$ROOT/scripts/$name.lua" --duration 0.5 --json >/dev/null 2>"$WORK/warm.err"; then
    ROWS+=("| $label | — (fails: $(grep -m1 . "$WORK/warm.err" | tr '|' '/' | cut -c1-160)) | — | $target | — | — | — | — | — |")
    return
  fi
  echo "$label: $ROUNDS rounds of $(describe_work "$name") ..." >&2
  # One untimed run first: the first run of a workload pays for cold caches.
  "work_$name" || { ROWS+=("| $label | — (the workload failed) | — | $target | — | — | — | — | — |"); return; }
  for (( round = 0; round < ROUNDS; round++ )); do
    "work_$name" || { ROWS+=("| $label | — (the workload failed) | — | $target | — | — | — | — | — |"); return; }
    TIMES_ALONE+=("$ELAPSED_US")
    if ! measure ebpfrun "$name" || { (( WITH_BPFTRACE )) && ! measure bpftrace "$name"; }; then
      ROWS+=("| $label | — (${FAILURE//|//}) | — | $target | — | — | — | — | — |")
      return
    fi
  done
  a_med=$(median "${TIMES_ALONE[@]}"); e_med=$(median "${TIMES_EBPFRUN[@]}"); b_med=$(median "${TIMES_BPFTRACE[@]:-}")
  for prog in "${ORDER[@]}"; do
    key="ebpfrun|$prog"
    if (( RUN_CNT[$key] == 0 )); then idle+=("$prog"); continue; fi
    tp=${TRACEPOINT_OF[$prog]}
    e_ns=$(per_event "${RUN_NS[$key]}" "${RUN_CNT[$key]}")
    b_ns=$(per_event "${RUN_NS[bpftrace|$tp]:-0}" "${RUN_CNT[bpftrace|$tp]:-0}")
    tot_ns=$(( tot_ns + RUN_NS[$key] )); tot_cnt=$(( tot_cnt + RUN_CNT[$key] ))
    if [[ $b_ns != — ]]; then bt_ns=$(( bt_ns + RUN_NS[bpftrace|$tp] )); bt_cnt=$(( bt_cnt + RUN_CNT[bpftrace|$tp] )); fi
    ROWS+=("| $label | $prog ($tp) | $e_ns | $target | $(met "$e_ns" "$target") | $b_ns | $(ratio "$e_ns" "$b_ns") | $(slowdown "$e_med" "$a_med") | $(slowdown "$b_med" "$a_med") |")
  done
  e_ns=$(per_event "$tot_ns" "$tot_cnt"); b_ns=$(per_event "$bt_ns" "$bt_cnt")
  ROWS+=("| $label | *all programs* | $e_ns | $target | $(met "$e_ns" "$target") | $b_ns | $(ratio "$e_ns" "$b_ns") | $(slowdown "$e_med" "$a_med") | $(slowdown "$b_med" "$a_med") |")
  NOTES+=("| $label | $(describe_work "$name") | $(awk -v us="$a_med" 'BEGIN { printf "%.0f", us / 1000 }') | $(( tot_cnt / ROUNDS )) | $(( bt_cnt / ROUNDS )) |")
  if (( ${#idle[@]} )); then IDLE+=("$name: ${idle[*]}"); fi
}

# The floor: an empty program, measured like the others.
work_floor() { work_syscalls; }
FLOOR=—
RUN_NS=(); RUN_CNT=(); TIMES_BPFTRACE=()
echo "floor: an empty bpftrace program during $(describe_work syscalls) ..." >&2
if measure bpftrace floor; then FLOOR=$(per_event "${RUN_NS[bpftrace|sys_enter]:-0}" "${RUN_CNT[bpftrace|sys_enter]:-0}"); fi

# shellcheck disable=SC2086
for name in $COLLECTORS; do
  if [[ -z $ATTACH_PATHS ]]; then bench_collector "$name"; continue; fi
  for ATTACH_PATH in $ATTACH_PATHS; do bench_collector "$name"; done
  ATTACH_PATH=
done

echo "bench/overhead — $(uname -r), $(nproc) CPUs, $(bpftrace --version), $ROUNDS rounds"
echo
echo "In-kernel cost per event (run_time_ns / run_cnt with kernel.bpf_stats_enabled=1) of each collector"
echo "program that ran, next to the bpftrace program on the same tracepoint; the workload's slowdown"
echo "(median of $ROUNDS, stats off) with the tracer attached against the workload alone."
echo
echo "| collector | program (tracepoint) | ns/event (ebpfrun) | target | met? | bpftrace ns/event | ratio | workload slowdown ebpfrun | workload slowdown bpftrace |"
echo "|---|---|---:|---:|---|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "| collector | workload | alone ms (median) | ebpfrun program runs per workload | bpftrace program runs per workload |"
echo "|---|---|---:|---:|---:|"
if (( ${#NOTES[@]} )); then printf '%s\n' "${NOTES[@]}"; fi
echo
echo "ratio = ebpfrun / bpftrace on the same tracepoint; *all programs* = total run time / total runs."
echo "Floor: an empty program (bpftrace, raw_syscalls:sys_enter) reads $FLOOR ns/event on this machine: the"
echo "cost of calling a program plus the statistics' own clock reads, included in every figure above."
if (( ${#IDLE[@]} )); then
  echo "Programs that ran on no event during the workload (not in the table): $(printf '%s; ' "${IDLE[@]}")"
fi
echo "bpftrace programs:"
# shellcheck disable=SC2086
for name in $COLLECTORS; do
  if [[ -n ${BPFTRACE[$name]:-} ]]; then echo "  $name: $(tr -s ' \n' '  ' <<<"${BPFTRACE[$name]}")"; fi
done
