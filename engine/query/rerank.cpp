// Re-ranking of quantized searches: the segments' codes chose top_k * refine candidates per
// search by estimated distance (sq8) or by the lower bound of it (rabitq: a candidate whose lower
// bound exceeds the k-th smallest upper bound is dropped unread); here each candidate from a segment with codes is re-scored with
// its float vector and the best top_k are kept. A vector comes from the mapping (mmap mode), from
// a page of the vector section in the shard's cache, or from a read of that page on the ring
// (one read per page however many candidates share it). Every vector is checked against its
// row checksum before it is used. Candidates from staging or from segments without codes were
// scored exactly already.

#include "engine/core/assert.hpp"
#include "engine/core/log.hpp"
#include "engine/query/executor.hpp"
#include "engine/query/search_op.hpp"

#include <algorithm>
#include <cstring>

namespace puffer::query {

void executor::rerank(search_op& op)
{
    const read_view& v = *op.view;
    const std::size_t d = v.dimension;
    const std::size_t page_bytes = options_.dma_alignment_bytes;
    cluster_cache& cache = host_.cache();
    op.rerank_rows.clear();
    op.row_scratch.resize(d);
    std::vector<page_key>& pages = op.rerank_pages;
    pages.clear();
    // No cache block is allocated in this loop, so the cached pages found stay valid through it.
    for (std::size_t i = 0; i < op.count(); ++i) {
        op.heaps[i].take_sorted(op.sorted);
        op.heaps[i].reset(op.requests[i].top_k);
        const float* q = op.query(i);
        for (const auto& e : op.sorted) {
            const std::size_t c = key_container(e.key);
            const std::uint32_t row = key_row(e.key);
            if (c >= v.segments.size() || !v.segments[c].segment->scores_with_codes()) {
                op.heaps[i].push(e.distance, e.key);  // scored exactly already
                continue;
            }
            if (!op.bounds.empty() && e.distance > op.bounds[i]) {
                continue;  // its lower bound is past top_k rows' upper bounds: not among the nearest
            }
            const storage::segment& seg = *v.segments[c].segment;
            ++op.responses[i].stats.reranked;
            const format::byte_range range = seg.reader().row_range(row);
            const float* x = nullptr;
            if (seg.map() != nullptr) {
                x = reinterpret_cast<const float*>(seg.map() + range.offset_bytes);
            } else {
                const auto first = static_cast<std::uint32_t>(range.offset_bytes / page_bytes);
                const auto last = static_cast<std::uint32_t>((range.offset_bytes + range.size_bytes - 1) / page_bytes);
                // Every page of the row cached: the row is used in place when it lies in one page,
                // else copied out of its two.
                bool cached = true;
                if (first == last) {
                    const auto* page =
                        reinterpret_cast<const std::byte*>(cache.find(seg.uid(), cache_item_page(first)));
                    if (page != nullptr) {
                        ++op.totals.cache_hits;
                        x = reinterpret_cast<const float*>(page + (range.offset_bytes - std::uint64_t{first} * page_bytes));
                    }
                    cached = page != nullptr;
                }
                for (std::uint32_t pg = first; pg <= last && cached && x == nullptr; ++pg) {
                    const auto* page =
                        reinterpret_cast<const std::byte*>(cache.find(seg.uid(), cache_item_page(pg)));
                    if (page == nullptr) {
                        cached = false;
                        break;
                    }
                    std::uint64_t page_begin = std::uint64_t{pg} * page_bytes;
                    std::uint64_t from = std::max<std::uint64_t>(range.offset_bytes, page_begin);
                    std::uint64_t to = std::min<std::uint64_t>(range.offset_bytes + range.size_bytes, page_begin + page_bytes);
                    std::memcpy(reinterpret_cast<std::byte*>(op.row_scratch.data()) + (from - range.offset_bytes),
                                page + (from - page_begin), to - from);
                }
                if (!cached) {
                    op.rerank_rows.push_back(search_op::rerank_row{static_cast<std::uint32_t>(i),
                                                                   static_cast<std::uint32_t>(c), row, first,
                                                                   last - first + 1});
                    for (std::uint32_t pg = first; pg <= last; ++pg) {
                        pages.push_back(page_key{static_cast<std::uint32_t>(c), pg});
                    }
                    continue;
                }
                if (x == nullptr) {
                    ++op.totals.cache_hits;
                    x = op.row_scratch.data();
                }
            }
            if (auto s = seg.reader().verify_row(row, x); !s) {
                ++counters_.crc_failures;
                op.fail(s.error());
                continue;
            }
            op.heaps[i].push(distance(v.distance_metric, q, x, d), e.key);
        }
    }
    if (op.rerank_rows.empty() || op.failure) {
        op.rerank_rows.clear();
        finalize(op);
        return;
    }
    std::sort(pages.begin(), pages.end());
    pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
    op.row_reads.clear();
    for (const page_key& k : pages) {
        row_read* r = nullptr;
        if (!row_pool_.empty()) {
            r = row_pool_.back().release();
            row_pool_.pop_back();
        } else {
            r = new row_read(*this);
        }
        r->op = &op;
        r->seg = v.segments[k.segment].segment.get();
        r->segment = k.segment;
        r->page = k.page;
        r->size_bytes = page_bytes;
        r->result = 0;
        op.row_reads.push_back(r);
    }
    op.row_reads_pending = op.row_reads.size();
    if (row_reads_active_ + op.row_reads.size() > row_reads_max && row_reads_active_ > 0) {
        rerank_waiters_.push(&op);  // its turn comes when reads in flight finish
        return;
    }
    start_row_reads(op);
}

void executor::start_row_reads(search_op& op)
{
    for (row_read* r : op.row_reads) {
        r->block = host_.cache().allocate(r->size_bytes);
        if (r->block == nullptr && r->own.size() < r->size_bytes) {
            r->own = aligned_buffer(r->size_bytes, options_.dma_alignment_bytes);
        }
        ++row_reads_active_;
        host_.ring().submit_read(r->seg->fd(), std::uint64_t{r->page} * r->size_bytes, r->buffer(), io::tag_of(r));
    }
}

void executor::row_read_done(row_read& r)
{
    PUFFER_ASSERT(row_reads_active_ > 0);
    --row_reads_active_;
    ++counters_.row_reads;
    search_op& op = *r.op;
    PUFFER_ASSERT(op.row_reads_pending > 0);
    if (--op.row_reads_pending == 0) {
        finish_rerank(op);  // may answer the search: r and op are not used after it
    }
    resume_rerank_waiters();
}

void executor::finish_rerank(search_op& op)
{
    const read_view& v = *op.view;
    const std::size_t d = v.dimension;
    for (row_read* r : op.row_reads) {
        if (r->result < 0) {
            ++counters_.read_errors;
            op.fail(make_system_error(static_cast<int>(-r->result),
                                      strprintf("%s: read of page %u of the vectors", r->seg->path().c_str(), r->page)));
        } else if (static_cast<std::size_t>(r->result) != r->size_bytes) {
            ++counters_.read_errors;
            op.fail(make_error(errc::io, strprintf("%s: short read of page %u (%lld of %zu bytes)", r->seg->path().c_str(),
                                                   r->page, static_cast<long long>(r->result), r->size_bytes)));
        } else {
            op.totals.bytes_read += r->size_bytes;
        }
    }
    if (!op.failure) {
        auto find_page = [&](std::uint32_t segment, std::uint32_t page) -> row_read* {
            auto it = std::lower_bound(op.row_reads.begin(), op.row_reads.end(), page_key{segment, page},
                                       [](const row_read* r, const page_key& k) {
                                           return page_key{r->segment, r->page} < k;
                                       });
            PUFFER_ASSERT(it != op.row_reads.end() && (*it)->segment == segment && (*it)->page == page);
            return *it;
        };
        for (const auto& rr : op.rerank_rows) {
            const storage::segment& seg = *v.segments[rr.segment].segment;
            const format::byte_range range = seg.reader().row_range(rr.position);
            for (std::uint32_t pg = rr.first_page; pg < rr.first_page + rr.pages; ++pg) {
                row_read* r = find_page(rr.segment, pg);
                std::uint64_t page_begin = std::uint64_t{pg} * r->size_bytes;
                std::uint64_t from = std::max<std::uint64_t>(range.offset_bytes, page_begin);
                std::uint64_t to = std::min<std::uint64_t>(range.offset_bytes + range.size_bytes, page_begin + r->size_bytes);
                std::memcpy(reinterpret_cast<std::byte*>(op.row_scratch.data()) + (from - range.offset_bytes),
                            r->buffer().data() + (from - page_begin), to - from);
            }
            if (auto s = seg.reader().verify_row(rr.position, op.row_scratch.data()); !s) {
                ++counters_.crc_failures;
                PUFFER_LOG(error, "%s", s.error().message().c_str());
                op.fail(s.error());
                break;
            }
            op.heaps[rr.search].push(distance(v.distance_metric, op.query(rr.search), op.row_scratch.data(), d),
                                     make_key(rr.segment, rr.position));
        }
    }
    // The pages read join the cache (a page that failed a row's check may hold that row: not).
    cluster_cache& cache = host_.cache();
    for (row_read* r : op.row_reads) {
        if (r->block != nullptr) {
            if (!op.failure && !r->seg->retired()) {
                cache.insert(r->seg->uid(), cache_item_page(r->page), r->block, r->size_bytes, 0);
            } else {
                cache.release(r->block, r->size_bytes);
            }
            r->block = nullptr;
        }
        r->op = nullptr;
        r->seg = nullptr;
        row_pool_.emplace_back(r);
    }
    op.row_reads.clear();
    op.rerank_rows.clear();
    finalize(op);
}

void executor::resume_rerank_waiters()
{
    rerank_waiters_.resume(
        [this](const search_op& op) {
            return row_reads_active_ + op.row_reads.size() <= row_reads_max || row_reads_active_ == 0;
        },
        [this](search_op& op) { start_row_reads(op); });
}

}  // namespace puffer::query
