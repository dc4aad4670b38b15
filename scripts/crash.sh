#!/usr/bin/env bash
# kill -9 crash harness against the real puffer-server (tests/crash/crash_harness.cpp): each round
# writes from several connections, SIGKILLs the server at a random moment, restarts it and checks
# every acknowledged write. Ends with a summary line:
#   crash harness: 200 rounds, N acknowledged upserts and M deletes checked, 0 lost, 0 resurrected, 0 failed restarts
#
#   scripts/crash.sh [--rounds N] [--seed S] [--writers W] [--keep]     (default: 200 rounds)
#
# Builds build/ (Release) first when the binaries are missing or stale. On a failure the data
# directory is kept and its path printed, with the seed to run the same requests again.
set -euo pipefail
cd "$(dirname "$0")/.."

args=("$@")
rounds_given=0
for a in "$@"; do
    case "$a" in
        --rounds|--rounds=*) rounds_given=1 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    esac
done
if [ "$rounds_given" = 0 ]; then
    args=(--rounds 200 "${args[@]}")
fi

if [ ! -f build/build.ninja ]; then
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
if ! build_log=$(ninja -C build crash_harness puffer-server 2>&1); then
    echo "$build_log" >&2
    exit 1
fi
exec build/tests/crash_harness "${args[@]}"
