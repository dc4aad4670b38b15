// k-means: planted, well-separated Gaussian clusters are recovered (every cluster's points end
// up together and each planted centre has a centroid next to it); results are deterministic for
// a seed regardless of the thread count; degenerate inputs (n <= k, duplicates) are handled.
#include "engine/core/distance.hpp"
#include "engine/index/kmeans.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>

#include <map>
#include <random>
#include <set>

using namespace puffer;
using namespace puffer::index;

namespace {

struct planted {
    std::size_t d;
    std::size_t k;
    std::vector<float> centers;
    std::vector<float> points;
    std::vector<std::size_t> truth;
};

planted make_planted(std::size_t k, std::size_t per_cluster, std::size_t d, std::uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    std::uniform_real_distribution<float> center(-100.0f, 100.0f);
    planted p{d, k, {}, {}, {}};
    p.centers.resize(k * d);
    for (auto& v : p.centers) {
        v = center(rng);
    }
    for (std::size_t c = 0; c < k; ++c) {
        for (std::size_t i = 0; i < per_cluster; ++i) {
            for (std::size_t j = 0; j < d; ++j) {
                p.points.push_back(p.centers[c * d + j] + noise(rng));
            }
            p.truth.push_back(c);
        }
    }
    return p;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kmeans_suite)

BOOST_AUTO_TEST_CASE(recovers_planted_gaussian_clusters)
{
    auto p = make_planted(20, 200, 16, test::test_seed("kmeans planted", 21));
    std::size_t n = p.truth.size();
    thread_pool pool(2);
    kmeans_options options;
    options.cluster_count = p.k;
    auto result = train_kmeans(p.points.data(), n, p.d, options, &pool);
    BOOST_TEST_REQUIRE(result.cluster_count == p.k);
    std::vector<std::uint32_t> assignment(n);
    assign_nearest(p.points.data(), n, p.d, result.centroids.data(), p.k, assignment.data(), nullptr, &pool);
    // Each planted cluster maps to exactly one learned cluster, and the map is one-to-one.
    std::map<std::size_t, std::set<std::uint32_t>> learned_of;
    for (std::size_t i = 0; i < n; ++i) {
        learned_of[p.truth[i]].insert(assignment[i]);
    }
    std::set<std::uint32_t> used;
    for (auto& [truth, learned] : learned_of) {
        BOOST_TEST(learned.size() == 1u, "planted cluster " << truth << " split");
        used.insert(*learned.begin());
    }
    BOOST_TEST(used.size() == p.k);
    // Each centroid sits near its planted centre (noise sd 1, 200 points: mean error ~0.07/dim).
    for (std::size_t c = 0; c < p.k; ++c) {
        std::uint32_t l = *learned_of[c].begin();
        float err = 0;
        for (std::size_t j = 0; j < p.d; ++j) {
            float diff = result.centroids[l * p.d + j] - p.centers[c * p.d + j];
            err += diff * diff;
        }
        BOOST_TEST(err < 1.0f, "centroid " << l << " off by " << err);
    }
}

BOOST_AUTO_TEST_CASE(same_seed_same_centroids_whatever_the_thread_count)
{
    auto p = make_planted(30, 100, 24, 5);
    std::size_t n = p.truth.size();
    kmeans_options options;
    options.cluster_count = 40;  // more than planted: exercises splitting
    options.seed = 99;
    thread_pool pool(3);
    auto a = train_kmeans(p.points.data(), n, p.d, options, nullptr);
    auto b = train_kmeans(p.points.data(), n, p.d, options, &pool);
    BOOST_TEST(a.centroids == b.centroids);
    options.seed = 100;
    auto c = train_kmeans(p.points.data(), n, p.d, options, &pool);
    BOOST_TEST(a.centroids != c.centroids);
}

// Either flag stops training (a server shutting down, a collection deleted); with neither set,
// or both present and clear, training runs to the end.
BOOST_AUTO_TEST_CASE(either_cancel_flag_stops_training)
{
    auto p = make_planted(10, 50, 8, 6);
    std::size_t n = p.truth.size();
    std::atomic<bool> shutting_down{false};
    std::atomic<bool> deleted{false};
    kmeans_options options;
    options.cluster_count = 10;
    options.cancel = &shutting_down;
    options.cancel_also = &deleted;
    BOOST_TEST(!train_kmeans(p.points.data(), n, p.d, options, nullptr).cancelled);
    deleted = true;
    BOOST_TEST(train_kmeans(p.points.data(), n, p.d, options, nullptr).cancelled);
    deleted = false;
    shutting_down = true;
    BOOST_TEST(train_kmeans(p.points.data(), n, p.d, options, nullptr).cancelled);
}

BOOST_AUTO_TEST_CASE(fewer_points_than_clusters_gives_one_cluster_per_point)
{
    std::vector<float> x = {1, 2, 3, 4, 5, 6};
    kmeans_options options;
    options.cluster_count = 10;
    auto result = train_kmeans(x.data(), 3, 2, options, nullptr);
    BOOST_TEST(result.cluster_count == 3u);
    BOOST_TEST(result.centroids == x);
}

BOOST_AUTO_TEST_CASE(identical_points_do_not_break_training)
{
    std::vector<float> x(500 * 8, 3.0f);
    kmeans_options options;
    options.cluster_count = 16;
    auto result = train_kmeans(x.data(), 500, 8, options, nullptr);
    BOOST_TEST(result.cluster_count == 16u);
    for (float v : result.centroids) {
        BOOST_TEST(std::isfinite(v));
    }
}

BOOST_AUTO_TEST_CASE(assignment_matches_brute_force)
{
    auto p = make_planted(8, 50, 33, 8);
    std::size_t n = p.truth.size();
    std::vector<float> centroids(p.centers);
    std::vector<std::uint32_t> assignment(n);
    std::vector<float> distances(n);
    thread_pool pool(2);
    assign_nearest(p.points.data(), n, p.d, centroids.data(), p.k, assignment.data(), distances.data(), &pool);
    for (std::size_t i = 0; i < n; ++i) {
        float best = std::numeric_limits<float>::infinity();
        std::uint32_t best_c = 0;
        for (std::size_t c = 0; c < p.k; ++c) {
            float dist = distance(metric::l2, p.points.data() + i * p.d, centroids.data() + c * p.d, p.d);
            if (dist < best) {
                best = dist;
                best_c = static_cast<std::uint32_t>(c);
            }
        }
        BOOST_TEST(assignment[i] == best_c);
        BOOST_TEST(distances[i] == best, boost::test_tools::tolerance(1e-3f));
    }
}

BOOST_AUTO_TEST_SUITE_END()
