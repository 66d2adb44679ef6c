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
exit "$failed"
