#!/usr/bin/env bash
# lib_process.sh — libcircuitc.so leaves the process to its program (docs/blas.md,
# "In a program of your own, or a binding"; docs/library.md): it never re-executes
# or forks the program and never changes the environment (so never OPENBLAS_CORETYPE),
# which only the circuitc tool does. Checked on the symbols the library imports.
# usage: lib_process.sh LIBCIRCUITC.so
set -euo pipefail
lib=$1
imports=$(nm -D --undefined-only "$lib" | awk '{print $NF}' | sed 's/@.*//')
[ -n "$imports" ] || { echo "FAIL: no imported symbols read from $lib" >&2; exit 1; }
bad=$(grep -xE 'exec[lv]p?e?|execvpe|fexecve|fork|vfork|setenv|putenv|unsetenv|clearenv' <<<"$imports" || true)
if [ -n "$bad" ]; then
  echo "FAIL: $lib imports $(echo $bad): the library must not re-execute, fork or change the environment" >&2
  exit 1
fi
echo "$lib imports none of exec*, fork, setenv, putenv, unsetenv, clearenv"
