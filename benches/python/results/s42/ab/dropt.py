import gc, sys, random, time, statistics, timelog
n=int(sys.argv[1]); layout=sys.argv[2]
objs=[int(str(i+10**9)) for i in range(n)]
if layout=="scattered": random.Random(5).shuffle(objs)
log = timelog.Timelog(maintenance="disabled")
for i in range(n): log.append(i, objs[i])
log.flush(); del objs
t0=time.process_time_ns(); log.delete_before(n//2); log.compact(); t1=time.process_time_ns()
del log; t2=time.process_time_ns()
print(layout, f"delete_before(half)+compact {(t1-t0)/1e6:.1f} ms, del log (other half) {(t2-t1)/1e6:.1f} ms")
