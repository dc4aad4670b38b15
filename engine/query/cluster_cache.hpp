#pragma once
// Per-shard cache of data read from segment files, LRU within a byte budget: a cluster's float
// vectors, a cluster's codes, or one page of the vector section (cache_item says which). Its
// memory is one buffer_arena: cluster reads land in arena blocks (registered with the shard's
// ring, so they are fixed-buffer reads) and a verified block becomes a cache entry without a
// copy. Shard-local: only the owning shard thread uses it.

#include "engine/query/buffer_arena.hpp"

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>

namespace puffer::query {

// What a cache entry of a segment holds.
inline constexpr std::uint64_t cache_item_vectors(std::uint32_t cluster)
{
    return cluster;
}
inline constexpr std::uint64_t cache_item_codes(std::uint32_t cluster)
{
    return (std::uint64_t{1} << 32) | cluster;
}
inline constexpr std::uint64_t cache_item_cluster(std::uint32_t cluster, bool codes)
{
    return codes ? cache_item_codes(cluster) : cache_item_vectors(cluster);
}
inline constexpr std::uint64_t cache_item_page(std::uint32_t page)
{
    return (std::uint64_t{2} << 32) | page;
}

class cluster_cache {
public:
    explicit cluster_cache(std::size_t budget_bytes, std::size_t alignment_bytes = 4096);
    ~cluster_cache();
    cluster_cache(const cluster_cache&) = delete;
    cluster_cache& operator=(const cluster_cache&) = delete;

    // The cached data of (segment_uid, item), or null. A hit moves it to the front.
    const float* find(std::uint64_t segment_uid, std::uint64_t item);

    // An arena block of size bytes for a read that may be cached, evicting least recently used
    // entries to make room; null when it cannot fit (the caller reads into its own memory and
    // does not cache). The block is the caller's until insert() or release().
    std::byte* allocate(std::size_t size_bytes);
    void release(std::byte* block, std::size_t size_bytes);

    // Caches a block from allocate (the cluster's data at offset_bytes in it); takes ownership.
    // Replaces an existing entry for the key.
    void insert(std::uint64_t segment_uid, std::uint64_t item, std::byte* block, std::size_t size_bytes,
                std::size_t offset_bytes);

    // Drops every entry of a segment (replaced by compaction, or its collection dropped).
    void erase_segment(std::uint64_t segment_uid);
    void clear();

    const buffer_arena& arena() const { return arena_; }
    std::size_t budget_bytes() const { return arena_.capacity_bytes(); }
    std::size_t bytes() const { return bytes_; }  // held by entries
    std::size_t entries() const { return index_.size(); }
    std::uint64_t hits() const { return hits_; }
    std::uint64_t misses() const { return misses_; }
    std::uint64_t evictions() const { return evictions_; }

private:
    struct key {
        std::uint64_t segment_uid;
        std::uint64_t item;
        bool operator==(const key&) const = default;
    };
    struct key_hash {
        std::size_t operator()(const key& k) const
        {
            return std::hash<std::uint64_t>()(k.segment_uid * 0x9E3779B97F4A7C15ull ^ (k.item * 0xC2B2AE3D27D4EB4Full));
        }
    };
    struct entry {
        key k;
        std::byte* block;
        std::size_t size_bytes;
        std::size_t offset_bytes;
    };

    void drop(std::list<entry>::iterator it);

    buffer_arena arena_;
    std::size_t bytes_ = 0;
    std::uint64_t hits_ = 0;
    std::uint64_t misses_ = 0;
    std::uint64_t evictions_ = 0;
    std::list<entry> lru_;  // front: most recently used
    std::unordered_map<key, std::list<entry>::iterator, key_hash> index_;
};

}  // namespace puffer::query
