// thread_pool: parallel_for runs every index once, also when nested inside a pool task.
#include "engine/core/thread_pool.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <future>
#include <vector>

using namespace puffer;

BOOST_AUTO_TEST_SUITE(thread_pool_suite)

BOOST_AUTO_TEST_CASE(parallel_for_runs_each_index_once)
{
    thread_pool pool(3);
    std::vector<std::atomic<int>> hits(1000);
    pool.parallel_for(hits.size(), [&](std::size_t i) { hits[i].fetch_add(1); });
    for (auto& h : hits) {
        BOOST_TEST(h.load() == 1);
    }
}

BOOST_AUTO_TEST_CASE(nested_parallel_for_inside_every_worker_does_not_deadlock)
{
    thread_pool pool(2);
    std::atomic<int> total{0};
    std::vector<std::future<void>> done;
    for (int t = 0; t < 4; ++t) {
        auto promise = std::make_shared<std::promise<void>>();
        done.push_back(promise->get_future());
        pool.submit([&pool, &total, promise] {
            pool.parallel_for(100, [&](std::size_t) { total.fetch_add(1); });
            promise->set_value();
        });
    }
    for (auto& f : done) {
        f.get();
    }
    BOOST_TEST(total.load() == 400);
}

BOOST_AUTO_TEST_CASE(inline_parallel_for_without_pool)
{
    int sum = 0;
    parallel_for(nullptr, 10, [&](std::size_t i) { sum += static_cast<int>(i); });
    BOOST_TEST(sum == 45);
}

BOOST_AUTO_TEST_SUITE_END()
