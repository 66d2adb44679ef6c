#!/bin/bash
# Strips a binary down to MiniDebugInfo, as Fedora's find-debuginfo does: the
# function symbols of .symtab (those .dynsym lacks) go into a small ELF file,
# xz-compressed into the .gnu_debugdata section of the fully stripped binary.
# Usage: minidebuginfo.sh INPUT OUTPUT
set -euo pipefail
in=$1 out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
nm -D "$in" --format=posix --defined-only | awk '{ print $1 }' | sort > "$work/dynsyms"
nm "$in" --format=posix --defined-only | awk '$2 ~ /[TtWw]/ { print $1 }' | sort > "$work/funcsyms"
comm -13 "$work/dynsyms" "$work/funcsyms" > "$work/keep"
objcopy --only-keep-debug "$in" "$work/debug"
objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols="$work/keep" "$work/debug" "$work/mini"
xz "$work/mini"
objcopy --strip-all --remove-section .comment --add-section .gnu_debugdata="$work/mini.xz" "$in" "$out"
# The stripped binary must not name spin_here by itself.
if nm "$out" 2>/dev/null | grep -q spin_here; then echo "minidebuginfo.sh: $out still has a symbol table" >&2; exit 1; fi
