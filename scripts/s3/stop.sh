#!/usr/bin/env bash
# Stops a cluster started by scripts/s3/start.sh, by the pids it kept, and removes its directory.
#   scripts/s3/stop.sh [--keep] DIR     (--keep leaves DIR and its logs in place)
set -euo pipefail

keep=0
if [ "${1:-}" = --keep ]; then
    keep=1
    shift
fi
dir="${1:?usage: scripts/s3/stop.sh [--keep] DIR}"
[ -d "$dir/pids" ] || exit 0

# A killed daemon may linger as a zombie here, so "kill -0" is not proof of life: read the state
# field of /proc/PID/stat.
alive() {
    local state
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# One at a time, clients first: a gateway whose monitor is already gone waits for it to return.
# A pid file left by an earlier run may name a process that is not ours any more: only a
# process of the expected program is signalled.
declare -A program=([rgw]=radosgw [osd]=ceph-osd [mon]=ceph-mon)
for name in rgw osd mon; do
    f="$dir/pids/$name"
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${program[$name]}" ] || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        alive "$pid" || break
        sleep 0.05
    done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
done
rm -f "$dir"/pids/*
[ "$keep" = 1 ] || rm -rf "$dir"
