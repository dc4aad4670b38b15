#!/usr/bin/env bash
# Sets up dependencies, then builds and runs every test, in passes:
#   release  a Release build in build/, every ctest test;
#   address  an ASan+UBSan build in build-asan/, the unit and integration tests again under the
#            sanitizers;
#   fuzz     the libFuzzer targets built in build-fuzz/ (clang 14, scripts/fuzz_common.sh): the
#            fuzz_*_corpus and fuzz_*_regress ctest tests (every seed and past finding), then each
#            target fuzzed for PUFFER_FUZZ_SECONDS (default 30) from its seeds, with new inputs
#            in a scratch directory that is removed afterwards (findings are kept in
#            build-fuzz/findings/).
# Prints each ctest summary and the time of each pass.
#   scripts/test.sh                      release, address and fuzz (what CI runs)
#   scripts/test.sh --release            the Release pass only
#   scripts/test.sh --sanitize address   the ASan+UBSan pass only (build-asan/)
#   scripts/test.sh --sanitize thread    a TSan pass (build-tsan/): shards, cache, flush and
#                                        compaction against concurrent searches; not a default
#                                        pass: it would take CI to ~30 minutes
#                                        (docs/fuzzing.md, "CI time")
#   scripts/test.sh --fuzz               the fuzz pass only
# Arguments after -- go to ctest (for example: -- -R unit_core).
set -euo pipefail
cd "$(dirname "$0")/.."

passes=(release address fuzz)
ctest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --release) passes=(release); shift ;;
        --fuzz) passes=(fuzz); shift ;;
        --sanitize) passes=("$2"); shift 2 ;;
        --sanitize=*) passes=("${1#*=}"); shift ;;
        --) shift; ctest_args+=("$@"); break ;;
        *) echo "usage: scripts/test.sh [--release | --sanitize address|thread | --fuzz] [-- ctest args]" >&2; exit 2 ;;
    esac
done

bash scripts/setup.sh
export CCACHE_BASEDIR="$PWD"
jobs=$(nproc)

fuzz_pass() {
    source scripts/fuzz_common.sh
    echo "=== fuzz: building in $fuzz_build_dir"
    FUZZ_JOBS="$jobs" fuzz_build
    echo "=== fuzz: every seed and past finding"
    (
        cd "$fuzz_build_dir"
        ctest --output-on-failure -j "$jobs" -L fuzz
    )
    local seconds="${PUFFER_FUZZ_SECONDS:-30}" scratch
    scratch="$(mktemp -d "${TMPDIR:-/tmp}/puffer-fuzz-pass-XXXXXX")"
    local failed=0
    for target in "${fuzz_targets[@]}"; do
        echo "=== fuzz: $target for ${seconds}s"
        if ! fuzz_run "$target" "$seconds" "$scratch/$target"; then
            failed=1
            mkdir -p "$fuzz_build_dir/findings"
            cp -r "$scratch/$target"/findings-* "$fuzz_build_dir/findings/" 2>/dev/null || true
            echo "fuzz: the input is kept in $fuzz_build_dir/findings/" >&2
        fi
    done
    rm -rf "$scratch"
    return "$failed"
}

run_pass() {
    local pass="$1" build_dir cmake_args=(-G Ninja)
    if [ "$pass" = fuzz ]; then
        fuzz_pass
        return
    fi
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
    started=$SECONDS
    run_pass "$pass"
    echo "=== $pass: passed in $((SECONDS - started)) s"
done
