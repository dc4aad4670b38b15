// AVX-512 VNNI kernel for 8-bit codes: vpdpbusd multiplies 64 unsigned codes by 64 signed
// weights and adds each group of four products into a 32-bit lane, exactly. Compiled with
// -mavx512vnni; only called after CPU detection says the machine has it.
#include "engine/core/distance_kernels.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace puffer::simd::detail {
namespace {

inline __mmask64 tail_mask(std::size_t remaining)
{
    return remaining >= 64 ? ~__mmask64{0} : (__mmask64{1} << remaining) - 1;
}

}  // namespace

void dot_u8s8_rows_vnni(const std::int8_t* w, const std::uint8_t* codes, std::size_t n, std::size_t d,
                        std::size_t stride, std::int32_t* out)
{
    std::size_t i = 0;
    // Two rows at a time: their sums are independent chains.
    for (; i + 2 <= n; i += 2) {
        const std::uint8_t* c0 = codes + i * stride;
        const std::uint8_t* c1 = c0 + stride;
        __m512i a0 = _mm512_setzero_si512();
        __m512i a1 = _mm512_setzero_si512();
        for (std::size_t j = 0; j < d; j += 64) {
            __mmask64 m = tail_mask(d - j);
            __m512i wv = _mm512_maskz_loadu_epi8(m, w + j);
            a0 = _mm512_dpbusd_epi32(a0, _mm512_maskz_loadu_epi8(m, c0 + j), wv);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_maskz_loadu_epi8(m, c1 + j), wv);
        }
        out[i] = _mm512_reduce_add_epi32(a0);
        out[i + 1] = _mm512_reduce_add_epi32(a1);
    }
    for (; i < n; ++i) {
        const std::uint8_t* c0 = codes + i * stride;
        __m512i a0 = _mm512_setzero_si512();
        for (std::size_t j = 0; j < d; j += 64) {
            __mmask64 m = tail_mask(d - j);
            a0 = _mm512_dpbusd_epi32(a0, _mm512_maskz_loadu_epi8(m, c0 + j), _mm512_maskz_loadu_epi8(m, w + j));
        }
        out[i] = _mm512_reduce_add_epi32(a0);
    }
}

}  // namespace puffer::simd::detail

#pragma GCC diagnostic pop
