"""fork(): the child's log keeps working (issue 11, defect 6).

Before the fork, every live log stops its background worker and takes its
maintainer lock (``os.register_at_fork`` in the facade); afterwards, in the
parent and in the child, the lock is released and the worker restarted — in
the child on a new thread. Each case runs in a subprocess that forks, so a
hang fails the test instead of blocking the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _run(code: str, timeout: float = 90) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "-W", "ignore::DeprecationWarning", "-c", CHILD_WAIT + textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the forking script did not finish within {timeout}s (hang in the child?): {exc}")


CHILD_WAIT = """
def wait_child(pid, timeout=30):
    import os, time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p, st = os.waitpid(pid, os.WNOHANG)
        if p:
            return os.waitstatus_to_exitcode(st)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return "hung"
"""


def test_child_writes_through_backpressure_with_background_maintenance():
    proc = _run(
        """
        import os
        from timelog import Timelog
        log = Timelog(maintenance="background", memtable_max_bytes=4096, sealed_max_runs=1, sealed_wait_ms=2000)
        log.extend([(t, t) for t in range(5000)])
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for t in range(5000, 30000):
                    log.append(t, t)          # meets backpressure: needs a live worker
                log.flush(); log.compact()
                if len(log) != 30000 or log.maintenance_mode != "background":
                    code = 3
                log.close()
            except BaseException as e:
                print("child:", repr(e), flush=True)
                code = 4
            os._exit(code)
        rc = wait_child(pid)
        assert rc == 0, f"child: {rc}"
        # The parent's log works too, with its worker restarted.
        for t in range(5000, 8000):
            log.append(t, t)
        log.flush()
        assert len(log) == 8000 and log.maintenance_mode == "background"
        print("OK")
        """
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr[-3000:]


def test_fork_while_the_worker_holds_the_maintainer_lock():
    # The worker is inside a long step (releasing payloads with a slow
    # __del__ while it holds — before the fix — the maintainer lock) when
    # the parent forks: the fork waits for the step, and the child inherits
    # no lock held by a thread it does not have.
    proc = _run(
        """
        import os, time, threading
        from timelog import Timelog
        class Slow:
            def __del__(self):
                time.sleep(0.05)
        log = Timelog(maintenance="background", maintenance_wakeup_ms=1)
        log.extend([(t, Slow()) for t in range(40)])
        log.flush()
        log.delete_before(40)
        # Let the worker start compacting away (and releasing) the payloads.
        threading.Thread(target=log.compact, daemon=True).start()
        time.sleep(0.1)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                log.append(100, "child")
                log.flush(); log.compact()           # needs the maintainer lock
                if 100 not in log:
                    code = 3
            except BaseException as e:
                print("child:", repr(e), flush=True)
                code = 4
            os._exit(code)
        rc = wait_child(pid)
        assert rc == 0, f"child: {rc}"
        print("OK")
        """
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr[-3000:]


def test_fork_with_disabled_maintenance_and_closed_logs():
    proc = _run(
        """
        import os
        from timelog import Timelog
        a = Timelog(maintenance="disabled"); a.append(1, "a")
        b = Timelog(maintenance="background"); b.close()
        pid = os.fork()
        if pid == 0:
            ok = a.at(1) == ["a"] and b.closed
            a.append(2, "b"); a.flush()
            ok = ok and len(a) == 2 and a.maintenance_mode == "disabled"
            os._exit(0 if ok else 3)
        assert wait_child(pid) == 0
        a.append(3, "c")
        assert len(a) == 2
        print("OK")
        """
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr[-3000:]
