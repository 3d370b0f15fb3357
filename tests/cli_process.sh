#!/usr/bin/env bash
# cli_process.sh — circuitc chooses its BLAS kernel without re-executing itself
# (docs/blas.md): the program links no BLAS and imports no exec*, the CLI module
# it loads starts processes only with posix_spawn (self-checks, gnuplot, report
# steps), and a run that switches kernels is one exec in its whole process tree.
# usage: cli_process.sh CIRCUITC CIRCUITC-CLI.so
set -euo pipefail
exe=$1 module=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
imports() { nm -D --undefined-only "$1" | awk '{print $NF}' | sed 's/@.*//'; }

needed=$(readelf -d "$exe" | awk '/NEEDED/ {print $NF}')
grep -qiE 'blas|circuitc|lapack' <<<"$needed" && fail "$exe links $(echo $needed): OpenBLAS would load before the kernel is chosen"
bad=$(imports "$exe" | grep -xE 'exec[lv]p?e?|execvpe|fexecve|system' || true)
[ -z "$bad" ] || fail "$exe imports $(echo $bad)"
bad=$(imports "$module" | grep -xE 'exec[lv]p?e?|execvpe|fexecve|fork|vfork|system' || true)
[ -z "$bad" ] || fail "$module imports $(echo $bad)"
echo "$exe links no BLAS and neither it nor $module imports exec*"

if ! command -v strace >/dev/null || ! strace -qq -o /dev/null true 2>/dev/null; then
  echo "strace unavailable: the process tree is not checked"
  exit 0
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Prescott is never the library's own choice on an x86-64 with AVX: a switch, without a self-check.
# LeakSanitizer cannot run under ptrace: off for the traced run of a sanitizer build
out=$(env -u OPENBLAS_CORETYPE CIRCUITC_BLAS_CORE=Prescott ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -e trace=execve -o "$log" "$exe" info --json)
execs=$(grep -c 'execve(' "$log" || true)
[ "$execs" = 1 ] || fail "a run that switches kernels made $execs execs: $(cat "$log")"
core=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["blas"]["core"])' <<<"$out")
if grep -q DYNAMIC_ARCH <<<"$out"; then
  [ "$core" = Prescott ] || fail "CIRCUITC_BLAS_CORE=Prescott ran on $core"
fi
echo "CIRCUITC_BLAS_CORE=Prescott: kernel $core, one exec in the process tree"
