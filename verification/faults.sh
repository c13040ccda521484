#!/usr/bin/env bash
# Seeded faults: builds the engine once per deliberate protocol bug
# (`cfg(timelog_fault = "NAME")`, compiled only here) and runs the loom and
# shuttle suites against it. Every fault must make at least one scenario
# fail; the script prints which ones and exits non-zero if a fault goes
# unnoticed (or if the suites do not pass without any fault).
#
#   verification/faults.sh                 # every fault
#   verification/faults.sh reclaim_early   # some faults
#
# Bounds: LOOM_MAX_PREEMPTIONS (default 2, as in CI) and
# TIMELOG_SHUTTLE_SCHEDULES (default 500 per scheduler and test).
# FAULT_TOOLS="loom" (or "shuttle") runs one suite only (default: both).
#
# Builds go to target/fault-loom and target/fault-shuttle. The fault cfg is
# added to the engine crate only (verification/fault-rustc.sh, a rustc
# wrapper), so the dependencies are compiled once per tool and each fault
# rebuilds just the engine and the test crates; the normal build cache
# (target/debug, target/release) is never touched.
set -u
cd "$(dirname "$0")/.."

declare -A RULE=(
    [seal_no_recheck]="R1: a writer enters without re-checking 'sealed'"
    [seal_no_drain]="R2: the sealer does not wait for the writers inside"
    [run_relaxed_publish]="R4: run length published Relaxed, not Release"
    [commit_before_insert]="R5: the watermark passes a write before its insert"
    [commit_ring_no_wait]="R5: a completion-ring slot reused before its mark is consumed"
    [snapshot_no_cap]="R5: snapshot watermark not capped by the seal bound"
    [manifest_relaxed_publish]="R5: manifest CAS Relaxed, not Release (model cell)"
    [tomb_relaxed_push]="R7: tombstone pushed Relaxed, not Release"
    [flush_before_commit]="R8: flush publishes before the seal bound is committed"
    [reclaim_early]="R9: replaced manifest reclaimed with holders in flight (holds ignored at retirement)"
    [hold_ignore_retired]="R9: a reader counts a hold on a retired manifest (ignores RETIRED)"
    [cell_reclaim_early]="R9: model cell reclaims a replaced slot with loaders in flight (not in the default list)"
    [compact_no_check]="R10: compaction publishes without checking its inputs"
    [progress_lost_wakeup]="Backpressure: progress notified without the worker mutex"
    [tomb_coalesce_one_class]="R11: coalescing merges tombstones across a segment's tomb_applied"
)
ALL=(seal_no_recheck seal_no_drain run_relaxed_publish commit_before_insert commit_ring_no_wait snapshot_no_cap
     manifest_relaxed_publish tomb_relaxed_push flush_before_commit reclaim_early hold_ignore_retired compact_no_check
     progress_lost_wakeup tomb_coalesce_one_class)
if [ $# -gt 0 ]; then FAULTS=("$@"); else FAULTS=("${ALL[@]}"); fi

export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export TIMELOG_SHUTTLE_SCHEDULES="${TIMELOG_SHUTTLE_SCHEDULES:-500}"
export RUSTC_WRAPPER="$PWD/verification/fault-rustc.sh"
LOGS="target/fault-logs"
mkdir -p "$LOGS"
TIMEOUT="${FAULT_TIMEOUT:-900}"
read -r -a TOOLS <<<"${FAULT_TOOLS:-loom shuttle}"
on() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }
start=$(date +%s)

# run TOOL FAULT -> prints the failing scenarios ("" if none); log in $LOGS
run() {
    local tool="$1" fault="$2" log="$LOGS/${2:-baseline}-$1.log"
    TIMELOG_FAULT="$fault" CARGO_TARGET_DIR="target/fault-$tool" RUSTFLAGS="--cfg timelog_$tool" \
        timeout "$TIMEOUT" cargo test --release -p timelog-verification --no-fail-fast --test "${tool}_*" \
        -- --test-threads=2 >"$log" 2>&1
    local rc=$?
    if grep -q 'could not compile' "$log"; then
        echo "BUILD-ERROR"
        return
    fi
    # Failed scenarios: libtest's verdicts, plus the test threads that
    # panicked (a report can abort its binary before libtest prints one).
    local failed
    failed=$( (grep -E '^test .* \.\.\. FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/'
               grep -oE "^thread '[a-z0-9_]+' \([0-9]+\) panicked" "$log" | sed -E "s/^thread '([a-z0-9_]+)'.*/\1/") |
             grep -v '^main$' | sort -u | tr '\n' ' ')
    local crashed=""
    if [ -z "$failed" ] && grep -q "process didn't exit successfully" "$log"; then
        crashed="(crashed) "
    fi
    [ "$rc" = 124 ] && crashed="$crashed(timeout) "
    echo "${failed}${crashed}" | sed -E 's/ +$//'
}

echo "== baseline (no fault): the suites must pass"
ok=1
for tool in "${TOOLS[@]}"; do
    r=$(run "$tool" "")
    if [ -n "$r" ]; then
        echo "   $tool: FAILS WITHOUT A FAULT: $r (see $LOGS/baseline-$tool.log)"
        ok=0
    else
        echo "   $tool: pass"
    fi
done
[ "$ok" = 1 ] || { echo "faults.sh: the suites fail without a fault; fix that first"; exit 2; }

missed=0
rows=()
for f in "${FAULTS[@]}"; do
    [ -n "${RULE[$f]:-}" ] || { echo "unknown fault: $f"; exit 2; }
    echo "== fault $f (${RULE[$f]})"
    l=""
    s=""
    lt="(skipped)"
    st="(skipped)"
    if on loom; then l=$(run loom "$f"); lt="${l:-(not caught)}"; fi
    if on shuttle; then s=$(run shuttle "$f"); st="${s:-(not caught)}"; fi
    echo "   loom:    $lt"
    echo "   shuttle: $st"
    verdict=CAUGHT
    if [ "$l" = BUILD-ERROR ] || [ "$s" = BUILD-ERROR ]; then
        verdict=BUILD-ERROR
        missed=$((missed + 1))
    elif [ -z "$l" ] && [ -z "$s" ]; then
        verdict=MISSED
        missed=$((missed + 1))
    fi
    rows+=("$(printf '%-26s %-8s %s | loom: %s | shuttle: %s' "$f" "$verdict" "${RULE[$f]}" "${l:--}" "${s:--}")")
done

echo
echo "== seeded faults (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS, TIMELOG_SHUTTLE_SCHEDULES=$TIMELOG_SHUTTLE_SCHEDULES)"
for r in "${rows[@]}"; do echo "$r"; done
echo "faults.sh: ${#FAULTS[@]} faults, $((${#FAULTS[@]} - missed)) caught, $missed missed, $(( $(date +%s) - start ))s"
[ "$missed" = 0 ]
