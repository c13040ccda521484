"""Typing: the package ships .pyi stubs and py.typed, and the stubs match the
runtime according to mypy's stubtest."""

from __future__ import annotations

import os
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
        [sys.executable, "-m", "mypy.stubtest", "--concise", "timelog"],
        cwd=tmp_path,  # keep the checkout from shadowing the installed package
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
