// 8-bit scalar codes: trained ranges, codes within half a step of the rows, and the code scan's
// estimate held to the exact distance of the decoded rows within the bound the rounding of the
// query's weights allows (a missing or wrong term would be far outside it).
#include "engine/index/sq8.hpp"

#include "engine/core/distance.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

using namespace puffer;

namespace {

// Two clusters of n rows each around centroids (0, ..) and (5, ..); dimension 2 holds one value.
struct fixture_data {
    std::size_t d = 19;  // not a multiple of 4: the codes are padded before the row terms
    std::size_t n = 0;
    std::vector<float> vectors;
    index::ivf_layout layout;
};

fixture_data make_data(std::size_t per_cluster)
{
    fixture_data f;
    f.n = 2 * per_cluster;
    std::mt19937_64 rng(5);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    f.vectors.resize(f.n * f.d);
    f.layout.dimension = f.d;
    f.layout.cluster_count = 2;
    f.layout.centroids.assign(2 * f.d, 0.0f);
    for (std::size_t j = 0; j < f.d; ++j) {
        f.layout.centroids[f.d + j] = 5.0f;
    }
    f.layout.centroids[2] = f.layout.centroids[f.d + 2] = 0.25f;  // the constant dimension
    for (std::size_t i = 0; i < f.n; ++i) {
        std::size_t c = i < per_cluster ? 0 : 1;
        for (std::size_t j = 0; j < f.d; ++j) {
            f.vectors[i * f.d + j] = j == 2 ? 0.25f : f.layout.centroids[c * f.d + j] + noise(rng);
        }
    }
    f.layout.cluster_offsets = {0, static_cast<std::uint32_t>(per_cluster), static_cast<std::uint32_t>(f.n)};
    // Positions in reverse source order within each cluster, so order[] is really followed.
    for (std::size_t c = 0; c < 2; ++c) {
        for (std::size_t i = 0; i < per_cluster; ++i) {
            f.layout.order.push_back(static_cast<std::uint32_t>(c * per_cluster + per_cluster - 1 - i));
        }
    }
    return f;
}

// Row i of a cluster's block decoded.
std::vector<float> decode(const index::sq8_params& p, const std::byte* block, std::size_t i, const float* centroid)
{
    const std::size_t d = p.dimension();
    std::vector<float> out(d);
    const auto* codes = reinterpret_cast<const std::uint8_t*>(block);
    for (std::size_t j = 0; j < d; ++j) {
        out[j] = p.low[j] + p.step[j] * codes[i * d + j] + (p.residual ? centroid[j] : 0.0f);
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sq8_suite)

BOOST_AUTO_TEST_CASE(names_parse_both_ways)
{
    BOOST_TEST((index::parse_quantization("sq8").value() == index::quantization::sq8));
    BOOST_TEST((index::parse_quantization("none").value() == index::quantization::none));
    BOOST_TEST(!index::parse_quantization("SQ8").has_value());
    BOOST_TEST(!index::parse_quantization("pq").has_value());
    BOOST_TEST((index::to_string(index::quantization::sq8) == "sq8"));
    BOOST_TEST(index::sq8_codes_bytes(3, 19) == 60u);
    BOOST_TEST(index::sq8_block_bytes(3, 19) == 72u);
}

BOOST_AUTO_TEST_CASE(ranges_are_the_rows_extremes_and_codes_are_within_half_a_step)
{
    fixture_data f = make_data(50);
    for (bool residual : {false, true}) {
        index::sq8_params p = index::train_sq8(f.vectors.data(), f.layout, residual);
        BOOST_TEST_REQUIRE(p.dimension() == f.d);
        BOOST_TEST(p.residual == residual);
        // The constant dimension: no step, and its value exactly (raw) or its residual.
        BOOST_TEST(p.step[2] == 0.0f);
        for (std::size_t j = 0; j < f.d; ++j) {
            float lo = INFINITY;
            float hi = -INFINITY;
            for (std::size_t c = 0; c < 2; ++c) {
                for (std::size_t pos = f.layout.cluster_offsets[c]; pos < f.layout.cluster_offsets[c + 1]; ++pos) {
                    float v = f.vectors[f.layout.order[pos] * f.d + j] -
                              (residual ? f.layout.centroids[c * f.d + j] : 0.0f);
                    lo = std::min(lo, v);
                    hi = std::max(hi, v);
                }
            }
            BOOST_TEST(p.low[j] == lo);
            BOOST_TEST(p.step[j] == (hi - lo) / 255.0f);
        }
        for (std::size_t c = 0; c < 2; ++c) {
            const std::size_t first = f.layout.cluster_offsets[c];
            const std::size_t rows = f.layout.cluster_offsets[c + 1] - first;
            std::vector<std::byte> block(index::sq8_block_bytes(rows, f.d), std::byte{0x5A});
            index::encode_sq8_cluster(p, f.vectors.data(), f.layout, c, block.data());
            const float* centroid = f.layout.centroids.data() + c * f.d;
            // The padding after the codes is zero.
            for (std::size_t b = rows * f.d; b < index::sq8_codes_bytes(rows, f.d); ++b) {
                BOOST_TEST(static_cast<int>(block[b]) == 0);
            }
            for (std::size_t i = 0; i < rows; ++i) {
                const float* x = f.vectors.data() + f.layout.order[first + i] * f.d;
                std::vector<float> back = decode(p, block.data(), i, centroid);
                float term = 0;
                const auto* codes = reinterpret_cast<const std::uint8_t*>(block.data());
                for (std::size_t j = 0; j < f.d; ++j) {
                    BOOST_TEST(std::fabs(back[j] - x[j]) <= p.step[j] / 2 + 1e-5f, "row " << i << " dim " << j);
                    float s = p.step[j] * (static_cast<float>(codes[i * f.d + j]) - 128.0f);
                    term += s * s;
                }
                float stored = 0;
                std::memcpy(&stored, block.data() + index::sq8_codes_bytes(rows, f.d) + 4 * i, 4);
                BOOST_TEST(stored == term, boost::test_tools::tolerance(1e-5f));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(the_code_scan_estimates_the_decoded_rows_distance_within_the_weight_rounding)
{
    fixture_data f = make_data(40);
    std::mt19937_64 rng(9);
    std::normal_distribution<float> noise(0.0f, 3.0f);
    for (metric m : {metric::l2, metric::inner_product}) {
        for (bool residual : {false, true}) {
            index::sq8_params p = index::train_sq8(f.vectors.data(), f.layout, residual);
            for (std::size_t c = 0; c < 2; ++c) {
                const std::size_t first = f.layout.cluster_offsets[c];
                const std::size_t rows = f.layout.cluster_offsets[c + 1] - first;
                std::vector<std::byte> block(index::sq8_block_bytes(rows, f.d));
                index::encode_sq8_cluster(p, f.vectors.data(), f.layout, c, block.data());
                const float* centroid = f.layout.centroids.data() + c * f.d;
                std::vector<float> q(f.d);
                for (auto& v : q) {
                    v = noise(rng);
                }
                index::sq8_query prepared;
                index::prepare_sq8_query(m, p, q.data(), centroid, prepared);
                // Every row but the tombstoned rows 3 and 4.
                std::uint64_t skip[2] = {0, 0};
                const std::uint64_t skip_first = 70;  // bits 73 and 74
                skip[1] = (std::uint64_t{1} << 9) | (std::uint64_t{1} << 10);
                topk<std::uint64_t> heap(rows);
                std::vector<std::int32_t> scratch;
                std::size_t scanned = index::scan_sq8_block(m, prepared, block.data(), rows, f.d, 1000, heap, skip,
                                                            skip_first, scratch);
                BOOST_TEST(scanned == rows - 2);
                BOOST_TEST_REQUIRE(heap.size() == rows - 2);
                const auto* codes = reinterpret_cast<const std::uint8_t*>(block.data());
                for (const auto& e : heap.entries()) {
                    std::size_t i = e.key - 1000;
                    BOOST_TEST_REQUIRE(i < rows);
                    BOOST_TEST((i != 3 && i != 4));
                    std::vector<float> back = decode(p, block.data(), i, centroid);
                    float exact = distance(m, q.data(), back.data(), f.d);
                    double codes_sum = 0;
                    for (std::size_t j = 0; j < f.d; ++j) {
                        codes_sum += std::fabs(static_cast<double>(codes[i * f.d + j]) - 128.0);
                    }
                    // l2 weighs the dot product twice; a little float slack on top.
                    double bound = (m == metric::l2 ? 1.0 : 0.5) * prepared.w_scale * codes_sum +
                                   1e-4 * (1 + std::fabs(exact));
                    BOOST_TEST(std::fabs(e.distance - exact) <= bound,
                               to_string(m) << (residual ? " residual" : " raw") << " row " << i << ": estimate "
                                            << e.distance << ", decoded " << exact << ", bound " << bound);
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(queries_of_extreme_magnitude_prepare_without_overflow)
{
    // Weights that overflow (a query near the float range) or underflow to nothing: all zero,
    // never a conversion of an infinite or NaN value.
    fixture_data f = make_data(10);
    index::sq8_params p = index::train_sq8(f.vectors.data(), f.layout, false);
    index::sq8_params wide = p;
    std::fill(wide.step.begin(), wide.step.end(), 10.0f);  // 3e38 * 10 overflows
    struct probe {
        const index::sq8_params* params;
        float scale;
        bool zero;
    };
    for (const probe& t : {probe{&p, 3e38f, false}, probe{&wide, 3e38f, true}, probe{&p, 1e-40f, true},
                           probe{&p, 0.0f, true}}) {
        for (metric m : {metric::l2, metric::inner_product}) {
            std::vector<float> q(f.d, t.scale);
            index::sq8_query prepared;
            index::prepare_sq8_query(m, *t.params, q.data(), nullptr, prepared);
            BOOST_TEST_REQUIRE(prepared.w.size() == f.d);
            bool all_zero = std::all_of(prepared.w.begin(), prepared.w.end(), [](std::int8_t w) { return w == 0; });
            // l2 weighs the query's offset from the ranges' middles, which a tiny query still has.
            const bool zero = m == metric::inner_product ? t.zero : t.params == &wide;
            BOOST_TEST(all_zero == zero, to_string(m) << " scale " << t.scale);
            BOOST_TEST((prepared.w_scale == 0.0f) == zero);
            BOOST_TEST(prepared.code_bias == 128 * std::accumulate(prepared.w.begin(), prepared.w.end(), 0));
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
