#pragma once
// The write path's records of what a collection holds: staging buffers (rows since the last
// flush) and installed segments, each with the bitmap of its dead rows. The bitmaps are shared
// with the read views published since their last change, so they are copied before a change
// while a view holds them (writable()). Shard-local.

#include "engine/core/bitmap.hpp"
#include "engine/query/read_view.hpp"
#include "engine/query/staged_rows.hpp"
#include "engine/storage/segment.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

namespace puffer::collection {

// b, copied first if a read view shares it.
inline bitmap& writable(std::shared_ptr<bitmap>& b)
{
    if (b.use_count() > 1) {
        b = std::make_shared<bitmap>(*b);
    } else {
        // The last other holder (a view on another shard, a build) may have let go just now: its
        // reads happen before its release of the count, which this acquire orders before ours.
        std::atomic_thread_fence(std::memory_order_acquire);
    }
    return *b;
}

// Container ids: a segment's id, or a staging's sequence number with this bit set.
inline constexpr std::uint64_t staging_container_bit = std::uint64_t{1} << 63;

struct staging {
    std::uint64_t container = 0;  // staging_container_bit | sequence
    std::uint64_t first_wal = 0;  // WAL file where this staging's records begin
    std::shared_ptr<query::staged_rows> rows;
    std::shared_ptr<bitmap> dead;  // over rows
    std::size_t live = 0;
    // Frozen only: the rows as the flush indexing them assigned them to the centroid table of
    // `clusters_quantizer` (segment_record::quantizer), published before its segment is written.
    std::shared_ptr<const query::staged_clusters> clusters;
    std::uint64_t clusters_quantizer = 0;

    staging(std::uint64_t container_id, std::uint64_t wal, std::size_t dimension,
            std::shared_ptr<const std::vector<std::string>> unindexed = {})
        : container(container_id), first_wal(wal), rows(std::make_shared<query::staged_rows>(dimension, std::move(unindexed))),
          dead(std::make_shared<bitmap>())
    {
    }

    std::size_t size() const { return rows->size(); }
    bool is_dead(std::size_t row) const { return dead->test(row); }

    std::uint32_t append(std::string id, const float* vector, std::string payload)
    {
        std::uint32_t row = rows->append(std::move(id), vector, std::move(payload));
        if (dead->size() < rows->size()) {
            writable(dead).grow(std::max(rows->size(), 2 * dead->size() + 64));  // amortized
        }
        ++live;
        return row;
    }

    void kill(std::size_t row)
    {
        if (!dead->test(row) && writable(dead).set(row)) {
            --live;
        }
    }
};

struct segment_record {
    std::shared_ptr<const storage::segment> seg;
    std::shared_ptr<bitmap> tombstones;  // over the segment's positions
    // Segments with equal values share their centroid table (a flush assigns to the current one).
    std::uint64_t quantizer = 0;

    std::uint64_t id() const { return seg->id(); }
    std::size_t live() const { return seg->vector_count() - tombstones->count(); }
    bool is_dead(std::size_t position) const { return tombstones->test(position); }
    void kill(std::size_t position)
    {
        if (!tombstones->test(position)) {
            writable(tombstones).set(position);
        }
    }
};

}  // namespace puffer::collection
