#pragma once
// Internal to the executor's translation units (executor.cpp, rerank.cpp): a search in progress
// and the keys of its results.

#include "engine/core/aligned_buffer.hpp"
#include "engine/index/rabitq.hpp"
#include "engine/index/sq8.hpp"
#include "engine/query/executor.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace puffer::query {

// A result's key: the container (a segment, or staging after the segments) and the row in it.
inline std::uint64_t make_key(std::size_t container, std::size_t row)
{
    return (static_cast<std::uint64_t>(container) << 32) | row;
}
inline std::size_t key_container(std::uint64_t key)
{
    return static_cast<std::size_t>(key >> 32);
}
inline std::uint32_t key_row(std::uint64_t key)
{
    return static_cast<std::uint32_t>(key & 0xFFFFFFFFu);
}

// The aligned superset [begin, end) of a byte range.
inline std::pair<std::uint64_t, std::uint64_t> aligned_extent(const format::byte_range& r, std::size_t alignment)
{
    return {align_down(r.offset_bytes, alignment), align_up(r.offset_bytes + r.size_bytes, alignment)};
}

// A page of a segment's vector section (in units of the DMA alignment).
struct page_key {
    std::uint32_t segment;  // index into the view's segments
    std::uint32_t page;
    bool operator<(const page_key& o) const { return segment != o.segment ? segment < o.segment : page < o.page; }
    bool operator==(const page_key& o) const = default;
};

// One search or a batch of them, on the shard that received it.
struct executor::search_op {
    std::shared_ptr<const read_view> view;
    std::vector<search_request> requests;  // one per search; vectors checked and normalized
    std::vector<float> queries;            // a batch's queries, row-major (empty for one search)
    plan one_plan;                          // a single search's plan
    batch_plan tasks;                       // what the parts scan (a single search: one query)
    std::vector<topk<std::uint64_t>> heaps;
    std::vector<search_response> responses;
    search_stats totals;
    std::size_t parts_pending = 0;
    std::size_t payloads_pending = 0;
    std::optional<error> failure;
    search_done done_one;
    batch_done done_many;
    std::vector<scored<std::uint64_t>> sorted;
    struct payload_hit {
        std::uint32_t search;
        std::uint32_t hit;
        std::uint64_t key;
    };
    std::vector<payload_hit> payload_hits;  // hits whose payload is read from a segment file
    // A filtered search (one search only): the matching live rows, scanned by listing them.
    bool filtered = false;
    bool counted = true;  // counts in the collection's search counters
    filtered_rows allowed;
    std::vector<std::uint32_t> listed;  // scratch of the staging scans
    // Scores segments that have codes with them, then re-ranks (rerank.cpp): the heaps hold
    // top_k * refine candidates until then.
    index::quantization codes = index::quantization::none;  // none: the floats are scanned
    bool quantized() const { return codes != index::quantization::none; }
    // rabitq: per search, the smallest k-th upper bound of an estimated distance any part saw. A
    // candidate whose lower bound exceeds it is not re-ranked: top_k rows are nearer.
    std::vector<float> bounds;
    struct rerank_row {
        std::uint32_t search;
        std::uint32_t segment;   // index into view->segments
        std::uint32_t position;
        std::uint32_t first_page;
        std::uint32_t pages;
    };
    std::vector<rerank_row> rerank_rows;  // candidates whose pages are being read
    std::vector<page_key> rerank_pages;   // scratch: the pages those candidates need
    std::vector<row_read*> row_reads;     // one per page, ascending (segment, page)
    std::size_t row_reads_pending = 0;
    std::vector<float> row_scratch;       // a row spanning pages, put together

    std::size_t count() const { return requests.size(); }
    std::size_t refine(std::size_t i) const
    {
        if (requests[i].refine != 0) {
            return requests[i].refine;
        }
        return codes == index::quantization::rabitq ? default_refine_rabitq : default_refine;
    }
    // Entries a search's heaps keep while scanning.
    std::size_t heap_size(std::size_t i) const
    {
        return quantized() ? requests[i].top_k * refine(i) : requests[i].top_k;
    }
    const float* query(std::size_t i) const
    {
        return queries.empty() ? requests[0].vector.data() : queries.data() + i * view->dimension;
    }
    void fail(const error& e)
    {
        if (!failure) {
            failure = e;
        }
    }
};

// A read of one page of a segment's vector section, for the candidates of a re-rank (rerank.cpp).
class executor::row_read final : public io::request {
public:
    explicit row_read(executor& e) : exec(e) {}

    std::span<std::byte> buffer() { return {block != nullptr ? block : own.data(), size_bytes}; }
    void on_complete(std::int64_t r) override
    {
        result = r;
        exec.row_read_done(*this);
    }

    executor& exec;
    search_op* op = nullptr;
    const storage::segment* seg = nullptr;
    std::uint32_t segment = 0;  // index into the op's view
    std::uint32_t page = 0;     // in units of the DMA alignment
    std::size_t size_bytes = 0;
    std::byte* block = nullptr;
    aligned_buffer own;
    std::int64_t result = 0;
};

}  // namespace puffer::query
