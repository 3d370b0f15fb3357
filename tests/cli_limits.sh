#!/bin/sh
# cli_limits.sh DIR — issue 13's size limits on the CLI's sources: no file in
# DIR over 250 lines, no function in its .c/.h files over 80 lines. A function
# is a definition starting at column 0 (its first signature line) through its
# closing `}` at column 0; its body opens with `{` at column 0 or at the end of
# a signature line that closes a parenthesis. Prints every offender and fails.
# cli_limits.sh --self-test checks the checker on files made to break the limits.
set -eu
MAX_FILE_LINES=250
MAX_FUNCTION_LINES=80

check() {
  status=0
  for f in "$1"/*; do
    [ -f "$f" ] || continue
    n=$(wc -l <"$f")
    if [ "$n" -gt "$MAX_FILE_LINES" ]; then
      echo "$f: $n lines (at most $MAX_FILE_LINES: split it into files with one job each)"
      status=1
    fi
    case $f in *.c | *.h) ;; *) continue ;; esac
    awk -v max="$MAX_FUNCTION_LINES" -v file="$f" '
      # a column-0 line that can begin a definition (not a brace, comment or directive)
      !in_body && /^[A-Za-z_]/ { start = FNR; sig = $0 }
      !in_body && start && (/^\{/ || (FNR == start && /\)[ \t]*\{[ \t]*$/)) {
        in_body = 1
        name = sig; sub(/\(.*/, "", name); sub(/.*[ *]/, "", name)
        next
      }
      !in_body && /;[ \t]*$/ { start = 0 } # a declaration, not a definition
      in_body && /^\}/ {
        in_body = 0
        if (FNR - start + 1 > max) { printf "%s:%d: %s is %d lines (at most %d: split it)\n", file, start, name, FNR - start + 1, max; bad = 1 }
        start = 0
      }
      END { exit bad }' "$f" || status=1
  done
  return $status
}

# A C file with one function of N lines in all (signature to closing brace).
function_of() {
  echo "static int f(int x)"
  echo "{"
  i=3
  while [ "$i" -lt "$1" ]; do echo "    x++;"; i=$((i + 1)); done
  echo "}"
}

self_test() {
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  mkdir "$dir/ok" "$dir/long_file" "$dir/long_function" "$dir/brace_on_signature"
  function_of "$MAX_FUNCTION_LINES" >"$dir/ok/at_limit.c"
  awk -v n="$MAX_FILE_LINES" 'BEGIN { for (i = 0; i < n; i++) print "/* line */" }' >"$dir/ok/at_limit.h"
  awk -v n="$((MAX_FILE_LINES + 1))" 'BEGIN { for (i = 0; i < n; i++) print "/* line */" }' >"$dir/long_file/cmd.c"
  function_of "$((MAX_FUNCTION_LINES + 1))" >"$dir/long_function/cmd.c"
  function_of "$((MAX_FUNCTION_LINES + 1))" | sed '1{N;s/\n/ /;}' >"$dir/brace_on_signature/cmd.c"
  check "$dir/ok" >/dev/null || { echo "self-test: files at the limits were refused"; exit 1; }
  for case in long_file long_function; do
    if check "$dir/$case" >/dev/null; then echo "self-test: $case was not caught"; exit 1; fi
  done
  # 81 lines with the brace joined to the signature: 80 lines, at the limit
  check "$dir/brace_on_signature" >/dev/null || { echo "self-test: an 80-line function with its brace on the signature line was refused"; exit 1; }
  function_of "$((MAX_FUNCTION_LINES + 2))" | sed '1{N;s/\n/ /;}' >"$dir/brace_on_signature/cmd.c"
  if check "$dir/brace_on_signature" >/dev/null; then echo "self-test: brace_on_signature was not caught"; exit 1; fi
  echo "self-test passed"
}

if [ "${1:-}" = --self-test ]; then self_test; else check "${1:?usage: cli_limits.sh DIR | --self-test}"; fi
