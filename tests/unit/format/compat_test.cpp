// Files written by an earlier build must stay readable: tests/data/compat/ holds a segment, a
// MANIFEST and a WAL file with a torn tail, written by puffer-make-compat-fixtures
// (tests/tools/make_compat_fixtures.cpp, tests/data/README.md). Each build reads them with
// today's readers and compares every id, vector, payload, WAL record and MANIFEST field with the
// literal values the tool wrote, so a reader change that misreads old files fails here.
#include "engine/format/manifest_codec.hpp"
#include "engine/format/segment_reader.hpp"
#include "engine/io/env.hpp"
#include "engine/wal/wal_format.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace puffer;

namespace {

std::string fixture(const std::string& name)
{
    return test::data_dir() + "/compat/" + name;
}

struct row {
    std::string id;
    std::vector<float> vector;
    std::string payload;  // empty: none
};

}  // namespace

BOOST_AUTO_TEST_SUITE(compat_suite)

// Segment 1 of collection "compat": p0..p5 of d = 4 in 2 clusters, in cluster order.
BOOST_AUTO_TEST_CASE(reads_the_segment_of_an_earlier_build)
{
    auto seg = format::segment_reader::open(io::posix_env(), fixture("000001.seg"), 1);
    BOOST_TEST_REQUIRE(seg.has_value(), seg.error().message());
    BOOST_TEST(seg->file_size_bytes() == 8192u);
    BOOST_TEST(seg->header().version == 1u);
    BOOST_TEST(seg->dimension() == 4u);
    BOOST_TEST((seg->distance_metric() == metric::l2));
    BOOST_TEST(seg->vector_count() == 6u);
    BOOST_TEST_REQUIRE(seg->cluster_count() == 2u);
    BOOST_TEST(seg->cluster_start(0) == 0u);
    BOOST_TEST(seg->cluster_length(0) == 3u);
    BOOST_TEST(seg->cluster_start(1) == 3u);
    BOOST_TEST(seg->cluster_length(1) == 3u);
    // Centroids: the means of each cluster's rows.
    const std::vector<float> centroids(seg->centroids(), seg->centroids() + 8);
    const std::vector<float> expected_centroids = {1.0f / 3, 1.0f / 3, 26.0f / 3, 26.0f / 3,
                                                   2, 1.0f / 3, 0, 0};
    BOOST_TEST(centroids == expected_centroids, boost::test_tools::per_element());
    BOOST_TEST_REQUIRE(seg->verify_all(io::posix_env()).has_value());

    const std::vector<row> expected = {
        {"p3", {0, 0, 9, 9}, ""},
        {"p4", {0, 1, 9, 8}, "{\"n\":4}"},
        {"p5", {1, 0, 8, 9}, ""},
        {"p0", {1, 0, 0, 0}, "{\"n\":0}"},
        {"p1", {2, 0, 0, 0}, ""},
        {"p2", {3, 1, 0, 0}, "{\"n\":2,\"s\":\"two\"}"},
    };
    auto f = io::posix_env().open(fixture("000001.seg"), io::open_mode::read);
    BOOST_TEST_REQUIRE(f.has_value());
    std::vector<float> vectors;
    for (std::size_t c = 0; c < 2; ++c) {
        std::vector<float> cluster;
        BOOST_TEST_REQUIRE(seg->read_cluster(**f, c, cluster).has_value());
        vectors.insert(vectors.end(), cluster.begin(), cluster.end());
    }
    BOOST_TEST_REQUIRE(vectors.size() == 24u);
    for (std::size_t p = 0; p < expected.size(); ++p) {
        BOOST_TEST(seg->id(p) == expected[p].id, "position " << p);
        std::vector<float> v(vectors.begin() + static_cast<std::ptrdiff_t>(4 * p),
                             vectors.begin() + static_cast<std::ptrdiff_t>(4 * p + 4));
        BOOST_TEST(v == expected[p].vector, boost::test_tools::per_element());
        auto payload = seg->read_payload(**f, p);
        BOOST_TEST_REQUIRE(payload.has_value(), payload.error().message());
        BOOST_TEST(*payload == expected[p].payload, "position " << p);
    }
}

// The live WAL file: an upsert of q0 and q1, a delete of p0, then an upsert of q2 cut in half.
BOOST_AUTO_TEST_CASE(replays_the_torn_wal_of_an_earlier_build)
{
    std::string bytes = test::slurp(fixture("000003.log"));
    BOOST_TEST_REQUIRE(bytes.size() == 143u);
    std::vector<std::string> kept;
    auto r = wal::replay(bytes, [&](wal::record_type type, std::string_view body) -> status {
        if (type == wal::record_type::upsert) {
            point_batch b;
            PUFFER_TRY(wal::decode_upsert(body, b));
            BOOST_TEST(b.dimension == 4u);
            BOOST_TEST(b.ids == (std::vector<std::string>{"q0", "q1"}));
            BOOST_TEST(b.vectors == (std::vector<float>{7, 0, 0, 7, 0.5f, 0.25f, -0.125f, 3}),
                       boost::test_tools::per_element());
            BOOST_TEST(b.payloads == (std::vector<std::string>{"{\"q\":[1,2]}", ""}));
            kept.push_back("upsert");
        } else {
            std::vector<std::string> ids;
            PUFFER_TRY(wal::decode_remove(body, ids));
            BOOST_TEST(ids == std::vector<std::string>{"p0"});
            kept.push_back("remove");
        }
        return ok();
    });
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(kept == (std::vector<std::string>{"upsert", "remove"}));
    BOOST_TEST(r->records == 2u);
    BOOST_TEST(r->valid_size_bytes == 115u);
    BOOST_TEST(!r->clean);
    BOOST_TEST(r->reason == "torn record at offset 115 (length 47, 19 bytes left)");
}

BOOST_AUTO_TEST_CASE(decodes_the_manifest_of_an_earlier_build)
{
    auto m = format::decode_manifest(test::slurp(fixture("MANIFEST")), fixture("MANIFEST"));
    BOOST_TEST_REQUIRE(m.has_value(), m.error().message());
    BOOST_TEST(m->name == "compat");
    BOOST_TEST(m->dimension == 4u);
    BOOST_TEST((m->distance_metric == metric::l2));
    BOOST_TEST(m->next_segment_id == 3u);
    BOOST_TEST(m->wal_start == 3u);
    BOOST_TEST_REQUIRE(m->segments.size() == 2u);
    BOOST_TEST(m->segments[0].id == 1u);
    BOOST_TEST(m->segments[0].vector_count == 6u);
    BOOST_TEST(m->segments[0].cluster_count == 2u);
    BOOST_TEST(m->segments[0].file_size_bytes == 8192u);
    BOOST_TEST(m->segments[0].tombstones == std::vector<std::uint32_t>{5});  // p2's position
    BOOST_TEST(m->segments[1].id == 2u);
    BOOST_TEST(m->segments[1].vector_count == 2u);
    BOOST_TEST(m->segments[1].cluster_count == 2u);
    BOOST_TEST(m->segments[1].file_size_bytes == 8192u);
    BOOST_TEST(m->segments[1].tombstones.empty());
}

BOOST_AUTO_TEST_SUITE_END()
