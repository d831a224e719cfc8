#!/usr/bin/env bash
# `make lint`: run clang-tidy with the checks of .clang-tidy (bug-finding ones:
# bugprone-*, some cert-*, clang-analyzer core/unix) over the product's sources:
# common/ (json/), client/, workers/, runner/ (maint/, http/), cli/. Installs
# clang-tidy if missing, configures build-lint/ for its compile_commands.json and
# builds the generated source it lists. Every finding is an error: exits 1 on any.
# `make test` runs it too: about a minute on 2 idle cores.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh lint

dir=build-lint
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$dir" -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_BENCH=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
# compile_commands.json names build-lint/functions_lua.c, made by this target's build.
cmake --build "$dir" -j"$jobs" --target sluice_objs -- --no-print-directory >"$dir.build.log" 2>&1 ||
  { cat "$dir.build.log"; echo "lint: build of $dir failed" >&2; exit 1; }

mapfile -t srcs < <(git ls-files 'common/*.c' 'client/*.c' 'workers/*.c' 'runner/*.c' 'cli/*.c')
echo "== clang-tidy: ${#srcs[@]} files, $jobs at a time"
# clang's "N warnings generated." counts the warnings of checks left off: dropped.
if printf '%s\n' "${srcs[@]}" | xargs -P"$jobs" -n4 clang-tidy -p "$dir" --quiet 2> >(grep -v ' generated\.$' >&2); then
  echo "lint: clean"
else
  echo "lint: clang-tidy reported findings (above); fix them, or NOLINT a false positive with a reason" >&2
  exit 1
fi
