#pragma once
// The state of each fixed-size block of one object held in the local disk cache (object-store
// mode, docs/scaling.md): whether the block's bytes are in the cache file, whether a fetch thread
// is writing them, and how many reads of them are in flight. Shard threads pin blocks before a
// ring read of the cache file; fetch threads fill blocks after a ranged GET; the evictor removes
// blocks no read holds. One atomic word per block, so none of them takes a lock.
//
// The word: bit 31 present, bit 30 filling, bits 0-29 pins. A block is evicted only from the
// exact word `present` (no pin, no fill), by compare-and-swap; a read pins first and then looks at
// the present bit it got back, so a read and an eviction of one block never both succeed. A pin
// taken on an absent block is a read that failed and gives its pin straight back.

#include "engine/core/assert.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace puffer::storage {

class block_states {
public:
    static constexpr std::uint32_t present_bit = std::uint32_t{1} << 31;
    static constexpr std::uint32_t filling_bit = std::uint32_t{1} << 30;
    static constexpr std::uint32_t pins_mask = filling_bit - 1;
    // Reads of one block in flight at once (every shard's reads together stay far below).
    static constexpr std::uint32_t pins_max = pins_mask;

    // REQUIRES: block_bytes > 0.
    block_states(std::uint64_t object_bytes, std::uint32_t block_bytes)
        : object_bytes_(object_bytes),
          block_bytes_(block_bytes),
          count_(static_cast<std::size_t>((object_bytes + block_bytes - 1) / block_bytes)),
          words_(std::make_unique<std::atomic<std::uint32_t>[]>(count_))
    {
        PUFFER_ASSERT(block_bytes > 0);
        for (std::size_t b = 0; b < count_; ++b) {
            words_[b].store(0, std::memory_order_relaxed);
        }
    }
    block_states(const block_states&) = delete;
    block_states& operator=(const block_states&) = delete;

    std::uint64_t object_bytes() const { return object_bytes_; }
    std::uint32_t block_bytes() const { return block_bytes_; }
    std::size_t block_count() const { return count_; }
    // The bytes of block b (the last one may be short).
    std::uint64_t size_of(std::size_t b) const
    {
        PUFFER_ASSERT(b < count_);
        std::uint64_t begin = std::uint64_t{b} * block_bytes_;
        return std::min<std::uint64_t>(block_bytes_, object_bytes_ - begin);
    }
    // The blocks [first, last) that hold bytes [offset, offset + length) of the object, clipped
    // to its end; empty when length is 0 or offset is at or past the end.
    std::pair<std::size_t, std::size_t> blocks_of(std::uint64_t offset, std::uint64_t length) const
    {
        if (length == 0 || offset >= object_bytes_) {
            return {0, 0};
        }
        std::uint64_t end = std::min(object_bytes_, offset + length);
        return {static_cast<std::size_t>(offset / block_bytes_),
                static_cast<std::size_t>((end + block_bytes_ - 1) / block_bytes_)};
    }

    // Pins every block of [first, last) when every one is present: none of them is evicted until
    // unpin(). False, with nothing pinned, when one is absent (or still being filled).
    bool try_pin(std::size_t first, std::size_t last)
    {
        PUFFER_ASSERT(first <= last && last <= count_);
        for (std::size_t b = first; b < last; ++b) {
            std::uint32_t old = words_[b].fetch_add(1, std::memory_order_acq_rel);
            PUFFER_ASSERT((old & pins_mask) < pins_max);
            if ((old & present_bit) == 0) {
                unpin(first, b + 1);
                return false;
            }
        }
        return true;
    }
    // REQUIRES: try_pin(first, last) returned true and these pins were not given back yet.
    void unpin(std::size_t first, std::size_t last)
    {
        for (std::size_t b = first; b < last; ++b) {
            [[maybe_unused]] std::uint32_t old = words_[b].fetch_sub(1, std::memory_order_acq_rel);
            PUFFER_ASSERT((old & pins_mask) > 0);
        }
    }

    // Claims absent block b for writing into the cache file: true once, for one fetch thread,
    // until end_fill. False when it is present or another fetch is filling it.
    bool begin_fill(std::size_t b)
    {
        PUFFER_ASSERT(b < count_);
        std::uint32_t v = words_[b].load(std::memory_order_acquire);
        while ((v & (present_bit | filling_bit)) == 0) {
            if (words_[b].compare_exchange_weak(v, v | filling_bit, std::memory_order_acq_rel)) {
                return true;
            }
        }
        return false;
    }
    // Ends the fill begun by begin_fill(b): written, the block is present (its bytes are in the
    // cache file, written before this call); else absent again.
    void end_fill(std::size_t b, bool written)
    {
        PUFFER_ASSERT(b < count_);
        std::uint32_t v = words_[b].load(std::memory_order_acquire);
        for (;;) {
            PUFFER_ASSERT((v & filling_bit) != 0 && (v & present_bit) == 0);
            std::uint32_t next = (v & ~filling_bit) | (written ? present_bit : 0);
            if (words_[b].compare_exchange_weak(v, next, std::memory_order_acq_rel)) {
                return;
            }
        }
    }

    // Makes present block b absent when no read holds it and no fill is on it; the caller then
    // frees its bytes in the cache file. False (nothing changed) otherwise.
    bool try_evict(std::size_t b)
    {
        PUFFER_ASSERT(b < count_);
        std::uint32_t expected = present_bit;
        return words_[b].compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
    }

    bool present(std::size_t b) const
    {
        PUFFER_ASSERT(b < count_);
        return (words_[b].load(std::memory_order_acquire) & present_bit) != 0;
    }
    std::uint32_t pins(std::size_t b) const
    {
        PUFFER_ASSERT(b < count_);
        return words_[b].load(std::memory_order_acquire) & pins_mask;
    }

private:
    std::uint64_t object_bytes_;
    std::uint32_t block_bytes_;
    std::size_t count_;
    std::unique_ptr<std::atomic<std::uint32_t>[]> words_;
};

}  // namespace puffer::storage
