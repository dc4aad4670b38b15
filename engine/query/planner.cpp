#include "engine/query/planner.hpp"

#include "engine/index/ivf.hpp"

#include <algorithm>
#include <cmath>

namespace puffer::query {

std::size_t default_nprobe(std::size_t cluster_count)
{
    auto n = static_cast<std::size_t>(1.5 * std::sqrt(static_cast<double>(cluster_count)) + 0.5);
    return std::clamp<std::size_t>(n, 1, std::max<std::size_t>(1, cluster_count));
}

void planner::make(const read_view& view, const float* q, const search_request& request, plan& out)
{
    out.clear();
    std::size_t rows = view.indexed_rows();
    if (rows == 0) {
        return;
    }
    // The collection as one segment: its cluster count, and the share of it a probe budget covers.
    std::size_t one_segment_clusters = index::default_cluster_count(rows);
    std::size_t nprobe = request.nprobe != 0 ? request.nprobe : default_nprobe(one_segment_clusters);
    nprobe = std::min(nprobe, one_segment_clusters);
    double fraction = static_cast<double>(nprobe) / static_cast<double>(one_segment_clusters);

    // A recall target: the curves were measured with stored rows as queries, which miss up to
    // half as many neighbours as new queries do (recall_curve.hpp), so the curve is asked for
    // half the misses the target allows, and the expectation reported is the other way round.
    bool from_target = request.recall_target > 0;
    double goal = 1.0 - (1.0 - request.recall_target) / 2.0;
    double expected_weighted = 0;
    bool expected_known = from_target;
    std::size_t largest_rows = 0;

    for (const quantizer_group& group : view.groups) {
        const storage::segment& rep = *view.segments[group.representative].segment;
        std::size_t k = rep.cluster_count();
        std::size_t probes = 0;
        const auto& curve = rep.reader().recall();
        if (from_target && curve) {
            probes = curve->probes_for(goal);
            double expected = std::clamp(1.0 - 2.0 * (1.0 - curve->at(probes)), 0.0, 1.0);
            expected_weighted += expected * static_cast<double>(group.rows);
        } else {
            expected_known = expected_known && !from_target;
            probes = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(k)));
        }
        probes = std::clamp<std::size_t>(probes, 1, k);
        if (group.rows > largest_rows) {
            largest_rows = group.rows;
            out.nprobe = std::max<std::size_t>(
                1, static_cast<std::size_t>(std::llround(static_cast<double>(probes) / static_cast<double>(k) *
                                                         static_cast<double>(one_segment_clusters))));
        }
        index::select_probes(view.distance_metric, q, rep.reader().centroids(), k, view.dimension, probes, probes_,
                             distances_);
        for (std::uint32_t c : probes_) {
            for (std::uint32_t s : group.segments) {
                std::uint32_t length = view.segments[s].segment->reader().cluster_length(c);
                if (length == 0) {
                    continue;
                }
                out.clusters.push_back(plan_cluster{s, c, length});
                out.vectors += length;
            }
        }
    }
    if (!from_target) {
        out.nprobe = nprobe;
    }
    if (from_target && expected_known) {
        out.expected_recall = expected_weighted / static_cast<double>(rows);
    }
}

}  // namespace puffer::query
