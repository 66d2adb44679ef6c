#!/usr/bin/env bash
# Boots one of Debian's kernels under qemu and runs a command in it as root.
#
#   tests/vm/run-kernel.sh [--timeout SECONDS] KERNEL -- COMMAND [ARG...]
#
# KERNEL is "6.1" (bookworm's newest linux-image-6.1.0-N-amd64), "6.12" (the
# newest linux-image-6.12.N+deb12-amd64 apt finds), or a full package name.
# Package names are resolved with apt at run time, never hard-coded.
#
# The guest sees the host's / read-only over 9p with a tmpfs overlay on top, so
# the build tree, the ebpfrun binary and every host tool are there unchanged;
# proc, sysfs, devtmpfs, tracefs, debugfs, bpffs and cgroup2 are mounted and lo
# is up. COMMAND runs in the current directory with the caller's PATH. Its
# output is copied to this script's stdout and its exit status is this
# script's exit status (125 when the guest never reported one: boot failure,
# timeout, kernel panic; the console log is printed then; 3 when the kernel
# package cannot be found or downloaded, e.g. without network; 2 for a usage
# error or a missing tool).
#
# Why this shape (see README.md, "The kernel matrix"): this machine's /dev/kvm runs only
# kernels built for it, so qemu uses TCG; the kernel package is downloaded and
# unpacked, never installed into the host's /boot; the initramfs is busybox's
# static binary plus the modules 9p and overlayfs need, in depmod's order.
#
# Downloads and unpacked kernels are kept in $EBPFRUN_VM_CACHE (default
# ~/.cache/ebpfrun-vm), so a second run starts in seconds.
set -euo pipefail

timeout_s=900
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) timeout_s=$2; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    -*) echo "run-kernel: unknown option $1" >&2; exit 2 ;;
    *) kernel=$1; shift ;;
  esac
done
if [ -z "${kernel:-}" ] || [ $# -eq 0 ]; then
  echo "usage: $0 [--timeout SECONDS] KERNEL -- COMMAND [ARG...]   (KERNEL: 6.1, 6.12 or a package name)" >&2
  exit 2
fi
for tool in qemu-system-x86_64 busybox depmod cpio apt-get dpkg xz; do
  command -v "$tool" >/dev/null || { echo "run-kernel: $tool is missing (./setup.sh deps installs it)" >&2; exit 2; }
done
[ -x /bin/busybox ] && file_is_static=$(LC_ALL=C ldd /bin/busybox 2>&1 || true)
case "${file_is_static:-}" in *"not a dynamic"*) ;; *) echo "run-kernel: /bin/busybox must be busybox-static" >&2; exit 2 ;; esac

# --- The kernel package ------------------------------------------------------
resolve_package() {
  local pattern
  case "$1" in
    6.1) pattern='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
    6.12) pattern='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
    linux-image-*) echo "$1"; return ;;
    *) echo "run-kernel: unknown kernel '$1' (6.1, 6.12 or a linux-image-* package)" >&2; return 2 ;;
  esac
  local found
  found=$(apt-cache pkgnames linux-image-6. 2>/dev/null | grep -E "$pattern" | sort -V | tail -n 1)
  if [ -z "$found" ]; then
    apt-get update -qq >/dev/null 2>&1 || true
    found=$(apt-cache pkgnames linux-image-6. 2>/dev/null | grep -E "$pattern" | sort -V | tail -n 1)
  fi
  [ -n "$found" ] || { echo "run-kernel: apt finds no package matching $pattern (no network, or no Debian 12 apt sources?)" >&2; return 3; }
  echo "$found"
}
package=$(resolve_package "$kernel") || exit $?
cache=${EBPFRUN_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ebpfrun-vm}
root=$cache/$package
mkdir -p "$cache"
if [ ! -f "$root/.unpacked" ]; then
  # A lock, so that two runs on a cold cache do not unpack over each other.
  exec 9>"$cache/.lock-$package"
  flock 9
  if [ ! -f "$root/.unpacked" ]; then
    rm -rf "$root" "$cache/$package.deb.d"
    mkdir -p "$cache/$package.deb.d"
    # _apt cannot write into root's home: download as root into our own dir.
    (cd "$cache/$package.deb.d" && apt-get download -q "$package" 2>&1 | grep -v 'unsandboxed' >&2 || true)
    deb=$(ls "$cache/$package.deb.d"/*.deb 2>/dev/null | head -n 1 || true)
    [ -n "$deb" ] || { echo "run-kernel: apt-get download $package failed (no network?)" >&2; exit 3; }
    dpkg -x "$deb" "$root.tmp"
    rm -rf "$cache/$package.deb.d"
    kver=$(ls "$root.tmp/lib/modules" | head -n 1)
    # depmod reads 6.12's .ko.xz as they are; the few modules the initramfs
    # needs are decompressed when they are copied (busybox insmod cannot).
    depmod -b "$root.tmp" "$kver"
    mv "$root.tmp" "$root"
    touch "$root/.unpacked"
  fi
  exec 9>&-
fi
kver=$(ls "$root/lib/modules" | head -n 1)
vmlinuz=$(ls "$root"/boot/vmlinuz-* | head -n 1)
moddir=$root/lib/modules/$kver

# --- The initramfs -----------------------------------------------------------
work=$(mktemp -d /tmp/ebpfrun-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/initrd/bin" "$work/initrd/modules" "$work/io"

# Modules in load order: each one after the modules it depends on (modules.dep
# lists a module's dependencies after it; we emit them depth-first).
declare -A emitted=()
order=()
emit() {
  local mod=$1 line dep
  [ -n "${emitted[$mod]:-}" ] && return
  emitted[$mod]=1
  line=$(grep -E "^$mod:" "$moddir/modules.dep" || true)
  [ -n "$line" ] || return 0  # built in
  for dep in ${line#*:}; do emit "$dep"; done
  order+=("$mod")
}
for name in virtio_pci 9pnet_virtio 9p overlay; do
  path=$(grep -oE "^[^:]*/$name\.ko(\.xz)?" "$moddir/modules.dep" | head -n 1 || true)
  [ -n "$path" ] && emit "$path"
done
i=0
for mod in "${order[@]}"; do
  dest=$work/initrd/modules/$(printf '%02d' $i)-$(basename "$mod" .xz)
  case "$mod" in
    *.xz) xz -dc "$moddir/$mod" >"$dest" ;;
    *) cp "$moddir/$mod" "$dest" ;;
  esac
  i=$((i + 1))
done
cp /bin/busybox "$work/initrd/bin/busybox"
cat >"$work/initrd/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc 2>/dev/null || { mkdir -p /proc; mount -t proc proc /proc; }
mkdir -p /sys /dev /lower /upper /newroot /io
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in /modules/*.ko; do insmod "$m" || echo "init: insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose root /lower || { echo "init: cannot mount the host root"; poweroff -f; }
mount -t tmpfs -o size=1g tmpfs /upper
mkdir -p /upper/up /upper/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/up,workdir=/upper/work /newroot
mkdir -p /newroot/run/ebpfrun-vm
mount -t 9p -o trans=virtio,version=9p2000.L io /newroot/run/ebpfrun-vm
cp /guest.sh /newroot/run/guest.sh
umount /proc /sys
mount --move /dev /newroot/dev 2>/dev/null || umount /dev
exec switch_root /newroot /bin/sh /run/guest.sh
EOF
chmod +x "$work/initrd/init"
cat >"$work/initrd/guest.sh" <<'EOF'
# Runs in the guest's real root (the host's / under an overlay).
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
# devtmpfs has no /dev/fd: bash's process substitution (bench/) needs it.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t tmpfs tmpfs /run/user 2>/dev/null
# /dev is a fresh devtmpfs, without the tmpfs systems mount at /dev/shm
# (which tests use as a mount other than /).
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm 2>/dev/null
ip link set lo up 2>/dev/null
io=/run/ebpfrun-vm
. "$io/env"
cd "$EBPFRUN_VM_CWD" 2>/dev/null || cd /
bash "$io/command" >"$io/output" 2>&1 </dev/null
echo $? >"$io/status"
sync
echo o >/proc/sysrq-trigger
sleep 10
EOF
(cd "$work/initrd" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

# --- The command -------------------------------------------------------------
{
  printf 'export PATH=%q\n' "$PATH"
  printf 'export EBPFRUN_VM_CWD=%q\n' "$PWD"
  printf 'export EBPFRUN_VM_KERNEL=%q\n' "$kver"
  printf 'export HOME=/root CI=%q\n' "${CI:-}"
  # The guest's caches live in its tmpfs overlay unless the caller shares one.
  for v in XDG_CACHE_HOME EBPFRUN_COMPILER_LIB EBPFRUN_BPF_DIR EBPFRUN_BIN EBPFRUN_SOURCE_DIR EBPFRUN_WORKLOAD; do
    [ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}"
  done
} >"$work/io/env"
printf '%q ' "$@" >"$work/io/command"
echo >>"$work/io/command"

# One host thread for both vCPUs by default: with thread=multi, guests
# oopsed on an int3 of the kernel's own code patching (static keys,
# tracepoints) and locked up a CPU in ebpfrun's bpf() calls, the
# cross-modifying-code race of multi-threaded TCG. EBPFRUN_VM_TCG_THREAD=multi
# is faster when it holds.
start=$(date +%s.%N)
set +e
timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 \
  -accel "tcg,thread=${EBPFRUN_VM_TCG_THREAD:-single}" -cpu max -smp 2 -m 2G -nographic -no-reboot \
  -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 panic=-1 quiet loglevel=3" \
  -virtfs local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path="$work/io",mount_tag=io,security_model=none \
  </dev/null >"$work/console" 2>&1
qemu_rc=$?
set -e
elapsed=$(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo "?")

[ -f "$work/io/output" ] && cat "$work/io/output"
if [ ! -s "$work/io/status" ]; then
  echo "run-kernel: $package reported no exit status (qemu exit $qemu_rc after ${elapsed}s); console:" >&2
  tail -n 60 "$work/console" >&2
  exit 125
fi
status=$(cat "$work/io/status")
echo "run-kernel: $package ($kver): exit $status after ${elapsed}s" >&2
exit "$status"
