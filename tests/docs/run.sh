#!/usr/bin/env bash
# The docs test (part of `make test`): runs every sh/python/js example block of
# README.md and docs/*.md (see tests/docs/run.py for the marking) against a
# throwaway redis-server and a supervisor on the repo's demo config.
# Usage: tests/docs/run.sh [BUILD_DIR] [FILE.md...]   (BUILD_DIR default: build)
# SLUICE_DOCS_SHOW=1 prints every block's output (to write `output` blocks).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=$(cd "${1:-build}" && pwd); shift || true
source scripts/lib-redis.sh

# What the examples use beyond `make test`'s packages: node and npm (the JS
# examples), jq and python3-jsonschema (the schema examples).
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
for p in jq python3-jsonschema; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "docs: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The JS examples run with both clients they show, ioredis and node-redis (and
# Ajv), installed here (gitignored), not into the project's dependencies.
mods=$root/tests/docs/node_modules
if [[ ! -d $mods/ioredis || ! -d $mods/redis || ! -d $mods/ajv ]]; then
  echo "docs: npm install ioredis redis ajv into tests/docs/node_modules" >&2
  npm install --no-save --no-audit --no-fund --no-package-lock --prefix "$root/tests/docs" \
    ioredis@6.0.0 redis@6.3.1 ajv@8.20.0 >/dev/null
fi

tmp=$(mktemp -d /tmp/sluice-docs-XXXXXX)
cleanup() {
  [[ -n "${REDIS_PID:-}" ]] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/redis" "$tmp/work/build/plugins" "$tmp/work/bin" "$tmp/work/.sluice"
start_tcp_redis "$tmp/redis"
url="redis://127.0.0.1:$REDIS_PORT/0"

# The examples' working directory: like a checkout (build/, config/, include/,
# common/, examples/), but what they write stays in $tmp.
work=$tmp/work
ln -s "$build/sluice" "$build/sluice-worker" "$work/build/"
cp "$build"/plugins/*.so "$work/build/plugins/"
ln -s "$build"/libsluice.so* "$work/build/"
cp -r "$root/config" "$work/config"
# The demo's summary_file, ".sluice/...", whether relative to the working
# directory or to the config file.
mkdir -p "$work/config/.sluice"
ln -s "$root/include" "$root/common" "$root/examples" "$work/"
# redis-cli in the examples talks to the throwaway server.
cat >"$work/bin/redis-cli" <<EOS
#!/bin/sh
exec /usr/bin/redis-cli -u "$url" "\$@"
EOS
chmod +x "$work/bin/redis-cli"

rc=0
/usr/bin/python3 "$root/tests/docs/run.py" --repo "$root" --work "$work" --redis-url "$url" \
  --node-modules "$mods" ${SLUICE_DOCS_SHOW:+--show} "$@" || rc=1

# What README.md says of `make demo` with SLUICE_REDIS_URL: on a Redis holding
# the demo's keys it refuses (exit 2) before building, and deletes nothing.
if [[ $# -eq 0 ]]; then
  /usr/bin/redis-cli -u "$url" FLUSHALL >/dev/null
  /usr/bin/redis-cli -u "$url" XADD 'sluice:{orders}' '*' type order.placed.v1 payload '{}' >/dev/null
  demo_rc=0
  demo_out=$(SLUICE_REDIS_URL=$url SLUICE_DEMO_ONCE=1 timeout 300 scripts/demo.sh 2>&1 </dev/null) || demo_rc=$?
  if [[ $demo_rc -eq 2 && $demo_out == *"refusing, since they may be a real queue"* &&
        $(/usr/bin/redis-cli -u "$url" XLEN 'sluice:{orders}') == 1 ]]; then
    echo "ok   make demo refuses to delete the demo's keys in the Redis of SLUICE_REDIS_URL"
  else
    echo "FAIL make demo with SLUICE_REDIS_URL on a Redis holding sluice:{orders}: exit $demo_rc, sluice:{orders}" \
         "holds $(/usr/bin/redis-cli -u "$url" XLEN 'sluice:{orders}') entries (want exit 2, 1 entry)"
    printf '%s\n' "$demo_out" | tail -n 20
    rc=1
  fi
fi
exit $rc
