#!/bin/bash
# Runs cg.sh for before / after over the loops; appends lines to cg-results.txt:
#   mode loop impl I(1) I(3) per-row
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/cg-results.txt
for spec in "nogc batch" "nogc scan" "gc batch" "gc scan" "gc listall" "gc listzip"; do
  set -- $spec
  for impl in before after; do
    r=$(nice "$HERE/cg.sh" /tmp/untrack-venvs/$impl/bin/python "$2" "$1")
    set -- $1 $2 $r
    echo "$1 $2 $impl $3 $4 $(( ($4 - $3) / 200000 ))" >> "$OUT"
  done
done
