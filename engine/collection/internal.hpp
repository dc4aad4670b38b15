#pragma once
// Internal building blocks of a collection: the staging buffer, the shard-side handle of a
// segment, and the background segment builder. Not part of the engine's API.

#include "engine/collection/types.hpp"
#include "engine/core/aligned_buffer.hpp"
#include "engine/core/result.hpp"
#include "engine/core/thread_pool.hpp"
#include "engine/format/segment_reader.hpp"
#include "engine/io/env.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::collection {

inline constexpr std::uint64_t staging_container_bit = std::uint64_t{1} << 63;

inline bool bit_is_set(const std::vector<std::uint64_t>& bits, std::size_t i)
{
    return (bits[i / 64] >> (i % 64)) & 1u;
}
inline void set_bit(std::vector<std::uint64_t>& bits, std::size_t i)
{
    bits[i / 64] |= std::uint64_t{1} << (i % 64);
}

// Rows written since the last flush, searched exactly. Rows are only appended; a replaced or
// deleted row is marked dead. Shard-local, except that once frozen its rows (not its dead bits)
// are read by the background segment build.
struct staging {
    std::uint64_t container = 0;  // staging_container_bit | sequence
    std::size_t dimension = 0;
    std::uint64_t first_wal = 0;  // WAL file where this staging's records begin
    std::vector<float> vectors;
    std::vector<std::string> ids;
    std::vector<std::string> payloads;
    std::vector<std::uint64_t> dead;  // bitmap over rows
    std::size_t live = 0;

    std::size_t rows() const { return ids.size(); }
    bool is_dead(std::size_t row) const { return bit_is_set(dead, row); }

    std::uint32_t append(std::string id, const float* vector, std::string payload)
    {
        auto row = static_cast<std::uint32_t>(ids.size());
        ids.push_back(std::move(id));
        payloads.push_back(std::move(payload));
        vectors.insert(vectors.end(), vector, vector + dimension);
        if (dead.size() * 64 < ids.size()) {
            dead.push_back(0);
        }
        ++live;
        return row;
    }

    void kill(std::size_t row)
    {
        if (!is_dead(row)) {
            set_bit(dead, row);
            --live;
        }
    }
};

// A segment as the shard sees it: the parsed metadata, a file for ring reads (O_DIRECT in
// direct mode) or a read-only mapping (mmap mode), and its tombstones. Shared by the searches
// reading it; the file closes when the last holder lets go.
struct segment {
    ~segment();

    // Opens and checks path. Blocking.
    [[nodiscard]] static result<std::shared_ptr<segment>> open(io::env& e, const std::string& path,
                                                               std::uint64_t id, io_mode mode);

    std::uint64_t id() const { return reader.segment_id(); }
    std::size_t live() const { return reader.vector_count() - tombstone_count; }
    bool is_dead(std::size_t position) const { return bit_is_set(tombstones, position); }
    void kill(std::size_t position)
    {
        if (!is_dead(position)) {
            set_bit(tombstones, position);
            ++tombstone_count;
        }
    }
    std::vector<std::uint32_t> tombstone_list() const;

    std::string path;
    format::segment_reader reader;
    std::unique_ptr<io::file> data_file;  // direct mode
    const std::byte* map = nullptr;        // mmap mode
    std::size_t map_size_bytes = 0;
    std::vector<std::uint64_t> verified;   // mmap mode: clusters whose crc was checked
    std::uint64_t uid = 0;                 // unique in the process: the cache key
    std::vector<std::uint64_t> tombstones;
    std::size_t tombstone_count = 0;
};

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
};

// Where a position of a newly built segment came from, as the shard sees it at install time.
struct source_row {
    bool dead = false;     // deleted or replaced since the rows were gathered
    std::string_view id;
    std::uint64_t container = 0;  // where the id map points while the source row is live
    std::uint32_t row = 0;
};

struct built_segment {
    std::shared_ptr<segment> seg;
    std::vector<std::uint32_t> position_source;  // position -> index into build_rows::sources
};

// Trains, orders and writes segment `id` from rows, syncs it and its directory, and opens it.
// Blocking; runs on the background pool (pool may be used for k-means). Training stops early,
// and the build fails, once o.cancel or stop is set.
[[nodiscard]] result<built_segment> build_segment(io::env& e, const std::string& segments_dir,
                                                  std::uint64_t id, metric m, const build_rows& rows,
                                                  const options& o, thread_pool* pool,
                                                  const std::atomic<bool>* stop);

}  // namespace puffer::collection
