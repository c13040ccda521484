#!/usr/bin/env bash
# pytest-on.sh PYTHON [EXTRA_FEATURES]
# Builds and installs the package with its test extra into a venv of
# PYTHON (.venvs/<name>), then runs the pytest suite against the installed
# package. The Rust build reuses ./target (CARGO_TARGET_DIR), so only the
# binding is rebuilt per interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
py=$1
features=${2:-}
name=$("$py" -c 'import sys, sysconfig; print(f"py{sys.version_info[0]}{sys.version_info[1]}" + ("t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""))')
venv=.venvs/$name
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
echo "=== pytest on $name ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
[[ -x $venv/bin/python ]] || "$py" -m venv "$venv"
vpy=$venv/bin/python
# Wheels only: the newest numpy, hypothesis and mypy (ast-serialize) ship no
# wheels for free-threaded 3.13 (cp313t) and their sources need pyo3 >= 0.29,
# which refuses 3.13t; pip then picks the newest versions that have wheels.
numpy=numpy
[[ $name == py313t ]] && numpy="numpy<2.4"
"$vpy" -m pip install -q --disable-pip-version-check --only-binary=:all: \
  "maturin>=1.5,<2" pytest pytest-timeout "hypothesis>=6" "$numpy" mypy
# The Arrow consumers of tests/test_arrow.py, each only where it ships a
# wheel for this interpreter (free-threaded 3.13 may have none: the tests
# that need it are then skipped, with the reason).
for pkg in pyarrow polars duckdb; do
  "$vpy" -m pip install -q --disable-pip-version-check --only-binary=:all: "$pkg" \
    || echo "=== $pkg: no wheel for $name; its Arrow tests will be skipped"
done
args=()
[[ -n $features ]] && args=(--config-settings "build-args=--features $features")
"$vpy" -m pip install -q --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps "${args[@]}" .
"$vpy" -m pytest ${PYTEST_ARGS:-tests} -q -p no:cacheprovider
echo "=== python -m timelog (demo smoke run) on $name"
abs_vpy=$PWD/$vpy
(cd "${TMPDIR:-/tmp}" && "$abs_vpy" -m timelog --events 50000 > /dev/null)
