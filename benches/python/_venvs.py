"""Creates and refreshes the benchmark venvs (stdlib only).

Both packages import as `timelog`, so each lives in its own venv beside
this file (ignored by git through the repository's `.venv*/` rule):

    .venv-ours-3.13    our package (built from this checkout) on CPython 3.13
    .venv-ours-3.13t   our package on free-threaded CPython 3.13t (scaling.py)
    .venv-c-3.13       timelog-lib==1.4.0 (the C package) on CPython 3.13

The interpreters come from `../shared/tools/cpython FLAVOR` (relative to
the repository root), which builds them once. Our package is installed
from the wheel users get: built by scripts/pgo.py (profile-guided, as the
published wheels are; TIMELOG_PGO=0 builds it without, as `pip install .`
does). It is rebuilt whenever the hash of its sources (engine/, py/, the
Cargo and pyproject files, the PGO scripts) or the PGO setting differs from
the one recorded at the last install, with CARGO_TARGET_DIR defaulting to
<repo>/target so the build cache is reused. The harnesses record the build
(`build_info`: the commit, whether it is profile-guided) beside their figures.

TIMELOG_BENCH_WHEELS=DIR (set by .ci/run): install our package from the
release wheel in DIR built for the venv's interpreter (scripts/wheels.sh
builds them into target/wheels-ci a few stages earlier, from the same
checkout, with scripts/pgo.py as here)
instead of building it again. It is then reinstalled on every run (the
wheel's sources are not hashed), and a missing wheel is an error.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# The shared interpreter tool beside the checkout; TIMELOG_CPYTHON_TOOL overrides it
# (a git worktree elsewhere, e.g. /work/wt/<name>).
CPYTHON_TOOL = Path(os.environ.get("TIMELOG_CPYTHON_TOOL", ROOT.parent / "shared" / "tools" / "cpython"))
C_PACKAGE = "timelog-lib==1.4.0"
STAMP = ".timelog-src-hash"
# What the extension is built from: hashed for a rebuild, listed when
# modified (`git_state`).
BUILT_FROM_DIRS = ("engine", "py")
BUILT_FROM_FILES = ("Cargo.toml", "Cargo.lock", "pyproject.toml", ".cargo/config.toml", "scripts/pgo.py",
                    "scripts/pgo_train.py")
BUILD_INFO = ".timelog-build-info.json"


def log(msg: str) -> None:
    print(f"[venv] {msg}", file=sys.stderr, flush=True)


def interpreter(flavor: str) -> str:
    """Path of CPython `flavor` (3.13 or 3.13t), built by the shared tool if missing."""
    out = subprocess.run([str(CPYTHON_TOOL), flavor], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _pip(venv: Path, *args: str) -> None:
    subprocess.run([str(venv_python(venv)), "-m", "pip", "install", "-q", *args], check=True)


def _has(venv: Path, module: str) -> bool:
    r = subprocess.run([str(venv_python(venv)), "-c", f"import {module}"], capture_output=True)
    return r.returncode == 0


def _create(venv: Path, flavor: str) -> None:
    if venv_python(venv).exists():
        return
    log(f"creating {venv.name} with CPython {flavor}")
    subprocess.run([interpreter(flavor), "-m", "venv", str(venv)], check=True)


def source_hash() -> str:
    h = hashlib.sha256()
    files = []
    for d in BUILT_FROM_DIRS:
        for p in sorted((ROOT / d).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".so", ".pyc"):
                files.append(p)
    for f in BUILT_FROM_FILES:
        if (ROOT / f).exists():
            files.append(ROOT / f)
    for p in files:
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def run_worker(venv: Path, worker: str, *args: object) -> dict:
    """Runs a harness's `worker` source in `venv`'s interpreter with `args`
    as its argv; returns the JSON object it prints."""
    import json

    r = subprocess.run([str(venv_python(venv)), "-c", worker, *map(str, args)],
                       check=True, capture_output=True, text=True)
    return json.loads(r.stdout)


def git_state() -> dict:
    """HEAD and the checkout's modified files the extension is built from
    (read-only git)."""
    def git(*a: str) -> str:
        r = subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True)
        return r.stdout

    # Porcelain lines are "XY path": not stripped first, or a leading
    # blank status column shifts the first path by one character.
    dirty = [ln[3:] for ln in git("status", "--porcelain", "--", *BUILT_FROM_DIRS, *BUILT_FROM_FILES).splitlines()]
    return {"head": git("rev-parse", "HEAD").strip(), "dirty": dirty}


def build_info(venv: Path) -> dict:
    p = venv / BUILD_INFO
    try:
        import json

        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def ensure_ours(flavor: str, *, plotting: bool = False, numpy: bool = True, install: bool = True) -> Path:
    """The venv with our package for `flavor`, (re)built if its sources changed."""
    venv = HERE / f".venv-ours-{flavor}"
    _create(venv, flavor)
    if not install:
        return venv
    need = ["maturin"]
    if numpy:
        need.append("numpy")
    if plotting:
        need.append("matplotlib")
    missing = [p for p in need if not _has(venv, p)]
    if missing:
        log(f"{venv.name}: pip install {' '.join(missing)}")
        _pip(venv, *missing)
    wheels = os.environ.get("TIMELOG_BENCH_WHEELS")
    if wheels:
        return _install_wheel(venv, Path(wheels))
    scripts = str(ROOT / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    import pgo

    use_pgo = pgo.requested()
    want = f"{source_hash()} pgo={use_pgo}"
    stamp = venv / STAMP
    fresh = stamp.exists() and stamp.read_text() == want and (venv / BUILD_INFO).exists()
    if not (fresh and _has(venv, "timelog._timelog")):
        log(f"{venv.name}: building timelog from {ROOT} (scripts/pgo.py, PGO {'on' if use_pgo else 'off'}) and installing it")
        out = ROOT / "target" / f"bench-wheel-{flavor}"
        if out.exists():
            for old in out.glob("*.whl"):
                old.unlink()
        maturin = [str(venv / "bin" / "maturin")]
        wheel = pgo.build(str(venv_python(venv)), out, maturin=maturin, pgo=use_pgo)
        _pip(venv, "--force-reinstall", "--no-deps", str(wheel))
        stamp.write_text(want)
        import json
        import time

        info = dict(git_state(), source_hash=want, pgo=use_pgo, built=time.strftime("%Y-%m-%dT%H:%M:%S"))
        (venv / BUILD_INFO).write_text(json.dumps(info))
    return venv


def _install_wheel(venv: Path, wheels: Path) -> Path:
    """Installs the wheel of `wheels` whose tag matches the venv's interpreter."""
    import json
    import time

    probe = ("import sys, sysconfig; v = f'cp{sys.version_info[0]}{sys.version_info[1]}'; "
             "print(v, v + ('t' if sysconfig.get_config_var('Py_GIL_DISABLED') else ''))")
    out = subprocess.run([str(venv_python(venv)), "-c", probe], check=True, capture_output=True, text=True)
    py_tag, abi_tag = out.stdout.split()
    found = sorted(wheels.glob(f"timelog-*-{py_tag}-{abi_tag}-*.whl"))
    if len(found) != 1:
        raise SystemExit(f"TIMELOG_BENCH_WHEELS={wheels}: expected one {py_tag}-{abi_tag} wheel, found {found}")
    log(f"{venv.name}: installing {found[0].name} (TIMELOG_BENCH_WHEELS)")
    _pip(venv, "--force-reinstall", "--no-deps", str(found[0]))
    # Never "fresh" for a later source build: the stamp is not a source hash.
    (venv / STAMP).write_text(f"wheel:{found[0].name}")
    probe = "import json; from timelog import _timelog as t; print(json.dumps(t._build['pgo']))"
    pgo_on = json.loads(subprocess.run([str(venv_python(venv)), "-c", probe], check=True, capture_output=True, text=True).stdout)
    info = dict(git_state(), wheel=str(found[0]), pgo=pgo_on, built=time.strftime("%Y-%m-%dT%H:%M:%S"))
    (venv / BUILD_INFO).write_text(json.dumps(info))
    return venv


def ensure_c(*, install: bool = True) -> Path:
    """The venv with the C package timelog-lib 1.4.0 on CPython 3.13."""
    venv = HERE / ".venv-c-3.13"
    _create(venv, "3.13")
    if not install:
        return venv
    missing = [p for p, m in ((C_PACKAGE, "timelog._timelog"), ("numpy", "numpy")) if not _has(venv, m)]
    if missing:
        log(f"{venv.name}: pip install {' '.join(missing)}")
        _pip(venv, *missing)
    return venv
