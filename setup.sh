#!/usr/bin/env bash
# Installs everything ebpfrun needs from Debian packages (idempotent), and mounts
# tracefs and bpffs when they are absent. Used by both README commands and CI.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libbpf-dev libelf-dev zlib1g-dev
  libluajit2-5.1-dev
  clang-16 libclang-cpp16-dev llvm-16-dev libclang-16-dev
  libfmt-dev catch2 libreadline-dev libcpp-httplib-dev libcli11-dev
  bpftool bpftrace prometheus systemtap-sdt-dev tmux iproute2 time
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$(id -u)" = 0 ]; then
  if ! mountpoint -q /sys/kernel/tracing; then
    mount -t tracefs tracefs /sys/kernel/tracing && echo "setup: mounted tracefs at /sys/kernel/tracing"
  fi
  if ! mountpoint -q /sys/fs/bpf; then
    mount -t bpf bpf /sys/fs/bpf && echo "setup: mounted bpffs at /sys/fs/bpf"
  fi
fi
