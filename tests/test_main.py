"""``python -m timelog``: the demo explains itself, validates its arguments
and reads well both on a terminal and piped."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from timelog import __main__ as demo


def run(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "timelog", *args],
        cwd=tmp_path,  # the installed package, not the checkout
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_piped_run_explains_and_ends_with_next_steps(tmp_path):
    proc = run(tmp_path, "-n", "2000", "--ooo", "0.2")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\r" not in out  # no carriage-return progress when piped
    assert out.index("in-memory time index") < out.index("1. ingest")  # what it is, before it starts
    assert "This demo ingests 2,000 sensor events (20% of them late)" in out
    progress = [line for line in out.splitlines() if line.strip().startswith("ingest:")]
    assert 1 <= len(progress) <= 4, progress
    assert progress[-1].rstrip().endswith("(100.0%)")
    tail = out[out.index("Try next:") :]
    assert "help(timelog.Timelog)" in tail
    assert "docs/python-api.md" in tail
    assert "cargo run --release --example service -p timelog" in tail
    assert proc.stderr == ""


def test_single_event_and_no_late_events(tmp_path):
    proc = run(tmp_path, "--events", "1", "--ooo", "0")
    assert proc.returncode == 0, proc.stderr
    assert "This demo ingests 1 sensor event (0% of them late)" in proc.stdout
    assert "   1 event in " in proc.stdout


@pytest.mark.parametrize(
    "args, phrase",
    [
        (["-n", "-5"], "at least 1, got -5"),
        (["-n", "0"], "at least 1, got 0"),
        (["-n", "many"], "expected a whole number of events, got 'many'"),
        (["-n", "1.5"], "expected a whole number"),
        (["-n", str(demo.MAX_EVENTS + 1)], "held in memory"),
        (["--ooo", "2"], "between 0 and 1, got 2 (did you mean 0.02, i.e. 2%?)"),
        (["--ooo", "-0.1"], "between 0 and 1, got -0.1"),
        (["--ooo", "nan"], "between 0 and 1, got nan"),
        (["--ooo", "lots"], "expected a fraction between 0 and 1, got 'lots'"),
        (["--seed", "x"], "invalid int value"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_error(tmp_path, args, phrase):
    proc = run(tmp_path, *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert phrase in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_is_plain_text(tmp_path):
    proc = run(tmp_path, "--help")
    assert proc.returncode == 0
    text = proc.stdout
    assert text.startswith("usage: python -m timelog")
    assert "in-memory time index" in text
    assert "Try next:" in text
    for markup in ("``", ":func:", ":class:", "**"):
        assert markup not in text, markup
    # The description keeps its line breaks (no re-flowed paragraphs).
    assert demo.INTRO.splitlines()[0] in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_updates_one_line_on_a_terminal():
    out = _Terminal()
    p = demo._Progress(out, 1000)
    for done in range(50, 1001, 50):
        p.update(done)
    p.finish()
    text = out.getvalue()
    assert text.count("\r") == 20
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.rstrip().endswith("(100.0%)")


def test_progress_piped_prints_at_most_one_line_per_quarter():
    out = io.StringIO()
    p = demo._Progress(out, 1000)
    for done in range(10, 1001, 10):
        p.update(done)
    p.finish()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split("(")[1] for line in lines] == [" 25.0%)", " 50.0%)", " 75.0%)", "100.0%)"]
