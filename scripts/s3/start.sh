#!/usr/bin/env bash
# Starts a throw-away single-node Ceph cluster with an S3 endpoint for tests and benchmarks: one
# monitor, one OSD keeping its objects in RAM (memstore), and a RADOS Gateway on 127.0.0.1.
#   scripts/s3/start.sh DIR [PORT]
# DIR must not exist or be empty; PORT (default 7480) is the S3 port, PORT+1 the monitor's.
# Every daemon runs in the foreground in its own session; its pid is in DIR/pids/. When the
# gateway answers, DIR/env holds the endpoint and a user's keys as shell assignments:
#   PUFFER_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
# scripts/s3/stop.sh DIR stops the daemons by pid and removes DIR.
# Needs ceph-mon, ceph-osd, radosgw and ceph-common (scripts/setup.sh installs them).
set -euo pipefail

dir="${1:?usage: scripts/s3/start.sh DIR [PORT]}"
port="${2:-7480}"
mon_port=$((port + 1))

for p in "$port" "$mon_port"; do
    # radosgw detaches from its port's failure: it only shows in its log. Check first.
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        echo "s3/start: port $p is in use" >&2
        exit 1
    fi
done

mkdir -p "$dir"
if [ -n "$(ls -A "$dir")" ]; then
    echo "s3/start: $dir is not empty" >&2
    exit 1
fi
dir="$(cd "$dir" && pwd)"
mkdir -p "$dir"/{mon,osd,rgw,run,log,pids}
fsid="$(cat /proc/sys/kernel/random/uuid)"
conf="$dir/ceph.conf"

cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
# radosgw asks for "secure" mode, which needs authentication; allow crc.
ms mon client mode = crc secure
ms bind msgr1 = false
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
# One OSD: pools of one replica, few placement groups.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
# Map changes in tens of milliseconds, not a second each.
paxos propose interval = 0.05
paxos min wait = 0.01
mon data = $dir/mon/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = 8589934592
osd max object size = 1073741824
mon osd full ratio = 0.99
mon osd nearfull ratio = 0.98
osd failsafe full ratio = 0.995
# Deleted objects' bytes are collected a minute later.
rgw gc obj min wait = 60
rgw gc processor period = 60

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw data = $dir/rgw
CONF
: >"$dir/keyring"

log() { echo "s3/start: $*" >&2; }
fail() {
    log "$1; logs in $dir/log"
    tail -n 20 "$dir"/log/*.log >&2 2>/dev/null || true
    bash "$(dirname "$0")/stop.sh" --keep "$dir" || true
    exit 1
}
# Runs a daemon in the foreground in its own session; its pid goes to DIR/pids/NAME.
spawn() {
    local name="$1"
    shift
    setsid "$@" </dev/null >>"$dir/log/$name.out" 2>&1 &
    echo $! >"$dir/pids/$name"
}
ceph_cli() { timeout 30 ceph -c "$conf" "$@"; }

monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" >/dev/null 2>>"$dir/log/mkfs.out" || fail "monitor mkfs failed"
spawn mon ceph-mon -c "$conf" -i a -f

osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
osd_id="$(ceph_cli osd new "$osd_uuid" 2>>"$dir/log/mkfs.out")" || fail "the monitor did not answer"
mkdir -p "$dir/osd/ceph-$osd_id"
ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>>"$dir/log/mkfs.out" || fail "OSD mkfs failed"
spawn osd ceph-osd -c "$conf" -i "$osd_id" -f
spawn rgw radosgw -c "$conf" -n client.rgw.a -f

# The gateway creates its pools at first start; it answers an anonymous GET / when it is ready.
ready=0
for _ in $(seq 1 600); do
    if curl -s -m 2 "http://127.0.0.1:$port/" 2>/dev/null | grep -q ListAllMyBucketsResult; then
        ready=1
        break
    fi
    sleep 0.1
done
[ "$ready" = 1 ] || fail "the gateway did not answer on 127.0.0.1:$port within 60 s"

access_key="puffer-test"
secret_key="puffer-test-secret-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
timeout 30 radosgw-admin -c "$conf" user create --uid=puffer --display-name=puffer \
    --access-key="$access_key" --secret-key="$secret_key" >/dev/null 2>>"$dir/log/mkfs.out" ||
    fail "creating the S3 user failed"

cat >"$dir/env" <<ENV
PUFFER_S3_ENDPOINT=http://127.0.0.1:$port
AWS_ACCESS_KEY_ID=$access_key
AWS_SECRET_ACCESS_KEY=$secret_key
AWS_REGION=default
ENV
log "S3 endpoint http://127.0.0.1:$port ready ($dir/env)"
