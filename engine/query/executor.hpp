#pragma once
// Runs searches: plans them (planner), scans staging rows exactly, and scans the planned
// clusters, from the shard's cluster cache or read with one aligned O_DIRECT read each on the
// shard's ring (shared by every search waiting for the same cluster, verified against its
// crc32c, then cached). A plan large enough is split among all shards by cluster (each cluster
// always goes to the same shard, so each is cached once): every shard scans its part with its
// own ring and cache into a partial top-k, and the shard that received the search merges them
// and attaches ids and payloads (one more batch of reads for payloads in segment files).
//
// A filtered search first evaluates its filter into the bitsets of matching live rows
// (filtering.hpp), plans from their counts (planner::make_filtered) and scans matching rows only.
//
// One executor per shard; everything here runs on that shard's thread. Work for another shard
// travels as a message to it and comes back as a value (Seastar's invoke_on). Memory is reused
// across searches: searches, parts and reads come from pools bounded by the _max constants.

#include "engine/core/result.hpp"
#include "engine/core/topk.hpp"
#include "engine/core/unique_function.hpp"
#include "engine/index/ivf.hpp"
#include "engine/io/env.hpp"
#include "engine/io/ring.hpp"
#include "engine/query/cluster_cache.hpp"
#include "engine/query/planner.hpp"
#include "engine/query/read_view.hpp"
#include "engine/query/request.hpp"
#include "engine/query/wait_queue.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace puffer::query {

class executor;

// What an executor needs from the shard it runs on.
class host {
public:
    virtual ~host() = default;
    // Shard-local.
    virtual io::ring& ring() = 0;
    virtual cluster_cache& cache() = 0;
    virtual std::size_t shard_index() const = 0;
    virtual std::size_t shard_count() const = 0;
    // Thread-safe: runs fn(that shard's executor, arg) on shard `shard`'s thread. A message is a
    // function and a pointer, so sending one allocates nothing. Never refused for a full inbox
    // (these messages are bounded by the searches in flight); false only when that shard has
    // ended, and then fn does not run.
    virtual bool post_to(std::size_t shard, void (*fn)(executor&, void*), void* arg) = 0;
    // Thread-safe: runs work on the background pool (blocking reads), with this env.
    virtual void background(unique_function<void()> work) = 0;
    virtual io::env& env() = 0;
};

struct executor_options {
    std::size_t dma_alignment_bytes = 4096;
    // A plan that scans at least this many bytes of vectors is split among the shards. Below it,
    // sending the parts costs more than it saves (docs/results.md).
    std::size_t scatter_bytes_min = std::size_t{512} << 10;
    // The share of single searches re-run exactly afterwards, when the shard is idle and one at
    // a time, to estimate the recall live traffic gets (search_counters::recall_estimate).
    // 0: none.
    double recall_sample = 0;
    // Re-runs take at most this share of a shard's time: after one that took t, the next waits
    // t * (1 / share - 1). In (0, 1].
    double recall_rerun_share = 0.05;
};

using search_done = unique_function<void(result<search_response>)>;
using batch_done = unique_function<void(result<batch_response>)>;
using recall_done = unique_function<void(result<recall_response>)>;
using fetch_done = unique_function<void(result<std::vector<stored_point>>)>;
using scroll_done = unique_function<void(result<scroll_response>)>;

// What this shard's searches read, since it started (for /metrics). Shard-local.
struct executor_counters {
    std::uint64_t cluster_reads = 0;       // from disk (cache misses), completed
    std::uint64_t cluster_read_bytes = 0;  // of those that succeeded
    std::uint64_t payload_reads = 0;
    std::uint64_t read_errors = 0;         // failed or short reads, clusters and payloads
    std::uint64_t crc_failures = 0;        // reads whose checksum did not match
    std::uint64_t row_reads = 0;           // pages of float vectors read to re-rank candidates
};

class executor {
public:
    // Searches at once on one shard; more get errc::busy.
    static constexpr std::size_t searches_max = 4096;
    // Cluster reads in flight on one shard's ring; parts that need more wait for one to finish.
    static constexpr std::size_t cluster_reads_max = 512;
    // Payload reads in flight on one shard's ring; searches that need more wait their turn.
    static constexpr std::size_t payload_reads_max = 2048;
    // Page reads in flight on one shard's ring to re-rank candidates; searches that need more
    // wait their turn (one that alone needs more goes when nothing else is in flight).
    static constexpr std::size_t row_reads_max = 2048;
    // Reads in flight for one fetch; it issues the next as one finishes.
    static constexpr std::size_t fetch_reads_max = 64;
    // Sampled searches waiting for their exact re-run; more samples are dropped meanwhile.
    static constexpr std::size_t recall_samples_queued_max = 64;


    executor(host& h, const executor_options& options);
    ~executor();
    executor(const executor&) = delete;
    executor& operator=(const executor&) = delete;

    // Searches view for request; done runs on this shard. The view is held until done.
    void search(std::shared_ptr<const read_view> view, search_request request, search_done done);
    // Searches view for every request (1 to batch_searches_max) at once: each cluster any of them
    // probes is read and scanned once for all of them. An invalid request fails the whole batch
    // with invalid_argument naming it ("searches[3]: ..."); answers come in order.
    void search_batch(std::shared_ptr<const read_view> view, std::vector<search_request> requests, batch_done done);

    // Measures the recall of the view's searches (recall.cpp): the queries given, or stored points
    // sampled from the view (read off the shard), searched as asked and exhaustively.
    void measure_recall(std::shared_ptr<const read_view> view, recall_request request, recall_done done);

    // Reads rows of view back (fetch.cpp): ids, and payloads and vectors as asked, in the order
    // given. A read or check that fails fails the whole fetch.
    void fetch(std::shared_ptr<const read_view> view, fetch_request request, fetch_done done);
    // One page of a scroll over view (fetch.cpp).
    void scroll(std::shared_ptr<const read_view> view, scroll_request request, scroll_done done);

    // Low-priority work (recall re-runs): the shard runs one piece when its inbox is empty and no
    // search is in progress, one at a time, and drops what is left when it goes to sleep.
    bool idle_work_waiting() const
    {
        return !sample_running_ && !samples_.empty() && std::chrono::steady_clock::now() >= next_sample_at_;
    }
    void run_idle_work();
    void drop_idle_work() { samples_.clear(); }

    // The shard's cluster cache drops a segment's clusters (the segment left its collection).
    void forget_segment(std::uint64_t segment_uid);

    // No search and no part of one is in progress here (a shard may end only when idle).
    bool idle() const { return searches_active_ == 0 && parts_active_ == 0; }
    const executor_counters& counters() const { return counters_; }
    std::size_t searches_active() const { return searches_active_; }

    struct search_op;
    struct part;
    class cluster_read;
    class payload_read;
    struct fetch_op;
    class fetch_read;
    class row_read;

private:
    search_op* acquire_search();
    void release_search(search_op* op);
    part* acquire_part();
    void release_part(part* p);

    // search() after prepare().
    // counted: whether it counts in the collection's search counters (a recall re-run does not).
    void search_prepared(std::shared_ptr<const read_view> view, search_request request, search_done done,
                         bool counted = true);
    // A batch holding filtered searches: each runs as a search of its own, answers gathered.
    void search_filtered_batch(std::shared_ptr<const read_view> view, std::vector<search_request> requests,
                               batch_done done);
    // Checks and normalizes one request; the error's message is prefixed with where.
    [[nodiscard]] status prepare(const read_view& view, search_request& request, const std::string& where);
    // From the plan to the answer: staging scans, parts, merge, ids and payloads.
    void start(search_op& op);
    void scatter(search_op& op);
    // Runs a part on this shard (it may have come from another one).
    void run_part(part& p);
    void advance(part& p);
    void scan_spans(part& p);
    void start_read(part& p, std::uint32_t task_index, const storage::segment& seg, std::uint32_t cluster,
                    bool codes);
    // Scans a task's cluster (its float vectors or codes at data) for every search of the task.
    void scan_task(part& p, std::uint32_t task_index, const std::byte* data);
    cluster_read* find_read(std::uint64_t uid, std::uint32_t cluster, bool codes);
    void read_done(cluster_read& r, std::int64_t result);
    void resume_parked();
    void maybe_finish(part& p);
    // On the search's shard: folds a finished part into its search.
    void part_returned(part& p);
    // rerank.cpp: re-scores a quantized search's candidates with their float vectors (from the
    // mapping, the cache's pages, or page reads on the ring), keeps top_k, then finalizes.
    void rerank(search_op& op);
    void start_row_reads(search_op& op);
    void row_read_done(row_read& r);
    void finish_rerank(search_op& op);
    void resume_rerank_waiters();
    void finalize(search_op& op);
    void start_payloads(search_op& op);
    void payload_done(search_op& op);
    void resume_payload_waiters();
    void reply(search_op& op);
    // recall.cpp: the two batches of a recall measurement, and their comparison.
    void recall_searches(std::shared_ptr<const read_view> view, recall_request request,
                         std::vector<std::vector<float>> queries, recall_done done);

    // recall.cpp: continuous recall. A sampled search's answer is kept (offer_sample) and its
    // exact re-run compared with it when the shard is idle (run_idle_work).
    struct recall_sample {
        std::shared_ptr<const read_view> view;
        search_request request;  // as prepared
        std::vector<std::string> ids;  // what the search answered
    };
    bool sample_this_search();
    void offer_sample(recall_sample sample);

    // fetch.cpp: issues a fetch's next reads (or answers it when none is left in flight).
    void fetch_more(fetch_op& op);
    void fetch_read_done(fetch_read& r, std::int64_t result);

    host& host_;
    executor_options options_;
    planner planner_;
    std::size_t searches_active_ = 0;
    std::size_t parts_active_ = 0;  // parts from other shards being run here
    std::size_t payload_reads_active_ = 0;
    std::size_t row_reads_active_ = 0;
    std::vector<std::unique_ptr<row_read>> row_pool_;
    wait_queue<search_op> rerank_waiters_;     // searches waiting for row read slots
    executor_counters counters_;
    std::vector<std::unique_ptr<search_op>> search_pool_;
    std::vector<std::unique_ptr<part>> part_pool_;
    std::vector<std::unique_ptr<cluster_read>> read_pool_;
    std::vector<std::unique_ptr<payload_read>> payload_pool_;
    std::vector<cluster_read*> reads_active_;  // at most cluster_reads_max
    wait_queue<part> parked_;                  // parts waiting for a read slot
    wait_queue<search_op> payload_waiters_;    // searches waiting for payload read slots
    std::vector<part*> parts_scratch_;         // one per shard while scattering
    struct read_waiter {
        part* p;
        std::uint32_t task_index;
    };
    std::vector<read_waiter> finished_waiters_;  // read_done's scratch
    std::vector<recall_sample> samples_;  // at most recall_samples_queued_max, oldest first
    bool sample_running_ = false;
    std::chrono::steady_clock::time_point next_sample_at_{};
    std::uint64_t sample_rng_ = 0x9E3779B97F4A7C15ull;
};

}  // namespace puffer::query
