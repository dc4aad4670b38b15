// engine/format/manifest_codec: the MANIFEST of docs/format.md. Encoding gives the spec's
// example byte for byte and decodes back; then, as LevelDB's log_test does, the bytes are damaged
// in memory (a flip in every byte of every field region, a bad crc, a bad magic, a cut at every
// length, an unknown version, fields made invalid and resealed with fix_checksum) and each
// rejection must have the exact errc and the message the reader documents. Version 2 (with
// unindexed fields) round trips as the version 1 body followed by the list; without fields the
// bytes stay version 1; a bad list behind a good crc is corruption.
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
            expect_rejected(bytes, errc::unsupported_version, "; this build reads 1 to 3", label);
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
    for (std::uint32_t version : {0u, 4u, 0xFFFFFFFFu}) {
        std::string bytes = example_bytes;
        put32(bytes, 8, version);
        fix_checksum(bytes);
        expect_rejected(bytes, errc::unsupported_version,
                        path + ": offset 8: MANIFEST version " + std::to_string(version) +
                            "; this build reads 1 to 3",
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

// Version 2: the unindexed fields after the segments (a u32 count, then string32 paths).

namespace {

std::uint32_t version_of(const std::string& bytes)
{
    BOOST_TEST_REQUIRE(bytes.size() >= 12u);
    return get_fixed32_le(reinterpret_cast<const std::byte*>(bytes.data() + 8));
}

std::string u32_bytes(std::uint32_t v)
{
    std::string out(4, '\0');
    put32(out, 0, v);
    return out;
}

std::string string32_bytes(const std::string& s)
{
    return u32_bytes(static_cast<std::uint32_t>(s.size())) + s;
}

// The example's bytes as version 2 with `list` (the raw bytes after the segments) appended,
// resealed: the body check is what must judge them.
std::string example_v2_with(const std::string& list)
{
    std::string bytes = example_bytes.substr(0, 106) + list + example_bytes.substr(106);
    put32(bytes, 8, 2);
    fix_checksum(bytes);
    return bytes;
}

// The example as version 3 with these bytes after the version 1 body.
std::string example_v3_with(const std::string& tail)
{
    std::string bytes = example_bytes.substr(0, 106) + tail + example_bytes.substr(106);
    put32(bytes, 8, 3);
    fix_checksum(bytes);
    return bytes;
}

}  // namespace

BOOST_AUTO_TEST_CASE(quantization_round_trips_as_version_3)
{
    auto m = example();
    m.quantization = index::quantization::sq8;
    const std::string bytes = format::encode_manifest(m);
    BOOST_TEST(version_of(bytes) == 3u);
    // Version 3 always writes the field count (0 here), then the quantization byte.
    BOOST_TEST((bytes == example_v3_with(u32_bytes(0) + std::string(1, '\x01'))));
    auto back = format::decode_manifest(bytes, path);
    BOOST_TEST_REQUIRE(back.has_value(), back.error().message());
    BOOST_TEST((back->quantization == index::quantization::sq8));
    BOOST_TEST(back->unindexed_fields.empty());
    BOOST_TEST((format::encode_manifest(*back) == bytes));

    m.unindexed_fields = {"a"};
    const std::string with_fields = format::encode_manifest(m);
    BOOST_TEST((with_fields == example_v3_with(u32_bytes(1) + string32_bytes("a") + std::string(1, '\x01'))));
    back = format::decode_manifest(with_fields, path);
    BOOST_TEST_REQUIRE(back.has_value(), back.error().message());
    BOOST_TEST(back->unindexed_fields == m.unindexed_fields);
    BOOST_TEST((back->quantization == index::quantization::sq8));

    // Without quantization the lower versions are written, as before.
    m.quantization = index::quantization::none;
    BOOST_TEST(version_of(format::encode_manifest(m)) == 2u);

    expect_rejected(example_v3_with(u32_bytes(0)), errc::corruption, path + ": offset 110: quantization missing",
                    "no quantization byte");
    // rabitq is 2.
    m.unindexed_fields.clear();
    m.quantization = index::quantization::rabitq;
    BOOST_TEST((format::encode_manifest(m) == example_v3_with(u32_bytes(0) + std::string(1, '\x02'))));
    back = format::decode_manifest(format::encode_manifest(m), path);
    BOOST_TEST_REQUIRE(back.has_value(), back.error().message());
    BOOST_TEST((back->quantization == index::quantization::rabitq));
    expect_rejected(example_v3_with(u32_bytes(0) + std::string(1, '\x03')), errc::corruption,
                    "quantization missing, none (written as version 1 or 2) or unknown", "unknown quantization");
    // Version 3 with none is not what any build writes (it would be version 1): refused, so that
    // decoding and encoding again gives the same bytes.
    expect_rejected(example_v3_with(u32_bytes(0) + std::string(1, '\x00')), errc::corruption,
                    "quantization missing, none", "version 3 with none");
    expect_rejected(example_v3_with(u32_bytes(0) + std::string(2, '\x01')), errc::corruption, "trailing bytes",
                    "a byte too many");
}

BOOST_AUTO_TEST_CASE(unindexed_fields_round_trip_as_version_2)
{
    auto m = example();
    m.unindexed_fields = {"a", "meta.blob", std::string(256, 'z')};
    const std::string bytes = format::encode_manifest(m);
    BOOST_TEST(version_of(bytes) == 2u);
    // The version 1 body unchanged, then the list; the body size and crc cover it all.
    const std::string list = u32_bytes(3) + string32_bytes("a") + string32_bytes("meta.blob") +
                             string32_bytes(std::string(256, 'z'));
    BOOST_TEST_REQUIRE(bytes.size() == example_bytes.size() + list.size());
    BOOST_TEST((bytes.substr(0, 8) == example_bytes.substr(0, 8)));
    BOOST_TEST(get_fixed32_le(reinterpret_cast<const std::byte*>(bytes.data() + 12)) == 90u + list.size());
    BOOST_TEST((bytes.substr(16, 90) == example_bytes.substr(16, 90)));
    BOOST_TEST((bytes.substr(106, list.size()) == list));
    BOOST_TEST(get_fixed32_le(reinterpret_cast<const std::byte*>(bytes.data() + bytes.size() - 4)) ==
               crc32c::value(bytes.data(), bytes.size() - 4));
    BOOST_TEST((bytes == example_v2_with(list)));

    auto back = format::decode_manifest(bytes, path);
    BOOST_TEST_REQUIRE(back.has_value(), back.error().message());
    BOOST_TEST(back->unindexed_fields == m.unindexed_fields);
    BOOST_TEST(back->name == "m");
    BOOST_TEST(back->next_segment_id == 3u);
    BOOST_TEST(back->wal_start == 3u);
    BOOST_TEST_REQUIRE(back->segments.size() == 2u);
    BOOST_TEST(back->segments[0].tombstones == std::vector<std::uint32_t>{1});
    BOOST_TEST((format::encode_manifest(*back) == bytes));

    // The most the reader takes: 256 paths of 256 bytes, with no segment at all.
    format::manifest big;
    big.name = "big";
    big.dimension = 3;
    big.distance_metric = metric::cosine;
    for (int i = 0; i < 256; ++i) {
        std::string f = std::to_string(1000 + i) + ".";
        big.unindexed_fields.push_back(f + std::string(256 - f.size(), 'x'));
    }
    const std::string big_bytes = format::encode_manifest(big);
    BOOST_TEST(version_of(big_bytes) == 2u);
    auto big_back = format::decode_manifest(big_bytes, path);
    BOOST_TEST_REQUIRE(big_back.has_value(), big_back.error().message());
    BOOST_TEST(big_back->unindexed_fields == big.unindexed_fields);
    BOOST_TEST(big_back->segments.empty());
    BOOST_TEST((big_back->distance_metric == metric::cosine));
}

BOOST_AUTO_TEST_CASE(without_unindexed_fields_the_encoding_stays_version_1)
{
    // The spec example is byte for byte what it was, version 1 at bytes 8..11.
    const std::string bytes = format::encode_manifest(example());
    BOOST_TEST(version_of(bytes) == 1u);
    BOOST_TEST((bytes == example_bytes));
    // A version 1 file decodes with no unindexed fields.
    auto back = format::decode_manifest(example_bytes, path);
    BOOST_TEST_REQUIRE(back.has_value(), back.error().message());
    BOOST_TEST(back->unindexed_fields.empty());
    // A version 2 manifest whose fields are taken away encodes as version 1 again.
    auto m = example();
    m.unindexed_fields = {"x"};
    auto v2 = format::decode_manifest(format::encode_manifest(m), path);
    BOOST_TEST_REQUIRE(v2.has_value(), v2.error().message());
    v2->unindexed_fields.clear();
    BOOST_TEST((format::encode_manifest(*v2) == example_bytes));
    // Version 1 bytes followed by a list are not read as one: the list is trailing bytes.
    std::string v1_with_list = example_bytes.substr(0, 106) + u32_bytes(1) + string32_bytes("x") + example_bytes.substr(106);
    fix_checksum(v1_with_list);
    BOOST_TEST(version_of(v1_with_list) == 1u);
    expect_rejected(v1_with_list, errc::corruption, path + ": offset 106: trailing bytes", "version 1 with a list");
}

// Each invalid list, resealed so that its crc is good: corruption from the body check, at the
// offset where decoding stopped (the list starts at offset 106).
BOOST_AUTO_TEST_CASE(rejects_each_invalid_unindexed_field_list_behind_a_valid_crc)
{
    const std::string count_bad = "unindexed field count missing or not 1 to 256";
    // No list at all: version 2 without its count.
    expect_rejected(example_v2_with(""), errc::corruption, path + ": offset 106: " + count_bad, "no count");
    expect_rejected(example_v2_with(std::string(3, '\0')), errc::corruption, path + ": offset 106: " + count_bad,
                    "a count cut short");
    // A count of 0 (a collection without fields is written as version 1) and one above 256.
    expect_rejected(example_v2_with(u32_bytes(0)), errc::corruption, path + ": offset 110: " + count_bad, "count 0");
    std::string many = u32_bytes(257);
    for (int i = 0; i < 257; ++i) {
        many += string32_bytes("f" + std::to_string(i));
    }
    expect_rejected(example_v2_with(many), errc::corruption, path + ": offset 110: " + count_bad, "count 257");
    expect_rejected(example_v2_with(u32_bytes(0xFFFFFFFFu)), errc::corruption, path + ": offset 110: " + count_bad,
                    "count 2^32 - 1");
    // An empty path, first and after a good one.
    const std::string field_bad = " truncated, empty or over 256 bytes";
    expect_rejected(example_v2_with(u32_bytes(1) + string32_bytes("")), errc::corruption,
                    path + ": offset 114: unindexed field 0" + field_bad, "empty path");
    expect_rejected(example_v2_with(u32_bytes(2) + string32_bytes("ab") + string32_bytes("")), errc::corruption,
                    path + ": offset 120: unindexed field 1" + field_bad, "empty second path");
    // A path of 257 bytes (256 is the most).
    expect_rejected(example_v2_with(u32_bytes(1) + string32_bytes(std::string(257, 'p'))), errc::corruption,
                    "unindexed field 0" + field_bad, "path of 257 bytes");
    auto at_most = format::decode_manifest(example_v2_with(u32_bytes(1) + string32_bytes(std::string(256, 'p'))), path);
    BOOST_TEST_REQUIRE(at_most.has_value(), at_most.error().message());
    BOOST_TEST(at_most->unindexed_fields == std::vector<std::string>{std::string(256, 'p')});
    // Truncated: fewer paths than the count, a path shorter than its length, a length cut short.
    expect_rejected(example_v2_with(u32_bytes(2) + string32_bytes("ab")), errc::corruption,
                    "unindexed field 1" + field_bad, "one path of two");
    expect_rejected(example_v2_with(u32_bytes(1) + u32_bytes(5) + "abc"), errc::corruption,
                    "unindexed field 0" + field_bad, "a path cut short");
    expect_rejected(example_v2_with(u32_bytes(1) + std::string(2, '\x01')), errc::corruption,
                    "unindexed field 0" + field_bad, "a length cut short");
    // A byte after the list.
    expect_rejected(example_v2_with(u32_bytes(1) + string32_bytes("ab") + std::string(1, '\0')), errc::corruption,
                    path + ": offset 116: trailing bytes", "trailing byte");
    // Every one of those reads back fine when its list is right.
    auto good = format::decode_manifest(example_v2_with(u32_bytes(2) + string32_bytes("ab") + string32_bytes("c.d")), path);
    BOOST_TEST_REQUIRE(good.has_value(), good.error().message());
    BOOST_TEST((good->unindexed_fields == std::vector<std::string>{"ab", "c.d"}));
}

BOOST_AUTO_TEST_CASE(version_2_bytes_damaged_or_cut_are_rejected)
{
    auto m = example();
    m.unindexed_fields = {"body", "meta.raw"};
    const std::string bytes = format::encode_manifest(m);
    for (std::size_t at = 0; at < bytes.size(); ++at) {
        std::string flipped = bytes;
        flip_byte(flipped, at);
        auto r = format::decode_manifest(flipped, path);
        BOOST_TEST_REQUIRE(!r.has_value(), "flip at " << at << ": decoded");
        BOOST_TEST((is(r.error(), errc::corruption) || (at >= 8 && at < 12)), "flip at " << at);
    }
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        auto r = format::decode_manifest(bytes.substr(0, n), path);
        BOOST_TEST_REQUIRE(!r.has_value(), "cut at " << n << ": decoded");
        BOOST_TEST(is(r.error(), errc::corruption), "cut at " << n);
    }
}

BOOST_AUTO_TEST_SUITE_END()

