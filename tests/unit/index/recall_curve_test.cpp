// The recall curve a segment measures at build: exact at the ends (one probe finds what one
// probe finds, all clusters find everything), monotone, and on real SIFT data the probes it
// gives for a target reach that target on held-out queries (within 0.01) without many more
// probes than needed; and interpolation and inversion of the stored points.
#include "engine/format/segment_format.hpp"
#include "engine/format/vecs_file.hpp"
#include "engine/index/recall_curve.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <random>

using namespace puffer;
using namespace puffer::index;

BOOST_AUTO_TEST_SUITE(recall_curve_suite)

BOOST_AUTO_TEST_CASE(interpolates_and_inverts)
{
    recall_curve c;
    c.top_k = 10;
    c.queries = 100;
    c.points = {{1, 0.5f}, {2, 0.7f}, {4, 0.9f}, {8, 1.0f}};
    BOOST_TEST(c.at(1) == 0.5, boost::test_tools::tolerance(1e-6));
    BOOST_TEST(c.at(3) == 0.8, boost::test_tools::tolerance(1e-6));
    BOOST_TEST(c.at(100) == 1.0, boost::test_tools::tolerance(1e-6));
    BOOST_TEST(c.probes_for(0.4) == 1u);
    BOOST_TEST(c.probes_for(0.7) == 2u);
    BOOST_TEST(c.probes_for(0.8) == 3u);
    BOOST_TEST(c.probes_for(0.85) == 4u);  // 3.5 rounds up
    BOOST_TEST(c.probes_for(1.0) == 8u);
}

// The probe counts of a curve step by one up to 16, then by 15 %, and end at the cluster count.
// Where the last step rounded to the cluster count itself (28, 43, 49, 65, 86, 150, 228, 262,
// 527, 606, 697, 1853, ... clusters) the curve held that count twice; the reader refuses a curve
// whose probes do not ascend, so such a segment was written, installed, and then failed every
// search as corrupt.
BOOST_AUTO_TEST_CASE(probes_ascend_and_the_segment_reader_accepts_the_curve_for_every_cluster_count)
{
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<std::size_t> counts;
    for (std::size_t k = 1; k <= 160; ++k) {
        counts.push_back(k);
    }
    for (std::size_t k : {228u, 262u, 527u, 606u, 697u, 1853u, 2131u}) {
        counts.push_back(k);
    }
    const std::size_t d = 2;
    for (std::size_t k : counts) {
        std::size_t n = 2 * k + 8;
        std::vector<float> x(n * d);
        for (auto& v : x) {
            v = u(rng);
        }
        ivf_layout layout = assign_ivf_layout(x.data(), n, d, x.data(), k, nullptr);
        recall_curve c = measure_recall_curve(metric::l2, x.data(), n, d, layout, 4, 1, 0, 3, nullptr);
        BOOST_TEST_REQUIRE(!c.points.empty());
        BOOST_TEST(c.points.back().probes == k, k << " clusters");
        bool ascending = true;
        for (std::size_t i = 1; i < c.points.size(); ++i) {
            ascending = ascending && c.points[i].probes > c.points[i - 1].probes;
        }
        BOOST_TEST(ascending, k << " clusters: probes do not ascend");
        auto decoded = format::decode_recall_curve(format::encode_recall_curve(c), k, "curve", 0);
        BOOST_TEST(decoded.has_value(), k << " clusters: " << (decoded ? "" : decoded.error().message()));
    }
}

BOOST_AUTO_TEST_CASE(measured_on_real_sift_matches_held_out_queries)
{
    auto base = format::read_fvecs(std::string(PUFFER_TEST_DATA_DIR) + "/sift20k/sift_base.fvecs");
    BOOST_TEST_REQUIRE(base.has_value());
    std::size_t n = base->rows;
    std::size_t d = base->dimension;
    ivf_options o;
    ivf_layout layout = build_ivf_layout(base->data.data(), n, d, o, nullptr);
    recall_curve c = measure_recall_curve(metric::l2, base->data.data(), n, d, layout, 200, 10,
                                          recall_neighbours_skipped, 7, nullptr);
    BOOST_TEST(c.top_k == 10u);
    BOOST_TEST(c.queries == 200u);
    BOOST_TEST(c.neighbours_skipped == recall_neighbours_skipped);
    BOOST_TEST_REQUIRE(c.points.size() >= 20u);
    BOOST_TEST(c.points.front().probes == 1u);
    BOOST_TEST(c.points.back().probes == layout.cluster_count);
    BOOST_TEST(c.points.back().recall == 1.0f);  // every cluster: every neighbour
    for (std::size_t i = 1; i < c.points.size(); ++i) {
        BOOST_TEST(c.points[i].probes > c.points[i - 1].probes);
        BOOST_TEST(c.points[i].recall >= c.points[i - 1].recall);
    }
    // Held-out queries (other photos) with exact ground truth: at the probes the curve gives for
    // a target they reach it within 0.01, and the fewest probes that reach it on them are no
    // more than 25 % fewer. Recall of held-out queries for every probe count, once.
    auto queries = format::read_fvecs(std::string(PUFFER_TEST_DATA_DIR) + "/sift20k/sift_query.fvecs");
    auto truth = format::read_ivecs(std::string(PUFFER_TEST_DATA_DIR) + "/sift20k/sift_gt.ivecs");
    BOOST_TEST_REQUIRE(queries.has_value());
    BOOST_TEST_REQUIRE(truth.has_value());
    const std::size_t k = layout.cluster_count;
    std::vector<std::uint32_t> cluster_of(n);
    for (std::size_t cl = 0; cl < k; ++cl) {
        for (std::uint32_t p = layout.cluster_offsets[cl]; p < layout.cluster_offsets[cl + 1]; ++p) {
            cluster_of[layout.order[p]] = static_cast<std::uint32_t>(cl);
        }
    }
    std::vector<double> found_at(k + 1, 0);  // neighbours whose cluster has rank < r
    std::vector<std::uint32_t> order;
    std::vector<float> scratch;
    std::vector<std::uint32_t> rank(k);
    for (std::size_t qi = 0; qi < queries->rows; ++qi) {
        select_probes(metric::l2, queries->data.data() + qi * d, layout.centroids.data(), k, d, k, order, scratch);
        for (std::size_t r = 0; r < k; ++r) {
            rank[order[r]] = static_cast<std::uint32_t>(r);
        }
        for (std::size_t j = 0; j < 10; ++j) {
            auto nb = static_cast<std::size_t>(truth->data[qi * truth->dimension + j]);
            found_at[rank[cluster_of[nb]] + 1] += 1;
        }
    }
    const double total = 10.0 * static_cast<double>(queries->rows);
    for (std::size_t r = 1; r <= k; ++r) {
        found_at[r] += found_at[r - 1];
    }
    for (double target : {0.90, 0.95, 0.99}) {
        std::size_t probes = c.probes_for(target);
        double held_out = found_at[probes] / total;
        std::size_t fewest = 1;
        while (found_at[fewest] / total < target) {
            ++fewest;
        }
        BOOST_TEST_MESSAGE("target " << target << ": curve gives " << probes << " probes, held-out recall "
                                     << held_out << "; the fewest reaching it " << fewest);
        BOOST_TEST(held_out >= target - 0.01, "target " << target << ": held-out " << held_out);
        BOOST_TEST(static_cast<double>(fewest) >= 0.75 * static_cast<double>(probes), "target " << target);
    }
}

BOOST_AUTO_TEST_SUITE_END()
