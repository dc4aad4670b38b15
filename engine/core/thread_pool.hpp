#pragma once
// A fixed set of worker threads for CPU-heavy work that must not run on a shard thread
// (k-means, segment writing, compaction, blocking file operations). Safe for concurrent use.

#include "engine/core/unique_function.hpp"

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace puffer {

class thread_pool {
public:
    // thread_count == 0 means no workers: submitted work then runs in the submitting thread's
    // next parallel_for or not at all; used only by tests that want everything inline.
    // nice_increment > 0 lowers the workers' scheduling priority (nice), for background work.
    explicit thread_pool(std::size_t thread_count, int nice_increment = 0);
    ~thread_pool();
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    std::size_t thread_count() const { return threads_.size(); }

    // Runs task on some worker, in submission order per worker availability.
    void submit(unique_function<void()> task);

    // Calls fn(i) for every i in [0, count), on the calling thread and on idle workers, and
    // returns when all calls have returned. The caller always makes progress by itself, so
    // this may be used from inside a pool task without deadlock.
    void parallel_for(std::size_t count, const std::function<void(std::size_t)>& fn);

    // Stops accepting work and joins the workers. Queued tasks still run unless discard_queued,
    // in which case they are destroyed unrun (their captures released).
    void shutdown(bool discard_queued = false);

    // Returns when no task is queued or running. Tasks submitted meanwhile are waited for too;
    // work a task hands to another thread (which may submit more) is not.
    void wait_idle();

private:
    void run();

    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable idle_;
    std::size_t running_ = 0;  // tasks taken from the queue and not yet returned
    std::deque<unique_function<void()>> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

// Calls fn(i) for i in [0, count) through pool, or inline when pool is null.
void parallel_for(thread_pool* pool, std::size_t count, const std::function<void(std::size_t)>& fn);

}  // namespace puffer
