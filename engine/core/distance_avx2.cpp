// AVX2 + FMA kernels (8 floats per register, masked-load tails). Compiled with -mavx2 -mfma;
// only called after CPU detection says the machine has them.
#include "engine/core/distance_kernels.hpp"

#include <immintrin.h>

#include <cstdint>
#include <cstdlib>

namespace puffer::simd::detail {
namespace {

alignas(32) const std::int32_t mask_source[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                  0,  0,  0,  0,  0,  0,  0,  0};

// Lanes [0, remaining) set; REQUIRES: remaining < 8.
inline __m256i tail_mask(std::size_t remaining)
{
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mask_source + 8 - remaining));
}

inline float reduce_add(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

float l2_sqr(const float* x, const float* y, std::size_t d)
{
    __m256 a0 = _mm256_setzero_ps();
    __m256 a1 = _mm256_setzero_ps();
    std::size_t j = 0;
    for (; j + 16 <= d; j += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + j + 8), _mm256_loadu_ps(y + j + 8));
        a0 = _mm256_fmadd_ps(d0, d0, a0);
        a1 = _mm256_fmadd_ps(d1, d1, a1);
    }
    if (j + 8 <= d) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j));
        a0 = _mm256_fmadd_ps(d0, d0, a0);
        j += 8;
    }
    if (j < d) {
        __m256i m = tail_mask(d - j);
        __m256 d0 = _mm256_sub_ps(_mm256_maskload_ps(x + j, m), _mm256_maskload_ps(y + j, m));
        a1 = _mm256_fmadd_ps(d0, d0, a1);
    }
    return reduce_add(_mm256_add_ps(a0, a1));
}

float dot(const float* x, const float* y, std::size_t d)
{
    __m256 a0 = _mm256_setzero_ps();
    __m256 a1 = _mm256_setzero_ps();
    std::size_t j = 0;
    for (; j + 16 <= d; j += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 8), _mm256_loadu_ps(y + j + 8), a1);
    }
    if (j + 8 <= d) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j), a0);
        j += 8;
    }
    if (j < d) {
        __m256i m = tail_mask(d - j);
        a1 = _mm256_fmadd_ps(_mm256_maskload_ps(x + j, m), _mm256_maskload_ps(y + j, m), a1);
    }
    return reduce_add(_mm256_add_ps(a0, a1));
}

template <class RowOf>
inline void l2_sqr_impl(const float* q, RowOf row_of, std::size_t n, std::size_t d, float* out)
{
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float* r0 = row_of(i);
        const float* r1 = row_of(i + 1);
        const float* r2 = row_of(i + 2);
        const float* r3 = row_of(i + 3);
        __m256 a0 = _mm256_setzero_ps();
        __m256 a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps();
        __m256 a3 = _mm256_setzero_ps();
        std::size_t j = 0;
        for (; j + 8 <= d; j += 8) {
            __m256 qv = _mm256_loadu_ps(q + j);
            __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(r0 + j), qv);
            __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(r1 + j), qv);
            __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(r2 + j), qv);
            __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(r3 + j), qv);
            a0 = _mm256_fmadd_ps(d0, d0, a0);
            a1 = _mm256_fmadd_ps(d1, d1, a1);
            a2 = _mm256_fmadd_ps(d2, d2, a2);
            a3 = _mm256_fmadd_ps(d3, d3, a3);
        }
        if (j < d) {
            __m256i m = tail_mask(d - j);
            __m256 qv = _mm256_maskload_ps(q + j, m);
            __m256 d0 = _mm256_sub_ps(_mm256_maskload_ps(r0 + j, m), qv);
            __m256 d1 = _mm256_sub_ps(_mm256_maskload_ps(r1 + j, m), qv);
            __m256 d2 = _mm256_sub_ps(_mm256_maskload_ps(r2 + j, m), qv);
            __m256 d3 = _mm256_sub_ps(_mm256_maskload_ps(r3 + j, m), qv);
            a0 = _mm256_fmadd_ps(d0, d0, a0);
            a1 = _mm256_fmadd_ps(d1, d1, a1);
            a2 = _mm256_fmadd_ps(d2, d2, a2);
            a3 = _mm256_fmadd_ps(d3, d3, a3);
        }
        out[i] = reduce_add(a0);
        out[i + 1] = reduce_add(a1);
        out[i + 2] = reduce_add(a2);
        out[i + 3] = reduce_add(a3);
    }
    for (; i < n; ++i) {
        out[i] = l2_sqr(q, row_of(i), d);
    }
}

void l2_sqr_rows(const float* q, const float* x, std::size_t n, std::size_t d, float* out)
{
    l2_sqr_impl(q, [x, d](std::size_t i) { return x + i * d; }, n, d, out);
}

void l2_sqr_gather(const float* q, const float* const* rows, std::size_t n, std::size_t d, float* out)
{
    l2_sqr_impl(q, [rows](std::size_t i) { return rows[i]; }, n, d, out);
}

template <class RowOf>
inline void dot_impl(const float* q, RowOf row_of, std::size_t n, std::size_t d, float* out)
{
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float* r0 = row_of(i);
        const float* r1 = row_of(i + 1);
        const float* r2 = row_of(i + 2);
        const float* r3 = row_of(i + 3);
        __m256 a0 = _mm256_setzero_ps();
        __m256 a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps();
        __m256 a3 = _mm256_setzero_ps();
        std::size_t j = 0;
        for (; j + 8 <= d; j += 8) {
            __m256 qv = _mm256_loadu_ps(q + j);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + j), qv, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + j), qv, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + j), qv, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(r3 + j), qv, a3);
        }
        if (j < d) {
            __m256i m = tail_mask(d - j);
            __m256 qv = _mm256_maskload_ps(q + j, m);
            a0 = _mm256_fmadd_ps(_mm256_maskload_ps(r0 + j, m), qv, a0);
            a1 = _mm256_fmadd_ps(_mm256_maskload_ps(r1 + j, m), qv, a1);
            a2 = _mm256_fmadd_ps(_mm256_maskload_ps(r2 + j, m), qv, a2);
            a3 = _mm256_fmadd_ps(_mm256_maskload_ps(r3 + j, m), qv, a3);
        }
        out[i] = reduce_add(a0);
        out[i + 1] = reduce_add(a1);
        out[i + 2] = reduce_add(a2);
        out[i + 3] = reduce_add(a3);
    }
    for (; i < n; ++i) {
        out[i] = dot(q, row_of(i), d);
    }
}

void dot_rows(const float* q, const float* x, std::size_t n, std::size_t d, float* out)
{
    dot_impl(q, [x, d](std::size_t i) { return x + i * d; }, n, d, out);
}

void dot_gather(const float* q, const float* const* rows, std::size_t n, std::size_t d, float* out)
{
    dot_impl(q, [rows](std::size_t i) { return rows[i]; }, n, d, out);
}

constexpr std::size_t block_columns = 16;  // two registers of 8
constexpr std::size_t block_rows = 6;      // 12 accumulators + 2 packed + 1 broadcast <= 16

template <std::size_t R>
inline void micro_kernel(const float* x, std::size_t d, const float* packed, float* out,
                         std::size_t out_stride, std::size_t columns)
{
    __m256 acc[R][2];
    for (std::size_t r = 0; r < R; ++r) {
        acc[r][0] = _mm256_setzero_ps();
        acc[r][1] = _mm256_setzero_ps();
    }
    for (std::size_t j = 0; j < d; ++j) {
        __m256 b0 = _mm256_load_ps(packed + j * block_columns);
        __m256 b1 = _mm256_load_ps(packed + j * block_columns + 8);
        for (std::size_t r = 0; r < R; ++r) {
            __m256 a = _mm256_broadcast_ss(x + r * d + j);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    if (columns == block_columns) {
        for (std::size_t r = 0; r < R; ++r) {
            _mm256_storeu_ps(out + r * out_stride, acc[r][0]);
            _mm256_storeu_ps(out + r * out_stride + 8, acc[r][1]);
        }
        return;
    }
    alignas(32) float tmp[block_columns];
    for (std::size_t r = 0; r < R; ++r) {
        _mm256_store_ps(tmp, acc[r][0]);
        _mm256_store_ps(tmp + 8, acc[r][1]);
        for (std::size_t c = 0; c < columns; ++c) {
            out[r * out_stride + c] = tmp[c];
        }
    }
}

void dot_matrix(const float* x, std::size_t nx, const float* y, std::size_t ny, std::size_t d,
                float* out)
{
    auto* packed = static_cast<float*>(std::aligned_alloc(32, d * block_columns * sizeof(float)));
    if (packed == nullptr) {
        std::abort();
    }
    for (std::size_t y0 = 0; y0 < ny; y0 += block_columns) {
        std::size_t columns = ny - y0 < block_columns ? ny - y0 : block_columns;
        for (std::size_t j = 0; j < d; ++j) {
            for (std::size_t c = 0; c < block_columns; ++c) {
                packed[j * block_columns + c] = c < columns ? y[(y0 + c) * d + j] : 0.0f;
            }
        }
        std::size_t i = 0;
        for (; i + block_rows <= nx; i += block_rows) {
            micro_kernel<block_rows>(x + i * d, d, packed, out + i * ny + y0, ny, columns);
        }
        for (; i < nx; ++i) {
            micro_kernel<1>(x + i * d, d, packed, out + i * ny + y0, ny, columns);
        }
    }
    std::free(packed);
}

float sum(const float* x, std::size_t n)
{
    __m256 a0 = _mm256_setzero_ps();
    __m256 a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps();
    __m256 a3 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
    }
    for (; i + 8 <= n; i += 8) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
    }
    if (i < n) {
        a1 = _mm256_add_ps(a1, _mm256_maskload_ps(x + i, tail_mask(n - i)));
    }
    return reduce_add(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

// 16 codes at a time widened to 16 bits, multiplied and pair-summed into 32 bits (vpmaddwd:
// exact; vpmaddubsw would saturate 16-bit pair sums of 255 * 127).
std::int32_t dot_u8s8(const std::int8_t* w, const std::uint8_t* c, std::size_t d)
{
    __m256i a0 = _mm256_setzero_si256();
    __m256i a1 = _mm256_setzero_si256();
    std::size_t j = 0;
    for (; j + 32 <= d; j += 32) {
        __m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + j)));
        __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + j)));
        __m256i c1 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + j + 16)));
        __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + j + 16)));
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(c0, w0));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(c1, w1));
    }
    if (j + 16 <= d) {
        __m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + j)));
        __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + j)));
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(c0, w0));
        j += 16;
    }
    __m256i a = _mm256_add_epi32(a0, a1);
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    std::int32_t sum = _mm_cvtsi128_si32(s);
    for (; j < d; ++j) {
        sum += static_cast<std::int32_t>(c[j]) * static_cast<std::int32_t>(w[j]);
    }
    return sum;
}

void dot_u8s8_rows(const std::int8_t* w, const std::uint8_t* codes, std::size_t n, std::size_t d, std::size_t stride,
                   std::int32_t* out)
{
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = dot_u8s8(w, codes + i * stride, d);
    }
}

}  // namespace

void bits_dot_rows_popcnt(const std::uint64_t* planes, const std::uint64_t* codes, std::size_t n, std::size_t words,
                          std::int32_t* out)
{
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t* c = codes + i * words;
        long long sum = 0;
        for (std::size_t w = 0; w < words; ++w) {
            const std::uint64_t x = c[w];
            sum += _mm_popcnt_u64(x & planes[w]) + 2 * _mm_popcnt_u64(x & planes[words + w]) +
                   4 * _mm_popcnt_u64(x & planes[2 * words + w]) + 8 * _mm_popcnt_u64(x & planes[3 * words + w]);
        }
        out[i] = static_cast<std::int32_t>(sum);
    }
}

const kernel_table avx2_table = {
    level::avx2, l2_sqr, dot, l2_sqr_rows, dot_rows, l2_sqr_gather, dot_gather, dot_matrix, sum,
    dot_u8s8_rows, "avx2", bits_dot_rows_popcnt, "popcnt",
};

}  // namespace puffer::simd::detail
