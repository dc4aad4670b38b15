# Shared by scripts/fuzz.sh and the fuzz pass of scripts/test.sh (source it from the repository
# root): the libFuzzer targets, how build-fuzz/ is configured and built (clang 14, ASan + UBSan +
# libFuzzer), and one fuzzing run of a target. docs/fuzzing.md describes the targets.

fuzz_targets=(http_request segment_reader wal_replay manifest)
fuzz_build_dir="build-fuzz"

# Configures build-fuzz/ and builds the given targets (default: every fuzz target).
fuzz_build() {
    local jobs="${FUZZ_JOBS:-$(nproc)}" targets=("$@")
    if [ ${#targets[@]} -eq 0 ]; then
        for t in "${fuzz_targets[@]}"; do
            targets+=("fuzz_$t")
        done
    fi
    cmake -S . -B "$fuzz_build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPUFFER_BUILD_FUZZERS=ON -DPUFFER_BUILD_TESTS=OFF -DPUFFER_BUILD_BENCHMARKS=OFF >/dev/null
    cmake --build "$fuzz_build_dir" --target "${targets[@]}" -j "$jobs"
}

# Largest input per target: a few segments' worth of pages, a few dozen WAL records, bodies of a
# few hundred points.
fuzz_max_len() {
    case "$1" in
        http_request) echo 16384 ;;
        segment_reader) echo 32768 ;;
        wal_replay) echo 8192 ;;
        manifest) echo 4096 ;;
    esac
}

# fuzz_run TARGET SECONDS WORK [libFuzzer flags...]: fuzzes TARGET for SECONDS from the checked-in
# seeds (tests/fuzz/corpus/TARGET, only read) and WORK/corpus, which receives the new inputs.
# Findings go to WORK/findings-<time>/. Returns non-zero on a finding, after printing the input
# that triggers it; prints libFuzzer's final stats otherwise.
fuzz_run() {
    local target="$1" seconds="$2" work="$3"
    shift 3
    local binary="$PWD/$fuzz_build_dir/tests/fuzz/fuzz_$target"
    local run_id
    run_id="$(date -u +%Y%m%d-%H%M%S)"
    local artifacts="$work/findings-$run_id" log="$work/run-$run_id.log"
    mkdir -p "$work/corpus" "$artifacts" "$work/tmp"
    rm -rf "$work/tmp"/*
    local flags=(
        -max_total_time="$seconds"
        -max_len="$(fuzz_max_len "$target")"
        -timeout=30
        -rss_limit_mb=2048
        -artifact_prefix="$artifacts/"
        -print_final_stats=1
    )
    if [ -f "tests/fuzz/$target.dict" ]; then
        flags+=(-dict="tests/fuzz/$target.dict")
    fi
    echo "fuzz: $target for ${seconds}s; new inputs in $work/corpus, log in $log"
    local rc
    set +e
    # The first corpus directory receives new inputs; the checked-in seeds are only read.
    TMPDIR="$work/tmp" \
    ASAN_OPTIONS="detect_leaks=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
        "$binary" "${flags[@]}" "$@" "$work/corpus" "tests/fuzz/corpus/$target" >"$log" 2>&1
    rc=$?
    set -e
    rm -rf "$work/tmp"
    local findings=("$artifacts"/*)
    if [ "$rc" -ne 0 ] || [ -e "${findings[0]}" ]; then
        tail -40 "$log" >&2
        echo "fuzz: $target FAILED (exit $rc); the input that triggers it:" >&2
        for f in "${findings[@]}"; do
            [ -e "$f" ] && echo "  $f" >&2
        done
        echo "  reproduce: $binary <input>" >&2
        return 1
    fi
    rmdir "$artifacts"
    grep -a -E "^stat::|DONE" "$log" | tail -6
    local found seeds
    found=$(find "$work/corpus" -type f | wc -l)
    seeds=$(find "tests/fuzz/corpus/$target" -type f | wc -l)
    echo "fuzz: $target clean: ${seconds}s, corpus $found found + $seeds checked-in inputs"
}
