#!/usr/bin/env bash
# Runs one libFuzzer target (docs/fuzzing.md) for a while:
#   scripts/fuzz.sh TARGET SECONDS [-- extra libFuzzer flags]
# TARGET is http_request, segment_reader, wal_replay or manifest. Builds build-fuzz/ (clang 14,
# ASan + UBSan + libFuzzer), then fuzzes starting from the checked-in seeds
# (tests/fuzz/corpus/TARGET, read only) plus the inputs earlier runs found, which live outside the
# repository in $PUFFER_FUZZ_DIR/TARGET (default /tmp/puffer-fuzz/TARGET). Exits non-zero on a
# finding and prints the path of the input that triggers it. Run it at low priority on a shared
# machine: nice -n 19 scripts/fuzz.sh wal_replay 600
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(http_request segment_reader wal_replay manifest)
usage="usage: scripts/fuzz.sh TARGET SECONDS [-- libFuzzer flags]; TARGET: ${targets[*]}"
if [ $# -lt 2 ]; then
    echo "$usage" >&2
    exit 2
fi
target="$1"
seconds="$2"
shift 2
if [ "${1:-}" = "--" ]; then
    shift
fi
if [[ ! " ${targets[*]} " =~ " ${target} " ]]; then
    echo "$usage" >&2
    exit 2
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "scripts/fuzz.sh: SECONDS must be a positive integer" >&2
    exit 2
fi

bash scripts/setup.sh

build_dir="build-fuzz"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPUFFER_BUILD_FUZZERS=ON -DPUFFER_BUILD_TESTS=OFF -DPUFFER_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build_dir" --target "fuzz_$target" -j "$(nproc)"
binary="$PWD/$build_dir/tests/fuzz/fuzz_$target"

# Largest input per target: a few segments' worth of pages, a few dozen WAL records, bodies of a
# few hundred points.
case "$target" in
    http_request) max_len=16384 ;;
    segment_reader) max_len=32768 ;;
    wal_replay) max_len=8192 ;;
    manifest) max_len=4096 ;;
esac

work="${PUFFER_FUZZ_DIR:-/tmp/puffer-fuzz}/$target"
run_id="$(date -u +%Y%m%d-%H%M%S)"
artifacts="$work/findings-$run_id"
mkdir -p "$work/corpus" "$artifacts" "$work/tmp"
rm -rf "$work/tmp"/*
log="$work/run-$run_id.log"

flags=(
    -max_total_time="$seconds"
    -max_len="$max_len"
    -timeout=30
    -rss_limit_mb=2048
    -artifact_prefix="$artifacts/"
    -print_final_stats=1
)
if [ -f "tests/fuzz/$target.dict" ]; then
    flags+=(-dict="tests/fuzz/$target.dict")
fi

echo "fuzz: $target for ${seconds}s; new inputs in $work/corpus, log in $log"
set +e
# The first corpus directory receives new inputs; the checked-in seeds are only read.
TMPDIR="$work/tmp" \
ASAN_OPTIONS="detect_leaks=1" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$binary" "${flags[@]}" "$@" "$work/corpus" "tests/fuzz/corpus/$target" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
rm -rf "$work/tmp"

findings=("$artifacts"/*)
if [ "$rc" -ne 0 ] || [ -e "${findings[0]}" ]; then
    echo "fuzz: $target FAILED (exit $rc); the input that triggers it:" >&2
    for f in "${findings[@]}"; do
        [ -e "$f" ] && echo "  $f" >&2
    done
    echo "  reproduce: $binary <input>" >&2
    exit 1
fi
rmdir "$artifacts"
grep -a -E "^stat::|DONE" "$log" | tail -6
found=$(find "$work/corpus" -type f | wc -l)
seeds=$(find "tests/fuzz/corpus/$target" -type f | wc -l)
echo "fuzz: $target clean: ${seconds}s, corpus $found found + $seeds checked-in inputs"
