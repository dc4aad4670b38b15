#!/usr/bin/env bash
# Sets up dependencies, builds (Release) and runs puffer-server with its data in ./data on
# 127.0.0.1:8080. Extra arguments go to puffer-server (for example: --cache-mb 4096).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target puffer-server puffer-cli
exec build/apps/puffer-server --data-dir ./data --bind-addr 127.0.0.1:8080 "$@"
