#pragma once
// Builds a segment file from rows, off the shard (background pool): either trains a new centroid
// table on the rows (k-means) or assigns the rows to an existing table (a flush into the
// collection's current table, a merge), then writes, syncs and opens the file.

#include "engine/collection/types.hpp"
#include "engine/core/result.hpp"
#include "engine/core/thread_pool.hpp"
#include "engine/index/attributes.hpp"
#include "engine/index/ivf.hpp"
#include "engine/io/env.hpp"
#include "engine/storage/segment.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::collection {

// Rows for a new segment, in source order, plus where each came from.
struct build_rows {
    std::size_t dimension = 0;
    std::vector<float> vectors;
    std::vector<std::string_view> ids;
    std::vector<std::string_view> payloads;
    std::vector<std::string> owned;  // storage for ids/payloads read from files (compaction)
    struct source {
        std::uint32_t container_index;
        std::uint32_t row;
    };
    std::vector<source> sources;
    // When set, one per source container: the attribute index of its rows (a staging's, or a
    // segment's; null: no payload fields), from which the segment's index is made without
    // parsing the payloads again.
    std::vector<const index::attribute_index*> source_attributes;
};

// The centroid table a build uses.
struct build_table {
    // Assign to this table (cluster_count * dimension floats), which must stay alive during the
    // build; null: train a new one.
    const float* centroids = nullptr;
    // The table's cluster count: when assigning, that of centroids; when training, the clusters
    // to train (0: index::default_cluster_count of the rows, or options::cluster_count if set).
    std::size_t cluster_count = 0;
};

struct built_segment {
    std::shared_ptr<const storage::segment> seg;
    std::vector<std::uint32_t> position_source;  // position -> index into build_rows::sources
};

// Called with the layout of rows assigned to an existing table, before anything is written:
// layout.order[p] is the index in build_rows of position p.
using assigned_fn = std::function<void(const index::ivf_layout&)>;

// Orders, writes segment `id` from rows (trained or assigned as table says), syncs it and its
// directory, and opens it. Blocking; runs on the background pool (pool may be used for k-means
// and the assignment). Training stops early, and the build fails, once o.cancel or stop is set.
// When the rows are assigned to table and on_assigned is set, it is called with the layout first.
[[nodiscard]] result<built_segment> build_segment(io::env& e, const std::string& segments_dir, std::uint64_t id,
                                                  metric m, const build_rows& rows, const build_table& table,
                                                  const options& o, thread_pool* pool,
                                                  const std::atomic<bool>* stop,
                                                  const assigned_fn& on_assigned = {});

}  // namespace puffer::collection
