"""Threading and interpreter-level guarantees.

Concurrent readers are covered in test_reads.py and concurrent writers in
test_extensions.py. The checks here run in subprocesses so that a crash or
a deadlock shows up as a failed test instead of taking the suite down.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap

import pytest


def _run(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:  # deadlock
        pytest.fail(f"subprocess did not finish within {timeout}s (deadlock?): {exc}")


def test_close_concurrent_with_readers_raises_or_waits_never_crashes():
    proc = _run(
        """
        import threading, time
        from timelog import Timelog, TimelogError

        for trial in range(10):
            log = Timelog(maintenance="disabled")
            log.extend([(i, i) for i in range(2000)])
            stop = threading.Event()
            unexpected = []

            def reader():
                for _ in range(300):  # bounded, so a waiting close() can finish
                    if stop.is_set():
                        return
                    try:
                        with log.range(0, 2000) as it:
                            for _ in it:
                                pass
                        log.next_ts(5)
                        len(log)
                        5 in log
                    except TimelogError:
                        return  # closed under us: a clean error is fine
                    except BaseException as exc:
                        unexpected.append(exc)
                        return

            threads = [threading.Thread(target=reader) for _ in range(3)]
            for t in threads:
                t.start()
            time.sleep(0.005)
            closed = False
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    log.close()  # may raise (pinned) or wait for the readers
                    closed = True
                    break
                except TimelogError:
                    time.sleep(0.0005)
            stop.set()
            for t in threads:
                t.join()
            if not closed:
                log.close()
            assert log.closed
            assert not unexpected, unexpected
        print("OK")
        """,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout


def test_close_concurrent_with_writer_never_crashes():
    proc = _run(
        """
        import threading, time
        from timelog import Timelog, TimelogError

        for trial in range(10):
            log = Timelog(maintenance="background")
            unexpected = []

            def writer():
                i = 0
                while True:
                    try:
                        log.append(i, i)
                        i += 1
                    except TimelogError:
                        return
                    except BaseException as exc:
                        unexpected.append(exc)
                        return

            t = threading.Thread(target=writer)
            t.start()
            time.sleep(0.01)
            try:
                log.close()
            except TimelogError:
                pass
            t.join(timeout=30)
            assert not t.is_alive()
            log.close()
            assert not unexpected, unexpected
        print("OK")
        """,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout


@pytest.mark.skipif(
    not sysconfig.get_config_var("Py_GIL_DISABLED"), reason="only on free-threaded CPython"
)
def test_import_does_not_reenable_gil():
    proc = _run(
        """
        import sys
        import timelog
        log = timelog.Timelog()
        log[1] = "a"
        log.close()
        assert not sys._is_gil_enabled(), "importing timelog re-enabled the GIL"
        print("OK")
        """
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_subinterpreter_import_fails_with_clear_import_error():
    pytest.importorskip("_interpreters")
    proc = _run(
        """
        import _interpreters
        interp = _interpreters.create("isolated")
        try:
            err = _interpreters.run_string(interp, "import timelog")
        finally:
            _interpreters.destroy(interp)
        assert err is not None, "import timelog succeeded in a subinterpreter"
        print("TYPE", err.type.__name__)
        print("MSG", err.msg)
        """
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "TYPE ImportError" in proc.stdout, proc.stdout
    assert "subinterpreter" in proc.stdout.lower(), proc.stdout


def test_main_interpreter_import_still_works_after_subinterpreter_attempt():
    pytest.importorskip("_interpreters")
    proc = _run(
        """
        import _interpreters
        interp = _interpreters.create("isolated")
        try:
            _interpreters.run_string(interp, "import timelog")
        finally:
            _interpreters.destroy(interp)
        import timelog
        log = timelog.Timelog(maintenance="disabled")
        log[1] = "a"
        assert log[1] == ["a"]
        log.close()
        print("OK")
        """
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
