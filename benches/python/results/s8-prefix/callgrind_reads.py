import array, sys
from timelog import Timelog
n, reps = 100_000, int(sys.argv[1])
mode = sys.argv[2] if len(sys.argv) > 2 else "both"
log = Timelog(maintenance="disabled")
ts = list(range(n))
log.bulk_append(array.array("q", ts), ts)
log.flush()
log.compact()
nx = log.next_ts
s = 0
for r in range(reps):
    for k in (range(0, n, 10) if mode != "scan" else ()):
        s += nx(k)
    for t, v in (log if mode != "nx" else ()):
        s += 1
print(s)
