// thread_pool: parallel_for runs every index once, also when nested inside a pool task;
// wait_idle waits for queued and running tasks.
#include "engine/core/thread_pool.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <thread>
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

BOOST_AUTO_TEST_CASE(wait_idle_returns_after_every_queued_and_running_task)
{
    thread_pool pool(2);
    std::atomic<int> finished{0};
    std::promise<void> release;
    std::shared_future<void> gate = release.get_future().share();
    for (int t = 0; t < 6; ++t) {
        pool.submit([&finished, gate] {
            gate.wait();
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            finished.fetch_add(1);
        });
    }
    std::thread opener([&release] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        release.set_value();
    });
    pool.wait_idle();  // two tasks are blocked and four queued when this starts waiting
    BOOST_TEST(finished.load() == 6);
    opener.join();
    pool.wait_idle();  // idle already: returns at once
    BOOST_TEST(finished.load() == 6);
}

BOOST_AUTO_TEST_CASE(inline_parallel_for_without_pool)
{
    int sum = 0;
    parallel_for(nullptr, 10, [&](std::size_t i) { sum += static_cast<int>(i); });
    BOOST_TEST(sum == 45);
}

BOOST_AUTO_TEST_SUITE_END()
