// The read path. A search snapshots the collection's containers (segments, frozen and active
// staging), scans staging exactly at once, scans cached clusters at once, and sends one ring read
// per missing cluster (shared with any other search waiting for the same cluster). Each read is
// verified against its crc32c, cached, and scanned for every waiting search. When the last
// cluster is in, the top k are resolved to ids and, when asked, payloads (one more batch of
// reads for payloads that live in segment files).
#include "engine/collection/collection.hpp"

#include "engine/collection/internal.hpp"
#include "engine/core/log.hpp"
#include "engine/core/topk.hpp"
#include "engine/index/ivf.hpp"

#include <cmath>

namespace puffer::collection {

struct search_op : std::enable_shared_from_this<search_op> {
    struct container_ref {
        std::shared_ptr<staging> st;
        std::shared_ptr<segment> seg;
    };

    search_op(std::shared_ptr<collection> c, search_request r, unique_function<void(result<search_response>)> d)
        : owner(std::move(c)), request(std::move(r)), heap(request.top_k), done(std::move(d))
    {
    }

    static std::uint64_t key_base(std::size_t container_index)
    {
        return static_cast<std::uint64_t>(container_index) << 32;
    }

    // Queues a cluster that is in memory (cache or mapping) for scan_spans. Its data must stay
    // put until then: nothing may be evicted from the cache in between.
    void add_span(std::size_t container_index, const segment& seg, std::uint32_t cluster, const float* data)
    {
        std::size_t start = seg.reader.cluster_start(cluster);
        spans.push_back(index::row_span{data, seg.reader.cluster_length(cluster), key_base(container_index) + start,
                                        seg.tombstone_count > 0 ? seg.tombstones.data() : nullptr, start});
    }

    // Scans the queued clusters, four interleaved at a time (index::scan_spans).
    void scan_spans()
    {
        response.stats.vectors_scanned +=
            index::scan_spans(owner->metric_, request.vector.data(), spans.data(), spans.size(), owner->dimension_, heap);
        spans.clear();
    }

    void scan_cluster(std::size_t container_index, const segment& seg, std::uint32_t cluster, const float* data)
    {
        std::size_t start = seg.reader.cluster_start(cluster);
        std::size_t length = seg.reader.cluster_length(cluster);
        response.stats.vectors_scanned +=
            index::scan_rows(owner->metric_, request.vector.data(), data, length, owner->dimension_,
                             key_base(container_index) + start, heap,
                             seg.tombstone_count > 0 ? seg.tombstones.data() : nullptr, start);
    }

    void fail(const error& e)
    {
        if (!failure) {
            failure = e;
        }
    }

    // One cluster read finished (scanned or failed).
    void cluster_done()
    {
        PUFFER_ASSERT(pending > 0);
        if (--pending == 0) {
            finalize();
        }
    }

    void finalize();
    void payload_done()
    {
        PUFFER_ASSERT(payload_pending > 0);
        if (--payload_pending == 0) {
            reply();
        }
    }

    void count_read(std::size_t bytes)
    {
        owner->bytes_read_ += bytes;
        response.stats.bytes_read += bytes;
    }

    void reply()
    {
        if (failure) {
            done(*failure);
        } else {
            done(std::move(response));
        }
    }

    std::shared_ptr<collection> owner;
    search_request request;
    topk<std::uint64_t> heap;
    unique_function<void(result<search_response>)> done;
    std::vector<container_ref> containers;
    std::vector<index::row_span> spans;  // clusters in memory, waiting for scan_spans
    std::size_t pending = 0;
    std::size_t payload_pending = 0;
    std::optional<error> failure;
    search_response response;
};

// A cluster read on the ring: the aligned superset of the cluster's byte range, into an arena
// block of the shard's cache (a fixed-buffer read) or, when the cache cannot make room, into
// memory of its own (then not cached).
class cluster_read final : public io::request {
public:
    cluster_read(std::shared_ptr<collection> c, std::shared_ptr<segment> s, std::uint32_t cl, std::size_t size,
                 std::size_t offset, std::size_t alignment)
        : owner(std::move(c)), seg(std::move(s)), cluster(cl), size_bytes(size), data_offset(offset)
    {
        block = owner->ctx_->cache().allocate(size);
        if (block == nullptr) {
            heap = aligned_buffer(size, alignment);
        }
    }

    std::span<std::byte> buffer() { return {block != nullptr ? block : heap.data(), size_bytes}; }

    void on_complete(std::int64_t result) override
    {
        owner->reads_inflight_.erase({seg->id(), cluster});
        status verdict = ok();
        if (result < 0) {
            verdict = make_system_error(static_cast<int>(-result),
                                        strprintf("%s: read of cluster %u", seg->path.c_str(), cluster));
        } else if (static_cast<std::size_t>(result) != size_bytes) {
            verdict = make_error(errc::io, strprintf("%s: short read of cluster %u (%lld of %zu bytes)",
                                                     seg->path.c_str(), cluster, static_cast<long long>(result),
                                                     size_bytes));
        } else {
            owner->bytes_read_ += size_bytes;
            verdict = seg->reader.verify_cluster(cluster, buffer().data() + data_offset);
        }
        if (!verdict) {
            PUFFER_LOG(error, "collection '%s': %s", owner->name_.c_str(), verdict.error().message().c_str());
        }
        const auto* data = reinterpret_cast<const float*>(buffer().data() + data_offset);
        for (auto& [op, container_index] : waiters) {
            if (!verdict) {
                op->fail(verdict.error());
            } else {
                op->response.stats.bytes_read += size_bytes;
                op->scan_cluster(container_index, *seg, cluster, data);
            }
        }
        if (block != nullptr) {
            cluster_cache& cache = owner->ctx_->cache();
            if (verdict && !owner->dropped_) {
                cache.insert(seg->uid, cluster, block, size_bytes, data_offset);
            } else {
                cache.release(block, size_bytes);
            }
        }
        for (auto& [op, container_index] : waiters) {
            op->cluster_done();
        }
        delete this;
    }

    std::shared_ptr<collection> owner;
    std::shared_ptr<segment> seg;
    std::uint32_t cluster;
    std::size_t size_bytes;
    std::size_t data_offset;
    std::byte* block = nullptr;
    aligned_buffer heap;
    std::vector<std::pair<std::shared_ptr<search_op>, std::size_t>> waiters;
};

namespace {

// A payload read on the ring (aligned superset, as for clusters).
class payload_read final : public io::request {
public:
    void on_complete(std::int64_t result) override
    {
        auto range = seg->reader.payload_range(position);
        if (result < 0 || static_cast<std::size_t>(result) != buffer.size()) {
            op->fail(make_error(errc::io, strprintf("%s: read of payload %u failed (%lld)", seg->path.c_str(),
                                                    position, static_cast<long long>(result))));
        } else {
            std::string_view bytes(reinterpret_cast<const char*>(buffer.data() + data_offset), range.size_bytes);
            if (auto s = seg->reader.verify_payload(position, bytes); !s) {
                op->fail(s.error());
            } else {
                op->response.hits[hit_index].payload.assign(bytes);
            }
            op->count_read(buffer.size());
        }
        op->payload_done();
        delete this;
    }

    std::shared_ptr<search_op> op;
    std::shared_ptr<segment> seg;
    std::uint32_t position = 0;
    std::size_t hit_index = 0;
    aligned_buffer buffer;
    std::size_t data_offset = 0;
};

// The aligned superset [begin, end) of a byte range.
std::pair<std::uint64_t, std::uint64_t> aligned_extent(const format::byte_range& r, std::size_t alignment)
{
    return {align_down(r.offset_bytes, alignment), align_up(r.offset_bytes + r.size_bytes, alignment)};
}

}  // namespace

void search_op::finalize()
{
    if (failure) {
        reply();
        return;
    }
    auto entries = heap.take_sorted();
    if (request.include_payload && request.payload_bytes_max != 0) {
        std::uint64_t payload_bytes = 0;
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const container_ref& c = containers[entries[i].key >> 32];
            auto row = static_cast<std::uint32_t>(entries[i].key & 0xFFFFFFFFu);
            payload_bytes += c.st ? c.st->payloads[row].size() : c.seg->reader.payload_range(row).size_bytes;
        }
        if (payload_bytes > request.payload_bytes_max) {
            fail(make_error(errc::invalid_argument,
                            strprintf("the answer's payloads would take %llu bytes, over the per-answer budget of "
                                      "%zu bytes: ask for fewer results (top_k) or without payloads",
                                      static_cast<unsigned long long>(payload_bytes), request.payload_bytes_max)));
            reply();
            return;
        }
    }
    response.hits.resize(entries.size());
    std::vector<std::pair<std::size_t, std::size_t>> payload_reads;  // hit, container
    for (std::size_t i = 0; i < entries.size(); ++i) {
        std::size_t ci = entries[i].key >> 32;
        auto row = static_cast<std::uint32_t>(entries[i].key & 0xFFFFFFFFu);
        search_hit& hit = response.hits[i];
        hit.score = score_from_distance(owner->metric_, entries[i].distance);
        const container_ref& c = containers[ci];
        if (c.st) {
            hit.id = c.st->ids[row];
            if (request.include_payload) {
                hit.payload = c.st->payloads[row];
            }
            continue;
        }
        hit.id = std::string(c.seg->reader.id(row));
        if (request.include_payload && c.seg->reader.payload_range(row).size_bytes > 0) {
            payload_reads.emplace_back(i, ci);
        }
    }
    if (payload_reads.empty()) {
        reply();
        return;
    }
    payload_pending = payload_reads.size();
    auto self = shared_from_this();
    std::size_t alignment = owner->options_.dma_alignment_bytes;
    for (auto [hit_index, ci] : payload_reads) {
        const auto& seg = containers[ci].seg;
        auto row = static_cast<std::uint32_t>(entries[hit_index].key & 0xFFFFFFFFu);
        auto range = seg->reader.payload_range(row);
        if (seg->map != nullptr) {
            std::string_view bytes(reinterpret_cast<const char*>(seg->map + range.offset_bytes), range.size_bytes);
            if (auto s = seg->reader.verify_payload(row, bytes); !s) {
                fail(s.error());
            } else {
                response.hits[hit_index].payload.assign(bytes);
            }
            payload_done();
            continue;
        }
        auto [begin, end] = aligned_extent(range, alignment);
        auto* r = new payload_read();
        r->op = self;
        r->seg = seg;
        r->position = row;
        r->hit_index = hit_index;
        r->buffer = aligned_buffer(end - begin, alignment);
        r->data_offset = range.offset_bytes - begin;
        owner->ctx_->ring().submit_read(seg->data_file->fd(), begin, r->buffer.span(), io::tag_of(r));
    }
}

void collection::search(search_request request, unique_function<void(result<search_response>)> done)
{
    if (failure_) {
        done(failed_error());
        return;
    }
    if (request.vector.size() != dimension_) {
        done(make_error(errc::invalid_argument,
                        strprintf("query vector has dimension %zu; collection '%s' has dimension %zu",
                                  request.vector.size(), name_.c_str(), dimension_)));
        return;
    }
    for (std::size_t j = 0; j < dimension_; ++j) {
        if (!std::isfinite(request.vector[j])) {
            done(make_error(errc::invalid_argument, strprintf("vector[%zu] is not a finite number", j)));
            return;
        }
    }
    if (request.top_k == 0) {
        done(make_error(errc::invalid_argument, "top_k must be at least 1"));
        return;
    }
    if (metric_ == metric::cosine && !normalize(request.vector.data(), dimension_)) {
        done(make_error(errc::invalid_argument, "a zero query vector has no cosine direction"));
        return;
    }

    auto op = std::make_shared<search_op>(shared_from_this(), std::move(request), std::move(done));
    op->pending = 1;  // held until every read is submitted, so early completions cannot finish it
    const float* q = op->request.vector.data();
    std::vector<std::uint32_t>& probes = probe_scratch_;
    std::vector<float>& scratch = distance_scratch_;
    cluster_cache& cache = ctx_->cache();
    for (const auto& seg : segments_) {
        std::size_t ci = op->containers.size();
        op->containers.push_back({nullptr, seg});
        ++op->response.stats.segments;
        std::size_t nprobe = op->request.nprobe != 0 ? op->request.nprobe : default_nprobe(seg->reader.cluster_count());
        index::select_probes(metric_, q, seg->reader.centroids(), seg->reader.cluster_count(), dimension_, nprobe,
                             probes, scratch);
        for (std::uint32_t c : probes) {
            if (seg->reader.cluster_length(c) == 0) {
                continue;
            }
            ++op->response.stats.clusters_probed;
            if (seg->map != nullptr) {
                auto range = seg->reader.cluster_range(c);
                const std::byte* data = seg->map + range.offset_bytes;
                if (!bit_is_set(seg->verified, c)) {
                    if (auto s = seg->reader.verify_cluster(c, data); !s) {
                        op->fail(s.error());
                        continue;
                    }
                    set_bit(seg->verified, c);
                }
                op->add_span(ci, *seg, c, reinterpret_cast<const float*>(data));
                continue;
            }
            if (const float* data = cache.find(seg->uid, c)) {
                ++cache_hits_;
                op->add_span(ci, *seg, c, data);
                continue;
            }
            ++cache_misses_;
            ++op->response.stats.clusters_read;
            ++op->pending;
            auto key = std::make_pair(seg->id(), c);
            if (auto it = reads_inflight_.find(key); it != reads_inflight_.end()) {
                it->second->waiters.emplace_back(op, ci);
                continue;
            }
            // Making room for this read may evict cached clusters collected above: scan them first.
            op->scan_spans();
            auto range = seg->reader.cluster_range(c);
            auto [begin, end] = aligned_extent(range, options_.dma_alignment_bytes);
            auto* r = new cluster_read(shared_from_this(), seg, c, end - begin, range.offset_bytes - begin,
                                       options_.dma_alignment_bytes);
            r->waiters.emplace_back(op, ci);
            reads_inflight_[key] = r;
            ctx_->ring().submit_read(seg->data_file->fd(), begin, r->buffer(), io::tag_of(r));
        }
    }
    op->scan_spans();
    for (const auto& st : frozen_) {
        std::size_t ci = op->containers.size();
        op->containers.push_back({st, nullptr});
        op->response.stats.vectors_scanned +=
            index::scan_rows(metric_, q, st->vectors.data(), st->rows(), dimension_, search_op::key_base(ci),
                             op->heap, st->dead.data(), 0);
    }
    {
        std::size_t ci = op->containers.size();
        op->containers.push_back({active_, nullptr});
        op->response.stats.vectors_scanned +=
            index::scan_rows(metric_, q, active_->vectors.data(), active_->rows(), dimension_,
                             search_op::key_base(ci), op->heap, active_->dead.data(), 0);
    }
    op->cluster_done();
}

}  // namespace puffer::collection
