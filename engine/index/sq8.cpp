#include "engine/index/sq8.hpp"

#include "engine/core/assert.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace puffer::index {

namespace {

// Row p of the layout minus its centroid (residual) or as stored, into out.
void row_value(const sq8_params& p, const float* vectors, const ivf_layout& layout, std::size_t c, std::size_t pos,
               float* out)
{
    const std::size_t d = layout.dimension;
    const float* x = vectors + static_cast<std::size_t>(layout.order[pos]) * d;
    if (!p.residual) {
        std::copy_n(x, d, out);
        return;
    }
    const float* centroid = layout.centroids.data() + c * d;
    for (std::size_t j = 0; j < d; ++j) {
        out[j] = x[j] - centroid[j];
    }
}

}  // namespace

sq8_params train_sq8(const float* vectors, const ivf_layout& layout, bool residual)
{
    const std::size_t d = layout.dimension;
    sq8_params p;
    p.residual = residual;
    std::vector<float> lo(d, std::numeric_limits<float>::infinity());
    std::vector<float> hi(d, -std::numeric_limits<float>::infinity());
    std::vector<float> row(d);
    for (std::size_t c = 0; c < layout.cluster_count; ++c) {
        for (std::size_t pos = layout.cluster_offsets[c]; pos < layout.cluster_offsets[c + 1]; ++pos) {
            row_value(p, vectors, layout, c, pos, row.data());
            for (std::size_t j = 0; j < d; ++j) {
                lo[j] = std::min(lo[j], row[j]);
                hi[j] = std::max(hi[j], row[j]);
            }
        }
    }
    p.low.resize(d);
    p.step.resize(d);
    for (std::size_t j = 0; j < d; ++j) {
        if (!(lo[j] <= hi[j])) {  // no rows
            lo[j] = hi[j] = 0;
        }
        p.low[j] = lo[j];
        p.step[j] = (hi[j] - lo[j]) / 255.0f;
    }
    return p;
}

void encode_sq8_cluster(const sq8_params& p, const float* vectors, const ivf_layout& layout, std::size_t c,
                        std::byte* out)
{
    const std::size_t d = layout.dimension;
    const std::size_t first = layout.cluster_offsets[c];
    const std::size_t rows = layout.cluster_offsets[c + 1] - first;
    const std::size_t codes = sq8_codes_bytes(rows, d);
    std::memset(out, 0, sq8_block_bytes(rows, d));
    std::vector<float> row(d);
    auto* code = reinterpret_cast<std::uint8_t*>(out);
    for (std::size_t i = 0; i < rows; ++i) {
        row_value(p, vectors, layout, c, first + i, row.data());
        float term = 0;
        for (std::size_t j = 0; j < d; ++j) {
            float v = 0;
            if (p.step[j] > 0) {
                v = std::nearbyint((row[j] - p.low[j]) / p.step[j]);
                v = std::clamp(v, 0.0f, 255.0f);
            }
            code[i * d + j] = static_cast<std::uint8_t>(v);
            float back = p.step[j] * (v - 128.0f);
            term += back * back;
        }
        std::memcpy(out + codes + 4 * i, &term, 4);
    }
}

void prepare_sq8_query(metric m, const sq8_params& p, const float* q, const float* centroid, sq8_query& out)
{
    // Runs once per query and probed cluster: plain loops the compiler vectorizes (no library
    // calls; rounding by adding a half and truncating).
    const std::size_t d = p.dimension();
    out.w.resize(d);
    out.weights.resize(d);
    float* w = out.weights.data();
    const float* low = p.low.data();
    const float* step = p.step.data();
    // Offsets from the middle of each range (low + 128 step): a query near the cluster has small
    // weights of both signs, which int8 rounds with the least error.
    float constant = 0;
    if (m == metric::l2) {
        for (std::size_t j = 0; j < d; ++j) {
            float u = q[j] - low[j] - 128.0f * step[j] - (p.residual ? centroid[j] : 0.0f);
            constant += u * u;
            w[j] = u * step[j];
        }
    } else {
        for (std::size_t j = 0; j < d; ++j) {
            constant += q[j] * (low[j] + 128.0f * step[j] + (p.residual ? centroid[j] : 0.0f));
            w[j] = q[j] * step[j];
        }
    }
    float largest = 0;
    for (std::size_t j = 0; j < d; ++j) {
        float a = w[j] < 0 ? -w[j] : w[j];
        largest = a > largest ? a : largest;
    }
    out.constant = constant;
    // Weights too small for 127 / largest to be finite, or a query so large that they overflowed:
    // all zero (the estimate is then the constant alone, and the re-ranking decides).
    const bool usable = largest >= std::numeric_limits<float>::min() * 128.0f &&
                        largest <= std::numeric_limits<float>::max();
    out.w_scale = usable ? largest / 127.0f : 0.0f;
    const float inverse = usable ? 127.0f / largest : 0.0f;
    std::int8_t* w8 = out.w.data();
    std::int32_t sum = 0;
    if (!usable) {
        std::fill(out.w.begin(), out.w.end(), std::int8_t{0});
        out.code_bias = 0;
        return;
    }
    for (std::size_t j = 0; j < d; ++j) {
        float v = w[j] * inverse;  // in [-127, 127]
        w8[j] = static_cast<std::int8_t>(static_cast<int>(v + (v >= 0 ? 0.5f : -0.5f)));
        sum += w8[j];
    }
    out.code_bias = 128 * sum;
}

std::size_t scan_sq8_block(metric m, const sq8_query& q, const std::byte* block, std::size_t n, std::size_t d,
                           std::uint64_t first_key, topk<std::uint64_t>& heap, const std::uint64_t* skip,
                           std::uint64_t skip_first, std::vector<std::int32_t>& scratch)
{
    if (n == 0) {
        return 0;
    }
    scratch.resize(n);
    const auto* codes = reinterpret_cast<const std::uint8_t*>(block);
    simd::active().dot_u8s8_rows(q.w.data(), codes, n, d, d, scratch.data());
    const std::byte* terms = block + sq8_codes_bytes(n, d);
    std::size_t scanned = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (skip != nullptr && ((skip[(skip_first + i) >> 6] >> ((skip_first + i) & 63)) & 1u) != 0) {
            continue;
        }
        ++scanned;
        float dot = q.w_scale * static_cast<float>(scratch[i] - q.code_bias);
        float distance = 0;
        if (m == metric::l2) {
            float term = 0;
            std::memcpy(&term, terms + 4 * i, 4);
            distance = q.constant - 2.0f * dot + term;
        } else {
            distance = -(q.constant + dot);
        }
        if (!(distance > heap.threshold())) {
            heap.push(distance, first_key + i);
        }
    }
    return scanned;
}

}  // namespace puffer::index
