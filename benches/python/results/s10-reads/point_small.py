import sys, time, random
import timelog
N=int(sys.argv[1])
log=timelog.Timelog(maintenance="disabled")
for i in range(N): log.append(i, i)
log.flush()
try: log.compact()
except Exception: pass
rnd=random.Random(1); keys=[rnd.randrange(N) for _ in range(200000)]
def t_create():
    for k in keys: log.point(k)
def t_next1():
    for k in keys: next(log.point(k))
def t_drain():
    for k in keys:
        for r in log.point(k): pass
def t_list():
    for k in keys: list(log.point(k))
def t_at():
    for k in keys: log.at(k)
def t_empty():
    for k in keys: pass
def run(f):
    t0=time.process_time_ns(); f(); return (time.process_time_ns()-t0)/len(keys)
for f in [t_empty,t_create,t_next1,t_drain,t_list,t_at]:
    try: print(f.__name__, round(sorted(run(f) for _ in range(7))[3],1))
    except Exception as e: print(f.__name__, e)
