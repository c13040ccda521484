#!/usr/bin/env bash
# wheels.sh PYTHON...
# Builds the release wheels (scripts/pgo.py: profile-guided, in
# pyproject.toml's `dist` profile; TIMELOG_PGO=0 without PGO) for each
# interpreter and the sdist, checks them (auditwheel show: manylinux-tagged and consistent;
# twine check), then tests them as a user without Rust gets them:
#   - each wheel is installed into a fresh venv and the pytest suite runs
#     against it with no cargo/rustc on PATH. The first interpreter gets the
#     full suite, the others a smoke subset (import surface, reads, writes,
#     typing, packaging, the demo), to keep CI bounded;
#   - the sdist is pip-installed (built from source, with Rust) into a fresh
#     venv and checked to give the same extension as the checkout: pyo3
#     built without its reference pool (.cargo/config.toml travels in the
#     sdist), no test hooks, no PGO, the smoke subset passing.
# Tests that need the test-hooks feature skip (release wheels do not carry it).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { echo "usage: scripts/wheels.sh PYTHON [PYTHON...]" >&2; exit 2; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
out=$PWD/target/wheels-ci
rm -rf "$out" && mkdir -p "$out"
pip_q=(-q --disable-pip-version-check)
smoke=(tests/test_import_surface.py tests/test_reads.py tests/test_writes.py tests/test_stubs.py
  tests/test_packaging.py tests/test_main.py)

# Build tools, in a venv of the first interpreter.
tools=.venvs/wheel-tools
[[ -x $tools/bin/python ]] || "$1" -m venv "$tools"
"$tools/bin/python" -m pip install "${pip_q[@]}" --only-binary=:all: "maturin>=1.5,<2" auditwheel twine

echo "=== glibc of this machine: $(ldd --version | head -1)"
# Each wheel as published: profile-guided (scripts/pgo.py: an instrumented
# build, its training run on that interpreter, the optimized build), unless
# TIMELOG_PGO=0. The tests below check which one each wheel is.
pgo=$([[ ${TIMELOG_PGO:-1} == 0 ]] && echo False || echo True)
# The builds run side by side, each in its own target directory and output
# directory, its log printed when all have ended: a fat-LTO build spends
# much of its time in one thread (one wheel: 136 s of wall time for 186 s
# of CPU on two cores), and the builds share nothing anyway (each
# interpreter's flags differ: its pyo3 configuration, its profile).
pids=()
for k in $(seq 1 $#); do
  py=${!k}
  (
    echo "=== scripts/pgo.py (PGO: $pgo) for $("$py" -c 'import sys; print(sys.version.split()[0], sys.abiflags)')"
    CARGO_TARGET_DIR=$CARGO_TARGET_DIR/wheel-build-$k "$tools/bin/python" scripts/pgo.py \
      --interpreter "$py" --out "$out/build-$k" --maturin "$tools/bin/maturin"
  ) >"$out/build-$k.log" 2>&1 &
  pids[k]=$!
done
failed=0
for k in $(seq 1 $#); do
  wait "${pids[k]}" || failed=1
  grep -v '^\s*Compiling' "$out/build-$k.log" || true
done
[[ $failed == 0 ]] || { echo "a wheel build failed (its log is above)" >&2; exit 1; }
for k in $(seq 1 $#); do
  mv "$out/build-$k"/*.whl "$out"/
  rm -rf "$out/build-$k" "$out/build-$k.log"
done
"$tools/bin/maturin" sdist --out "$out" 2>&1 | tail -1
shopt -s nullglob
wheels=("$out"/*.whl)
[[ ${#wheels[@]} -eq $# ]] || { echo "expected $# wheels, got: ${wheels[*]}" >&2; exit 1; }

for whl in "${wheels[@]}"; do
  name=$(basename "$whl")
  echo "=== auditwheel show $name"
  report=$("$tools/bin/auditwheel" show "$whl")
  echo "$report"
  [[ $name == *manylinux_* ]] || { echo "$name is not manylinux-tagged" >&2; exit 1; }
  # The tag in the file name must be one auditwheel finds the wheel consistent with.
  tag=$(sed -E 's/.*-(manylinux_[0-9]+_[0-9]+_[a-z0-9_]+)\.whl/\1/' <<<"$name")
  flat=$(tr -s '[:space:]' ' ' <<<"$report")  # auditwheel wraps its lines
  grep -q "is consistent with the following platform tag: \"$tag\"" <<<"$flat" \
    || { echo "auditwheel does not confirm $tag for $name" >&2; exit 1; }
done
echo "=== twine check"
"$tools/bin/twine" --no-color check --strict "$out"/*

# PATH without any Rust toolchain: no directory holding cargo or rustc.
norust_path=
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [[ -x $d/cargo || -x $d/rustc ]] && continue
  norust_path+=${norust_path:+:}$d
done

test_deps=(pytest pytest-timeout "hypothesis>=6" mypy)
i=0
for py in "$@"; do
  tag=$("$py" -c 'import sys, sysconfig; print(f"cp{sys.version_info[0]}{sys.version_info[1]}" + ("t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""))')
  whl=$(printf '%s\n' "${wheels[@]}" | grep -- "-${tag%t}-$tag-" | head -1 || true)  # cp313-cp313t
  [[ -n $whl ]] || { echo "no wheel for $tag" >&2; exit 1; }
  venv=$PWD/.venvs/wheel-$tag
  rm -rf "$venv" && "$py" -m venv "$venv"
  numpy=numpy
  [[ $tag == *t ]] && numpy="numpy<2.4"  # newest numpy has no cp313t wheel (see pytest-on.sh)
  env PATH="$norust_path" "$venv/bin/python" -m pip install "${pip_q[@]}" --only-binary=:all: "$whl" "${test_deps[@]}" "$numpy"
  if [[ $i -eq 0 ]]; then files=(tests); what="full suite"; else files=("${smoke[@]}"); what="smoke subset"; fi
  echo "=== $(basename "$whl"): pytest ($what), no Rust on PATH"
  env PATH="$norust_path" bash -c '! command -v cargo && ! command -v rustc' >/dev/null \
    || { echo "cargo/rustc still on PATH" >&2; exit 1; }
  env PATH="$norust_path" "$venv/bin/python" -m pytest "${files[@]}" -q -p no:cacheprovider
  (cd "${TMPDIR:-/tmp}" && "$venv/bin/python" -c "from timelog import _timelog as t; \
assert t._build['pgo'] is $pgo, f'{t.__file__}: _build={t._build}, expected pgo=$pgo'; print('PGO:', t._build['pgo'])")
  i=$((i + 1))
done

# The sdist, as `pip install timelog-X.tar.gz` builds it: an isolated build
# (maturin from PyPI) in pip's temporary directory, pyproject.toml's profile,
# no features, no PGO; the Rust build cache is reused (CARGO_TARGET_DIR).
sdist=("$out"/*.tar.gz)
[[ ${#sdist[@]} -eq 1 ]] || { echo "expected one sdist, got: ${sdist[*]}" >&2; exit 1; }
venv=$PWD/.venvs/sdist-check
rm -rf "$venv" && "$1" -m venv "$venv"
echo "=== pip install $(basename "${sdist[0]}") (built from source) into a fresh venv"
"$venv/bin/python" -m pip install "${pip_q[@]}" "${sdist[0]}"
"$venv/bin/python" -m pip install "${pip_q[@]}" --only-binary=:all: "${test_deps[@]}" numpy
(cd "${TMPDIR:-/tmp}" && "$venv/bin/python" - <<'PY'
from timelog import _timelog
assert _timelog._pyo3_reference_pool is False, "the sdist build lost .cargo/config.toml's rustflags"
assert not hasattr(_timelog, "_test_gate"), "the sdist build carries the test hooks"
assert _timelog._build["pgo"] is False, "a source build is not profile-guided"
print("sdist build: pyo3 without its reference pool, no test hooks, no PGO (the checkout's `pip install .`)")
PY
)
"$venv/bin/python" -m pytest "${smoke[@]}" -q -p no:cacheprovider
echo "=== wheels and sdist OK: $(cd "$out" && ls)"
