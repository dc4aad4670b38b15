#pragma once
// Turns a search and a read view into a plan: which clusters of which segments to scan. The
// probe budget is one for the whole collection: `nprobe` is what a collection of the same size
// held in one segment would probe (default_nprobe of its default cluster count), and each group
// of segments sharing a centroid table gets the same fraction of its clusters. Segments built by
// flushes share the collection's table, so a collection loaded the normal way is probed as one
// segment would be. A plan is data: it can be logged and tested without any I/O.

#include "engine/query/filtering.hpp"
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

// Cluster `cluster` of the rows a staging has assigned to its group's table (staged_clusters).
struct plan_staged {
    std::uint32_t staging;  // index into read_view::staging
    std::uint32_t cluster;
};

struct plan {
    std::vector<plan_cluster> clusters;  // nearest first within each group
    std::vector<plan_staged> staged;     // the same probes in assigned staging rows
    std::size_t vectors = 0;             // rows of the planned clusters
    std::size_t nprobe = 0;              // the budget, in one-segment probes
    double expected_recall = -1;         // from the recall curves, when a target was asked
    bool exhaustive = false;             // filtered: every matching row is planned
    void clear()
    {
        clusters.clear();
        staged.clear();
        vectors = 0;
        nprobe = 0;
        expected_recall = -1;
        exhaustive = false;
    }
};

// A filtered search scans every matching row (exactly: recall 1) when they number at most this
// times the rows its budget stands for unfiltered (its share of the clusters times the rows).
// Measured on SIFT 200k (docs/results.md): scanning 5-8k matching rows beat widening the probe
// by 1.4-1.7x, 11k about broke even, 40k was 4x slower.
inline constexpr double filtered_exhaustive_factor = 3.0;
// Otherwise the probe widens until the matching rows in the probed clusters reach this share of
// the rows the search's nearest probes hold unfiltered. Measured on SIFT 200k with payload
// filters of 20-50% (docs/results.md): 0.5 missed recall 0.95 on one, 0.6 met it on all.
inline constexpr double filtered_budget_share = 0.6;

// The plan of a batch of searches: every (segment, cluster) that any of them probes, once,
// with the searches that probe it, so the cluster is read and scanned once for all of them.
struct batch_plan {
    struct task {
        std::uint32_t segment;
        std::uint32_t cluster;
        std::uint32_t rows;
        std::uint32_t first;  // its searches are queries[first, first + count)
        std::uint32_t count;
    };
    std::vector<task> tasks;              // ascending (segment, cluster)
    std::vector<std::uint32_t> queries;   // search indexes, ascending within a task
    // Probes in assigned staging rows: scanned by the shard that owns the staging.
    struct staged_task {
        std::uint32_t query;
        std::uint32_t staging;
        std::uint32_t cluster;
    };
    std::vector<staged_task> staged;
    // Per search: the budget, the recall its curves expect (or -1), and what it will scan.
    std::vector<std::size_t> nprobe;
    std::vector<double> expected_recall;
    std::vector<std::size_t> clusters;
    std::vector<std::size_t> vectors;
    void clear()
    {
        tasks.clear();
        queries.clear();
        staged.clear();
        nprobe.clear();
        expected_recall.clear();
        clusters.clear();
        vectors.clear();
    }
};

class planner {
public:
    // Plans request over view for the query q (already normalized for cosine). Reuses its scratch
    // memory: one planner per shard, one plan at a time.
    void make(const read_view& view, const float* q, const search_request& request, plan& out);

    // Plans a filtered search, whose matching live rows are `allowed`. The budget is the rows the
    // search would scan unfiltered (make()): when the matching rows are few against it (
    // filtered_exhaustive_factor) every cluster holding one is planned (exhaustive); otherwise
    // each group's clusters are probed nearest first until the matching rows in them reach
    // filtered_budget_share of the rows its nearest probes hold, so a selective filter widens the
    // probe as far as it must.
    // out.vectors counts matching rows only (what the scan computes); staging is not planned
    // (the executor scans every matching staging row).
    void make_filtered(const read_view& view, const float* q, const search_request& request,
                       const filtered_rows& allowed, plan& out);

    // Plans count searches at once; q holds their queries (count * dimension, normalized for
    // cosine). The centroid distances of all queries to a table are one matrix product; the
    // clusters at the edge of each query's probes are then re-ranked with exact distances, so
    // every search probes exactly the clusters make() would choose for it alone.
    void make_batch(const read_view& view, const float* q, std::size_t count, const search_request* requests,
                    batch_plan& out);

private:
    // The probes of group g for one search: how many, and the expected recall (or -1).
    std::pair<std::size_t, double> group_budget(const read_view& view, const quantizer_group& g,
                                                const search_request& request, double fraction) const;

    // The budget of request over view: out.nprobe, out.expected_recall, and each group's probes
    // in group_probes_.
    void budget(const read_view& view, const search_request& request, plan& out);

    std::vector<std::size_t> group_probes_;
    std::vector<std::uint32_t> probes_;
    std::vector<float> distances_;
    std::vector<float> dots_;
    std::vector<float> norms_;
    std::vector<std::uint32_t> candidates_;
    std::vector<std::uint32_t> order_;
    std::vector<std::uint64_t> keys_;
};

}  // namespace puffer::query
