#!/usr/bin/env bash
# test_install.sh — installs circuitc into a temporary DESTDIR, moves the
# installed tree elsewhere (it must not depend on where it was installed), and
# uses it from outside the source and build trees as a user would:
#   - no source-tree path among the constants of circuitc and libcircuitc.so;
#   - every public header is installed, compiles alone as C and all together as C++;
#     the umbrella circuitc.h includes every one of them;
#   - `pkg-config --modversion circuitc` gives the project version;
#   - consumer.c (which includes <circuitc.h> only and prints the version of the
#     headers and of the library) builds with `pkg-config --cflags --libs circuitc` against the
#     shared library (and with --static against libcircuitc.a), runs, and
#     agrees with the installed circuitc on a composition score and on kcomp's
#     top-1 count (the one-call cc_circuit_report_run, with its JSON);
#   - the shared consumer finds the data beside libcircuitc.so without CIRCUITC_DATA;
#   - the installed circuitc runs `kcomp L0H0 L1H0` on the bundled model and
#     writes a `report`, finding its data beside itself;
#   - without its data it fails clearly (naming CIRCUITC_DATA), printing nothing on stdout.
# Run by meson test (tests/meson.build) with:
#   MESON BUILD_ROOT SOURCE_ROOT PREFIX BINDIR LIBDIR DATADIR INCLUDEDIR VERSION SANITIZE CC...
set -euo pipefail
meson=$1 build_root=$2 source_root=$3 prefix=$4 bindir=$5 libdir=$6 datadir=$7 includedir=$8 version=$9
sanitize=${10}
shift 10
cc=("$@")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/circuitc-install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Only the installed tree may be used: no overrides, not the trees' copies.
unset CIRCUITC_DATA CIRCUITC_MODEL CIRCUITC_CIRCUITS CIRCUITC_PLOTS CIRCUITC_GPT2_TOKENIZER CIRCUITC_SOURCE_ROOT
unset LD_LIBRARY_PATH # meson points it at the build tree's libcircuitc.so

"$meson" install -C "$build_root" --no-rebuild --quiet --destdir "$tmp/dest" >/dev/null
root=$tmp/moved # the installed prefix, moved away from where it was installed
mv "$tmp/dest$prefix" "$root"
bin=$root/$bindir/circuitc
data=$root/$datadir/circuitc
echo "installed into a DESTDIR, prefix $prefix moved to $root"

# ---- no path of the source tree compiled in (debug info aside) ----------------------
if command -v objcopy >/dev/null; then
  for f in "$bin" "$root/$libdir"/libcircuitc.so.*.*.*; do
    objcopy -O binary --only-section=.rodata "$f" "$tmp/rodata"
    ! grep -qF "$source_root" "$tmp/rodata" || fail "${f##*/} has the source tree's path $source_root in its constants"
  done
  echo "constants of circuitc and libcircuitc.so: no source-tree path"
fi

# ---- headers -------------------------------------------------------------------
for h in "$source_root"/include/circuitc/*.h; do
  [ -f "$root/$includedir/circuitc/${h##*/}" ] || fail "public header ${h##*/} is not installed"
  printf '#include <circuitc/%s>\n' "${h##*/}" >"$tmp/one.c"
  "${cc[@]}" -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$root/$includedir" "$tmp/one.c" ||
    fail "installed header ${h##*/} does not compile on its own"
done
[ -f "$root/$includedir/circuitc/version.h" ] || fail "the configured header version.h is not installed"
for h in "$root/$includedir"/circuitc/*.h; do
  grep -qx "#include \"circuitc/${h##*/}\"" "$root/$includedir/circuitc.h" ||
    fail "the umbrella header circuitc.h does not include circuitc/${h##*/}"
done
printf '#include <circuitc.h>\n' >"$tmp/umbrella.c"
"${cc[@]}" -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$root/$includedir" "$tmp/umbrella.c" ||
  fail "the installed umbrella header circuitc.h does not compile"
if command -v c++ >/dev/null; then
  { echo '#include <circuitc.h>'
    echo 'int main() { return cc_fail(nullptr, "%s", "linked as C") == -1 ? 0 : 1; }'; } >"$tmp/all.cpp"
  c++ -Wall -Wextra -Werror -fsyntax-only -I"$root/$includedir" "$tmp/all.cpp" ||
    fail "the installed headers do not compile as C++ (extern \"C\" guards)"
  echo "headers: every one installed, compiles alone (C) and together through circuitc.h (C++)"
else
  echo "headers: every one installed and compiles alone (C); no c++ to check the extern \"C\" guards"
fi

# ---- pkg-config and a program built against the library ------------------------------
export PKG_CONFIG_PATH=$root/$libdir/pkgconfig
grep -q '^prefix=${pcfiledir}' "$PKG_CONFIG_PATH/circuitc.pc" ||
  fail "circuitc.pc is not relocatable: $build_root predates pkgconfig.relocatable=true in meson.build; run" \
    "meson configure $build_root -Dpkgconfig.relocatable=true"
got=$(pkg-config --modversion circuitc) || fail "pkg-config does not find circuitc.pc in $PKG_CONFIG_PATH"
[ "$got" = "$version" ] || fail "pkg-config --modversion circuitc gives $got, the project is $version"
san=()
[ "$sanitize" = none ] || san=(-fsanitize="$sanitize") # a sanitized library needs a sanitized program
read -ra flags <<<"$(pkg-config --cflags --libs circuitc)"
"${cc[@]}" -std=c11 -Wall -Wextra -Werror "${san[@]}" "$source_root/tests/install/consumer.c" "${flags[@]}" \
  -o "$tmp/consumer" || fail "consumer.c does not build with pkg-config --cflags --libs circuitc: ${flags[*]}"
readelf -d "$tmp/consumer" | grep -q 'NEEDED.*\[libcircuitc\.so\.' || fail "the consumer is not linked to libcircuitc.so"
# a program of one's own is not beside the data: CIRCUITC_DATA names it (the built-in circuits)
shared=$(CIRCUITC_DATA=$data LD_LIBRARY_PATH=$root/$libdir "$tmp/consumer" "$data/models/induction-3l4h") ||
  fail "the consumer (shared libcircuitc) failed"
read -ra static_flags <<<"$(pkg-config --static --cflags --libs circuitc)"
"${cc[@]}" -std=c11 "${san[@]}" "$source_root/tests/install/consumer.c" "${static_flags[@]/#-lcircuitc/$root/$libdir/libcircuitc.a}" \
  -o "$tmp/consumer-static" || fail "consumer.c does not link libcircuitc.a with pkg-config --static: ${static_flags[*]}"
static=$(CIRCUITC_DATA=$data "$tmp/consumer-static" "$data/models/induction-3l4h") || fail "the consumer (static libcircuitc) failed"
[ "$shared" = "$static" ] || fail "shared and static builds differ: '$shared' vs '$static'"
grep -qx 'layers 3 heads 4 vocab 512' <<<"$shared" || fail "unexpected consumer output: $shared"
# ... and without CIRCUITC_DATA, libcircuitc.so finds the data from its own folder (the
# program is in $tmp, nowhere near it)
beside_lib=$(LD_LIBRARY_PATH=$root/$libdir "$tmp/consumer" "$data/models/induction-3l4h") ||
  fail "the consumer (shared libcircuitc) without CIRCUITC_DATA did not find the data beside libcircuitc.so"
[ "$beside_lib" = "$shared" ] || fail "without CIRCUITC_DATA the consumer says '$beside_lib', with it '$shared'"
grep -qx "version $version $version" <<<"$shared" ||
  fail "the consumer's version line (headers, then cc_version()) is not '$version $version': $shared"
echo "consumer (shared and static): ${shared//$'\n'/; }"

# ---- the installed circuitc, from outside the trees ----------------------------------------
mkdir "$tmp/work"
cd "$tmp/work"
out=$("$bin" kcomp L0H0 L1H0) || fail "installed circuitc kcomp L0H0 L1H0 failed"
grep -q "^model .*$data/models/induction-3l4h\$" <<<"$out" || fail "kcomp did not use the installed model: $out"
score=$(grep -o 'k-composition score [0-9.]*' <<<"$out")
grep -qx "$score" <<<"$shared" || fail "circuitc says '$score', the library through the consumer '$shared'"
top1=$(grep -o 'rows *top-1 *[0-9]* / [0-9]*' <<<"$out" | sed 's/  */ /g')
grep -qx "kcomp $top1" <<<"$shared" || fail "circuitc says '$top1', cc_circuit_report_run in the consumer '$shared'"
grep -qx 'kcomp bindings {"prev":"L0H0","ind":"L1H0"}' <<<"$shared" || fail "unexpected kcomp JSON bindings: $shared"
# docs/library.md's example, as printed there, against the installed library
awk '/^## Example/{f=1} f && /^    #include <stdio.h>/{c=1} c && /^[^ ]/{exit} c' "$source_root/docs/library.md" |
  sed 's/^    //' >"$tmp/doc_example.c"
"${cc[@]}" -std=c11 -Wall -Wextra -Werror "${san[@]}" "$tmp/doc_example.c" "${flags[@]}" -o "$tmp/doc_example" ||
  fail "docs/library.md's example does not build with pkg-config --cflags --libs circuitc"
example=$(CIRCUITC_DATA=$data LD_LIBRARY_PATH=$root/$libdir "$tmp/doc_example") || fail "docs/library.md's example failed"
read -r _ _ n _ v <<<"$top1" # rows top-1 N / V
want="top-1 $n of $v, k-composition ${score##* }"
[ "${example%%$'\n'*}" = "$want" ] || fail "docs/library.md's example says '${example%%$'\n'*}', circuitc '$want'"
grep -q '"composition": {' <<<"$example" || fail "docs/library.md's example printed no kcomp JSON"
echo "docs/library.md example: ${example%%$'\n'*}"
echo "kcomp L0H0 L1H0: $(grep -m1 'top-1' <<<"$out" | sed 's/  */ /g'); $score as the consumer"
"$bin" report --out "$tmp/work/report" >/dev/null 2>"$tmp/report.log" ||
  fail "installed circuitc report failed: $(cat "$tmp/report.log")"
for f in index.html kcomp.png pattern.png repeat.png patch.png heads.png comp-scores.png; do
  [ -s "$tmp/work/report/$f" ] || fail "report did not write $f"
done
echo "report: index.html and 6 charts written"
if [ -d "$data/gpt2-tokenizer" ]; then
  "$bin" tokenize "Hello world" | grep -q '15496 *"Hello"' || fail "tokenize did not use the installed GPT-2 tokenizer"
  echo "tokenize: the installed GPT-2 tokenizer"
fi

# ---- without its data: a clear error, nothing on stdout ------------------------------------
expect_data_error() { # LABEL EXPECTED-TEXT COMMAND...
  local label=$1 want=$2 rc=0
  shift 2
  "$@" kcomp L0H0 L1H0 >"$tmp/stdout" 2>"$tmp/stderr" || rc=$?
  [ "$rc" -eq 1 ] || fail "$label: exit status $rc, expected 1"
  [ ! -s "$tmp/stdout" ] || fail "$label: printed on stdout: $(cat "$tmp/stdout")"
  grep -q "$want" "$tmp/stderr" || fail "$label: the error does not mention $want: $(cat "$tmp/stderr")"
  echo "$label: $(cat "$tmp/stderr")"
}
expect_data_error "CIRCUITC_DATA pointing nowhere" "CIRCUITC_DATA=$tmp/nowhere" env CIRCUITC_DATA="$tmp/nowhere" "$bin"
mkdir -p "$tmp/alone/bin" "$tmp/alone/$libdir"
cp "$bin" "$tmp/alone/bin/"
cp -r "$root/$libdir/circuitc" "$tmp/alone/$libdir/" # its modules (docs/blas.md), not its data
expect_data_error "the executable without its data" "$tmp/alone/bin/../share/circuitc.*CIRCUITC_DATA" "$tmp/alone/bin/circuitc"
