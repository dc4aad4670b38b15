// Scalar reference kernels: the definition every SIMD kernel is tested against.
#include "engine/core/distance_kernels.hpp"

namespace puffer::simd::detail {
namespace {

float l2_sqr(const float* x, const float* y, std::size_t d)
{
    float sum = 0;
    for (std::size_t j = 0; j < d; ++j) {
        float diff = x[j] - y[j];
        sum += diff * diff;
    }
    return sum;
}

float dot(const float* x, const float* y, std::size_t d)
{
    float sum = 0;
    for (std::size_t j = 0; j < d; ++j) {
        sum += x[j] * y[j];
    }
    return sum;
}

void l2_sqr_rows(const float* q, const float* x, std::size_t n, std::size_t d, float* out)
{
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = l2_sqr(q, x + i * d, d);
    }
}

void dot_rows(const float* q, const float* x, std::size_t n, std::size_t d, float* out)
{
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = dot(q, x + i * d, d);
    }
}

void l2_sqr_gather(const float* q, const float* const* rows, std::size_t n, std::size_t d, float* out)
{
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = l2_sqr(q, rows[i], d);
    }
}

void dot_gather(const float* q, const float* const* rows, std::size_t n, std::size_t d, float* out)
{
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = dot(q, rows[i], d);
    }
}

void dot_matrix(const float* x, std::size_t nx, const float* y, std::size_t ny, std::size_t d,
                float* out)
{
    for (std::size_t i = 0; i < nx; ++i) {
        for (std::size_t j = 0; j < ny; ++j) {
            out[i * ny + j] = dot(x + i * d, y + j * d, d);
        }
    }
}

float sum(const float* x, std::size_t n)
{
    float s = 0;
    for (std::size_t i = 0; i < n; ++i) {
        s += x[i];
    }
    return s;
}

void dot_u8s8_rows(const std::int8_t* w, const std::uint8_t* codes, std::size_t n, std::size_t d, std::size_t stride,
                   std::int32_t* out)
{
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t* c = codes + i * stride;
        std::int32_t sum = 0;
        for (std::size_t j = 0; j < d; ++j) {
            sum += static_cast<std::int32_t>(c[j]) * static_cast<std::int32_t>(w[j]);
        }
        out[i] = sum;
    }
}

// Counts bits without the popcnt instruction (this file is compiled for any x86-64).
inline std::int32_t ones(std::uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return static_cast<std::int32_t>((x * 0x0101010101010101ull) >> 56);
}

void bits_dot_rows(const std::uint64_t* planes, const std::uint64_t* codes, std::size_t n, std::size_t words,
                   std::int32_t* out)
{
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t* c = codes + i * words;
        std::int32_t sum = 0;
        for (std::size_t p = 0; p < 4; ++p) {
            std::int32_t count = 0;
            for (std::size_t w = 0; w < words; ++w) {
                count += ones(c[w] & planes[p * words + w]);
            }
            sum += count << p;
        }
        out[i] = sum;
    }
}

}  // namespace

const kernel_table scalar_table = {
    level::scalar, l2_sqr, dot, l2_sqr_rows, dot_rows, l2_sqr_gather, dot_gather, dot_matrix, sum,
    dot_u8s8_rows, "scalar", bits_dot_rows, "scalar",
};

}  // namespace puffer::simd::detail
