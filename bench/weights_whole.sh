#!/bin/bash
# weights_whole.sh — two circuitc binaries, alternating, on the weight-only
# commands as whole processes (issue 23): `discover --no-runtime --top 20
# --json`, and with --atlas also `atlas --out FILE`. Prints wall and CPU
# seconds (user + system), peak RSS and the load average at each start, and
# checks that both binaries give the same output (discover's --json but its
# "seconds" and the "version" the binaries report; the atlas files byte for byte). Exit status 1 on any difference.
#
#   bench/weights_whole.sh OLD_BIN NEW_BIN MODEL [RUNS] [--atlas]
#
# The binaries run in the environment given (no OPENBLAS_CORETYPE is set).
set -u
if [ $# -lt 3 ]; then
    echo "usage: $0 OLD_BIN NEW_BIN MODEL [RUNS] [--atlas]" >&2
    exit 2
fi
old=$1 new=$2 model=$3 runs=3 atlas=0
for a in "${@:4}"; do
    case $a in
    --atlas) atlas=1 ;;
    *) runs=$a ;;
    esac
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/weights_whole.XXXXXX")
trap 'rm -rf "$dir"' EXIT
status=0

# run NAME BIN ARGS...: one timed process; its stdout in $dir/NAME.out
run() {
    local name=$1 bin=$2
    shift 2
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -f "%e %U %S %M" -o "$dir/$name.time" "$bin" "$@" > "$dir/$name.out" 2> "$dir/$name.err" || {
        echo "$name: $bin failed:" >&2
        tail -3 "$dir/$name.err" >&2
        exit 1
    }
    read -r wall user sys rss < "$dir/$name.time"
    printf '  %-4s %7.2f s wall %7.2f s CPU (%.2f user + %.2f sys) %5d MiB peak  load %s\n' "$name" "$wall" \
        "$(echo "$user + $sys" | bc)" "$user" "$sys" $((rss / 1024)) "$load"
}

same() { # same WHAT FILE1 FILE2
    if cmp -s "$2" "$3"; then echo "  $1: identical"; else echo "  $1: DIFFERENT"; status=1; fi
}

echo "old $old, new $new, model $model"
for i in $(seq "$runs"); do
    echo "discover --no-runtime --top 20, pair $i"
    run old "$old" discover --model "$model" --no-runtime --top 20 --json
    run new "$new" discover --model "$model" --no-runtime --top 20 --json
    grep -v -e '"seconds"' -e '"version"' "$dir/old.out" > "$dir/old.json"
    grep -v -e '"seconds"' -e '"version"' "$dir/new.out" > "$dir/new.json"
    same "--json but seconds and version" "$dir/old.json" "$dir/new.json"
done
if [ "$atlas" = 1 ]; then
    echo "atlas --out FILE"
    run old "$old" atlas --model "$model" --out "$dir/old.jsonl"
    run new "$new" atlas --model "$model" --out "$dir/new.jsonl"
    same "atlas file" "$dir/old.jsonl" "$dir/new.jsonl"
fi
exit $status
