#!/usr/bin/env bash
# Runs the whole sluice benchmark (issue 6) against private redis-servers and
# prints one table: figure | sluice | ceiling | ratio | target, then the details
# (where the time goes). Never pass/fail: the exit code only says whether it ran.
#
#   bench/run.sh                 full run (1,000,000-job drains, 10 s windows), ~6-10 min
#   bench/run.sh --smoke         CI-sized run, ~30 s, no AOF run, no ack-style diagnostics
#   bench/run.sh --profile       also profile the 2-worker drain (perf, else callgrind)
# Sizes: --jobs N --enqueue N --read-count K (default 256, the product's) --window S
#        --lat-secs S --workers "1 2 4" --rates "1000 10000"
#        --fixed-read-count K2 (default 10: drain 2 workers again at read_count K2 with
#        prefetch 0, i.e. sluice's old fixed default, for comparison; "" = skip)
# Binaries: --build DIR (default: build), i.e. DIR/bench/sluicebench.
# Raw results: --out FILE (default /tmp/sluice-bench-results.tsv, kept; the
# profile goes next to it as *-profile.txt).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
JOBS=1000000 ENQ=500000 K=256 WINDOW=10 LAT=10 WORKERS="1 2 4" RATES="1000 10000"
OUT=/tmp/sluice-bench-results.tsv
SMOKE=0 PROFILE=0 AOF=1 PROFILE_JOBS=200000 KFIXED=10

while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1 JOBS=20000 ENQ=20000 WINDOW=1 LAT=1 AOF=0 PROFILE_JOBS=20000 KFIXED= ;;
    --profile) PROFILE=1 ;;
    --no-aof) AOF=0 ;;
    --jobs) JOBS=$2; shift ;;
    --enqueue) ENQ=$2; shift ;;
    --read-count) K=$2; shift ;;
    --fixed-read-count) KFIXED=$2; shift ;;  # also drain 2 workers at this read_count, prefetch 0 ("" = skip)
    --window) WINDOW=$2; shift ;;
    --lat-secs) LAT=$2; shift ;;
    --workers) WORKERS=$2; shift ;;
    --rates) RATES=$2; shift ;;
    --profile-jobs) PROFILE_JOBS=$2; shift ;;
    --build) BUILD=$(cd "$2" && pwd); shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

BENCH=$BUILD/bench/sluicebench
[ -x "$BENCH" ] || { echo "run.sh: $BENCH not built (cmake --build $BUILD)" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "run.sh: redis-server not found" >&2; exit 2; }

TMP=$(mktemp -d /tmp/sluice-bench.XXXXXX)
PROF=${OUT%.tsv}-profile.txt
: >"$OUT"
rm -f "$PROF"
REDIS_PID=
stop_redis() {
  if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
  REDIS_PID=
}
trap 'stop_redis; rm -rf "$TMP"' EXIT

# start_redis NAME [ARGS...]: redis-server on a free loopback port, files in $TMP/NAME.
start_redis() {
  local dir=$TMP/$1; shift
  mkdir -p "$dir"
  for _ in $(seq 1 20); do
    local port=$((20000 + RANDOM % 30000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize no --save '' \
      --logfile "$dir/redis.log" --maxmemory-policy noeviction "$@" &
    REDIS_PID=$!
    for _ in $(seq 1 200); do
      if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then PORT=$port; return 0; fi
      sleep 0.05
    done
    stop_redis
  done
  echo "run.sh: could not start redis-server (see $dir/redis.log)" >&2
  exit 1
}

bench() { "$BENCH" -p "$PORT" -t "$TMP" -n "$JOBS" -e "$ENQ" -k "$K" -w "$WINDOW" -l "$LAT" "$@" | tee -a "$OUT" >/dev/null; }
say() { printf '%s\n' "$*" >&2; }

say "sluice bench: jobs=$JOBS enqueue=$ENQ read_count=$K window=${WINDOW}s latency=${LAT}s workers='$WORKERS'"
say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -m | awk '/Mem:/{print $2}') MiB, $(uname -r), $(redis-server --version | awk '{print $3}')"
say "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

start_redis plain --appendonly no
say "redis (persistence off) on port $PORT"
STEPS=("drain $WORKERS" "rawdrain 2" "e2e 2" "latency $RATES" "enqueue")
[ "$SMOKE" = 1 ] && STEPS=("drain $WORKERS" "e2e 2" "latency $RATES" "enqueue")
for step in "${STEPS[@]}"; do
  say "  $step ..."
  # shellcheck disable=SC2086
  bench $step
done
if [ -n "$KFIXED" ]; then
  say "  drain 2 + rawdrain 2 at read_count $KFIXED, prefetch 0 ..."
  bench -k "$KFIXED" -f 0ms drain 2
  bench -k "$KFIXED" rawdrain 2
fi

# The profile never stops the run: its failures only leave the section short.
profile() {
  set +e +o pipefail
  local n=$PROFILE_JOBS
  say "  profile: syscalls per job (strace -c on the workers of a $n-job 2-worker drain) ..."
  if command -v strace >/dev/null; then
    # strace runs the worker as its child and the wrapper forwards SIGTERM to it,
    # so the worker stops gracefully and strace writes its summary.
    cat >"$TMP/worker-strace.sh" <<EOF
#!/bin/sh
strace -f -c -o $TMP/strace.\$\$ $BUILD/sluice-worker "\$@" &
child=\$!
trap 'kill -TERM \$(pgrep -P \$child) 2>/dev/null' TERM INT
wait \$child
wait \$child
EOF
    chmod +x "$TMP/worker-strace.sh"
    SLUICE_WORKER_PATH=$TMP/worker-strace.sh "$BENCH" -p "$PORT" -t "$TMP" -n "$n" -k "$K" \
      -g " [under strace]" drain 2 >/dev/null
    echo "== syscalls of the 2 workers over a $n-job drain (strace -c; calls / $n = per job)"
    for f in "$TMP"/strace.*; do
      echo "-- worker ${f##*.}"
      awk -v n="$n" 'NR > 2 && $NF != "total" && NF >= 5 && $4 ~ /^[0-9]+$/ { printf "   %-16s %9d calls  %.3f/job\n", $NF, $4, $4 / n }' "$f" | sort -k2 -nr | head -8
    done
  fi
  if perf record -e cpu-clock -o "$TMP/perf.probe" -- true >/dev/null 2>&1; then
    say "  profile: perf record -a -g over a $n-job 2-worker drain ..."
    "$BENCH" -p "$PORT" -t "$TMP" -n "$n" -k "$K" -P "$TMP/perf.data" drain 2 | grep '^D' | cut -f2- | sed 's/^/   /'
    echo "== CPU samples by process (perf record -a -g, cpu-clock 999 Hz, from supervisor start to drained)"
    echo "   (other engineers' processes on the machine are in the total; shares of all samples)"
    perf report -i "$TMP/perf.data" --stdio --no-children --sort comm -g none 2>/dev/null | grep -v '^#' | grep -v '^$' \
      | grep -E 'sluice|redis|swapper' | head -12
    for comm in sluice-worker redis-server; do
      echo "== $comm user-space time by object (self, % of its user samples)"
      perf report -i "$TMP/perf.data" --stdio --no-children --comms "$comm" --percentage relative \
        --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8
      echo "== top symbols of $comm (self, % of its samples)"
      perf report -i "$TMP/perf.data" --stdio --no-children --comms "$comm" --percentage relative \
        --sort dso,sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25
    done
  else
    say "  profile: perf unavailable, callgrind on the workers of a $n-job 2-worker drain ..."
    printf '#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s/callgrind.%%p %s "$@"\n' \
      "$TMP" "$BUILD/sluice-worker" >"$TMP/worker-cg.sh"
    chmod +x "$TMP/worker-cg.sh"
    SLUICE_WORKER_PATH=$TMP/worker-cg.sh "$BENCH" -p "$PORT" -t "$TMP" -n "$n" -k "$K" \
      -g " [under callgrind]" drain 2 >/dev/null
    for f in "$TMP"/callgrind.*; do echo "== callgrind $f"; callgrind_annotate "$f" 2>/dev/null | head -40; done
  fi
}
if [ "$PROFILE" = 1 ]; then profile >"$PROF"; fi
stop_redis

if [ "$AOF" = 1 ]; then
  start_redis aof --appendonly yes --appendfsync everysec
  say "redis (appendonly yes, appendfsync everysec) on port $PORT"
  bench -g " [AOF everysec]" drain 2
  bench -g " [AOF everysec]" enqueue
  stop_redis
fi
say "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "| figure | sluice | ceiling | ratio | target |"
echo "|---|---|---|---|---|"
awk -F'\t' '$1 == "R" { printf "| %s | %s | %s | %s | %s |\n", $2, $3, $4, $5, $6 }' "$OUT"
echo
echo "ratio = sluice / ceiling (throughput: 1.00x = as fast as the raw hiredis loop; latency: 1.00x = as low)."
echo
echo "Details:"
awk -F'\t' '$1 == "D" { print "- " $2 }' "$OUT"
if [ -s "$PROF" ]; then
  echo
  echo "Profile ($PROF):"
  cat "$PROF"
fi
