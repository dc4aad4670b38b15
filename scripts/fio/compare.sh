#!/usr/bin/env bash
# Runs fio and the engine's own read path on the same segment file with the same pattern
# (random 4 KiB-aligned reads with the sizes of the segment's cluster extents, O_DIRECT,
# io_uring, the same queue depth) and prints
# both bandwidths, ending with "engine/fio bandwidth ratio: X.XX".
#
#   scripts/fio/compare.sh [--base B.fvecs] [--queue-depth 32] [--seconds 4] [--rounds 5]
#
# A shared virtual disk's speed drifts by 20 % and more from one run to the next, so the two are
# measured in alternation: each round runs fio and then the engine for --seconds each, and the
# line printed last is the median of the rounds' ratios.
# Builds the segment from --base (default: tests/data/sift20k/sift_base.fvecs) with
# puffer-bench --engine in a temporary directory on the current file system (set TMPDIR to
# measure another device), and removes it afterwards. Binaries come from $PUFFER_BUILD_DIR
# (default build/).
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${PUFFER_BUILD_DIR:-build}"
base="tests/data/sift20k/sift_base.fvecs"
qd=32
seconds=4
rounds=5
while [ $# -gt 0 ]; do
    case "$1" in
        --base) base="$2"; shift 2 ;;
        --queue-depth) qd="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        *) echo "usage: $0 [--base B.fvecs] [--queue-depth N] [--seconds S] [--rounds R]" >&2; exit 2 ;;
    esac
done
for bin in "$build/perf/puffer-bench" "$build/apps/puffer-cli"; do
    [ -x "$bin" ] || { echo "compare.sh: $bin not found (build first, or set PUFFER_BUILD_DIR)" >&2; exit 1; }
done
command -v fio >/dev/null || { echo "compare.sh: fio not installed (bash scripts/setup.sh)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-$PWD}/puffer-fio-XXXXXX")
trap 'rm -rf "$work"' EXIT
dir=$(dirname "$base")
queries="$dir/sift_query.fvecs"
truth="$dir/sift_gt.ivecs"
"$build/perf/puffer-bench" --engine --data-dir "$work/data" --base "$base" --queries "$queries" \
    --groundtruth "$truth" --nprobe 1 --warm-only --json >/dev/null
segment=$(ls "$work"/data/collections/bench/segments/*.seg | head -n 1)

# The segment's vector section and mean aligned cluster extent, from the engine itself.
probe=$("$build/perf/puffer-bench" --read-path "$segment" --queue-depth "$qd" --seconds 1 --json)
extent=$(echo "$probe" | sed -E 's/.*"mean_extent_bytes":([0-9]+).*/\1/')
bssplit=$(echo "$probe" | sed -E 's/.*"bssplit":"([^"]+)".*/\1/')
offset=$("$build/apps/puffer-cli" inspect "$segment" | awk '/^  vectors / {print $4}')
id_table=$("$build/apps/puffer-cli" inspect "$segment" | awk '/^  id table / {print $5}')
size=$(( (id_table - offset) / 4096 * 4096 ))

echo "segment $segment: vector section $size bytes at $offset; cluster extents mean $extent bytes, fio bssplit $bssplit; queue depth $qd"
ratios=()
for round in $(seq 1 "$rounds"); do
    fio_json=$(FILE="$segment" OFFSET="$offset" SIZE="$size" BSSPLIT="$bssplit" QD="$qd" RUNTIME="$seconds" \
        fio --output-format=json scripts/fio/cluster_reads.fio)
    fio_mbs=$(echo "$fio_json" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.1f" % (j["jobs"][0]["read"]["bw_bytes"]/1e6))')
    engine_json=$("$build/perf/puffer-bench" --read-path "$segment" --queue-depth "$qd" --seconds "$seconds" --json)
    engine_mbs=$(echo "$engine_json" | sed -E 's/.*"mb_per_s":([0-9.]+).*/\1/')
    ratio=$(python3 -c "print('%.3f' % ($engine_mbs / $fio_mbs))")
    ratios+=("$ratio")
    echo "round $round: fio $fio_mbs MB/s, engine $engine_mbs MB/s, ratio $ratio"
done
echo "fio:    random reads, cluster-extent size mix, O_DIRECT, io_uring, iodepth $qd"
echo "engine: random cluster extents, O_DIRECT, io_uring, $qd in flight, crc32c verified"
python3 -c "import statistics,sys; print('engine/fio bandwidth ratio: %.2f' % statistics.median(float(x) for x in sys.argv[1:]))" "${ratios[@]}"
