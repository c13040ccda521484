"""Builds the release wheel of `timelog` for one interpreter with
profile-guided optimization (PGO), as the published wheels are built.

    python3 scripts/pgo.py --interpreter PYTHON --out DIR [--maturin MATURIN] [--no-pgo]

Three steps, each with the flags of `.cargo/config.toml` (a RUSTFLAGS
variable replaces them, so they are read from that file and passed on):

1. an instrumented build (`-Cprofile-generate`), unpacked into a scratch
   directory;
2. `scripts/pgo_train.py` run on that build by PYTHON: every shape of log
   the benchmarks model, both maintenance modes, every read over each, the
   writes (`append`, `extend`, `bulk_append`) and deletes — code it does not
   run is optimized as cold, so a path users run belongs in it;
3. the counters merged by `llvm-profdata` (the one of rustc's own LLVM, from
   rustup's `llvm-tools` component, installed here when absent) and the wheel
   built with `-Cprofile-use`, into DIR.

The extension reports how it was built: `timelog._timelog._build["pgo"]`.
With `--no-pgo` (or TIMELOG_PGO=0) it is one build without PGO, as
`pip install .` makes. Without `llvm-profdata` the script fails and says how
to get it or to build without PGO: a wheel is never silently built without
the optimization it was asked for.

docs/performance.md ("Profile-guided builds") has what PGO changes, measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    print(f"[pgo] {msg}", file=sys.stderr, flush=True)


def config_rustflags() -> list[str]:
    """`build.rustflags` of `.cargo/config.toml` (pyo3 without its reference
    pool), which a RUSTFLAGS variable would otherwise replace."""
    with open(ROOT / ".cargo" / "config.toml", "rb") as f:
        return list(tomllib.load(f)["build"]["rustflags"])


def cargo_profile() -> str:
    """The Cargo profile of pyproject.toml's `[tool.maturin]` (`pip install .`
    builds with it; `maturin build --release` would not)."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["tool"]["maturin"].get("profile", "release"))


def llvm_profdata() -> Path:
    """The `llvm-profdata` of rustc's LLVM (a profile's format follows the
    LLVM version that wrote it), installing rustup's `llvm-tools` if absent."""
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], check=True, capture_output=True, text=True).stdout.strip()
    host = next(
        line.split(":", 1)[1].strip()
        for line in subprocess.run(["rustc", "-vV"], check=True, capture_output=True, text=True).stdout.splitlines()
        if line.startswith("host:")
    )
    tool = Path(sysroot) / "lib" / "rustlib" / host / "bin" / "llvm-profdata"
    if not tool.exists() and shutil.which("rustup"):
        log("llvm-profdata not found: rustup component add llvm-tools")
        subprocess.run(["rustup", "component", "add", "llvm-tools"], check=False)
    if not tool.exists():
        raise SystemExit(
            f"[pgo] {tool} is missing: a PGO build needs rustup's llvm-tools component "
            "(`rustup component add llvm-tools`). To build without PGO: --no-pgo or TIMELOG_PGO=0."
        )
    return tool


def maturin_build(maturin: list[str], python: str, out: Path, target: Path, rustflags: list[str]) -> Path:
    """`maturin build` for `python` into `out`, in pyproject.toml's profile,
    with `rustflags` (in place of `.cargo/config.toml`'s); returns the wheel."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    env.pop("RUSTFLAGS", None)
    env["CARGO_ENCODED_RUSTFLAGS"] = "\x1f".join(rustflags)
    subprocess.run([*maturin, "build", "--profile", cargo_profile(), "--interpreter", python, "--out", str(out)], check=True, cwd=ROOT, env=env)
    # The one just written (a directory may hold other interpreters' wheels,
    # or an older one of the same name it replaced).
    return max(out.glob("*.whl"), key=lambda p: p.stat().st_mtime)


def build(python: str, out: Path, *, maturin: list[str], pgo: bool = True, target: Path | None = None) -> Path:
    """The release wheel for `python` in `out` (with PGO unless `pgo` is
    false); returns its path."""
    flags = config_rustflags()
    target = target or Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not pgo:
        log(f"{cargo_profile()} build without PGO")
        return maturin_build(maturin, python, out, target, flags)
    profdata = llvm_profdata()
    with tempfile.TemporaryDirectory(prefix="timelog-pgo-") as tmp:
        tmp = Path(tmp)
        raw = tmp / "raw"
        # The instrumented build has its own target directory: its flags
        # differ, and sharing one would rebuild everything twice per wheel.
        # It keeps the profile's LTO and codegen units: an instrumented build
        # without LTO (twice as fast) wrote counts the LTO build did not
        # match, and its wheel ran as fast as one without PGO (measured,
        # docs/performance.md "Profile-guided builds").
        log("1/3 instrumented build")
        gen = maturin_build(maturin, python, tmp / "gen", target / "pgo-generate", [*flags, f"-Cprofile-generate={raw}"])
        site = tmp / "site"
        with zipfile.ZipFile(gen) as z:
            z.extractall(site)
        log("2/3 training run (scripts/pgo_train.py)")
        env = dict(os.environ, PYTHONPATH=str(site), LLVM_PROFILE_FILE=str(raw / "timelog-%p-%m.profraw"))
        subprocess.run([python, str(ROOT / "scripts" / "pgo_train.py")], check=True, env=env)
        profiles = sorted(raw.glob("*.profraw"))
        if not profiles:
            raise SystemExit("[pgo] the training run wrote no profile")
        merged = tmp / "merged.profdata"
        subprocess.run([str(profdata), "merge", "-o", str(merged), *map(str, profiles)], check=True)
        log("3/3 optimized build (-Cprofile-use)")
        return maturin_build(maturin, python, out, target, [*flags, f"-Cprofile-use={merged}"])


def requested() -> bool:
    """Whether PGO is asked for: unless TIMELOG_PGO=0."""
    return os.environ.get("TIMELOG_PGO", "1") != "0"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--interpreter", required=True, help="the Python the wheel is for (and the training runs on)")
    ap.add_argument("--out", type=Path, required=True, help="directory for the wheel")
    ap.add_argument("--maturin", default=None, help="maturin executable (default: `maturin` on PATH)")
    ap.add_argument("--no-pgo", action="store_true", help="one build without PGO, as `pip install .` makes (also TIMELOG_PGO=0)")
    args = ap.parse_args(argv)
    maturin = [args.maturin or shutil.which("maturin") or "maturin"]
    pgo = not args.no_pgo and requested()
    wheel = build(args.interpreter, args.out.resolve(), maturin=maturin, pgo=pgo)
    print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
