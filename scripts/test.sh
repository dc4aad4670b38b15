#!/usr/bin/env bash
# Sets up dependencies, configures, builds and runs every test with ctest.
#   scripts/test.sh                      release build in build/
#   scripts/test.sh --sanitize address   ASan + UBSan build in build-asan/
#   scripts/test.sh --sanitize thread    TSan build in build-tsan/
# Extra arguments after -- go to ctest (for example: -- -R unit_core).
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=""
ctest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --sanitize) sanitize="$2"; shift 2 ;;
        --sanitize=*) sanitize="${1#*=}"; shift ;;
        --) shift; ctest_args+=("$@"); break ;;
        *) echo "usage: scripts/test.sh [--sanitize address|thread] [-- ctest args]" >&2; exit 2 ;;
    esac
done

bash scripts/setup.sh

build_dir="build"
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
case "$sanitize" in
    "") ;;
    address) build_dir="build-asan"; cmake_args+=(-DPUFFER_SANITIZE=address -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPUFFER_BUILD_BENCHMARKS=OFF) ;;
    thread) build_dir="build-tsan"; cmake_args+=(-DPUFFER_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPUFFER_BUILD_BENCHMARKS=OFF) ;;
    *) echo "scripts/test.sh: --sanitize takes address or thread" >&2; exit 2 ;;
esac

jobs=$(nproc)
cmake -S . -B "$build_dir" "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j "$jobs"
cd "$build_dir"
export PUFFER_BUILD_DIR="$PWD"
if [ "$sanitize" = "address" ]; then
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
if [ "$sanitize" = "thread" ]; then
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
fi
ctest --output-on-failure -j "$jobs" "${ctest_args[@]}"
