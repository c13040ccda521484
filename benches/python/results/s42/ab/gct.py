import gc, sys, random, time, statistics, timelog
n=int(sys.argv[1]); layout=sys.argv[2]
objs=[int(str(i+10**9)) for i in range(n)]
if layout=="scattered": random.Random(5).shuffle(objs)
log = timelog.Timelog(maintenance="disabled")
for i in range(n): log.append(i, objs[i])
log.flush(); del objs
gc.collect()
ts=[]
for _ in range(7):
    t0=time.process_time_ns(); gc.collect(); ts.append(time.process_time_ns()-t0)
print(layout, "gc.collect()", round(statistics.median(ts)/1e6,2), "ms")
