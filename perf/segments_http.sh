#!/usr/bin/env bash
# A collection loaded the normal way against the same data built as one segment, over HTTP:
# SIFT (or any .fvecs set with ground truth) imported with `puffer-cli import` into a server
# with default options (automatic and idle flushes, compactions: several segments), and into a
# server that holds everything in staging until one flush (--flush-threshold past the set's
# size, no idle flush). Each is searched with `puffer-cli bench` at every nprobe given, one
# query per call, once the collection has settled. Prints each bench report.
#   perf/segments_http.sh --dir /tmp/realdata [--prefix sift] [--nprobe 32,40,48]
#                         [--concurrency 8] [--repeat 3] [--build build] [--port 8098]
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
port=8098
dir=/tmp/realdata
prefix=sift
nprobes=32,40,48
concurrency=8
repeat=3
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --dir) dir="$2"; shift 2 ;;
        --prefix) prefix="$2"; shift 2 ;;
        --nprobe) nprobes="$2"; shift 2 ;;
        --concurrency) concurrency="$2"; shift 2 ;;
        --repeat) repeat="$2"; shift 2 ;;
        *) echo "usage: perf/segments_http.sh [--dir D] [--prefix P] [--nprobe L] [--concurrency C] [--repeat R]" >&2
           exit 2 ;;
    esac
done
cli="$build/apps/puffer-cli"
export PUFFER_SERVER="http://127.0.0.1:$port"
work=$(mktemp -d /tmp/puffer-segments-XXXXXX)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

stat_of() {  # stat_of FIELD: one number from the collection's stats
    "$cli" stats --collection bench | sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" | head -1
}

run_case() {  # run_case LABEL SERVER-FLAGS...
    local label="$1"
    shift
    rm -rf "$work/data" "$work/port"
    "$build/apps/puffer-server" --data-dir "$work/data" --bind-addr "127.0.0.1:$port" --log-level warn \
        --port-file "$work/port" "$@" > "$work/$label.log" 2>&1 &
    server=$!
    for _ in $(seq 1 200); do
        [ -s "$work/port" ] && break
        sleep 0.05
    done
    "$cli" create-collection --name bench --dimension "$(od -An -t d4 -N4 "$dir/${prefix}_base.fvecs" | tr -d ' ')" >/dev/null
    local started=$SECONDS
    "$cli" import --collection bench --file "$dir/${prefix}_base.fvecs"
    [ "$label" = one-segment ] && "$cli" flush --collection bench >/dev/null
    # Settled: nothing in staging, no flush or compaction running.
    while [ "$(stat_of staging_vectors)" != 0 ] || "$cli" stats --collection bench | grep -qE '"(flushing|compacting)": true'; do
        sleep 0.5
    done
    echo "== $label: settled $((SECONDS - started)) s after the import began; segments $(stat_of segments)," \
        "centroid tables $(stat_of centroid_tables), flushes $(stat_of flushes), compactions $(stat_of compactions)"
    IFS=, read -ra list <<< "$nprobes"
    for np in "${list[@]}"; do
        "$cli" bench --collection bench --queries "$dir/${prefix}_query.fvecs" --groundtruth "$dir/${prefix}_gt.ivecs" \
            --nprobe "$np" --concurrency "$concurrency" --repeat 1 >/dev/null  # warm the cache
        "$cli" bench --collection bench --queries "$dir/${prefix}_query.fvecs" --groundtruth "$dir/${prefix}_gt.ivecs" \
            --nprobe "$np" --concurrency "$concurrency" --repeat "$repeat"
    done
    kill "$server"
    wait "$server" || true
    server=
}

rows=$(( $(stat -c %s "$dir/${prefix}_base.fvecs") / (4 + 4 * $(od -An -t d4 -N4 "$dir/${prefix}_base.fvecs" | tr -d ' ')) ))
run_case default
run_case one-segment --flush-threshold $((rows + 1)) --staging-max-vectors $((rows + 1)) --idle-flush-ms 0
