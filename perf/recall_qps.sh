#!/usr/bin/env bash
# Recall@10 against QPS, side by side in one run: this engine with each quantization (none, sq8,
# rabitq) and the peers (FAISS IVF-Flat and IVF-SQ8, hnswlib, LanceDB IVF_FLAT when installed),
# every one answering one query per call on one thread. Appends rows to a TSV that
# perf/plot_recall_qps.py draws:
#   set <tab> system <tab> parameter <tab> recall@10 <tab> QPS
#
# Usage: perf/recall_qps.sh --dir D --prefix sift|words --out results.tsv [--metric l2|cosine]
#            [--work /tmp/recall-qps] [--peers ../shared/peers] [--only ours|peers]
# The engine's data directories are kept in --work (<prefix>-<quantization>) and reused.
# Peers need: apt-get install -y python3-faiss python3-hnswlib python3-numpy libopenblas0-openmp;
# LanceDB: the npm folder named by PUFFER_LANCEDB_DIR (default /tmp/peers_npm, see
# lancedb_ivf.mjs's header). Word vectors are unit length, so the peers' l2 ranks as cosine.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="" prefix="sift" out="" metric="l2" work="/tmp/recall-qps" peers="${PUFFER_PEERS:-$here/../shared/peers}" only=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --prefix) prefix="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --metric) metric="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --peers) peers="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[[ -n "$dir" && -n "$out" ]] || { echo "usage: $0 --dir D --prefix P --out F.tsv [--metric M]" >&2; exit 2; }
bench="$here/build/perf/puffer-bench"
nprobes="4,8,16,32,48,64,96,128"
mkdir -p "$work"
py=/usr/bin/python3

# Rows of a peer's table (parameter, recall, QPS one query per call) after its header line.
peer_rows() {
    local system="$1"
    awk -v set="$prefix" -v sys="$system" '
        /recall@10/ { table = 1; next }
        table && NF >= 3 && $2 ~ /^[0-9.]+$/ { printf "%s\t%s\t%s\t%s\t%s\n", set, sys, $1, $2, $3 }'
}

if [[ "$only" != peers ]]; then
    for q in none sq8 rabitq; do
        data="$work/$prefix-$q"
        reuse=()
        [[ -d "$data/collections" ]] && reuse=(--reuse)
        "$bench" --engine "${reuse[@]}" --base "$dir/${prefix}_base.fvecs" --queries "$dir/${prefix}_query.fvecs" \
            --groundtruth "$dir/${prefix}_gt.ivecs" --data-dir "$data" --metric "$metric" --quantization "$q" \
            --nprobe "$nprobes" --repeat 3 --warm-only | tee "$work/$prefix-$q.txt" |
            awk -v set="$prefix" -v sys="openpuffer $q" '$1 == "warm" { printf "%s\t%s\t%s\t%s\t%s\n", set, sys, $2, $3, $4 }' >>"$out"
    done
fi
if [[ "$only" != ours ]]; then
    "$py" "$peers/faiss_ivf.py" --dir "$dir" --prefix "$prefix" --nprobe "$nprobes" --flat 0 |
        tee "$work/$prefix-faiss-ivf.txt" | peer_rows "FAISS IVF-Flat" >>"$out"
    "$py" "$here/perf/peer_faiss_sq8.py" --peers "$peers" --dir "$dir" --prefix "$prefix" --nprobe "$nprobes" |
        tee "$work/$prefix-faiss-sq8.txt" | peer_rows "FAISS IVF-SQ8" >>"$out"
    "$py" "$peers/hnsw.py" --dir "$dir" --prefix "$prefix" --ef 10,16,24,32,64,128,256 |
        tee "$work/$prefix-hnswlib.txt" | peer_rows "hnswlib HNSW" >>"$out"
    lance="${PUFFER_LANCEDB_DIR:-/tmp/peers_npm}"
    if [[ -d "$lance/node_modules/@lancedb/lancedb" ]]; then
        (cd "$lance" && node "$peers/lancedb_ivf.mjs" --dir "$dir" --prefix "$prefix" --nprobe "$nprobes" \
            --db "$work/lance-$prefix") | tee "$work/$prefix-lancedb.txt" | peer_rows "LanceDB IVF_FLAT" >>"$out"
    else
        echo "LanceDB not installed in $lance: left out" >&2
    fi
fi
