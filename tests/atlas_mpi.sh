#!/bin/sh
# atlas_mpi.sh BIN — `mpirun -np 2 circuitc atlas` on loopback writes the same
# file, byte for byte, as the single-process run (the file holds no timings),
# on the bundled fixture and with every pair exact (--min-acc 0).
set -eu
bin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Open MPI in a container: running as root needs both variables; --oversubscribe
# allows more ranks than cores; Open MPI's own allocations are not ours to leak-check.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0
for min_acc in 0.01 0; do
  "$bin" atlas --min-acc "$min_acc" --out "$dir/one.jsonl" --quiet >/dev/null
  mpirun --oversubscribe --allow-run-as-root -np 2 "$bin" atlas --min-acc "$min_acc" --out "$dir/two.jsonl" \
    --quiet --json >"$dir/two.json"
  cmp "$dir/one.jsonl" "$dir/two.jsonl"
  grep -q '"ranks": 2' "$dir/two.json"
  grep -q '"pairs_by_rank"' "$dir/two.json"
  [ ! -e "$dir/two.jsonl.partial" ]
  rm "$dir/one.jsonl" "$dir/two.jsonl"
done
echo "2 ranks: identical files"
