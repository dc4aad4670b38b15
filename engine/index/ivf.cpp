#include "engine/index/ivf.hpp"

#include "engine/core/assert.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace puffer::index {
namespace {

// Rows scanned per kernel call: their distances (1 KiB) stay in L1 while the heap is updated.
constexpr std::size_t scan_block_rows = 256;

}  // namespace

std::size_t default_cluster_count(std::size_t n)
{
    auto rule = static_cast<std::size_t>(std::lround(4.0 * std::sqrt(static_cast<double>(n))));
    std::size_t cap = std::max<std::size_t>(1, n / 16);
    return std::clamp<std::size_t>(rule, 1, cap);
}

ivf_layout build_ivf_layout(const float* x, std::size_t n, std::size_t d, const ivf_options& options,
                            thread_pool* pool)
{
    PUFFER_ASSERT(n >= 1);
    kmeans_options km = options.kmeans;
    km.cluster_count = options.cluster_count != 0 ? options.cluster_count : default_cluster_count(n);
    kmeans_result trained = train_kmeans(x, n, d, km, pool);
    if (trained.cancelled) {
        ivf_layout cancelled;
        cancelled.cancelled = true;
        return cancelled;
    }

    return assign_ivf_layout(x, n, d, trained.centroids.data(), trained.cluster_count, pool);
}

ivf_layout assign_ivf_layout(const float* x, std::size_t n, std::size_t d, const float* centroids, std::size_t k,
                             thread_pool* pool)
{
    PUFFER_ASSERT(k >= 1);
    ivf_layout layout;
    layout.dimension = d;
    layout.cluster_count = k;
    layout.centroids.assign(centroids, centroids + k * d);

    std::vector<std::uint32_t> assignment(n);
    assign_nearest(x, n, d, layout.centroids.data(), layout.cluster_count, assignment.data(),
                   nullptr, pool);

    // Counting sort by cluster keeps source order inside each cluster.
    layout.cluster_offsets.assign(layout.cluster_count + 1, 0);
    for (std::uint32_t c : assignment) {
        ++layout.cluster_offsets[c + 1];
    }
    std::partial_sum(layout.cluster_offsets.begin(), layout.cluster_offsets.end(),
                     layout.cluster_offsets.begin());
    std::vector<std::uint32_t> cursor(layout.cluster_offsets.begin(), layout.cluster_offsets.end() - 1);
    layout.order.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        layout.order[cursor[assignment[i]]++] = static_cast<std::uint32_t>(i);
    }
    return layout;
}

void select_probes(metric m, const float* q, const float* centroids, std::size_t k, std::size_t d,
                   std::size_t nprobe, std::vector<std::uint32_t>& probes,
                   std::vector<float>& scratch)
{
    scratch.resize(k);
    if (m == metric::inner_product) {
        distance_rows(metric::inner_product, q, centroids, k, d, scratch.data());
    } else {
        distance_rows(metric::l2, q, centroids, k, d, scratch.data());
    }
    // Finite values can still give a NaN: a dot product whose terms overflow to +inf and -inf
    // (inner product, query values near 1e38). A NaN compares false with everything, which breaks
    // the strict weak ordering nth_element and sort require; rank such clusters last instead.
    for (float& distance : scratch) {
        if (std::isnan(distance)) {
            distance = std::numeric_limits<float>::infinity();
        }
    }
    std::size_t count = std::min(nprobe, k);
    probes.resize(k);
    std::iota(probes.begin(), probes.end(), std::uint32_t{0});
    auto closer = [&scratch](std::uint32_t a, std::uint32_t b) {
        return scratch[a] != scratch[b] ? scratch[a] < scratch[b] : a < b;
    };
    if (count < k) {
        std::nth_element(probes.begin(), probes.begin() + static_cast<std::ptrdiff_t>(count),
                         probes.end(), closer);
    }
    probes.resize(count);
    std::sort(probes.begin(), probes.end(), closer);
}

namespace {

// Scans n contiguous rows into heap; with mask, row i is kept only when bit mask_first + i of
// mask is set (keep_set) or clear (!keep_set).
template <bool keep_set>
std::size_t scan_masked(metric m, const float* q, const float* rows, std::size_t n, std::size_t d,
                        std::uint64_t first_key, topk<std::uint64_t>& heap, const std::uint64_t* mask,
                        std::uint64_t mask_first)
{
    float distances[scan_block_rows];
    for (std::size_t begin = 0; begin < n; begin += scan_block_rows) {
        std::size_t count = std::min(scan_block_rows, n - begin);
        distance_rows(m, q, rows + begin * d, count, d, distances);
        std::uint64_t key = first_key + begin;
        if (mask == nullptr) {
            heap.push_block(distances, count, key);
            continue;
        }
        for (std::size_t i = 0; i < count; ++i) {
            std::uint64_t bit = mask_first + begin + i;
            if (!(distances[i] > heap.threshold()) && (((mask[bit / 64] >> (bit % 64)) & 1u) != 0) == keep_set) {
                heap.push(distances[i], key + i);
            }
        }
    }
    return n;
}

}  // namespace

std::size_t scan_rows(metric m, const float* q, const float* rows, std::size_t n, std::size_t d,
                      std::uint64_t first_key, topk<std::uint64_t>& heap, const std::uint64_t* skip,
                      std::uint64_t skip_first)
{
    return scan_masked<false>(m, q, rows, n, d, first_key, heap, skip, skip_first);
}

std::size_t scan_allowed_rows(metric m, const float* q, const float* rows, std::size_t n, std::size_t d,
                              std::uint64_t first_key, topk<std::uint64_t>& heap, const std::uint64_t* allow,
                              std::uint64_t allow_first)
{
    PUFFER_ASSERT(allow != nullptr);
    return scan_masked<true>(m, q, rows, n, d, first_key, heap, allow, allow_first);
}

std::size_t scan_listed_rows(metric m, const float* q, const float* rows, const std::uint32_t* list, std::size_t n,
                             std::size_t d, std::uint64_t first_key, topk<std::uint64_t>& heap,
                             const std::uint64_t* skip)
{
    const float* gathered[scan_block_rows];
    float distances[scan_block_rows];
    for (std::size_t begin = 0; begin < n; begin += scan_block_rows) {
        std::size_t count = std::min(scan_block_rows, n - begin);
        for (std::size_t i = 0; i < count; ++i) {
            gathered[i] = rows + static_cast<std::size_t>(list[begin + i]) * d;
        }
        distance_gather(m, q, gathered, count, d, distances);
        for (std::size_t i = 0; i < count; ++i) {
            std::uint32_t row = list[begin + i];
            if (!(distances[i] > heap.threshold()) && (skip == nullptr || ((skip[row / 64] >> (row % 64)) & 1u) == 0)) {
                heap.push(distances[i], first_key + row);
            }
        }
    }
    return n;
}

std::size_t scan_spans(metric m, const float* q, const row_span* spans, std::size_t count, std::size_t d,
                       topk<std::uint64_t>& heap)
{
    constexpr std::size_t streams = 4;
    const float* rows[scan_block_rows];
    float distances[scan_block_rows];
    std::uint32_t owner[scan_block_rows];
    std::uint32_t step_of[scan_block_rows];
    std::size_t scanned = 0;
    for (std::size_t g = 0; g < count; g += streams) {
        std::size_t group = std::min(streams, count - g);
        const row_span* sp = spans + g;
        std::size_t longest = 0;
        for (std::size_t k = 0; k < group; ++k) {
            longest = std::max(longest, sp[k].n);
            scanned += sp[k].n;
        }
        // Steps of scan_block_rows / streams rows from each span, interleaved A0 B0 C0 D0 A1 ...
        for (std::size_t step = 0; step < longest;) {
            std::size_t filled = 0;
            for (; step < longest && filled + group <= scan_block_rows; ++step) {
                for (std::size_t k = 0; k < group; ++k) {
                    if (step < sp[k].n) {
                        rows[filled] = sp[k].rows + step * d;
                        owner[filled] = static_cast<std::uint32_t>(k);
                        step_of[filled] = static_cast<std::uint32_t>(step);
                        ++filled;
                    }
                }
            }
            distance_gather(m, q, rows, filled, d, distances);
            for (std::size_t i = 0; i < filled; ++i) {
                if (distances[i] > heap.threshold()) {
                    continue;
                }
                const row_span& span = sp[owner[i]];
                std::uint64_t bit = span.skip_first + step_of[i];
                if (span.skip != nullptr && ((span.skip[bit / 64] >> (bit % 64)) & 1u) != 0) {
                    continue;
                }
                heap.push(distances[i], span.first_key + step_of[i]);
            }
        }
    }
    return scanned;
}

ivf_index ivf_index::build(metric m, const float* x, std::size_t n, std::size_t d,
                           const ivf_options& options, thread_pool* pool)
{
    ivf_index index;
    index.metric_ = m;
    std::vector<float> normalized;
    const float* input = x;
    if (m == metric::cosine) {
        normalized.assign(x, x + n * d);
        for (std::size_t i = 0; i < n; ++i) {
            normalize(normalized.data() + i * d, d);
        }
        input = normalized.data();
    }
    index.layout_ = build_ivf_layout(input, n, d, options, pool);
    index.vectors_.resize(n * d);
    for (std::size_t p = 0; p < n; ++p) {
        std::copy_n(input + static_cast<std::size_t>(index.layout_.order[p]) * d, d,
                    index.vectors_.data() + p * d);
    }
    return index;
}

std::vector<scored<std::uint64_t>> ivf_index::search(const float* q, std::size_t k,
                                                     std::size_t nprobe,
                                                     search_stats* stats) const
{
    std::size_t d = layout_.dimension;
    std::vector<float> query(q, q + d);
    if (metric_ == metric::cosine) {
        normalize(query.data(), d);
    }
    std::vector<std::uint32_t> probes;
    std::vector<float> scratch;
    select_probes(metric_, query.data(), layout_.centroids.data(), layout_.cluster_count, d, nprobe,
                  probes, scratch);
    topk<std::uint64_t> heap(k);
    std::vector<row_span> spans;
    spans.reserve(probes.size());
    for (std::uint32_t c : probes) {
        std::size_t begin = layout_.cluster_offsets[c];
        std::size_t end = layout_.cluster_offsets[c + 1];
        spans.push_back(row_span{vectors_.data() + begin * d, end - begin, begin, nullptr, 0});
    }
    std::size_t scanned = scan_spans(metric_, query.data(), spans.data(), spans.size(), d, heap);
    if (stats != nullptr) {
        stats->vectors_scanned = scanned;
        stats->clusters_scanned = probes.size();
    }
    auto results = heap.take_sorted();
    for (auto& r : results) {
        r.key = layout_.order[r.key];
    }
    return results;
}

}  // namespace puffer::index
