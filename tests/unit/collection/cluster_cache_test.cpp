// cluster_cache: never holds more than its budget, evicts the least recently used entry first,
// does not cache an entry larger than the budget, and forgets a segment on request.
#include "engine/collection/cluster_cache.hpp"

#include <boost/test/unit_test.hpp>

using namespace puffer;
using collection::cluster_cache;

namespace {
aligned_buffer block(std::size_t size, float value)
{
    aligned_buffer b(size, 64);
    for (std::size_t i = 0; i < size / 4; ++i) {
        b.as<float>()[i] = value;
    }
    return b;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_cache_suite)

BOOST_AUTO_TEST_CASE(evicts_least_recently_used_within_the_budget)
{
    cluster_cache cache(4096);
    cache.insert(1, 0, block(1024, 0), 0);
    cache.insert(1, 1, block(1024, 1), 0);
    cache.insert(1, 2, block(1024, 2), 0);
    cache.insert(1, 3, block(1024, 3), 0);
    BOOST_TEST(cache.bytes() == 4096u);
    BOOST_TEST(cache.find(1, 0) != nullptr);  // 0 becomes most recent
    cache.insert(2, 0, block(2048, 9), 0);    // evicts 1 and 2, the least recent
    BOOST_TEST(cache.bytes() <= cache.budget_bytes());
    BOOST_TEST(cache.find(1, 1) == nullptr);
    BOOST_TEST(cache.find(1, 2) == nullptr);
    BOOST_TEST_REQUIRE(cache.find(1, 0) != nullptr);
    BOOST_TEST(*cache.find(1, 3) == 3.0f);
    BOOST_TEST(*cache.find(2, 0) == 9.0f);
    BOOST_TEST(cache.evictions() == 2u);
}

BOOST_AUTO_TEST_CASE(oversized_entries_are_not_cached_and_offsets_are_kept)
{
    cluster_cache cache(1000);
    cache.insert(1, 0, block(2048, 1), 0);
    BOOST_TEST(cache.entries() == 0u);
    aligned_buffer b = block(512, 0);
    b.as<float>()[4] = 42.0f;
    cache.insert(1, 1, std::move(b), 16);
    BOOST_TEST(*cache.find(1, 1) == 42.0f);
}

BOOST_AUTO_TEST_CASE(erase_segment_and_counters)
{
    cluster_cache cache(1 << 20);
    cache.insert(1, 0, block(1024, 0), 0);
    cache.insert(2, 0, block(1024, 0), 0);
    cache.erase_segment(1);
    BOOST_TEST(cache.find(1, 0) == nullptr);
    BOOST_TEST(cache.find(2, 0) != nullptr);
    BOOST_TEST(cache.hits() == 1u);
    BOOST_TEST(cache.misses() == 1u);
    BOOST_TEST(cache.bytes() == 1024u);
    cache.clear();
    BOOST_TEST(cache.bytes() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
