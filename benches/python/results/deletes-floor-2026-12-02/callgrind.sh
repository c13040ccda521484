cd "$(dirname "$0")"
for l in 0 5 1 2 3; do
 TL_HACK=$l valgrind --tool=callgrind --callgrind-out-file=cg.$l.out --toggle-collect='*delete_before_entry*' $HACK_VENV/bin/python driver.py 2000 3 > cg.$l.log 2>&1
 echo "lvl$l $(grep Collected cg.$l.log | awk '{print $4}')"
done
