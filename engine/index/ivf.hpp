#pragma once
// IVF-Flat: vectors grouped by their nearest k-means centroid and stored in cluster order, so a
// query scans only the nprobe clusters whose centroids are nearest to it, each as one
// contiguous block. This file has the build (train + assign + order), probe selection, the
// cluster scan shared by the in-memory index and the engine, and the in-memory index itself.

#include "engine/core/distance.hpp"
#include "engine/core/thread_pool.hpp"
#include "engine/core/topk.hpp"
#include "engine/index/kmeans.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace puffer::index {

// Default nlist for n vectors: round(4 * sqrt(n)) (the common IVF rule, 1788 for 200k), at most
// n / 16 so clusters average at least 16 vectors, and at least 1.
std::size_t default_cluster_count(std::size_t n);

struct ivf_options {
    std::size_t cluster_count = 0;  // 0: default_cluster_count(n)
    kmeans_options kmeans;          // its cluster_count is ignored
};

struct ivf_layout {
    std::size_t dimension = 0;
    std::size_t cluster_count = 0;
    std::vector<float> centroids;                // cluster_count * dimension
    std::vector<std::uint32_t> cluster_offsets;  // cluster_count + 1; cluster c = [c], [c+1])
    std::vector<std::uint32_t> order;            // position in cluster order -> source row
    bool cancelled = false;                      // training was cancelled: do not use
};

// Trains the quantizer on x and orders all n rows by cluster (rows keep their source order
// inside a cluster). For cosine, x must already be normalized. REQUIRES: n >= 1.
ivf_layout build_ivf_layout(const float* x, std::size_t n, std::size_t d, const ivf_options& options,
                            thread_pool* pool);

// Orders all n rows of x by their nearest of the k given centroids (k * d), without training: a
// flush adds rows to a collection's existing centroid table this way. Same layout rules as
// build_ivf_layout.
ivf_layout assign_ivf_layout(const float* x, std::size_t n, std::size_t d, const float* centroids, std::size_t k,
                             thread_pool* pool);

// Centroid ranking used to choose probes: squared L2 for l2 and cosine, negated dot product for
// inner product. Writes the min(nprobe, k) best cluster indexes to probes, nearest first
// (ties: lower index). scratch is resized as needed (reused across queries).
void select_probes(metric m, const float* q, const float* centroids, std::size_t k, std::size_t d,
                   std::size_t nprobe, std::vector<std::uint32_t>& probes,
                   std::vector<float>& scratch);

// Scans n rows (row-major, d floats each) into heap with keys first_key, first_key + 1, ...
// Row i is left out when bit skip_first + i of skip is set (skip may be null: nothing skipped).
// Returns the number of rows scanned.
std::size_t scan_rows(metric m, const float* q, const float* rows, std::size_t n, std::size_t d,
                      std::uint64_t first_key, topk<std::uint64_t>& heap,
                      const std::uint64_t* skip = nullptr, std::uint64_t skip_first = 0);

// Scans n rows like scan_rows, but keeps only row i whose bit allow_first + i of allow is set
// (a filter's matching rows): distances of contiguous rows, for a run where most rows match.
std::size_t scan_allowed_rows(metric m, const float* q, const float* rows, std::size_t n, std::size_t d,
                              std::uint64_t first_key, topk<std::uint64_t>& heap, const std::uint64_t* allow,
                              std::uint64_t allow_first);

// Scans the n rows rows + list[i] * d into heap with keys first_key + list[i]; row list[i] is left
// out when its bit of skip is set (skip may be null). Returns n.
std::size_t scan_listed_rows(metric m, const float* q, const float* rows, const std::uint32_t* list, std::size_t n,
                             std::size_t d, std::uint64_t first_key, topk<std::uint64_t>& heap,
                             const std::uint64_t* skip = nullptr);

// A run of rows to scan (a cluster): row i has key first_key + i and is skipped when bit
// skip_first + i of skip is set (skip may be null).
struct row_span {
    const float* rows = nullptr;
    std::size_t n = 0;
    std::uint64_t first_key = 0;
    const std::uint64_t* skip = nullptr;
    std::uint64_t skip_first = 0;
};

// Scans spans into heap, four at a time with their rows interleaved, so one core reads four
// memory streams at once. Same result as scan_rows over each span. Returns rows scanned.
std::size_t scan_spans(metric m, const float* q, const row_span* spans, std::size_t count, std::size_t d,
                       topk<std::uint64_t>& heap);

// An IVF-Flat index held in memory (the in-process benchmark and tests).
class ivf_index {
public:
    // Builds from x (n * d); cosine vectors are normalized on the way in (x is not modified).
    static ivf_index build(metric m, const float* x, std::size_t n, std::size_t d,
                           const ivf_options& options, thread_pool* pool);

    struct search_stats {
        std::size_t vectors_scanned = 0;
        std::size_t clusters_scanned = 0;
    };

    // Top k source rows for q (size d), best first, probing nprobe clusters.
    std::vector<scored<std::uint64_t>> search(const float* q, std::size_t k, std::size_t nprobe,
                                              search_stats* stats = nullptr) const;

    std::size_t size() const { return layout_.order.size(); }
    std::size_t dimension() const { return layout_.dimension; }
    std::size_t cluster_count() const { return layout_.cluster_count; }
    metric distance_metric() const { return metric_; }
    const ivf_layout& layout() const { return layout_; }
    // Vectors in cluster order (size() * dimension()).
    const std::vector<float>& vectors() const { return vectors_; }

private:
    metric metric_ = metric::l2;
    ivf_layout layout_;
    std::vector<float> vectors_;
};

}  // namespace puffer::index
