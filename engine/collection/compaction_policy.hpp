#pragma once
// Which segments a compaction should merge, and whether it should train a new centroid table:
// a pure function of the segments' sizes, so it is tested on its own. Flushes assign new rows
// to the collection's current centroid table (the one of its largest segment) without training,
// so segments share it and a search probes them as one. As the collection grows the table gets
// too coarse for it (at equal recall a coarser table scans more rows: measured on SIFT 200k,
// 894 clusters scan 32% more than 1788 at recall 0.968, 1272 clusters 19% more), and a
// compaction then trains a new one on all the rows, sized for some growth ahead.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace puffer::collection {

struct segment_summary {
    std::uint64_t id = 0;
    std::size_t rows = 0;       // stored rows, tombstoned ones included
    std::size_t live = 0;
    std::size_t clusters = 0;
    std::uint64_t quantizer = 0;  // segments with equal values share their centroid table
};

struct policy_options {
    std::size_t segments_max = 8;
    double tombstone_ratio_max = 0.3;
    // A table with fewer clusters than the collection's default count divided by this is
    // retrained (1.12: at most ~5% more rows scanned at equal recall, by the figures above);
    // one with more than twice the default (after many deletes) too.
    double coarse_ratio_max = 1.12;
    double fine_ratio_max = 2.0;
    // A new table is sized for the collection grown by this factor, so retrains come at ~1.57x
    // growth rather than at every 12%.
    double growth_ahead = 1.25;
    // Tables of a fixed size (options::cluster_count, for tests and benchmarks): never retrained
    // for size, only merged.
    std::size_t fixed_cluster_count = 0;
    // The first segment's flush trains the collection's first table, while writes keep arriving
    // and every staged row is scanned exactly by each search: its k-means may cost at most this
    // many multiply-adds (about a second of one core here). A table trained smaller for that is
    // soon found too coarse, and a compaction trains the full one in the background, while
    // flushes go on assigning to the small one.
    double first_table_madds_max = 2e10;
};

struct compaction_choice {
    enum class kind { none, merge, retrain };
    kind what = kind::none;
    std::vector<std::uint64_t> segments;  // to replace, ascending id
    // retrain: the cluster count of the new table; merge: 0 (rows go to the current table).
    std::size_t cluster_count = 0;
};

// The collection's current centroid table: that of its largest segment (ties: the newest).
// REQUIRES: segments not empty.
std::uint64_t current_quantizer(const std::vector<segment_summary>& segments);

// The cluster count a new table for n rows gets: the default for n * growth_ahead, at most n / 16.
std::size_t retrain_cluster_count(std::size_t n, const policy_options& o);

// The cluster count of the table a first flush of n rows of dimension d trains: that of
// retrain_cluster_count, or fewer if training that many would pass first_table_madds_max.
std::size_t first_table_cluster_count(std::size_t n, std::size_t d, const policy_options& o);

compaction_choice choose_compaction(const std::vector<segment_summary>& segments, const policy_options& o);

}  // namespace puffer::collection
