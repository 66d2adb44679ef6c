#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine:
#   ./setup.sh deps    install packages (idempotent) and mount tracefs/bpffs
#   ./setup.sh build   deps + configure + build (warnings are errors under CI=true)
#   ./setup.sh demo    build + run the main job
#   ./setup.sh test    build + run every test suite (what .ci/run calls): the normal
#                      suite, then the sanitized subset, then the bounded fuzz runs,
#                      then the kernel matrix (Debian's 6.1 and 6.12 under qemu;
#                      EBPFRUN_TEST_KERNELS=0 leaves it out, except under CI=true)
#   ./setup.sh test-sanitize  ASan+UBSan build in build-asan/ + its test subset
#   ./setup.sh test-fuzz      libFuzzer build in build-fuzz/ + 20 s per fuzz target
#   ./setup.sh test-kernels [KERNEL...]
#                      build + run the kernel matrix alone (tests/vm/matrix.sh) under
#                      qemu (Debian's 6.1 and 6.12 kernels by default)
#   ./setup.sh bench   build + run the benchmarks in bench/ (compare.sh: ebpfrun vs bpftrace vs libbpf-tools)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
BUILD=${EBPFRUN_BUILD_DIR:-$ROOT/build}

PACKAGES=(
  build-essential cmake pkg-config git time
  libbpf-dev libelf-dev libdw-dev zlib1g-dev
  libluajit2-5.1-dev
  clang-16 libclang-cpp16-dev llvm-16-dev libclang-16-dev
  libfmt-dev catch2 libreadline-dev libcpp-httplib-dev libcli11-dev
  systemd python3-yaml strace
  clang-format-16
  bpftool bpftrace libbpf-tools prometheus prometheus-node-exporter systemtap-sdt-dev tmux iproute2 luajit2 python3 util-linux
  chromium
)

# The kernel matrix under qemu (./setup.sh test-kernels).
PACKAGES+=(qemu-system-x86 busybox-static kmod cpio xz-utils bc)

# libFuzzer and the sanitizer runtimes of clang 16 (./setup.sh test-fuzz).
PACKAGES+=(libclang-rt-16-dev)

deps() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ "$(id -u)" = 0 ]; then
    if ! mountpoint -q /sys/kernel/tracing; then
      mount -t tracefs tracefs /sys/kernel/tracing && echo "setup: mounted tracefs at /sys/kernel/tracing"
    fi
    if ! mountpoint -q /sys/fs/bpf; then
      mount -t bpf bpf /sys/fs/bpf && echo "setup: mounted bpffs at /sys/fs/bpf"
    fi
  fi
}

build() {
  deps
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j"$(nproc)"
}

# --- Sanitizer and fuzz stages ---------------------------------------------
# Budgets (CI: 90 minutes on a 2-core machine; .ci/run must stay under ~50 min,
# with ~20 min kept for a kernel-VM matrix), so these stages get ~20 min:
#   build + suite    normal build and the full suite: ~10 min
#   asan-build       the host code and the subset's executables with ASan+UBSan
#                    (-O1): estimated ~1.5x the normal build's CPU time, i.e.
#                    ~6-8 min cold on 2 idle cores (not yet measured end to end)
#   asan-suite       the subset below; its budget is ~8 min
#   fuzz-build       4 small targets, clang-16: 50 s of CPU (measured)
#   fuzz             20 s per target + start-up: 1m41s for the four (measured)
ASAN_BUILD=${EBPFRUN_ASAN_BUILD_DIR:-$ROOT/build-asan}
FUZZ_BUILD=${EBPFRUN_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
# The sanitized subset: the unit, compiler, loader, events and bindings (BTF ->
# FFI) Catch2 suites, and the Lua tests that run under the ebpfrun binary
# (tests/lua/ebpf_*.lua, collector_*.lua). Only these executables are built, so
# ctest lists the other Catch2 suites as *_NOT_BUILT placeholders, excluded
# below together with the tests that do not run our host code under a sanitizer
# (lua_test_* run plain luajit; layering/format are scripts) or are too slow
# for the budget (examples, REPL in tmux, fault loops). lua_collector_memory's
# OOM case checks RSS against a cgroup limit, which ASan's shadow memory skews;
# symbols_profile needs the stack test binaries, which this build leaves out.
ASAN_TARGETS=(ebpfrun ebpfrun_clang ebpfrun_prebuilt workload stacks_target_debug unit_tests compiler_tests loader_tests events_tests btf_tests)
ASAN_EXCLUDE='_NOT_BUILT|^lua_test_|^examples_run$|^repl_in_terminal$|^layering_includes$|^format_check$|^faults_|^agent_|^deploy_|^docs_flags$|^lua_collector_churn$|^lua_collector_demo$|^lua_collector_memory$|^symbols_'

sanitizer_env() {
  # LuaJIT and libbpf are uninstrumented system libraries: see the comments in
  # the suppressions files for each entry.
  export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
  export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitize/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$ROOT/tests/sanitize/ubsan.supp"
}

# Runs ctest in a build directory; records "<passed> <failed>" in $STAGE_COUNTS.
run_ctest() {
  local dir=$1 out rc=0
  shift
  out=$(mktemp)
  if (cd "$dir" && ctest --output-on-failure "$@") 2>&1 | tee "$out"; then rc=0; else rc=1; fi
  local line total failed
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$out" | tail -1 || true)
  if [ -n "$line" ]; then
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  else
    failed=1 total=1  # ctest itself failed (no tests found, configuration error)
  fi
  rm -f "$out"
  STAGE_COUNTS="$((total - failed)) $failed"
  [ "$failed" = 0 ] && [ "$rc" = 0 ]
}

sanitize_build() {
  cmake -S "$ROOT" -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBPFRUN_SANITIZE=ON >/dev/null
  cmake --build "$ASAN_BUILD" -j"$(nproc)" --target "${ASAN_TARGETS[@]}"
}

sanitize_test() {
  local rc=0
  sanitizer_env
  run_ctest "$ASAN_BUILD" --timeout 900 -E "$ASAN_EXCLUDE" || rc=$?
  unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
  return "$rc"
}

fuzz_build() {
  cmake -S "$ROOT" -B "$FUZZ_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBPFRUN_FUZZ=ON \
    -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 >/dev/null
  cmake --build "$FUZZ_BUILD" -j"$(nproc)"
}

fuzz_test() { run_ctest "$FUZZ_BUILD" -L fuzz; }

# --- The kernel matrix -------------------------------------------------------
# Budget: 20 minutes for both kernels, which boot side by side, one emulated
# CPU thread each (CI: 90 min on 2 cores; the stages before it take ~27). Each kernel counts as one test; a guest's failures are
# printed with its whole output. A kernel that cannot be downloaded fails the
# stage under CI=true (tests/vm/matrix.sh).
kernels_test() {
  local out rc=0
  out=$(mktemp)
  "$ROOT/tests/vm/matrix.sh" "$BUILD" "$@" 2>&1 | tee "$out" || rc=$?
  local line passed failed unavailable
  line=$(grep -E '^kernel matrix: [0-9]+ passed, [0-9]+ failed, [0-9]+ unavailable' "$out" | tail -1 || true)
  rm -f "$out"
  if [ -n "$line" ]; then
    read -r passed failed unavailable < <(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) unavailable.*/\1 \2 \3/' <<<"$line")
    [ "${CI:-}" = true ] && failed=$((failed + unavailable))
  else
    passed=0 failed=1
  fi
  STAGE_COUNTS="$passed $failed"
  return "$rc"
}

# Runs one stage, prints its time, and adds its counts to the summary.
SUMMARY=()
TOTAL_PASSED=0
TOTAL_FAILED=0
stage() {
  local name=$1 start=$SECONDS rc=0
  shift
  echo "=== stage $name ==="
  STAGE_COUNTS="0 0"
  "$@" || rc=$?
  local passed failed
  read -r passed failed <<<"$STAGE_COUNTS"
  if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi  # the build itself failed
  TOTAL_PASSED=$((TOTAL_PASSED + passed))
  TOTAL_FAILED=$((TOTAL_FAILED + failed))
  local took=$((SECONDS - start))
  SUMMARY+=("$(printf '%-10s %s  %4d passed %4d failed  %3dm%02ds' "$name" "$([ "$rc" = 0 ] && echo ok || echo FAILED)" \
    "$passed" "$failed" $((took / 60)) $((took % 60)))")
  echo "=== stage $name: $([ "$rc" = 0 ] && echo ok || echo FAILED) after $((took / 60))m$((took % 60))s ==="
}

# Prints the stage table and, as the very last line, "N passed, N failed" (CI
# reads the last test-runner line); fails when any stage failed.
finish() {
  echo
  echo "=== summary ==="
  printf '%s\n' "${SUMMARY[@]}"
  echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
  [ "$TOTAL_FAILED" = 0 ]
}

normal_test() { run_ctest "$BUILD" --timeout 600; }

case "${1:-deps}" in
  deps) deps ;;
  build) build ;;
  demo)
    build
    # The main job: the six collectors together over a few seconds of a small
    # service's work (scripts/demo/workload.sh: an HTTP server and client on
    # 127.0.0.1, file I/O, short-lived processes), started and traced with -c;
    # when it exits, one table of totals per collector, then detach.
    "$BUILD/ebpfrun" -c "$ROOT/scripts/demo/workload.sh" "$ROOT/scripts/collectors.lua" --interval 60 --top 6
    ;;
  test)
    stage build build
    stage suite normal_test
    stage asan-build sanitize_build
    stage asan-suite sanitize_test
    stage fuzz-build fuzz_build
    stage fuzz fuzz_test
    # The kernel matrix (README, "The kernel matrix"). A developer may leave
    # it out (EBPFRUN_TEST_KERNELS=0: it needs ~15 min of both cores); CI may not.
    if [ "${CI:-}" = true ] || [ "${EBPFRUN_TEST_KERNELS:-1}" != 0 ]; then
      stage kernels kernels_test
    else
      echo "setup: EBPFRUN_TEST_KERNELS=0: the kernel matrix is NOT run"
    fi
    finish
    ;;
  test-sanitize)
    deps
    stage asan-build sanitize_build
    stage asan-suite sanitize_test
    finish
    ;;
  test-fuzz)
    deps
    stage fuzz-build fuzz_build
    stage fuzz fuzz_test
    finish
    ;;
  test-kernels)
    shift
    stage build build
    stage kernels kernels_test "$@"
    finish
    ;;
  bench)
    build
    "$ROOT/bench/compile.sh" "$BUILD"
    "$ROOT/bench/events.sh" "$BUILD"
    "$ROOT/bench/overhead.sh" "$BUILD"
    "$ROOT/bench/agent.sh" "$BUILD"
    "$ROOT/bench/compare.sh" "$BUILD"
    ;;
  *)
    echo "usage: $0 [deps|build|demo|test|test-sanitize|test-fuzz|test-kernels [KERNEL...]|bench]" >&2
    exit 2
    ;;
esac
