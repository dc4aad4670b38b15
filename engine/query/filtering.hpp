#pragma once
// The rows of a read view that a filter lets through: per segment and per staging, the live
// rows (tombstoned and dead rows left out) that match, as bitsets, with their exact counts. A
// search plans and scans from these; a count is their total. Evaluated on the shard that owns
// the collection (staging rows may be read only there); the bitsets are then immutable and may
// be read by any shard while the search runs.

#include "engine/core/bitmap.hpp"
#include "engine/core/result.hpp"
#include "engine/index/filter.hpp"
#include "engine/query/read_view.hpp"

#include <cstddef>
#include <vector>

namespace puffer::query {

struct filtered_rows {
    std::vector<bitmap> segments;  // per read_view::segments, over the segment's positions
    std::vector<bitmap> staging;   // per read_view::staging, over its first row_count rows
    std::size_t segment_matches = 0;
    std::size_t staging_matches = 0;

    std::size_t total() const { return segment_matches + staging_matches; }
};

// invalid_argument naming the field when f uses one of a collection's unindexed fields.
[[nodiscard]] status check_filter(const std::string& collection, const std::vector<std::string>& unindexed,
                                  const index::filter& f);
inline status check_filter(const read_view& view, const index::filter& f)
{
    return view.unindexed_fields ? check_filter(view.collection, *view.unindexed_fields, f) : ok();
}

// Evaluates f over every segment and staging of view into out (its memory reused).
void match_rows(const read_view& view, const index::filter& f, filtered_rows& out);

// Live points of view that match f (all live points when f is null). Exact.
std::size_t count_matches(const read_view& view, const index::filter* f);

}  // namespace puffer::query
