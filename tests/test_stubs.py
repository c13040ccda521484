"""Typing: the package ships .pyi stubs and py.typed, and the stubs match the
runtime according to mypy's stubtest."""

from __future__ import annotations

import os
import re
import pathlib
import subprocess
import sys

import pytest

import timelog


def _package_dir() -> pathlib.Path:
    return pathlib.Path(timelog.__file__).resolve().parent


def test_py_typed_marker_shipped():
    assert (_package_dir() / "py.typed").is_file()


def test_pyi_stubs_shipped():
    stubs = sorted(p.name for p in _package_dir().glob("*.pyi"))
    assert stubs, "no .pyi stubs next to the package"
    # The native extension must be described by a stub.
    assert "_timelog.pyi" in stubs or (_package_dir() / "_timelog" / "__init__.pyi").is_file()


def test_stubtest(tmp_path):
    pytest.importorskip("mypy.stubtest")
    env = dict(os.environ)
    env["MYPY_CACHE_DIR"] = str(tmp_path / ".mypy_cache")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "--concise",
            "--allowlist",
            str(pathlib.Path(__file__).resolve().parent / "typing" / "stubtest-allowlist.txt"),
            "--ignore-unused-allowlist",
            "timelog",
        ],
        cwd=tmp_path,  # keep the checkout from shadowing the installed package
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


TYPING_DIR = pathlib.Path(__file__).resolve().parent / "typing"


def test_mypy_strict_usage_and_mistakes(tmp_path):
    """``mypy --strict`` accepts tests/typing/usage.py and reports exactly the
    errors marked ``# E: <code>`` in tests/typing/mistakes.py (mistyped
    keywords, enum values, dict keys, timestamps, return types)."""
    pytest.importorskip("mypy.api")
    env = dict(os.environ)
    env["MYPY_CACHE_DIR"] = str(tmp_path / ".mypy_cache")
    files = [str(TYPING_DIR / "usage.py"), str(TYPING_DIR / "mistakes.py")]
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--show-error-codes", "--no-error-summary", "--no-pretty", *files],
        cwd=tmp_path,  # type-check against the installed package, not the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    got = set()
    for line in out.splitlines():
        m = re.match(r"(.+?):(\d+): error: .*\[([\w-]+)\]$", line)
        if m:
            got.add((pathlib.Path(m.group(1)).name, int(m.group(2)), m.group(3)))
        elif ": error:" in line:
            pytest.fail(f"unparsed mypy error: {line}\n{out}")
    expected = set()
    for i, line in enumerate((TYPING_DIR / "mistakes.py").read_text().splitlines(), 1):
        m = re.search(r"# E: ([\w-]+)$", line)
        if m:
            expected.add(("mistakes.py", i, m.group(1)))
    assert len(expected) >= 15
    assert got == expected, f"missing: {sorted(expected - got)}\nunexpected: {sorted(got - expected)}\n{out}"


@pytest.mark.parametrize(
    "cls",
    [timelog.Timelog, timelog.TimelogIter, timelog.PageSpan, timelog.PageSpanIter, timelog.PageSpanObjectsView],
)
def test_every_public_method_and_property_is_documented(cls):
    undocumented = []
    for name in dir(cls):
        if name.startswith("_") and name not in ("__enter__", "__exit__", "__reversed__"):
            continue
        attr = getattr(cls, name)
        if not callable(attr) and not isinstance(attr, property) and type(attr).__name__ != "getset_descriptor":
            continue
        if not (getattr(attr, "__doc__", None) or "").strip():
            undocumented.append(name)
    assert not undocumented, f"{cls.__name__}: no docstring on {undocumented}"


def test_methods_that_raise_say_what_they_raise():
    # Methods taking a timestamp document the TypeError/OverflowError of a
    # bad one; every method of an open log documents the closed-log error.
    T = timelog.Timelog
    for name in ("append", "range", "since", "until", "point", "at", "delete", "delete_range", "next_ts", "prev_ts"):
        doc = getattr(T, name).__doc__
        assert "Raises:" in doc and "TypeError" in doc and "OverflowError" in doc, name
        assert "TimelogError if the log is closed" in doc, name
