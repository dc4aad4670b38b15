#include "engine/index/rabitq.hpp"

#include "engine/core/assert.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

namespace puffer::index {

namespace {

std::uint64_t splitmix64(std::uint64_t& state)
{
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// A standard normal draw (Box-Muller).
double gaussian(std::uint64_t& state)
{
    constexpr double two_pi = 6.283185307179586476925286766559;
    double u1 = (static_cast<double>(splitmix64(state) >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    double u2 = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(two_pi * u2);
}

}  // namespace

rabitq_params make_rabitq_params(std::size_t d, std::uint64_t seed)
{
    PUFFER_ASSERT(d > 0);
    const std::size_t D = rabitq_padded(d);
    std::vector<double> rows(D * D);
    std::uint64_t state = seed;
    for (std::size_t i = 0; i < D; ++i) {
        double* v = rows.data() + i * D;
        // Redrawn in the (vanishing) case that the draw lies in the span of the rows before it.
        for (;;) {
            for (std::size_t j = 0; j < D; ++j) {
                v[j] = gaussian(state);
            }
            for (std::size_t r = 0; r < i; ++r) {
                const double* e = rows.data() + r * D;
                double dot = 0;
                for (std::size_t j = 0; j < D; ++j) {
                    dot += v[j] * e[j];
                }
                for (std::size_t j = 0; j < D; ++j) {
                    v[j] -= dot * e[j];
                }
            }
            double norm = 0;
            for (std::size_t j = 0; j < D; ++j) {
                norm += v[j] * v[j];
            }
            norm = std::sqrt(norm);
            if (norm > 1e-6) {
                for (std::size_t j = 0; j < D; ++j) {
                    v[j] /= norm;
                }
                break;
            }
        }
    }
    rabitq_params p;
    p.dimension = d;
    p.rotation.resize(D * d);
    for (std::size_t i = 0; i < D; ++i) {
        for (std::size_t j = 0; j < d; ++j) {
            p.rotation[i * d + j] = static_cast<float>(rows[i * D + j]);
        }
    }
    return p;
}

const rabitq_params& rabitq_rotation(std::size_t d)
{
    static std::mutex mu;
    static std::map<std::size_t, std::unique_ptr<const rabitq_params>> rotations;
    std::lock_guard lock(mu);
    auto& slot = rotations[d];
    if (!slot) {
        slot = std::make_unique<const rabitq_params>(make_rabitq_params(d, 0x5241426974510001ull ^ d));
    }
    return *slot;
}

void rabitq_rotate(const rabitq_params& p, const float* x, float* out)
{
    rabitq_rotate_rows(p, x, 1, out);
}

void rabitq_rotate_rows(const rabitq_params& p, const float* x, std::size_t n, float* out)
{
    simd::active().dot_matrix(x, n, p.rotation.data(), p.padded(), p.dimension, out);
}

void encode_rabitq_cluster(const rabitq_params& p, const float* vectors, const ivf_layout& layout, std::size_t c,
                           std::byte* out)
{
    const std::size_t d = layout.dimension;
    const std::size_t D = p.padded();
    const std::size_t words = rabitq_words(d);
    const std::size_t first = layout.cluster_offsets[c];
    const std::size_t rows = layout.cluster_offsets[c + 1] - first;
    std::memset(out, 0, rabitq_block_bytes(rows, d));
    if (rows == 0) {
        return;
    }
    std::vector<float> residuals(rows * d);
    const float* centroid = layout.centroids.data() + c * d;
    for (std::size_t i = 0; i < rows; ++i) {
        const float* x = vectors + static_cast<std::size_t>(layout.order[first + i]) * d;
        for (std::size_t j = 0; j < d; ++j) {
            residuals[i * d + j] = x[j] - centroid[j];
        }
    }
    std::vector<float> rotated(rows * D);
    rabitq_rotate_rows(p, residuals.data(), rows, rotated.data());
    auto* bits = reinterpret_cast<std::uint64_t*>(out);
    std::byte* factors = out + rows * words * 8;
    const double sqrt_d = std::sqrt(static_cast<double>(D));
    for (std::size_t i = 0; i < rows; ++i) {
        const float* r = rotated.data() + i * D;
        double sq = 0;
        double l1 = 0;
        std::uint32_t ones = 0;
        for (std::size_t j = 0; j < D; ++j) {
            sq += static_cast<double>(r[j]) * r[j];
            l1 += std::fabs(static_cast<double>(r[j]));
            if (r[j] > 0) {
                bits[i * words + j / 64] |= std::uint64_t{1} << (j % 64);
                ++ones;
            }
        }
        float f[4] = {0, 0, 0, static_cast<float>(ones)};
        const double norm = std::sqrt(sq);
        if (norm > 0) {
            const double x0 = std::clamp(l1 / (sqrt_d * norm), 1.0 / sqrt_d, 1.0);
            f[0] = static_cast<float>(sq);
            f[1] = static_cast<float>(norm / x0);
            f[2] = static_cast<float>(norm * std::sqrt(std::max(0.0, 1.0 - x0 * x0)) /
                                      (x0 * std::sqrt(static_cast<double>(D > 1 ? D - 1 : 1))));
        }
        std::memcpy(factors + i * rabitq_factors_bytes, f, sizeof f);
    }
}

void prepare_rabitq_query(metric m, const rabitq_params& p, const float* rotated_q, const float* rotated_centroid,
                          float q_dot_c, rabitq_query& out)
{
    const std::size_t D = p.padded();
    const std::size_t words = D / 64;
    out.v.resize(D);
    out.planes.assign(4 * words, 0);
    float* v = out.v.data();
    float square = 0;
    if (m == metric::l2) {
        for (std::size_t j = 0; j < D; ++j) {
            v[j] = rotated_q[j] - rotated_centroid[j];
            square += v[j] * v[j];
        }
        out.constant = square;
    } else {
        for (std::size_t j = 0; j < D; ++j) {
            v[j] = rotated_q[j];
            square += v[j] * v[j];
        }
        out.constant = q_dot_c;
    }
    out.norm = std::sqrt(square);
    float low = v[0];
    float high = v[0];
    for (std::size_t j = 1; j < D; ++j) {
        low = v[j] < low ? v[j] : low;
        high = v[j] > high ? v[j] : high;
    }
    const float delta = (high - low) / 15.0f;
    // A query too large or too flat to scale: every u_i 0 (the estimate is then the constant
    // terms alone, its bound still covers the rest, and the re-ranking decides).
    const bool usable = std::isfinite(delta) && delta > 0 && std::isfinite(low);
    out.low = usable ? low : 0.0f;
    out.delta = usable ? delta : 0.0f;
    const float inverse = usable ? 1.0f / delta : 0.0f;
    std::uint32_t total = 0;
    if (usable) {
        // u_j in 0..15 (a loop the compiler vectorizes), then its four bits packed into the
        // planes 64 dimensions at a time.
        out.u.resize(D);
        std::uint8_t* u = out.u.data();
        for (std::size_t j = 0; j < D; ++j) {
            float scaled = (v[j] - low) * inverse + 0.5f;
            scaled = scaled < 0.0f ? 0.0f : (scaled > 15.0f ? 15.0f : scaled);
            u[j] = static_cast<std::uint8_t>(scaled);
        }
        for (std::size_t j = 0; j < D; ++j) {
            total += u[j];
        }
        for (std::size_t w = 0; w < words; ++w) {
            const std::uint8_t* uw = u + w * 64;
            std::uint64_t p0 = 0, p1 = 0, p2 = 0, p3 = 0;
            for (std::size_t j = 0; j < 64; ++j) {
                const std::uint64_t x = uw[j];
                p0 |= (x & 1u) << j;
                p1 |= ((x >> 1) & 1u) << j;
                p2 |= ((x >> 2) & 1u) << j;
                p3 |= ((x >> 3) & 1u) << j;
            }
            out.planes[w] = p0;
            out.planes[words + w] = p1;
            out.planes[2 * words + w] = p2;
            out.planes[3 * words + w] = p3;
        }
    }
    out.sum = static_cast<float>(D) * out.low + out.delta * static_cast<float>(total);
}

namespace {

struct row_factors {
    float square;
    float scale;
    float error;
    float ones;
};

inline rabitq_estimate estimate(metric m, const rabitq_query& q, const row_factors& f, std::int32_t dot,
                                float inverse_sqrt_d)
{
    const float ob = (2.0f * (q.low * f.ones + q.delta * static_cast<float>(dot)) - q.sum) * inverse_sqrt_d;
    if (m == metric::l2) {
        return {q.constant + f.square - 2.0f * f.scale * ob, 2.0f * rabitq_epsilon * q.norm * f.error};
    }
    return {-(q.constant + f.scale * ob), rabitq_epsilon * q.norm * f.error};
}

}  // namespace

std::size_t scan_rabitq_block(metric m, const rabitq_query& q, const std::byte* block, std::size_t n, std::size_t d,
                              std::uint64_t first_key, topk<std::uint64_t>& heap, topk<std::uint64_t>* upper,
                              const std::uint64_t* skip, std::uint64_t skip_first, std::vector<std::int32_t>& scratch)
{
    if (n == 0) {
        return 0;
    }
    const std::size_t words = rabitq_words(d);
    scratch.resize(n);
    simd::active().bits_dot_rows(q.planes.data(), reinterpret_cast<const std::uint64_t*>(block), n, words,
                                 scratch.data());
    const std::byte* factors = block + n * words * 8;
    const float inverse_sqrt_d = 1.0f / std::sqrt(static_cast<float>(words * 64));
    std::size_t scanned = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (skip != nullptr && ((skip[(skip_first + i) >> 6] >> ((skip_first + i) & 63)) & 1u) != 0) {
            continue;
        }
        ++scanned;
        row_factors f;
        std::memcpy(&f, factors + i * rabitq_factors_bytes, sizeof f);
        const rabitq_estimate e = estimate(m, q, f, scratch[i], inverse_sqrt_d);
        const float lower = e.distance - e.bound;
        if (!(lower > heap.threshold())) {
            heap.push(lower, first_key + i);
        }
        if (upper != nullptr) {
            const float high = e.distance + e.bound;
            if (!(high > upper->threshold())) {
                upper->push(high, first_key + i);
            }
        }
    }
    return scanned;
}

rabitq_estimate estimate_rabitq_row(metric m, const rabitq_query& q, const std::byte* block, std::size_t n,
                                    std::size_t d, std::size_t i)
{
    PUFFER_ASSERT(i < n);
    const std::size_t words = rabitq_words(d);
    std::int32_t dot = 0;
    simd::active().bits_dot_rows(q.planes.data(), reinterpret_cast<const std::uint64_t*>(block) + i * words, 1,
                                 words, &dot);
    row_factors f;
    std::memcpy(&f, block + n * words * 8 + i * rabitq_factors_bytes, sizeof f);
    return estimate(m, q, f, dot, 1.0f / std::sqrt(static_cast<float>(words * 64)));
}

}  // namespace puffer::index
