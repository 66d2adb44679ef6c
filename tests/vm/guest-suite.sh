#!/usr/bin/env bash
# What runs inside each kernel of the matrix (tests/vm/matrix.sh boots it):
# doctor, the attach suite, the collectors' and tools' ground-truth tests and
# the sockredirect test, from the host's build tree.
#
#   tests/vm/guest-suite.sh BUILD_DIR [CTEST_REGEX]
#
# Objects come from the host's test cache, compiled there against the host
# kernel's BTF (EBPFRUN_BTF names a copy of it): CO-RE objects built on one
# kernel must load on another unchanged, and compiling under TCG would take
# most of the time budget. Anything the cache lacks is compiled in the guest.
# That is also checked explicitly: BUILD_DIR/core-objects holds every shipped
# BPF source compiled on the host to a file (tests/vm/compile-shipped.sh, run
# by matrix.sh), and those files are loaded here with ebpf.load, no compiler
# involved, and their tracepoint programs attached.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$1
# What the guests run: the tests whose outcome depends on the kernel. The
# attach suite and kprobe listing; every collector's and tool's ground-truth
# test (sockredirect's among them); the bindings' tests that load programs or
# name kernel features (attach alternatives, verifier budgets and errors,
# maps, fentry/kprobe one-liners, stacks). Left out, to fit the time budget
# (./setup.sh test, README "The kernel matrix"): the one-liner language,
# REPL, build and event-loop tests, whose programs are tracepoints the CO-RE
# stage already loads on each kernel; the collectors' flag and framework
# tests (command-line handling); the prebuilt-object test (objects compiled
# on the host, as the CO-RE stage loads them); the demo and the churn test
# (the same collectors' programs as their own tests, together, and map-full
# handling, which no kernel changes); and the examples (tracepoints and
# uprobes, which the attach suite covers). A CTEST_REGEX given replaces the
# set, exclusions included.
regex=${2:-'^attach: |^ebpfrun -l kprobe|^lua_collector_|^lua_ebpf_(attach_alternatives|budgets|errors|maps|oneliner_kernel|oneliner_kprobes|oneliner_stacks|stacks)$|^symbols_(profile|stacktools)$'}
exclude='^lua_collector_(flags|framework|prebuilt|demo|churn)$'
[ -n "${2:-}" ] && exclude='^$'

cd "$build" || exit 2
export XDG_CACHE_HOME=$build/test-cache
[ -f "$build/host-vmlinux.btf" ] && export EBPFRUN_BTF=$build/host-vmlinux.btf
export EBPFRUN_COMPILER_LIB=$build/libebpfrun-clang.so
# The guests' kernels have kprobes and fentry (doctor is checked for that
# below): tests that adapt to a kernel without them (the reference host)
# must see them work here instead of passing for a kernel's limitation.
export EBPFRUN_EXPECT_KPROBES=1 EBPFRUN_EXPECT_FENTRY=1
kernel=$(uname -r)
failures=0

echo "== $kernel: ebpfrun doctor"
doctor=$(./ebpfrun doctor 2>&1)
echo "$doctor"
if ! echo "$doctor" | grep -qE '^ready'; then echo "FAIL: doctor does not report ready on $kernel"; failures=$((failures + 1)); fi
# Debian's 6.1 and 6.12 kernels have kprobes and fentry: doctor must see them.
for feature in kprobes fentry; do
  if ! echo "$doctor" | grep -qE "^$feature +ok"; then
    echo "FAIL: doctor does not report $feature ok on $kernel"; failures=$((failures + 1))
  fi
done

echo "== $kernel: CO-RE objects compiled on the host, loaded unchanged"
if [ -d "$build/core-objects" ]; then
  ./ebpfrun "$here/load-objects.lua" "$build/core-objects" || failures=$((failures + 1))
else
  echo "FAIL: $build/core-objects is missing (tests/vm/matrix.sh compiles it on the host)"; failures=$((failures + 1))
fi

echo "== $kernel: ctest -R '$regex' -E '$exclude'"
# What the guest had to compile itself (each costs seconds of TCG): a test
# whose source differs from run to run misses the host's cache. Listed after
# the run so that the budget's overruns can be traced to them.
stamp=$(mktemp)
ctest -R "$regex" -E "$exclude" --timeout 600 --output-on-failure -j1 || failures=$((failures + 1))
new_objects=$(find "$XDG_CACHE_HOME" -type f -path '*/objects/*' -newer "$stamp" 2>/dev/null)
compiled=$(printf '%s' "$new_objects" | grep -c . || true)
echo "== $kernel: $compiled object(s) compiled in the guest (not in the host's cache)"
# Each by the source its line info names (a Lua script for inline C, the
# one-liner generator for one-liners), so an overrun can be traced to a test.
if [ "$compiled" -gt 0 ] && command -v strings >/dev/null; then
  for object in $new_objects; do
    strings -n 6 "$object" | grep -m1 -E '^/.*\.(c|lua)$' || echo "(no source named)"
  done | sort | uniq -c | sed 's/^/   /'
fi
rm -f "$stamp"
echo "== $kernel: $failures failing stage(s)"
[ "$failures" -eq 0 ]
