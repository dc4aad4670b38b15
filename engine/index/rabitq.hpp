#pragma once
// 1-bit RaBitQ codes of a segment's vectors (Gao and Long, SIGMOD 2024). Each row's residual to
// its cluster's centroid, r = x - c, is rotated by a random orthogonal matrix P (D x D, D = d
// rounded up to 64, the row padded with zeros) and stored as the signs of P r: D bits. The row
// stands for the unit vector o' = (2 b - 1) / sqrt(D) in the rotated space, and
// x0 = <o', P r / |r|> (between 1 / sqrt(D) and 1) says how well.
//
// For a query vector v in the rotated space (P (q - c) for l2, P q for the dot metrics),
// <r, v> is estimated without bias by |r| <o', v> / x0, with an error below
//   eps0 |v| |r| sqrt(1 - x0^2) / (x0 sqrt(D - 1))
// for all but a vanishing share of rows (eps0 = 1.9). The estimate's lower and upper bounds let
// the executor re-rank only the rows that can still be among the nearest.
//
// <o', v> is computed from integers: v is rounded to 4 bits per dimension (v_i ~ low + delta u_i)
// and <b, u> = sum over the four bit planes p of u of 2^p popcount(b AND plane p)
// (simd::bits_dot_rows; VPOPCNTDQ where the CPU has it).

#include "engine/core/distance.hpp"
#include "engine/core/topk.hpp"
#include "engine/index/ivf.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace puffer::index {

// The error bound's constant (the paper's eps0: the bound fails for a vanishing share of rows).
inline constexpr float rabitq_epsilon = 1.9f;

inline std::size_t rabitq_padded(std::size_t d) { return (d + 63) / 64 * 64; }
inline std::size_t rabitq_words(std::size_t d) { return rabitq_padded(d) / 64; }

struct rabitq_params {
    std::size_t dimension = 0;    // d
    std::vector<float> rotation;  // D rows of d: the first d columns of P (the rest meet zeros)
    std::size_t padded() const { return rabitq_padded(dimension); }
    bool operator==(const rabitq_params&) const = default;
};

// Per row, after the bits: f32 |r|^2, |r| / x0, |r| sqrt(1 - x0^2) / (x0 sqrt(D - 1)), and the
// number of bits set (as a float).
inline constexpr std::size_t rabitq_factors_bytes = 16;
// A cluster's block: rows * words u64 bit words (row after row), then rows * 16 bytes of factors.
inline std::size_t rabitq_block_bytes(std::size_t rows, std::size_t d)
{
    return rows * (rabitq_words(d) * 8 + rabitq_factors_bytes);
}

// A random rotation for dimension d drawn from seed: Gaussian rows made orthonormal (modified
// Gram-Schmidt in double precision).
rabitq_params make_rabitq_params(std::size_t d, std::uint64_t seed);

// The rotation every segment of dimension d uses (drawn from one fixed seed, computed once per
// process and dimension: its cost grows as D^3). Safe for concurrent use.
const rabitq_params& rabitq_rotation(std::size_t d);
// The largest dimension rabitq codes are offered for (its rotation takes seconds beyond).
inline constexpr std::size_t rabitq_dimension_max = 2048;

// out (D floats) = P x for x of d floats.
void rabitq_rotate(const rabitq_params& p, const float* x, float* out);
// The same for n rows of x at once: out is n rows of D.
void rabitq_rotate_rows(const rabitq_params& p, const float* x, std::size_t n, float* out);

// Encodes cluster c of layout (vectors: source rows, n * d) into out (rabitq_block_bytes).
void encode_rabitq_cluster(const rabitq_params& p, const float* vectors, const ivf_layout& layout, std::size_t c,
                           std::byte* out);

// A query prepared for one cluster's codes.
struct rabitq_query {
    std::vector<std::uint64_t> planes;  // 4 * words: the bit planes of the 4-bit query
    float low = 0;                      // v_i ~ low + delta u_i
    float delta = 0;
    float sum = 0;       // sum of the rounded v_i (over D)
    float norm = 0;      // |v|
    float constant = 0;  // l2: |v|^2 = |q - c|^2; dot: q.c
    std::vector<float> v;         // scratch
    std::vector<std::uint8_t> u;  // scratch: the 4-bit values
};

// Prepares the query for a cluster: rotated_q = P q (rabitq_rotate), rotated_centroid = P c
// (l2 only), q_dot_c = q.c (dot metrics only).
void prepare_rabitq_query(metric m, const rabitq_params& p, const float* rotated_q, const float* rotated_centroid,
                          float q_dot_c, rabitq_query& out);

// Scans a block of n rows as scan_sq8_block does. Each row goes into heap by the lower bound of
// its distance and, when upper is given, into upper by the upper bound (the k-th smallest upper
// bound is a distance at least k rows are within: rows whose lower bound exceeds it need no
// re-ranking). Returns the rows scanned.
std::size_t scan_rabitq_block(metric m, const rabitq_query& q, const std::byte* block, std::size_t n, std::size_t d,
                              std::uint64_t first_key, topk<std::uint64_t>& heap, topk<std::uint64_t>* upper,
                              const std::uint64_t* skip, std::uint64_t skip_first, std::vector<std::int32_t>& scratch);

// The estimate and its bound for row i of a block (tests and tools): distance as distance().
struct rabitq_estimate {
    float distance;
    float bound;
};
rabitq_estimate estimate_rabitq_row(metric m, const rabitq_query& q, const std::byte* block, std::size_t n,
                                    std::size_t d, std::size_t i);

}  // namespace puffer::index
