#!/usr/bin/env bash
# `make test`: install what is missing, build plain and ASan+UBSan, start a
# throwaway redis-server on a free loopback port in a temp dir, run every suite
# against it in both builds, stop the server; then clang-tidy (scripts/lint.sh), the
# formatting, dependency and call-cycle checks, the binary hardening check, the check of libsluice.so's exports
# and each fuzz target over its committed corpus. Prints "sluice: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-redis.sh

scripts/deps.sh test

jobs=$(nproc 2>/dev/null || echo 2)
build() {  # build DIR CMAKE_ARGS...
  local dir=$1; shift
  cmake -S . -B "$dir" -DSLUICE_WERROR=ON -DSLUICE_BUILD_TESTS=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs" -- --no-print-directory >"$dir.build.log" 2>&1 ||
    { cat "$dir.build.log"; echo "build of $dir failed" >&2; exit 1; }
  if grep -q "warning:" "$dir.build.log"; then
    grep "warning:" "$dir.build.log"; echo "build of $dir has warnings" >&2; exit 1
  fi
}
echo "== build (plain)"
build build
echo "== build (asan+ubsan)"
build build-asan -DSLUICE_SANITIZE=ON

tmp=$(mktemp -d /tmp/sluice-ci-XXXXXX)
cleanup() {
  [[ -n "${REDIS_PID:-}" ]] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
start_tcp_redis "$tmp"
export SLUICE_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
echo "== redis-server $(redis-server --version | awk '{print $3}') on 127.0.0.1:$REDIS_PORT ($tmp)"

# Python interop needs Debian's python3 with python3-redis, whatever python3 PATH finds.
export SLUICE_PYTHON=/usr/bin/python3

passed=0 failed=0
run_suites() {  # run_suites BUILD_DIR LABEL
  local dir=$1 label=$2 out="$tmp/ctest-$2.log" rc=0
  echo "== tests ($label)"
  # Suites share one redis-server, so they run one at a time.
  (cd "$dir" && ctest --output-on-failure -j1 ${SLUICE_TEST_FILTER:+-R "$SLUICE_TEST_FILTER"}) \
    | tee "$out" || rc=$?
  local p f
  p=$(grep -c "Test *#[0-9]*: .* Passed" "$out" || true)
  f=$(grep -cE "Test *#[0-9]*: .* (\*\*\*|Failed|Exception|Timeout|Not Run)" "$out" || true)
  passed=$((passed + p)); failed=$((failed + f))
  if [[ $rc -ne 0 && $f -eq 0 ]]; then failed=$((failed + 1)); fi
}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suites build plain
run_suites build-asan asan

echo "== docs examples: every sh/python/js block of README.md and docs/*.md (tests/docs/run.sh)"
if tests/docs/run.sh build; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "== JSON Schema Test Suite (draft7), per keyword file (asserted by test_schema_suite above)"
build/test_schema_suite --verbose=0 2>&1 | grep -vE "^\[(----|====|PASS|RUN )" || true

echo "== public headers compile alone (C11 and C++)"
for h in include/sluice/*.h; do
  inc="#include <sluice/$(basename "$h")>"
  if echo "$inc" | cc -std=c11 -Wall -Wextra -Werror -Iinclude -x c -fsyntax-only - &&
     echo "$inc" | c++ -Wall -Wextra -Werror -Iinclude -x c++ -fsyntax-only -; then
    passed=$((passed + 1))
  else
    echo "FAILED: $h does not compile alone"; failed=$((failed + 1))
  fi
done

echo "== the cron table is what python3-croniter gives (scripts/gen-cron-cases.py --check)"
if /usr/bin/python3 scripts/gen-cron-cases.py --check tests/unit/cron_cases.tsv; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi

echo "== C formatting: every .c/.h/.cpp as .clang-format says (scripts/check-format.sh, make format)"
if scripts/check-format.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "== dependencies between folders: only the allowed arrows, no cycle (scripts/check-deps.py)"
if python3 scripts/check-deps.py >/dev/null; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "== clang-tidy over the product's sources (scripts/lint.sh, make lint)"
if scripts/lint.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "== calls between source files: no cycle (scripts/check-cycles.py, nm of the plain build's objects)"
if python3 scripts/check-cycles.py build; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "== binary hardening (RELRO, BIND_NOW, canaries, FORTIFY, PIE), plain and asan builds"
if scripts/check-hardening.sh build && scripts/check-hardening.sh build-asan; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi

echo "== libsluice.so exports exactly the sluice_* API of include/sluice/*.h, with its SONAME, plain and asan builds"
if scripts/check-exports.sh build && scripts/check-exports.sh build-asan; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi

echo "== fuzz targets, each over its committed corpus once (tests/fuzz/, clang-14 ASan+UBSan)"
fuzz_targets=$(tests/fuzz/run.sh list)
if tests/fuzz/run.sh build; then
  for t in $fuzz_targets; do
    if tests/fuzz/run.sh regress "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
else
  echo "FAILED: the fuzz harnesses do not build"
  for t in $fuzz_targets; do failed=$((failed + 1)); done
fi

echo "== docker-compose config"
if docker-compose -f docker-compose.yml config -q; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "sluice: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
