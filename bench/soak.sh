#!/usr/bin/env bash
# bench/soak: the six collectors for a long run under load; their memory and
# file descriptors must stay flat and their maps must not fill up.
#
# Runs `ebpfrun scripts/collectors.lua --duration D` (D = the first argument in
# seconds, default 600) while two loads run next to it:
#   - process churn: a loop that spawns short-lived processes (/bin/true) as
#     fast as it can, so that per-process map entries come and go;
#   - a syscall storm: bench/events/producer.c calling getppid() in a tight loop
#     (bench/events.sh measured ~1 M/s traced by one consumer; the rate reached
#     here is printed), restarted in rounds of ROUND calls.
# Every 10 s (INTERVAL) it samples the ebpfrun process: RSS (VmRSS), open file
# descriptors and the number of BPF maps it holds; every 60 s (FILL_EVERY)
# also the fill of its hash maps (entries / max_entries, counted from
# `bpftool map dump` in the background, since that takes seconds for full maps
# on a busy machine), the fullest one named.
# At the end it prints the sample table, the final fill of every hash map, the
# drops and full-map reports ebpfrun printed, the processes spawned and the
# syscall rate, and a verdict line: RSS growth from the first sample after a
# warm-up (WARMUP, default 30 s: the collectors print their tables every
# REPORT_INTERVAL = 10 s, and the first ones grow Lua's heap to its working
# size) to the last sample. The run counts as flat when RSS grew by less than
# MAX_GROWTH_KIB (default 4096) and the fd count did not change; the script
# then exits 0, else 1.
# Needs root, bpftool, jq, gcc. Leaves nothing loaded or running.
# Usage: bench/soak.sh [SECONDS] [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${1:-600}
BUILD=${2:-$ROOT/build}
INTERVAL=${INTERVAL:-10}
ROUND=${ROUND:-1000000}
FILL_EVERY=${FILL_EVERY:-60}
WARMUP=${WARMUP:-30}
# How often the collectors print their tables (and so read all their maps into
# Lua): often, so that the Lua heap reaches its working size within the warm-up.
REPORT_INTERVAL=${REPORT_INTERVAL:-10}
MAX_GROWTH_KIB=${MAX_GROWTH_KIB:-4096}
EBPFRUN=$BUILD/ebpfrun

[ "$(id -u)" = 0 ] || { echo "soak: needs root" >&2; exit 1; }
for tool in bpftool jq gcc; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is missing (./setup.sh deps)" >&2; exit 1; }
done
[ -x "$EBPFRUN" ] || { echo "soak: $EBPFRUN is not built (./setup.sh build)" >&2; exit 1; }
export EBPFRUN_COMPILER_LIB=${EBPFRUN_COMPILER_LIB:-$BUILD/libebpfrun-clang.so}

WORK=$(mktemp -d /tmp/ebpfrun-soak.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # A producer of the storm may be left waiting for its start signal.
  [ -s "$WORK/producer.pid" ] && kill "$(cat "$WORK/producer.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "${SOAK_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

gcc -O2 -Wall -o "$WORK/producer" "$ROOT/bench/events/producer.c"

# The churn loop counts its processes in a file every 1000 spawns.
churn() {
  local n=0
  while :; do
    /bin/true
    n=$((n + 1))
    if [ $((n % 1000)) = 0 ]; then echo "$n" >"$WORK/churn.count"; fi
  done
}

# The syscall storm: rounds of ROUND getppid() calls; each round appends
# "<start ns> <end ns> <calls>" to storm.out.
storm() {
  local p
  while :; do
    "$WORK/producer" "$ROUND" >"$WORK/round.out" &
    p=$!
    echo "$p" >"$WORK/producer.pid"
    until grep -q '^ready$' "$WORK/round.out" 2>/dev/null; do sleep 0.01; done
    kill -USR1 "$p"
    wait "$p" || true
    tail -n1 "$WORK/round.out" >>"$WORK/storm.out"
  done
}

# The load starts once the collectors are attached; --duration counts from
# the attach, so the loaded time of the run is DURATION seconds.
"$EBPFRUN" "$ROOT/scripts/collectors.lua" --duration "$DURATION" --interval "$REPORT_INTERVAL" >"$WORK/ebpfrun.out" 2>"$WORK/ebpfrun.err" &
EBPF_PID=$!
PIDS+=("$EBPF_PID")

# The ebpfrun process's BPF maps: "id type max_entries" from its fdinfo (one
# grep and one awk for all fds: this runs every sample, on a loaded machine).
own_maps() {
  grep -H -E '^(map_type|max_entries|map_id):' /proc/"$EBPF_PID"/fdinfo/* 2>/dev/null |
    awk -F: '{ gsub(/[ \t]/, "", $3); v[$1 SUBSEP $2] = $3; f[$1] = 1 }
             END { for (k in f) if ((k SUBSEP "map_id") in v) print v[k SUBSEP "map_id"], v[k SUBSEP "map_type"], v[k SUBSEP "max_entries"] }' |
    sort -un || true
}

# Waits until the collectors are loaded: the map count is stable for 10 s
# (a cold object cache compiles each collector first: minutes on a busy machine).
last=-1 stable=0
for _ in $(seq 1 1200); do
  kill -0 "$EBPF_PID" 2>/dev/null || { cat "$WORK/ebpfrun.err" >&2; echo "soak: ebpfrun exited early" >&2; exit 1; }
  count=$(own_maps | wc -l)
  if [ "$count" -gt 0 ] && [ "$count" = "$last" ]; then stable=$((stable + 1)); else stable=0; fi
  last=$count
  [ "$stable" -ge 20 ] && break
  sleep 0.5
done
[ "$stable" -ge 20 ] || { echo "soak: the collectors did not finish loading in 10 minutes" >&2; exit 1; }
START=$SECONDS

churn &
PIDS+=("$!")
storm &
PIDS+=("$!")

# Hash map types (hash, percpu hash, LRU hash, LRU percpu hash): arrays are
# always "full", so only these say something about entries piling up.
is_hash() { case $1 in 1 | 5 | 9 | 10) return 0 ;; *) return 1 ;; esac; }

# One line per hash map: "name entries max_entries".
map_fill() {
  local id type max name entries
  while read -r id type max; do
    is_hash "$type" || continue
    # The map may be gone by now (ebpfrun exiting): never abort the report.
    name=$(bpftool -j map show id "$id" 2>/dev/null | jq -r '.name // "?"' 2>/dev/null) || name="?"
    # One raw hex key array per entry; counting them with grep is much
    # cheaper than parsing megabytes of JSON.
    entries=$({ bpftool -j map dump id "$id" 2>/dev/null || true; } | { grep -o '"key":\["0x' || true; } | wc -l)
    echo "$name $entries $max"
  done < <(own_maps)
}

printf '%6s %9s %5s %5s %10s %s\n' "t_s" "rss_kib" "fds" "maps" "entries" "fullest hash map (entries/max)" | tee "$WORK/table"
FIRST_RSS="" FIRST_FDS="" LAST_RSS="" LAST_FDS="" LAST_FILL=-$FILL_EVERY
while kill -0 "$EBPF_PID" 2>/dev/null; do
  sample_start=$SECONDS
  rss=$(awk '/^VmRSS:/ {print $2}' /proc/"$EBPF_PID"/status 2>/dev/null || true)
  [ -n "$rss" ] || break
  fds=$(ls /proc/"$EBPF_PID"/fd 2>/dev/null | wc -l) || break
  maps=$(own_maps | wc -l) || break
  # No maps left: ebpfrun is detaching at the end of its run.
  [ "$maps" -gt 0 ] || break
  now=$((SECONDS - START))
  total="-" fullest=""
  # Map fill runs in the background (dumping full maps takes long on a busy
  # machine) and is shown on the first sample after it completes.
  if [ ! -e "$WORK/fill.running" ] && [ $((now - LAST_FILL)) -ge "$FILL_EVERY" ]; then
    LAST_FILL=$now
    touch "$WORK/fill.running"
    (
      map_fill >"$WORK/fill.new"
      mv "$WORK/fill.new" "$WORK/fill.last"
      touch "$WORK/fill.done"
      rm -f "$WORK/fill.running"
    ) &
    PIDS+=("$!")
  fi
  if [ -e "$WORK/fill.done" ]; then
    rm -f "$WORK/fill.done"
    total=$(awk '$2 ~ /^[0-9]+$/ {s += $2} END {print s + 0}' "$WORK/fill.last")
    fullest=$(awk '$2 ~ /^[0-9]+$/ && $3 > 0 {printf "%.6f %s %d/%d\n", $2 / $3, $1, $2, $3}' "$WORK/fill.last" |
      sort -rn | head -1 | cut -d' ' -f2-)
  fi
  printf '%6d %9d %5d %5d %10s %s\n' "$now" "$rss" "$fds" "$maps" "$total" "$fullest" | tee -a "$WORK/table"
  [ -n "$FIRST_RSS" ] || [ "$now" -lt "$WARMUP" ] || { FIRST_RSS=$rss FIRST_FDS=$fds FIRST_T=$now; }
  LAST_RSS=$rss LAST_FDS=$fds
  rest=$((INTERVAL - (SECONDS - sample_start)))
  [ "$rest" -le 0 ] || sleep "$rest"
done
status=0
wait "$EBPF_PID" || status=$?
RAN=$((SECONDS - START))

echo
echo "hash maps at the last completed fill count (name entries max_entries):"
sed 's/^/  /' "$WORK/fill.last" 2>/dev/null || true
echo "ebpfrun exit status: $status"
echo "drops and full-map reports from ebpfrun (stderr):"
grep -iE 'drop|lost|full' "$WORK/ebpfrun.err" | sed 's/^/  /' || echo "  none"
spawned=$(cat "$WORK/churn.count" 2>/dev/null || echo 0)
# Calls and loop time of the finished rounds (ns totals exceed 32 bits: %.0f).
read -r calls rate < <(awk '{c += $3; t += $2 - $1} END {printf "%.0f %.0f\n", c, (t > 0 ? c / (t / 1e9) : 0)}' \
  "$WORK/storm.out" 2>/dev/null || echo "0 0")
echo "load: ${spawned} processes spawned, ${calls} getppid calls at ${rate}/s while in the loop, over ${RAN} s"

[ -n "$FIRST_RSS" ] || { echo "soak: no sample was taken after the ${WARMUP} s warm-up" >&2; exit 1; }
growth=$((LAST_RSS - FIRST_RSS))
pct=$(awk -v g="$growth" -v f="$FIRST_RSS" 'BEGIN {printf "%.1f", 100 * g / f}')
verdict=flat
if [ "$growth" -ge "$MAX_GROWTH_KIB" ] || [ "$LAST_FDS" != "$FIRST_FDS" ] || [ "$status" != 0 ]; then verdict="NOT flat"; fi
echo "verdict: RSS ${FIRST_RSS} -> ${LAST_RSS} KiB (${growth} KiB, ${pct}%), fds ${FIRST_FDS} -> ${LAST_FDS} from ${FIRST_T} s to the end of a ${RAN} s run: ${verdict}"
[ "$verdict" = flat ]
