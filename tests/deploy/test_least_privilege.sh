#!/usr/bin/env bash
# The capability set the deployment files grant (the systemd unit's
# AmbientCapabilities=, which check_kubernetes.py ties to the DaemonSet) is
# the measured minimum on this kernel: as uid 65534 with exactly that set, the
# six collectors together (scripts/collectors.lua) compile, load, attach and
# print their tables; without any single capability of the set, they do not.
# Usage: test_least_privilege.sh EBPFRUN SOURCE_DIR
set -uo pipefail
EBPFRUN=$1
SRC=$2
WORKLOAD=$3
if [ "$(id -u)" != 0 ]; then
  if [ "${CI:-}" = true ]; then echo "FAILED: setpriv needs root and CI=true forbids skipping"; exit 1; fi
  echo "skipped: switching uid and granting capabilities with setpriv needs root"
  exit 77
fi

caps=$(sed -n 's/^AmbientCapabilities=//p' "$SRC/deploy/systemd/ebpfrun-agent.service.in" | tr 'A-Z' 'a-z' | sed 's/cap_//g')
[ -n "$caps" ] || { echo "FAILED: no AmbientCapabilities= in the unit"; exit 1; }
read -r -a set_caps <<<"$caps"
echo "measured set from the unit: ${set_caps[*]}"

work=$(mktemp -d "/tmp/ebpfrun-deploy-caps.$$.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/cache"
chown -R 65534:65534 "$work"
chmod 755 "$work"

failed=0
run() {  # caps... -> exit status of collectors.lua run as uid 65534 with exactly these
  local set="-all" cap
  for cap in "$@"; do set+=",+$cap"; done
  (cd "$work" && timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups \
    --inh-caps="$set" --ambient-caps="$set" --bounding-set="$set" \
    env XDG_CACHE_HOME="$work/cache" EBPFRUN_COMPILER_LIB="${EBPFRUN_COMPILER_LIB:-}" \
    "$EBPFRUN" "$SRC/scripts/collectors.lua" --duration 2 --interval 2) >"$work/out" 2>"$work/err"
}

run "${set_caps[@]}"
rc=$?
missing=""
for name in syscalls network fileio scheduler memory tcpstate; do
  grep -qE "^[0-9:]+ $name\$" "$work/out" || missing+=" $name"
done
if [ "$rc" = 0 ] && [ -z "$missing" ] && ! grep -q disabled "$work/err"; then
  echo "ok      uid 65534 with {${set_caps[*]}}: all six collectors ran"
else
  echo "FAILED  uid 65534 with {${set_caps[*]}}: exit $rc, tables missing:${missing:- none}"
  sed 's/^/    err: /' "$work/err" | head -20
  failed=1
fi

for drop in "${set_caps[@]}"; do
  fewer=()
  for c in "${set_caps[@]}"; do [ "$c" = "$drop" ] || fewer+=("$c"); done
  run "${fewer[@]}"
  rc=$?
  if [ "$rc" != 0 ] || grep -q disabled "$work/err"; then
    echo "ok      without $drop: refused ($(grep -m1 -E 'disabled|error' "$work/err" | cut -c1-160))"
  else
    echo "FAILED  without $drop the collectors still run: the set is not minimal"
    failed=1
  fi
done
# The agent as uid 65534 with exactly the set, scraped over HTTP.
get() {  # URL -> body on stdout; fails on a non-2xx answer
  python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1" 2>/dev/null
}
N=29
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
set_list="-all"
for cap in "${set_caps[@]}"; do set_list+=",+$cap"; done
(cd "$work" && exec setpriv --reuid=65534 --regid=65534 --clear-groups \
  --inh-caps="$set_list" --ambient-caps="$set_list" --bounding-set="$set_list" \
  env XDG_CACHE_HOME="$work/cache" EBPFRUN_COMPILER_LIB="${EBPFRUN_COMPILER_LIB:-}" \
  "$EBPFRUN" agent --listen "127.0.0.1:$port" --interval 0.5 --collectors syscalls,fileio --comm wl_leastpriv \
  --scripts-dir "$SRC/scripts") >"$work/agent.log" 2>&1 &
agent=$!
trap 'kill "$agent" 2>/dev/null; wait "$agent" 2>/dev/null; rm -rf "$work"' EXIT
ready=""
for _ in $(seq 1 240); do
  if get "http://127.0.0.1:$port/-/ready" >/dev/null; then ready=1; break; fi
  kill -0 "$agent" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$ready" ]; then
  echo "FAILED  agent as uid 65534 with {${set_caps[*]}} never became ready"
  sed 's/^/    log: /' "$work/agent.log" | head -20
  get "http://127.0.0.1:$port/-/ready" | sed 's/^/    ready: /'
  exit 1
fi
touch "$work/file"
# A copy under its own name: other tests' workloads (comm "workload") may run
# at the same time, and the agent aggregates by comm.
cp "$WORKLOAD" "$work/wl_leastpriv"
"$work/wl_leastpriv" openat "$N" "$work/file" >/dev/null
got=""
for _ in $(seq 1 40); do
  got=$(get "http://127.0.0.1:$port/metrics" |
    sed -n 's/^ebpfrun_syscalls_total{comm="wl_leastpriv",syscall="openat"} //p')
  [ "$got" = "$N" ] && break
  sleep 0.5
done
uid=$(awk '/^Uid:/ {print $2}' "/proc/$agent/status")
capeff=$(awk '/^CapEff:/ {print $2}' "/proc/$agent/status")
declare -A cap_bit=([dac_read_search]=2 [net_admin]=12 [sys_ptrace]=19 [sys_admin]=21 [sys_resource]=24
                    [perfmon]=38 [bpf]=39)
allowed=0
for cap in "${set_caps[@]}"; do
  [ -n "${cap_bit[$cap]:-}" ] || { echo "FAILED  capability $cap has no bit number in this test"; exit 1; }
  allowed=$(( allowed | (1 << ${cap_bit[$cap]}) ))
done
allowed=$(printf '%016x' "$allowed")
if [ "$got" = "$N" ] && [ "$uid" = 65534 ]; then
  echo "ok      agent as uid 65534 with {${set_caps[*]}}: scraped openat count $got = N"
else
  echo "FAILED  agent as uid $uid with {${set_caps[*]}}: scraped openat count '${got}', want $N"
  sed 's/^/    log: /' "$work/agent.log" | head -20
  failed=1
fi
# CapEff must be within the granted set.
if (( (0x$capeff & ~0x$allowed) == 0 )); then
  echo "ok      agent's effective capabilities $capeff are within the granted set $allowed"
else
  echo "FAILED  agent's effective capabilities $capeff exceed the granted set $allowed"
  failed=1
fi
exit "$failed"
