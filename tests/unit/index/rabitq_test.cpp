// 1-bit RaBitQ codes: an orthonormal rotation, bits that are the signs of the rotated residuals,
// factors that are what the estimator needs, and estimates whose error bound holds for nearly
// every pair of query and row (a wrong factor or a missing term breaks it for most of them).
#include "engine/index/rabitq.hpp"

#include "engine/core/distance.hpp"
#include "engine/index/quantization.hpp"

#include <boost/test/unit_test.hpp>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace puffer;

namespace {

struct fixture_data {
    std::size_t d = 0;
    std::size_t n = 0;
    std::vector<float> vectors;
    index::ivf_layout layout;
};

// Two clusters of per_cluster rows around centroids 0 and 3 (in every dimension), rows in reverse
// source order within each cluster so that order[] is really followed.
fixture_data make_data(std::size_t d, std::size_t per_cluster, bool unit)
{
    fixture_data f;
    f.d = d;
    f.n = 2 * per_cluster;
    std::mt19937_64 rng(9);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    f.vectors.resize(f.n * d);
    f.layout.dimension = d;
    f.layout.cluster_count = 2;
    f.layout.centroids.assign(2 * d, 0.0f);
    for (std::size_t j = 0; j < d; ++j) {
        f.layout.centroids[d + j] = 3.0f / std::sqrt(static_cast<float>(d));
    }
    for (std::size_t i = 0; i < f.n; ++i) {
        std::size_t c = i < per_cluster ? 0 : 1;
        float* x = f.vectors.data() + i * d;
        for (std::size_t j = 0; j < d; ++j) {
            x[j] = f.layout.centroids[c * d + j] + 0.3f * noise(rng);
        }
        if (unit) {
            normalize(x, d);
        }
    }
    if (unit) {
        for (std::size_t c = 0; c < 2; ++c) {
            normalize(f.layout.centroids.data() + c * d, d);
        }
    }
    f.layout.cluster_offsets = {0, static_cast<std::uint32_t>(per_cluster), static_cast<std::uint32_t>(f.n)};
    for (std::size_t c = 0; c < 2; ++c) {
        for (std::size_t i = 0; i < per_cluster; ++i) {
            f.layout.order.push_back(static_cast<std::uint32_t>(c * per_cluster + per_cluster - 1 - i));
        }
    }
    return f;
}

std::vector<std::byte> encode(const index::rabitq_params& p, const fixture_data& f, std::size_t c)
{
    std::size_t rows = f.layout.cluster_offsets[c + 1] - f.layout.cluster_offsets[c];
    std::vector<std::byte> block(index::rabitq_block_bytes(rows, f.d));
    index::encode_rabitq_cluster(p, f.vectors.data(), f.layout, c, block.data());
    return block;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(rabitq_suite)

BOOST_AUTO_TEST_CASE(names_parse_both_ways)
{
    BOOST_TEST((index::parse_quantization("rabitq").value() == index::quantization::rabitq));
    BOOST_TEST(index::to_string(index::quantization::rabitq) == "rabitq");
    BOOST_TEST(!index::parse_quantization("RaBitQ").has_value());
}

BOOST_AUTO_TEST_CASE(the_rotation_is_orthonormal_and_fixed_by_its_seed)
{
    for (std::size_t d : {1u, 5u, 64u, 100u}) {
        index::rabitq_params p = index::make_rabitq_params(d, 7);
        const std::size_t D = p.padded();
        BOOST_TEST(D == (d + 63) / 64 * 64);
        BOOST_TEST(p.rotation.size() == D * d);
        // Its columns (the first d of an orthogonal D x D matrix) are orthonormal: P^T P = I.
        for (std::size_t a = 0; a < d; ++a) {
            for (std::size_t b = a; b < d; ++b) {
                double dot = 0;
                for (std::size_t i = 0; i < D; ++i) {
                    dot += static_cast<double>(p.rotation[i * d + a]) * p.rotation[i * d + b];
                }
                BOOST_TEST(std::fabs(dot - (a == b ? 1.0 : 0.0)) < 1e-5, "d=" << d << " columns " << a << "," << b);
            }
        }
        BOOST_TEST((index::make_rabitq_params(d, 7) == p));
        BOOST_TEST(!(index::make_rabitq_params(d, 8) == p));
    }
    // One rotation per dimension in a process.
    BOOST_TEST(&index::rabitq_rotation(100) == &index::rabitq_rotation(100));
    BOOST_TEST(index::rabitq_rotation(100).dimension == 100u);
}

BOOST_AUTO_TEST_CASE(bits_are_the_signs_of_the_rotated_residual_and_factors_its_measures)
{
    fixture_data f = make_data(100, 40, false);
    const index::rabitq_params& p = index::rabitq_rotation(f.d);
    const std::size_t D = p.padded();
    const std::size_t words = index::rabitq_words(f.d);
    for (std::size_t c = 0; c < 2; ++c) {
        std::vector<std::byte> block = encode(p, f, c);
        const std::size_t rows = 40;
        const auto* bits = reinterpret_cast<const std::uint64_t*>(block.data());
        for (std::size_t i = 0; i < rows; ++i) {
            const float* x = f.vectors.data() + f.layout.order[f.layout.cluster_offsets[c] + i] * f.d;
            std::vector<float> r(f.d);
            double square = 0;
            for (std::size_t j = 0; j < f.d; ++j) {
                r[j] = x[j] - f.layout.centroids[c * f.d + j];
                square += static_cast<double>(r[j]) * r[j];
            }
            std::vector<float> rotated(D);
            index::rabitq_rotate(p, r.data(), rotated.data());
            std::uint32_t ones = 0;
            double l1 = 0;
            for (std::size_t j = 0; j < D; ++j) {
                bool bit = ((bits[i * words + j / 64] >> (j % 64)) & 1u) != 0;
                BOOST_TEST(bit == (rotated[j] > 0), "row " << i << " bit " << j);
                ones += bit ? 1 : 0;
                l1 += std::fabs(rotated[j]);
            }
            float factors[4];
            std::memcpy(factors, block.data() + rows * words * 8 + i * 16, 16);
            const double norm = std::sqrt(square);
            const double x0 = l1 / (std::sqrt(static_cast<double>(D)) * norm);
            BOOST_TEST(factors[0] == square, boost::test_tools::tolerance(1e-4));
            BOOST_TEST(factors[1] == norm / x0, boost::test_tools::tolerance(1e-4));
            BOOST_TEST(factors[2] == norm * std::sqrt(1 - x0 * x0) / (x0 * std::sqrt(D - 1.0)),
                       boost::test_tools::tolerance(1e-3));
            BOOST_TEST(factors[3] == static_cast<float>(ones));
        }
    }
}

BOOST_AUTO_TEST_CASE(estimates_are_unbiased_and_within_their_bound)
{
    for (metric m : {metric::l2, metric::cosine}) {
        fixture_data f = make_data(100, 300, m == metric::cosine);
        const index::rabitq_params& p = index::rabitq_rotation(f.d);
        const std::size_t D = p.padded();
        std::mt19937_64 rng(21);
        std::normal_distribution<float> noise(0.0f, 1.0f);
        std::size_t pairs = 0;
        std::size_t outside = 0;
        std::size_t far_outside = 0;
        double error_sum = 0;
        double bound_sum = 0;
        for (std::size_t c = 0; c < 2; ++c) {
            std::vector<std::byte> block = encode(p, f, c);
            const float* centroid = f.layout.centroids.data() + c * f.d;
            std::vector<float> rotated_centroid(D);
            index::rabitq_rotate(p, centroid, rotated_centroid.data());
            for (std::size_t qi = 0; qi < 20; ++qi) {
                std::vector<float> q(f.d);
                for (std::size_t j = 0; j < f.d; ++j) {
                    q[j] = centroid[j] + 0.4f * noise(rng);
                }
                if (m == metric::cosine) {
                    normalize(q.data(), f.d);
                }
                std::vector<float> rq(D);
                index::rabitq_rotate(p, q.data(), rq.data());
                index::rabitq_query prepared;
                float q_dot_c = 0;
                for (std::size_t j = 0; j < f.d; ++j) {
                    q_dot_c += q[j] * centroid[j];
                }
                index::prepare_rabitq_query(m, p, rq.data(), rotated_centroid.data(), q_dot_c, prepared);
                for (std::size_t i = 0; i < 300; ++i) {
                    const float* x = f.vectors.data() + f.layout.order[f.layout.cluster_offsets[c] + i] * f.d;
                    const float exact = distance(m, q.data(), x, f.d);
                    index::rabitq_estimate e = index::estimate_rabitq_row(m, prepared, block.data(), 300, f.d, i);
                    ++pairs;
                    outside += std::fabs(e.distance - exact) > e.bound ? 1 : 0;
                    far_outside += std::fabs(e.distance - exact) > 1.6f * e.bound ? 1 : 0;
                    error_sum += e.distance - exact;
                    bound_sum += e.bound;
                }
            }
        }
        // The error is close to normal with the deviation the bound assumes: eps0 = 1.9 deviations
        // leave about 5.7% outside (4-bit query rounding adds a little), about three leave
        // 0.3%. Too few outside would be a bound too loose to prune with; errors of both signs
        // average out (unbiased), far below the bound's size.
        BOOST_TEST(outside * 100 <= 8 * pairs, to_string(m) << ": " << outside << " of " << pairs << " outside");
        BOOST_TEST(outside * 100 >= 3 * pairs, to_string(m) << ": " << outside << " of " << pairs << " outside");
        BOOST_TEST(far_outside * 100 <= pairs, to_string(m) << ": " << far_outside << " of " << pairs << " far outside");
        BOOST_TEST(std::fabs(error_sum / pairs) < 0.05 * bound_sum / pairs, to_string(m));
    }
}

BOOST_AUTO_TEST_CASE(the_scan_pushes_lower_bounds_and_upper_bounds_and_honours_skips)
{
    fixture_data f = make_data(64, 50, false);
    const index::rabitq_params& p = index::rabitq_rotation(f.d);
    std::vector<std::byte> block = encode(p, f, 1);
    std::vector<float> rq(p.padded());
    std::vector<float> rc(p.padded());
    std::vector<float> q(f.vectors.begin() + 3 * f.d, f.vectors.begin() + 4 * f.d);
    index::rabitq_rotate(p, q.data(), rq.data());
    index::rabitq_rotate(p, f.layout.centroids.data() + f.d, rc.data());
    index::rabitq_query prepared;
    index::prepare_rabitq_query(metric::l2, p, rq.data(), rc.data(), 0, prepared);
    topk<std::uint64_t> heap(50);
    topk<std::uint64_t> upper(5);
    std::vector<std::uint64_t> skip(2, 0);
    skip[0] = (std::uint64_t{1} << 10) | (std::uint64_t{1} << 11);  // rows 7 and 8 (skip_first 3)
    std::vector<std::int32_t> scratch;
    std::size_t scanned = index::scan_rabitq_block(metric::l2, prepared, block.data(), 50, f.d, 1000, heap, &upper,
                                                   skip.data(), 3, scratch);
    BOOST_TEST(scanned == 48u);
    BOOST_TEST(heap.size() == 48u);
    std::vector<float> highs;
    for (const auto& e : heap.entries()) {
        std::size_t i = e.key - 1000;
        BOOST_TEST((i != 7 && i != 8));
        index::rabitq_estimate est = index::estimate_rabitq_row(metric::l2, prepared, block.data(), 50, f.d, i);
        BOOST_TEST(e.distance == est.distance - est.bound);
        highs.push_back(est.distance + est.bound);
    }
    std::sort(highs.begin(), highs.end());
    BOOST_TEST(upper.threshold() == highs[4]);
}

BOOST_AUTO_TEST_CASE(degenerate_rows_and_queries_give_finite_exact_terms)
{
    fixture_data f = make_data(64, 4, false);
    // Row 0 of cluster 0 (source row 3) is its centroid: no residual.
    std::copy_n(f.layout.centroids.data(), f.d, f.vectors.data() + 3 * f.d);
    const index::rabitq_params& p = index::rabitq_rotation(f.d);
    std::vector<std::byte> block = encode(p, f, 0);
    float factors[4];
    std::memcpy(factors, block.data() + 4 * 8 + 0, 16);
    BOOST_TEST(factors[0] == 0.0f);
    BOOST_TEST(factors[1] == 0.0f);
    BOOST_TEST(factors[2] == 0.0f);
    // A query at the centroid: v = 0 cannot be scaled to 4 bits; the estimate is |r|^2 exactly.
    std::vector<float> rc(p.padded());
    index::rabitq_rotate(p, f.layout.centroids.data(), rc.data());
    index::rabitq_query prepared;
    index::prepare_rabitq_query(metric::l2, p, rc.data(), rc.data(), 0, prepared);
    BOOST_TEST(prepared.delta == 0.0f);
    for (std::size_t i = 0; i < 4; ++i) {
        index::rabitq_estimate e = index::estimate_rabitq_row(metric::l2, prepared, block.data(), 4, f.d, i);
        float sq;
        std::memcpy(&sq, block.data() + 4 * 8 + i * 16, 4);
        BOOST_TEST(e.distance == sq);
        BOOST_TEST(e.bound == 0.0f);
    }
}

BOOST_AUTO_TEST_SUITE_END()
