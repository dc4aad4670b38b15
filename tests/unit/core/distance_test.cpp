// SIMD kernels against the scalar reference. On integer-valued floats every partial sum is an
// exactly representable integer, so the results must be equal bit for bit, whatever the order
// of additions; every tail length is covered. A level the CPU lacks is a failure unless the run
// declares the highest level it expects (PUFFER_SIMD_EXPECT=scalar|avx2|avx512).
#include "engine/core/distance.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace puffer;

namespace {

std::vector<std::size_t> dimensions()
{
    std::vector<std::size_t> out;
    for (std::size_t d = 1; d <= 130; ++d) {
        out.push_back(d);
    }
    for (std::size_t d : {767u, 768u, 769u, 1536u}) {
        out.push_back(d);
    }
    return out;
}

std::vector<float> integer_floats(std::size_t n, std::mt19937_64& rng)
{
    std::uniform_int_distribution<int> value(-16, 16);
    std::vector<float> out(n);
    for (auto& v : out) {
        v = static_cast<float>(value(rng));
    }
    return out;
}

// The highest SIMD level this run must test: PUFFER_SIMD_EXPECT (scalar, avx2 or avx512) when a
// run declares a machine without some level, else avx512, every level there is.
simd::level expected_level()
{
    const char* declared = std::getenv("PUFFER_SIMD_EXPECT");
    if (declared == nullptr || *declared == '\0') {
        return simd::level::avx512;
    }
    auto l = simd::parse_level(declared);
    BOOST_TEST_REQUIRE(l.has_value(),
                       "PUFFER_SIMD_EXPECT=" << declared << ": use scalar, avx2 or avx512");
    return *l;
}

// The kernel tables to test against the reference. A level the run expects but the CPU lacks
// fails the test: its kernels would otherwise go untested without anyone noticing.
std::vector<const simd::kernel_table*> simd_tables()
{
    std::vector<const simd::kernel_table*> out;
    const simd::level expected = expected_level();
    for (auto l : {simd::level::avx2, simd::level::avx512}) {
        if (const auto* t = simd::table_for(l)) {
            out.push_back(t);
        } else if (static_cast<int>(l) <= static_cast<int>(expected)) {
            auto below = static_cast<simd::level>(static_cast<int>(l) - 1);
            BOOST_ERROR("CPU lacks " << simd::to_string(l)
                                     << ", so its kernels go untested; set PUFFER_SIMD_EXPECT="
                                     << simd::to_string(below)
                                     << " if this machine is meant to lack it");
        } else {
            BOOST_TEST_MESSAGE("CPU lacks " << simd::to_string(l)
                                            << "; not expected (PUFFER_SIMD_EXPECT="
                                            << simd::to_string(expected) << ")");
        }
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(distance_suite)

BOOST_AUTO_TEST_CASE(scalar_reference_is_correct)
{
    const auto* ref = simd::table_for(simd::level::scalar);
    float x[3] = {1, 2, 3};
    float y[3] = {4, 6, 3};
    BOOST_TEST(ref->l2_sqr(x, y, 3) == 25.0f);
    BOOST_TEST(ref->dot(x, y, 3) == 25.0f);
    BOOST_TEST(ref->sum(x, 3) == 6.0f);
}

BOOST_AUTO_TEST_CASE(single_pair_kernels_equal_reference_for_every_dimension)
{
    std::mt19937_64 rng(test::test_seed("distance single", 11));
    const auto* ref = simd::table_for(simd::level::scalar);
    for (const auto* table : simd_tables()) {
        for (std::size_t d : dimensions()) {
            auto x = integer_floats(d, rng);
            auto y = integer_floats(d, rng);
            BOOST_TEST(table->l2_sqr(x.data(), y.data(), d) == ref->l2_sqr(x.data(), y.data(), d),
                       simd::to_string(table->simd_level) << " l2 d=" << d);
            BOOST_TEST(table->dot(x.data(), y.data(), d) == ref->dot(x.data(), y.data(), d),
                       simd::to_string(table->simd_level) << " dot d=" << d);
            BOOST_TEST(table->sum(x.data(), d) == ref->sum(x.data(), d));
        }
    }
}

BOOST_AUTO_TEST_CASE(row_kernels_equal_reference_for_every_dimension_and_row_count)
{
    std::mt19937_64 rng(test::test_seed("distance rows", 12));
    const auto* ref = simd::table_for(simd::level::scalar);
    for (const auto* table : simd_tables()) {
        for (std::size_t d : dimensions()) {
            for (std::size_t n : {1u, 3u, 4u, 5u, 9u}) {
                auto q = integer_floats(d, rng);
                auto x = integer_floats(n * d, rng);
                std::vector<float> got(n);
                std::vector<float> want(n);
                table->l2_sqr_rows(q.data(), x.data(), n, d, got.data());
                ref->l2_sqr_rows(q.data(), x.data(), n, d, want.data());
                BOOST_TEST(got == want, simd::to_string(table->simd_level) << " l2 rows d=" << d << " n=" << n);
                table->dot_rows(q.data(), x.data(), n, d, got.data());
                ref->dot_rows(q.data(), x.data(), n, d, want.data());
                BOOST_TEST(got == want, simd::to_string(table->simd_level) << " dot rows d=" << d << " n=" << n);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(gather_kernels_equal_reference)
{
    std::mt19937_64 rng(test::test_seed("distance gather", 14));
    const auto* ref = simd::table_for(simd::level::scalar);
    std::vector<const simd::kernel_table*> tables = simd_tables();
    tables.push_back(ref);
    for (const auto* table : tables) {
        for (std::size_t d : {1u, 7u, 16u, 17u, 128u, 129u, 768u}) {
            for (std::size_t n : {1u, 4u, 5u, 11u}) {
                auto q = integer_floats(d, rng);
                auto pool = integer_floats(3 * n * d, rng);
                std::vector<const float*> rows(n);
                for (std::size_t i = 0; i < n; ++i) {
                    rows[i] = pool.data() + ((i * 7) % (3 * n)) * d;  // scattered, out of order
                }
                std::vector<float> got(n);
                std::vector<float> want(n);
                table->l2_sqr_gather(q.data(), rows.data(), n, d, got.data());
                for (std::size_t i = 0; i < n; ++i) {
                    want[i] = ref->l2_sqr(q.data(), rows[i], d);
                }
                BOOST_TEST(got == want, simd::to_string(table->simd_level) << " l2 gather d=" << d << " n=" << n);
                table->dot_gather(q.data(), rows.data(), n, d, got.data());
                for (std::size_t i = 0; i < n; ++i) {
                    want[i] = ref->dot(q.data(), rows[i], d);
                }
                BOOST_TEST(got == want, simd::to_string(table->simd_level) << " dot gather d=" << d << " n=" << n);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(matrix_kernel_equals_reference_on_block_edges)
{
    std::mt19937_64 rng(test::test_seed("distance matrix", 13));
    const auto* ref = simd::table_for(simd::level::scalar);
    for (const auto* table : simd_tables()) {
        for (std::size_t d : {1u, 5u, 16u, 17u, 128u, 129u}) {
            for (std::size_t nx : {1u, 5u, 6u, 7u, 13u}) {
                for (std::size_t ny : {1u, 15u, 16u, 17u, 31u, 32u, 33u, 70u}) {
                    auto x = integer_floats(nx * d, rng);
                    auto y = integer_floats(ny * d, rng);
                    std::vector<float> got(nx * ny, -1.0f);
                    std::vector<float> want(nx * ny);
                    table->dot_matrix(x.data(), nx, y.data(), ny, d, got.data());
                    ref->dot_matrix(x.data(), nx, y.data(), ny, d, want.data());
                    BOOST_TEST(got == want, simd::to_string(table->simd_level)
                                                << " d=" << d << " nx=" << nx << " ny=" << ny);
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(dispatch_picks_the_best_level_the_cpu_has)
{
    __builtin_cpu_init();
    simd::level expected = simd::level::scalar;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        expected = simd::level::avx2;
    }
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) {
        expected = simd::level::avx512;
    }
    BOOST_TEST(static_cast<int>(simd::best_supported_level()) == static_cast<int>(expected));
    if (std::getenv("PUFFER_SIMD") == nullptr) {
        BOOST_TEST(static_cast<int>(simd::active().simd_level) == static_cast<int>(expected));
    }
    BOOST_TEST(simd::table_for(simd::level::scalar) != nullptr);
}

BOOST_AUTO_TEST_CASE(force_level_switches_and_restores)
{
    simd::level original = simd::active().simd_level;
    BOOST_TEST(simd::force_level(simd::level::scalar));
    BOOST_TEST(static_cast<int>(simd::active().simd_level) == static_cast<int>(simd::level::scalar));
    BOOST_TEST(simd::force_level(original));
}

// The 8-bit code kernels are integer arithmetic: every variant this CPU runs (VNNI's vpdpbusd
// included) must give the reference's integers exactly, at every tail length, with padded rows
// (stride > d), and at the extremes of both operands (255 * -128 never appears: weights are
// within [-127, 127], as sq8 makes them, but -128 is tested too since the kernels accept it).
BOOST_AUTO_TEST_CASE(u8s8_kernels_give_the_reference_integers)
{
    simd::u8s8_kernel kernels[8];
    const std::size_t count = simd::u8s8_kernels(kernels, 8);
    BOOST_TEST_REQUIRE(count >= 1u);
    BOOST_TEST((std::string(kernels[0].name) == "scalar"));
    if (expected_level() == simd::level::avx512) {
        BOOST_TEST(count >= 3u);  // scalar, avx2, avx512bw (and avx512vnni where the CPU has it)
    }
    // The table in use picks VNNI when there is one.
    if (std::string(kernels[count - 1].name) == "avx512vnni") {
        BOOST_TEST((std::string(simd::table_for(simd::level::avx512)->u8s8_name) == "avx512vnni"));
    }
    std::mt19937_64 rng(12);
    std::uniform_int_distribution<int> code(0, 255);
    std::uniform_int_distribution<int> weight(-128, 127);
    std::vector<std::size_t> dims = dimensions();
    for (std::size_t d : dims) {
        for (std::size_t pad : {0u, 3u}) {
            const std::size_t n = 37;  // two groups of 16 rows, then 5 alone
            const std::size_t stride = d + pad;
            std::vector<std::uint8_t> codes(n * stride);
            std::vector<std::int8_t> w(d);
            for (auto& c : codes) {
                c = static_cast<std::uint8_t>(code(rng));
            }
            for (auto& x : w) {
                x = static_cast<std::int8_t>(weight(rng));
            }
            // Row 0 at the extremes: every product 255 * -128.
            for (std::size_t j = 0; j < d; ++j) {
                codes[j] = 255;
            }
            std::fill(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(d, 5)), std::int8_t{-128});
            std::vector<std::int32_t> expected(n);
            for (std::size_t i = 0; i < n; ++i) {
                std::int64_t sum = 0;
                for (std::size_t j = 0; j < d; ++j) {
                    sum += static_cast<std::int64_t>(codes[i * stride + j]) * w[j];
                }
                expected[i] = static_cast<std::int32_t>(sum);
            }
            for (std::size_t k = 0; k < count; ++k) {
                std::vector<std::int32_t> out(n, 12345);
                kernels[k].rows(w.data(), codes.data(), n, d, stride, out.data());
                BOOST_TEST(out == expected, kernels[k].name << " d=" << d << " stride=" << stride);
            }
        }
    }
    // The largest dimension the format allows stays within 32 bits: 65536 * 255 * 127.
    {
        const std::size_t d = 65536;
        const std::size_t n = 17;  // a group of 16 and one more
        std::vector<std::uint8_t> codes(n * d, 255);
        std::vector<std::int8_t> w(d, 127);
        for (std::size_t k = 0; k < count; ++k) {
            std::vector<std::int32_t> out(n, 0);
            kernels[k].rows(w.data(), codes.data(), n, d, d, out.data());
            for (std::size_t i = 0; i < n; ++i) {
                BOOST_TEST(out[i] == 65536 * 255 * 127, kernels[k].name << " row " << i);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(bits_kernels_give_the_reference_counts)
{
    simd::bits_kernel kernels[8];
    const std::size_t count = simd::bits_kernels(kernels, 8);
    BOOST_TEST_REQUIRE(count >= 1u);
    BOOST_TEST((std::string(kernels[0].name) == "scalar"));
    if (expected_level() != simd::level::scalar) {
        BOOST_TEST(count >= 2u);  // scalar, popcnt (and avx512vpopcntdq where the CPU has it)
    }
    if (std::string(kernels[count - 1].name) == "avx512vpopcntdq") {
        BOOST_TEST((std::string(simd::table_for(simd::level::avx512)->bits_name) == "avx512vpopcntdq"));
    }
    std::mt19937_64 rng(13);
    // Words per row: packed several to a register (1, 2, 4), eight at a time (8, 16), and the
    // others; row counts leave partial registers at the end.
    for (std::size_t words : {1u, 2u, 3u, 4u, 5u, 8u, 16u, 17u}) {
        for (std::size_t n : {1u, 3u, 8u, 13u}) {
            std::vector<std::uint64_t> codes(n * words);
            std::vector<std::uint64_t> planes(4 * words);
            for (auto& c : codes) {
                c = rng();
            }
            for (auto& p : planes) {
                p = rng();
            }
            codes[0] = ~std::uint64_t{0};  // row 0 all ones against
            planes[0] = ~std::uint64_t{0};  // a full first word of plane 0
            std::vector<std::int32_t> expected(n);
            for (std::size_t i = 0; i < n; ++i) {
                std::int64_t sum = 0;
                for (std::size_t w = 0; w < words; ++w) {
                    for (std::size_t b = 0; b < 64; ++b) {
                        if (((codes[i * words + w] >> b) & 1u) == 0) {
                            continue;
                        }
                        for (std::size_t p = 0; p < 4; ++p) {
                            sum += static_cast<std::int64_t>((planes[p * words + w] >> b) & 1u) << p;
                        }
                    }
                }
                expected[i] = static_cast<std::int32_t>(sum);
            }
            for (std::size_t k = 0; k < count; ++k) {
                std::vector<std::int32_t> out(n, 12345);
                kernels[k].rows(planes.data(), codes.data(), n, words, out.data());
                BOOST_TEST(out == expected, kernels[k].name << " words=" << words << " n=" << n);
            }
        }
    }
    // Every bit set everywhere: 15 per bit.
    for (std::size_t k = 0; k < count; ++k) {
        std::vector<std::uint64_t> codes(5 * 2, ~std::uint64_t{0});
        std::vector<std::uint64_t> planes(4 * 2, ~std::uint64_t{0});
        std::vector<std::int32_t> out(5, 0);
        kernels[k].rows(planes.data(), codes.data(), 5, 2, out.data());
        for (std::int32_t v : out) {
            BOOST_TEST(v == 15 * 128, kernels[k].name);
        }
    }
}

BOOST_AUTO_TEST_CASE(metric_conventions)
{
    float q[2] = {1, 0};
    float x[2] = {0.6f, 0.8f};
    BOOST_TEST(distance(metric::l2, q, x, 2) == 0.16f + 0.64f, boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(distance(metric::inner_product, q, x, 2) == -0.6f);
    BOOST_TEST(score_from_distance(metric::cosine, -0.6f) == 0.6f);
    BOOST_TEST(score_from_distance(metric::l2, 0.8f) == 0.8f);
    float y[2] = {3, 4};
    BOOST_TEST(normalize(y, 2));
    BOOST_TEST(y[0] == 0.6f, boost::test_tools::tolerance(1e-6f));
    float zero[2] = {0, 0};
    BOOST_TEST(!normalize(zero, 2));
    // Subnormal and huge values: the norm's inverse (1e40 here) is past the float32 range.
    float tiny[2] = {3e-40f, 4e-40f};
    BOOST_TEST(normalize(tiny, 2));
    BOOST_TEST(tiny[0] == 0.6f, boost::test_tools::tolerance(1e-5f));
    BOOST_TEST(tiny[1] == 0.8f, boost::test_tools::tolerance(1e-5f));
    float huge[2] = {3e38f, -3e38f};
    BOOST_TEST(normalize(huge, 2));
    BOOST_TEST(huge[0] == 0.70710678f, boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(huge[1] == -0.70710678f, boost::test_tools::tolerance(1e-6f));
    BOOST_TEST((parse_metric("cosine").value() == metric::cosine));
    BOOST_TEST((parse_metric("l2").value() == metric::l2));
    BOOST_TEST(!parse_metric("hamming").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
