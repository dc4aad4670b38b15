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

// The sums of 16 accumulators' lanes, in order: out[i] = sum of a[i]'s 16 lanes. Pairs of
// unpacks, then of 128-bit shuffles, add lanes within each accumulator while gathering the 16
// results into one register: about two instructions per row instead of a full reduction each.
inline __m512i reduce16(const __m512i* a)
{
    __m512i t[8];
    for (int i = 0; i < 8; ++i) {
        t[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(a[2 * i], a[2 * i + 1]),
                                _mm512_unpackhi_epi32(a[2 * i], a[2 * i + 1]));
    }
    __m512i u[4];
    for (int i = 0; i < 4; ++i) {
        u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                                _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
    }
    // u[i]'s 128-bit lane L holds lane L's partial sums of rows 4i..4i+3.
    __m512i v0 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                  _mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
    __m512i v1 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                  _mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(v0, v1, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(v0, v1, _MM_SHUFFLE(3, 1, 3, 1)));
}

}  // namespace

void dot_u8s8_rows_vnni(const std::int8_t* w, const std::uint8_t* codes, std::size_t n, std::size_t d,
                        std::size_t stride, std::int32_t* out)
{
    std::size_t i = 0;
    // Sixteen rows at a time, their sums gathered by reduce16.
    for (; i + 16 <= n; i += 16) {
        const std::uint8_t* c = codes + i * stride;
        __m512i a[16];
        for (int r = 0; r < 16; ++r) {
            a[r] = _mm512_setzero_si512();
        }
        for (std::size_t j = 0; j < d; j += 64) {
            __mmask64 m = tail_mask(d - j);
            __m512i wv = _mm512_maskz_loadu_epi8(m, w + j);
            for (int r = 0; r < 16; ++r) {
                a[r] = _mm512_dpbusd_epi32(a[r], _mm512_maskz_loadu_epi8(m, c + r * stride + j), wv);
            }
        }
        _mm512_storeu_si512(out + i, reduce16(a));
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
