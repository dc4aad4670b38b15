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

    // Header: magic, version 1, dimension 2, metric 0 (l2), 3 vectors, 2 clusters, then the
    // section offsets 64, 4096, 4120, 4136, 4172.
    BOOST_TEST(hex(bytes, 0, 64) ==
               "50525345473100"    // "PRSEG1\0"
               "01000000"          // version
               "02000000"          // dimension
               "00"                // metric
               "03000000"          // num_vectors
               "02000000"          // num_clusters
               "4000000000000000"  // cluster metadata
               "0010000000000000"  // vectors
               "1810000000000000"  // id table
               "2810000000000000"  // payload offset table
               "4c10000000000000"  // payload blob
    );
    // Cluster metadata: centroid (1,2) start 0 length 1; centroid (4,5) start 1 length 2.
    BOOST_TEST(hex(bytes, 64, 32) ==
               "0000803f00000040" "00000000" "01000000"
               "000080400000a040" "01000000" "02000000");
    BOOST_TEST(hex(bytes, 96, 4000) == std::string(8000, '0'));  // zero padding
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
               "4290fa99"          // header crc 0x99fa9042
               "511a008b"          // cluster metadata crc 0x8b001a51
               "b9045180"          // vector section crc 0x805104b9
               "f535e771"          // id table crc 0x71e735f5
               "caeada2f"          // payload offset table crc 0x2fdaeaca
               "84d0a3bd"          // payload blob crc 0xbda3d084
               "f88d24f6"          // checksum tables crc 0xf6248df8
               "36fecb57"          // trailer crc 0x57cbfe36
    );
    BOOST_TEST(hex(bytes, 4179, footer - 4179) ==
               std::string(2 * (footer - 4179), '0'));  // padding
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
