#pragma once
// Bounded top-k selection: keeps the k entries with the lowest distance. Ties are broken by key
// (the lower key wins), so the result never depends on the order entries were offered in.
// A NaN distance (an inner product of finite values near 1e38 can be +inf + -inf) is kept as
// +inf: it ranks after every number, and k entries come back whenever k were offered.
// Not thread-safe; one per query.

#include "engine/core/assert.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace puffer {

template <class Key = std::uint64_t>
struct scored {
    float distance;
    Key key;
};

// True when a ranks before b: lower distance, then lower key.
template <class Key>
inline bool ranks_before(const scored<Key>& a, const scored<Key>& b)
{
    if (a.distance != b.distance) {
        return a.distance < b.distance;
    }
    return a.key < b.key;
}

template <class Key = std::uint64_t>
class topk {
public:
    explicit topk(std::size_t k) : k_(k) { heap_.reserve(k); }

    std::size_t k() const { return k_; }
    std::size_t size() const { return heap_.size(); }
    bool full() const { return heap_.size() == k_; }

    // Entries with a distance above this cannot enter; an entry exactly at it may (key decides).
    // Callers filter with !(d > threshold()), which lets a NaN through to push.
    float threshold() const
    {
        return full() && k_ > 0 ? heap_.front().distance : std::numeric_limits<float>::infinity();
    }

    void push(float distance, Key key)
    {
        if (k_ == 0) {
            return;
        }
        if (std::isnan(distance)) {
            distance = std::numeric_limits<float>::infinity();
        }
        scored<Key> entry{distance, key};
        if (heap_.size() < k_) {
            heap_.push_back(entry);
            std::push_heap(heap_.begin(), heap_.end(), ranks_before<Key>);
            return;
        }
        if (!ranks_before(entry, heap_.front())) {
            return;
        }
        std::pop_heap(heap_.begin(), heap_.end(), ranks_before<Key>);
        heap_.back() = entry;
        std::push_heap(heap_.begin(), heap_.end(), ranks_before<Key>);
    }

    // Offers n candidates with keys first_key, first_key + 1, ... (a scanned block of rows).
    void push_block(const float* distances, std::size_t n, Key first_key)
    {
        for (std::size_t i = 0; i < n; ++i) {
            if (!(distances[i] > threshold())) {
                push(distances[i], first_key + static_cast<Key>(i));
            }
        }
    }

    // The kept entries, best first. Leaves this empty.
    std::vector<scored<Key>> take_sorted()
    {
        std::sort_heap(heap_.begin(), heap_.end(), ranks_before<Key>);
        std::vector<scored<Key>> out;
        out.swap(heap_);
        return out;
    }

    void clear() { heap_.clear(); }

    // Starts over with a new k, keeping the memory.
    void reset(std::size_t k)
    {
        k_ = k;
        heap_.clear();
        heap_.reserve(k);
    }

    // The kept entries in heap order (not sorted), for merging into another heap.
    const std::vector<scored<Key>>& entries() const { return heap_; }

    // The kept entries, best first, into out (its memory reused). Leaves this empty.
    void take_sorted(std::vector<scored<Key>>& out)
    {
        std::sort_heap(heap_.begin(), heap_.end(), ranks_before<Key>);
        out.assign(heap_.begin(), heap_.end());
        heap_.clear();
    }

private:
    std::size_t k_;
    std::vector<scored<Key>> heap_;  // max-heap under ranks_before: front is the worst kept
};

}  // namespace puffer
