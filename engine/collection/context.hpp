#pragma once
// What a collection needs from the shard that owns it: the shard's ring (for its WAL), the
// background pool, a way back onto the shard thread, and a way to tell every shard's cache that
// a segment is gone. The shard implements it; tests may too. The ring's tags are io::request
// pointers: the shard calls on_complete for each completion.

#include "engine/core/thread_pool.hpp"
#include "engine/core/unique_function.hpp"
#include "engine/io/env.hpp"
#include "engine/io/ring.hpp"

#include <cstdint>

namespace puffer::collection {

class context {
public:
    virtual ~context() = default;
    // Shard-local.
    virtual io::ring& ring() = 0;
    virtual io::env& env() = 0;
    // Thread-safe: runs work on the background pool (blocking file work, k-means).
    virtual void background(unique_function<void()> work) = 0;
    // The background pool itself, for parallel_for inside background work.
    virtual thread_pool* pool() = 0;
    // Thread-safe: runs task on the shard thread. False when the shard is stopping (the task is
    // destroyed unrun).
    virtual bool post(unique_function<void()> task) = 0;
    // Shard-local: a segment left the collection; every shard's cluster cache drops it.
    virtual void forget_segment(std::uint64_t segment_uid) = 0;
};

}  // namespace puffer::collection
