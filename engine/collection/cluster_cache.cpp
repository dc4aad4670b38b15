#include "engine/collection/cluster_cache.hpp"

namespace puffer::collection {

const float* cluster_cache::find(std::uint64_t segment_uid, std::uint32_t cluster)
{
    auto it = index_.find(key{segment_uid, cluster});
    if (it == index_.end()) {
        ++misses_;
        return nullptr;
    }
    ++hits_;
    lru_.splice(lru_.begin(), lru_, it->second);
    const entry& e = *it->second;
    return reinterpret_cast<const float*>(e.buffer.data() + e.offset_bytes);
}

void cluster_cache::insert(std::uint64_t segment_uid, std::uint32_t cluster, aligned_buffer buffer,
                           std::size_t offset_bytes)
{
    std::size_t size = buffer.size();
    if (size > budget_bytes_) {
        return;
    }
    key k{segment_uid, cluster};
    if (auto it = index_.find(k); it != index_.end()) {
        bytes_ -= it->second->buffer.size();
        lru_.erase(it->second);
        index_.erase(it);
    }
    evict_until_fits(size);
    lru_.push_front(entry{k, std::move(buffer), offset_bytes});
    index_.emplace(k, lru_.begin());
    bytes_ += size;
}

void cluster_cache::evict_until_fits(std::size_t incoming_bytes)
{
    while (!lru_.empty() && bytes_ + incoming_bytes > budget_bytes_) {
        entry& victim = lru_.back();
        bytes_ -= victim.buffer.size();
        index_.erase(victim.k);
        lru_.pop_back();
        ++evictions_;
    }
}

void cluster_cache::erase_segment(std::uint64_t segment_uid)
{
    for (auto it = lru_.begin(); it != lru_.end();) {
        if (it->k.segment_uid == segment_uid) {
            bytes_ -= it->buffer.size();
            index_.erase(it->k);
            it = lru_.erase(it);
        } else {
            ++it;
        }
    }
}

void cluster_cache::clear()
{
    lru_.clear();
    index_.clear();
    bytes_ = 0;
}

}  // namespace puffer::collection
