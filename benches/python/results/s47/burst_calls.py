import time, numpy as np, timelog, sys, gc
gc.disable()
n=2_000_000; B=10_000
chunks=[(np.arange(i,i+B,dtype=np.int64),[None]*B) for i in range(0,n,B)]
for rep in range(3):
    log=timelog.Timelog(maintenance="disabled", busy_policy="flush")
    slow=[]; t0=time.process_time()
    for k,(t,o) in enumerate(chunks):
        a=time.process_time(); log.bulk_append(t,o); d=time.process_time()-a
        if d>0.001: slow.append((k,round(d*1e3,2)))
    print(sys.argv[1], round((time.process_time()-t0)/n*1e9,2), "ns/rec", slow)
    log.close()
