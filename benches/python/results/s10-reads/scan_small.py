import sys, time, random
import timelog
N=200000
log=timelog.Timelog(maintenance="disabled")
base=1_700_000_000_000_000_000 if len(sys.argv)>1 and sys.argv[1]=='ns' else 0
for i in range(N): log.append(base+i, i)
log.flush()
try: log.compact()
except Exception: pass
def scan():
    t0=time.process_time_ns()
    for r in log: pass
    return (time.process_time_ns()-t0)/N
def scan_unpack():
    t0=time.process_time_ns(); s=0
    for ts, o in log: s+=1
    return (time.process_time_ns()-t0)/N
rnd=random.Random(1); keys=[base+rnd.randrange(N) for _ in range(20000)]
def r100():
    t0=time.process_time_ns()
    for k in keys:
        for r in log.range(k,k+100): pass
    return (time.process_time_ns()-t0)/len(keys)
def r10():
    t0=time.process_time_ns()
    for k in keys:
        for r in log.range(k,k+10): pass
    return (time.process_time_ns()-t0)/len(keys)
print(" ".join(f"{f.__name__}={sorted(f() for _ in range(7))[3]:.1f}" for f in [scan, scan_unpack, r10, r100]))
# correctness
s=sum(ts for ts,_ in log); assert s==sum(base+i for i in range(N)), s
