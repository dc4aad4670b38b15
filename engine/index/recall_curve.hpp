#pragma once
// The recall an IVF layout gives against the number of clusters probed, measured on its own
// rows: a sample of rows serve as queries, their exact neighbours among the other rows are
// computed, and recall@k at p probes is the share of those neighbours whose cluster is among the
// p nearest.
//
// Stored rows make easier queries than new ones: their near duplicates are in the data (on SIFT,
// keypoints of the same photo), and a new query has none. Each sampled row's nearest
// `neighbours_skipped` other rows therefore stand in for those near duplicates and are left out;
// the next k are its answer. On real SIFT data at 20k and 200k rows, with 5 skipped, the probes
// the curve gives for 0.90, 0.95 and 0.99 reached 0.896-0.915, 0.952-0.956 and 0.987-0.991 on
// held-out queries from other photos, within about 10 % of the fewest probes that reach the
// target (docs/results.md). Leaving out only the row itself made held-out queries miss 1.3 to
// 2.1 times as many neighbours as the curve said; curves stored that way say 0 skipped.

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
    std::uint32_t neighbours_skipped = 0;  // nearest other rows left out of each query's answer
    std::vector<recall_point> points;  // probes ascending, recall not decreasing

    // Recall at probes, interpolated linearly between the points (1 before the first point
    // is the first point's value; past the last, the last's).
    double at(std::size_t probes) const;
    // The fewest probes whose recall reaches goal (interpolated), at most the last point's.
    std::size_t probes_for(double goal) const;
};

// Neighbours a build leaves out of each sampled row's answer (see above).
inline constexpr std::size_t recall_neighbours_skipped = 5;

// x: the n source rows (n * d; normalized for cosine) that layout orders. Uses at most
// `queries` sampled rows, chosen by seed; leaves `skipped` nearest other rows out of each
// answer. REQUIRES: n > top_k + skipped.
recall_curve measure_recall_curve(metric m, const float* x, std::size_t n, std::size_t d, const ivf_layout& layout,
                                  std::size_t queries, std::size_t top_k, std::size_t skipped, std::uint64_t seed,
                                  thread_pool* pool);

}  // namespace puffer::index
