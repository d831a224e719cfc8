#!/usr/bin/env bash
# Install the Debian packages sluice needs that are missing. Usage:
#   scripts/deps.sh build   compilers, libraries, redis-server (make demo)
#   scripts/deps.sh test    the above plus what the test suite and lint use (make test)
#   scripts/deps.sh lint    the build packages plus clang-tidy (make lint)
# Runs apt-get only when something is missing; needs root for that.
set -euo pipefail

build_pkgs=(gcc make cmake pkg-config libhiredis-dev libevent-dev libcjson-dev libpcre2-dev
            redis-server redis-tools tzdata)  # tzdata: the time zones of cron schedules
test_pkgs=(g++ libcriterion-dev python3 python3-redis redis-sentinel docker-compose json-schema-test-suite prometheus
           clang libclang-rt-14-dev jq python3-jsonschema python3-croniter
           clang-format)  # clang: tests/fuzz/; jq, jsonschema: the docs test; clang-format: make format;
                          # croniter: the cron table's expected times (scripts/gen-cron-cases.py)
lint_pkgs=(clang-tidy)

want=("${build_pkgs[@]}")
if [[ "${1:-build}" == test ]]; then want+=("${test_pkgs[@]}" "${lint_pkgs[@]}"); fi
if [[ "${1:-build}" == lint ]]; then want+=("${lint_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: installing ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
  echo "deps: missing packages and not root; run: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's redis-server package starts a system instance where an init system runs;
# sluice never uses it (demo and tests start their own), so leave it be.
