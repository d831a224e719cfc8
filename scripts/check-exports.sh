#!/usr/bin/env bash
# Check that libsluice.so exports the public producer API and nothing else: its
# defined dynamic symbols must be exactly the sluice_* functions declared in
# include/sluice/*.h (read from the preprocessed headers, so declaring a new API
# function there is all this check needs), and it must carry the SONAME
# libsluice.so.<SLUICE_VERSION_MAJOR>. Toolchain symbols (_init, _fini, _edata,
# _end, __bss_start) and, in a sanitizer build, the runtimes' own (__asan_*,
# __ubsan_*, __lsan_*, __sanitizer_*, ...) are ignored.
# Usage: scripts/check-exports.sh [BUILD_DIR] (default build). Prints every
# missing or unexpected symbol; exits 0 when the exports are exactly the API, 1 otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}

fail=0
bad() { echo "check-exports: $1"; fail=1; }

# The API: every sluice_* name followed by "(" in the headers once comments and
# macro definitions are gone (plugin.h's entry symbol lives in a macro, defined
# by each plugin, so it is not counted). A name followed by "(*" is the return
# type of a function pointer type ("sluice_result (*sluice_handler_fn)(...)"),
# and the pointer's own name is followed by ")": neither is counted.
api=$(for h in "$root"/include/sluice/*.h; do
        cc -std=c11 -E -P -I"$root/include" "$h" | tr '\n' ' ' |
          { grep -oE '\bsluice_[A-Za-z0-9_]+[[:space:]]*\(([[:space:]]*\*)?' || true; } |
          { grep -v '\*$' || true; } | sed -E 's/[[:space:]]*\($//'
      done | sort -u)
if [[ -z $api ]]; then bad "no sluice_* function found in include/sluice/*.h"; exit 1; fi

ignored='^(_init|_fini|_edata|_end|__bss_start|_DYNAMIC|_GLOBAL_OFFSET_TABLE_)$|^__(asan|ubsan|lsan|sanitizer|interceptor|odr_asan|start_asan|stop_asan)'

libs=()
for f in "$dir"/libsluice.so*; do
  [[ -f $f ]] && libs+=("$(readlink -f "$f")")
done
if [[ ${#libs[@]} -eq 0 ]]; then
  echo "check-exports: $dir/libsluice.so: missing (build first)"; exit 1
fi
major=$(sed -nE 's/^#define SLUICE_VERSION_MAJOR ([0-9]+).*/\1/p' "$root/include/sluice/version.h")

for lib in $(printf '%s\n' "${libs[@]}" | sort -u); do
  soname=$(readelf -dW "$lib" | sed -nE 's/.*\(SONAME\).*\[(.*)\]/\1/p')
  [[ $soname == "libsluice.so.$major" ]] ||
    bad "$lib: SONAME is '${soname:-unset}', want libsluice.so.$major"
  # "ADDR TYPE NAME[@VERSION]"; A is a version node's own name, not a symbol.
  syms=$(nm -D --defined-only "$lib" |
         awk -v ign="$ignored" '$2 != "A" {sub(/@.*/, "", $3); if ($3 !~ ign) print $2, $3}')
  funcs=$(awk '$1 ~ /^[TtWi]$/ {print $2}' <<<"$syms" | sort -u)
  others=$(awk '$1 !~ /^[TtWi]$/ {print $2 " (" $1 ")"}' <<<"$syms" | sort -u)
  unexpected=$(comm -13 <(echo "$api") <(echo "$funcs") | sed '/^$/d')
  missing=$(comm -23 <(echo "$api") <(echo "$funcs") | sed '/^$/d')
  n_unexp=$(grep -c . <<<"$unexpected" || true)
  n_miss=$(grep -c . <<<"$missing" || true)
  n_other=$(grep -c . <<<"$others" || true)
  n_funcs=$(grep -c . <<<"$funcs" || true)
  if [[ $n_unexp -gt 0 ]]; then
    bad "$lib: $n_unexp exported functions not declared in include/sluice/*.h:"
    sed 's/^/  /' <<<"$unexpected"
  fi
  if [[ $n_other -gt 0 ]]; then
    bad "$lib: $n_other exported data symbols (the API exports functions only):"
    sed 's/^/  /' <<<"$others"
  fi
  if [[ $n_miss -gt 0 ]]; then
    bad "$lib: $n_miss API functions declared in include/sluice/*.h but not exported:"
    sed 's/^/  /' <<<"$missing"
  fi
  if [[ $fail -eq 0 ]]; then
    echo "check-exports: $lib: exports exactly the $n_funcs sluice_* API functions, SONAME $soname"
  fi
done
exit $fail
