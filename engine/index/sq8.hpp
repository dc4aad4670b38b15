#pragma once
// 8-bit scalar quantization (SQ8) of a segment's vectors: each dimension j of a row is stored as
// one byte c_j, and the row stands for low_j + step_j * c_j (plus its cluster's centroid when the
// codes are residuals). The ranges [low_j, low_j + 255 step_j] are trained on the segment's rows.
//
// A query is scored against codes without decoding them. With m_j = low_j + 128 step_j the
// middle of the range (plus the centroid for residual codes), u = q - m and e_j = c_j - 128:
//   l2:  ||q - x||^2 ~ ||u||^2 - 2 sum_j u_j step_j e_j + sum_j (step_j e_j)^2
//   dot: q.x         ~ q.m + sum_j q_j step_j e_j          (cosine, ip)
// The middle sums are one integer dot product of the codes with weights w_j (u_j step_j, or
// q_j step_j) rounded to int8 with one scale per query and cluster (simd::dot_u8s8_rows: VNNI
// where the CPU has it), less 128 sum_j w_j; the last term is stored per row. Offsets from the
// middle keep the weights small and of both signs, so their rounding costs the least. The
// estimate ranks candidates; the executor re-scores the best ones with their float vectors.

#include "engine/core/distance.hpp"
#include "engine/core/topk.hpp"
#include "engine/index/ivf.hpp"
#include "engine/index/quantization.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace puffer::index {

struct sq8_params {
    bool residual = false;    // codes are of the row minus its cluster's centroid
    std::vector<float> low;   // per dimension
    std::vector<float> step;  // per dimension, >= 0 (0: every row has low_j there)
    std::size_t dimension() const { return low.size(); }
    bool operator==(const sq8_params&) const = default;
};

// A cluster's block of codes: rows * d code bytes (row after row), zero bytes up to a multiple of
// 4, then one f32 per row: sum_j (step_j (c_j - 128))^2.
inline std::size_t sq8_codes_bytes(std::size_t rows, std::size_t d)
{
    return (rows * d + 3) / 4 * 4;
}
inline std::size_t sq8_block_bytes(std::size_t rows, std::size_t d)
{
    return sq8_codes_bytes(rows, d) + 4 * rows;
}

// Trains per-dimension ranges on the rows of layout (vectors: source rows, n * d): the minimum
// and maximum of each dimension, of the rows or of their residuals to their centroids.
sq8_params train_sq8(const float* vectors, const ivf_layout& layout, bool residual);

// Encodes cluster c of layout into out (sq8_block_bytes of its rows).
void encode_sq8_cluster(const sq8_params& p, const float* vectors, const ivf_layout& layout, std::size_t c,
                        std::byte* out);

// A query prepared for one cluster's codes.
struct sq8_query {
    std::vector<std::int8_t> w;  // d weights
    float w_scale = 0;           // the weights stand for w_scale * w_j
    float constant = 0;          // l2: ||u||^2; dot: q.m
    std::int32_t code_bias = 0;  // 128 sum_j w_j: the integer dot product's offset
    std::vector<float> weights;  // scratch: the weights before rounding
};

// Prepares q (normalized for cosine) for the codes of a cluster whose centroid is centroid
// (used only when p.residual).
void prepare_sq8_query(metric m, const sq8_params& p, const float* q, const float* centroid, sq8_query& out);

// Estimated distances (lower is closer, as distance()) of the n rows of a block; rows whose bit
// skip_first + i of skip is set are left out; the others go into heap with keys first_key + i.
// scratch is reused. Returns the rows scanned.
std::size_t scan_sq8_block(metric m, const sq8_query& q, const std::byte* block, std::size_t n, std::size_t d,
                           std::uint64_t first_key, topk<std::uint64_t>& heap, const std::uint64_t* skip,
                           std::uint64_t skip_first, std::vector<std::int32_t>& scratch);

}  // namespace puffer::index
