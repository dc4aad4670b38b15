#pragma once
// An owned, aligned, fixed-size byte buffer (O_DIRECT I/O needs buffers aligned to the device's
// DMA alignment; SIMD scans like 64-byte alignment).

#include "engine/core/assert.hpp"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

namespace puffer {

class aligned_buffer {
public:
    aligned_buffer() = default;

    // REQUIRES: alignment is a power of two and a multiple of sizeof(void*).
    aligned_buffer(std::size_t size_bytes, std::size_t alignment_bytes)
        : size_(size_bytes)
    {
        PUFFER_ASSERT(alignment_bytes != 0);
        PUFFER_ASSERT((alignment_bytes & (alignment_bytes - 1)) == 0);
        std::size_t rounded = (size_bytes + alignment_bytes - 1) / alignment_bytes * alignment_bytes;
        if (rounded == 0) {
            rounded = alignment_bytes;
        }
        void* p = std::aligned_alloc(alignment_bytes, rounded);
        if (p == nullptr) {
            throw std::bad_alloc();
        }
        data_.reset(static_cast<std::byte*>(p));
    }

    std::byte* data() { return data_.get(); }
    const std::byte* data() const { return data_.get(); }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    std::span<std::byte> span() { return {data_.get(), size_}; }
    std::span<const std::byte> span() const { return {data_.get(), size_}; }

    template <class T>
    T* as() { return reinterpret_cast<T*>(data_.get()); }
    template <class T>
    const T* as() const { return reinterpret_cast<const T*>(data_.get()); }

    void zero() { std::memset(data_.get(), 0, size_); }

private:
    struct free_deleter {
        void operator()(std::byte* p) const { std::free(p); }
    };
    std::unique_ptr<std::byte, free_deleter> data_;
    std::size_t size_ = 0;
};

inline constexpr std::size_t align_down(std::size_t value, std::size_t alignment)
{
    return value / alignment * alignment;
}
inline constexpr std::size_t align_up(std::size_t value, std::size_t alignment)
{
    return (value + alignment - 1) / alignment * alignment;
}

}  // namespace puffer
