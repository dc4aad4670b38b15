#!/usr/bin/env bash
# Filtered search on real data (../shared/data/make_filtered.py's set: SIFT vectors with their
# provenance and keypoint attributes as payloads, filters from 50% to 0.05% and exact filtered
# ground truth). Loads the set through HTTP with default options (puffer-cli import of JSON
# lines), waits until it is fully indexed and compactions are done, then, one query per call on
# one connection: the unfiltered baseline, then every filter case (filters.json) and per-query
# case (filters_per_query.json), each at the default budget and at --recall-target. Writes the
# answers as JSON lines for eval_filtered.py and scores them with it.
#   perf/filtered.sh --data /tmp/filtered [--build build] [--port 8098] [--repeat 3]
#                    [--recall-target 0.95] [--out /tmp/puffer-filtered]
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
port=8098
repeat=3
target=0.95
data=
out=/tmp/puffer-filtered
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --repeat) repeat="$2"; shift 2 ;;
        --recall-target) target="$2"; shift 2 ;;
        --data) data="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "usage: perf/filtered.sh --data DIR [--build DIR] [--port P] [--repeat N] [--recall-target R] [--out DIR]" >&2
           exit 2 ;;
    esac
done
[ -n "$data" ] && [ -f "$data/filters.json" ] || { echo "perf/filtered.sh: --data must hold make_filtered.py's output" >&2; exit 2; }
mkdir -p "$out"
rm -rf "$out/data" "$out/port" "$out"/results_*.jsonl
python3 - "$data" "$out/points.jsonl" <<'EOF'
import json, struct, sys
d, dest = sys.argv[1], sys.argv[2]
with open(f"{d}/sift_base.fvecs", "rb") as f, open(f"{d}/base_attrs.jsonl") as attrs, open(dest, "w") as out:
    for i, line in enumerate(attrs):
        (dim,) = struct.unpack("<i", f.read(4))
        v = struct.unpack(f"<{dim}f", f.read(4 * dim))
        out.write('{"id":"%d","vector":[%s],"payload":%s}\n' % (i, ",".join("%g" % x for x in v), line.strip()))
EOF
"$build/apps/puffer-server" --data-dir "$out/data" --bind-addr "127.0.0.1:$port" --log-level info \
    --port-file "$out/port" > "$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
    [ -s "$out/port" ] && break
    sleep 0.05
done
export PUFFER_SERVER="http://127.0.0.1:$port"
cli="$build/apps/puffer-cli"
"$cli" create-collection --name filtered --dimension 128
"$cli" import --collection filtered --file "$out/points.jsonl"
while :; do
    stats=$("$cli" stats --collection filtered)
    if echo "$stats" | grep -q '"staging_vectors": 0' && echo "$stats" | grep -q '"compacting": false' &&
        echo "$stats" | grep -q '"flushing": false'; then
        break
    fi
    sleep 0.5
done
echo "$stats" | grep -E '"(points|segments|clusters)"'
grep -E "flushed|compaction" "$out/server.log" | sed 's/^[^ ]* //' || true
q="$data/sift_query.fvecs"
# Warm the cluster cache, so every run below reads from memory.
"$cli" bench --collection filtered --queries "$q" --groundtruth "$data/sift_gt.ivecs" --nprobe 100000 > /dev/null
run() {  # label, results file, then bench options
    local label="$1" file="$2"
    shift 2
    printf '%-34s ' "$label"
    "$cli" bench --collection filtered --queries "$q" --repeat "$repeat" --results "$file" "$@" |
        sed -n 's/^recall@10 \([0-9.]*\).*/recall \1/p; s/^filter .*: \([0-9]*\) of \([0-9]*\) answers exhaustive/exhaustive \1\/\2/p; s/.* s: \([0-9,]*\) QPS; latency p50 \([0-9.]*\) ms.*/\1 QPS p50 \2 ms/p' |
        paste -sd ' '
}
cases=$(python3 -c "import json,sys; print(' '.join(c['name'] for c in json.load(open(sys.argv[1]))))" "$data/filters.json")
per_query=$(python3 -c "import json,sys; print(' '.join(c['name'] for c in json.load(open(sys.argv[1]))))" "$data/filters_per_query.json" 2>/dev/null || true)
for mode in default target; do
    opts=()
    [ "$mode" = target ] && opts=(--recall-target "$target")
    echo "== $mode budget ${opts[*]:-}"
    file="$out/results_$mode.jsonl"
    run "_unfiltered" "$file" --groundtruth "$data/sift_gt.ivecs" "${opts[@]}"
    for c in $cases; do
        run "$c" "$file" --groundtruth "$data/gt_$c.ivecs" --filters "$data/filters.json" --case "$c" "${opts[@]}"
    done
    for c in $per_query; do
        run "$c (per query)" "$file" --groundtruth "$data/gt_$c.ivecs" --filters "$data/filters_per_query.json" --case "$c" "${opts[@]}"
    done
done
if [ -f "$(dirname "$0")/../../shared/data/eval_filtered.py" ]; then
    for mode in default target; do
        echo "== eval_filtered.py, $mode budget"
        /usr/bin/python3 "$(dirname "$0")/../../shared/data/eval_filtered.py" "$data" "$out/results_$mode.jsonl" || true
    done
fi
