# Runs driver.py on a build of the experiment patch (HACK_VENV, see README.md) and on the C package (C_VENV).
H=$HACK_VENV/bin/python; C=$C_VENV/bin/python
D=$(cd "$(dirname "$0")" && pwd)
# 4 = only after_write skipped (measured once in this session: the same as 0 within the noise; not in times.txt).
for r in 1 2 3 4 5; do for m in 2000 50000; do
 for l in 0 5 1 2 3; do echo -n "r$r lvl$l "; TL_HACK=$l $H $D/driver.py $m 7; done
 echo -n "r$r C "; $C $D/driver.py $m 7
done; done
