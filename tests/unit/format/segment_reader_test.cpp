// segment_reader: a written segment reads back exactly (ids, centroids, clusters, payloads), and
// every corruption is refused with errc::corruption / unsupported_version and a message naming
// the file and offset: bad magic, unknown version, offsets out of range, truncation at every
// section boundary, a flipped bit in each section, a misplaced file. Never a crash.
#include "engine/core/coding.hpp"
#include "engine/core/crc32c.hpp"
#include "engine/format/segment_reader.hpp"
#include "engine/format/segment_writer.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/format/segment_test_util.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <iterator>
#include <random>

using namespace puffer;
using format::segment_reader;

namespace {

struct fixture {
    test::temp_dir dir;
    std::string path = dir.file("000007.seg");
    std::string original;

    fixture()
    {
        test::write_tiny_segment(path);
        original = test::slurp(path);
    }

    result<segment_reader> reopen(const std::string& bytes)
    {
        test::spit(path, bytes);
        return segment_reader::open(io::posix_env(), path, 7);
    }

    // Rewrites the trailer crc so a test reaches the check behind it.
    static void fix_trailer_crc(std::string& bytes)
    {
        std::size_t t = bytes.size() - 64;
        put_fixed32_le(reinterpret_cast<std::byte*>(bytes.data() + t + 60), crc32c::value(bytes.data() + t, 60));
    }
    // Rewrites the header crc held in the trailer (and the trailer's own crc).
    static void fix_header_crc(std::string& bytes)
    {
        std::size_t t = bytes.size() - 64;
        put_fixed32_le(reinterpret_cast<std::byte*>(bytes.data() + t + 32), crc32c::value(bytes.data(), 64));
        fix_trailer_crc(bytes);
    }
};

void expect_error(const result<segment_reader>& r, errc code, const std::string& needle)
{
    BOOST_TEST_REQUIRE(!r.has_value(), "expected an error containing '" << needle << "'");
    BOOST_TEST(is(r.error(), code), r.error().message());
    BOOST_TEST(r.error().message().find(needle) != std::string::npos, r.error().message());
    BOOST_TEST(r.error().message().find("000007.seg") != std::string::npos, r.error().message());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(segment_reader_suite)

BOOST_AUTO_TEST_CASE(round_trip_of_a_clustered_segment)
{
    test::temp_dir dir;
    std::mt19937_64 rng(test::test_seed("segment round trip", 41));
    std::normal_distribution<float> g;
    std::size_t n = 1000;
    std::size_t d = 24;
    std::vector<float> x(n * d);
    for (auto& v : x) {
        v = g(rng);
    }
    std::vector<std::string> id_storage;
    std::vector<std::string> payload_storage;
    for (std::size_t i = 0; i < n; ++i) {
        id_storage.push_back("id-" + std::to_string(i));
        payload_storage.push_back(i % 3 == 0 ? "" : "{\"i\":" + std::to_string(i) + "}");
    }
    std::vector<std::string_view> ids(id_storage.begin(), id_storage.end());
    std::vector<std::string_view> payloads(payload_storage.begin(), payload_storage.end());
    index::ivf_options options;
    options.cluster_count = 17;
    auto layout = index::build_ivf_layout(x.data(), n, d, options, nullptr);
    format::segment_input input;
    input.segment_id = 3;
    input.distance_metric = metric::cosine;
    input.dimension = d;
    input.vectors = x.data();
    input.ids = ids;
    input.payloads = payloads;
    input.layout = &layout;
    std::string path = dir.file("000003.seg");
    auto info = format::write_segment(io::posix_env(), path, input);
    BOOST_TEST_REQUIRE(info.has_value());
    BOOST_TEST(info->file_size_bytes % 4096 == 0u);

    auto r = segment_reader::open(io::posix_env(), path, 3);
    BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().message()));
    BOOST_TEST(r->vector_count() == n);
    BOOST_TEST(r->cluster_count() == 17u);
    BOOST_TEST(r->dimension() == d);
    BOOST_TEST(static_cast<int>(r->distance_metric()) == static_cast<int>(metric::cosine));
    BOOST_TEST(std::equal(layout.centroids.begin(), layout.centroids.end(), r->centroids()));
    BOOST_TEST(r->verify_all(io::posix_env()).has_value());
    auto f = io::posix_env().open(path, io::open_mode::read);
    BOOST_TEST_REQUIRE(f.has_value());
    std::vector<float> cluster;
    for (std::size_t c = 0; c < r->cluster_count(); ++c) {
        BOOST_TEST_REQUIRE(r->read_cluster(**f, c, cluster).has_value());
        BOOST_TEST(r->cluster_start(c) == layout.cluster_offsets[c]);
        for (std::size_t i = 0; i < r->cluster_length(c); ++i) {
            std::size_t p = r->cluster_start(c) + i;
            std::size_t source = layout.order[p];
            BOOST_TEST_REQUIRE(std::equal(cluster.begin() + static_cast<std::ptrdiff_t>(i * d),
                                          cluster.begin() + static_cast<std::ptrdiff_t>((i + 1) * d),
                                          x.begin() + static_cast<std::ptrdiff_t>(source * d)));
            BOOST_TEST(r->id(p) == ids[source]);
            auto payload = r->read_payload(**f, p);
            BOOST_TEST_REQUIRE(payload.has_value());
            BOOST_TEST(*payload == payloads[source]);
        }
    }
    // Vectors are 4096-aligned, so O_DIRECT reads of a cluster's aligned superset are possible.
    BOOST_TEST(r->header().offset_of(format::section::vectors) % 4096 == 0u);
}

BOOST_FIXTURE_TEST_CASE(opens_the_tiny_segment, fixture)
{
    auto r = segment_reader::open(io::posix_env(), path, 7);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->id(0) == "a");
    BOOST_TEST(r->id(1) == "bb");
    BOOST_TEST(r->payload_range(1).size_bytes == 7u);
    BOOST_TEST(r->payload_range(0).size_bytes == 0u);
}

BOOST_FIXTURE_TEST_CASE(rejects_bad_magic, fixture)
{
    std::string bytes = original;
    bytes[0] = 'X';
    expect_error(reopen(bytes), errc::corruption, "bad magic");
}

BOOST_FIXTURE_TEST_CASE(rejects_unknown_version, fixture)
{
    // A version this build does not know, with a header crc that matches it: a newer format.
    std::string bytes = original;
    bytes[7] = 3;
    fix_header_crc(bytes);
    expect_error(reopen(bytes), errc::unsupported_version, "segment version 3; this build reads versions 1 to 2");
    bytes[7] = 0;
    fix_header_crc(bytes);
    expect_error(reopen(bytes), errc::unsupported_version, "segment version 0");
    // The same change without the crc: a damaged version field is damage, not a new format.
    bytes = original;
    bytes[7] = 3;
    expect_error(reopen(bytes), errc::corruption, "header crc32c mismatch");
}

BOOST_FIXTURE_TEST_CASE(rejects_a_misplaced_file, fixture)
{
    test::spit(path, original);
    auto r = segment_reader::open(io::posix_env(), path, 8);
    expect_error(r, errc::corruption, "segment id: expected 8, found 7");
}

BOOST_FIXTURE_TEST_CASE(rejects_offsets_past_the_end, fixture)
{
    // Each section offset in turn points past the end of the file (crcs fixed so the offset
    // check itself is what fails).
    for (std::size_t s = 0; s < format::section_count; ++s) {
        std::string bytes = original;
        put_fixed64_le(reinterpret_cast<std::byte*>(bytes.data() + 24 + 8 * s), 1u << 30);
        fix_header_crc(bytes);
        expect_error(reopen(bytes), errc::corruption, "outside the valid range");
    }
    std::string bytes = original;
    put_fixed64_le(reinterpret_cast<std::byte*>(bytes.data() + bytes.size() - 64 + 24), 1u << 30);
    fix_trailer_crc(bytes);
    expect_error(reopen(bytes), errc::corruption, "footer offset");
}

// A payload blob size near 2^64 made blob offset + size wrap to a small number that passed the
// footer bounds; every payload entry then passed "offset + length <= blob size", so a segment with
// all checksums right could point a payload anywhere (mmap searches read it unchecked). Here:
// d = 1, two rows, no payload bytes; the size wraps the blob end to P + 12, inside the payload
// offset table, and entry 0 points 1 TiB past the blob.
BOOST_FIXTURE_TEST_CASE(rejects_a_payload_blob_size_that_wraps, fixture)
{
    std::string bytes(8192, '\0');
    auto* b = reinterpret_cast<std::byte*>(bytes.data());
    format::segment_header h;
    h.version = 1;  // the version 1 layout: cluster metadata right after the header
    h.dimension = 1;
    h.vector_count = 2;
    h.cluster_count = 1;
    const std::uint64_t offsets[] = {64, 4096, 4104, 4114, 4138};  // meta, V, I, P, B
    std::copy(std::begin(offsets), std::end(offsets), h.section_offsets);
    format::encode_header(h, b);
    put_float32_le(b + 64, 1.5f);  // centroid; extent start 0, length 2
    put_fixed32_le(b + 72, 2);
    put_float32_le(b + 4096, 1.0f);
    put_float32_le(b + 4100, 2.0f);
    put_fixed32_le(b + 4104, 1);  // ids "a" and "b"
    bytes[4108] = 'a';
    put_fixed32_le(b + 4109, 1);
    bytes[4113] = 'b';
    put_fixed64_le(b + 4114, std::uint64_t{1} << 40);  // payload 0: offset 1 TiB, 100 bytes
    put_fixed32_le(b + 4122, 100);
    format::segment_trailer t;
    t.segment_id = 7;
    t.payload_blob_size = ~std::uint64_t{0} - 11;  // B + size = P + 12 (mod 2^64)
    t.footer_offset = 8192 - 64 - 12;
    format::encode_trailer(t, b + 8192 - 64);
    expect_error(reopen(test::reseal_segment(bytes)), errc::corruption,
                 "payload blob size 18446744073709551604 outside the valid range 0..8192");
}

BOOST_FIXTURE_TEST_CASE(rejects_bad_counts_and_metric, fixture)
{
    std::string bytes = original;
    bytes[15] = 9;  // metric
    fix_header_crc(bytes);
    expect_error(reopen(bytes), errc::corruption, "unknown metric code 9");
    bytes = original;
    put_fixed32_le(reinterpret_cast<std::byte*>(bytes.data() + 11), 0);  // dimension
    fix_header_crc(bytes);
    expect_error(reopen(bytes), errc::corruption, "dimension 0");
    bytes = original;
    put_fixed32_le(reinterpret_cast<std::byte*>(bytes.data() + 20), 0);  // no clusters
    fix_header_crc(bytes);
    expect_error(reopen(bytes), errc::corruption, "3 vectors in 0 clusters");
}

BOOST_FIXTURE_TEST_CASE(rejects_truncation_at_every_section_boundary, fixture)
{
    // Section starts (header, metadata, padding, vectors, ids, payload offsets, blob, footer,
    // trailer) and a few bytes around each.
    for (std::size_t boundary : {0u, 1u, 63u, 64u, 68u, 72u, 104u, 4096u, 4120u, 4136u, 4172u, 4179u, 8108u,
                                 8128u, 8191u}) {
        expect_error(reopen(original.substr(0, boundary)), errc::corruption, "offset");
    }
}

BOOST_FIXTURE_TEST_CASE(rejects_a_flipped_bit_in_every_checked_section, fixture)
{
    struct probe {
        std::size_t offset;
        const char* needle;
    };
    const probe probes[] = {
        {5, "bad magic"},                    // header magic
        {13, "header crc32c mismatch"},      // header dimension
        {66, "section directory crc32c"},    // the directory's crc
        {70, "section directory"},           // its entry count
        {78, "cluster metadata crc32c"},     // a centroid
        {200, "nonzero byte in the padding"},  // metadata padding
        {4121, "id table crc32c"},           // id length
        {4124, "id table crc32c"},           // id bytes
        {4140, "payload offset table crc32c"},
        {4185, "nonzero byte in the padding"},  // padding before the footer
        {8110, "checksum tables crc32c"},    // footer crc table
        {8140, "trailer crc32c"},            // trailer fields
        {8128, "bad trailer magic"},
    };
    for (const auto& p : probes) {
        std::string bytes = original;
        bytes[p.offset] = static_cast<char>(bytes[p.offset] ^ 0x10);
        expect_error(reopen(bytes), errc::corruption, p.needle);
    }
}

BOOST_FIXTURE_TEST_CASE(flipped_bits_in_vectors_and_payloads_fail_the_read, fixture)
{
    std::string bytes = original;
    bytes[4100] = static_cast<char>(bytes[4100] ^ 1);  // cluster 0's vector
    bytes[4175] = static_cast<char>(bytes[4175] ^ 1);  // the payload
    test::spit(path, bytes);
    auto r = segment_reader::open(io::posix_env(), path, 7);
    BOOST_TEST_REQUIRE(r.has_value());  // data sections are verified on read
    auto f = io::posix_env().open(path, io::open_mode::read);
    BOOST_TEST_REQUIRE(f.has_value());
    std::vector<float> cluster;
    auto bad_cluster = r->read_cluster(**f, 0, cluster);
    BOOST_TEST_REQUIRE(!bad_cluster.has_value());
    BOOST_TEST(bad_cluster.error().message().find("cluster 0 crc32c mismatch") != std::string::npos);
    BOOST_TEST(bad_cluster.error().message().find("offset 4096") != std::string::npos);
    BOOST_TEST(r->read_cluster(**f, 1, cluster).has_value());
    auto bad_payload = r->read_payload(**f, 1);
    BOOST_TEST_REQUIRE(!bad_payload.has_value());
    BOOST_TEST(bad_payload.error().message().find("payload 1 crc32c mismatch") != std::string::npos);
    auto all = r->verify_all(io::posix_env());
    BOOST_TEST(!all.has_value());
}

BOOST_FIXTURE_TEST_CASE(random_corruption_never_crashes, fixture)
{
    // Any single-byte change is either rejected at open or caught when the data is read.
    std::mt19937_64 rng(test::test_seed("segment random corruption", 43));
    for (int round = 0; round < 300; ++round) {
        std::string bytes = original;
        std::size_t at = std::uniform_int_distribution<std::size_t>(0, bytes.size() - 1)(rng);
        bytes[at] = static_cast<char>(bytes[at] ^ (1 + rng() % 255));
        test::spit(path, bytes);
        auto r = segment_reader::open(io::posix_env(), path, 7);
        if (r) {
            BOOST_TEST(!r->verify_all(io::posix_env()).has_value(), "byte " << at << " change undetected");
        }
    }
}

// Version 2's extra sections, on the tiny segment with a recall curve at 8192 (directory entry at
// 72: kind, flags, offset, length, crc, reserved). Each rejection with the crcs recomputed, so the
// check itself is what fails.
struct section_fixture : fixture {
    section_fixture()
    {
        test::write_tiny_segment(path, true);
        original = test::slurp(path);
    }
    static constexpr std::size_t entry = 72;
    void put32(std::string& bytes, std::size_t at, std::uint32_t v)
    {
        put_fixed32_le(reinterpret_cast<std::byte*>(bytes.data() + at), v);
    }
};

BOOST_FIXTURE_TEST_CASE(reads_the_recall_curve, section_fixture)
{
    auto r = segment_reader::open(io::posix_env(), path, 7);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST_REQUIRE(r->recall().has_value());
    BOOST_TEST(r->recall()->top_k == 1u);
    BOOST_TEST(r->recall()->queries == 3u);
    BOOST_TEST_REQUIRE(r->recall()->points.size() == 2u);
    BOOST_TEST(r->recall()->points[1].probes == 2u);
    BOOST_TEST(r->recall()->points[1].recall == 1.0f);
    BOOST_TEST(r->recall()->neighbours_skipped == 0u);
    BOOST_TEST(r->sections().size() == 1u);
    BOOST_TEST(r->verify_all(io::posix_env()).has_value());
    auto plain = fixture();
    auto p = segment_reader::open(io::posix_env(), plain.path, 7);
    BOOST_TEST_REQUIRE(p.has_value());
    BOOST_TEST(!p->recall().has_value());
}

BOOST_FIXTURE_TEST_CASE(rejects_a_damaged_section_or_directory, section_fixture)
{
    std::string bytes = original;
    bytes[8200] = static_cast<char>(bytes[8200] ^ 1);  // inside the curve
    expect_error(reopen(bytes), errc::corruption, "offset 8192: recall curve crc32c mismatch");
    bytes = original;
    bytes[entry + 16] = static_cast<char>(bytes[entry + 16] ^ 1);  // the entry's length
    expect_error(reopen(bytes), errc::corruption, "section directory crc32c mismatch");
    bytes = original;
    bytes[5000] = 1;  // the padding before the section
    expect_error(reopen(bytes), errc::corruption, "nonzero byte in the padding before a section");
    bytes = original;
    bytes[8300] = 1;  // the padding after it, before the footer
    expect_error(reopen(bytes), errc::corruption, "nonzero byte in the padding before the footer");
}

BOOST_FIXTURE_TEST_CASE(rejects_a_misplaced_section, section_fixture)
{
    std::string bytes = original;
    put_fixed64_le(reinterpret_cast<std::byte*>(bytes.data() + entry + 8), 4096);  // not after the blob
    expect_error(reopen(test::reseal_segment(bytes)), errc::corruption, "section 0 at offset 4096");
    bytes = original;
    put_fixed64_le(reinterpret_cast<std::byte*>(bytes.data() + entry + 16), 1u << 20);  // past the end
    expect_error(reopen(test::reseal_segment(bytes)), errc::corruption, "section 0 at offset 8192");
}

BOOST_FIXTURE_TEST_CASE(unknown_sections_are_refused_only_when_required, section_fixture)
{
    std::string bytes = original;
    put32(bytes, entry, 99);  // a kind from a later version, optional
    auto r = reopen(test::reseal_segment(bytes));
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(!r->recall().has_value());
    BOOST_TEST(r->sections().size() == 1u);
    put32(bytes, entry + 4, format::section_flag_required);
    expect_error(reopen(test::reseal_segment(bytes)), errc::unsupported_version, "kind 99");
    bytes = original;
    put32(bytes, entry + 4, 2);  // a flag this build does not know
    expect_error(reopen(test::reseal_segment(bytes)), errc::unsupported_version, "unknown flags 0x2");
    bytes = original;
    put32(bytes, entry + 28, 1);  // reserved
    expect_error(reopen(test::reseal_segment(bytes)), errc::unsupported_version, "nonzero reserved");
}

BOOST_FIXTURE_TEST_CASE(reads_the_neighbours_a_curve_skipped, section_fixture)
{
    std::string bytes = original;
    put32(bytes, 8204, 5);
    auto r = reopen(test::reseal_segment(bytes));
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST_REQUIRE(r->recall().has_value());
    BOOST_TEST(r->recall()->neighbours_skipped == 5u);
}

BOOST_FIXTURE_TEST_CASE(rejects_a_bad_recall_curve, section_fixture)
{
    struct change {
        std::size_t at;
        std::uint32_t value;
        const char* needle;
    };
    const change changes[] = {
        {8192, 0, "top_k 0"},              // top_k
        {8200, 3, "3 points"},             // more points than clusters
        {8204, 65, "65 neighbours skipped, at most 64"},  // neighbours skipped
        {8216, 1, "point 1: 1 probes"},    // probes not ascending
        {8212, 0x3f800001, "point 0"},     // recall above 1
        {8220, 0x3e800000, "point 1"},     // recall falls (0.25 after 0.5)
    };
    for (const auto& c : changes) {
        std::string bytes = original;
        put32(bytes, c.at, c.value);
        expect_error(reopen(test::reseal_segment(bytes)), errc::corruption, c.needle);
    }
}

BOOST_AUTO_TEST_CASE(version_2_allows_more_clusters_than_rows)
{
    // A flush of a few rows into its collection's table of many clusters.
    test::temp_dir dir;
    index::ivf_layout layout;
    layout.dimension = 2;
    layout.cluster_count = 5;
    layout.centroids = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4};
    layout.cluster_offsets = {0, 0, 1, 1, 2, 2};
    layout.order = {0, 1};
    const float vectors[] = {1, 1, 3, 3};
    std::vector<std::string_view> ids = {"x", "y"};
    format::segment_input in;
    in.segment_id = 3;
    in.dimension = 2;
    in.vectors = vectors;
    in.ids = ids;
    in.layout = &layout;
    std::string path = dir.file("000003.seg");
    BOOST_TEST_REQUIRE(format::write_segment(io::posix_env(), path, in).has_value());
    auto r = segment_reader::open(io::posix_env(), path, 3);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(r->cluster_count() == 5u);
    BOOST_TEST(r->cluster_length(3) == 1u);
    // The same counts in a version 1 file are refused.
    std::string bytes = test::slurp(path);
    bytes[7] = 1;
    test::spit(path, test::reseal_segment(bytes));
    auto v1 = segment_reader::open(io::posix_env(), path, 3);
    BOOST_TEST_REQUIRE(!v1.has_value());
    BOOST_TEST(v1.error().message().find("need 1 <= clusters <= vectors") != std::string::npos, v1.error().message());
}

BOOST_AUTO_TEST_SUITE_END()
