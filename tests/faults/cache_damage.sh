#!/usr/bin/env bash
# Fault tests of the compile cache (issue 12, item 3). Every case runs real
# compiles with the real backend against a cache of its own:
#   - each artefact kind (object entry, vmlinux.h, PCH) truncated or garbled:
#     the next compile succeeds and rebuilds it (checksum valid again);
#   - a read-only cache (empty or populated) and a full one (tiny tmpfs):
#     compiles succeed with exactly one warning, also over several compiles;
#   - --no-cache with a wrecked cache: succeeds, reads and writes nothing;
#   - 8 concurrent compiles on a cold cache: all succeed, none crashes;
#   - kill -9 during the first PCH build: the compile child dies with ebpfrun,
#     and after the next run no temporary file is left in the cache.
# Mounts happen in private mount namespaces (unshare -m), so nothing outlives
# a case. Usage: cache_damage.sh EBPFRUN SOURCE_DIR
set -u
EBPFRUN=$1
SRC=$2
PROBE=$SRC/examples/opens.bpf.c
if [ "$(id -u)" != 0 ]; then
  if [ "${CI:-}" = true ]; then echo "FAIL: needs root and CI=true forbids skipping"; exit 1; fi
  echo "skipped: needs root (mounts)"; exit 0
fi

WORK=$(mktemp -d /tmp/ebpfrun-cache-faults.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
failures=0
pass() { echo "ok   - $1"; }
fail() { echo "FAIL - $1"; failures=$((failures + 1)); }
nonce=0
# compile CACHE_HOME [extra args]: a compile that misses the object cache (a
# fresh -D each time), so that vmlinux.h and the PCH are needed.
compile() {
  local home=$1; shift
  nonce=$((nonce + 1))
  XDG_CACHE_HOME=$home "$EBPFRUN" "$@" compile "$PROBE" -D "EBPFRUN_FAULT_NONCE=$nonce$$" -o "$WORK/out.o" \
    >"$WORK/stdout" 2>"$WORK/stderr"
}
warnings() { grep -c "without the cache" "$WORK/stderr"; }
# The newest file of a kind: for object entries, the last compile's.
artefact() { find "$1/ebpfrun" -name "$2" -type f -printf '%T@ %p\n' | sort -rn | head -1 | cut -d' ' -f2-; }

# --- damaged artefacts ---------------------------------------------------------
home=$WORK/damage
compile "$home" || fail "cold compile: $(cat "$WORK/stderr")"
for kind in '*.entry' 'vmlinux.h' 'prelude-*.pch'; do
  for damage in truncate garble; do
    file=$(artefact "$home" "$kind")
    [ -n "$file" ] || { fail "$kind: not in the cache"; continue; }
    size=$(stat -c %s "$file")
    if [ $damage = truncate ]; then
      truncate -s $((size / 2)) "$file"
    else
      printf 'garbage garbage garbage' | dd of="$file" bs=1 seek=$((size / 2)) conv=notrunc status=none
    fi
    if [ "$kind" = '*.entry' ]; then
      # The damaged entry must be found by the same key: repeat that compile.
      XDG_CACHE_HOME=$home "$EBPFRUN" -v compile "$PROBE" -D "EBPFRUN_FAULT_NONCE=$nonce$$" -o "$WORK/out.o" \
        >"$WORK/stdout" 2>"$WORK/stderr"
    else
      compile "$home" -v
    fi
    status=$?
    if [ $status -ne 0 ]; then
      fail "$kind $damage: compile failed: $(head -5 "$WORK/stderr")"
    elif [ "$(warnings)" != 0 ]; then
      fail "$kind $damage: unexpected warning: $(cat "$WORK/stderr")"
    elif [ "$kind" = '*.entry' ] && ! grep -q "was corrupt" "$WORK/stderr"; then
      fail "$kind $damage: the corrupt entry was not detected"
    else
      pass "$kind $damage: detected and rebuilt"
    fi
    # The rebuilt artefact is whole again, and the next compile takes it as is.
    compile "$home" -v || fail "$kind $damage: compile after the rebuild failed"
    if [ "$kind" = 'prelude-*.pch' ] && grep -q "built precompiled header" "$WORK/stderr"; then
      fail "$kind $damage: the rebuilt PCH was not reused"
    fi
  done
done

# --- read-only and full caches -------------------------------------------------
# A Lua script with two compiles: the warning must appear once per process.
cat >"$WORK/two.lua" <<LUA
local ebpf = require "ebpf"
for i = 1, 2 do
  local obj = assert(ebpf.compile { file = "$PROBE", defines = { "EBPFRUN_FAULT_TWO=" .. i .. "$$" } })
  obj:close()
end
print("two compiles ok")
LUA
in_namespace() { unshare -m --propagation private bash -c "$1"; }

mkdir -p "$WORK/ro-empty"
in_namespace "mount -t tmpfs -o ro,size=1m tmpfs '$WORK/ro-empty' && XDG_CACHE_HOME='$WORK/ro-empty' '$EBPFRUN' '$WORK/two.lua'" \
  >"$WORK/stdout" 2>"$WORK/stderr"
if [ $? -eq 0 ] && grep -q "two compiles ok" "$WORK/stdout" && [ "$(warnings)" = 1 ]; then
  pass "read-only empty cache: two compiles, one warning"
else
  fail "read-only empty cache: $(cat "$WORK/stdout" "$WORK/stderr")"
fi

# A populated cache, then mounted read-only: hits work, misses compile, one warning.
mkdir -p "$WORK/ro-full"
compile "$WORK/ro-full" || fail "populating the cache: $(cat "$WORK/stderr")"
in_namespace "mount --bind '$WORK/ro-full' '$WORK/ro-full' && mount -o remount,ro,bind '$WORK/ro-full' && XDG_CACHE_HOME='$WORK/ro-full' '$EBPFRUN' '$WORK/two.lua'" \
  >"$WORK/stdout" 2>"$WORK/stderr"
if [ $? -eq 0 ] && grep -q "two compiles ok" "$WORK/stdout" && [ "$(warnings)" = 1 ]; then
  pass "read-only populated cache: two compiles, one warning"
else
  fail "read-only populated cache: $(cat "$WORK/stdout" "$WORK/stderr")"
fi

# 1 MiB holds neither vmlinux.h (~3 MB) nor the PCH.
mkdir -p "$WORK/full"
in_namespace "mount -t tmpfs -o size=1m tmpfs '$WORK/full' && XDG_CACHE_HOME='$WORK/full' '$EBPFRUN' '$WORK/two.lua' && find '$WORK/full' -name '*.tmp*' | wc -l >'$WORK/tmpcount'" \
  >"$WORK/stdout" 2>"$WORK/stderr"
if [ $? -eq 0 ] && grep -q "two compiles ok" "$WORK/stdout" && [ "$(warnings)" = 1 ] && [ "$(cat "$WORK/tmpcount")" = 0 ]; then
  pass "full cache file system: two compiles, one warning, no temporary left"
else
  fail "full cache file system: $(cat "$WORK/stdout" "$WORK/stderr")"
fi

# --- --no-cache bypasses everything ---------------------------------------------
home=$WORK/wrecked
compile "$home" || fail "populating the cache: $(cat "$WORK/stderr")"
for f in $(find "$home" -type f); do truncate -s 7 "$f"; done
before=$(find "$home" -type f -printf '%p %s %T@\n' | sort | md5sum)
XDG_CACHE_HOME=$home "$EBPFRUN" --no-cache compile "$PROBE" -o "$WORK/out.o" >"$WORK/stdout" 2>"$WORK/stderr"
status=$?
after=$(find "$home" -type f -printf '%p %s %T@\n' | sort | md5sum)
if [ $status -eq 0 ] && [ "$before" = "$after" ] && [ ! -s "$WORK/stderr" ]; then
  pass "--no-cache with a wrecked cache: compiles, touches nothing, says nothing"
else
  fail "--no-cache: status $status, cache changed: $([ "$before" = "$after" ] && echo no || echo yes): $(cat "$WORK/stderr")"
fi

# --- concurrent cold-cache compiles ---------------------------------------------
home=$WORK/concurrent
pids=()
for i in 1 2 3 4 5 6 7 8; do
  XDG_CACHE_HOME=$home "$EBPFRUN" compile "$PROBE" -D "EBPFRUN_CONCURRENT=$i" -o "$WORK/c$i.o" \
    >"$WORK/c$i.out" 2>"$WORK/c$i.err" &
  pids+=($!)
done
bad=0
for i in 1 2 3 4 5 6 7 8; do
  wait "${pids[$((i - 1))]}" || { bad=$((bad + 1)); echo "  compile $i: $(head -3 "$WORK/c$i.err")"; }
done
if [ $bad = 0 ] && ! grep -q crashed "$WORK"/c*.err; then
  pass "8 concurrent compiles on a cold cache all succeed"
else
  fail "concurrent cold-cache compiles: $bad failed"
fi

# --- kill -9 during the first PCH build -----------------------------------------
home=$WORK/killed
XDG_CACHE_HOME=$home "$EBPFRUN" compile "$PROBE" -o "$WORK/k.o" >/dev/null 2>&1 &
victim=$!
child=""
for _ in $(seq 1 200); do  # wait for the compile child (the PCH build follows vmlinux.h)
  child=$(pgrep -P $victim | head -1)
  [ -n "$child" ] && break
  sleep 0.02
done
sleep 0.3
kill -9 $victim
wait $victim 2>/dev/null
true
# Alive means running: a killed child may stay a zombie until its new parent reaps it.
running() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
for _ in $(seq 1 50); do
  [ -n "$child" ] && running "$child" || break
  sleep 0.1
done
if [ -z "$child" ]; then
  fail "kill -9: the compile child was never seen"
elif running "$child"; then
  fail "kill -9: the compile child $child outlived ebpfrun"
  kill -9 "$child" 2>/dev/null
else
  pass "kill -9: the compile child died with ebpfrun"
fi
# A temporary file of a writer that no longer exists, as a killed run leaves it.
mkdir -p "$home/ebpfrun/objects"
sh -c 'exit 0' & dead=$!
wait $dead
echo partial >"$home/ebpfrun/objects/0123.entry.tmp.$dead"
compile "$home" || fail "kill -9: the next compile failed: $(cat "$WORK/stderr")"
left=$(find "$home" -name '*.tmp*' | wc -l)
if [ "$left" = 0 ]; then
  pass "kill -9: no temporary file left after the next run"
else
  fail "kill -9: temporary files left: $(find "$home" -name '*.tmp*')"
fi

echo "$failures failure(s)"
[ $failures = 0 ]
