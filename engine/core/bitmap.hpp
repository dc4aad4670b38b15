#pragma once
// A fixed-size set of row numbers as a plain bitset, with its count: the tombstones of a segment
// and the dead rows of a staging buffer. Scans test bits through words(), the raw 64-bit words
// (bit i of the set is bit i % 64 of word i / 64). Not thread-safe; read views share a bitmap
// only as const (the writer copies before changing one that a view holds).

#include "engine/core/assert.hpp"

#include <algorithm>
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

    // Bulk operations (filters). and_with and or_with need a set of the same size; and_not_with
    // takes any size (bits of o beyond this set are ignored, bits beyond o stay: a staging's dead
    // rows grow ahead of a view's rows). Counts are recomputed.
    void and_with(const bitmap& o)
    {
        PUFFER_ASSERT(o.size_ == size_);
        combine(o, [](std::uint64_t a, std::uint64_t b) { return a & b; });
    }
    void or_with(const bitmap& o)
    {
        PUFFER_ASSERT(o.size_ == size_);
        combine(o, [](std::uint64_t a, std::uint64_t b) { return a | b; });
    }
    void and_not_with(const bitmap& o) { combine(o, [](std::uint64_t a, std::uint64_t b) { return a & ~b; }); }
    // The complement within [0, size()).
    void flip_all()
    {
        for (auto& w : words_) {
            w = ~w;
        }
        clear_tail();
        count_ = size_ - count_;
    }
    // Sets every bit of [0, size()).
    void set_all()
    {
        for (auto& w : words_) {
            w = ~std::uint64_t{0};
        }
        clear_tail();
        count_ = size_;
    }
    // Set bits in [begin, end). REQUIRES: begin <= end <= size().
    std::size_t count_range(std::size_t begin, std::size_t end) const
    {
        PUFFER_DEBUG_ASSERT(begin <= end && end <= size_);
        if (begin == end) {
            return 0;
        }
        std::size_t first = begin / 64;
        std::size_t last = (end - 1) / 64;
        std::uint64_t head = ~std::uint64_t{0} << (begin % 64);
        std::uint64_t tail = ~std::uint64_t{0} >> (63 - (end - 1) % 64);
        if (first == last) {
            return static_cast<std::size_t>(__builtin_popcountll(words_[first] & head & tail));
        }
        auto n = static_cast<std::size_t>(__builtin_popcountll(words_[first] & head));
        for (std::size_t w = first + 1; w < last; ++w) {
            n += static_cast<std::size_t>(__builtin_popcountll(words_[w]));
        }
        return n + static_cast<std::size_t>(__builtin_popcountll(words_[last] & tail));
    }
    // Appends the set bits of [begin, end), minus begin, to out (ascending).
    void list_range(std::size_t begin, std::size_t end, std::vector<std::uint32_t>& out) const
    {
        PUFFER_DEBUG_ASSERT(begin <= end && end <= size_);
        for (std::size_t w = begin / 64; w * 64 < end; ++w) {
            std::uint64_t bits = words_[w];
            if (w == begin / 64) {
                bits &= ~std::uint64_t{0} << (begin % 64);
            }
            for (; bits != 0; bits &= bits - 1) {
                std::size_t i = w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits));
                if (i >= end) {
                    return;
                }
                out.push_back(static_cast<std::uint32_t>(i - begin));
            }
        }
    }
    // Direct access for filter evaluation; call recount() after changing words.
    std::uint64_t* mutable_words() { return words_.data(); }
    std::size_t word_count() const { return words_.size(); }
    void recount()
    {
        clear_tail();
        std::size_t n = 0;
        for (auto w : words_) {
            n += static_cast<std::size_t>(__builtin_popcountll(w));
        }
        count_ = n;
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
    // Words this set shares with o are combined; the rest are kept as they are.
    template <class Op>
    void combine(const bitmap& o, Op op)
    {
        std::size_t shared = std::min(words_.size(), o.words_.size());
        for (std::size_t w = 0; w < shared; ++w) {
            words_[w] = op(words_[w], o.words_[w]);
        }
        recount();
    }
    void clear_tail()
    {
        if (size_ % 64 != 0) {
            words_.back() &= (std::uint64_t{1} << (size_ % 64)) - 1;
        }
    }

    std::size_t size_ = 0;
    std::size_t count_ = 0;
    std::vector<std::uint64_t> words_;
};

}  // namespace puffer
