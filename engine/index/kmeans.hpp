#pragma once
// k-means for the IVF coarse quantizer: k-means++ seeding on a sample, Lloyd iterations on a
// capped training sample (as FAISS does: at most max_points_per_centroid points per centroid),
// empty clusters re-seeded by splitting large ones, oversized clusters split the same way, and
// the assignment step computed as a blocked matrix product.
//
// Deterministic: the same input, options and seed give the same centroids, whatever the thread
// count (work is split into fixed chunks and reduced in a fixed order).

#include "engine/core/thread_pool.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace puffer::index {

struct kmeans_options {
    std::size_t cluster_count = 0;  // k; REQUIRES: 1 <= k
    std::size_t iterations = 10;
    // Lloyd runs on at most k * max_points_per_centroid points, sampled with the seed.
    std::size_t max_points_per_centroid = 256;
    // k-means++ seeding runs on at most k * seed_points_per_centroid points.
    std::size_t seed_points_per_centroid = 32;
    // After Lloyd, clusters larger than this multiple of the mean are split (at the expense of
    // the smallest clusters), then Lloyd runs balance_iterations more times. 0 disables it.
    double split_factor = 3.0;
    std::size_t balance_iterations = 2;
    std::uint64_t seed = 0x5EED;
    // When either is set and becomes true, training stops early (the result is then unusable
    // and says so in kmeans_result::cancelled): neither a server shutting down nor a deleted
    // collection waits for a build.
    const std::atomic<bool>* cancel = nullptr;
    const std::atomic<bool>* cancel_also = nullptr;
};

struct kmeans_result {
    std::size_t cluster_count = 0;
    std::size_t dimension = 0;
    std::vector<float> centroids;  // cluster_count * dimension, row-major
    std::size_t training_points = 0;
    std::size_t splits = 0;  // empty or oversized clusters re-seeded
    bool cancelled = false;
};

// x: n points of d, row-major. If n <= k the result has n clusters, one per point.
// REQUIRES: n >= 1, d >= 1, options.cluster_count >= 1.
kmeans_result train_kmeans(const float* x, std::size_t n, std::size_t d,
                           const kmeans_options& options, thread_pool* pool);

// For every point, the index of the nearest centroid under squared L2 (ties: lower index) and,
// if distances is not null, that squared distance. x: n * d; centroids: k * d;
// assignment and distances: n.
void assign_nearest(const float* x, std::size_t n, std::size_t d, const float* centroids,
                    std::size_t k, std::uint32_t* assignment, float* distances, thread_pool* pool);

}  // namespace puffer::index
