#include "engine/index/kmeans.hpp"

#include "engine/core/assert.hpp"
#include "engine/core/distance.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace puffer::index {
namespace {

// Points per parallel chunk. Fixed, so results do not depend on the number of threads.
constexpr std::size_t chunk_points = 1024;
// Assignment tiles: point rows x centroid columns, sized so a tile of the dot-product matrix
// (256 x 512 floats = 512 KiB) and its inputs stay in the 2-4 MiB L2 of current server cores.
constexpr std::size_t tile_points = 256;
constexpr std::size_t tile_centroids = 512;

std::size_t chunk_count(std::size_t n)
{
    return (n + chunk_points - 1) / chunk_points;
}

// Uniform sample of m distinct row indexes out of n (sorted, for sequential access).
std::vector<std::size_t> sample_rows(std::size_t n, std::size_t m, std::mt19937_64& rng)
{
    std::vector<std::size_t> rows(n);
    std::iota(rows.begin(), rows.end(), std::size_t{0});
    if (m >= n) {
        return rows;
    }
    // Partial Fisher-Yates: the first m entries become the sample.
    for (std::size_t i = 0; i < m; ++i) {
        std::uniform_int_distribution<std::size_t> pick(i, n - 1);
        std::swap(rows[i], rows[pick(rng)]);
    }
    rows.resize(m);
    std::sort(rows.begin(), rows.end());
    return rows;
}

std::vector<float> gather_rows(const float* x, std::size_t d, const std::vector<std::size_t>& rows)
{
    std::vector<float> out(rows.size() * d);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        std::copy_n(x + rows[i] * d, d, out.data() + i * d);
    }
    return out;
}

double uniform01(std::mt19937_64& rng)
{
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// k-means++: each next centroid is a point drawn with probability proportional to its squared
// distance to the nearest centroid chosen so far.
bool cancelled(const kmeans_options& o)
{
    return (o.cancel != nullptr && o.cancel->load(std::memory_order_relaxed)) ||
           (o.cancel_also != nullptr && o.cancel_also->load(std::memory_order_relaxed));
}

std::vector<float> seed_plus_plus(const float* x, std::size_t n, std::size_t d, std::size_t k,
                                  std::mt19937_64& rng, thread_pool* pool, const kmeans_options& options)
{
    const auto& kernels = simd::active();
    std::vector<float> centroids(k * d);
    std::vector<float> nearest(n, std::numeric_limits<float>::infinity());
    std::vector<float> scratch(n);
    std::vector<double> chunk_sums(chunk_count(n));

    std::size_t first = std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    std::copy_n(x + first * d, d, centroids.data());
    for (std::size_t c = 1; c < k; ++c) {
        if (c % 64 == 0 && cancelled(options)) {
            break;
        }
        const float* newest = centroids.data() + (c - 1) * d;
        parallel_for(pool, chunk_count(n), [&](std::size_t chunk) {
            std::size_t begin = chunk * chunk_points;
            std::size_t end = std::min(n, begin + chunk_points);
            kernels.l2_sqr_rows(newest, x + begin * d, end - begin, d, scratch.data() + begin);
            double s = 0;
            for (std::size_t i = begin; i < end; ++i) {
                nearest[i] = std::min(nearest[i], scratch[i]);
                s += nearest[i];
            }
            chunk_sums[chunk] = s;
        });
        double total = std::accumulate(chunk_sums.begin(), chunk_sums.end(), 0.0);
        std::size_t chosen = 0;
        if (!(total > 0)) {
            // Every point coincides with a centroid: fall back to a uniform pick.
            chosen = std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
        } else {
            double target = uniform01(rng) * total;
            std::size_t chunk = 0;
            while (chunk + 1 < chunk_sums.size() && target >= chunk_sums[chunk]) {
                target -= chunk_sums[chunk];
                ++chunk;
            }
            std::size_t i = chunk * chunk_points;
            std::size_t end = std::min(n, i + chunk_points);
            chosen = end - 1;
            for (; i < end; ++i) {
                target -= nearest[i];
                if (target < 0 && nearest[i] > 0) {
                    chosen = i;
                    break;
                }
            }
        }
        std::copy_n(x + chosen * d, d, centroids.data() + c * d);
    }
    return centroids;
}

// Re-seeds cluster `target` by splitting cluster `source`: both get the source centroid moved
// by a small symmetric perturbation, so the next assignment divides the source's points.
void split_cluster(std::vector<float>& centroids, std::vector<std::size_t>& sizes, std::size_t d,
                   std::size_t source, std::size_t target)
{
    constexpr float epsilon = 1.0f / 1024;
    float* from = centroids.data() + source * d;
    float* to = centroids.data() + target * d;
    for (std::size_t j = 0; j < d; ++j) {
        float delta = (j % 2 == 0 ? 1.0f : -1.0f) * epsilon * std::max(1.0f, std::fabs(from[j]));
        to[j] = from[j] + delta;
        from[j] = from[j] - delta;
    }
    sizes[target] = sizes[source] / 2;
    sizes[source] -= sizes[target];
}

// One Lloyd update: new centroids are the means of their points (summed in a fixed order in
// double). Empty clusters split the largest cluster. Returns the number of splits.
std::size_t update_centroids(const float* x, std::size_t n, std::size_t d, std::size_t k,
                             const std::vector<std::uint32_t>& assignment,
                             std::vector<float>& centroids, std::vector<std::size_t>& sizes)
{
    std::vector<double> sums(k * d, 0.0);
    sizes.assign(k, 0);
    for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t c = assignment[i];
        ++sizes[c];
        double* s = sums.data() + static_cast<std::size_t>(c) * d;
        const float* p = x + i * d;
        for (std::size_t j = 0; j < d; ++j) {
            s[j] += p[j];
        }
    }
    for (std::size_t c = 0; c < k; ++c) {
        if (sizes[c] == 0) {
            continue;
        }
        double inverse = 1.0 / static_cast<double>(sizes[c]);
        for (std::size_t j = 0; j < d; ++j) {
            centroids[c * d + j] = static_cast<float>(sums[c * d + j] * inverse);
        }
    }
    std::size_t splits = 0;
    for (std::size_t c = 0; c < k; ++c) {
        if (sizes[c] != 0) {
            continue;
        }
        std::size_t largest = static_cast<std::size_t>(
            std::max_element(sizes.begin(), sizes.end()) - sizes.begin());
        if (sizes[largest] < 2) {
            break;  // fewer distinct points than clusters; nothing left to split
        }
        split_cluster(centroids, sizes, d, largest, c);
        ++splits;
    }
    return splits;
}

// Splits clusters above split_factor times the mean size, each time taking the centroid of the
// smallest cluster (its points go to their next-nearest centroid). Returns the number of splits.
std::size_t split_oversized(std::vector<float>& centroids, std::vector<std::size_t>& sizes,
                            std::size_t d, std::size_t n, double split_factor)
{
    std::size_t k = sizes.size();
    if (k < 2 || split_factor <= 0) {
        return 0;
    }
    double limit = split_factor * static_cast<double>(n) / static_cast<double>(k);
    std::size_t splits = 0;
    for (std::size_t round = 0; round < k / 4; ++round) {
        auto largest = static_cast<std::size_t>(
            std::max_element(sizes.begin(), sizes.end()) - sizes.begin());
        auto smallest = static_cast<std::size_t>(
            std::min_element(sizes.begin(), sizes.end()) - sizes.begin());
        if (static_cast<double>(sizes[largest]) <= limit || largest == smallest ||
            sizes[smallest] * 4 > sizes[largest]) {
            break;
        }
        split_cluster(centroids, sizes, d, largest, smallest);
        ++splits;
    }
    return splits;
}

}  // namespace

void assign_nearest(const float* x, std::size_t n, std::size_t d, const float* centroids,
                    std::size_t k, std::uint32_t* assignment, float* distances, thread_pool* pool)
{
    PUFFER_ASSERT(k >= 1);
    const auto& kernels = simd::active();
    std::vector<float> centroid_norms(k);
    for (std::size_t c = 0; c < k; ++c) {
        centroid_norms[c] = kernels.dot(centroids + c * d, centroids + c * d, d);
    }
    std::size_t tiles = (n + tile_points - 1) / tile_points;
    parallel_for(pool, tiles, [&](std::size_t tile) {
        std::size_t begin = tile * tile_points;
        std::size_t rows = std::min(tile_points, n - begin);
        const float* xt = x + begin * d;
        // ||x - c||^2 = ||x||^2 + ||c||^2 - 2 x.c; the argmin needs only ||c||^2 - 2 x.c.
        std::vector<float> best(rows, std::numeric_limits<float>::infinity());
        std::vector<std::uint32_t> best_index(rows, 0);
        std::vector<float> dots(rows * tile_centroids);
        for (std::size_t c0 = 0; c0 < k; c0 += tile_centroids) {
            std::size_t columns = std::min(tile_centroids, k - c0);
            kernels.dot_matrix(xt, rows, centroids + c0 * d, columns, d, dots.data());
            for (std::size_t r = 0; r < rows; ++r) {
                const float* row = dots.data() + r * columns;
                float b = best[r];
                std::uint32_t bi = best_index[r];
                for (std::size_t c = 0; c < columns; ++c) {
                    float value = centroid_norms[c0 + c] - 2.0f * row[c];
                    if (value < b) {
                        b = value;
                        bi = static_cast<std::uint32_t>(c0 + c);
                    }
                }
                best[r] = b;
                best_index[r] = bi;
            }
        }
        for (std::size_t r = 0; r < rows; ++r) {
            assignment[begin + r] = best_index[r];
            if (distances != nullptr) {
                // Recomputed directly: the expansion above loses precision to cancellation
                // when ||x|| is large next to the distance.
                distances[begin + r] = kernels.l2_sqr(xt + r * d, centroids + best_index[r] * d, d);
            }
        }
    });
}

kmeans_result train_kmeans(const float* x, std::size_t n, std::size_t d,
                           const kmeans_options& options, thread_pool* pool)
{
    PUFFER_ASSERT(n >= 1);
    PUFFER_ASSERT(d >= 1);
    PUFFER_ASSERT(options.cluster_count >= 1);
    kmeans_result out;
    out.dimension = d;
    std::mt19937_64 rng(options.seed);

    std::size_t k = std::min(options.cluster_count, n);
    out.cluster_count = k;
    if (k == n) {
        out.centroids.assign(x, x + n * d);
        out.training_points = n;
        return out;
    }

    // Training sample for Lloyd.
    std::size_t train_n = std::min(n, k * std::max<std::size_t>(1, options.max_points_per_centroid));
    std::vector<float> train_storage;
    const float* train = x;
    if (train_n < n) {
        train_storage = gather_rows(x, d, sample_rows(n, train_n, rng));
        train = train_storage.data();
    }
    out.training_points = train_n;

    // Seeding sample (a prefix of a random permutation of the training sample).
    std::size_t seed_n = std::min(train_n, k * std::max<std::size_t>(1, options.seed_points_per_centroid));
    std::vector<float> seed_storage;
    const float* seed_points = train;
    if (seed_n < train_n) {
        seed_storage = gather_rows(train, d, sample_rows(train_n, seed_n, rng));
        seed_points = seed_storage.data();
    }
    out.centroids = seed_plus_plus(seed_points, seed_n, d, k, rng, pool, options);

    std::vector<std::uint32_t> assignment(train_n);
    std::vector<std::size_t> sizes(k);
    for (std::size_t it = 0; it < options.iterations; ++it) {
        if (cancelled(options)) {
            out.cancelled = true;
            return out;
        }
        assign_nearest(train, train_n, d, out.centroids.data(), k, assignment.data(), nullptr, pool);
        out.splits += update_centroids(train, train_n, d, k, assignment, out.centroids, sizes);
    }
    if (options.split_factor > 0 && options.balance_iterations > 0) {
        std::size_t splits = split_oversized(out.centroids, sizes, d, train_n, options.split_factor);
        out.splits += splits;
        for (std::size_t it = 0; splits > 0 && it < options.balance_iterations; ++it) {
            assign_nearest(train, train_n, d, out.centroids.data(), k, assignment.data(), nullptr, pool);
            out.splits += update_centroids(train, train_n, d, k, assignment, out.centroids, sizes);
        }
    }
    return out;
}

}  // namespace puffer::index
