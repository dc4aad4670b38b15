#pragma once
// Blocking wrappers over the asynchronous database API, for tests and tools.

#include "engine/db/database.hpp"

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <thread>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace puffer::test {

// A one-shot result slot. get() spins briefly before sleeping: on a VM whose idle vCPUs halt, a
// sleeping thread takes ~100 us to wake, more than a warm search takes.
template <class T>
class waiter {
public:
    auto callback()
    {
        return [s = state_](T value) mutable {
            s->value.emplace(std::move(value));
            s->ready.store(true, std::memory_order_release);
            s->ready.notify_one();
        };
    }
    // How long get() spins before it sleeps: PUFFER_WAIT_SPIN_US (default 2000). Benchmarks with
    // more waiting threads than cores set 0, so that waiting threads leave the cores to the shards.
    static std::chrono::microseconds spin()
    {
        static const std::chrono::microseconds us{[] {
            const char* v = std::getenv("PUFFER_WAIT_SPIN_US");
            return v != nullptr ? std::atol(v) : 2000L;
        }()};
        return us;
    }

    T get()
    {
        auto deadline = std::chrono::steady_clock::now() + spin();
        while (!state_->ready.load(std::memory_order_acquire)) {
            if (std::chrono::steady_clock::now() >= deadline) {
                state_->ready.wait(false, std::memory_order_acquire);
                break;
            }
            std::this_thread::yield();  // a spin that gives way when the CPU is wanted elsewhere
        }
        return std::move(*state_->value);
    }

private:
    struct state {
        std::atomic<bool> ready{false};
        std::optional<T> value;
    };
    std::shared_ptr<state> state_ = std::make_shared<state>();
};

inline status create(db::database& d, const std::string& name, std::size_t dimension, metric m = metric::l2)
{
    waiter<status> w;
    d.create_collection(name, dimension, m, w.callback());
    return w.get();
}

// With payload paths left out of the attribute index.
inline status create(db::database& d, const std::string& name, std::size_t dimension, metric m,
                     std::vector<std::string> unindexed_fields)
{
    waiter<status> w;
    d.create_collection(name, dimension, m, std::move(unindexed_fields), w.callback());
    return w.get();
}

// With create settings (quantization, unindexed fields).
inline status create(db::database& d, const std::string& name, std::size_t dimension, metric m,
                     collection::create_settings settings)
{
    waiter<status> w;
    d.create_collection(name, dimension, m, std::move(settings), w.callback());
    return w.get();
}

inline status drop(db::database& d, const std::string& name)
{
    waiter<status> w;
    d.drop_collection(name, w.callback());
    return w.get();
}

inline status upsert(db::database& d, const std::string& name, point_batch batch)
{
    waiter<status> w;
    d.upsert(name, std::move(batch), w.callback());
    return w.get();
}

inline result<std::size_t> remove(db::database& d, const std::string& name, std::vector<std::string> ids)
{
    waiter<result<std::size_t>> w;
    d.remove(name, std::move(ids), w.callback());
    return w.get();
}

inline result<std::size_t> remove_matching(db::database& d, const std::string& name,
                                           std::shared_ptr<const index::filter> f)
{
    waiter<result<std::size_t>> w;
    d.remove_matching(name, std::move(f), w.callback());
    return w.get();
}

inline result<std::size_t> patch(db::database& d, const std::string& name, collection::collection::payload_patch p)
{
    waiter<result<std::size_t>> w;
    d.patch_payloads(name, std::move(p), w.callback());
    return w.get();
}

inline result<query::get_response> get(db::database& d, const std::string& name, std::vector<std::string> ids,
                                       bool include_payload = true, bool include_vector = true)
{
    waiter<result<query::get_response>> w;
    d.get_points(name, std::move(ids), include_payload, include_vector, 0, w.callback());
    return w.get();
}

inline result<query::scroll_response> scroll(db::database& d, const std::string& name, query::scroll_request r)
{
    waiter<result<query::scroll_response>> w;
    d.scroll(name, std::move(r), w.callback());
    return w.get();
}

inline result<query::search_response> search(db::database& d, const std::string& name,
                                                  query::search_request r)
{
    waiter<result<query::search_response>> w;
    d.search(name, std::move(r), w.callback());
    return w.get();
}

inline result<query::search_response> search(db::database& d, const std::string& name,
                                                  std::vector<float> v, std::size_t k, std::size_t nprobe = 0,
                                                  bool include_payload = false)
{
    query::search_request r;
    r.vector = std::move(v);
    r.top_k = k;
    r.nprobe = nprobe;
    r.include_payload = include_payload;
    return search(d, name, std::move(r));
}

inline result<query::batch_response> search_batch(db::database& d, const std::string& name,
                                                 std::vector<query::search_request> requests)
{
    waiter<result<query::batch_response>> w;
    d.search_batch(name, std::move(requests), w.callback());
    return w.get();
}

inline result<query::recall_response> recall(db::database& d, const std::string& name, query::recall_request r)
{
    waiter<result<query::recall_response>> w;
    d.recall(name, std::move(r), w.callback());
    return w.get();
}

inline status flush(db::database& d, const std::string& name)
{
    waiter<status> w;
    d.flush(name, w.callback());
    return w.get();
}

inline status compact(db::database& d, const std::string& name)
{
    waiter<status> w;
    d.compact(name, w.callback());
    return w.get();
}

inline result<collection::collection_stats> stats(db::database& d, const std::string& name)
{
    waiter<result<collection::collection_stats>> w;
    d.stats(name, w.callback());
    return w.get();
}

inline result<std::vector<collection::collection_info>> list(db::database& d)
{
    waiter<result<std::vector<collection::collection_info>>> w;
    d.list_collections(w.callback());
    return w.get();
}

// Waits until the collection runs no flush and no compaction (those that follow a flush finish
// after the flush's answer, and may change which clusters a search probes).
inline void wait_settled(db::database& d, const std::string& name)
{
    for (;;) {
        auto st = stats(d, name);
        if (!st || (!st->flushing && !st->compacting)) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

inline result<std::vector<shard::shard_report>> shard_reports(db::database& d)
{
    waiter<result<std::vector<shard::shard_report>>> w;
    d.shard_reports(w.callback());
    return w.get();
}

// Checksum failures the shards' searches have seen so far, all shards together.
inline std::uint64_t crc_failures(db::database& d)
{
    auto reports = shard_reports(d);
    std::uint64_t n = 0;
    for (const auto& r : reports ? *reports : std::vector<shard::shard_report>{}) {
        n += r.reads.crc_failures;
    }
    return n;
}

inline void clear_caches(db::database& d)
{
    auto p = std::make_shared<std::promise<void>>();
    auto f = p->get_future();
    d.clear_caches([p] { p->set_value(); });
    f.get();
}

// A batch of n points "prefix<i>" for i in [first, first + n), vectors from make(i, j).
template <class Make>
point_batch make_batch(const std::string& prefix, std::size_t first, std::size_t n, std::size_t dimension,
                       Make make, bool payloads = false)
{
    point_batch b;
    b.dimension = dimension;
    for (std::size_t i = first; i < first + n; ++i) {
        b.ids.push_back(prefix + std::to_string(i));
        for (std::size_t j = 0; j < dimension; ++j) {
            b.vectors.push_back(make(i, j));
        }
        if (payloads) {
            b.payloads.push_back("{\"i\":" + std::to_string(i) + "}");
        }
    }
    return b;
}

}  // namespace puffer::test
