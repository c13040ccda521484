#!/bin/sh
# RUSTC_WRAPPER for seeded-fault builds (see faults.sh): cargo runs
# "fault-rustc.sh <rustc> <args...>". For the engine crate only, add
# --cfg timelog_fault="$TIMELOG_FAULT"; every other crate is compiled
# unchanged, so the dependencies of all fault builds are built once.
rustc="$1"
shift
if [ -n "$TIMELOG_FAULT" ]; then
    prev=""
    for a in "$@"; do
        if [ "$prev" = "--crate-name" ] && [ "$a" = "timelog" ]; then
            exec "$rustc" "$@" --cfg "timelog_fault=\"$TIMELOG_FAULT\""
        fi
        prev="$a"
    done
fi
exec "$rustc" "$@"
