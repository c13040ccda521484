#!/bin/bash
# interleaved old/new under load: counts failures
cd /tmp/exit; fo=0; fn=0
for i in $(seq 1 $1); do
  PYTHONPATH=/tmp/exit/old /work/main/.venvs/py313t/bin/python gc_finalizers_inside_calls.py > /dev/null 2> ab.err
  rc=$?; if [ $rc -ne 0 ] || grep -q FATAL ab.err; then fo=$((fo+1)); cp ab.err abfail_old_$i.txt; fi
  /work/main/.venvs/py313t/bin/python gc_finalizers_inside_calls.py > /dev/null 2> ab.err
  rc=$?; if [ $rc -ne 0 ] || grep -q FATAL ab.err; then fn=$((fn+1)); cp ab.err abfail_new_$i.txt; fi
done
echo "runs $1 each: old fails $fo, new fails $fn"
