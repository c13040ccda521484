"""Packaging: the installed extension is built the way the checkout builds
it, the optional numpy extra is named where it is needed, and the README's
Rust snippet is the compiled one."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

from timelog import _timelog

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_extension_is_built_without_pyo3_reference_pool():
    # .cargo/config.toml (shipped in the sdist too) builds pyo3 without its
    # global reference pool; a RUSTFLAGS variable silently replaces it.
    assert _timelog._pyo3_reference_pool is False, (
        "this extension was built with pyo3's global reference pool: the build lost the rustflags of "
        ".cargo/config.toml (a RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS variable replaces them). Rebuild without "
        "RUSTFLAGS, or add '--cfg pyo3_disable_reference_pool --cfg pyo3_leak_on_drop_without_reference_pool' to it"
    )


def test_extension_reports_how_it_was_optimized():
    # scripts/pgo.py's wheels are profile-guided, `pip install .` is not;
    # scripts/wheels.sh checks each wheel's and the sdist build's value, the
    # benchmark harnesses record it beside their figures.
    assert set(_timelog._build) == {"pgo"}
    assert type(_timelog._build["pgo"]) is bool


def _module_constant(path, name):
    """The literal value of `name` assigned at the top of the file at `path`."""
    import ast

    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} assigns no {name}")


def test_pgo_training_covers_every_benchmarked_shape():
    # Code the PGO training (scripts/pgo_train.py) never runs is optimized as
    # cold, so a shape of log added to the benchmarks must be trained too
    # (docs/performance.md, "Profile-guided builds").
    benchmarked = _module_constant(ROOT / "benches" / "python" / "shapes.py", "SHAPES")
    trained = _module_constant(ROOT / "scripts" / "pgo_train.py", "SHAPES")
    assert sorted(trained) == sorted(benchmarked)


def test_to_numpy_without_numpy_says_how_to_install_it(tmp_path):
    code = (
        "import sys; sys.modules['numpy'] = None\n"  # numpy cannot be imported
        "from timelog import Timelog\n"
        "log = Timelog(maintenance='disabled'); log[1] = 2.0\n"
        "try:\n"
        "    log.to_numpy()\n"
        "except ModuleNotFoundError as e:\n"
        "    print(type(e).__name__, e.name, '|', e)\n"
        "log.close()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ModuleNotFoundError numpy |"), proc.stdout
    assert "pip install 'timelog[numpy]'" in proc.stdout


def test_numpy_extra_is_declared():
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        md = metadata("timelog")
    except PackageNotFoundError:  # pragma: no cover - not installed from a wheel
        pytest.skip("timelog is not installed as a distribution")
    assert "numpy" in (md.get_all("Provides-Extra") or [])
    assert any(re.match(r"numpy\b.*extra == .numpy.", r) for r in md.get_all("Requires-Dist") or [])


def _rust_blocks(text: str) -> list[str]:
    return re.findall(r"```rust\n(.*?)```", text, re.S)


def test_readme_rust_snippet_is_the_compiled_engine_readme_example():
    # engine/README.md's examples are doctests of the crate (engine/src/lib.rs,
    # `ReadmeDoctests`); the top README shows one of them verbatim.
    top, engine = ROOT / "README.md", ROOT / "engine" / "README.md"
    if not top.is_file() or not engine.is_file():
        pytest.skip("not run from a source checkout")
    blocks = _rust_blocks(top.read_text())
    assert blocks, "README.md has no rust snippet"
    compiled = _rust_blocks(engine.read_text())
    for b in blocks:
        assert b in compiled, "README.md's rust snippet differs from engine/README.md's (the compiled doctest)"
    assert "include_str!(\"../README.md\")" in (ROOT / "engine" / "src" / "lib.rs").read_text()

