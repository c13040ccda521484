"""Peak resident memory of an explicit flush() of a backlog (session 47): N records in
10,000-record bulk_append calls, maintenance disabled, busy_policy "silent" (the sealed
memtables pile up), then one flush(); RSS from /proc/self/statm, the peak from ru_maxrss.

    .venv-ours-3.13/bin/python results/s47/flush_peak.py LABEL 2000000
"""
import resource, numpy as np, timelog, sys, gc, time
gc.disable()
n=int(sys.argv[2]); B=10_000
log=timelog.Timelog(maintenance="disabled", busy_policy="silent")
for i in range(0,n,B):
    log.bulk_append(np.arange(i,i+B,dtype=np.int64),[None]*B)
def rss():
    return int(open('/proc/self/statm').read().split()[1])*4096
before=rss(); peak0=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss*1024
t=time.process_time(); log.flush(); t=time.process_time()-t
peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss*1024
print(sys.argv[1], f"sealed+active RSS before flush {before/2**20:.1f} MiB, peak during flush {peak/2**20:.1f} MiB (peak before {peak0/2**20:.1f}), after {rss()/2**20:.1f} MiB, flush CPU {t*1e3:.1f} ms")
