#pragma once
// What a shard has done since it started and what waits in its inbox, as one copy taken on the
// shard's thread (for /metrics).

#include "engine/io/ring.hpp"
#include "engine/query/executor.hpp"

#include <cstddef>

namespace puffer::shard {

struct shard_report {
    std::size_t index = 0;
    io::ring_counters ring;           // reads, writes and syncs submitted through its ring
    query::executor_counters reads;   // what its searches read, and what failed
    std::size_t inbox_depth = 0;      // tasks posted and not yet run
    std::size_t cache_bytes = 0;      // held by the cluster cache
    std::size_t cache_budget_bytes = 0;
    std::size_t searches_active = 0;
};

}  // namespace puffer::shard
