#include "engine/query/buffer_arena.hpp"

#include "engine/core/assert.hpp"

#include <new>
#include <sys/mman.h>

namespace puffer::query {

buffer_arena::buffer_arena(std::size_t capacity_bytes, std::size_t alignment_bytes) : alignment_(alignment_bytes)
{
    PUFFER_ASSERT(alignment_bytes != 0 && (alignment_bytes & (alignment_bytes - 1)) == 0);
    capacity_ = round(capacity_bytes);
    if (capacity_ == 0) {
        return;
    }
    void* p = ::mmap(nullptr, capacity_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        throw std::bad_alloc();
    }
    // Large pages where the kernel has them: fewer TLB misses when scanning cached clusters.
    ::madvise(p, capacity_, MADV_HUGEPAGE);
    base_ = static_cast<std::byte*>(p);
    add_free(0, capacity_);
}

buffer_arena::~buffer_arena()
{
    if (base_ != nullptr) {
        ::munmap(base_, capacity_);
    }
}

void buffer_arena::add_free(std::size_t offset, std::size_t size)
{
    free_by_offset_.emplace(offset, size);
    free_by_size_.emplace(size, offset);
}

std::byte* buffer_arena::allocate(std::size_t size_bytes)
{
    std::size_t size = round(size_bytes == 0 ? 1 : size_bytes);
    auto fit = free_by_size_.lower_bound(size);  // best fit: the smallest free range that is enough
    if (fit == free_by_size_.end()) {
        return nullptr;
    }
    std::size_t range_size = fit->first;
    std::size_t offset = fit->second;
    free_by_size_.erase(fit);
    free_by_offset_.erase(offset);
    if (range_size > size) {
        add_free(offset + size, range_size - size);
    }
    used_ += size;
    return base_ + offset;
}

void buffer_arena::release(std::byte* block, std::size_t size_bytes)
{
    PUFFER_ASSERT(owns(block));
    std::size_t size = round(size_bytes == 0 ? 1 : size_bytes);
    std::size_t offset = static_cast<std::size_t>(block - base_);
    PUFFER_ASSERT(offset % alignment_ == 0);
    PUFFER_ASSERT(used_ >= size);
    used_ -= size;
    // Coalesce with the free neighbours on both sides.
    auto next = free_by_offset_.lower_bound(offset);
    if (next != free_by_offset_.end() && next->first == offset + size) {
        auto [lo, hi] = free_by_size_.equal_range(next->second);
        for (auto it = lo; it != hi; ++it) {
            if (it->second == next->first) {
                free_by_size_.erase(it);
                break;
            }
        }
        size += next->second;
        next = free_by_offset_.erase(next);
    }
    if (next != free_by_offset_.begin()) {
        auto prev = std::prev(next);
        PUFFER_ASSERT(prev->first + prev->second <= offset);  // no double release
        if (prev->first + prev->second == offset) {
            auto [lo, hi] = free_by_size_.equal_range(prev->second);
            for (auto it = lo; it != hi; ++it) {
                if (it->second == prev->first) {
                    free_by_size_.erase(it);
                    break;
                }
            }
            offset = prev->first;
            size += prev->second;
            free_by_offset_.erase(prev);
        }
    }
    add_free(offset, size);
}

}  // namespace puffer::query
