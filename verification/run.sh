#!/usr/bin/env bash
# Runs the bounded model-checking suites of the timelog protocol — loom
# (tests/loom_*.rs) and shuttle (tests/shuttle_*.rs) — and prints a one-line
# summary: scenarios, schedules explored, time.
#
#   verification/run.sh                          # local: loom bound 3
#   CI=1 verification/run.sh                     # CI: loom bound 2
#   LOOM_MAX_PREEMPTIONS=4 verification/run.sh   # deeper
#   TIMELOG_SHUTTLE_SCHEDULES=20000 verification/run.sh
#
# Builds go to target/loom and target/shuttle (RUSTFLAGS with the checker
# cfg), never to the normal build cache. Stays well under 15 minutes on two
# cores (see docs/verification.md for measured times).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${LOOM_MAX_PREEMPTIONS:-}" ]; then
    if [ -n "${CI:-}" ]; then LOOM_MAX_PREEMPTIONS=2; else LOOM_MAX_PREEMPTIONS=3; fi
fi
export LOOM_MAX_PREEMPTIONS
# Per scheduler (random, PCT) and shuttle test: 2 x 2 x 2500 = 10,000.
export TIMELOG_SHUTTLE_SCHEDULES="${TIMELOG_SHUTTLE_SCHEDULES:-2500}"

# The checker builds carry no debug info (the release profile's line tables
# are for profiling the engine): a build of the engine and a test binary
# takes 11 s instead of 14-15 (measured, session 46), and a seeded fault is
# one such build per suite. Panic messages keep their file and line (they
# are compiled in); for backtraces with files and lines, run
# with CARGO_PROFILE_RELEASE_DEBUG=1. run.sh and faults.sh set the same
# value, so they share their builds in target/loom and target/shuttle.
export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-0}"
mkdir -p target
start=$(date +%s)
status=0

echo "== loom (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS)"
CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg timelog_loom" \
    cargo test --release -p timelog-verification --test 'loom_*' -- --nocapture --test-threads=2 \
    2>&1 | tee target/verification-loom.log | grep -E '^\[verification\]|^test result|FAILED|panicked' || true
grep -q 'FAILED\|panicked\|error\[' target/verification-loom.log && status=1
# A crash (e.g. a reported deadlock aborting) shows as a failed process.
grep -q "process didn't exit successfully" target/verification-loom.log && status=1

echo "== shuttle (TIMELOG_SHUTTLE_SCHEDULES=$TIMELOG_SHUTTLE_SCHEDULES per scheduler)"
CARGO_TARGET_DIR=target/shuttle RUSTFLAGS="--cfg timelog_shuttle" SHUTTLE_SILENCE_WARNINGS=1 \
    cargo test --release -p timelog-verification --test 'shuttle_*' -- --nocapture --test-threads=2 \
    2>&1 | tee target/verification-shuttle.log | grep -E '^\[verification\]|^test result|FAILED|panicked' || true
grep -q 'FAILED\|panicked\|error\[' target/verification-shuttle.log && status=1
grep -q "process didn't exit successfully" target/verification-shuttle.log && status=1

summary() { # tool -> "scenarios schedules"
    grep -h "^\[verification\] $1 " target/verification-"$1".log |
        sed -E 's/.* schedules=([0-9]+).*/\1/' |
        awk '{ n++; s += $1 } END { printf "%d %d", n, s }'
}
read -r ln ls <<<"$(summary loom)"
read -r sn ss <<<"$(summary shuttle)"
secs=$(( $(date +%s) - start ))
verdict=ok
[ "$status" = 0 ] || verdict=FAILED
echo "verification: $verdict — $((ln + sn)) scenarios (loom $ln, shuttle $sn), $((ls + ss)) schedules (loom $ls at preemption bound $LOOM_MAX_PREEMPTIONS, shuttle $ss random+PCT), ${secs}s"
exit "$status"
