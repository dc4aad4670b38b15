// AVX-512F kernels (16 floats per register, masked tails). Compiled with -mavx512f -mfma; only
// called after CPU detection says the machine has them.
#include "engine/core/distance_kernels.hpp"

// GCC 12's avx512fintrin.h builds some intrinsics from _mm512_undefined_ps() and then warns that
// the undefined value is used; the warning is about the header, not this code. Clang has no
// -Wmaybe-uninitialized (it would warn about the unknown group instead).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdlib>

namespace puffer::simd::detail {
namespace {

inline __mmask16 tail_mask(std::size_t remaining)
{
    return static_cast<__mmask16>((1u << remaining) - 1u);
}

float l2_sqr(const float* x, const float* y, std::size_t d)
{
    __m512 a0 = _mm512_setzero_ps();
    __m512 a1 = _mm512_setzero_ps();
    std::size_t j = 0;
    for (; j + 32 <= d; j += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + j), _mm512_loadu_ps(y + j));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(x + j + 16), _mm512_loadu_ps(y + j + 16));
        a0 = _mm512_fmadd_ps(d0, d0, a0);
        a1 = _mm512_fmadd_ps(d1, d1, a1);
    }
    if (j + 16 <= d) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + j), _mm512_loadu_ps(y + j));
        a0 = _mm512_fmadd_ps(d0, d0, a0);
        j += 16;
    }
    if (j < d) {
        __mmask16 m = tail_mask(d - j);
        __m512 d0 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), _mm512_maskz_loadu_ps(m, y + j));
        a1 = _mm512_fmadd_ps(d0, d0, a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

float dot(const float* x, const float* y, std::size_t d)
{
    __m512 a0 = _mm512_setzero_ps();
    __m512 a1 = _mm512_setzero_ps();
    std::size_t j = 0;
    for (; j + 32 <= d; j += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j), _mm512_loadu_ps(y + j), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j + 16), _mm512_loadu_ps(y + j + 16), a1);
    }
    if (j + 16 <= d) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j), _mm512_loadu_ps(y + j), a0);
        j += 16;
    }
    if (j < d) {
        __mmask16 m = tail_mask(d - j);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + j), _mm512_maskz_loadu_ps(m, y + j), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

// Four rows at a time: four independent FMA chains hide the FMA latency, and q is loaded once
// per four rows. At d = 128 a row costs about 24 uops for 512 bytes, far below what memory
// delivers, so a scan of data outside the cache runs at memory bandwidth.
template <class RowOf>
inline void l2_sqr_impl(const float* q, RowOf row_of, std::size_t n, std::size_t d, float* out)
{
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float* r0 = row_of(i);
        const float* r1 = row_of(i + 1);
        const float* r2 = row_of(i + 2);
        const float* r3 = row_of(i + 3);
        __m512 a0 = _mm512_setzero_ps();
        __m512 a1 = _mm512_setzero_ps();
        __m512 a2 = _mm512_setzero_ps();
        __m512 a3 = _mm512_setzero_ps();
        std::size_t j = 0;
        for (; j + 16 <= d; j += 16) {
            __m512 qv = _mm512_loadu_ps(q + j);
            __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(r0 + j), qv);
            __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(r1 + j), qv);
            __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(r2 + j), qv);
            __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(r3 + j), qv);
            a0 = _mm512_fmadd_ps(d0, d0, a0);
            a1 = _mm512_fmadd_ps(d1, d1, a1);
            a2 = _mm512_fmadd_ps(d2, d2, a2);
            a3 = _mm512_fmadd_ps(d3, d3, a3);
        }
        if (j < d) {
            __mmask16 m = tail_mask(d - j);
            __m512 qv = _mm512_maskz_loadu_ps(m, q + j);
            __m512 d0 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r0 + j), qv);
            __m512 d1 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r1 + j), qv);
            __m512 d2 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r2 + j), qv);
            __m512 d3 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r3 + j), qv);
            a0 = _mm512_fmadd_ps(d0, d0, a0);
            a1 = _mm512_fmadd_ps(d1, d1, a1);
            a2 = _mm512_fmadd_ps(d2, d2, a2);
            a3 = _mm512_fmadd_ps(d3, d3, a3);
        }
        out[i] = _mm512_reduce_add_ps(a0);
        out[i + 1] = _mm512_reduce_add_ps(a1);
        out[i + 2] = _mm512_reduce_add_ps(a2);
        out[i + 3] = _mm512_reduce_add_ps(a3);
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
        __m512 a0 = _mm512_setzero_ps();
        __m512 a1 = _mm512_setzero_ps();
        __m512 a2 = _mm512_setzero_ps();
        __m512 a3 = _mm512_setzero_ps();
        std::size_t j = 0;
        for (; j + 16 <= d; j += 16) {
            __m512 qv = _mm512_loadu_ps(q + j);
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + j), qv, a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(r1 + j), qv, a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(r2 + j), qv, a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(r3 + j), qv, a3);
        }
        if (j < d) {
            __mmask16 m = tail_mask(d - j);
            __m512 qv = _mm512_maskz_loadu_ps(m, q + j);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r0 + j), qv, a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r1 + j), qv, a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r2 + j), qv, a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r3 + j), qv, a3);
        }
        out[i] = _mm512_reduce_add_ps(a0);
        out[i + 1] = _mm512_reduce_add_ps(a1);
        out[i + 2] = _mm512_reduce_add_ps(a2);
        out[i + 3] = _mm512_reduce_add_ps(a3);
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

// Columns of y handled per packed block (two registers of 16).
constexpr std::size_t block_columns = 32;
// Rows of x per micro-kernel call: 6 rows x 2 registers = 12 accumulators, plus 2 for the packed
// y values, within the 32 zmm registers with room for the broadcasts.
constexpr std::size_t block_rows = 6;

// acc[r][c] = sum_j x[r][j] * packed[j][c] for R rows and 32 packed columns; stores ncols of them.
template <std::size_t R>
inline void micro_kernel(const float* x, std::size_t d, const float* packed, float* out,
                         std::size_t out_stride, __mmask16 m0, __mmask16 m1)
{
    __m512 acc[R][2];
    for (std::size_t r = 0; r < R; ++r) {
        acc[r][0] = _mm512_setzero_ps();
        acc[r][1] = _mm512_setzero_ps();
    }
    for (std::size_t j = 0; j < d; ++j) {
        __m512 b0 = _mm512_load_ps(packed + j * block_columns);
        __m512 b1 = _mm512_load_ps(packed + j * block_columns + 16);
        for (std::size_t r = 0; r < R; ++r) {
            __m512 a = _mm512_set1_ps(x[r * d + j]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    for (std::size_t r = 0; r < R; ++r) {
        _mm512_mask_storeu_ps(out + r * out_stride, m0, acc[r][0]);
        _mm512_mask_storeu_ps(out + r * out_stride + 16, m1, acc[r][1]);
    }
}

void dot_matrix(const float* x, std::size_t nx, const float* y, std::size_t ny, std::size_t d,
                float* out)
{
    // packed[j * 32 + c] = y[(block + c) * d + j]: one aligned load gives 16 columns at dim j.
    auto* packed = static_cast<float*>(std::aligned_alloc(64, d * block_columns * sizeof(float)));
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
        __mmask16 m0 = columns >= 16 ? static_cast<__mmask16>(0xFFFF) : tail_mask(columns);
        __mmask16 m1 = columns <= 16   ? static_cast<__mmask16>(0)
                       : columns >= 32 ? static_cast<__mmask16>(0xFFFF)
                                       : tail_mask(columns - 16);
        std::size_t i = 0;
        for (; i + block_rows <= nx; i += block_rows) {
            micro_kernel<block_rows>(x + i * d, d, packed, out + i * ny + y0, ny, m0, m1);
        }
        for (; i < nx; ++i) {
            micro_kernel<1>(x + i * d, d, packed, out + i * ny + y0, ny, m0, m1);
        }
    }
    std::free(packed);
}

float sum(const float* x, std::size_t n)
{
    __m512 a0 = _mm512_setzero_ps();
    __m512 a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps();
    __m512 a3 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + i + 48));
    }
    for (; i + 16 <= n; i += 16) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
    }
    if (i < n) {
        a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(tail_mask(n - i), x + i));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

// AVX-512BW without VNNI: 32 codes at a time widened to 16 bits, then vpmaddwd (exact).
std::int32_t dot_u8s8(const std::int8_t* w, const std::uint8_t* c, std::size_t d)
{
    __m512i a0 = _mm512_setzero_si512();
    __m512i a1 = _mm512_setzero_si512();
    std::size_t j = 0;
    for (; j + 64 <= d; j += 64) {
        __m512i c0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + j)));
        __m512i w0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j)));
        __m512i c1 = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + j + 32)));
        __m512i w1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j + 32)));
        a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(c0, w0));
        a1 = _mm512_add_epi32(a1, _mm512_madd_epi16(c1, w1));
    }
    for (; j < d; j += 32) {
        std::size_t left = d - j < 32 ? d - j : 32;
        auto mask = static_cast<__mmask32>(left == 32 ? 0xFFFFFFFFu : (1u << left) - 1u);
        __m512i c0 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(mask, c + j));
        __m512i w0 = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mask, w + j));
        a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(c0, w0));
    }
    return _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1));
}

void dot_u8s8_rows(const std::int8_t* w, const std::uint8_t* codes, std::size_t n, std::size_t d, std::size_t stride,
                   std::int32_t* out)
{
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = dot_u8s8(w, codes + i * stride, d);
    }
}

}  // namespace

const kernel_table avx512_table = {
    level::avx512, l2_sqr, dot, l2_sqr_rows, dot_rows, l2_sqr_gather, dot_gather, dot_matrix, sum,
    dot_u8s8_rows, "avx512bw", bits_dot_rows_popcnt, "popcnt",
};

}  // namespace puffer::simd::detail

#pragma GCC diagnostic pop
