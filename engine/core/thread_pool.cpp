#include "engine/core/thread_pool.hpp"

#include <atomic>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <memory>

namespace puffer {

thread_pool::thread_pool(std::size_t thread_count, int nice_increment)
{
    threads_.reserve(thread_count);
    for (std::size_t i = 0; i < thread_count; ++i) {
        threads_.emplace_back([this, nice_increment] {
            pthread_setname_np(pthread_self(), "background");
            if (nice_increment != 0) {
                // Per-thread on Linux: background work yields the CPU to shards and network threads.
                [[maybe_unused]] int rc = ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice_increment);
            }
            run();
        });
    }
}

thread_pool::~thread_pool()
{
    shutdown();
}

void thread_pool::submit(unique_function<void()> task)
{
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            return;
        }
        queue_.push_back(std::move(task));
    }
    wake_.notify_one();
}

void thread_pool::shutdown(bool discard_queued)
{
    std::deque<unique_function<void()>> discarded;
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && threads_.empty()) {
            return;
        }
        stopping_ = true;
        if (discard_queued) {
            discarded.swap(queue_);
        }
    }
    wake_.notify_all();
    for (auto& t : threads_) {
        if (t.joinable()) {
            t.join();
        }
    }
    threads_.clear();
}

void thread_pool::run()
{
    for (;;) {
        unique_function<void()> task;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) {
                return;  // stopping and drained
            }
            task = std::move(queue_.front());
            queue_.pop_front();
            ++running_;
        }
        task();
        task = nullptr;  // its captures go before the pool reports idle
        {
            std::lock_guard lock(mutex_);
            --running_;
            if (running_ == 0 && queue_.empty()) {
                idle_.notify_all();
            }
        }
    }
}

void thread_pool::wait_idle()
{
    std::unique_lock lock(mutex_);
    if (threads_.empty()) {
        return;  // nothing would ever run what is queued
    }
    idle_.wait(lock, [this] { return running_ == 0 && queue_.empty(); });
}

namespace {

struct parallel_state {
    std::function<void(std::size_t)> fn;
    std::size_t count;
    std::atomic<std::size_t> next{0};
    std::size_t finished = 0;  // guarded by mutex
    std::mutex mutex;
    std::condition_variable all_done;

    // Claims and runs indexes until none are left.
    void work()
    {
        std::size_t ran = 0;
        for (;;) {
            std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
            if (i >= count) {
                break;
            }
            fn(i);
            ++ran;
        }
        if (ran > 0) {
            std::lock_guard lock(mutex);
            finished += ran;
            if (finished == count) {
                all_done.notify_all();
            }
        }
    }
};

}  // namespace

void thread_pool::parallel_for(std::size_t count, const std::function<void(std::size_t)>& fn)
{
    if (count == 0) {
        return;
    }
    auto state = std::make_shared<parallel_state>();
    state->fn = fn;
    state->count = count;
    std::size_t helpers = std::min(threads_.size(), count - 1);
    for (std::size_t h = 0; h < helpers; ++h) {
        submit([state] { state->work(); });
    }
    state->work();
    std::unique_lock lock(state->mutex);
    state->all_done.wait(lock, [&] { return state->finished == count; });
}

void parallel_for(thread_pool* pool, std::size_t count, const std::function<void(std::size_t)>& fn)
{
    if (pool == nullptr) {
        for (std::size_t i = 0; i < count; ++i) {
            fn(i);
        }
        return;
    }
    pool->parallel_for(count, fn);
}

}  // namespace puffer
