#pragma once
// The database: a data directory (LOCKed, one server per directory), the shards, the background
// pool, and routing of every call to the shard that owns the collection (a stable hash of its
// name modulo the shard count). The engine's C++ API; net/ calls it.
//
// Every method is thread-safe and asynchronous: done runs exactly once, on the owning shard's
// thread (or on the caller's thread when the call is refused before reaching a shard: bad name,
// shutting down, shard inbox full).

#include "engine/collection/collection.hpp"
#include "engine/collection/types.hpp"
#include "engine/db/snapshots.hpp"
#include "engine/query/executor.hpp"
#include "engine/query/request.hpp"
#include "engine/shard/report.hpp"
#include "engine/core/point_batch.hpp"
#include "engine/core/result.hpp"
#include "engine/core/thread_pool.hpp"
#include "engine/core/unique_function.hpp"
#include "engine/io/env.hpp"
#include "engine/io/ring.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace puffer::shard {
class shard;
}

namespace puffer::db {

struct database_options {
    std::string data_dir = "./data";
    std::size_t shards = 0;              // 0: one per core
    std::size_t background_threads = 0;  // 0: one per core
    std::size_t cache_bytes = std::size_t{1} << 30;  // split evenly between shards
    bool use_uring = true;               // false, or io_uring unavailable: synchronous ring
    bool pin_shards = true;
    collection::options collection;
    query::executor_options executor;    // its dma alignment is set from the data directory
    io::env* env = nullptr;              // null: the real file system
    // Tests: makes the ring of shard i (overrides use_uring).
    std::function<std::unique_ptr<io::ring>(std::size_t)> make_ring;
    // Offline restore at start (puffer-server --restore): the collection restore_as (empty: the
    // name in the snapshot) is restored from this archive before any collection opens; start
    // fails if it cannot be (the collection exists, the archive is damaged).
    std::string restore_file;
    std::string restore_as;
};

// The I/O the database really uses, decided at start: ring is "io_uring", "sync ring"
// (io_uring unavailable or not asked for), the name of a ring a test supplied, or a mix named
// shard by shard; segment_reads is "O_DIRECT" (direct mode: checked on the data directory at
// start) or "buffered (mmap)".
struct io_report {
    std::string ring;
    std::string segment_reads;
};

// Collection names that may reach a path: [A-Za-z0-9_-]{1,64}.
bool valid_collection_name(std::string_view name);

class database {
public:
    [[nodiscard]] static result<std::unique_ptr<database>> open(database_options options);
    ~database();
    database(const database&) = delete;
    database& operator=(const database&) = delete;

    void create_collection(std::string name, std::size_t dimension, metric m, unique_function<void(status)> done);
    // With payload paths left out of the attribute index (filters on them are refused): at most
    // format::unindexed_fields_max dotted paths of 1 to 256 bytes, no empty part, not "id".
    void create_collection(std::string name, std::size_t dimension, metric m, std::vector<std::string> unindexed_fields,
                           unique_function<void(status)> done);
    void create_collection(std::string name, std::size_t dimension, metric m, collection::create_settings settings,
                           unique_function<void(status)> done);
    void drop_collection(std::string name, unique_function<void(status)> done);
    // Every collection, by name; an error (busy, shutting_down) when a shard could not be asked,
    // rather than a list that leaves its collections out.
    void list_collections(unique_function<void(result<std::vector<collection::collection_info>>)> done);
    // The stats of every collection, by name (one visit to each shard; for /metrics).
    void all_stats(unique_function<void(result<std::vector<collection::collection_stats>>)> done);
    // Each shard's report (its ring's and reads' counters, inbox depth, cache), by index.
    void shard_reports(unique_function<void(result<std::vector<shard::shard_report>>)> done);
    void upsert(std::string name, point_batch batch, unique_function<void(status)> done);
    void remove(std::string name, std::vector<std::string> ids, unique_function<void(result<std::size_t>)> done);
    void search(std::string name, query::search_request request,
                unique_function<void(result<query::search_response>)> done);
    // Live points of the collection that match filter (null: all of them), exact.
    void count(std::string name, std::shared_ptr<const index::filter> filter,
               unique_function<void(result<std::size_t>)> done);
    // Deletes every live point that matches filter (required: null is invalid_argument), as one
    // write; done gets how many.
    void remove_matching(std::string name, std::shared_ptr<const index::filter> filter,
                         unique_function<void(result<std::size_t>)> done);
    // Sets or replaces payload fields of the points chosen by ids or a filter (their vectors
    // kept); done gets how many points changed.
    void patch_payloads(std::string name, collection::collection::payload_patch patch,
                        unique_function<void(result<std::size_t>)> done);
    // Live points by id (1 to query::get_ids_max ids), with payloads and vectors as asked, at
    // most bytes_max of them together (0: no bound; else invalid_argument).
    void get_points(std::string name, std::vector<std::string> ids, bool include_payload, bool include_vector,
                    std::size_t bytes_max, unique_function<void(result<query::get_response>)> done);
    // One page of a scroll through the collection's live points (query::scroll_request).
    void scroll(std::string name, query::scroll_request request,
                unique_function<void(result<query::scroll_response>)> done);
    // Searches of one collection at once (1 to query::batch_searches_max), answered in order.
    void search_batch(std::string name, std::vector<query::search_request> requests,
                      unique_function<void(result<query::batch_response>)> done);
    // Measures the recall of the collection's searches now (query::recall_request).
    void recall(std::string name, query::recall_request request,
                unique_function<void(result<query::recall_response>)> done);
    void flush(std::string name, unique_function<void(status)> done);

    // Snapshots (snapshots.hpp). create: a point-in-time snapshot of the collection now, holding
    // every write acknowledged before the call and no part of a later one; done gets its info.
    void create_snapshot(std::string name, unique_function<void(result<snapshot_info>)> done);
    // A collection's snapshots, oldest first; not_found only when neither the collection nor any
    // snapshot of it exists (snapshots outlive their collection).
    void list_snapshots(std::string name, unique_function<void(result<std::vector<snapshot_info>>)> done);
    void open_snapshot(std::string name, std::string id,
                       unique_function<void(result<std::unique_ptr<snapshot_archive>>)> done);
    void delete_snapshot(std::string name, std::string id, unique_function<void(status)> done);
    // Restores collection `name` (which must not exist) from an archive, then serves it.
    void restore_collection(std::string name, std::unique_ptr<io::byte_source> archive,
                            unique_function<void(status)> done);
    void compact(std::string name, unique_function<void(status)> done);
    void stats(std::string name, unique_function<void(result<collection::collection_stats>)> done);
    // Empties every shard's cluster cache (cold-read benchmarks).
    void clear_caches(unique_function<void()> done);
    // Blocks until the background pool has nothing queued or running: the files a finished
    // compaction retires are removed by then (tests and tools that look at the directory).
    void wait_background();

    // Refuses new calls (errc::shutting_down), lets calls in flight finish, stops the shards and
    // the background pool. Idempotent; the destructor calls it.
    void shutdown();

    std::size_t shard_count() const { return shards_.size(); }
    std::size_t shard_of(std::string_view name) const;
    const char* io_backend() const;
    const io_report& io() const { return io_; }
    const database_options& options() const { return options_; }

private:
    explicit database(database_options options);
    // Calls part(shard) on every shard's thread and gathers what the calls return.
    template <class T, class Part>
    void gather_shards(Part part, unique_function<void(result<std::vector<T>>)> done);
    // Calls of(collection) for every collection on its shard and gathers the results.
    template <class T, class Of>
    void gather_collections(Of of, unique_function<void(result<std::vector<T>>)> done);
    [[nodiscard]] status start();
    [[nodiscard]] status restore_offline();

    // Runs fn(shard, name, done) on the shard that owns name, or answers done with the refusal
    // (bad name, shutting down, inbox full).
    template <class Done, class Fn>
    void on_owner(std::string name, Done done, Fn fn);
    // Runs fn(collection, done) on the owning shard, or answers not_found / the refusal.
    template <class Done, class Fn>
    void route(std::string name, Done done, Fn fn);
    // Runs fn(shard, collection, done) on the owning shard for a collection that is open (not
    // failed), or answers not_found / the collection's failure / the refusal.
    template <class Done, class Fn>
    void route_open(std::string name, Done done, Fn fn);

    database_options options_;
    io::env* env_ = nullptr;
    std::unique_ptr<io::file_lock> lock_;
    std::unique_ptr<thread_pool> pool_;
    std::vector<std::unique_ptr<shard::shard>> shards_;
    std::atomic<bool> shutting_down_{false};
    // Posts collection::tick to every shard's collections every tick_interval, until shutdown;
    // it runs only for the idle flush (collection::options::idle_flush_ms != 0).
    void run_ticker();
    std::thread ticker_;
    std::mutex ticker_mutex_;
    std::condition_variable ticker_wake_;
    bool ticker_stop_ = false;  // guarded by ticker_mutex_
    io_report io_;
};

}  // namespace puffer::db
