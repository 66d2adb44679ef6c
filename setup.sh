#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine:
#   ./setup.sh deps    install packages (idempotent) and mount tracefs/bpffs
#   ./setup.sh build   deps + configure + build (warnings are errors under CI=true)
#   ./setup.sh demo    build + run the main job
#   ./setup.sh test    build + run every test suite (what .ci/run calls)
#   ./setup.sh bench   build + run the benchmarks in bench/
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
  bpftool bpftrace prometheus systemtap-sdt-dev tmux iproute2 luajit2 python3 util-linux
  chromium
)

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
    build
    cd "$BUILD"
    ctest --output-on-failure --timeout 600
    ;;
  bench)
    build
    "$ROOT/bench/compile.sh" "$BUILD"
    "$ROOT/bench/events.sh" "$BUILD"
    "$ROOT/bench/overhead.sh" "$BUILD"
    ;;
  *)
    echo "usage: $0 [deps|build|demo|test|bench]" >&2
    exit 2
    ;;
esac
