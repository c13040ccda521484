#!/bin/bash
# Instruction counts of one read loop (see cg_loops.py), for one python:
#   benches/python/readpath/callgrind.sh PYTHON LOOP
# prints the total instructions for 1 and 3 repetitions; per row (scan,
# batch, zipr, listzip) = difference / 200000, per call (pt, r10, sl10,
# r100, at, gi) = difference / 2058.
set -eu
PY=$1; W=$2; HERE=$(cd "$(dirname "$0")" && pwd); TMP=$(mktemp -d)
export OPENBLAS_NUM_THREADS=1
for r in 1 3; do
  valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$r" "$PY" "$HERE/cg_loops.py" "$W" "$r" 2>&1 \
    | grep "Collected" | awk '{print $4}'
done | tr '\n' ' '
echo
rm -rf "$TMP"
