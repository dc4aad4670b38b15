#!/usr/bin/env bash
# Installs every build and test dependency of OpenPuffer from Debian 12's packages, then the npm
# packages of the TypeScript client (clients/js) and of the console's browser test (tests/browser),
# each from its package-lock.json.
# Idempotent: packages already present are not downloaded again. Works as root or via sudo.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
    build-essential cmake ninja-build ccache pkg-config git
    libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev libboost-test1.81-dev
    liburing-dev libbenchmark-dev libssl-dev openssl libcurl4-openssl-dev
    ceph-mon ceph-osd radosgw ceph-common
    clang-14 libclang-rt-14-dev
    curl python3 python3-yaml python3-numpy fio wrk iproute2 prometheus
    nodejs npm chromium
)

missing=()
for p in "${packages[@]}"; do
    # A nodejs from elsewhere (NodeSource's) ships npm itself and conflicts with Debian's npm.
    if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then
        continue
    fi
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#packages[@]} packages present"
else
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo_cmd=(sudo)
        else
            echo "setup: need root or sudo to install: ${missing[*]}" >&2
            exit 1
        fi
    fi

    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The TypeScript client's build and test tools (typescript, openapi-typescript, @langchain/core),
# exactly as package-lock.json names them; npm's cache keeps them from being downloaded again.
echo "setup: npm ci in clients/js"
(cd "$root/clients/js" && npm ci --no-audit --no-fund --loglevel=error)
# The web console's browser test: playwright-core only, which drives Debian's chromium (above);
# it downloads no browser of its own.
echo "setup: npm ci in tests/browser"
(cd "$root/tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
echo "setup: done"
