#!/usr/bin/env bash
# The seed's quick start, exactly as written, against a fresh server with default options:
# create-collection, load-random 100,000 x 768, then at once search-random 100 queries. Then
# how long until the collection is fully indexed (no row waits in staging), and search-random
# again. Prints each step's own report.
#   perf/quickstart.sh [--build build] [--port 8097]
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
port=8097
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        *) echo "usage: perf/quickstart.sh [--build DIR] [--port P]" >&2; exit 2 ;;
    esac
done
data=$(mktemp -d /tmp/puffer-quickstart-XXXXXX)
"$build/apps/puffer-server" --data-dir "$data/data" --bind-addr "127.0.0.1:$port" --log-level "${PUFFER_QUICKSTART_LOG:-warn}" \
    --port-file "$data/port" > "$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; [ -n "${PUFFER_QUICKSTART_KEEP_LOG:-}" ] && cp "$data/server.log" "$PUFFER_QUICKSTART_KEEP_LOG"; rm -rf "$data"' EXIT
for _ in $(seq 1 200); do
    [ -s "$data/port" ] && break
    sleep 0.05
done
export PUFFER_SERVER="http://127.0.0.1:$port"
cli="$build/apps/puffer-cli"
"$cli" create-collection --name my_vectors --dimension 768 --metric cosine
"$cli" load-random --collection my_vectors --count 100000 --dimension 768
loaded=$(date +%s.%N)
echo "search-random right after the load:"
"$cli" search-random --collection my_vectors --dimension 768 --num-queries 100
while :; do
    staging=$("$cli" stats --collection my_vectors | sed -n 's/.*"staging_vectors": \([0-9]*\).*/\1/p')
    if [ "$staging" = "0" ]; then
        break
    fi
    sleep 0.2
done
echo "fully indexed $(echo "$(date +%s.%N) - $loaded" | bc) s after the load ended"
"$cli" stats --collection my_vectors | grep -E '"segments"|"centroid_tables"|"clusters"|"retrains"|"compacting"'
echo "search-random once indexed:"
"$cli" search-random --collection my_vectors --dimension 768 --num-queries 100
