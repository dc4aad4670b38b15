#!/usr/bin/python3
"""FAISS IndexIVFScalarQuantizer (8-bit codes, QT_8bit) recall@10 vs QPS on .fvecs/.ivecs data:
the peer of a collection created with "quantization": "sq8".
Install: apt-get install -y python3-faiss python3-numpy libopenblas0-openmp   (run with /usr/bin/python3)
Usage:   peer_faiss_sq8.py --dir D [--prefix sift] [--nlist N] [--nprobe 1,2,4,...] [--peers DIR]
Prints the same columns as the peer benchmarks (common.py in --peers): nprobe, recall@10,
'QPS 1q/1t' (one query per call, one thread), p50/p99 ms, batch QPS."""
import argparse, math, os, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True); ap.add_argument("--prefix", default="sift")
ap.add_argument("--nlist", type=int, default=0, help="default 4*sqrt(N)")
ap.add_argument("--nprobe", default="1,2,4,8,16,32,64"); ap.add_argument("--k", type=int, default=10)
ap.add_argument("--peers", default=os.environ.get("PUFFER_PEERS", ""))
a = ap.parse_args()
if a.peers:
    sys.path.insert(0, a.peers)
import faiss  # noqa: E402
from common import read_fvecs, read_ivecs, recall_at, per_query, batched, header, row  # noqa: E402

X = read_fvecs(f"{a.dir}/{a.prefix}_base.fvecs"); Q = read_fvecs(f"{a.dir}/{a.prefix}_query.fvecs")
GT = read_ivecs(f"{a.dir}/{a.prefix}_gt.ivecs")
n, d = X.shape; nlist = a.nlist or int(4 * math.sqrt(n))
print(f"base {n}x{d}, queries {len(Q)}, nlist {nlist}, faiss {faiss.__version__}, IVF-SQ8")
faiss.omp_set_num_threads(2)
t = time.perf_counter()
index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatL2(d), d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2)
index.train(X)
index.add(X)
print(f"build (2 threads): {time.perf_counter() - t:.1f}s")

def search(ix):
    return lambda q: ix.search(q, a.k)[1]

header("nprobe")
for p in map(int, a.nprobe.split(",")):
    index.nprobe = p
    faiss.omp_set_num_threads(1)
    I, lat = per_query(search(index), Q)
    _, q1 = batched(search(index), Q)
    faiss.omp_set_num_threads(2)
    _, q2 = batched(search(index), Q)
    row(p, recall_at(I, GT, 10), lat, q1, q2)
