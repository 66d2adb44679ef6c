#!/usr/bin/env bash
# Lists the C, C++ and BPF C files clang-format keeps formatted (tests/data is
# excluded by its own .clang-format: fixtures whose line numbers tests check).
# Usage: format_files.sh SOURCE_DIR
set -euo pipefail
cd "$1"
git ls-files --cached --others --exclude-standard -- '*.cpp' '*.h' '*.c' 2>/dev/null || find runtime bindings cli bpf tests bench examples \
  -name '*.cpp' -o -name '*.h' -o -name '*.c'
