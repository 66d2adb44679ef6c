#!/usr/bin/env bash
# Fails when a C, C++ or BPF C file is not as clang-format 16 would write it.
# Usage: check_format.sh SOURCE_DIR CLANG_FORMAT. To fix: the same files with -i,
#   tests/layering/format_files.sh . | xargs clang-format-16 -i
set -euo pipefail
cd "$1"
"$(dirname "$0")/format_files.sh" . | xargs "$2" --dry-run -Werror
echo "format: every file is clang-formatted"
