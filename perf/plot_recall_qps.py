#!/usr/bin/python3
"""Draws recall@10 against QPS (log scale), one line per system, one picture per set, from the
TSV that perf/recall_qps.sh writes (set, system, parameter, recall@10, QPS): up and to the right
is better. Needs Debian's python3-matplotlib.
Usage: plot_recall_qps.py results.tsv --out docs/img [--min-recall 0.8]"""
import argparse, collections, os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("tsv"); ap.add_argument("--out", default="docs/img")
ap.add_argument("--min-recall", type=float, default=0.8)
a = ap.parse_args()

points = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(a.tsv):
    fields = line.rstrip("\n").split("\t")
    if len(fields) != 5 or line.startswith("#"):
        continue
    data, system, _, recall, qps = fields
    points[data][system].append((float(recall), float(qps)))

titles = {"sift": "SIFT 200k (128-d, l2)", "words": "word vectors 245k (100-d, cosine)"}
os.makedirs(a.out, exist_ok=True)
for data, systems in sorted(points.items()):
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for system, pts in sorted(systems.items()):
        pts = sorted(p for p in pts if p[0] >= a.min_recall)
        if not pts:
            continue
        ours = system.startswith("openpuffer")
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if ours else ".",
                linestyle="-" if ours else "--", linewidth=2 if ours else 1.2, markersize=5, label=system)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second (one query per call, one thread; log)")
    ax.set_title(titles.get(data, data))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(a.out, f"recall-qps-{data}.png")
    fig.savefig(path, dpi=110)
    print(path)
