#!/usr/bin/env bash
# The C formatting check of `make test`: every .c/.h/.cpp file git tracks
# (product, tests, benches, fuzz targets, examples) is as clang-format, with the
# repository's .clang-format, would write it. `scripts/check-format.sh --fix`
# rewrites them in place instead (what `make format` runs).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || scripts/deps.sh test
mapfile -t files < <(git ls-files '*.c' '*.h' '*.cpp')
if [[ "${1:-}" == --fix ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if clang-format --dry-run -Werror "${files[@]}" 2>/tmp/sluice-format.$$; then
  rm -f /tmp/sluice-format.$$
  echo "check-format: ${#files[@]} files formatted as .clang-format says"
else
  grep -E "^[^ ].*: error:" /tmp/sluice-format.$$ | cut -d: -f1 | sort -u | sed 's/^/check-format: not formatted: /' >&2
  rm -f /tmp/sluice-format.$$
  echo "check-format: run scripts/check-format.sh --fix (make format)" >&2
  exit 1
fi
