#include "engine/query/executor.hpp"

#include "engine/core/aligned_buffer.hpp"
#include "engine/core/assert.hpp"
#include "engine/core/coding.hpp"
#include "engine/core/log.hpp"
#include "engine/query/search_op.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace puffer::query {
namespace {

// Which shard scans cluster c of a segment when a plan is split: always the same one for the
// same share, so each cluster is cached by one shard only and the shards' caches add up. The
// owner (the shard that received the search) takes `owner_share` of the clusters, the others
// equal parts of the rest.
std::size_t affinity(std::uint64_t uid, std::uint32_t cluster, std::size_t owner, std::size_t shards,
                     double owner_share)
{
    std::uint64_t h = (uid * 0x9E3779B97F4A7C15ull) ^ (cluster * 0xC2B2AE3D27D4EB4Full);
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    double u = static_cast<double>(h >> 11) * 0x1p-53;  // uniform in [0, 1)
    if (u < owner_share) {
        return owner;
    }
    auto other = static_cast<std::size_t>((u - owner_share) / (1.0 - owner_share) * static_cast<double>(shards - 1));
    other = std::min(other, shards - 2);
    return other < owner ? other : other + 1;
}

const std::uint64_t* words_or_null(const std::shared_ptr<const bitmap>& b)
{
    return b && !b->empty() ? b->words() : nullptr;
}

}  // namespace

// A part of a plan: the tasks one shard scans, into partial top-k lists (one per search of the
// op). Created and released by the op's shard; between those it belongs to the shard it was
// sent to, which reads the op's view, queries and plan (immutable while parts run, and held
// alive by the op) and writes only the part.
struct executor::part {
    search_op* op = nullptr;  // read only, except on its own shard
    std::size_t origin = 0;
    std::vector<batch_plan::task> tasks;
    std::size_t cursor = 0;   // tasks[0, cursor) are scanned or being read
    std::size_t pending = 0;  // reads this part waits for
    bool parked = false;
    std::vector<topk<std::uint64_t>> heaps;
    search_stats stats;
    std::optional<error> failure;
    std::vector<index::row_span> spans;  // one search: clusters in memory, waiting for scan_spans
    std::vector<std::uint32_t> listed;   // filtered: the matching rows of the cluster being scanned
    index::sq8_query prepared;           // sq8: the query prepared for the cluster being scanned
    std::vector<std::int32_t> dots;      // codes: scan scratch
    index::rabitq_query prepared_bits;   // rabitq: the same
    std::vector<topk<std::uint64_t>> upper;  // rabitq: per search, the top_k smallest upper bounds
    std::vector<float> rotated;          // rabitq: per search, its query rotated (padded dimension)
    std::vector<std::uint32_t> rotated_for;  // rabitq: per search, 1 + the segment it was rotated for

    void fail(const error& e)
    {
        if (!failure) {
            failure = e;
        }
    }
};

// A cluster read on the ring: the aligned superset of the cluster's byte range, into an arena
// block of the shard's cache (a fixed-buffer read) or, when the cache cannot make room, into
// memory of its own (then not cached). Every part that needs the cluster meanwhile waits on it.
class executor::cluster_read final : public io::request {
public:
    explicit cluster_read(executor& e) : exec(e) {}

    std::span<std::byte> buffer() { return {block != nullptr ? block : own.data(), size_bytes}; }
    void on_complete(std::int64_t result) override { exec.read_done(*this, result); }

    executor& exec;
    const storage::segment* seg = nullptr;  // alive while a waiter's view holds it
    std::uint32_t cluster = 0;
    bool codes = false;  // the cluster's codes, not its float vectors
    std::size_t size_bytes = 0;
    std::size_t data_offset = 0;
    std::byte* block = nullptr;
    aligned_buffer own;
    std::vector<read_waiter> waiters;
};

// A payload read on the ring (aligned superset, as for clusters), for one hit of a search.
class executor::payload_read final : public io::request {
public:
    explicit payload_read(executor& e) : exec(e) {}

    void on_complete(std::int64_t result) override
    {
        std::span<std::byte> buf{block != nullptr ? block : own.data(), size_bytes};
        auto range = seg->reader().payload_range(position);
        ++exec.counters_.payload_reads;
        if (result < 0 || static_cast<std::size_t>(result) != size_bytes) {
            ++exec.counters_.read_errors;
            op->fail(result < 0 ? make_system_error(static_cast<int>(-result),
                                                    strprintf("%s: read of payload %u", seg->path().c_str(), position))
                                : make_error(errc::io, strprintf("%s: short read of payload %u (%lld of %zu bytes)",
                                                                 seg->path().c_str(), position,
                                                                 static_cast<long long>(result), size_bytes)));
        } else {
            std::string_view bytes(reinterpret_cast<const char*>(buf.data() + data_offset), range.size_bytes);
            if (auto s = seg->reader().verify_payload(position, bytes); !s) {
                ++exec.counters_.crc_failures;
                op->fail(s.error());
            } else {
                op->responses[search].hits[hit].payload.assign(bytes);
            }
            op->totals.bytes_read += size_bytes;
        }
        if (block != nullptr) {
            exec.host_.cache().release(block, size_bytes);
            block = nullptr;
        }
        search_op* o = op;
        op = nullptr;
        exec.payload_pool_.emplace_back(this);  // back to the pool before the search may finish
        --exec.payload_reads_active_;
        exec.payload_done(*o);
        exec.resume_payload_waiters();
    }

    executor& exec;
    search_op* op = nullptr;
    const storage::segment* seg = nullptr;
    std::uint32_t position = 0;
    std::uint32_t search = 0;
    std::uint32_t hit = 0;
    std::size_t size_bytes = 0;
    std::size_t data_offset = 0;
    std::byte* block = nullptr;
    aligned_buffer own;
};

executor::executor(host& h, const executor_options& options) : host_(h), options_(options)
{
    reads_active_.reserve(cluster_reads_max);
}

executor::~executor()
{
    // Reads in flight would complete into freed memory: the shard drains its ring and its
    // searches before it destroys the executor.
    PUFFER_ASSERT(idle());
    PUFFER_ASSERT(reads_active_.empty());
    PUFFER_ASSERT(payload_reads_active_ == 0);
    PUFFER_ASSERT(row_reads_active_ == 0);
}

executor::search_op* executor::acquire_search()
{
    search_op* op = nullptr;
    if (!search_pool_.empty()) {
        op = search_pool_.back().release();
        search_pool_.pop_back();
    } else {
        op = new search_op();
    }
    ++searches_active_;
    return op;
}

void executor::release_search(search_op* op)
{
    op->view.reset();
    op->done_one = nullptr;
    op->done_many = nullptr;
    op->failure.reset();
    op->requests.clear();
    op->queries.clear();
    op->filtered = false;
    op->counted = true;
    op->codes = index::quantization::none;
    op->totals = {};
    --searches_active_;
    search_pool_.emplace_back(op);
}

executor::part* executor::acquire_part()
{
    part* p = nullptr;
    if (!part_pool_.empty()) {
        p = part_pool_.back().release();
        part_pool_.pop_back();
    } else {
        p = new part();
    }
    return p;
}

void executor::release_part(part* p)
{
    p->op = nullptr;
    p->tasks.clear();
    p->cursor = 0;
    p->pending = 0;
    p->parked = false;
    p->stats = {};
    p->failure.reset();
    p->spans.clear();
    part_pool_.emplace_back(p);
}

status executor::prepare(const read_view& view, search_request& request, const std::string& where)
{
    const std::size_t d = view.dimension;
    if (request.vector.size() != d) {
        return make_error(errc::invalid_argument,
                          strprintf("%squery vector has dimension %zu; collection '%s' has dimension %zu",
                                    where.c_str(), request.vector.size(), view.collection.c_str(), d));
    }
    for (std::size_t j = 0; j < d; ++j) {
        if (!std::isfinite(request.vector[j])) {
            return make_error(errc::invalid_argument, strprintf("%svector[%zu] is not a finite number", where.c_str(), j));
        }
    }
    if (request.top_k == 0) {
        return make_error(errc::invalid_argument, where + "top_k must be at least 1");
    }
    if (request.refine > refine_max) {
        return make_error(errc::invalid_argument,
                          strprintf("%srefine must be 1 to %zu (0: the default, %zu)", where.c_str(), refine_max,
                                    default_refine));
    }
    if (view.distance_metric == metric::cosine && !normalize(request.vector.data(), d)) {
        return make_error(errc::invalid_argument, where + "a zero query vector has no cosine direction");
    }
    if (request.filter) {
        if (auto s = check_filter(view, *request.filter); !s) {
            return make_error(errc::invalid_argument, where + s.error().context);
        }
    }
    return ok();
}

void executor::search(std::shared_ptr<const read_view> view, search_request request, search_done done)
{
    if (auto s = prepare(*view, request, ""); !s) {
        done(s.error());
        return;
    }
    if (sample_this_search()) {
        // The answer goes to the caller first; a copy of its ids waits for the exact re-run.
        recall_sample sample{view, request, {}};
        search_prepared(std::move(view), std::move(request),
                        [this, sample = std::move(sample), done = std::move(done)](result<search_response> r) mutable {
            if (r) {
                for (const auto& h : r->hits) {
                    sample.ids.push_back(h.id);
                }
                offer_sample(std::move(sample));
            }
            done(std::move(r));
        });
        return;
    }
    search_prepared(std::move(view), std::move(request), std::move(done));
}

void executor::search_prepared(std::shared_ptr<const read_view> view, search_request request, search_done done,
                               bool counted)
{
    if (searches_active_ >= searches_max) {
        done(make_error(errc::busy, strprintf("%zu searches in progress on this shard; retry", searches_active_)));
        return;
    }
    search_op& op = *acquire_search();
    op.view = std::move(view);
    op.requests.push_back(std::move(request));
    op.done_one = std::move(done);
    op.counted = counted;
    // One search: the planner's exact probe choice, one task per cluster, all for search 0.
    if (op.requests[0].filter) {
        op.filtered = true;
        match_rows(*op.view, *op.requests[0].filter, op.allowed);
        planner_.make_filtered(*op.view, op.query(0), op.requests[0], op.allowed, op.one_plan);
    } else {
        planner_.make(*op.view, op.query(0), op.requests[0], op.one_plan);
    }
    batch_plan& t = op.tasks;
    t.clear();
    t.queries.push_back(0);
    for (const plan_cluster& pc : op.one_plan.clusters) {
        t.tasks.push_back(batch_plan::task{pc.segment, pc.cluster, pc.rows, 0, 1});
    }
    for (const plan_staged& ps : op.one_plan.staged) {
        t.staged.push_back(batch_plan::staged_task{0, ps.staging, ps.cluster});
    }
    t.nprobe.push_back(op.one_plan.nprobe);
    t.expected_recall.push_back(op.one_plan.expected_recall);
    t.clusters.push_back(op.one_plan.clusters.size());
    t.vectors.push_back(op.one_plan.vectors);
    start(op);
}

void executor::search_batch(std::shared_ptr<const read_view> view, std::vector<search_request> requests,
                            batch_done done)
{
    if (requests.empty() || requests.size() > batch_searches_max) {
        done(make_error(errc::invalid_argument,
                        strprintf("a batch holds 1 to %zu searches, not %zu", batch_searches_max, requests.size())));
        return;
    }
    for (std::size_t i = 0; i < requests.size(); ++i) {
        if (auto s = prepare(*view, requests[i], strprintf("searches[%zu]: ", i)); !s) {
            done(s.error());
            return;
        }
    }
    if (searches_active_ >= searches_max) {
        done(make_error(errc::busy, strprintf("%zu searches in progress on this shard; retry", searches_active_)));
        return;
    }
    bool any_filter = std::any_of(requests.begin(), requests.end(), [](const auto& r) { return r.filter != nullptr; });
    if (any_filter) {
        search_filtered_batch(std::move(view), std::move(requests), std::move(done));
        return;
    }
    search_op& op = *acquire_search();
    op.view = std::move(view);
    op.requests = std::move(requests);
    op.done_many = std::move(done);
    const std::size_t d = op.view->dimension;
    op.queries.resize(op.count() * d);
    for (std::size_t i = 0; i < op.count(); ++i) {
        std::copy_n(op.requests[i].vector.data(), d, op.queries.data() + i * d);
    }
    planner_.make_batch(*op.view, op.queries.data(), op.count(), op.requests.data(), op.tasks);
    start(op);
}

void executor::start(search_op& op)
{
    const read_view& v = *op.view;
    const std::size_t n = op.count();
    op.codes = index::quantization::none;
    if (!op.filtered &&
        std::all_of(op.requests.begin(), op.requests.end(), [](const auto& r) { return r.use_codes; })) {
        // A collection's segments all hold the codes it was created with.
        for (const view_segment& vs : v.segments) {
            if (vs.segment->scores_with_codes()) {
                op.codes = vs.segment->reader().codes();
                break;
            }
        }
    }
    op.bounds.assign(op.codes == index::quantization::rabitq ? n : 0, std::numeric_limits<float>::infinity());
    op.heaps.resize(std::max(op.heaps.size(), n), topk<std::uint64_t>(0));
    op.responses.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        op.heaps[i].reset(op.heap_size(i));
        search_stats& s = op.responses[i].stats;
        s = {};
        s.refine = op.quantized() ? op.refine(i) : 0;
        s.segments = v.segments.size();
        s.nprobe = op.tasks.nprobe[i];
        s.expected_recall = op.tasks.expected_recall[i];
        s.clusters_probed = op.tasks.clusters[i];
        s.vectors_scanned = op.tasks.vectors[i];
        if (op.filtered) {
            // Every matching staging row is scanned (they are few: staging is bounded).
            s.filtered = true;
            s.matches = op.allowed.total();
            s.exhaustive = op.one_plan.exhaustive;
            for (std::size_t j = 0; j < v.staging.size(); ++j) {
                const view_staging& st = v.staging[j];
                op.listed.clear();
                op.allowed.staging[j].list_range(0, st.row_count, op.listed);
                s.vectors_scanned +=
                    index::scan_listed_rows(v.distance_metric, op.query(i), st.rows->vectors(), op.listed.data(),
                                            op.listed.size(), v.dimension, make_key(v.segments.size() + j, 0),
                                            op.heaps[i]);
            }
            continue;
        }
        // Staging rows are scanned here and now (only this shard may read them): every row of
        // a staging not yet assigned to clusters, the probed clusters of one that is.
        for (std::size_t j = 0; j < v.staging.size(); ++j) {
            const view_staging& st = v.staging[j];
            if (st.clusters) {
                continue;
            }
            s.vectors_scanned += index::scan_rows(v.distance_metric, op.query(i), st.rows->vectors(), st.row_count,
                                                  v.dimension, make_key(v.segments.size() + j, 0), op.heaps[i],
                                                  words_or_null(st.dead), 0);
        }
    }
    for (const batch_plan::staged_task& t : op.tasks.staged) {
        const view_staging& st = v.staging[t.staging];
        op.responses[t.query].stats.vectors_scanned += index::scan_listed_rows(
            v.distance_metric, op.query(t.query), st.rows->vectors(), st.clusters->rows_of(t.cluster),
            st.clusters->length(t.cluster), v.dimension, make_key(v.segments.size() + t.staging, 0),
            op.heaps[t.query], words_or_null(st.dead));
    }
    op.totals.segments = v.segments.size();
    scatter(op);
}

void executor::scatter(search_op& op)
{
    const read_view& v = *op.view;
    const std::size_t shards = host_.shard_count();
    const std::size_t self = host_.shard_index();
    std::size_t planned_rows = 0;
    for (std::size_t i = 0; i < op.count(); ++i) {
        planned_rows += op.tasks.vectors[i];
    }
    std::size_t row_bytes = v.dimension * sizeof(float);
    if (op.codes == index::quantization::sq8) {
        row_bytes = index::sq8_block_bytes(1, v.dimension);
    } else if (op.codes == index::quantization::rabitq) {
        row_bytes = index::rabitq_block_bytes(1, v.dimension);
    }
    const double scan_bytes = static_cast<double>(planned_rows * row_bytes);
    bool split = shards > 1 && scan_bytes >= static_cast<double>(options_.scatter_bytes_min);
    // Equal shares: measured here, the owner scanning less (to make up for planning) made single
    // searches slower, not faster (0.179-0.190 ms p50 against 0.201-0.205 with 31% for the owner).
    const double owner_share = 1.0 / static_cast<double>(std::max<std::size_t>(1, shards));
    parts_scratch_.assign(shards, nullptr);
    auto part_for = [&](std::size_t shard) -> part& {
        if (parts_scratch_[shard] == nullptr) {
            part* p = acquire_part();
            p->op = &op;
            p->origin = self;
            p->heaps.resize(std::max(p->heaps.size(), op.count()), topk<std::uint64_t>(0));
            for (std::size_t i = 0; i < op.count(); ++i) {
                p->heaps[i].reset(op.heap_size(i));
            }
            if (op.codes == index::quantization::rabitq) {
                p->upper.resize(std::max(p->upper.size(), op.count()), topk<std::uint64_t>(0));
                for (std::size_t i = 0; i < op.count(); ++i) {
                    p->upper[i].reset(op.requests[i].top_k);
                }
                p->rotated.resize(op.count() * index::rabitq_padded(v.dimension));
                p->rotated_for.assign(op.count(), 0);
            }
            parts_scratch_[shard] = p;
        }
        return *parts_scratch_[shard];
    };
    part_for(self);  // the local part always exists: it completes a plan with no clusters
    for (const batch_plan::task& t : op.tasks.tasks) {
        std::size_t target =
            split ? affinity(v.segments[t.segment].segment->uid(), t.cluster, self, shards, owner_share) : self;
        part_for(target).tasks.push_back(t);
    }
    std::size_t count = 0;
    for (part* p : parts_scratch_) {
        count += p != nullptr ? 1 : 0;
    }
    op.parts_pending = count;
    op.totals.shards = count;
    // Remote parts first, so they run while this shard scans its own.
    part* local = parts_scratch_[self];
    for (std::size_t s = 0; s < shards; ++s) {
        part* p = parts_scratch_[s];
        if (p == nullptr || s == self) {
            continue;
        }
        bool sent = host_.post_to(
            s,
            [](executor& e, void* arg) {
                ++e.parts_active_;
                e.run_part(*static_cast<part*>(arg));
            },
            p);
        if (!sent) {
            // That shard has ended (the server is stopping): scan its clusters here.
            local->tasks.insert(local->tasks.end(), p->tasks.begin(), p->tasks.end());
            --op.parts_pending;
            --op.totals.shards;
            release_part(p);
        }
    }
    run_part(*local);
}

void executor::run_part(part& p)
{
    advance(p);
}

void executor::advance(part& p)
{
    cluster_cache& cache = host_.cache();
    const read_view& v = *p.op->view;
    const bool one = p.op->count() == 1 && !p.op->filtered;
    while (p.cursor < p.tasks.size()) {
        const auto task_index = static_cast<std::uint32_t>(p.cursor);
        const batch_plan::task& t = p.tasks[task_index];
        const view_segment& vs = v.segments[t.segment];
        const storage::segment& seg = *vs.segment;
        const auto& reader = seg.reader();
        std::size_t start = reader.cluster_start(t.cluster);
        const bool codes = p.op->quantized() && seg.scores_with_codes();
        const std::byte* data = nullptr;
        if (seg.map() != nullptr) {
            if (auto s = codes ? seg.verify_mapped_codes(t.cluster) : seg.verify_mapped_cluster(t.cluster); !s) {
                ++counters_.crc_failures;
                p.fail(s.error());
            } else {
                data = seg.map() +
                       (codes ? reader.code_range(t.cluster) : reader.cluster_range(t.cluster)).offset_bytes;
            }
        } else if ((data = reinterpret_cast<const std::byte*>(
                        cache.find(seg.uid(), cache_item_cluster(t.cluster, codes)))) != nullptr) {
            ++p.stats.cache_hits;
        } else if (cluster_read* r = find_read(seg.uid(), t.cluster, codes)) {
            r->waiters.push_back({&p, task_index});
            ++p.pending;
            ++p.stats.clusters_read;
        } else {
            if (reads_active_.size() >= cluster_reads_max) {
                // Wait for a read slot; the tasks from here on are issued when one frees.
                p.parked = true;
                parked_.push(&p);
                break;
            }
            // Making room for this read may evict clusters collected above: scan them first.
            scan_spans(p);
            start_read(p, task_index, seg, t.cluster, codes);
            ++p.pending;
            ++p.stats.clusters_read;
        }
        if (data != nullptr) {
            if (one && !codes) {
                // Four clusters at a time, interleaved (index::scan_spans): one search reads them
                // at the memory's speed, not one stream's.
                p.spans.push_back(index::row_span{reinterpret_cast<const float*>(data), t.rows,
                                                  make_key(t.segment, start), words_or_null(vs.tombstones), start});
            } else {
                scan_task(p, task_index, data);
            }
        }
        ++p.stats.clusters_probed;
        ++p.cursor;
    }
    scan_spans(p);
    maybe_finish(p);
}

void executor::scan_spans(part& p)
{
    if (p.spans.empty()) {
        return;
    }
    const read_view& v = *p.op->view;
    p.stats.vectors_scanned +=
        index::scan_spans(v.distance_metric, p.op->query(0), p.spans.data(), p.spans.size(), v.dimension, p.heaps[0]);
    p.spans.clear();
}

void executor::scan_task(part& p, std::uint32_t task_index, const std::byte* bytes)
{
    // The cluster is read from memory once; the searches after the first find it in cache.
    const search_op& op = *p.op;
    const read_view& v = *op.view;
    const batch_plan::task& t = p.tasks[task_index];
    const view_segment& vs = v.segments[t.segment];
    const auto& reader = vs.segment->reader();
    std::size_t start = reader.cluster_start(t.cluster);
    const bool codes = op.quantized() && vs.segment->scores_with_codes();
    if (codes && reader.codes() == index::quantization::rabitq) {
        // Lower bounds of the distances from the 1-bit codes, into heaps of top_k * refine
        // candidates; upper bounds into heaps of top_k (the re-ranking's cut).
        const index::rabitq_params& params = *reader.rabitq();
        const std::size_t padded = params.padded();
        const float* centroid = reader.centroids() + static_cast<std::size_t>(t.cluster) * v.dimension;
        const float* rotated_centroid = reader.rotated_centroids() + static_cast<std::size_t>(t.cluster) * padded;
        for (std::uint32_t j = t.first; j < t.first + t.count; ++j) {
            std::uint32_t i = op.tasks.queries[j];
            float* rotated = p.rotated.data() + i * padded;
            if (p.rotated_for[i] != t.segment + 1) {
                index::rabitq_rotate(params, op.query(i), rotated);
                p.rotated_for[i] = t.segment + 1;
            }
            const float q_dot_c =
                v.distance_metric == metric::l2 ? 0.0f : simd::active().dot(op.query(i), centroid, v.dimension);
            index::prepare_rabitq_query(v.distance_metric, params, rotated, rotated_centroid, q_dot_c, p.prepared_bits);
            p.stats.vectors_scanned +=
                index::scan_rabitq_block(v.distance_metric, p.prepared_bits, bytes, t.rows, v.dimension,
                                         make_key(t.segment, start), p.heaps[i], &p.upper[i],
                                         words_or_null(vs.tombstones), start, p.dots);
        }
        return;
    }
    if (codes) {
        // sq8: estimated distances from the codes, into heaps of top_k * refine candidates.
        const index::sq8_params& params = *reader.sq8();
        const float* centroid = reader.centroids() + static_cast<std::size_t>(t.cluster) * v.dimension;
        for (std::uint32_t j = t.first; j < t.first + t.count; ++j) {
            std::uint32_t i = op.tasks.queries[j];
            index::prepare_sq8_query(v.distance_metric, params, op.query(i), centroid, p.prepared);
            p.stats.vectors_scanned +=
                index::scan_sq8_block(v.distance_metric, p.prepared, bytes, t.rows, v.dimension,
                                      make_key(t.segment, start), p.heaps[i], words_or_null(vs.tombstones), start,
                                      p.dots);
        }
        return;
    }
    const auto* data = reinterpret_cast<const float*>(bytes);
    if (op.filtered) {
        // Only the matching live rows of the cluster: listed from the filter's bitset.
        const bitmap& allowed = op.allowed.segments[t.segment];
        std::size_t matching = allowed.count_range(start, start + t.rows);
        if (2 * matching >= t.rows) {
            // Most rows match: contiguous distances cost less than gathering the matching ones.
            index::scan_allowed_rows(v.distance_metric, op.query(0), data, t.rows, v.dimension,
                                     make_key(t.segment, start), p.heaps[0], allowed.words(), start);
        } else {
            p.listed.clear();
            allowed.list_range(start, start + t.rows, p.listed);
            index::scan_listed_rows(v.distance_metric, op.query(0), data, p.listed.data(), p.listed.size(),
                                    v.dimension, make_key(t.segment, start), p.heaps[0]);
        }
        p.stats.vectors_scanned += matching;
        return;
    }
    for (std::uint32_t j = t.first; j < t.first + t.count; ++j) {
        std::uint32_t i = op.tasks.queries[j];
        p.stats.vectors_scanned += index::scan_rows(v.distance_metric, op.query(i), data, t.rows, v.dimension,
                                                    make_key(t.segment, start), p.heaps[i],
                                                    words_or_null(vs.tombstones), start);
    }
}

executor::cluster_read* executor::find_read(std::uint64_t uid, std::uint32_t cluster, bool codes)
{
    // At most cluster_reads_max entries: a linear search costs less than a node per read.
    for (cluster_read* r : reads_active_) {
        if (r->cluster == cluster && r->codes == codes && r->seg->uid() == uid) {
            return r;
        }
    }
    return nullptr;
}

void executor::start_read(part& p, std::uint32_t task_index, const storage::segment& seg, std::uint32_t cluster,
                          bool codes)
{
    PUFFER_ASSERT(reads_active_.size() < cluster_reads_max);
    cluster_read* r = nullptr;
    if (!read_pool_.empty()) {
        r = read_pool_.back().release();
        read_pool_.pop_back();
    } else {
        r = new cluster_read(*this);
    }
    auto range = codes ? seg.reader().code_range(cluster) : seg.reader().cluster_range(cluster);
    auto [begin, end] = aligned_extent(range, options_.dma_alignment_bytes);
    r->seg = &seg;
    r->cluster = cluster;
    r->codes = codes;
    r->size_bytes = end - begin;
    r->data_offset = range.offset_bytes - begin;
    r->block = host_.cache().allocate(r->size_bytes);
    if (r->block == nullptr && r->own.size() < r->size_bytes) {
        r->own = aligned_buffer(r->size_bytes, options_.dma_alignment_bytes);
    }
    r->waiters.clear();
    r->waiters.push_back({&p, task_index});
    reads_active_.push_back(r);
    host_.ring().submit_read(seg.fd(), begin, r->buffer(), io::tag_of(r));
}

void executor::read_done(cluster_read& r, std::int64_t result)
{
    auto it = std::find(reads_active_.begin(), reads_active_.end(), &r);
    PUFFER_ASSERT(it != reads_active_.end());
    *it = reads_active_.back();
    reads_active_.pop_back();

    const storage::segment& seg = *r.seg;
    status verdict = ok();
    ++counters_.cluster_reads;
    const char* what = r.codes ? "the codes of cluster" : "cluster";
    if (result < 0) {
        ++counters_.read_errors;
        verdict = make_system_error(static_cast<int>(-result),
                                    strprintf("%s: read of %s %u", seg.path().c_str(), what, r.cluster));
    } else if (static_cast<std::size_t>(result) != r.size_bytes) {
        ++counters_.read_errors;
        verdict = make_error(errc::io, strprintf("%s: short read of %s %u (%lld of %zu bytes)", seg.path().c_str(), what,
                                                 r.cluster, static_cast<long long>(result), r.size_bytes));
    } else {
        const std::byte* at = r.buffer().data() + r.data_offset;
        verdict = r.codes ? seg.reader().verify_codes(r.cluster, at) : seg.reader().verify_cluster(r.cluster, at);
        if (verdict) {
            counters_.cluster_read_bytes += r.size_bytes;
        } else {
            ++counters_.crc_failures;
        }
    }
    if (!verdict) {
        PUFFER_LOG(error, "%s", verdict.error().message().c_str());
    }
    const std::byte* data = r.buffer().data() + r.data_offset;
    for (const auto& w : r.waiters) {
        if (!verdict) {
            w.p->fail(verdict.error());
            continue;
        }
        w.p->stats.bytes_read += r.size_bytes;
        scan_task(*w.p, w.task_index, data);
    }
    if (r.block != nullptr) {
        cluster_cache& cache = host_.cache();
        if (verdict && !seg.retired()) {
            cache.insert(seg.uid(), cache_item_cluster(r.cluster, r.codes), r.block, r.size_bytes, r.data_offset);
        } else {
            cache.release(r.block, r.size_bytes);
        }
        r.block = nullptr;
    }
    // The waiters may finish (and their searches with them, releasing the views that hold the
    // segment, and a search's callback may start another search): take them out of the read
    // first, and the read back to the pool.
    finished_waiters_.assign(r.waiters.begin(), r.waiters.end());
    r.waiters.clear();
    r.seg = nullptr;
    read_pool_.emplace_back(&r);
    for (const auto& w : finished_waiters_) {
        --w.p->pending;
        maybe_finish(*w.p);
    }
    finished_waiters_.clear();
    resume_parked();
}

void executor::resume_parked()
{
    parked_.resume([this](const part&) { return reads_active_.size() < cluster_reads_max; },
                   [this](part& p) {
                       p.parked = false;
                       advance(p);
                   });
}

void executor::maybe_finish(part& p)
{
    if (p.pending != 0 || p.parked || p.cursor != p.tasks.size()) {
        return;
    }
    if (p.origin == host_.shard_index()) {
        part_returned(p);
        return;
    }
    --parts_active_;
    bool sent = host_.post_to(
        p.origin, [](executor& e, void* arg) { e.part_returned(*static_cast<part*>(arg)); }, &p);
    // The search's shard cannot end while the search waits for this part.
    PUFFER_ASSERT(sent);
}

void executor::part_returned(part& p)
{
    search_op& op = *p.op;
    for (std::size_t i = 0; i < op.count(); ++i) {
        for (const auto& e : p.heaps[i].entries()) {
            op.heaps[i].push(e.distance, e.key);
        }
        if (op.codes == index::quantization::rabitq) {
            op.bounds[i] = std::min(op.bounds[i], p.upper[i].threshold());
        }
    }
    search_stats& s = op.totals;
    s.clusters_probed += p.stats.clusters_probed;
    s.clusters_read += p.stats.clusters_read;
    s.vectors_scanned += p.stats.vectors_scanned;
    s.bytes_read += p.stats.bytes_read;
    s.cache_hits += p.stats.cache_hits;
    if (p.failure) {
        op.fail(*p.failure);
    }
    release_part(&p);
    PUFFER_ASSERT(op.parts_pending > 0);
    if (--op.parts_pending == 0) {
        if (op.quantized() && !op.failure) {
            rerank(op);  // then finalize
        } else {
            finalize(op);
        }
    }
}

void executor::finalize(search_op& op)
{
    if (op.failure) {
        reply(op);
        return;
    }
    const read_view& v = *op.view;
    auto payload_size = [&](std::uint64_t key) { return v.payload_size(key_container(key), key_row(key)); };
    // The answers' payloads are bounded together, before any is read or copied.
    std::uint64_t payload_total = 0;
    std::size_t payload_max = 0;
    for (std::size_t i = 0; i < op.count(); ++i) {
        if (op.requests[i].include_payload) {
            payload_max = std::max(payload_max, op.requests[i].payload_bytes_max);
            for (const auto& e : op.heaps[i].entries()) {
                payload_total += payload_size(e.key);
            }
        }
    }
    if (payload_max != 0 && payload_total > payload_max) {
        op.fail(make_error(errc::invalid_argument,
                           strprintf("the answer's payloads would take %llu bytes, over the per-answer budget of "
                                     "%zu bytes: ask for fewer results (top_k) or without payloads",
                                     static_cast<unsigned long long>(payload_total), payload_max)));
        reply(op);
        return;
    }
    op.payload_hits.clear();
    for (std::size_t i = 0; i < op.count(); ++i) {
        search_response& response = op.responses[i];
        const bool with_payload = op.requests[i].include_payload;
        op.heaps[i].take_sorted(op.sorted);
        response.hits.resize(op.sorted.size());
        for (std::size_t h = 0; h < op.sorted.size(); ++h) {
            const auto& e = op.sorted[h];
            std::size_t c = key_container(e.key);
            std::uint32_t row = key_row(e.key);
            search_hit& hit = response.hits[h];
            hit.score = score_from_distance(v.distance_metric, e.distance);
            hit.payload.clear();
            if (c >= v.segments.size()) {
                const staged_rows& rows = *v.staging[c - v.segments.size()].rows;
                hit.id = rows.id(row);
                if (with_payload) {
                    hit.payload = rows.payload(row);
                }
                continue;
            }
            const storage::segment& seg = *v.segments[c].segment;
            hit.id.assign(seg.reader().id(row));
            if (!with_payload || seg.reader().payload_range(row).size_bytes == 0) {
                continue;
            }
            if (seg.map() != nullptr) {
                auto range = seg.reader().payload_range(row);
                std::string_view bytes(reinterpret_cast<const char*>(seg.map() + range.offset_bytes), range.size_bytes);
                if (auto s = seg.reader().verify_payload(row, bytes); !s) {
                    ++counters_.crc_failures;
                    op.fail(s.error());
                } else {
                    hit.payload.assign(bytes);
                }
                continue;
            }
            op.payload_hits.push_back({static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(h), e.key});
        }
    }
    if (op.payload_hits.empty()) {
        reply(op);
        return;
    }
    op.payloads_pending = op.payload_hits.size();
    if (payload_reads_active_ + op.payload_hits.size() > payload_reads_max && payload_reads_active_ > 0) {
        payload_waiters_.push(&op);  // its turn comes when reads in flight finish
        return;
    }
    start_payloads(op);
}

void executor::start_payloads(search_op& op)
{
    const read_view& v = *op.view;
    for (const auto& ph : op.payload_hits) {
        const storage::segment& seg = *v.segments[key_container(ph.key)].segment;
        std::uint32_t row = key_row(ph.key);
        auto range = seg.reader().payload_range(row);
        auto [begin, end] = aligned_extent(range, options_.dma_alignment_bytes);
        payload_read* r = nullptr;
        if (!payload_pool_.empty()) {
            r = payload_pool_.back().release();
            payload_pool_.pop_back();
        } else {
            r = new payload_read(*this);
        }
        r->op = &op;
        r->seg = &seg;
        r->position = row;
        r->search = ph.search;
        r->hit = ph.hit;
        r->size_bytes = end - begin;
        r->data_offset = range.offset_bytes - begin;
        r->block = host_.cache().allocate(r->size_bytes);
        if (r->block == nullptr && r->own.size() < r->size_bytes) {
            r->own = aligned_buffer(r->size_bytes, options_.dma_alignment_bytes);
        }
        ++payload_reads_active_;
        std::span<std::byte> buf{r->block != nullptr ? r->block : r->own.data(), r->size_bytes};
        host_.ring().submit_read(seg.fd(), begin, buf, io::tag_of(r));
    }
}

void executor::payload_done(search_op& op)
{
    PUFFER_ASSERT(op.payloads_pending > 0);
    if (--op.payloads_pending == 0) {
        reply(op);
    }
}

void executor::resume_payload_waiters()
{
    payload_waiters_.resume(
        [this](const search_op& op) {
            return payload_reads_active_ + op.payload_hits.size() <= payload_reads_max || payload_reads_active_ == 0;
        },
        [this](search_op& op) { start_payloads(op); });
}

void executor::reply(search_op& op)
{
    if (search_counters* c = op.view->counters.get(); c != nullptr && op.counted) {
        c->searches += op.count();
        c->cache_hits += op.totals.cache_hits;
        c->cache_misses += op.totals.clusters_read;
        c->bytes_read += op.totals.bytes_read;
    }
    if (op.failure) {
        error e = std::move(*op.failure);
        search_done one = std::move(op.done_one);
        batch_done many = std::move(op.done_many);
        release_search(&op);
        if (one) {
            one(std::move(e));
        } else {
            many(std::move(e));
        }
        return;
    }
    if (op.done_one) {
        search_response response;
        response.hits.swap(op.responses[0].hits);
        response.stats = op.responses[0].stats;
        // One search: what it read is its own.
        response.stats.clusters_read = op.totals.clusters_read;
        response.stats.bytes_read = op.totals.bytes_read;
        response.stats.cache_hits = op.totals.cache_hits;
        response.stats.shards = op.totals.shards;
        search_done done = std::move(op.done_one);
        release_search(&op);
        done(std::move(response));
        return;
    }
    batch_response answer;
    answer.results.resize(op.count());
    for (std::size_t i = 0; i < op.count(); ++i) {
        answer.results[i].hits.swap(op.responses[i].hits);
        answer.results[i].stats = op.responses[i].stats;
    }
    answer.totals = op.totals;
    batch_done done = std::move(op.done_many);
    release_search(&op);
    done(std::move(answer));
}

void executor::search_filtered_batch(std::shared_ptr<const read_view> view, std::vector<search_request> requests,
                                     batch_done done)
{
    // Searches with filters plan and scan their own matching rows: each runs as a search of its
    // own, and the answers are gathered in order.
    struct gather {
        std::vector<search_response> results;
        std::size_t pending = 0;
        std::optional<error> failure;
        batch_done done;
    };
    // The answers' payloads share the batch's bound: each search gets its part of it.
    for (auto& r : requests) {
        if (r.payload_bytes_max != 0) {
            r.payload_bytes_max = std::max<std::size_t>(1, r.payload_bytes_max / requests.size());
        }
    }
    auto g = std::make_shared<gather>();
    g->results.resize(requests.size());
    g->pending = requests.size();
    g->done = std::move(done);
    for (std::size_t i = 0; i < requests.size(); ++i) {
        search_prepared(view, std::move(requests[i]), [g, i](result<search_response> r) {
            if (!r) {
                if (!g->failure) {
                    g->failure = r.error();
                }
            } else {
                g->results[i] = std::move(r.value());
            }
            if (--g->pending != 0) {
                return;
            }
            if (g->failure) {
                g->done(std::move(*g->failure));
                return;
            }
            batch_response answer;
            answer.results = std::move(g->results);
            for (const auto& res : answer.results) {
                answer.totals.segments = res.stats.segments;
                answer.totals.clusters_probed += res.stats.clusters_probed;
                answer.totals.clusters_read += res.stats.clusters_read;
                answer.totals.vectors_scanned += res.stats.vectors_scanned;
                answer.totals.bytes_read += res.stats.bytes_read;
                answer.totals.cache_hits += res.stats.cache_hits;
                answer.totals.shards = std::max(answer.totals.shards, res.stats.shards);
            }
            g->done(std::move(answer));
        });
    }
}

void executor::forget_segment(std::uint64_t segment_uid)
{
    host_.cache().erase_segment(segment_uid);
}

}  // namespace puffer::query
