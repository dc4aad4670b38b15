// Pins the PRSEG1 layout of docs/format.md byte for byte: the worked example's tiny segment as a
// golden hex dump, every section, checksum and trailer field compared with the literal bytes
// of the spec's listing (never with checksums the code under test computes).
#include "engine/format/segment_format.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/format/segment_test_util.hpp"

#include <boost/test/unit_test.hpp>

using namespace puffer;

namespace {
std::string hex(const std::string& bytes, std::size_t offset, std::size_t size)
{
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = offset; i < offset + size; ++i) {
        auto b = static_cast<unsigned char>(bytes[i]);
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(segment_format_suite)

BOOST_AUTO_TEST_CASE(header_is_64_bytes)
{
    static_assert(format::segment_header_size_bytes == 64);
    static_assert(format::segment_trailer_size_bytes == 64);
    BOOST_TEST(format::segment_file_name(12) == "000012.seg");
}

BOOST_AUTO_TEST_CASE(golden_tiny_segment)
{
    test::temp_dir dir;
    auto info = test::write_tiny_segment(dir.file("000007.seg"));
    std::string bytes = test::slurp(dir.file("000007.seg"));
    BOOST_TEST(info.file_size_bytes == 8192u);
    BOOST_TEST_REQUIRE(bytes.size() == 8192u);

    // Header: magic, version 2, dimension 2, metric 0 (l2), 3 vectors, 2 clusters, then the
    // section offsets 72, 4096, 4120, 4136, 4172.
    BOOST_TEST(hex(bytes, 0, 64) ==
               "50525345473100"    // "PRSEG1\0"
               "02000000"          // version
               "02000000"          // dimension
               "00"                // metric
               "03000000"          // num_vectors
               "02000000"          // num_clusters
               "4800000000000000"  // cluster metadata
               "0010000000000000"  // vectors
               "1810000000000000"  // id table
               "2810000000000000"  // payload offset table
               "4c10000000000000"  // payload blob
    );
    // Section directory: its crc (of the count and entries), then no entries.
    BOOST_TEST(hex(bytes, 64, 8) == "c74b6748" "00000000");  // crc 0x48674bc7
    // Cluster metadata: centroid (1,2) start 0 length 1; centroid (4,5) start 1 length 2.
    BOOST_TEST(hex(bytes, 72, 32) ==
               "0000803f00000040" "00000000" "01000000"
               "000080400000a040" "01000000" "02000000");
    BOOST_TEST(hex(bytes, 104, 3992) == std::string(7984, '0'));  // zero padding
    // Vectors in cluster order: (1,2) (3,4) (5,6).
    BOOST_TEST(hex(bytes, 4096, 24) ==
               "0000803f00000040" "0000404000008040" "0000a0400000c040");
    // Ids: length-prefixed "a", "bb", "c".
    BOOST_TEST(hex(bytes, 4120, 16) == "0100000061" "020000006262" "0100000063");
    // Payload offsets: (0,0), (0,7), (0,0).
    BOOST_TEST(hex(bytes, 4136, 36) ==
               "000000000000000000000000"
               "000000000000000007000000"
               "000000000000000000000000");
    BOOST_TEST(bytes.substr(4172, 7) == "{\"x\":1}");

    // Footer and trailer as the hex listing of docs/format.md's worked example spells them: the
    // checksums are literals from the spec, not values the code under test computes.
    const std::size_t footer = 8192 - 64 - 20;
    BOOST_TEST(hex(bytes, footer, 20) ==
               "fdbbccb5"  // cluster 0 crc 0xb5ccbbfd
               "fd182828"  // cluster 1 crc 0x282818fd
               "3be14525"  // payload 0 crc 0x2545e13b
               "8e73759b"  // payload 1 crc 0x9b75738e
               "bac2229a"  // payload 2 crc 0x9a22c2ba
    );
    const std::size_t trailer = 8192 - 64;
    BOOST_TEST(hex(bytes, trailer, 64) ==
               "5052534547454e44"  // "PRSEGEND"
               "0700000000000000"  // segment id 7
               "0700000000000000"  // payload blob size 7
               "ac1f000000000000"  // footer offset 8108
               "9588e8e0"          // header crc 0xe0e88895
               "511a008b"          // cluster metadata crc 0x8b001a51
               "b9045180"          // vector section crc 0x805104b9
               "f535e771"          // id table crc 0x71e735f5
               "caeada2f"          // payload offset table crc 0x2fdaeaca
               "84d0a3bd"          // payload blob crc 0xbda3d084
               "f88d24f6"          // checksum tables crc 0xf6248df8
               "582a5a41"          // trailer crc 0x415a2a58
    );
    BOOST_TEST(hex(bytes, 4179, footer - 4179) ==
               std::string(2 * (footer - 4179), '0'));  // padding
}

// The same segment with one extra section, a recall curve: the directory lists it at the next
// 4096-byte boundary after the blob, the cluster metadata moves past the directory, and the footer
// past the section. Literals from the second listing of docs/format.md.
BOOST_AUTO_TEST_CASE(golden_tiny_segment_with_a_section)
{
    test::temp_dir dir;
    auto info = test::write_tiny_segment(dir.file("000007.seg"), true);
    std::string bytes = test::slurp(dir.file("000007.seg"));
    BOOST_TEST(info.file_size_bytes == 12288u);
    BOOST_TEST_REQUIRE(bytes.size() == 12288u);
    BOOST_TEST(hex(bytes, 24, 8) == "6800000000000000");  // cluster metadata at 104
    BOOST_TEST(hex(bytes, 64, 40) ==
               "d80800e8"          // directory crc 0xe80008d8
               "01000000"          // one entry
               "01000000"          // kind 1: recall curve
               "00000000"          // flags: optional
               "0020000000000000"  // offset 8192
               "2000000000000000"  // length 32
               "110ede30"          // crc 0x30de0e11
               "00000000");        // reserved
    BOOST_TEST(hex(bytes, 104, 32) ==
               "0000803f00000040" "00000000" "01000000"
               "000080400000a040" "01000000" "02000000");
    BOOST_TEST(hex(bytes, 4179, 8192 - 4179) == std::string(2 * (8192 - 4179), '0'));
    BOOST_TEST(hex(bytes, 8192, 32) ==
               "01000000" "03000000" "02000000" "00000000"  // top_k 1, 3 queries, 2 points
               "01000000" "0000003f"                        // 1 probe: 0.5
               "02000000" "0000803f");                      // 2 probes: 1.0
    BOOST_TEST(hex(bytes, 8224, 12204 - 8224) == std::string(2 * (12204 - 8224), '0'));
    BOOST_TEST(hex(bytes, 12204, 20) == "fdbbccb5" "fd182828" "3be14525" "8e73759b" "bac2229a");
    BOOST_TEST(hex(bytes, 12224, 64) ==
               "5052534547454e44" "0700000000000000" "0700000000000000"
               "ac2f000000000000"  // footer offset 12204
               "7e6e7a27"          // header crc 0x277a6e7e
               "511a008b" "b9045180" "f535e771" "caeada2f" "84d0a3bd" "f88d24f6"
               "5da698f4");        // trailer crc 0xf498a65d
}

// The seeds of the seeded checksums, from the table under the worked example.
BOOST_AUTO_TEST_CASE(crc_seeds_match_the_spec)
{
    BOOST_TEST(format::cluster_crc_seed(7, 0) == 0x7724b4d7u);
    BOOST_TEST(format::cluster_crc_seed(7, 1) == 0xaa611e6fu);
    BOOST_TEST(format::payload_crc_seed(7, 0) == 0x2545e13bu);
    BOOST_TEST(format::payload_crc_seed(7, 1) == 0xf8004b83u);
    BOOST_TEST(format::payload_crc_seed(7, 2) == 0x9a22c2bau);
}

BOOST_AUTO_TEST_SUITE_END()
