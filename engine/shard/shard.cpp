#include "engine/shard/shard.hpp"

#include "engine/core/log.hpp"

#include <chrono>
#include <thread>
#include <pthread.h>
#include <sched.h>

namespace puffer::shard {

shard::shard(const shard_options& options, std::unique_ptr<io::ring> ring, thread_pool& pool, io::env& env)
    : options_(options), ring_(std::move(ring)), pool_(pool), env_(env), cache_(options.cache_bytes),
      executor_(*this, options.executor)
{
    // The cache arena is where cluster reads land: register it so they are fixed-buffer reads.
    // io_uring takes at most 1 GiB per buffer, so the arena is registered in pieces.
    const auto& arena = cache_.arena();
    constexpr std::size_t piece_max = std::size_t{1} << 30;
    std::vector<std::span<std::byte>> pieces;
    for (std::size_t at = 0; at < arena.capacity_bytes(); at += piece_max) {
        pieces.emplace_back(arena.base() + at, std::min(piece_max, arena.capacity_bytes() - at));
    }
    if (!pieces.empty() && !ring_->register_buffers(pieces)) {
        PUFFER_LOG(info, "shard %zu: %s ring without registered buffers", options_.index, ring_->name());
    }
}

shard::~shard()
{
    stop_accepting();
    stop();
}

void shard::start()
{
    PUFFER_ASSERT(!peers_.empty());
    PUFFER_ASSERT(peers_[options_.index] == this);
    thread_ = std::thread([this] { run(); });
}

void shard::stop_accepting()
{
    std::lock_guard lock(inbox_mutex_);
    accepting_ = false;
}

void shard::stop()
{
    stop_requested_.store(true);
    ring_->wake();
    if (thread_.joinable()) {
        thread_.join();
    }
}

bool shard::enqueue(unique_function<void()> task, bool from_shard)
{
    bool was_empty = false;
    {
        std::lock_guard lock(inbox_mutex_);
        if (ended_ || (!from_shard && (!accepting_ || inbox_.size() >= options_.inbox_max))) {
            return false;
        }
        was_empty = inbox_.empty();
        inbox_.push_back(std::move(task));
        inbox_nonempty_.store(true);
    }
    // Only a shard about to block in its ring needs the eventfd: one that is running or polling
    // finds the task by itself, and the syscall is saved. (sleeping_ and inbox_nonempty_ are
    // both sequentially consistent: either this sees the shard going to sleep, or the shard
    // sees this task before it sleeps.)
    if (was_empty && sleeping_.load()) {
        ring_->wake();
    }
    return true;
}

bool shard::post(unique_function<void()> task)
{
    return enqueue(std::move(task), false);
}

bool shard::post_to(std::size_t target, void (*fn)(query::executor&, void*), void* arg)
{
    PUFFER_ASSERT(target < peers_.size());
    shard* s = peers_[target];
    return s->enqueue([s, fn, arg] { fn(s->executor_, arg); }, true);
}

shard_report shard::make_report()
{
    shard_report r;
    r.index = options_.index;
    r.ring = ring_->counters();
    r.reads = executor_.counters();
    {
        std::lock_guard lock(inbox_mutex_);
        r.inbox_depth = inbox_.size();
    }
    r.cache_bytes = cache_.bytes();
    r.cache_budget_bytes = cache_.budget_bytes();
    r.searches_active = executor_.searches_active();
    return r;
}

void shard::background(unique_function<void()> work)
{
    pool_.submit(std::move(work));
}

void shard::forget_segment(std::uint64_t segment_uid)
{
    // Every shard may have cached some of its clusters (parts of large searches run anywhere).
    for (std::size_t i = 0; i < peers_.size(); ++i) {
        if (i == options_.index) {
            executor_.forget_segment(segment_uid);
        } else {
            (void)post_to(
                i, [](query::executor& e, void* uid) { e.forget_segment(reinterpret_cast<std::uintptr_t>(uid)); },
                reinterpret_cast<void*>(static_cast<std::uintptr_t>(segment_uid)));
        }
    }
}

bool shard::quiescent() const
{
    return ring_->inflight() == 0 && executor_.idle();
}

void shard::run()
{
    pthread_setname_np(pthread_self(), ("shard-" + std::to_string(options_.index)).c_str());
    if (options_.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(options_.cpu, &set);
        if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
            PUFFER_LOG(warn, "shard %zu: could not pin to CPU %d", options_.index, options_.cpu);
        }
    }
    std::vector<unique_function<void()>> tasks;
    io::completion completions[256];
    for (;;) {
        tasks.clear();
        {
            std::lock_guard lock(inbox_mutex_);
            tasks.swap(inbox_);
            inbox_nonempty_.store(false, std::memory_order_relaxed);
        }
        for (auto& t : tasks) {
            t();
        }
        bool idle = tasks.empty();
        if (idle && !stop_requested_.load(std::memory_order_relaxed) && executor_.idle() &&
            executor_.idle_work_waiting()) {
            executor_.run_idle_work();  // low priority: only when nothing else is waiting
            continue;
        }
        if (idle && options_.idle_poll_us > 0 && !stop_requested_.load(std::memory_order_relaxed)) {
            // Poll before sleeping: new work or completions picked up here skip a wake-up.
            auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(options_.idle_poll_us);
            std::size_t n = 0;
            while (!inbox_nonempty_.load(std::memory_order_acquire)) {
                n = ring_->reap(completions, false);
                if (n > 0 || std::chrono::steady_clock::now() >= deadline) {
                    break;
                }
                std::this_thread::yield();  // a spin that gives way when the CPU is wanted elsewhere
            }
            for (std::size_t i = 0; i < n; ++i) {
                io::request_of(completions[i].tag)->on_complete(completions[i].result);
            }
            if (n > 0 || inbox_nonempty_.load(std::memory_order_acquire)) {
                continue;
            }
        }
        if (idle && stop_requested_.load() && quiescent()) {
            std::lock_guard lock(inbox_mutex_);
            if (inbox_.empty()) {
                ended_ = true;  // from here on, posts to this shard are refused
                break;
            }
            continue;
        }
        if (idle && stop_requested_.load()) {
            // Searches still wait for parts from other shards: poll rather than sleep.
            std::size_t n = ring_->reap(completions, false);
            for (std::size_t i = 0; i < n; ++i) {
                io::request_of(completions[i].tag)->on_complete(completions[i].result);
            }
            std::this_thread::yield();
            continue;
        }
        if (idle) {
            // Samples not yet re-run go when nothing is in progress (a search waiting for a part
            // from another shard wakes this one again): a sleeping shard holds no old views for them.
            if (executor_.idle()) {
                executor_.drop_idle_work();
            }
            sleeping_.store(true);
            if (inbox_nonempty_.load()) {
                sleeping_.store(false);
                continue;
            }
        }
        std::size_t n = ring_->reap(completions, idle);
        sleeping_.store(false);
        for (std::size_t i = 0; i < n; ++i) {
            io::request_of(completions[i].tag)->on_complete(completions[i].result);
        }
    }
    // Release collections on this thread (their destructors close files).
    collections_.clear();
    cache_.clear();
}

}  // namespace puffer::shard
