#!/usr/bin/env bash
# Check that the built sluice, sluice-worker and libsluice.so carry the hardening
# CMakeLists.txt asks for: full RELRO (a GNU_RELRO segment and BIND_NOW), stack
# canaries (__stack_chk_fail imported), _FORTIFY_SOURCE (some __*_chk imported) and,
# for the executables, PIE. Usage: scripts/check-hardening.sh [BUILD_DIR] (default build).
# Prints one line per file and problem; exits 0 when every check holds, 1 otherwise.
set -euo pipefail
dir=${1:-build}

fail=0
bad() { echo "check-hardening: $1: $2"; fail=1; }

check() {  # check FILE KIND (exe|lib)
  local f=$1 kind=$2 dyn prog syms
  if [[ ! -f $f ]]; then bad "$f" "missing (build first)"; return; fi
  dyn=$(readelf -dW "$f")
  prog=$(readelf -lW "$f")
  syms=$(readelf --dyn-syms -W "$f" | awk '$7 == "UND" {print $8}')
  # -z now sets DT_FLAGS BIND_NOW and/or DT_FLAGS_1 NOW, depending on the linker.
  grep -qE '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*[[:space:]]NOW' <<<"$dyn" ||
    bad "$f" "no BIND_NOW / FLAGS_1 NOW (link with -Wl,-z,now)"
  grep -q 'GNU_RELRO' <<<"$prog" || bad "$f" "no GNU_RELRO segment (link with -Wl,-z,relro)"
  grep -q '^__stack_chk_fail' <<<"$syms" ||
    bad "$f" "no __stack_chk_fail import (compile with -fstack-protector-strong)"
  grep -E '^__[a-z0-9_]+_chk(@|$)' <<<"$syms" | grep -qv '^__stack_chk_fail' ||
    bad "$f" "no __*_chk import (compile with -D_FORTIFY_SOURCE=2 and -O1 or more)"
  if [[ $kind == exe ]]; then
    grep -q 'Elf file type is DYN' <<<"$prog" || bad "$f" "not a position-independent executable"
  fi
}

check "$dir/sluice" exe
check "$dir/sluice-worker" exe
check "$dir/libsluice.so" lib

if [[ $fail -eq 0 ]]; then
  echo "check-hardening: $dir/sluice, sluice-worker, libsluice.so: RELRO, BIND_NOW, canaries, FORTIFY, PIE ok"
fi
exit $fail
