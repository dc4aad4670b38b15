#pragma once
// Work waiting for a bounded resource (read slots on a shard's ring), oldest first: a vector and
// the index of its oldest entry, reused without allocating once it has grown. Shard-local.

#include <cstddef>
#include <vector>

namespace puffer::query {

template <class T>
class wait_queue {
public:
    void push(T* t) { items_.push_back(t); }

    // Takes entries oldest first while fits(entry) holds, and start(entry)s each. start may push
    // (the entry waits again) or resume the queue itself: entries are read by index, not kept.
    template <class Fits, class Start>
    void resume(Fits fits, Start start)
    {
        while (head_ < items_.size() && fits(*items_[head_])) {
            T* t = items_[head_++];
            start(*t);
        }
        if (head_ == items_.size()) {
            items_.clear();
            head_ = 0;
        }
    }

private:
    std::vector<T*> items_;
    std::size_t head_ = 0;
};

}  // namespace puffer::query
