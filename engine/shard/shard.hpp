#pragma once
// One shard: a thread (pinned when asked) that owns an io_uring ring, a cluster cache and the
// collections whose name hashes to it. Other threads hand it work through post() (an inbox
// drained by the shard; a post to an empty inbox wakes the ring). Only the shard thread touches
// its collections, ring and cache: no locks on the query path.

#include "engine/collection/collection.hpp"
#include "engine/collection/context.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace puffer::shard {

struct shard_options {
    std::size_t index = 0;
    std::size_t cache_bytes = 256u << 20;
    std::size_t inbox_max = 1u << 16;  // posts beyond this are refused (the caller answers busy)
    int cpu = -1;                      // pin to this CPU, or -1
    // Before sleeping in the ring, an idle shard polls its inbox and ring this long. Waking a
    // sleeping thread costs ~100 us on a VM whose idle vCPUs halt (measured here with the
    // haltpoll cpuidle driver); polling keeps request latency at the cost of some idle CPU.
    std::uint32_t idle_poll_us = 200;
};

class shard final : public collection::context {
public:
    shard(const shard_options& options, std::unique_ptr<io::ring> ring, thread_pool& pool, io::env& env);
    ~shard() override;
    shard(const shard&) = delete;
    shard& operator=(const shard&) = delete;

    void start();
    // Runs what is queued and every I/O in flight to completion, then joins the thread. Posts
    // after this starts are refused.
    void stop();

    // Thread-safe.
    bool post(unique_function<void()> task) override;
    void background(unique_function<void()> work) override;
    thread_pool* pool() override { return &pool_; }
    io::env& env() override { return env_; }

    // Shard-local.
    io::ring& ring() override { return *ring_; }
    collection::cluster_cache& cache() override { return cache_; }
    std::unordered_map<std::string, std::shared_ptr<collection::collection>>& collections() { return collections_; }
    // Names with a create in progress (their directories are being made).
    std::unordered_set<std::string>& names_creating() { return names_creating_; }
    // Collections being deleted, from the start of the delete until the collection object is
    // gone: its directory is being renamed away, and then its background work (a segment
    // build, a MANIFEST, a file removal) may still be running and writes by path into that
    // directory. The work holds the object, so an entry that has not expired blocks a second
    // delete and a create of the name. Expired entries are dropped lazily.
    std::unordered_map<std::string, std::weak_ptr<collection::collection>>& names_leaving() { return names_leaving_; }
    bool is_leaving(const std::string& name) const
    {
        auto it = names_leaving_.find(name);
        return it != names_leaving_.end() && !it->second.expired();
    }

    std::size_t index() const { return options_.index; }
    bool on_shard_thread() const { return std::this_thread::get_id() == thread_.get_id(); }
    const char* io_backend() const { return ring_->name(); }

private:
    void run();

    shard_options options_;
    std::unique_ptr<io::ring> ring_;
    thread_pool& pool_;
    io::env& env_;
    collection::cluster_cache cache_;
    std::unordered_map<std::string, std::shared_ptr<collection::collection>> collections_;
    std::unordered_set<std::string> names_creating_;
    std::unordered_map<std::string, std::weak_ptr<collection::collection>> names_leaving_;

    std::mutex inbox_mutex_;
    std::vector<unique_function<void()>> inbox_;
    bool stopping_ = false;  // guarded by inbox_mutex_
    std::atomic<bool> inbox_nonempty_{false};
    std::atomic<bool> sleeping_{false};  // the shard is (about to be) blocked in its ring
    std::atomic<bool> stop_requested_{false};
    std::thread thread_;
};

}  // namespace puffer::shard
