#!/usr/bin/env bash
# Compiles every shipped BPF source (bpf/*.bpf.c) into OUT_DIR/NAME.o with
# `ebpfrun --btf BTF compile`, without loading anything: the CO-RE objects a
# kernel of the matrix then loads unchanged (tests/vm/load-objects.lua).
# Fails, naming the source, when one does not compile or its output is not a
# BPF ELF object.
#
#   tests/vm/compile-shipped.sh EBPFRUN SOURCE_DIR OUT_DIR [BTF]
#
# BTF defaults to the running kernel's (/sys/kernel/btf/vmlinux, copied).
set -u
ebpfrun=${1:?usage: compile-shipped.sh EBPFRUN SOURCE_DIR OUT_DIR [BTF]}
src=${2:?source dir}
out=${3:?output dir}
btf=${4:-}
mkdir -p "$out" || exit 2
if [ -z "$btf" ]; then btf=$out/vmlinux.btf; cp /sys/kernel/btf/vmlinux "$btf" || exit 2; fi
failed=0
n=0
for source in "$src"/bpf/*.bpf.c; do
  name=$(basename "$source" .bpf.c)
  rm -f "$out/$name.o"
  if ! "$ebpfrun" --btf "$btf" compile "$source" -o "$out/$name.o"; then
    echo "FAIL: $source does not compile against $btf"; failed=$((failed + 1)); continue
  fi
  # An ELF relocatable object for the BPF machine (e_machine 247 = EM_BPF).
  machine=$(od -An -t u2 -j 18 -N 2 "$out/$name.o" 2>/dev/null | tr -d ' ')
  if [ "$(head -c 4 "$out/$name.o" | od -An -c | tr -d ' ')" != '177ELF' ] || [ "$machine" != 247 ]; then
    echo "FAIL: $out/$name.o is not a BPF ELF object"; failed=$((failed + 1)); continue
  fi
  n=$((n + 1))
done
echo "compiled $n shipped BPF sources into $out ($failed failed)"
[ "$failed" -eq 0 ] && [ "$n" -gt 0 ]
