#pragma once
// Turns a search and a read view into a plan: which clusters of which segments to scan. The
// probe budget is one for the whole collection: `nprobe` is what a collection of the same size
// held in one segment would probe (default_nprobe of its default cluster count), and each group
// of segments sharing a centroid table gets the same fraction of its clusters. Segments built by
// flushes share the collection's table, so a collection loaded the normal way is probed as one
// segment would be. A plan is data: it can be logged and tested without any I/O.

#include "engine/query/read_view.hpp"
#include "engine/query/request.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace puffer::query {

// Probes when a search does not say, for a segment of cluster_count clusters: about
// 1.5 * sqrt(nlist), which measured recall@10 ~0.96-0.98 on real SIFT data at 20k-200k vectors.
std::size_t default_nprobe(std::size_t cluster_count);

struct plan_cluster {
    std::uint32_t segment;  // index into read_view::segments
    std::uint32_t cluster;
    std::uint32_t rows;     // rows stored in that cluster (tombstoned ones included)
};

struct plan {
    std::vector<plan_cluster> clusters;  // nearest first within each group
    std::size_t vectors = 0;             // rows of the planned clusters
    std::size_t nprobe = 0;              // the budget, in one-segment probes
    double expected_recall = -1;         // from the recall curves, when a target was asked
    void clear()
    {
        clusters.clear();
        vectors = 0;
        nprobe = 0;
        expected_recall = -1;
    }
};

class planner {
public:
    // Plans request over view for the query q (already normalized for cosine). Reuses its scratch
    // memory: one planner per shard, one plan at a time.
    void make(const read_view& view, const float* q, const search_request& request, plan& out);

private:
    std::vector<std::uint32_t> probes_;
    std::vector<float> distances_;
};

}  // namespace puffer::query
