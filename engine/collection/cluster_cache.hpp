#pragma once
// Per-shard cache of cluster vector data read from segment files, bounded by a byte budget with
// LRU eviction. Shard-local: only the owning shard thread uses it. Entries keep the aligned
// buffer the read landed in (no copy); data points into it.

#include "engine/core/aligned_buffer.hpp"

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>

namespace puffer::collection {

class cluster_cache {
public:
    explicit cluster_cache(std::size_t budget_bytes) : budget_bytes_(budget_bytes) {}

    // The cached vectors of (segment_uid, cluster), or null. A hit moves it to the front.
    const float* find(std::uint64_t segment_uid, std::uint32_t cluster);

    // Caches buffer (data at offset_bytes) unless it alone exceeds the budget; evicts from the
    // back until the total fits. Replaces an existing entry for the key.
    void insert(std::uint64_t segment_uid, std::uint32_t cluster, aligned_buffer buffer,
                std::size_t offset_bytes);

    // Drops every entry of a segment (replaced by compaction, or its collection dropped).
    void erase_segment(std::uint64_t segment_uid);
    void clear();

    std::size_t budget_bytes() const { return budget_bytes_; }
    std::size_t bytes() const { return bytes_; }
    std::size_t entries() const { return index_.size(); }
    std::uint64_t hits() const { return hits_; }
    std::uint64_t misses() const { return misses_; }
    std::uint64_t evictions() const { return evictions_; }

private:
    struct key {
        std::uint64_t segment_uid;
        std::uint32_t cluster;
        bool operator==(const key&) const = default;
    };
    struct key_hash {
        std::size_t operator()(const key& k) const
        {
            return std::hash<std::uint64_t>()(k.segment_uid * 0x9E3779B97F4A7C15ull ^ k.cluster);
        }
    };
    struct entry {
        key k;
        aligned_buffer buffer;
        std::size_t offset_bytes;
    };

    void evict_until_fits(std::size_t incoming_bytes);

    std::size_t budget_bytes_;
    std::size_t bytes_ = 0;
    std::uint64_t hits_ = 0;
    std::uint64_t misses_ = 0;
    std::uint64_t evictions_ = 0;
    std::list<entry> lru_;  // front: most recently used
    std::unordered_map<key, std::list<entry>::iterator, key_hash> index_;
};

}  // namespace puffer::collection
