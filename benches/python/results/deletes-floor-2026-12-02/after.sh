# before (HACK_VENV, TL_HACK=0: the unchanged path), after (OURS_VENV: this branch), the C package (C_VENV), alternating.
B=$HACK_VENV/bin/python; A=$OURS_VENV/bin/python; C=$C_VENV/bin/python
for r in 1 2 3 4 5 6; do for m in 2000 50000; do
 echo -n "r$r before "; TL_HACK=0 $B $(dirname "$0")/driver.py $m 7
 echo -n "r$r after "; $A $(dirname "$0")/driver.py $m 7
 echo -n "r$r C "; $C $(dirname "$0")/driver.py $m 7
done; done
