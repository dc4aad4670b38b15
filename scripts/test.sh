#!/usr/bin/env bash
# Sets up dependencies, then builds and runs every test with ctest, twice: a Release build in
# build/, then an ASan+UBSan build in build-asan/ (the unit and integration tests again, under
# the sanitizers). Prints each ctest summary.
#   scripts/test.sh                      both passes (what CI runs)
#   scripts/test.sh --release            the Release pass only
#   scripts/test.sh --sanitize address   the ASan+UBSan pass only (build-asan/)
#   scripts/test.sh --sanitize thread    a TSan pass (build-tsan/): shards, cache, flush and
#                                        compaction against concurrent searches
# Arguments after -- go to ctest (for example: -- -R unit_core).
set -euo pipefail
cd "$(dirname "$0")/.."

passes=(release address)
ctest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --release) passes=(release); shift ;;
        --sanitize) passes=("$2"); shift 2 ;;
        --sanitize=*) passes=("${1#*=}"); shift ;;
        --) shift; ctest_args+=("$@"); break ;;
        *) echo "usage: scripts/test.sh [--release | --sanitize address|thread] [-- ctest args]" >&2; exit 2 ;;
    esac
done

bash scripts/setup.sh
export CCACHE_BASEDIR="$PWD"
jobs=$(nproc)

run_pass() {
    local pass="$1" build_dir cmake_args=(-G Ninja)
    case "$pass" in
        release) build_dir=build; cmake_args+=(-DCMAKE_BUILD_TYPE=Release) ;;
        address) build_dir=build-asan; cmake_args+=(-DPUFFER_SANITIZE=address -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPUFFER_BUILD_BENCHMARKS=OFF) ;;
        thread) build_dir=build-tsan; cmake_args+=(-DPUFFER_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPUFFER_BUILD_BENCHMARKS=OFF) ;;
        *) echo "scripts/test.sh: --sanitize takes address or thread" >&2; exit 2 ;;
    esac
    echo "=== $pass: building in $build_dir"
    cmake -S . -B "$build_dir" "${cmake_args[@]}" >/dev/null
    cmake --build "$build_dir" -j "$jobs"
    echo "=== $pass: running the tests"
    (
        cd "$build_dir"
        export PUFFER_BUILD_DIR="$PWD"
        export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
        export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
        export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
        ctest --output-on-failure -j "$jobs" "${ctest_args[@]}"
    )
}

for pass in "${passes[@]}"; do
    run_pass "$pass"
done
