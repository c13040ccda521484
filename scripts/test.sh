#!/usr/bin/env bash
# The test command: builds everything, runs the Rust tests (unit, model-based
# proptest, stress) and the pytest suite on this machine's python3.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
echo "=== cargo test --workspace --release"
cargo test --workspace --release
echo "=== cargo test -p timelog --release --features test-hooks --test delete_reads (visited-records bounds)"
cargo test -p timelog --release --features test-hooks --test delete_reads
echo "=== cargo test -p timelog --release --features contention-audit --test contention_audit (what reads and appends write)"
cargo test -p timelog --release --features contention-audit --test contention_audit
bash scripts/pytest-on.sh "${PYTHON:-python3}" test-hooks
