#!/usr/bin/python3
"""Snapshots under a write load: how long POST .../snapshots takes on a large collection, and
what it does to the latency of the writes that go on meanwhile.

Against a running server holding COLLECTION (load it first: puffer-cli import). Runs the same
write load (WRITERS threads, each upserting BATCH vectors per request RATE times a second, new
ids, vectors taken from the base file) twice for SECONDS each, alternating: once alone (baseline), once while a
snapshot is taken every INTERVAL seconds (each deleted after it is made, so the disk does not
fill). Prints every snapshot call's duration and the p50/p99 upsert latency of both phases.

  /usr/bin/python3 perf/snapshot_load.py --server http://127.0.0.1:8080 --collection sift \
      --base /tmp/sift1m/sift_base.fvecs --rounds 3
"""
import argparse, json, statistics, struct, sys, threading, time, urllib.error, urllib.request


def read_fvecs(path, limit):
    out = []
    with open(path, "rb") as f:
        while len(out) < limit:
            head = f.read(4)
            if len(head) < 4:
                break
            (d,) = struct.unpack("<i", head)
            out.append(list(struct.unpack("<%df" % d, f.read(4 * d))))
    return out


def call(server, method, path, body=None, timeout=120):
    data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
    req = urllib.request.Request(server + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def write_phase(a, vectors, start_id, snapshots):
    latencies = []
    busy = [0]
    lock = threading.Lock()
    stop = time.monotonic() + a.seconds
    next_id = [start_id]

    def writer():
        # Paced: one batch every 1/rate s (a load the server keeps up with, so that latency is
        # measured, not a queue); a 503 is waited out as its Retry-After says and counts in the
        # latency of that upsert.
        slot = time.monotonic()
        while time.monotonic() < stop:
            with lock:
                first = next_id[0]
                next_id[0] += a.batch
            points = [{"id": "w%d" % i, "vector": vectors[i % len(vectors)]} for i in range(first, first + a.batch)]
            t = time.monotonic()
            while True:
                try:
                    call(a.server, "POST", "/v1/collections/%s/points" % a.collection, {"points": points})
                    break
                except urllib.error.HTTPError as e:
                    if e.code != 503:
                        raise
                    busy[0] += 1
                    time.sleep(float(e.headers.get("Retry-After", "1")))
            with lock:
                latencies.append((time.monotonic() - t) * 1000)
            slot += 1.0 / a.rate
            time.sleep(max(0.0, slot - time.monotonic()))

    def snapshotter(durations):
        time.sleep(a.interval / 2)
        while time.monotonic() < stop - 1:
            t = time.monotonic()
            made = call(a.server, "POST", "/v1/collections/%s/snapshots" % a.collection)
            durations.append(((time.monotonic() - t) * 1000, made["points"], made["files"]))
            call(a.server, "DELETE", "/v1/collections/%s/snapshots/%s" % (a.collection, made["id"]))
            time.sleep(a.interval)

    durations = []
    threads = [threading.Thread(target=writer) for _ in range(a.writers)]
    if snapshots:
        threads.append(threading.Thread(target=snapshotter, args=(durations,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if busy[0]:
        print("  (%d upserts answered 503 busy and were sent again)" % busy[0])
    return latencies, durations, next_id[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="http://127.0.0.1:8080")
    p.add_argument("--collection", default="sift")
    p.add_argument("--base", required=True, help="an .fvecs file of the collection's dimension")
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--rate", type=float, default=10, help="batches per second per writer")
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--interval", type=float, default=2, help="seconds between snapshots")
    p.add_argument("--rounds", type=int, default=3, help="baseline and snapshot phases, alternating")
    a = p.parse_args()
    vectors = read_fvecs(a.base, 20000)
    info = call(a.server, "GET", "/v1/collections/%s/stats" % a.collection)
    print("collection %s: %s points" % (a.collection, info.get("points", info.get("info", {}).get("points"))))
    next_id = 0
    base_p99, snap_p99, base_p50, snap_p50, calls = [], [], [], [], []
    for r in range(a.rounds):
        lat, _, next_id = write_phase(a, vectors, next_id, False)
        base_p50.append(pct(lat, 50))
        base_p99.append(pct(lat, 99))
        print("round %d baseline: %d upserts, p50 %.1f ms, p99 %.1f ms" % (r, len(lat), base_p50[-1], base_p99[-1]))
        lat, durations, next_id = write_phase(a, vectors, next_id, True)
        snap_p50.append(pct(lat, 50))
        snap_p99.append(pct(lat, 99))
        calls += [d[0] for d in durations]
        print("round %d snapshots: %d upserts, p50 %.1f ms, p99 %.1f ms; snapshot calls %s" % (
            r, len(lat), snap_p50[-1], snap_p99[-1],
            ", ".join("%.0f ms (%d points, %d files)" % d for d in durations)))
    print("snapshot call: median %.0f ms, max %.0f ms over %d calls" % (statistics.median(calls), max(calls), len(calls)))
    print("upsert p99: baseline median %.1f ms, with snapshots median %.1f ms: ratio %.2f" % (
        statistics.median(base_p99), statistics.median(snap_p99),
        statistics.median(snap_p99) / statistics.median(base_p99)))
    print("upsert p50: baseline median %.1f ms, with snapshots median %.1f ms" % (
        statistics.median(base_p50), statistics.median(snap_p50)))


if __name__ == "__main__":
    sys.exit(main())
