#!/usr/bin/env bash
# Seeded faults: builds the engine once per deliberate protocol bug
# (`cfg(timelog_fault = "NAME")`, compiled only here) and runs the loom and
# shuttle scenarios that catch it. Every fault must make a scenario of each
# suite expected to catch it fail; the script prints which ones and exits
# non-zero if a fault goes unnoticed (or if the suites do not pass without
# any fault).
#
#   verification/faults.sh                 # every fault
#   verification/faults.sh reclaim_early   # some faults
#   FAULT_FULL=1 verification/faults.sh    # every fault against every scenario
#
# Which scenarios run per fault: LOOM_TESTS and SHUTTLE_TESTS below (the
# scenarios that catch it, from the full runs recorded in
# docs/verification.md). FAULT_FULL=1 runs every scenario of both suites for
# every fault instead (as the script did before; ~4x longer), e.g. to
# re-check the mapping after a protocol change.
#
# Bounds: LOOM_MAX_PREEMPTIONS (default 2, as in CI) and
# TIMELOG_SHUTTLE_SCHEDULES (default 5000 per scheduler and test: shuttle's
# schedules are random, and at 500 a fault it catches was missed in one of
# several runs — flush_before_commit, after the holds and the skiplist added
# steps to every scenario; at 5000 the suite takes ~12 s per fault).
# FAULT_TOOLS="loom" (or "shuttle") runs one suite only (default: both).
# FAULT_JOBS=1 runs a fault's two suites one after the other (default:
# side by side, each in its own build directory).
# FAULT_SKIP_BASELINE=1 skips the run without a fault (every scenario of
# the chosen suites, which must pass): CI sets it because verification/run.sh
# has just run every scenario of both suites, from the same build, at the same
# loom bound and with more shuttle schedules.
#
# Logs: target/fault-logs/FAULT-TOOL.log (FAULT_LOGS=DIR elsewhere).
#
# Builds go to target/loom and target/shuttle, the directories of run.sh:
# same RUSTFLAGS and profile, so the dependencies are compiled once for both
# scripts. The fault cfg is added to the engine crate only
# (verification/fault-rustc.sh, a rustc wrapper, which cargo does not
# fingerprint), and the engine reads TIMELOG_FAULT with option_env!, so
# cargo rebuilds just the engine and the test crates when the fault changes
# (and again for the next run without one); the normal build cache
# (target/debug, target/release) is never touched.
set -u
cd "$(dirname "$0")/.."

declare -A RULE=(
    [seal_no_recheck]="R1: a writer enters without re-checking 'sealed'"
    [seal_no_drain]="R2: the sealer replaces the memtable without waiting for its tickets to commit"
    [appender_shared]="R3: a writer that found the appender right taken appends anyway (two writers append at once)"
    [appender_relaxed_give]="R3: the appender right given back Relaxed, not Release (the next appender may not see the slots)"
    [door_relaxed_install]="R2: the door reopens Relaxed (a writer may load the sealed memtable)"
    [run_relaxed_publish]="R4: run length published Relaxed, not Release"
    [run_extend_early_publish]="R4: a bulk append publishes a bucket's part of the batch before writing its slots"
    [commit_before_insert]="R5: the watermark passes a write before its insert"
    [commit_ring_no_wait]="R5: a completion-ring slot reused before its mark is consumed"
    [commit_fast_relaxed]="R5: the commit's fast-path CAS of the watermark Relaxed, not AcqRel"
    [snapshot_no_cap]="R5: snapshot watermark not capped by the seal bound"
    [manifest_relaxed_publish]="R5: manifest CAS Relaxed, not Release (model cell)"
    [tomb_relaxed_push]="R7: tombstone pushed Relaxed, not Release"
    [heir_not_kept]="R8 (payloads move): a flushed memtable gives its payloads to the segment without keeping it alive"
    [heir_payloads_dropped]="R8 (payloads move): a flushed memtable drops the payloads its heir owns"
    [reclaim_early]="R9: replaced manifest reclaimed with holders in flight (holds ignored at retirement)"
    [hold_ignore_retired]="R9: a reader counts a hold on a retired manifest (ignores RETIRED)"
    [cell_reclaim_early]="R9: model cell reclaims a replaced slot with loaders in flight"
    [park_ignores_generation]="R9: a snapshot parks whatever generation its stripe's park was swept to (Parking)"
    [compact_no_check]="R10: compaction publishes without checking its inputs"
    [prefix_cut_keeps_a_page]="R10: a prefix cut shares the page below the one it straddles"
    [progress_lost_wakeup]="Backpressure: progress notified without the worker mutex"
    [tomb_coalesce_one_class]="R11: coalescing merges tombstones across a segment's tomb_applied"
    [skiplist_relaxed_link]="R6: skiplist node linked at level 0 Relaxed, not Release"
    [ooo_filter_unset]="R6: a late insert leaves its timestamp's filter bit clear (point reads skip it)"
    [merged_relaxed_publish]="R13: a memtable's merged view published Relaxed, not Release"
    [merged_build_relaxed_handoff]="R13 (5): a merged view's build in shares handed between readers Relaxed, not Acquire/Release"
    [late_floor_store]="R13 (6): a late floor's epoch lowered by a load and a store, not fetch_min (two late writers race)"
    [ooo_more_ignores_watermark]="R13 (7): a read collecting the late records newer than a view as it goes collects records newer than its snapshot too"
    [merged_lazy_stale_view]="R13 (5): a long read reads through a merged view newer than its snapshot"
    [ooo_range_back_skips_start]="R13 (7): a descending read's backward step of the skiplist loses the record it starts at"
    [run_publish_before_commit]="R14: a bulk run published before its block of sequences is committed"
    [wfree_ignores_stacks]="R15: a watermark-free read leaves the memtables' tombstones out"
    [wfree_reads_run]="R15: a watermark-free read answers from a memtable run without the watermark"
    [wfree_span_unchecked]="R15: a watermark-free read outside the stacks' span keeps an answer inside it"
    [tomb_span_own_only]="R15: a tombstone slot's span leaves the earlier slots out"
    [tomb_span_skips_unwritten]="R15: a tombstone slot's span leaves out an earlier slot still being written"
    [count_ignores_deletes]="R1, R7: len counts a memtable by its tickets although deletes took some or hide its records"
    [count_past_seal_bound]="R1, R2: len counts a sealed memtable's tickets past its seal bound"
)
# The scenarios each fault runs against: "SUITE" is every scenario of
# tests/<tool>_SUITE.rs, "SUITE/SCENARIO" one of them (names as in
# docs/verification.md); "none": the suite cannot catch the fault (shuttle
# models every atomic as SeqCst) and is not run for it. loom: the scenarios
# that catch the fault at bound 2 (the table in docs/verification.md),
# leaving out a catching scenario that costs seconds when cheap ones catch
# it too (seal/two_writers_advance_the_watermark: ~30 s). shuttle: its one
# suite, whole (schedules are random: which of its three scenarios catches a
# fault can vary, and all three take ~12 s at 5000 schedules). Every fault
# needs an entry in both (the script stops otherwise); a fault is caught only
# if every suite with an entry other than "none" catches it.
declare -A LOOM_TESTS=(
    [seal_no_recheck]="seal/writer_vs_seal_and_flush delete/delete_vs_flush"
    [seal_no_drain]="seal/writer_vs_seal_and_flush delete/delete_vs_flush"
    [appender_shared]="seal/two_writers_advance_the_watermark"
    [appender_relaxed_give]="seal/two_writers_advance_the_watermark"
    [door_relaxed_install]="seal/writer_vs_seal_and_flush"
    [run_relaxed_publish]="seal/writer_vs_seal_and_flush seal/reader_vs_seal seal/bulk_write_is_atomic seal/bulk_write_across_buckets_is_atomic delete/delete_vs_snapshot_watermark"
    [run_extend_early_publish]="seal/bulk_write_is_atomic seal/bulk_write_across_buckets_is_atomic"
    [commit_before_insert]="seal/writer_vs_seal_and_flush seal/reader_vs_seal delete/delete_vs_snapshot_watermark"
    [commit_ring_no_wait]="commit"
    [commit_fast_relaxed]="commit/helping_across_a_reused_slot seal/reader_vs_seal"
    [snapshot_no_cap]="seal/reader_vs_seal oneshot"
    [manifest_relaxed_publish]="compact delete/delete_vs_flush"
    [tomb_relaxed_push]="delete"
    [heir_not_kept]="flush/moved_payloads_outlive_old_readers"
    [heir_payloads_dropped]="flush/moved_payloads_outlive_old_readers"
    [reclaim_early]="holds/snapshots_vs_publication compact/reader_vs_compaction_and_reclaim"
    [hold_ignore_retired]="holds/snapshots_vs_publication compact/reader_vs_compaction_and_reclaim"
    [cell_reclaim_early]="compact delete/delete_vs_flush"
    [park_ignores_generation]="holds/parked_snapshots_vs_publication holds/snapshots_vs_publication"
    [compact_no_check]="compact/compactions_race_without_the_mutex"
    [prefix_cut_keeps_a_page]="compact/reader_vs_prefix_cut"
    [progress_lost_wakeup]="backpressure/backpressure_wait_vs_worker"
    [tomb_coalesce_one_class]="delete/snapshot_between_deletes_vs_coalescing"
    [skiplist_relaxed_link]="skiplist/snapshot_held_across_seal_vs_late_insert skiplist/late_writers_vs_reader"
    [ooo_filter_unset]="skiplist/late_writers_vs_reader"
    [merged_relaxed_publish]="skiplist/merged_view_published_to_reader"
    [merged_build_relaxed_handoff]="skiplist/merged_view_built_in_shares"
    [late_floor_store]="skiplist/late_floor_writers_vs_reader"
    [ooo_more_ignores_watermark]="none"
    [merged_lazy_stale_view]="none"
    [ooo_range_back_skips_start]="skiplist/late_writers_vs_reader skiplist/late_floor_writers_vs_reader"
    [run_publish_before_commit]="bulk/run_vs_reader"
    [wfree_ignores_stacks]="oneshot/wfree_reads_vs_delete_and_append"
    [wfree_reads_run]="oneshot/wfree_reads_vs_delete_and_append"
    [wfree_span_unchecked]="oneshot/wfree_span_vs_delete"
    [tomb_span_own_only]="oneshot/wfree_span_vs_delete"
    [tomb_span_skips_unwritten]="oneshot/wfree_span_vs_two_deleters"
    [count_ignores_deletes]="delete/delete_vs_flush delete/delete_vs_snapshot_watermark"
    [count_past_seal_bound]="seal/reader_vs_seal seal/writer_vs_seal_and_flush"
)
declare -A SHUTTLE_TESTS=(
    [seal_no_recheck]="engine"
    [seal_no_drain]="engine"
    [appender_shared]="engine"
    [appender_relaxed_give]="none"
    [door_relaxed_install]="none"
    [run_relaxed_publish]="none"
    [run_extend_early_publish]="none"
    [commit_before_insert]="engine"
    [commit_ring_no_wait]="none"
    [commit_fast_relaxed]="none"
    [snapshot_no_cap]="engine"
    [manifest_relaxed_publish]="none"
    [tomb_relaxed_push]="none"
    [heir_not_kept]="engine/moved_payloads_outlive_old_readers"
    [heir_payloads_dropped]="engine/moved_payloads_outlive_old_readers"
    [reclaim_early]="none"
    [hold_ignore_retired]="none"
    [cell_reclaim_early]="none"
    [park_ignores_generation]="engine"
    [compact_no_check]="engine"
    # Not since session 39: the shuttle writers' in-order segments now move
    # to L1 as flushed (R10, moved segments), so their prefix cuts straddle
    # a segment's first page, where the fault changes nothing; loom's
    # compact/reader_vs_prefix_cut cuts a three-page segment.
    [prefix_cut_keeps_a_page]="none"
    [progress_lost_wakeup]="none"
    [tomb_coalesce_one_class]="engine"
    [skiplist_relaxed_link]="none"
    [ooo_filter_unset]="skiplist"
    [merged_relaxed_publish]="none"
    [merged_build_relaxed_handoff]="none"
    [late_floor_store]="skiplist"
    [ooo_more_ignores_watermark]="skiplist/late_records_newer_than_a_view_read_across_flush"
    [merged_lazy_stale_view]="skiplist/long_reads_build_the_view_in_shares"
    [ooo_range_back_skips_start]="skiplist"
    [run_publish_before_commit]="bulk"
    [wfree_ignores_stacks]="engine"
    [wfree_reads_run]="engine"
    [wfree_span_unchecked]="engine"
    [tomb_span_own_only]="engine"
    [tomb_span_skips_unwritten]="engine"
    [count_ignores_deletes]="engine"
    [count_past_seal_bound]="engine"
)
# Every fault, in the order of the rule it breaks.
mapfile -t ALL < <(for f in "${!RULE[@]}"; do printf '%s\t%s\n' "${RULE[$f]%%:*}" "$f"; done | sort -V | cut -f2)
if [ $# -gt 0 ]; then FAULTS=("$@"); else FAULTS=("${ALL[@]}"); fi

export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export TIMELOG_SHUTTLE_SCHEDULES="${TIMELOG_SHUTTLE_SCHEDULES:-5000}"
export SHUTTLE_SILENCE_WARNINGS=1
export RUSTC_WRAPPER="$PWD/verification/fault-rustc.sh"
# No debug info in the checker builds, as in run.sh (why, and how to get
# backtraces with lines, there): the same value keeps their builds shared,
# and each fault is one engine and test-binary build per suite.
export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-0}"
LOGS="${FAULT_LOGS:-target/fault-logs}"
mkdir -p "$LOGS"
TIMEOUT="${FAULT_TIMEOUT:-900}"
FULL="${FAULT_FULL:-}"
read -r -a TOOLS <<<"${FAULT_TOOLS:-loom shuttle}"
on() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }
start=$(date +%s)

# tests TOOL FAULT -> the mapping entry ("" if there is none)
tests() {
    if [ "$1" = loom ]; then echo "${LOOM_TESTS[$2]:-}"; else echo "${SHUTTLE_TESTS[$2]:-}"; fi
}

# Every fault named, known and mapped for every suite, every mapped suite
# and scenario present: checked before anything is built.
bad=0
for tool in "${TOOLS[@]}"; do
    [[ $tool == loom || $tool == shuttle ]] || { echo "faults.sh: unknown tool '$tool' in FAULT_TOOLS"; exit 2; }
done
for f in "${FAULTS[@]}"; do
    [ -n "${RULE[$f]:-}" ] || { echo "faults.sh: unknown fault: $f"; bad=1; continue; }
    for tool in loom shuttle; do
        spec=$(tests "$tool" "$f")
        if [ -z "$spec" ]; then
            echo "faults.sh: fault $f has no ${tool^^}_TESTS entry (the scenarios that catch it, or \"none\")"
            bad=1
            continue
        fi
        [ "$spec" = none ] && continue
        for e in $spec; do
            file="verification/tests/${tool}_${e%%/*}.rs"
            if [ ! -f "$file" ]; then
                echo "faults.sh: ${tool^^}_TESTS[$f]: no $file"
                bad=1
            elif [[ $e == */* ]] && ! grep -qE "^fn ${e#*/}\(\)" "$file"; then
                echo "faults.sh: ${tool^^}_TESTS[$f]: no scenario ${e#*/} in $file"
                bad=1
            fi
        done
    done
    [ "$(tests loom "$f")" != none ] || [ "$(tests shuttle "$f")" != none ] ||
        { echo "faults.sh: fault $f: no suite is expected to catch it"; bad=1; }
done
for f in "${!LOOM_TESTS[@]}" "${!SHUTTLE_TESTS[@]}"; do
    [ -n "${RULE[$f]:-}" ] || { echo "faults.sh: mapping for $f, which has no RULE entry"; bad=1; }
done
[ "$bad" = 0 ] || exit 2

# run TOOL FAULT SPEC -> prints the failing scenarios ("" if none); log in
# $LOGS. SPEC: "all" (every scenario of the suite) or a mapping entry.
run() {
    local tool="$1" fault="$2" spec="$3" log="$LOGS/${2:-baseline}-$1.log"
    local -a envs=(CARGO_TARGET_DIR="target/$tool" RUSTFLAGS="--cfg timelog_$tool")
    [ -n "$fault" ] && envs+=(TIMELOG_FAULT="$fault")
    # The test binaries, each with its scenarios ("" = all of them).
    local -A filt=()
    local -a bins=() targets=()
    local e b
    if [ "$spec" = all ]; then
        bins=("${tool}_*")
        filt["${tool}_*"]=""
    else
        for e in $spec; do
            b="${tool}_${e%%/*}"
            [ -n "${filt[$b]+x}" ] || bins+=("$b")
            if [[ $e != */* ]]; then
                filt[$b]="*"
            elif [ "${filt[$b]:-}" != "*" ]; then
                filt[$b]+=" ${e#*/}"
            fi
        done
    fi
    for b in "${bins[@]}"; do targets+=(--test "$b"); done
    : >"$log"
    # One build of every binary needed (in parallel), then each binary with
    # its scenarios.
    env "${envs[@]}" timeout "$TIMEOUT" cargo test --release -p timelog-verification --no-run "${targets[@]}" >>"$log" 2>&1
    local rc=$?
    if [ "$rc" != 0 ]; then
        echo "BUILD-ERROR"
        return
    fi
    local -a args names
    local timedout=""
    for b in "${bins[@]}"; do
        args=(--test-threads=2)
        [ -n "${filt[$b]}" ] && [ "${filt[$b]}" != "*" ] && read -r -a names <<<"${filt[$b]}" && args+=(--exact "${names[@]}")
        env "${envs[@]}" timeout "$TIMEOUT" cargo test --release -p timelog-verification --no-fail-fast --test "$b" \
            -- "${args[@]}" >>"$log" 2>&1
        [ $? = 124 ] && timedout="(timeout) "
    done
    if grep -q '^running 0 tests$' "$log"; then
        echo "NO-SCENARIO"
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
    echo "${failed}${crashed}${timedout}" | sed -E 's/ +$//'
}

if [ -n "${FAULT_SKIP_BASELINE:-}" ]; then
    echo "== baseline (no fault): skipped (FAULT_SKIP_BASELINE; verification/run.sh ran every scenario)"
else
    echo "== baseline (no fault): every scenario must pass"
    ok=1
    for tool in "${TOOLS[@]}"; do
        r=$(run "$tool" "" all)
        if [ -n "$r" ]; then
            echo "   $tool: FAILS WITHOUT A FAULT: $r (see $LOGS/baseline-$tool.log)"
            ok=0
        else
            echo "   $tool: pass"
        fi
    done
    [ "$ok" = 1 ] || { echo "faults.sh: the suites fail without a fault; fix that first"; exit 2; }
fi

missed=0
notrun=0
rows=()
# Each fault's two suites run side by side (FAULT_JOBS=1: one after the
# other): their builds go to separate directories, and a build's front end
# is single-threaded, so one suite's build overlaps the other's build or
# scenarios on the second core.
JOBS="${FAULT_JOBS:-2}"
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
for f in "${FAULTS[@]}"; do
    echo "== fault $f (${RULE[$f]})"
    verdict=CAUGHT
    ran=0
    cols=()
    # The suites to run for this fault, started at once (or in turn).
    for tool in loom shuttle; do
        spec=$(tests "$tool" "$f")
        rm -f "$results/$tool"
        if on "$tool" && { [ "$spec" != none ] || [ -n "$FULL" ]; }; then
            [ -n "$FULL" ] && spec=all
            if [ "$JOBS" -gt 1 ]; then
                run "$tool" "$f" "$spec" >"$results/$tool" &
            else
                run "$tool" "$f" "$spec" >"$results/$tool"
            fi
        fi
    done
    wait
    # A suite ran iff the loop above made its result file.
    for tool in loom shuttle; do
        r="-"
        if [ -e "$results/$tool" ]; then
            r=$(cat "$results/$tool")
            ran=1
            shown="${r:-(not caught)}"
            if [ "$r" = BUILD-ERROR ] || [ "$r" = NO-SCENARIO ]; then
                verdict="$r"
            elif [ -z "$r" ] && [ "$(tests "$tool" "$f")" != none ] && [ "$verdict" = CAUGHT ]; then
                verdict=MISSED
            fi
            r="${r:-(not caught)}"
        elif ! on "$tool"; then
            shown="(skipped)"
        else
            shown="(not run: cannot catch it)"
        fi
        printf '   %-8s %s\n' "$tool:" "$shown"
        cols+=("$r")
    done
    if [ "$ran" = 0 ]; then
        verdict=NOT-RUN
        notrun=$((notrun + 1))
    elif [ "$verdict" != CAUGHT ]; then
        missed=$((missed + 1))
    fi
    rows+=("$(printf '%-26s %-8s %s | loom: %s | shuttle: %s' "$f" "$verdict" "${RULE[$f]}" "${cols[0]}" "${cols[1]}")")
done

echo
mode="scenarios of LOOM_TESTS/SHUTTLE_TESTS"
[ -n "$FULL" ] && mode="FAULT_FULL: every scenario"
echo "== seeded faults ($mode; LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS, TIMELOG_SHUTTLE_SCHEDULES=$TIMELOG_SHUTTLE_SCHEDULES)"
for r in "${rows[@]}"; do echo "$r"; done
echo "faults.sh: ${#FAULTS[@]} faults, $((${#FAULTS[@]} - missed - notrun)) caught, $missed missed, $notrun not run (no chosen suite catches them), $(( $(date +%s) - start ))s"
[ "$missed" = 0 ]
