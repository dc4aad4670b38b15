// Bounded top-k: keeps exactly the k best, sorted, with ties broken by key regardless of the
// order candidates arrive in.
#include "engine/core/topk.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <limits>
#include <random>

using namespace puffer;

BOOST_AUTO_TEST_SUITE(topk_suite)

BOOST_AUTO_TEST_CASE(keeps_the_k_smallest_sorted)
{
    topk<> heap(3);
    for (float d : {5.0f, 1.0f, 4.0f, 2.0f, 3.0f}) {
        heap.push(d, static_cast<std::uint64_t>(d * 10));
    }
    auto out = heap.take_sorted();
    BOOST_TEST_REQUIRE(out.size() == 3u);
    BOOST_TEST(out[0].distance == 1.0f);
    BOOST_TEST(out[1].distance == 2.0f);
    BOOST_TEST(out[2].distance == 3.0f);
}

BOOST_AUTO_TEST_CASE(ties_are_broken_by_key_in_any_arrival_order)
{
    std::mt19937_64 rng(test::test_seed("topk ties", 3));
    std::vector<std::uint64_t> keys(50);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        keys[i] = i;
    }
    for (int round = 0; round < 20; ++round) {
        std::shuffle(keys.begin(), keys.end(), rng);
        topk<> heap(5);
        for (auto key : keys) {
            heap.push(1.0f, key);
        }
        auto out = heap.take_sorted();
        BOOST_TEST_REQUIRE(out.size() == 5u);
        for (std::size_t i = 0; i < 5; ++i) {
            BOOST_TEST(out[i].key == i);
        }
    }
}

// An inner product of finite values near 1e38 can be NaN (+inf + -inf). Such a candidate ranks
// after every number (as +inf) instead of being dropped, so a query still gets k results.
BOOST_AUTO_TEST_CASE(nan_distances_rank_last_and_still_fill_k)
{
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> block{nan, 2.0f, nan, inf, 1.0f};
    topk<> heap(4);
    heap.push_block(block.data(), block.size(), 10);
    auto out = heap.take_sorted();
    BOOST_TEST_REQUIRE(out.size() == 4u);
    BOOST_TEST(out[0].key == 14u);
    BOOST_TEST(out[1].key == 11u);
    // The +inf and the two NaNs tie at +inf; the lowest keys win.
    BOOST_TEST(out[2].key == 10u);
    BOOST_TEST(out[2].distance == inf);
    BOOST_TEST(out[3].key == 12u);
    BOOST_TEST(out[3].distance == inf);

    // A full heap of numbers takes no NaN.
    topk<> full(2);
    full.push(1.0f, 1);
    full.push(2.0f, 2);
    full.push(nan, 0);
    auto kept = full.take_sorted();
    BOOST_TEST_REQUIRE(kept.size() == 2u);
    BOOST_TEST(kept[0].key == 1u);
    BOOST_TEST(kept[1].key == 2u);
}

BOOST_AUTO_TEST_CASE(matches_full_sort_on_random_input)
{
    std::mt19937_64 rng(test::test_seed("topk random", 4));
    std::uniform_int_distribution<int> value(0, 100);
    std::vector<scored<>> all;
    topk<> heap(17);
    std::vector<float> block(1000);
    for (std::size_t i = 0; i < block.size(); ++i) {
        block[i] = static_cast<float>(value(rng));
        all.push_back({block[i], 1000 + i});
    }
    heap.push_block(block.data(), block.size(), 1000);
    std::sort(all.begin(), all.end(), ranks_before<std::uint64_t>);
    auto out = heap.take_sorted();
    BOOST_TEST_REQUIRE(out.size() == 17u);
    for (std::size_t i = 0; i < out.size(); ++i) {
        BOOST_TEST(out[i].distance == all[i].distance);
        BOOST_TEST(out[i].key == all[i].key);
    }
}

BOOST_AUTO_TEST_CASE(threshold_is_infinite_until_full)
{
    topk<> heap(2);
    BOOST_TEST(std::isinf(heap.threshold()));
    heap.push(3.0f, 1);
    BOOST_TEST(std::isinf(heap.threshold()));
    heap.push(2.0f, 2);
    BOOST_TEST(heap.threshold() == 3.0f);
    topk<> none(0);
    none.push(1.0f, 1);
    BOOST_TEST(none.take_sorted().empty());
}

BOOST_AUTO_TEST_SUITE_END()
