// AVX-512 VPOPCNTDQ kernel for 1-bit codes: vpopcntq counts the bits of eight words at once.
// Rows of one, two or four words are packed several to a register (eight words of codes against
// the planes repeated to match); longer rows are counted eight words at a time. Compiled with
// -mavx512vpopcntdq; only called after CPU detection says the machine has it.
#include "engine/core/distance_kernels.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace puffer::simd::detail {
namespace {

inline __m512i weighted_count(__m512i c, const __m512i* plane)
{
    __m512i s = _mm512_popcnt_epi64(_mm512_and_si512(c, plane[0]));
    s = _mm512_add_epi64(s, _mm512_slli_epi64(_mm512_popcnt_epi64(_mm512_and_si512(c, plane[1])), 1));
    s = _mm512_add_epi64(s, _mm512_slli_epi64(_mm512_popcnt_epi64(_mm512_and_si512(c, plane[2])), 2));
    return _mm512_add_epi64(s, _mm512_slli_epi64(_mm512_popcnt_epi64(_mm512_and_si512(c, plane[3])), 3));
}

}  // namespace

void bits_dot_rows_vpopcnt(const std::uint64_t* planes, const std::uint64_t* codes, std::size_t n, std::size_t words,
                           std::int32_t* out)
{
    std::size_t i = 0;
    if (words == 1 || words == 2 || words == 4) {
        const std::size_t per = 8 / words;  // rows per register
        __m512i plane[4];
        for (std::size_t p = 0; p < 4; ++p) {
            alignas(64) std::uint64_t lanes[8];
            for (std::size_t l = 0; l < 8; ++l) {
                lanes[l] = planes[p * words + l % words];
            }
            plane[p] = _mm512_load_si512(lanes);
        }
        for (; i + per <= n; i += per) {
            __m512i s = weighted_count(_mm512_loadu_si512(codes + i * words), plane);
            alignas(64) long long lanes[8];
            _mm512_store_si512(lanes, s);
            for (std::size_t r = 0; r < per; ++r) {
                long long sum = 0;
                for (std::size_t w = 0; w < words; ++w) {
                    sum += lanes[r * words + w];
                }
                out[i + r] = static_cast<std::int32_t>(sum);
            }
        }
    } else if (words % 8 == 0) {
        for (; i < n; ++i) {
            const std::uint64_t* c = codes + i * words;
            __m512i s = _mm512_setzero_si512();
            for (std::size_t w = 0; w < words; w += 8) {
                __m512i plane[4];
                for (std::size_t p = 0; p < 4; ++p) {
                    plane[p] = _mm512_loadu_si512(planes + p * words + w);
                }
                s = _mm512_add_epi64(s, weighted_count(_mm512_loadu_si512(c + w), plane));
            }
            out[i] = static_cast<std::int32_t>(_mm512_reduce_add_epi64(s));
        }
    }
    if (i < n) {
        bits_dot_rows_popcnt(planes, codes + i * words, n - i, words, out + i);
    }
}

}  // namespace puffer::simd::detail

#pragma GCC diagnostic pop
