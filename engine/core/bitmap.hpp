#pragma once
// A fixed-size set of row numbers as a plain bitset, with its count: the tombstones of a segment
// and the dead rows of a staging buffer. Scans test bits through words(), the raw 64-bit words
// (bit i of the set is bit i % 64 of word i / 64). Not thread-safe; read views share a bitmap
// only as const (the writer copies before changing one that a view holds).

#include "engine/core/assert.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace puffer {

class bitmap {
public:
    bitmap() = default;
    explicit bitmap(std::size_t size) : size_(size), words_((size + 63) / 64, 0) {}

    std::size_t size() const { return size_; }
    std::size_t count() const { return count_; }
    bool empty() const { return count_ == 0; }
    const std::uint64_t* words() const { return words_.data(); }

    bool test(std::size_t i) const
    {
        PUFFER_DEBUG_ASSERT(i < size_);
        return (words_[i / 64] >> (i % 64)) & 1u;
    }

    // Sets bit i; returns false when it was set already.
    bool set(std::size_t i)
    {
        PUFFER_DEBUG_ASSERT(i < size_);
        std::uint64_t bit = std::uint64_t{1} << (i % 64);
        if ((words_[i / 64] & bit) != 0) {
            return false;
        }
        words_[i / 64] |= bit;
        ++count_;
        return true;
    }

    // Grows the set to size bits (new bits clear). REQUIRES: size >= size().
    void grow(std::size_t size)
    {
        PUFFER_ASSERT(size >= size_);
        size_ = size;
        words_.resize((size + 63) / 64, 0);
    }

    // The set bits, ascending.
    std::vector<std::uint32_t> list() const
    {
        std::vector<std::uint32_t> out;
        out.reserve(count_);
        for (std::size_t w = 0; w < words_.size(); ++w) {
            for (std::uint64_t bits = words_[w]; bits != 0; bits &= bits - 1) {
                out.push_back(static_cast<std::uint32_t>(w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits))));
            }
        }
        return out;
    }

private:
    std::size_t size_ = 0;
    std::size_t count_ = 0;
    std::vector<std::uint64_t> words_;
};

}  // namespace puffer
