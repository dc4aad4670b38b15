// cluster_cache and its arena: entries never exceed the budget, the least recently used entry
// goes first, a block too large for the arena is refused (the caller reads uncached), freed
// ranges coalesce so large blocks fit again, and a segment's entries can be dropped at once.
#include "engine/query/buffer_arena.hpp"
#include "engine/query/cluster_cache.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <random>

using namespace puffer;
using query::buffer_arena;
using query::cluster_cache;

namespace {
void put(cluster_cache& cache, std::uint64_t uid, std::uint32_t cluster, std::size_t size, float value)
{
    std::byte* block = cache.allocate(size);
    BOOST_TEST_REQUIRE(block != nullptr);
    for (std::size_t i = 0; i < size / 4; ++i) {
        reinterpret_cast<float*>(block)[i] = value;
    }
    cache.insert(uid, cluster, block, size, 0);
}
}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_cache_suite)

BOOST_AUTO_TEST_CASE(evicts_least_recently_used_within_the_budget)
{
    cluster_cache cache(4 * 4096);
    put(cache, 1, 0, 4096, 0);
    put(cache, 1, 1, 4096, 1);
    put(cache, 1, 2, 4096, 2);
    put(cache, 1, 3, 4096, 3);
    BOOST_TEST(cache.bytes() == 4u * 4096);
    BOOST_TEST(cache.find(1, 0) != nullptr);  // 0 becomes the most recent
    put(cache, 2, 0, 8192, 9);                // evicts 1 and 2, the least recent
    BOOST_TEST(cache.bytes() <= cache.budget_bytes());
    BOOST_TEST(cache.find(1, 1) == nullptr);
    BOOST_TEST(cache.find(1, 2) == nullptr);
    BOOST_TEST_REQUIRE(cache.find(1, 0) != nullptr);
    BOOST_TEST(*cache.find(1, 3) == 3.0f);
    BOOST_TEST(*cache.find(2, 0) == 9.0f);
    BOOST_TEST(cache.evictions() == 2u);
}

BOOST_AUTO_TEST_CASE(oversized_blocks_are_refused_and_offsets_are_kept)
{
    cluster_cache cache(8192);
    BOOST_TEST(cache.allocate(8193) == nullptr);
    std::byte* b = cache.allocate(4096);
    BOOST_TEST_REQUIRE(b != nullptr);
    reinterpret_cast<float*>(b)[4] = 42.0f;
    cache.insert(1, 1, b, 4096, 16);
    BOOST_TEST(*cache.find(1, 1) == 42.0f);
    // A block held by a read in flight is never evicted: with it out, 8 KiB cannot be had even
    // after evicting every entry.
    std::byte* held = cache.allocate(4096);
    BOOST_TEST_REQUIRE(held != nullptr);
    BOOST_TEST(cache.allocate(8192) == nullptr);
    BOOST_TEST(cache.find(1, 1) == nullptr);  // evicted while trying
    cache.release(held, 4096);
    BOOST_TEST(cache.allocate(8192) != nullptr);
}

BOOST_AUTO_TEST_CASE(erase_segment_and_counters)
{
    cluster_cache cache(1 << 20);
    put(cache, 1, 0, 1024, 0);
    put(cache, 2, 0, 1024, 0);
    cache.erase_segment(1);
    BOOST_TEST(cache.find(1, 0) == nullptr);
    BOOST_TEST(cache.find(2, 0) != nullptr);
    BOOST_TEST(cache.hits() == 1u);
    BOOST_TEST(cache.misses() == 1u);
    BOOST_TEST(cache.bytes() == 1024u);
    cache.clear();
    BOOST_TEST(cache.bytes() == 0u);
    BOOST_TEST(cache.arena().used_bytes() == 0u);
}

BOOST_AUTO_TEST_CASE(arena_coalesces_free_ranges)
{
    buffer_arena arena(64 * 4096, 4096);
    std::mt19937_64 rng(test::test_seed("arena", 61));
    std::vector<std::pair<std::byte*, std::size_t>> live;
    for (int round = 0; round < 2000; ++round) {
        if (live.empty() || rng() % 2 == 0) {
            std::size_t size = 1 + rng() % (5 * 4096);
            if (std::byte* b = arena.allocate(size)) {
                BOOST_TEST_REQUIRE(arena.owns(b));
                BOOST_TEST_REQUIRE(static_cast<std::size_t>(b - arena.base()) % 4096 == 0);
                for (const auto& [p, n] : live) {
                    bool disjoint = b + size <= p || p + n <= b;
                    BOOST_TEST_REQUIRE(disjoint);
                }
                live.emplace_back(b, size);
            }
        } else {
            std::size_t i = rng() % live.size();
            arena.release(live[i].first, live[i].second);
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }
    for (const auto& [p, n] : live) {
        arena.release(p, n);
    }
    BOOST_TEST(arena.used_bytes() == 0u);
    BOOST_TEST(arena.allocate(64 * 4096) != nullptr);  // everything coalesced back into one range
}

BOOST_AUTO_TEST_SUITE_END()
