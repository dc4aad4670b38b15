#include "engine/index/recall_curve.hpp"

#include "engine/core/assert.hpp"
#include "engine/core/topk.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace puffer::index {
namespace {

// Rows per block of the exact search: a block's rows stay in cache while every query of a task
// is compared with them (one matrix product per block).
constexpr std::size_t block_rows = 256;
constexpr std::size_t task_queries = 32;

// Probe counts the curve keeps: every count up to 16, then about 1.15x apart, and the last.
std::vector<std::uint32_t> curve_probes(std::size_t clusters)
{
    std::vector<std::uint32_t> out;
    double p = 1;
    while (p < static_cast<double>(clusters)) {
        auto v = static_cast<std::uint32_t>(std::lround(p));
        if (out.empty() || v > out.back()) {
            out.push_back(v);
        }
        p = p < 16 ? p + 1 : p * 1.15;
    }
    // The last step may already have rounded to the cluster count.
    if (out.empty() || out.back() < clusters) {
        out.push_back(static_cast<std::uint32_t>(clusters));
    }
    return out;
}

}  // namespace

double recall_curve::at(std::size_t probes) const
{
    PUFFER_ASSERT(!points.empty());
    if (probes <= points.front().probes) {
        return points.front().recall;
    }
    for (std::size_t i = 1; i < points.size(); ++i) {
        if (probes <= points[i].probes) {
            const auto& a = points[i - 1];
            const auto& b = points[i];
            double t = static_cast<double>(probes - a.probes) / static_cast<double>(b.probes - a.probes);
            return a.recall + t * (b.recall - a.recall);
        }
    }
    return points.back().recall;
}

std::size_t recall_curve::probes_for(double goal) const
{
    PUFFER_ASSERT(!points.empty());
    // Recalls are stored as float32: 0.95f is a little under 0.95, and must still count as it.
    constexpr double slack = 1e-6;
    if (points.front().recall >= goal - slack) {
        return points.front().probes;
    }
    for (std::size_t i = 1; i < points.size(); ++i) {
        const auto& a = points[i - 1];
        const auto& b = points[i];
        if (b.recall >= goal - slack) {
            double t = (goal - a.recall) / std::max(1e-9, static_cast<double>(b.recall - a.recall));
            auto p = static_cast<std::size_t>(std::ceil(a.probes + t * (b.probes - a.probes) - slack));
            return std::clamp<std::size_t>(p, a.probes + 1, b.probes);
        }
    }
    return points.back().probes;
}

recall_curve measure_recall_curve(metric m, const float* x, std::size_t n, std::size_t d, const ivf_layout& layout,
                                  std::size_t queries, std::size_t top_k, std::size_t skipped, std::uint64_t seed,
                                  thread_pool* pool)
{
    PUFFER_ASSERT(n > top_k + skipped);
    const std::size_t k = layout.cluster_count;
    const auto& kernels = simd::active();

    // The sampled rows, and each row's cluster.
    std::vector<std::uint32_t> sample(n);
    std::iota(sample.begin(), sample.end(), 0u);
    std::mt19937_64 rng(seed);
    std::size_t s = std::min(queries, n);
    for (std::size_t i = 0; i < s; ++i) {
        std::swap(sample[i], sample[i + rng() % (n - i)]);
    }
    sample.resize(s);
    std::vector<std::uint32_t> cluster_of(n);
    for (std::size_t c = 0; c < k; ++c) {
        for (std::uint32_t p = layout.cluster_offsets[c]; p < layout.cluster_offsets[c + 1]; ++p) {
            cluster_of[layout.order[p]] = static_cast<std::uint32_t>(c);
        }
    }
    std::vector<float> norms(n);
    if (m == metric::l2) {
        for (std::size_t i = 0; i < n; ++i) {
            norms[i] = kernels.dot(x + i * d, x + i * d, d);
        }
    }

    // Exact top (skipped + k) of every sampled row (itself left out), the nearest `skipped` of
    // them dropped, then the rank of each remaining neighbour's cluster in the row's probe order;
    // hist[r] counts neighbours found at rank r.
    std::size_t tasks = (s + task_queries - 1) / task_queries;
    std::vector<std::vector<std::uint64_t>> task_hist(tasks, std::vector<std::uint64_t>(k, 0));
    parallel_for(pool, tasks, [&](std::size_t t) {
        std::size_t q0 = t * task_queries;
        std::size_t qn = std::min(task_queries, s - q0);
        std::vector<float> q(qn * d);
        for (std::size_t i = 0; i < qn; ++i) {
            std::copy_n(x + static_cast<std::size_t>(sample[q0 + i]) * d, d, q.data() + i * d);
        }
        std::vector<topk<std::uint64_t>> heaps(qn, topk<std::uint64_t>(top_k + skipped));
        std::vector<float> dots(qn * block_rows);
        for (std::size_t b0 = 0; b0 < n; b0 += block_rows) {
            std::size_t rows = std::min(block_rows, n - b0);
            kernels.dot_matrix(q.data(), qn, x + b0 * d, rows, d, dots.data());
            for (std::size_t i = 0; i < qn; ++i) {
                const float* row = dots.data() + i * rows;
                std::uint32_t self = sample[q0 + i];
                for (std::size_t j = 0; j < rows; ++j) {
                    if (b0 + j == self) {
                        continue;
                    }
                    // Lower is closer: ||y||^2 - 2 q.y for l2 (||q||^2 is the same for all y).
                    float dist = m == metric::l2 ? norms[b0 + j] - 2.0f * row[j] : -row[j];
                    if (!(dist > heaps[i].threshold())) {
                        heaps[i].push(dist, b0 + j);
                    }
                }
            }
        }
        std::vector<std::uint32_t> order;
        std::vector<float> scratch;
        std::vector<std::uint32_t> rank(k);
        for (std::size_t i = 0; i < qn; ++i) {
            select_probes(m, q.data() + i * d, layout.centroids.data(), k, d, k, order, scratch);
            for (std::size_t r = 0; r < order.size(); ++r) {
                rank[order[r]] = static_cast<std::uint32_t>(r);
            }
            std::vector<scored<std::uint64_t>> answer = heaps[i].take_sorted();
            for (std::size_t j = skipped; j < answer.size(); ++j) {
                ++task_hist[t][rank[cluster_of[answer[j].key]]];
            }
        }
    });
    std::vector<std::uint64_t> hist(k, 0);
    std::uint64_t total = 0;
    for (const auto& h : task_hist) {
        for (std::size_t r = 0; r < k; ++r) {
            hist[r] += h[r];
            total += h[r];
        }
    }

    recall_curve curve;
    curve.top_k = static_cast<std::uint32_t>(top_k);
    curve.queries = static_cast<std::uint32_t>(s);
    curve.neighbours_skipped = static_cast<std::uint32_t>(skipped);
    std::uint64_t found = 0;
    std::size_t r = 0;
    for (std::uint32_t p : curve_probes(k)) {
        for (; r < p; ++r) {
            found += hist[r];
        }
        float recall = total == 0 ? 1.0f : static_cast<float>(static_cast<double>(found) / static_cast<double>(total));
        if (!curve.points.empty()) {
            recall = std::max(recall, curve.points.back().recall);
        }
        curve.points.push_back(recall_point{p, recall});
    }
    return curve;
}

}  // namespace puffer::index
