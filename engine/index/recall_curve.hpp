#pragma once
// The recall an IVF layout gives against the number of clusters probed, measured on its own
// rows: a sample of rows serve as queries (each left out of its own answer), their exact top-k
// among all rows is computed, and recall@k at p probes is the share of those neighbours whose
// cluster is among the p nearest. A segment measures it when it is built and stores it; a search
// that asks for a recall instead of an nprobe is planned from it.
//
// Stored rows make easier queries than new ones (their near duplicates are in the data): on real
// SIFT data, new queries missed 1.3 to 2.1 times as many neighbours as stored rows at the same
// probes (docs/results.md). The planner allows for that (planner.cpp).

#include "engine/core/distance.hpp"
#include "engine/core/thread_pool.hpp"
#include "engine/index/ivf.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace puffer::index {

struct recall_point {
    std::uint32_t probes = 0;
    float recall = 0;
};

struct recall_curve {
    std::uint32_t top_k = 0;
    std::uint32_t queries = 0;
    std::vector<recall_point> points;  // probes ascending, recall not decreasing

    // Recall at probes, interpolated linearly between the points (1 before the first point
    // is the first point's value; past the last, the last's).
    double at(std::size_t probes) const;
    // The fewest probes whose recall reaches goal (interpolated), at most the last point's.
    std::size_t probes_for(double goal) const;
};

// x: the n source rows (n * d; normalized for cosine) that layout orders. Uses at most
// `queries` sampled rows, chosen by seed. REQUIRES: n > top_k.
recall_curve measure_recall_curve(metric m, const float* x, std::size_t n, std::size_t d, const ivf_layout& layout,
                                  std::size_t queries, std::size_t top_k, std::uint64_t seed, thread_pool* pool);

}  // namespace puffer::index
