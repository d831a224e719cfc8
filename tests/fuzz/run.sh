#!/usr/bin/env bash
# Build and run the libFuzzer targets of tests/fuzz/. Usage:
#   tests/fuzz/run.sh build                 build every harness into build-fuzz/
#   tests/fuzz/run.sh regress TARGET...     run each committed corpus once (make test)
#   tests/fuzz/run.sh fuzz [TARGET...]      fuzz each target for FUZZ_SECONDS (default 60)
#   tests/fuzz/run.sh list                  print the target names
# Targets: codec json schema compat config url trace cron (default: all). Fuzzing reads
# tests/fuzz/corpus/T/ and writes what it finds to build-fuzz/corpus/T/ (not in git);
# crashes go to build-fuzz/artifacts/T/, the log to build-fuzz/logs/T.log.
# Environment: FUZZ_SECONDS, FUZZ_TIMEOUT (per input, default 25 s), FUZZ_OUT (instead
# of build-fuzz/), FUZZ_ROOT (build against that checkout's common/ and include/).
# Exit status: 0 when every target ran clean, 1 otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${FUZZ_OUT:-$root/build-fuzz}
all=(codec json schema compat config url trace cron)
# A single input may take this long (the ReDoS seeds are meant to finish in far less).
timeout_s=${FUZZ_TIMEOUT:-25}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

build() {
  # FUZZ_ROOT: fuzz the common/ of another checkout with these harnesses (e.g. a fix's branch)
  make -s -C "$here" OUT="$out" ${FUZZ_ROOT:+ROOT="$FUZZ_ROOT"} -j"${FUZZ_JOBS:-2}" >/dev/null
}

regress() {  # regress TARGET: every committed seed once; 0 or 1
  local t=$1 log
  log=$(mktemp)
  if "$out/fuzz_$t" -runs=0 -timeout="$timeout_s" -rss_limit_mb=2048 \
      "$here/corpus/$t" >"$log" 2>&1; then
    echo "fuzz regress $t: ok ($(grep -oE 'Done [0-9]+ runs' "$log" | head -1))"
    rm -f "$log"
  else
    grep -E 'ERROR|SUMMARY|invariant|runtime error|Test unit written|#[0-9]+ 0x' "$log" | head -20
    echo "fuzz regress $t: FAILED (log: $log)"
    return 1
  fi
}

fuzz() {  # fuzz TARGET: FUZZ_SECONDS of fuzzing; 0 or 1
  local t=$1 secs=${FUZZ_SECONDS:-60} log="$out/logs/$t.log"
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t" "$out/logs"
  echo "fuzz $t: ${secs}s (log: $log)"
  # The first corpus directory receives the new inputs; the committed seeds are read only.
  if "$out/fuzz_$t" -max_total_time="$secs" -timeout="$timeout_s" -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" \
      "$out/corpus/$t" "$here/corpus/$t" >"$log" 2>&1; then
    grep -E '^#[0-9]+' "$log" | tail -1
    grep -E 'stat::number_of_executed_units' "$log" || true
  else
    grep -E 'ERROR|SUMMARY|invariant|runtime error|Test unit written' "$log" | head -10
    echo "fuzz $t: FAILED (log: $log)"
    return 1
  fi
}

cmd=${1:-}
shift || true
[[ $# -gt 0 ]] || set -- "${all[@]}"
case $cmd in
  list) echo "${all[*]}" ;;
  build) build ;;
  regress | fuzz)
    build
    rc=0
    for t in "$@"; do "$cmd" "$t" || rc=1; done
    exit $rc ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
