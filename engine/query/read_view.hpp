#pragma once
// What a search sees of a collection: an immutable snapshot that the collection publishes after
// every change (LevelDB's Version): its segments with their tombstones, the segments grouped by
// the centroid table they share, and its staging rows (frozen ones being flushed, then the
// active one) as of that moment. Readers hold it by shared_ptr for the whole search while the
// writer installs the next one; tombstone and dead-row bitmaps are copied on write, never changed
// under a view. Segments (and their bitmaps) may be read on any shard; staging rows only on the
// owning shard, which appends to them. A frozen staging whose flush has assigned its rows to the
// collection's centroid table is probed through those clusters like a segment of the table.

#include "engine/core/bitmap.hpp"
#include "engine/core/distance.hpp"
#include "engine/query/staged_rows.hpp"
#include "engine/storage/segment.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::query {

struct view_segment {
    std::shared_ptr<const storage::segment> segment;
    std::shared_ptr<const bitmap> tombstones;  // null when no row is dead
    std::uint32_t group = 0;                   // index into read_view::groups
};

// Segments whose rows were assigned to one centroid table (a flush assigns new rows to the
// collection's current table): probing cluster c means scanning cluster c of each of them, so
// together they are probed as one segment holding all their rows would be.
struct quantizer_group {
    std::vector<std::uint32_t> segments;  // indexes into read_view::segments, ascending
    std::size_t rows = 0;                  // rows of those segments, tombstoned ones included
    std::uint32_t representative = 0;      // the largest: its centroids serve the whole group
};

// A frozen staging's rows as the flush indexing them assigned them to a group's centroid table,
// published before the flush writes its segment: probing cluster c of that group then scans
// these rows of c instead of every staged row.
struct staged_clusters {
    std::vector<std::uint32_t> offsets;  // cluster_count() + 1 entries
    std::vector<std::uint32_t> rows;     // staging rows by cluster, ascending within each

    std::size_t cluster_count() const { return offsets.empty() ? 0 : offsets.size() - 1; }
    std::uint32_t length(std::uint32_t c) const { return offsets[c + 1] - offsets[c]; }
    const std::uint32_t* rows_of(std::uint32_t c) const { return rows.data() + offsets[c]; }
};

struct view_staging {
    std::shared_ptr<const staged_rows> rows;
    std::size_t row_count = 0;                // rows [0, row_count) belong to this view
    std::shared_ptr<const bitmap> dead;       // null when no row is dead
    // Set when every live row is assigned to the table of groups[group]: the planner probes
    // them with that group's clusters. Null: every row is scanned.
    std::shared_ptr<const staged_clusters> clusters;
    std::uint32_t group = 0;
};

// What the searches of a collection read, for its stats: counted by the executor on the
// collection's own shard when a search answers (so only that shard writes them), read by the
// collection on the same shard. The one mutable thing a view points to.
struct search_counters {
    std::uint64_t searches = 0;
    std::uint64_t cache_hits = 0;
    std::uint64_t cache_misses = 0;  // clusters read from disk
    std::uint64_t bytes_read = 0;
    // Continuous recall (executor_options::recall_sample): the recall@k of the last sampled
    // searches against their exact re-runs, in a ring of recall_window entries.
    static constexpr std::size_t recall_window = 256;
    std::uint64_t recall_samples = 0;  // since the collection opened
    float recall_recent[recall_window] = {};

    // The mean of the last recall_window samples (or of all, while fewer), or -1 before any.
    double recall_estimate() const
    {
        std::size_t n = recall_samples < recall_window ? static_cast<std::size_t>(recall_samples) : recall_window;
        if (n == 0) {
            return -1;
        }
        double sum = 0;
        for (std::size_t i = 0; i < n; ++i) {
            sum += recall_recent[i];
        }
        return sum / static_cast<double>(n);
    }
    void add_recall_sample(double recall)
    {
        recall_recent[recall_samples % recall_window] = static_cast<float>(recall);
        ++recall_samples;
    }
};

struct read_view {
    std::string collection;  // the name, for messages
    std::shared_ptr<search_counters> counters;
    metric distance_metric = metric::l2;
    std::size_t dimension = 0;
    std::vector<view_segment> segments;  // ascending id
    std::vector<quantizer_group> groups;
    std::vector<view_staging> staging;   // oldest first; the active staging last
    std::size_t live_points = 0;
    // Payload paths the collection does not index (filters on them are refused); null: none.
    std::shared_ptr<const std::vector<std::string>> unindexed_fields;

    // A row's id and the size of its payload; container indexes segments, then staging (as in
    // row_ref). Staging rows only on the owning shard.
    std::string_view id(std::size_t container, std::uint32_t row) const
    {
        return container < segments.size() ? segments[container].segment->reader().id(row)
                                           : std::string_view(staging[container - segments.size()].rows->id(row));
    }
    std::uint64_t payload_size(std::size_t container, std::uint32_t row) const
    {
        return container < segments.size() ? segments[container].segment->reader().payload_range(row).size_bytes
                                            : staging[container - segments.size()].rows->payload(row).size();
    }

    // Rows held by segments (tombstoned ones included): the size that nprobe is relative to.
    std::size_t indexed_rows() const
    {
        std::size_t n = 0;
        for (const auto& g : groups) {
            n += g.rows;
        }
        return n;
    }
};

}  // namespace puffer::query
