#!/usr/bin/env bash
# Sets up dependencies, builds (Release) and runs puffer-server with its data in ./data on
# 127.0.0.1:8080. Extra arguments go to puffer-server (for example: --cache-mb 4096).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target puffer-server puffer-cli
# The defaults give way to the same options among the extra arguments (the server refuses an
# option given twice).
defaults=()
has() {
    local flag=$1
    shift
    for a in "$@"; do
        [ "$a" = "$flag" ] || [ "${a%%=*}" = "$flag" ] && return 0
    done
    return 1
}
has --data-dir "$@" || defaults+=(--data-dir ./data)
has --bind-addr "$@" || defaults+=(--bind-addr 127.0.0.1:8080)
exec build/apps/puffer-server "${defaults[@]}" "$@"
