#pragma once
// One shard: a thread (pinned when asked) that owns an io_uring ring, a cluster cache, a query
// executor and the collections whose name hashes to it. Other threads hand it work through an
// inbox (a post to an empty inbox wakes the ring). Only the shard thread touches its
// collections, ring, cache and executor: no locks on the query path. Shards also send each other
// parts of large searches (executor), through the same inbox.

#include "engine/collection/collection.hpp"
#include "engine/collection/context.hpp"
#include "engine/shard/report.hpp"
#include "engine/query/executor.hpp"

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
    std::size_t inbox_max = 1u << 16;  // posts from outside beyond this are refused (busy)
    int cpu = -1;                      // pin to this CPU, or -1
    // Before sleeping in the ring, an idle shard polls its inbox and ring this long. Waking a
    // sleeping thread costs ~100 us on a VM whose idle vCPUs halt (measured here with the
    // haltpoll cpuidle driver); polling keeps request latency at the cost of some idle CPU.
    std::uint32_t idle_poll_us = 200;
    query::executor_options executor;
};

class shard final : public collection::context, public query::host {
public:
    shard(const shard_options& options, std::unique_ptr<io::ring> ring, thread_pool& pool, io::env& env);
    ~shard() override;
    shard(const shard&) = delete;
    shard& operator=(const shard&) = delete;

    // The other shards, for parts of searches; set before start. REQUIRES: includes this one.
    void set_peers(std::vector<shard*> peers) { peers_ = std::move(peers); }
    void start();
    // Refuses posts from outside from now on; the shard keeps running what it has, and the
    // parts other shards send it, until stop().
    void stop_accepting();
    // Runs what is queued, every search and every I/O in flight to completion, then joins the
    // thread. Call stop_accepting() on every shard first, so none ends while another still
    // sends it parts.
    void stop();

    // Thread-safe.
    bool post(unique_function<void()> task) override;
    void background(unique_function<void()> work) override;
    thread_pool* pool() override { return &pool_; }
    io::env& env() override { return env_; }
    bool post_to(std::size_t shard, void (*fn)(query::executor&, void*), void* arg) override;

    // Shard-local: what this shard has done since it started, and what waits in its inbox.
    shard_report make_report();

    // Shard-local.
    io::ring& ring() override { return *ring_; }
    query::cluster_cache& cache() override { return cache_; }
    query::executor& executor() { return executor_; }
    void forget_segment(std::uint64_t segment_uid) override;
    std::size_t shard_index() const override { return options_.index; }
    std::size_t shard_count() const override { return peers_.size(); }
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
    // Queues task; from outside (bounded, refused once stopping) or from a shard (never refused
    // until this shard has ended).
    bool enqueue(unique_function<void()> task, bool from_shard);
    bool quiescent() const;

    shard_options options_;
    std::unique_ptr<io::ring> ring_;
    thread_pool& pool_;
    io::env& env_;
    query::cluster_cache cache_;
    query::executor executor_;
    std::vector<shard*> peers_;
    std::unordered_map<std::string, std::shared_ptr<collection::collection>> collections_;
    std::unordered_set<std::string> names_creating_;
    std::unordered_map<std::string, std::weak_ptr<collection::collection>> names_leaving_;

    std::mutex inbox_mutex_;
    std::vector<unique_function<void()>> inbox_;
    bool accepting_ = true;  // guarded by inbox_mutex_
    bool ended_ = false;     // guarded by inbox_mutex_: the thread has left its loop
    std::atomic<bool> inbox_nonempty_{false};
    std::atomic<bool> sleeping_{false};  // the shard is (about to be) blocked in its ring
    std::atomic<bool> stop_requested_{false};
    std::thread thread_;
};

}  // namespace puffer::shard
