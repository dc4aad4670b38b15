#!/usr/bin/env bash
# Runs one libFuzzer target (docs/fuzzing.md) for a while:
#   scripts/fuzz.sh TARGET SECONDS [-- extra libFuzzer flags]
# TARGET is http_request, segment_reader, wal_replay or manifest. Builds build-fuzz/ (clang 14,
# ASan + UBSan + libFuzzer), then fuzzes starting from the checked-in seeds
# (tests/fuzz/corpus/TARGET, read only) plus the inputs earlier runs found, which live outside the
# repository in $PUFFER_FUZZ_DIR/TARGET (default /tmp/puffer-fuzz/TARGET). Exits non-zero on a
# finding and prints the path of the input that triggers it. Run it at low priority on a shared
# machine: nice -n 19 scripts/fuzz.sh wal_replay 600. The build and the run are in
# scripts/fuzz_common.sh, which the fuzz pass of scripts/test.sh shares.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/fuzz_common.sh
usage="usage: scripts/fuzz.sh TARGET SECONDS [-- libFuzzer flags]; TARGET: ${fuzz_targets[*]}"
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
if [[ ! " ${fuzz_targets[*]} " =~ " ${target} " ]]; then
    echo "$usage" >&2
    exit 2
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "scripts/fuzz.sh: SECONDS must be a positive integer" >&2
    exit 2
fi

bash scripts/setup.sh
fuzz_build "fuzz_$target"
# Inputs found by earlier runs live outside the repository and accumulate across runs.
fuzz_run "$target" "$seconds" "${PUFFER_FUZZ_DIR:-/tmp/puffer-fuzz}/$target" "$@"
