#pragma once
// A fixed region of memory carved into variable-size blocks (best fit, neighbours coalesced on
// release): the memory of a shard's cluster cache and of its cluster reads. One region, so the
// shard can register it with its io_uring ring once and every read into it is a fixed-buffer
// read (no per-read page pinning in the kernel), and so the cache's memory is bounded by
// construction. Shard-local.

#include <cstddef>
#include <map>

namespace puffer::query {

class buffer_arena {
public:
    // capacity is rounded up to a multiple of alignment. REQUIRES: alignment is a power of two.
    buffer_arena(std::size_t capacity_bytes, std::size_t alignment_bytes);
    ~buffer_arena();
    buffer_arena(const buffer_arena&) = delete;
    buffer_arena& operator=(const buffer_arena&) = delete;

    // A block of at least size bytes (rounded up to the alignment), or null when no free range
    // is large enough.
    std::byte* allocate(std::size_t size_bytes);
    // Returns a block; size is what was asked of allocate.
    void release(std::byte* block, std::size_t size_bytes);

    bool owns(const std::byte* p) const { return p >= base_ && p < base_ + capacity_; }
    std::byte* base() const { return base_; }
    std::size_t capacity_bytes() const { return capacity_; }
    std::size_t used_bytes() const { return used_; }
    std::size_t alignment_bytes() const { return alignment_; }

private:
    std::size_t round(std::size_t size) const { return (size + alignment_ - 1) / alignment_ * alignment_; }
    void add_free(std::size_t offset, std::size_t size);

    std::byte* base_ = nullptr;
    std::size_t capacity_ = 0;
    std::size_t alignment_ = 0;
    std::size_t used_ = 0;
    std::map<std::size_t, std::size_t> free_by_offset_;     // offset -> size
    std::multimap<std::size_t, std::size_t> free_by_size_;  // size -> offset
};

}  // namespace puffer::query
