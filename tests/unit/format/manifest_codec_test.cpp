// engine/format/manifest_codec: the MANIFEST of docs/format.md. Encoding gives the spec's
// example byte for byte and decodes back; then, as LevelDB's log_test does, the bytes are damaged
// in memory (a flip in every byte of every field region, a bad crc, a bad magic, a cut at every
// length, an unknown version, fields made invalid and resealed with fix_checksum) and each
// rejection must have the exact errc and the message the reader documents.
#include "engine/core/coding.hpp"
#include "engine/core/crc32c.hpp"
#include "engine/format/manifest_codec.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace puffer;

namespace {

const std::string path = "m/MANIFEST";

// The example of docs/format.md ("MANIFEST", "Example"): collection m, d = 2, l2, segment 1 with
// 3 rows and position 1 deleted, segment 2 with 1 row, WAL start 3.
format::manifest example()
{
    format::manifest m;
    m.name = "m";
    m.dimension = 2;
    m.distance_metric = metric::l2;
    m.next_segment_id = 3;
    m.wal_start = 3;
    m.segments.push_back({1, 3, 1, 8192, {1}});
    m.segments.push_back({2, 1, 1, 8192, {}});
    return m;
}

std::string from_hex(const std::string& hex)
{
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    }
    return out;
}

// The example's 110 bytes as format.md lists them.
// clang-format off
const std::string example_bytes = from_hex(
    "50524d414e310000"  // magic "PRMAN1\0\0"
    "01000000"          // version 1
    "5a000000"          // body size 90
    "010000006d"        // name "m"
    "02000000"          // dimension 2
    "00"                // metric l2
    "0300000000000000"  // next segment id 3
    "0300000000000000"  // wal start 3
    "02000000"          // segment count 2
    "0100000000000000" "03000000" "01000000" "0020000000000000" "01000000" "01000000"
    "0200000000000000" "01000000" "01000000" "0020000000000000" "00000000"
    "93cf2288");        // crc 0x8822cf93
// clang-format on

void flip_byte(std::string& bytes, std::size_t offset)
{
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x80);
}

void put32(std::string& bytes, std::size_t offset, std::uint32_t value)
{
    put_fixed32_le(reinterpret_cast<std::byte*>(bytes.data() + offset), value);
}

// Rewrites the body size and the crc for the bytes as they are, so a test reaches the checks
// behind them.
void fix_checksum(std::string& bytes)
{
    put32(bytes, 12, static_cast<std::uint32_t>(bytes.size() - 20));
    put32(bytes, bytes.size() - 4, crc32c::value(bytes.data(), bytes.size() - 4));
}

// Asserts that bytes are rejected with code and a message containing needle.
void expect_rejected(const std::string& bytes, errc code, const std::string& needle,
                     const std::string& label)
{
    auto r = format::decode_manifest(bytes, path);
    BOOST_TEST_REQUIRE(!r.has_value(), label << ": decoded");
    BOOST_TEST(is(r.error(), code), label << ": " << r.error().message());
    BOOST_TEST(r.error().message().find(needle) != std::string::npos,
               label << ": '" << r.error().message() << "' lacks '" << needle << "'");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(manifest_codec_suite)

BOOST_AUTO_TEST_CASE(encodes_the_spec_example_and_decodes_it_back)
{
    BOOST_TEST_REQUIRE(example_bytes.size() == 110u);
    BOOST_TEST(format::encode_manifest(example()) == example_bytes);
    auto m = format::decode_manifest(example_bytes, path);
    BOOST_TEST_REQUIRE(m.has_value(), m.error().message());
    BOOST_TEST(m->name == "m");
    BOOST_TEST(m->dimension == 2u);
    BOOST_TEST((m->distance_metric == metric::l2));
    BOOST_TEST(m->next_segment_id == 3u);
    BOOST_TEST(m->wal_start == 3u);
    BOOST_TEST_REQUIRE(m->segments.size() == 2u);
    BOOST_TEST(m->segments[0].id == 1u);
    BOOST_TEST(m->segments[0].vector_count == 3u);
    BOOST_TEST(m->segments[0].cluster_count == 1u);
    BOOST_TEST(m->segments[0].file_size_bytes == 8192u);
    BOOST_TEST(m->segments[0].tombstones == std::vector<std::uint32_t>{1});
    BOOST_TEST(m->segments[1].id == 2u);
    BOOST_TEST(m->segments[1].vector_count == 1u);
    BOOST_TEST(m->segments[1].tombstones.empty());
    BOOST_TEST(format::encode_manifest(*m) == example_bytes);
}

BOOST_AUTO_TEST_CASE(round_trips_every_metric_and_many_segments)
{
    format::manifest m;
    m.name = std::string(64, 'n');  // the longest name the reader takes
    m.dimension = 65536;
    m.distance_metric = metric::inner_product;
    m.next_segment_id = 1000;
    m.wal_start = 77;
    for (std::uint64_t id = 1; id < 40; ++id) {
        m.segments.push_back({id * 3, 100, 10, 4096 * id, {0, 5, 99}});
    }
    for (metric k : {metric::l2, metric::cosine, metric::inner_product}) {
        m.distance_metric = k;
        auto back = format::decode_manifest(format::encode_manifest(m), path);
        BOOST_TEST_REQUIRE(back.has_value(), back.error().message());
        BOOST_TEST(format::encode_manifest(*back) == format::encode_manifest(m));
        BOOST_TEST((back->distance_metric == k));
    }
}

// One flipped byte anywhere is caught by the check that covers it, in the reader's order.
BOOST_AUTO_TEST_CASE(a_flip_in_each_field_region_fails_its_check)
{
    for (std::size_t at = 0; at < example_bytes.size(); ++at) {
        std::string bytes = example_bytes;
        flip_byte(bytes, at);
        std::string label = "flip at " + std::to_string(at);
        if (at < 8) {
            expect_rejected(bytes, errc::corruption,
                            path + ": offset 0: bad magic (expected \"PRMAN1\")", label);
        } else if (at < 12) {
            expect_rejected(bytes, errc::unsupported_version,
                            path + ": offset 8: MANIFEST version ", label);
            expect_rejected(bytes, errc::unsupported_version, "; this build reads 1 to 1", label);
        } else if (at < 16) {
            expect_rejected(bytes, errc::corruption, path + ": offset 12: body size ", label);
            expect_rejected(bytes, errc::corruption, " does not match the file (110 bytes)", label);
        } else if (at < 106) {
            // The body: the crc catches it before any field is read.
            expect_rejected(bytes, errc::corruption,
                            path + ": offset 106: crc32c mismatch (stored 0x8822cf93, computed 0x",
                            label);
        } else {
            expect_rejected(bytes, errc::corruption,
                            path + ": offset 106: crc32c mismatch (stored 0x", label);
            expect_rejected(bytes, errc::corruption, ", computed 0x8822cf93)", label);
        }
    }
}

BOOST_AUTO_TEST_CASE(rejects_a_bad_crc_and_a_bad_magic)
{
    std::string bad_crc = example_bytes;
    put32(bad_crc, 106, 0x12345678);
    expect_rejected(bad_crc, errc::corruption,
                    path + ": offset 106: crc32c mismatch (stored 0x12345678, computed 0x8822cf93)",
                    "bad crc");
    std::string segment_magic = example_bytes;
    segment_magic.replace(0, 8, std::string("PRSEG1\0\0", 8));
    fix_checksum(segment_magic);
    expect_rejected(segment_magic, errc::corruption,
                    path + ": offset 0: bad magic (expected \"PRMAN1\")", "magic");
}

BOOST_AUTO_TEST_CASE(truncation_at_every_length_is_corruption)
{
    for (std::size_t n = 0; n < example_bytes.size(); ++n) {
        std::string cut = example_bytes.substr(0, n);
        std::string label = "cut at " + std::to_string(n);
        if (n < 20) {
            expect_rejected(cut, errc::corruption,
                            path + ": offset 0: file is " + std::to_string(n) +
                                " bytes, too small for a MANIFEST",
                            label);
        } else {
            expect_rejected(cut, errc::corruption,
                            path + ": offset 12: body size 90 does not match the file (" +
                                std::to_string(n) + " bytes)",
                            label);
        }
    }
}

BOOST_AUTO_TEST_CASE(an_unknown_version_is_unsupported_even_with_a_good_crc)
{
    for (std::uint32_t version : {0u, 2u, 0xFFFFFFFFu}) {
        std::string bytes = example_bytes;
        put32(bytes, 8, version);
        fix_checksum(bytes);
        expect_rejected(bytes, errc::unsupported_version,
                        path + ": offset 8: MANIFEST version " + std::to_string(version) +
                            "; this build reads 1 to 1",
                        "version " + std::to_string(version));
    }
}

// Field checks behind a valid crc: each invalid field is resealed with fix_checksum (or encoded
// as is) so that the field check itself must reject it. Offsets are where decoding stopped:
// after the name's length (20), at the body start for dimension and metric (16), after the
// segment count (46), after the first entry's tombstone count (74), after its tombstones (78,
// 82), after the second entry (106).
BOOST_AUTO_TEST_CASE(rejects_each_invalid_field_behind_a_valid_crc)
{
    auto m = example();
    m.name = std::string(65, 'n');
    expect_rejected(format::encode_manifest(m), errc::corruption,
                    path + ": offset 20: truncated collection fields", "name of 65 bytes");
    for (std::uint32_t dimension : {0u, 65537u}) {
        m = example();
        m.dimension = dimension;
        expect_rejected(format::encode_manifest(m), errc::corruption,
                        path + ": offset 16: invalid dimension or metric",
                        "dimension " + std::to_string(dimension));
    }
    std::string bytes = example_bytes;
    bytes[0x19] = 3;  // metric code 3
    fix_checksum(bytes);
    expect_rejected(bytes, errc::corruption, path + ": offset 16: invalid dimension or metric",
                    "metric 3");

    bytes = example_bytes;
    put32(bytes, 0x2a, 1000);  // segment count
    fix_checksum(bytes);
    expect_rejected(bytes, errc::corruption,
                    path + ": offset 46: segment count larger than the file", "count");

    bytes = example_bytes;
    put32(bytes, 0x46, 4);  // 4 tombstones in a segment of 3 rows
    fix_checksum(bytes);
    expect_rejected(bytes, errc::corruption, path + ": offset 74: segment entry 0 truncated",
                    "tombstone count");

    m = example();
    m.next_segment_id = 2;  // segment 2 is not below it
    expect_rejected(format::encode_manifest(m), errc::corruption,
                    path + ": offset 106: segment id 2 not below next id 2", "segment id");
    m = example();
    m.segments[0].tombstones = {1, 1};
    m.segments[0].vector_count = 3;
    expect_rejected(format::encode_manifest(m), errc::corruption,
                    path + ": offset 82: segment 1: tombstones not increasing positions below 3",
                    "repeated tombstone");
    m = example();
    m.segments[0].tombstones = {3};
    expect_rejected(format::encode_manifest(m), errc::corruption,
                    path + ": offset 78: segment 1: tombstones not increasing positions below 3",
                    "tombstone past the end");

    bytes = example_bytes;
    bytes.insert(106, 1, '\0');  // one byte after the last segment
    fix_checksum(bytes);
    expect_rejected(bytes, errc::corruption, path + ": offset 106: trailing bytes",
                    "trailing byte");
}

BOOST_AUTO_TEST_SUITE_END()
