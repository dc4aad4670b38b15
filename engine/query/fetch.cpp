// Reading stored points back (get, scroll, and the reads of a payload patch): ids from memory,
// payloads and vectors of staging rows from memory, of segment rows from the file. Direct mode
// reads on the shard's ring: each payload with one aligned read, each vector with its whole
// cluster (read once for every row asked of it, checked against the cluster's crc32c, and
// cached, or found in the cache); mmap mode checks and copies from the mapping.
#include "engine/core/aligned_buffer.hpp"
#include "engine/core/assert.hpp"
#include "engine/core/coding.hpp"
#include "engine/core/log.hpp"
#include "engine/query/executor.hpp"
#include "engine/query/filtering.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace puffer::query {
namespace {

// The cluster of a segment that holds position p (cluster extents tile the positions in order).
std::uint32_t cluster_of(const format::segment_reader& r, std::uint32_t p)
{
    std::size_t lo = 0;
    std::size_t hi = r.cluster_count();
    while (hi - lo > 1) {
        std::size_t mid = (lo + hi) / 2;
        (r.cluster_start(mid) <= p ? lo : hi) = mid;
    }
    while (r.cluster_length(lo) == 0 || r.cluster_start(lo) > p) {
        --lo;  // empty clusters share their start with the next
    }
    return static_cast<std::uint32_t>(lo);
}

}  // namespace

// One fetch in progress on its shard: the points being filled, and the reads still to issue.
struct executor::fetch_op {
    std::shared_ptr<const read_view> view;
    fetch_request request;
    std::vector<stored_point> points;
    std::optional<error> failure;
    fetch_done done;
    struct read_item {
        bool vectors = false;         // a cluster (for the vectors of points) or one payload
        std::uint32_t container = 0;  // a segment
        std::uint32_t at = 0;         // cluster, or position
        std::vector<std::uint32_t> points;  // indexes into points that it fills
    };
    std::vector<read_item> items;
    std::size_t next = 0;      // items[0, next) issued or done
    std::size_t inflight = 0;

    void fail(const error& e)
    {
        if (!failure) {
            failure = e;
        }
    }
};

class executor::fetch_read final : public io::request {
public:
    fetch_read(executor& e, fetch_op& o, std::size_t i) : exec(e), op(o), item(i) {}
    void on_complete(std::int64_t result) override { exec.fetch_read_done(*this, result); }
    std::span<std::byte> buffer() { return {block != nullptr ? block : own.data(), size_bytes}; }

    executor& exec;
    fetch_op& op;
    std::size_t item;
    std::size_t size_bytes = 0;
    std::size_t data_offset = 0;
    std::byte* block = nullptr;  // from the cache's arena (cluster reads), or null
    aligned_buffer own;
};

void executor::fetch(std::shared_ptr<const read_view> view, fetch_request request, fetch_done done)
{
    if (request.rows.size() > fetch_points_max) {
        done(make_error(errc::invalid_argument, strprintf("at most %zu points at once", fetch_points_max)));
        return;
    }
    if (request.bytes_max != 0) {
        const read_view& v = *view;
        std::uint64_t bytes = 0;
        for (const row_ref ref : request.rows) {
            if (request.include_payload) {
                bytes += v.payload_size(ref.container, ref.row);
            }
            bytes += request.include_vector ? v.dimension * request.vector_value_bytes : 0;
        }
        if (bytes > request.bytes_max) {
            done(make_error(errc::invalid_argument,
                            strprintf("the points asked for hold %llu bytes of payloads and vectors, over the budget "
                                      "of %zu bytes: ask for fewer at once",
                                      static_cast<unsigned long long>(bytes), request.bytes_max)));
            return;
        }
    }
    auto op = std::make_unique<fetch_op>();
    op->view = std::move(view);
    op->request = std::move(request);
    op->done = std::move(done);
    const read_view& v = *op->view;
    const fetch_request& rq = op->request;
    op->points.resize(rq.rows.size());
    // Vectors by (segment, cluster): one read for every row asked of a cluster.
    std::vector<std::pair<std::uint64_t, std::uint32_t>> wanted;  // (segment << 32 | cluster, point)
    for (std::size_t i = 0; i < rq.rows.size(); ++i) {
        const row_ref ref = rq.rows[i];
        stored_point& p = op->points[i];
        PUFFER_ASSERT(ref.container < v.segments.size() + v.staging.size());
        if (ref.container >= v.segments.size()) {
            const staged_rows& rows = *v.staging[ref.container - v.segments.size()].rows;
            p.id = rows.id(ref.row);
            if (rq.include_payload) {
                p.payload = rows.payload(ref.row);
            }
            if (rq.include_vector) {
                p.vector.assign(rows.vector(ref.row), rows.vector(ref.row) + v.dimension);
            }
            continue;
        }
        const storage::segment& seg = *v.segments[ref.container].segment;
        const format::segment_reader& r = seg.reader();
        p.id.assign(r.id(ref.row));
        if (rq.include_payload && r.payload_range(ref.row).size_bytes != 0) {
            if (seg.map() != nullptr) {
                auto range = r.payload_range(ref.row);
                std::string_view bytes(reinterpret_cast<const char*>(seg.map() + range.offset_bytes), range.size_bytes);
                if (auto s = r.verify_payload(ref.row, bytes); !s) {
                    ++counters_.crc_failures;
                    op->fail(s.error());
                } else {
                    p.payload.assign(bytes);
                }
            } else {
                op->items.push_back({false, ref.container, ref.row, {static_cast<std::uint32_t>(i)}});
            }
        }
        if (rq.include_vector) {
            std::uint32_t c = cluster_of(r, ref.row);
            if (seg.map() != nullptr) {
                if (auto s = seg.verify_mapped_cluster(c); !s) {
                    ++counters_.crc_failures;
                    op->fail(s.error());
                    continue;
                }
                const auto* data = reinterpret_cast<const float*>(seg.map() + r.cluster_range(c).offset_bytes);
                const float* at = data + static_cast<std::size_t>(ref.row - r.cluster_start(c)) * v.dimension;
                p.vector.assign(at, at + v.dimension);
            } else if (const float* cached = host_.cache().find(seg.uid(), c); cached != nullptr) {
                const float* at = cached + static_cast<std::size_t>(ref.row - r.cluster_start(c)) * v.dimension;
                p.vector.assign(at, at + v.dimension);
            } else {
                wanted.emplace_back((std::uint64_t{ref.container} << 32) | c, static_cast<std::uint32_t>(i));
            }
        }
    }
    std::sort(wanted.begin(), wanted.end());
    for (std::size_t i = 0; i < wanted.size(); ++i) {
        if (i == 0 || wanted[i].first != wanted[i - 1].first) {
            op->items.push_back({true, static_cast<std::uint32_t>(wanted[i].first >> 32),
                                 static_cast<std::uint32_t>(wanted[i].first & 0xFFFFFFFFu), {}});
        }
        op->items.back().points.push_back(wanted[i].second);
    }
    if (op->failure || op->items.empty()) {
        fetch_done d = std::move(op->done);
        if (op->failure) {
            d(std::move(*op->failure));
        } else {
            d(std::move(op->points));
        }
        return;
    }
    ++searches_active_;  // the shard does not end while the reads are out
    fetch_op* raw = op.release();
    fetch_more(*raw);
}

void executor::fetch_more(fetch_op& op)
{
    const read_view& v = *op.view;
    while (op.next < op.items.size() && op.inflight < fetch_reads_max && !op.failure) {
        std::size_t i = op.next++;
        const fetch_op::read_item& it = op.items[i];
        const storage::segment& seg = *v.segments[it.container].segment;
        format::byte_range range = it.vectors ? seg.reader().cluster_range(it.at) : seg.reader().payload_range(it.at);
        const std::size_t align = options_.dma_alignment_bytes;
        std::uint64_t begin = align_down(range.offset_bytes, align);
        std::uint64_t end = align_up(range.offset_bytes + range.size_bytes, align);
        auto* r = new fetch_read(*this, op, i);
        r->size_bytes = end - begin;
        r->data_offset = range.offset_bytes - begin;
        if (it.vectors) {
            r->block = host_.cache().allocate(r->size_bytes);
        }
        if (r->block == nullptr) {
            r->own = aligned_buffer(r->size_bytes, align);
        }
        ++op.inflight;
        host_.ring().submit_read(seg.fd(), begin, r->buffer(), io::tag_of(r));
    }
    if (op.inflight == 0) {
        std::unique_ptr<fetch_op> owned(&op);
        --searches_active_;
        fetch_done d = std::move(owned->done);
        if (owned->failure) {
            d(std::move(*owned->failure));
        } else {
            d(std::move(owned->points));
        }
    }
}

void executor::fetch_read_done(fetch_read& r, std::int64_t result)
{
    std::unique_ptr<fetch_read> owned(&r);
    fetch_op& op = r.op;
    --op.inflight;
    const read_view& v = *op.view;
    const fetch_op::read_item& it = op.items[r.item];
    const storage::segment& seg = *v.segments[it.container].segment;
    const format::segment_reader& reader = seg.reader();
    format::byte_range range = it.vectors ? reader.cluster_range(it.at) : reader.payload_range(it.at);
    const char* what = it.vectors ? "cluster" : "payload";
    if (it.vectors) {
        ++counters_.cluster_reads;
    } else {
        ++counters_.payload_reads;
    }
    if (result < 0 || static_cast<std::size_t>(result) < r.data_offset + range.size_bytes) {
        ++counters_.read_errors;
        op.fail(result < 0 ? make_system_error(static_cast<int>(-result),
                                               strprintf("%s: read of %s %u", seg.path().c_str(), what, it.at))
                           : make_error(errc::io, strprintf("%s: short read of %s %u", seg.path().c_str(), what, it.at)));
    } else {
        const std::byte* data = r.buffer().data() + r.data_offset;
        if (!it.vectors) {
            std::string_view bytes(reinterpret_cast<const char*>(data), range.size_bytes);
            if (auto s = reader.verify_payload(it.at, bytes); !s) {
                ++counters_.crc_failures;
                op.fail(s.error());
            } else {
                op.points[it.points.front()].payload.assign(bytes);
            }
        } else if (auto s = reader.verify_cluster(it.at, data); !s) {
            ++counters_.crc_failures;
            op.fail(s.error());
        } else {
            counters_.cluster_read_bytes += r.size_bytes;
            if (search_counters* c = v.counters.get()) {
                c->bytes_read += r.size_bytes;
            }
            const auto* floats = reinterpret_cast<const float*>(data);
            for (std::uint32_t i : it.points) {
                std::uint32_t row = op.request.rows[i].row;
                const float* at = floats + static_cast<std::size_t>(row - reader.cluster_start(it.at)) * v.dimension;
                op.points[i].vector.assign(at, at + v.dimension);
            }
            if (r.block != nullptr && !seg.retired()) {
                host_.cache().insert(seg.uid(), it.at, r.block, r.size_bytes, r.data_offset);
                r.block = nullptr;
            }
        }
    }
    if (r.block != nullptr) {
        host_.cache().release(r.block, r.size_bytes);
        r.block = nullptr;
    }
    fetch_more(op);
}

void executor::scroll(std::shared_ptr<const read_view> view, scroll_request request, scroll_done done)
{
    if (request.limit < 1 || request.limit > scroll_limit_max) {
        done(make_error(errc::invalid_argument, strprintf("limit must be 1 to %zu", scroll_limit_max)));
        return;
    }
    const read_view& v = *view;
    filtered_rows matches;
    if (request.filter) {
        if (auto s = check_filter(v, *request.filter); !s) {
            done(s.error());
            return;
        }
        match_rows(v, *request.filter, matches);
    }
    // The `limit + 1` smallest ids after the cursor, by a max-heap on the id: ids are unique
    // among live rows, so the page boundaries are exact whatever the rows' order.
    struct candidate {
        std::string_view id;
        row_ref ref;
    };
    auto larger_id = [](const candidate& a, const candidate& b) { return a.id < b.id; };
    std::vector<candidate> heap;
    const std::size_t keep = request.limit + 1;
    heap.reserve(std::min<std::size_t>(keep, v.live_points + 1));
    auto consider = [&](std::string_view id, std::uint32_t container, std::uint32_t row) {
        if (request.after && id <= *request.after) {
            return;
        }
        if (heap.size() == keep) {
            if (id >= heap.front().id) {
                return;
            }
            std::pop_heap(heap.begin(), heap.end(), larger_id);
            heap.pop_back();
        }
        heap.push_back({id, {container, row}});
        std::push_heap(heap.begin(), heap.end(), larger_id);
    };
    for (std::size_t s = 0; s < v.segments.size(); ++s) {
        const view_segment& vs = v.segments[s];
        const format::segment_reader& r = vs.segment->reader();
        const bitmap* dead = vs.tombstones.get();
        const bitmap* allowed = request.filter ? &matches.segments[s] : nullptr;
        for (std::uint32_t p = 0; p < r.vector_count(); ++p) {
            if (allowed != nullptr ? !(p < allowed->size() && allowed->test(p))
                                   : (dead != nullptr && p < dead->size() && dead->test(p))) {
                continue;  // the filter's bitsets hold live rows only
            }
            consider(r.id(p), static_cast<std::uint32_t>(s), p);
        }
    }
    for (std::size_t s = 0; s < v.staging.size(); ++s) {
        const view_staging& st = v.staging[s];
        const bitmap* dead = st.dead.get();
        const bitmap* allowed = request.filter ? &matches.staging[s] : nullptr;
        for (std::uint32_t row = 0; row < st.row_count; ++row) {
            if (allowed != nullptr ? !(row < allowed->size() && allowed->test(row))
                                   : (dead != nullptr && row < dead->size() && dead->test(row))) {
                continue;
            }
            consider(st.rows->id(row), static_cast<std::uint32_t>(v.segments.size() + s), row);
        }
    }
    std::sort_heap(heap.begin(), heap.end(), larger_id);
    bool more = heap.size() > request.limit;
    heap.resize(std::min(heap.size(), request.limit));
    // The page's bytes: stop before the bound (but answer at least one point).
    if (request.bytes_max != 0) {
        std::size_t bytes = 0;
        for (std::size_t i = 0; i < heap.size(); ++i) {
            const row_ref ref = heap[i].ref;
            std::size_t b = heap[i].id.size() + 16;
            if (request.include_payload) {
                b += v.payload_size(ref.container, ref.row);
            }
            if (request.include_vector) {
                b += v.dimension * json_bytes_per_vector_value;
            }
            bytes += b;
            if (bytes > request.bytes_max && i > 0) {
                heap.resize(i);
                more = true;
                break;
            }
        }
    }
    fetch_request f;
    f.include_payload = request.include_payload;
    f.include_vector = request.include_vector;
    f.rows.reserve(heap.size());
    for (const auto& c : heap) {
        f.rows.push_back(c.ref);
    }
    fetch(std::move(view), std::move(f), [more, done = std::move(done)](result<std::vector<stored_point>> r) mutable {
        if (!r) {
            done(r.error());
            return;
        }
        scroll_response page;
        page.points = std::move(*r);
        if (more && !page.points.empty()) {
            page.next_cursor = page.points.back().id;
        }
        done(std::move(page));
    });
}

}  // namespace puffer::query
