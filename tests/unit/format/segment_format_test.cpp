// Pins the PRSEG1 layout of docs/format.md byte for byte: the header of a tiny segment as a
// golden hex dump, the section offsets, the trailer fields and the file size.
#include "engine/core/coding.hpp"
#include "engine/core/crc32c.hpp"
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

    // Footer: 2 cluster crcs + 3 payload crcs, then the 64-byte trailer.
    const std::size_t footer = 8192 - 64 - 20;
    const auto* b = reinterpret_cast<const std::byte*>(bytes.data());
    BOOST_TEST(get_fixed32_le(b + footer) ==
               crc32c::extend(format::cluster_crc_seed(7, 0), bytes.data() + 4096, 8));
    BOOST_TEST(get_fixed32_le(b + footer + 4) ==
               crc32c::extend(format::cluster_crc_seed(7, 1), bytes.data() + 4104, 16));
    BOOST_TEST(get_fixed32_le(b + footer + 12) ==
               crc32c::extend(format::payload_crc_seed(7, 1), bytes.data() + 4172, 7));
    const std::size_t trailer = 8192 - 64;
    BOOST_TEST(bytes.substr(trailer, 8) == "PRSEGEND");
    BOOST_TEST(get_fixed64_le(b + trailer + 8) == 7u);           // segment id
    BOOST_TEST(get_fixed64_le(b + trailer + 16) == 7u);          // payload blob size
    BOOST_TEST(get_fixed64_le(b + trailer + 24) == footer);      // footer offset
    BOOST_TEST(get_fixed32_le(b + trailer + 32) == crc32c::value(bytes.data(), 64));
    BOOST_TEST(get_fixed32_le(b + trailer + 36) == crc32c::value(bytes.data() + 64, 32));
    BOOST_TEST(get_fixed32_le(b + trailer + 40) == crc32c::value(bytes.data() + 4096, 24));
    BOOST_TEST(get_fixed32_le(b + trailer + 44) == crc32c::value(bytes.data() + 4120, 16));
    BOOST_TEST(get_fixed32_le(b + trailer + 48) == crc32c::value(bytes.data() + 4136, 36));
    BOOST_TEST(get_fixed32_le(b + trailer + 52) == crc32c::value(bytes.data() + 4172, 7));
    BOOST_TEST(get_fixed32_le(b + trailer + 56) == crc32c::value(bytes.data() + footer, 20));
    BOOST_TEST(get_fixed32_le(b + trailer + 60) == crc32c::value(bytes.data() + trailer, 60));
}

BOOST_AUTO_TEST_SUITE_END()
