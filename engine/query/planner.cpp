#include "engine/query/planner.hpp"

#include "engine/core/assert.hpp"
#include "engine/index/ivf.hpp"
#include "engine/index/recall_curve.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numeric>

namespace puffer::query {
namespace {

// Exact re-ranking at the edge of a batch's probes: this many clusters beyond the budget are
// re-checked with exact distances (the matrix product rounds differently).
constexpr std::size_t edge_candidates = 16;

struct budget_base {
    std::size_t one_segment_clusters = 0;
    std::size_t nprobe = 0;
    double fraction = 0;
};

budget_base base_of(std::size_t rows, const search_request& request)
{
    budget_base b;
    b.one_segment_clusters = index::default_cluster_count(rows);
    b.nprobe = request.nprobe != 0 ? request.nprobe : default_nprobe(b.one_segment_clusters);
    b.nprobe = std::min(b.nprobe, b.one_segment_clusters);
    b.fraction = static_cast<double>(b.nprobe) / static_cast<double>(b.one_segment_clusters);
    return b;
}

// What a curve is asked for to reach `target` on new queries, and what it expects at a measured
// recall. A curve that left out each row's near neighbours stands for new queries as it is; one
// that left out only the row itself (older segments) missed up to half as many neighbours as
// new queries do (recall_curve.hpp), so it is asked for half the misses the target allows.
double curve_goal(const index::recall_curve& c, double target)
{
    return c.neighbours_skipped > 0 ? target : 1.0 - (1.0 - target) / 2.0;
}
double curve_expectation(const index::recall_curve& c, double measured)
{
    return c.neighbours_skipped > 0 ? measured : std::clamp(1.0 - 2.0 * (1.0 - measured), 0.0, 1.0);
}

}  // namespace

std::size_t default_nprobe(std::size_t cluster_count)
{
    auto n = static_cast<std::size_t>(1.5 * std::sqrt(static_cast<double>(cluster_count)) + 0.5);
    return std::clamp<std::size_t>(n, 1, std::max<std::size_t>(1, cluster_count));
}

std::pair<std::size_t, double> planner::group_budget(const read_view& view, const quantizer_group& g,
                                                     const search_request& request, double fraction) const
{
    const storage::segment& rep = *view.segments[g.representative].segment;
    std::size_t k = rep.cluster_count();
    const auto& curve = rep.reader().recall();
    std::size_t probes = 0;
    double expected = -1;
    if (request.recall_target > 0 && curve) {
        probes = curve->probes_for(curve_goal(*curve, request.recall_target));
        expected = curve_expectation(*curve, curve->at(probes));
    } else {
        probes = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(k)));
    }
    return {std::clamp<std::size_t>(probes, 1, k), expected};
}

void planner::budget(const read_view& view, const search_request& request, plan& out)
{
    group_probes_.assign(view.groups.size(), 0);
    std::size_t rows = view.indexed_rows();
    budget_base b = base_of(rows, request);
    bool from_target = request.recall_target > 0;
    double expected_weighted = 0;
    bool expected_known = from_target;
    std::size_t largest_rows = 0;
    for (std::uint32_t gi = 0; gi < view.groups.size(); ++gi) {
        const quantizer_group& group = view.groups[gi];
        std::size_t k = view.segments[group.representative].segment->cluster_count();
        auto [probes, expected] = group_budget(view, group, request, b.fraction);
        group_probes_[gi] = probes;
        expected_known = expected_known && expected >= 0;
        expected_weighted += expected * static_cast<double>(group.rows);
        if (from_target && group.rows > largest_rows) {
            largest_rows = group.rows;
            out.nprobe = std::max<std::size_t>(
                1, static_cast<std::size_t>(std::llround(static_cast<double>(probes) / static_cast<double>(k) *
                                                         static_cast<double>(b.one_segment_clusters))));
        }
    }
    if (!from_target) {
        out.nprobe = b.nprobe;
    }
    if (expected_known) {
        out.expected_recall = expected_weighted / static_cast<double>(rows);
    }
}

void planner::make(const read_view& view, const float* q, const search_request& request, plan& out)
{
    out.clear();
    if (view.indexed_rows() == 0) {
        return;
    }
    budget(view, request, out);
    for (std::uint32_t gi = 0; gi < view.groups.size(); ++gi) {
        const quantizer_group& group = view.groups[gi];
        const storage::segment& rep = *view.segments[group.representative].segment;
        index::select_probes(view.distance_metric, q, rep.reader().centroids(), rep.cluster_count(), view.dimension,
                             group_probes_[gi], probes_, distances_);
        for (std::uint32_t c : probes_) {
            for (std::uint32_t s : group.segments) {
                std::uint32_t length = view.segments[s].segment->reader().cluster_length(c);
                if (length == 0) {
                    continue;
                }
                out.clusters.push_back(plan_cluster{s, c, length});
                out.vectors += length;
            }
            for (std::uint32_t j = 0; j < view.staging.size(); ++j) {
                const view_staging& st = view.staging[j];
                if (st.clusters && st.group == gi && st.clusters->length(c) != 0) {
                    out.staged.push_back(plan_staged{j, c});
                }
            }
        }
    }
}

void planner::make_filtered(const read_view& view, const float* q, const search_request& request,
                            const filtered_rows& allowed, plan& out)
{
    out.clear();
    if (view.indexed_rows() == 0 || allowed.segment_matches == 0) {
        out.exhaustive = true;
        if (view.indexed_rows() != 0) {
            budget(view, request, out);
        }
        return;
    }
    // The budget in rows: in each group, the share of its rows that its probes stand for.
    budget(view, request, out);
    double budget_rows = 0;
    for (std::uint32_t gi = 0; gi < view.groups.size(); ++gi) {
        const quantizer_group& group = view.groups[gi];
        std::size_t k = view.segments[group.representative].segment->cluster_count();
        budget_rows += static_cast<double>(group_probes_[gi]) / static_cast<double>(k) * static_cast<double>(group.rows);
    }
    if (static_cast<double>(allowed.segment_matches) <= filtered_exhaustive_factor * budget_rows) {
        for (std::uint32_t s = 0; s < view.segments.size(); ++s) {
            const bitmap& rows = allowed.segments[s];
            if (rows.empty()) {
                continue;
            }
            const auto& reader = view.segments[s].segment->reader();
            for (std::uint32_t c = 0; c < reader.cluster_count(); ++c) {
                std::uint32_t length = reader.cluster_length(c);
                std::size_t start = reader.cluster_start(c);
                std::size_t matched = length == 0 ? 0 : rows.count_range(start, start + length);
                if (matched != 0) {
                    out.clusters.push_back(plan_cluster{s, c, length});
                    out.vectors += matched;
                }
            }
        }
        out.exhaustive = true;
        return;
    }
    for (std::uint32_t gi = 0; gi < view.groups.size(); ++gi) {
        const quantizer_group& group = view.groups[gi];
        std::size_t matches = 0;
        for (std::uint32_t s : group.segments) {
            matches += allowed.segments[s].count();
        }
        if (matches == 0) {
            continue;
        }
        const storage::segment& rep = *view.segments[group.representative].segment;
        const std::size_t k = rep.cluster_count();
        // Ranks first as many clusters as the share of matching rows suggests (twice over), and
        // the whole table only if those do not hold enough.
        double share = static_cast<double>(matches) / static_cast<double>(std::max<std::size_t>(group.rows, 1));
        auto want = static_cast<std::size_t>(2.0 * static_cast<double>(std::max<std::size_t>(group_probes_[gi], 1)) /
                                             std::max(share, 1e-9));
        want = std::clamp<std::size_t>(want, 1, k);
        std::size_t matched = 0;
        std::size_t next = 0;
        want = std::max(want, std::min(k, group_probes_[gi]));
        index::select_probes(view.distance_metric, q, rep.reader().centroids(), k, view.dimension, want, probes_,
                             distances_);
        // The rows the unfiltered search would scan here: those of the group's nearest probes.
        std::size_t budget_here = 0;
        for (std::size_t j = 0; j < std::min(group_probes_[gi], probes_.size()); ++j) {
            for (std::uint32_t s : group.segments) {
                budget_here += view.segments[s].segment->reader().cluster_length(probes_[j]);
            }
        }
        // At least top_k matching rows, so that an answer is short only when fewer points match.
        const std::size_t target = std::max<std::size_t>(
            static_cast<std::size_t>(filtered_budget_share * static_cast<double>(budget_here)), request.top_k);
        while (matched < target && next < k) {
            for (; next < probes_.size() && matched < target; ++next) {
                std::uint32_t c = probes_[next];
                for (std::uint32_t s : group.segments) {
                    const auto& reader = view.segments[s].segment->reader();
                    std::uint32_t length = reader.cluster_length(c);
                    std::size_t start = reader.cluster_start(c);
                    std::size_t n = length == 0 ? 0 : allowed.segments[s].count_range(start, start + length);
                    if (n != 0) {
                        out.clusters.push_back(plan_cluster{s, c, length});
                        matched += n;
                    }
                }
            }
            if (matched >= target || want == k) {
                break;
            }
            // Not enough matching rows there: rank the whole table from the same distances
            // (select_probes left all k of them in distances_), nearest first as before.
            want = k;
            probes_.resize(k);
            std::iota(probes_.begin(), probes_.end(), std::uint32_t{0});
            const std::vector<float>& dist = distances_;
            std::sort(probes_.begin(), probes_.end(), [&dist](std::uint32_t a, std::uint32_t b) {
                return dist[a] != dist[b] ? dist[a] < dist[b] : a < b;
            });
        }
        out.vectors += matched;
    }
}

void planner::make_batch(const read_view& view, const float* q, std::size_t count, const search_request* requests,
                         batch_plan& out)
{
    out.clear();
    out.nprobe.assign(count, 0);
    out.expected_recall.assign(count, -1);
    out.clusters.assign(count, 0);
    out.vectors.assign(count, 0);
    std::size_t rows = view.indexed_rows();
    if (rows == 0 || count == 0) {
        return;
    }
    const std::size_t d = view.dimension;
    const auto& kernels = simd::active();
    // Ranking metric of select_probes: squared L2 (l2 and cosine) or the negated dot product.
    const bool ip = view.distance_metric == metric::inner_product;
    std::vector<budget_base> bases(count);
    std::vector<double> expected_weighted(count, 0);
    std::vector<char> expected_known(count, 0);
    std::vector<std::size_t> largest_rows(count, 0);
    for (std::size_t i = 0; i < count; ++i) {
        bases[i] = base_of(rows, requests[i]);
        expected_known[i] = requests[i].recall_target > 0;
        out.nprobe[i] = bases[i].nprobe;
    }
    keys_.clear();
    for (std::uint32_t gi = 0; gi < view.groups.size(); ++gi) {
        const quantizer_group& group = view.groups[gi];
        const storage::segment& rep = *view.segments[group.representative].segment;
        const std::size_t k = rep.cluster_count();
        const float* centroids = rep.reader().centroids();
        // All queries against all centroids: one matrix product (count x k).
        dots_.resize(count * k);
        kernels.dot_matrix(q, count, centroids, k, d, dots_.data());
        norms_.resize(k);
        float max_norm = 0;
        for (std::size_t c = 0; c < k; ++c) {
            norms_[c] = kernels.dot(centroids + c * d, centroids + c * d, d);
            max_norm = std::max(max_norm, norms_[c]);
        }
        for (std::size_t i = 0; i < count; ++i) {
            auto [probes, expected] = group_budget(view, group, requests[i], bases[i].fraction);
            expected_known[i] = expected_known[i] && expected >= 0;
            expected_weighted[i] += expected * static_cast<double>(group.rows);
            if (requests[i].recall_target > 0 && group.rows > largest_rows[i]) {
                largest_rows[i] = group.rows;
                out.nprobe[i] = std::max<std::size_t>(
                    1, static_cast<std::size_t>(std::llround(static_cast<double>(probes) / static_cast<double>(k) *
                                                             static_cast<double>(bases[i].one_segment_clusters))));
            }
            const float* qi = q + i * d;
            // Approximate ranking from the product (||q||^2 left out: it is the same for every
            // centroid), then exact distances for the clusters at the edge.
            float* row = dots_.data() + i * k;
            for (std::size_t c = 0; c < k; ++c) {
                float v = ip ? -row[c] : norms_[c] - 2.0f * row[c];
                row[c] = std::isnan(v) ? std::numeric_limits<float>::infinity() : v;
            }
            std::size_t wanted = std::min(k, probes + edge_candidates);
            candidates_.resize(k);
            std::iota(candidates_.begin(), candidates_.end(), std::uint32_t{0});
            auto by_approx = [row](std::uint32_t a, std::uint32_t b) { return row[a] != row[b] ? row[a] < row[b] : a < b; };
            if (wanted < k) {
                std::nth_element(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(wanted),
                                 candidates_.end(), by_approx);
            }
            // The exact order among the candidates decides, as select_probes would.
            float beyond = std::numeric_limits<float>::infinity();
            if (wanted < k) {
                beyond = row[*std::min_element(candidates_.begin() + static_cast<std::ptrdiff_t>(wanted),
                                               candidates_.end(), by_approx)];
            }
            candidates_.resize(wanted);
            distances_.resize(wanted);
            for (std::size_t j = 0; j < wanted; ++j) {
                // The kernel select_probes uses, so the distances (and ties) are the same as alone.
                const float* c = centroids + static_cast<std::size_t>(candidates_[j]) * d;
                float exact = 0;
                distance_rows(ip ? metric::inner_product : metric::l2, qi, c, 1, d, &exact);
                distances_[j] = std::isnan(exact) ? std::numeric_limits<float>::infinity() : exact;
            }
            order_.resize(wanted);
            std::iota(order_.begin(), order_.end(), std::uint32_t{0});
            std::sort(order_.begin(), order_.end(), [&](std::uint32_t a, std::uint32_t b) {
                return distances_[a] != distances_[b] ? distances_[a] < distances_[b] : candidates_[a] < candidates_[b];
            });
            std::vector<std::uint32_t>& chosen = probes_;
            chosen.resize(std::min(probes, wanted));
            float q_norm = ip ? 0.0f : kernels.dot(qi, qi, d);
            float worst_kept = -std::numeric_limits<float>::infinity();
            for (std::size_t j = 0; j < chosen.size(); ++j) {
                chosen[j] = candidates_[order_[j]];
                worst_kept = std::max(worst_kept, distances_[order_[j]] - q_norm);
            }
            // A cluster left out within the product's rounding error of the edge could belong in:
            // then this query ranks the whole table exactly. The error of d products of at most
            // |q||c| each, and of the norms, is bounded by a few d * epsilon * (|q|^2 + |c|^2).
            float margin = ip ? 4.0f * static_cast<float>(d) * FLT_EPSILON *
                                    (std::sqrt(kernels.dot(qi, qi, d) * max_norm) + 1.0f)
                              : 4.0f * static_cast<float>(d) * FLT_EPSILON * (q_norm + max_norm + 1.0f);
            if (wanted < k && !(beyond - worst_kept > margin)) {
                index::select_probes(view.distance_metric, qi, centroids, k, d, probes, chosen, distances_);
            }
            for (std::uint32_t c : chosen) {
                for (std::uint32_t s : group.segments) {
                    std::uint32_t length = view.segments[s].segment->reader().cluster_length(c);
                    if (length == 0) {
                        continue;
                    }
                    PUFFER_ASSERT(s < (1u << 20) && c < (1u << 24) && i < (1u << 20));
                    keys_.push_back((static_cast<std::uint64_t>(s) << 44) | (static_cast<std::uint64_t>(c) << 20) | i);
                    out.clusters[i] += 1;
                    out.vectors[i] += length;
                }
                for (std::uint32_t j = 0; j < view.staging.size(); ++j) {
                    const view_staging& st = view.staging[j];
                    if (st.clusters && st.group == gi && st.clusters->length(c) != 0) {
                        out.staged.push_back(batch_plan::staged_task{static_cast<std::uint32_t>(i), j, c});
                    }
                }
            }
        }
    }
    for (std::size_t i = 0; i < count; ++i) {
        if (expected_known[i]) {
            out.expected_recall[i] = expected_weighted[i] / static_cast<double>(rows);
        }
    }
    // Group by (segment, cluster): one task each, its searches in order.
    std::sort(keys_.begin(), keys_.end());
    out.queries.reserve(keys_.size());
    for (std::size_t j = 0; j < keys_.size();) {
        std::uint64_t where = keys_[j] >> 20;
        auto s = static_cast<std::uint32_t>(where >> 24);
        auto c = static_cast<std::uint32_t>(where & 0xFFFFFFu);
        batch_plan::task t{s, c, view.segments[s].segment->reader().cluster_length(c),
                           static_cast<std::uint32_t>(out.queries.size()), 0};
        for (; j < keys_.size() && (keys_[j] >> 20) == where; ++j) {
            out.queries.push_back(static_cast<std::uint32_t>(keys_[j] & 0xFFFFFu));
            ++t.count;
        }
        out.tasks.push_back(t);
    }
}

}  // namespace puffer::query
