#!/bin/bash
# Instruction counts (callgrind) of one loop of cg_loops_gc.py (collector ON)
# or ../../readpath/cg_loops.py (collector off), for 1 and 3 repetitions:
#   cg.sh PYTHON LOOP gc|nogc
# per row = (I(3) - I(1)) / 200000.
set -eu
PY=$1; W=$2; HERE=$(cd "$(dirname "$0")" && pwd); TMP=$(mktemp -d)
case $3 in gc) S=$HERE/cg_loops_gc.py;; nogc) S=$HERE/../../readpath/cg_loops.py;; esac
export OPENBLAS_NUM_THREADS=1 PYTHONHASHSEED=0
for r in 1 3; do
  valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$r" "$PY" "$S" "$W" "$r" 2>&1 \
    | grep "Collected" | awk '{print $4}'
done | tr '\n' ' '
echo
rm -rf "$TMP"
