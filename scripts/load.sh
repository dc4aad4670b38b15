#!/usr/bin/env bash
# Drives a mixed load (85% searches, 14% upserts, 1% flushes) at 64 connections against a local
# puffer-server for a bounded time with wrk, and reports requests/s, p50/p99 latency, statuses
# and socket errors, plus the server's RSS over the run (sampled each second) against
# --cache-mb. Fails on any 5xx, any socket error, or RSS growth past the documented bound.
#
#   scripts/load.sh [--seconds 30] [--connections 64] [--cache-mb 256] [--collections N]
#
# --collections N also creates N extra empty collections first (the 10,000-collection check)
# and restarts the server once to time recovery. Builds into $PUFFER_BUILD_DIR (default build/).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${PUFFER_BUILD_DIR:-build}"
seconds=30
connections=64
cache_mb=256
collections=0
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --cache-mb) cache_mb="$2"; shift 2 ;;
        --collections) collections="$2"; shift 2 ;;
        *) echo "usage: $0 [--seconds S] [--connections C] [--cache-mb M] [--collections N]" >&2; exit 2 ;;
    esac
done
command -v wrk >/dev/null || bash scripts/setup.sh
if [ ! -x "$build/apps/puffer-server" ] || [ ! -x "$build/apps/puffer-cli" ]; then
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" --target puffer-server puffer-cli
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/puffer-load-XXXXXX")
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

start_server() {
    rm -f "$work/port"
    "$build/apps/puffer-server" --data-dir "$work/data" --bind-addr 127.0.0.1:0 --port-file "$work/port" \
        --log-level warn --cache-mb "$cache_mb" --flush-threshold 5000 >>"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 3000); do [ -s "$work/port" ] && break; sleep 0.01; done
    port=$(cat "$work/port")
    export PUFFER_SERVER="http://127.0.0.1:$port"
}

start_server
cli="$build/apps/puffer-cli"
"$cli" create-collection --name load --dimension 128 >/dev/null
"$cli" import --collection load --file tests/data/sift20k/sift_base.fvecs >/dev/null
"$cli" flush --collection load >/dev/null

if [ "$collections" -gt 0 ]; then
    start=$(date +%s.%N)
    seq 1 "$collections" | xargs -P 8 -I{} sh -c "$cli create-collection --name extra{} --dimension 16 >/dev/null"
    made=$(date +%s.%N)
    count=$("$cli" list-collections | tail -n +2 | wc -l)
    kill "$server_pid"; wait "$server_pid" || true
    restart=$(date +%s.%N)
    start_server
    ready=$(date +%s.%N)
    count_after=$("$cli" list-collections | tail -n +2 | wc -l)
    printf 'collections: created %s in %.1f s; %s listed; restart with %s collections ready in %.2f s\n' \
        "$collections" "$(echo "$made - $start" | bc)" "$count" "$count_after" "$(echo "$ready - $restart" | bc)"
    [ "$count_after" -ge $((collections + 1)) ] || { echo "load.sh: collections lost across the restart" >&2; exit 1; }
fi

rss_log="$work/rss"
( while kill -0 "$server_pid" 2>/dev/null; do
      awk '/VmRSS/ {print $2}' "/proc/$server_pid/status" 2>/dev/null >>"$rss_log"; sleep 1
  done ) &
sampler=$!
result=$(wrk -t2 -c"$connections" -d"${seconds}s" --timeout 10s --latency -s scripts/load/mixed.lua "$PUFFER_SERVER" | grep '^load:')
kill "$sampler" 2>/dev/null || true
echo "$result"
rss_first=$(head -n 3 "$rss_log" | tail -n 1)
rss_max=$(sort -n "$rss_log" | tail -n 1)
rss_last=$(tail -n 1 "$rss_log")
# Documented bound (docs/operations.md): cache + 512 MiB for staging, ids, buffers and threads.
bound_kb=$(( (cache_mb + 512) * 1024 ))
printf 'rss: %d MiB after warm-up, %d MiB max, %d MiB at the end; bound %d MiB (cache %d MiB + 512 MiB)\n' \
    $((rss_first / 1024)) $((rss_max / 1024)) $((rss_last / 1024)) $((bound_kb / 1024)) "$cache_mb"
status=0
echo "$result" | grep -q '5xx' && { echo "load.sh: server errors under load" >&2; status=1; }
echo "$result" | grep -q 'connect 0 read 0 write 0 timeout 0' || { echo "load.sh: dropped connections" >&2; status=1; }
[ "$rss_max" -le "$bound_kb" ] || { echo "load.sh: RSS above the bound" >&2; status=1; }
exit $status
