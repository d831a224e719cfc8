#!/usr/bin/env bash
# `make demo`: install what is missing, build, start a private redis-server (AOF
# on; data and socket in .sluice/, which git ignores) unless SLUICE_REDIS_URL names
# one, run the supervisor with the example orders plugin, enqueue sample orders
# from the CLI and from plain redis-cli XADD, and show what happened.
# Ctrl-C stops the supervisor (gracefully) and the private Redis.
# SLUICE_DEMO_ONCE=1 stops by itself after showing the results (used by tests).
# With SLUICE_REDIS_URL set, the demo refuses to delete its earlier keys
# (sluice:{orders}...) in that Redis unless SLUICE_DEMO_RESET=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/lib-redis.sh

echo "demo: checking the Debian packages it needs (scripts/deps.sh build; installs what is missing)"
scripts/deps.sh build
rcli() {  # redis-cli against SLUICE_REDIS_URL
  case "$SLUICE_REDIS_URL" in
    unix://*) redis-cli -s "${SLUICE_REDIS_URL#unix://}" "$@" ;;
    *) redis-cli -u "$SLUICE_REDIS_URL" "$@" ;;
  esac
}

# The demo starts by deleting its earlier data. In a Redis that is not the
# demo's own, only when asked: those keys may be someone's real queue. Checked
# before the build, so a refusal comes at once.
demo_keys=('sluice:{orders}' 'sluice:{orders}:dlq:orders-svc' 'sluice:{orders}:r:orders-svc' 'sluice:{orders-summary}')
if [[ -n "${SLUICE_REDIS_URL:-}" ]]; then
  shown=$(printf '%s' "$SLUICE_REDIS_URL" | sed -E 's#//[^/@]*@#//***@#')
  if ! found=$(rcli exists "${demo_keys[@]}"); then
    echo "demo: cannot reach the Redis of SLUICE_REDIS_URL ($shown)" >&2
    exit 1
  fi
  if [[ "$found" != 0 && "${SLUICE_DEMO_RESET:-0}" != 1 ]]; then
    echo "demo: SLUICE_REDIS_URL ($shown) holds $found of the demo's keys (${demo_keys[*]})." >&2
    echo "demo: the demo starts by deleting them; refusing, since they may be a real queue." >&2
    echo "demo: run with SLUICE_DEMO_RESET=1 to delete them, or unset SLUICE_REDIS_URL to use a private Redis." >&2
    exit 2
  fi
  if [[ "$found" != 0 ]]; then
    echo "demo: SLUICE_DEMO_RESET=1: the demo's keys in $shown will be deleted: ${demo_keys[*]}"
  fi
fi

echo "demo: building into build/ (cmake; the first build takes about 30 s, its log: build/demo-build.log)"
mkdir -p build
if ! { cmake -S . -B build -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_BENCH=OFF &&
       cmake --build build -j"$(nproc 2>/dev/null || echo 2)"; } >build/demo-build.log 2>&1; then
  tail -n 30 build/demo-build.log >&2
  echo "demo: the build failed (full log: build/demo-build.log)" >&2
  exit 1
fi

state=$root/.sluice
mkdir -p "$state/redis"
sup_pid="" redis_pid="" tail_pid=""
log=$state/sluice.log
stop_all() {
  trap - INT TERM EXIT
  echo
  if [[ -n "$sup_pid" ]] && kill -0 "$sup_pid" 2>/dev/null; then
    echo "demo: stopping the supervisor (SIGTERM: in-flight jobs finish)"
    kill -TERM "$sup_pid" 2>/dev/null || true
    wait "$sup_pid" 2>/dev/null || true
  fi
  if [[ -n "$tail_pid" ]]; then
    sleep 0.2  # the last lines
    kill "$tail_pid" 2>/dev/null || true
    wait "$tail_pid" 2>/dev/null || true
    echo "demo: the supervisor's full log: $log"
  fi
  if [[ -n "$redis_pid" ]]; then
    echo "demo: stopping the private redis-server"
    redis-cli -s "$state/redis/redis.sock" shutdown >/dev/null 2>&1 || kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  echo "demo: stopped"
}
trap stop_all EXIT
trap 'exit 0' INT TERM

if [[ -z "${SLUICE_REDIS_URL:-}" ]]; then
  echo "demo: starting a private redis-server (config/redis.conf, data in $state/redis)"
  rm -f "$state/redis/redis.sock"
  # Its own session: Ctrl-C reaches the supervisor, and Redis stops last, below.
  setsid redis-server "$root/config/redis.conf" --port 0 --unixsocket "$state/redis/redis.sock" \
    --unixsocketperm 700 --dir "$state/redis" --logfile "$state/redis/redis.log" --daemonize no &
  redis_pid=$!
  wait_redis -s "$state/redis/redis.sock" || { echo "redis-server did not start: $state/redis/redis.log" >&2; exit 1; }
  export SLUICE_REDIS_URL="unix://$state/redis/redis.sock"
  echo "demo: private redis-server (AOF on) at $SLUICE_REDIS_URL"
fi

# A fresh demo each run: forget earlier demo data.
rcli del "${demo_keys[@]}" >/dev/null
rm -f "$state/order-summaries.jsonl"

# The terminal gets one short line per job and every warning and error; each
# log line carries all its context (ids, trace, counters), so the full log
# goes to a file instead.
short_log() {
  # mawk (Debian's awk) reads a pipe in blocks unless -W interactive.
  local awk=(awk)
  if command -v mawk >/dev/null; then awk=(mawk -W interactive); fi
  "${awk[@]}" '
    function field(name,   n, v) {  # the value of " name=v" or " name=\"v\""
      n = length(name)
      if (match($0, " " name "=\"([^\"\\\\]|\\\\.)*\"")) {
        v = substr($0, RSTART + n + 3, RLENGTH - n - 4)
        gsub(/\\"/, "\"", v)
        return v
      }
      if (match($0, " " name "=[^ ]*")) return substr($0, RSTART + n + 2, RLENGTH - n - 2)
      return ""
    }
    {
      t = substr($1, 12, 12); lvl = $2
      msg = $0; sub(/^[^ ]+ [A-Z]+ +/, "", msg); sub(/ component=.*/, "", msg)
      if (index($0, " outcome=")) {
        line = t "  job " field("job_id") " (" field("type") "): " field("outcome")
        r = field("reason"); e = field("error")
        if (r != "" && r != "retry") line = line ", " r
        if (e != "") line = line ": " e
        print line
      } else if (index($0, " plugin=") && index($0, " job_id=")) {
        print t "  " field("plugin") " plugin: " msg
      } else if (lvl == "WARN" || lvl == "ERROR") {
        e = field("error"); print t "  " lvl " " msg (e != "" ? ": " e : "")
      }
      fflush()
    }'
}
: >"$log"
echo "demo: starting the supervisor: build/sluice run -c config/sluice.json (pool orders, 2 workers)"
echo "demo: its full log goes to $log; here: one line per job, and warnings"
SLUICE_LOG_FILE=$log build/sluice run -c config/sluice.json &
sup_pid=$!
tail -n +1 -s 0.1 -F "$log" 2>/dev/null > >(short_log) &
tail_pid=$!
sleep 0.5

echo "demo: enqueueing sample orders with the CLI"
build/sluice enqueue orders order.placed.v1 \
  '{"order_id":"A-1001","customer":"c-42","currency":"EUR","items":[{"sku":"tea","qty":2,"unit_price":4.5},{"sku":"pot","qty":1,"unit_price":19.9}]}'
printf '%s\n' \
  '{"order_id":"A-1002","customer":"c-7","currency":"USD","items":[{"sku":"mug","qty":4,"unit_price":6}]}' \
  '{"order_id":"A-1003","customer":"c-9","currency":"GBP","items":[{"sku":"kettle","qty":1,"unit_price":35}]}' |
  build/sluice enqueue orders order.placed.v1 -
echo "demo: sluice enqueue refuses an order that breaks config/schemas/order.placed.v1.json:"
build/sluice enqueue orders order.placed.v1 '{"order_id":"A-1004","currency":"eur","items":[]}' || true
echo "demo: enqueueing with a plain XADD from redis-cli (any Redis client works)"
rcli XADD 'sluice:{orders}' '*' type order.placed.v1 \
  payload '{"order_id":"A-1005","customer":"c-1","currency":"EUR","items":[{"sku":"cups","qty":6,"unit_price":3.25}]}'
rcli XADD 'sluice:{orders}' '*' type order.cancelled.v1 payload '{"order_id":"A-1001"}'
echo "demo: a producer that skips validation (plain XADD) gets its bad order dead-lettered by the worker"
rcli XADD 'sluice:{orders}' '*' type order.placed.v1 payload '{"order_id":"A-1004","currency":"eur","items":[]}'

# Wait until every group has read and acked everything.
for _ in $(seq 1 100); do
  busy=$(rcli XINFO GROUPS 'sluice:{orders}' 2>/dev/null | awk 'p{print; p=0} /^(pending|lag)$/{p=1}' | grep -cv '^0$' || true)
  [[ "$busy" == 0 ]] && break
  sleep 0.1
done
sleep 0.3  # the log lines of the last jobs before the results

echo
echo "== order summaries written by the handler ($state/order-summaries.jsonl)"
cat "$state/order-summaries.jsonl" 2>/dev/null || echo "(none)"
echo
echo "== summary events it published (sluice:{orders-summary})"
rcli XRANGE 'sluice:{orders-summary}' - + | grep -A1 '^payload$' | grep -v -e '^payload$' -e '^--$' || echo "(none)"
echo
echo "== dead letters (sluice:{orders}:dlq:orders-svc): reason and error"
rcli XRANGE 'sluice:{orders}:dlq:orders-svc' - + | awk 'p{print "  " k ": " $0; p=0} /^(reason|error|type)$/{k=$0; p=1}'
echo
echo "== consumer groups"
rcli XINFO GROUPS 'sluice:{orders}' | paste - - | awk '{printf "  %s=%s", $1, $2} NR%6==0{print ""}'
echo

if [[ "${SLUICE_DEMO_ONCE:-0}" == 1 ]]; then exit 0; fi
echo "demo: running; enqueue more with: build/sluice enqueue orders order.placed.v1 '{...}'  (Ctrl-C stops)"
wait "$sup_pid"
