import sys, textwrap, subprocess, collections
sys.path.insert(0, "/work/main/tests")
import test_exit as te
case = sys.argv[1]; n = int(sys.argv[2])
body = te.OBJ_PRELUDE + textwrap.dedent(te.OBJ_CASES[case])
code = te.PRELUDE + textwrap.dedent(body) + """
for _ in range(3):
    threading.Thread(target=work, daemon=True).start()
time.sleep(0.15)
"""
open(f"/tmp/exit/{case}.py","w").write(code)
c = collections.Counter()
for i in range(n):
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    bad = p.returncode != 0 or "FATAL" in p.stderr or "Fatal Python" in p.stderr
    c[p.returncode, bad] += 1
    if bad:
        open(f"/tmp/exit/fail{i}.txt","w").write(p.stderr)
print(case, dict(c))
