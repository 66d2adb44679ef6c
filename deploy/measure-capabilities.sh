#!/usr/bin/env bash
# Measures, on the running kernel, the smallest set of capabilities with which
# a non-root uid can run each collector script, and why each capability of
# that set is needed (the error a run without it prints).
#
#   deploy/measure-capabilities.sh [EBPFRUN] [SCRIPT.lua ...]
#
# EBPFRUN defaults to the ebpfrun on PATH; the scripts default to the shipped
# ones beside it (share/ebpfrun/scripts) or in the source tree. Run as root
# (setpriv needs it to change uid and grant capabilities). Each run is
#   setpriv --reuid=65534 --regid=65534 --clear-groups \
#     --inh-caps=-all,+SET --ambient-caps=-all,+SET --bounding-set=-all,+SET \
#     ebpfrun SCRIPT --duration 2
# with a compile cache the uid owns. A run counts as working when it exits 0
# and reports no error and no disabled collector. Starting from every
# candidate, each capability is removed in turn and stays removed when the
# script still works, so the result is a minimal set (CAP_SYS_ADMIN first: it
# covers CAP_BPF and CAP_PERFMON on its own). Output: one markdown row per
# script, as in docs/deployment.md.
set -uo pipefail

EBPFRUN=${1:-$(command -v ebpfrun)}
shift || true
[ -x "$EBPFRUN" ] || { echo "usage: $0 [EBPFRUN] [SCRIPT.lua ...]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: run as root (setpriv must switch to uid 65534 and grant capabilities)" >&2; exit 2; }
EBPFRUN=$(readlink -f "$EBPFRUN")
if [ "$#" -eq 0 ]; then
  dir=$(dirname "$EBPFRUN")
  for candidate in "$dir/../share/ebpfrun/scripts" "$dir/../scripts"; do
    [ -d "$candidate" ] && { scripts_dir=$(readlink -f "$candidate"); break; }
  done
  set -- "$scripts_dir"/{syscalls,network,fileio,scheduler,memory,tcpstate,collectors}.lua
fi

UID_RUN=65534
# Removal order: the broad capabilities first, so the minimum is found with
# the narrow ones.
CANDIDATES=(sys_admin sys_ptrace net_admin sys_resource dac_override dac_read_search perfmon bpf)

# A capability missing from this shell's own bounding set (a container may
# withhold CAP_SYS_RESOURCE, say) cannot be granted: it is left out and named,
# and everything measured works without it by construction.
available=()
for cap in "${CANDIDATES[@]}"; do
  if setpriv --inh-caps=-all,+"$cap" --ambient-caps=-all,+"$cap" true 2>/dev/null; then
    available+=("$cap")
  else
    echo "$0: CAP_${cap^^} is not in this shell's bounding set: not a candidate" >&2
  fi
done
CANDIDATES=("${available[@]}")

work=$(mktemp -d "/tmp/ebpfrun-capmeasure.$$.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/cache"
chown -R "$UID_RUN:$UID_RUN" "$work"
chmod 755 "$work"

# run SCRIPT CAPS... -> 0 when the script works with exactly CAPS; the first
# error line goes to $work/why.
run() {
  local script=$1
  shift
  local set="-all" cap
  for cap in "$@"; do set+=",+$cap"; done
  (cd "$work" && timeout 120 setpriv --reuid=$UID_RUN --regid=$UID_RUN --clear-groups \
    --inh-caps="$set" --ambient-caps="$set" --bounding-set="$set" \
    env -u EBPFRUN_BPF_DIR XDG_CACHE_HOME="$work/cache" ${EBPFRUN_COMPILER_LIB:+EBPFRUN_COMPILER_LIB="$EBPFRUN_COMPILER_LIB"} \
    "$EBPFRUN" "$script" --duration 2 >"$work/out" 2>"$work/err")
  local rc=$?
  if [ "$rc" = 0 ] && ! grep -qiE "disabled|error" "$work/err"; then
    return 0
  fi
  { grep -m1 -E "disabled|rror|denied|not permitted|EPERM|EACCES" "$work/err" || head -n1 "$work/err" || echo "exit $rc"; } |
    tr '|' '/' | cut -c1-300 >"$work/why"
  [ -s "$work/why" ] || echo "exit $rc, no output" >"$work/why"
  return 1
}

echo "| script | minimal capabilities | without each of them |"
echo "|---|---|---|"
for script in "$@"; do
  name=$(basename "$script")
  if ! run "$script" "${CANDIDATES[@]}"; then
    echo "| $name | fails with every candidate | $(cat "$work/why") |"
    continue
  fi
  set_now=("${CANDIDATES[@]}")
  for cap in "${CANDIDATES[@]}"; do
    trial=()
    for c in "${set_now[@]}"; do [ "$c" = "$cap" ] || trial+=("$c"); done
    run "$script" "${trial[@]}" && set_now=("${trial[@]}")
  done
  reasons=""
  for cap in "${set_now[@]}"; do
    trial=()
    for c in "${set_now[@]}"; do [ "$c" = "$cap" ] || trial+=("$c"); done
    if run "$script" "${trial[@]}"; then
      reasons+="without $cap: works (not minimal?); "
    else
      reasons+="without $cap: $(cat "$work/why"); "
    fi
  done
  caps=$(printf 'CAP_%s ' "${set_now[@]}" | tr '[:lower:]' '[:upper:]')
  echo "| $name | ${caps% } | ${reasons%; } |"
done
