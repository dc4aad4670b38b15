#include "engine/query/cluster_cache.hpp"

namespace puffer::query {

cluster_cache::cluster_cache(std::size_t budget_bytes, std::size_t alignment_bytes)
    : arena_(budget_bytes, alignment_bytes)
{
}

cluster_cache::~cluster_cache()
{
    clear();
}

const float* cluster_cache::find(std::uint64_t segment_uid, std::uint64_t item)
{
    auto it = index_.find(key{segment_uid, item});
    if (it == index_.end()) {
        ++misses_;
        return nullptr;
    }
    ++hits_;
    lru_.splice(lru_.begin(), lru_, it->second);
    const entry& e = *it->second;
    return reinterpret_cast<const float*>(e.block + e.offset_bytes);
}

std::byte* cluster_cache::allocate(std::size_t size_bytes)
{
    if (size_bytes > arena_.capacity_bytes()) {
        return nullptr;
    }
    for (;;) {
        if (std::byte* block = arena_.allocate(size_bytes)) {
            return block;
        }
        if (lru_.empty()) {
            return nullptr;  // the rest of the arena is held by reads in flight
        }
        drop(std::prev(lru_.end()));
        ++evictions_;
    }
}

void cluster_cache::release(std::byte* block, std::size_t size_bytes)
{
    arena_.release(block, size_bytes);
}

void cluster_cache::insert(std::uint64_t segment_uid, std::uint64_t item, std::byte* block, std::size_t size_bytes,
                           std::size_t offset_bytes)
{
    key k{segment_uid, item};
    if (auto it = index_.find(k); it != index_.end()) {
        drop(it->second);
    }
    lru_.push_front(entry{k, block, size_bytes, offset_bytes});
    index_.emplace(k, lru_.begin());
    bytes_ += size_bytes;
}

void cluster_cache::drop(std::list<entry>::iterator it)
{
    bytes_ -= it->size_bytes;
    arena_.release(it->block, it->size_bytes);
    index_.erase(it->k);
    lru_.erase(it);
}

void cluster_cache::erase_segment(std::uint64_t segment_uid)
{
    for (auto it = lru_.begin(); it != lru_.end();) {
        auto next = std::next(it);
        if (it->k.segment_uid == segment_uid) {
            drop(it);
        }
        it = next;
    }
}

void cluster_cache::clear()
{
    while (!lru_.empty()) {
        drop(lru_.begin());
    }
}

}  // namespace puffer::query
