#!/usr/bin/env bash
# Lists the system calls an ebpfrun command makes that systemd's
# @system-service set does not allow, i.e. what the unit's SystemCallFilter=
# must add. The command runs under `strace -f` (the compiler child included)
# as uid 65534 with the unit's capabilities and an empty compile cache, so a
# first start's compile is traced too.
#
#   deploy/measure-syscalls.sh UNIT EBPFRUN ARGS...
#   e.g. deploy/measure-syscalls.sh deploy/systemd/ebpfrun-agent.service.in \
#          build/ebpfrun scripts/collectors.lua --duration 2
#
# Give paths in ARGS as absolute paths (the command runs in a temporary
# directory). Prints one name per line (empty: @system-service suffices);
# exit 0, 1 when the command fails, 2 on a usage error. Needs root, strace
# and systemd-analyze.
set -uo pipefail
[ "$#" -ge 2 ] || { echo "usage: $0 UNIT EBPFRUN ARGS..." >&2; exit 2; }
UNIT=$1
shift
[ "$(id -u)" = 0 ] || { echo "$0: run as root (setpriv must switch to uid 65534)" >&2; exit 2; }

caps=$(sed -n 's/^AmbientCapabilities=//p' "$UNIT" | tr 'A-Z' 'a-z' | sed 's/cap_//g')
set="-all"
for cap in $caps; do set+=",+$cap"; done

work=$(mktemp -d "/tmp/ebpfrun-syscalls.$$.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/cache"
chown -R 65534:65534 "$work"
chmod 755 "$work"

# Every name in a systemd syscall group, groups expanded.
expand() {
  systemd-analyze syscall-filter "$1" | tail -n +2 | sed 's/#.*//; s/ //g' | grep -v '^$' |
    while read -r name; do
      case $name in @*) expand "$name" ;; *) echo "$name" ;; esac
    done
}
expand @system-service | sort -u >"$work/allowed"

# strace runs as root; setpriv below it drops to the uid, so the trace
# starts with setpriv's own calls (uid and capability changes), which
# are not the service's: only what follows the exec of ebpfrun counts.
exe=$(readlink -f "$1")
shift
(cd "$work" && strace -f -qq -o "$work/trace" \
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps="$set" --ambient-caps="$set" --bounding-set="$set" \
  env XDG_CACHE_HOME="$work/cache" EBPFRUN_COMPILER_LIB="${EBPFRUN_COMPILER_LIB:-}" "$exe" "$@" >"$work/out" 2>"$work/err") ||
  { echo "$0: the command failed:" >&2; tail -5 "$work/err" >&2; exit 1; }
awk -v exe="$exe" '
  !started && index($0, "execve(\"" exe "\"") { started = 1 }
  started { sub(/^[0-9]+ +/, ""); if (match($0, /^[a-z0-9_]+\(/)) print substr($0, 1, RLENGTH - 1) }
' "$work/trace" | sort -u >"$work/used"
comm -23 "$work/used" "$work/allowed"
