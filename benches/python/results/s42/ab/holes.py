import sys, random, time, timelog
n=int(sys.argv[1]); layout=sys.argv[2]
objs=[int(str(i+10**9)) for i in range(n)]
if layout=="scattered": random.Random(5).shuffle(objs)
log = timelog.Timelog(maintenance="disabled")
for i in range(n): log.append(i, objs[i])
log.flush(); del objs
t0=time.process_time_ns()
for k in range(0, n, 1000): log.delete_range(k, k+500)
log.compact(); t1=time.process_time_ns()
print(layout, f"holes + compact {(t1-t0)/1e6:.1f} ms")
