# Shell helpers to start a private redis-server; sourced by demo.sh and test.sh.

# wait_redis CLI_ARGS... : wait up to 10 s for PING to answer.
wait_redis() {
  for _ in $(seq 1 200); do
    if redis-cli "$@" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.05
  done
  return 1
}

# start_tcp_redis DIR [EXTRA ARGS...]: start redis-server on a free loopback port
# with its files in DIR; sets REDIS_PORT and REDIS_PID. Retries on a port clash.
start_tcp_redis() {
  local dir=$1; shift
  local port
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 30000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize no \
      --save '' --appendonly no --logfile "$dir/redis.log" "$@" &
    REDIS_PID=$!
    if wait_redis -p "$port"; then REDIS_PORT=$port; return 0; fi
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  done
  echo "could not start redis-server (see $dir/redis.log)" >&2
  return 1
}
