#pragma once
// Distance metrics and the SIMD kernels that compute them. Kernels exist at three levels (scalar
// reference, AVX2+FMA, AVX-512); one table is chosen once at start by CPU detection and may be
// forced with PUFFER_SIMD=scalar|avx2|avx512 or simd::force_level() (tests, benchmarks).
//
// Conventions: every "distance" is lower-is-closer. L2 is the squared Euclidean distance; for
// cosine (vectors normalized once at insert and at query) and inner product the distance is the
// negated dot product. score_from_distance() turns it back into the value users see.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace puffer {

enum class metric : std::uint8_t { l2 = 0, cosine = 1, inner_product = 2 };

std::string_view to_string(metric m);
std::optional<metric> parse_metric(std::string_view name);  // "l2", "cosine", "ip"/"dot"
bool metric_from_code(std::uint8_t code, metric& out);  // on-disk byte -> metric

// Score shown to users: squared L2 distance for l2 (lower is better), dot product otherwise
// (cosine similarity after normalization; higher is better).
inline float score_from_distance(metric m, float distance)
{
    return m == metric::l2 ? distance : -distance;
}

// Scales x (size d) to unit length in place. Returns false (leaving x unchanged) when its norm is
// zero or not finite, which cosine cannot rank.
bool normalize(float* x, std::size_t d);

namespace simd {

enum class level : std::uint8_t { scalar = 0, avx2 = 1, avx512 = 2 };

std::string_view to_string(level l);
std::optional<level> parse_level(std::string_view name);

struct kernel_table {
    level simd_level;
    // x, y: size d.
    float (*l2_sqr)(const float* x, const float* y, std::size_t d);
    float (*dot)(const float* x, const float* y, std::size_t d);
    // q: size d; x: n rows of d, row-major; out: size n. out[i] = l2_sqr(q, x + i*d).
    void (*l2_sqr_rows)(const float* q, const float* x, std::size_t n, std::size_t d, float* out);
    // out[i] = dot(q, x + i*d).
    void (*dot_rows)(const float* q, const float* x, std::size_t n, std::size_t d, float* out);
    // The same over n rows anywhere: out[i] = l2_sqr(q, rows[i]). Rows taken in groups of four
    // from different clusters are four memory streams, which one core reads faster than one
    // stream (measured here: 11.3 GB/s for one, 15.2 GB/s for four).
    void (*l2_sqr_gather)(const float* q, const float* const* rows, std::size_t n, std::size_t d, float* out);
    void (*dot_gather)(const float* q, const float* const* rows, std::size_t n, std::size_t d, float* out);
    // x: nx rows of d; y: ny rows of d; out: nx * ny, out[i*ny + j] = dot(x_i, y_j).
    // The k-means assignment kernel (a matrix product, register-blocked).
    void (*dot_matrix)(const float* x, std::size_t nx, const float* y, std::size_t ny,
                       std::size_t d, float* out);
    // Sum of x (size n). Only the bandwidth baseline of the benchmarks uses it.
    float (*sum)(const float* x, std::size_t n);
    // 8-bit codes (index/sq8): out[i] = sum over j < d of codes[i * stride + j] * w[j], exact in
    // 32-bit integers (d <= 65536 keeps it in range). Every level computes the same integers.
    void (*dot_u8s8_rows)(const std::int8_t* w, const std::uint8_t* codes, std::size_t n, std::size_t d,
                          std::size_t stride, std::int32_t* out);
    // Which instructions dot_u8s8_rows uses ("scalar", "avx2", "avx512bw", "avx512vnni").
    const char* u8s8_name;
    // 1-bit codes (index/rabitq): codes are n rows of `words` u64 bit words, planes four bit
    // planes of `words` words (plane p at planes + p * words). out[i] = sum over p < 4 of
    // 2^p * popcount(row i AND plane p), summed over the words. Exact at every level.
    void (*bits_dot_rows)(const std::uint64_t* planes, const std::uint64_t* codes, std::size_t n, std::size_t words,
                          std::int32_t* out);
    // Which instructions bits_dot_rows uses ("scalar", "popcnt", "avx512vpopcntdq").
    const char* bits_name;
};

// The best level this CPU (and OS) supports.
level best_supported_level();
// Table for a level, or nullptr when the CPU lacks it. The AVX-512 table takes VNNI's vpdpbusd
// for the 8-bit kernels and VPOPCNTDQ for the 1-bit ones when the CPU has them.
const kernel_table* table_for(level l);
// Every 8-bit code kernel this CPU can run, VNNI and not (the tests hold each to the scalar one).
struct u8s8_kernel {
    const char* name;
    void (*rows)(const std::int8_t* w, const std::uint8_t* codes, std::size_t n, std::size_t d, std::size_t stride,
                 std::int32_t* out);
};
std::size_t u8s8_kernels(u8s8_kernel* out, std::size_t capacity);
// The same for the 1-bit code kernel.
struct bits_kernel {
    const char* name;
    void (*rows)(const std::uint64_t* planes, const std::uint64_t* codes, std::size_t n, std::size_t words,
                 std::int32_t* out);
};
std::size_t bits_kernels(bits_kernel* out, std::size_t capacity);
// The table in use. First call decides: PUFFER_SIMD if set and supported, else the best level.
const kernel_table& active();
// Forces a level; returns false (and changes nothing) if the CPU lacks it.
// REQUIRES: no kernel runs concurrently on another thread.
bool force_level(level l);

}  // namespace simd

// Lower-is-closer distance of x to y under m (cosine inputs already normalized).
inline float distance(metric m, const float* x, const float* y, std::size_t d)
{
    const auto& k = simd::active();
    return m == metric::l2 ? k.l2_sqr(x, y, d) : -k.dot(x, y, d);
}

// out[i] = distance(m, q, x + i*d), i < n.
void distance_rows(metric m, const float* q, const float* x, std::size_t n, std::size_t d,
                   float* out);
// out[i] = distance(m, q, rows[i]), i < n.
void distance_gather(metric m, const float* q, const float* const* rows, std::size_t n, std::size_t d,
                     float* out);

}  // namespace puffer
