// .fvecs/.ivecs: round trip, and malformed files are refused.
#include "engine/format/vecs_file.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

using namespace puffer;

BOOST_AUTO_TEST_SUITE(vecs_file_suite)

BOOST_AUTO_TEST_CASE(round_trip_and_limit)
{
    test::temp_dir dir;
    format::matrix<float> m;
    m.rows = 3;
    m.dimension = 2;
    m.data = {1, 2, 3, 4, 5, 6};
    BOOST_TEST_REQUIRE(format::write_fvecs(dir.file("a.fvecs"), m).has_value());
    auto back = format::read_fvecs(dir.file("a.fvecs"));
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST(back->rows == 3u);
    BOOST_TEST(back->data == m.data);
    auto two = format::read_fvecs(dir.file("a.fvecs"), 2);
    BOOST_TEST_REQUIRE(two.has_value());
    BOOST_TEST(two->rows == 2u);
}

BOOST_AUTO_TEST_CASE(rejects_malformed_files)
{
    test::temp_dir dir;
    test::spit(dir.file("bad.fvecs"), std::string("\x02\x00\x00\x00\x00\x00", 6));
    BOOST_TEST(!format::read_fvecs(dir.file("bad.fvecs")).has_value());
    BOOST_TEST(!format::read_fvecs(dir.file("missing.fvecs")).has_value());
}

BOOST_AUTO_TEST_CASE(reads_the_real_sift20k_files)
{
    auto base = format::read_fvecs(test::data_dir() + "/sift20k/sift_base.fvecs");
    BOOST_TEST_REQUIRE(base.has_value());
    BOOST_TEST(base->rows == 20000u);
    BOOST_TEST(base->dimension == 128u);
    auto gt = format::read_ivecs(test::data_dir() + "/sift20k/sift_gt.ivecs");
    BOOST_TEST_REQUIRE(gt.has_value());
    BOOST_TEST(gt->rows == 200u);
    BOOST_TEST(gt->dimension == 100u);
}

BOOST_AUTO_TEST_SUITE_END()
