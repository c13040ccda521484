import timeit, timelog, timelog._timelog as T
a = timelog.Timelog(maintenance="disabled"); b = T.Timelog(maintenance="disabled")
for l in (a, b):
    l.extend([(t, t) for t in range(1000)])
for name, l in (("subclass", a), ("base", b), ("subclass", a), ("base", b)):
    t = min(timeit.repeat(lambda: l[10:20], number=20000, repeat=7)) / 20000
    print(name, f"{t*1e9:.0f} ns")
