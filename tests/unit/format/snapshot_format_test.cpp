// engine/format/snapshot_format: the pieces of a snapshot archive (docs/format.md, "Snapshots").
// A ustar header is checked field by field against the bytes POSIX defines (with the checksum
// worked out by hand), sizes of 8 GiB and more go in base-256 and decode back, and every damaged
// header is rejected with a message that names its offset. The descriptor and the checksum list
// encode to the documented text, decode back, and reject every malformed line with the line's
// number, every path that could leave the snapshot's directory, and every cut.
#include "engine/format/snapshot_format.hpp"

#include <boost/test/unit_test.hpp>

#include <cstring>
#include <string>

using namespace puffer;

namespace {

std::string field(const std::array<std::byte, format::tar_block_bytes>& b, std::size_t at, std::size_t width)
{
    return std::string(reinterpret_cast<const char*>(b.data()) + at, width);
}

format::snapshot_descriptor example()
{
    format::snapshot_descriptor d;
    d.collection = "docs";
    d.id = "20261202-221437-425";
    d.created_unix_ms = 1796249677425;
    d.dimension = 4;
    d.distance_metric = metric::cosine;
    d.points = 3000;
    d.files = {{"MANIFEST", 78}, {"segments/000001.seg", 196608}, {"wal/000002.log", 16}};
    return d;
}

const std::string example_text =
    "openpuffer snapshot 1\n"
    "collection docs\n"
    "id 20261202-221437-425\n"
    "created_unix_ms 1796249677425\n"
    "dimension 4\n"
    "metric cosine\n"
    "points 3000\n"
    "file MANIFEST 78\n"
    "file segments/000001.seg 196608\n"
    "file wal/000002.log 16\n"
    "end\n";

std::string decode_error(const std::string& text)
{
    auto d = format::decode_snapshot_descriptor(text, "SNAPSHOT");
    BOOST_TEST_REQUIRE(!d.has_value(), "accepted: " << text);
    BOOST_TEST(is(d.error(), errc::corruption));
    return d.error().message();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(snapshot_format)

BOOST_AUTO_TEST_CASE(tar_header_has_the_ustar_fields)
{
    auto b = format::encode_tar_header("MANIFEST", 50, 1796249677);
    BOOST_TEST((field(b, 0, 100) == std::string("MANIFEST") + std::string(92, '\0')));
    BOOST_TEST((field(b, 100, 8) == std::string("0000644\0", 8)));
    BOOST_TEST((field(b, 108, 8) == std::string("0000000\0", 8)));
    BOOST_TEST((field(b, 116, 8) == std::string("0000000\0", 8)));
    BOOST_TEST((field(b, 124, 12) == std::string("00000000062\0", 12)));  // 50 in octal
    BOOST_TEST((field(b, 136, 12) == std::string("15304114115\0", 12)));
    // The sum of every byte with the checksum field read as eight blanks, 07126 here.
    BOOST_TEST((field(b, 148, 8) == std::string("007126\0 ", 8)));
    BOOST_TEST(static_cast<char>(b[156]) == '0');
    BOOST_TEST((field(b, 257, 8) == std::string("ustar\0" "00", 8)));
    for (std::size_t i : {157u, 200u, 256u, 265u, 300u, 345u, 511u}) {
        BOOST_TEST(static_cast<int>(b[i]) == 0, "byte " << i);
    }

    auto m = format::decode_tar_header(b, 0);
    BOOST_TEST_REQUIRE(m.has_value());
    BOOST_TEST_REQUIRE(m->has_value());
    BOOST_TEST((**m).name == "MANIFEST");
    BOOST_TEST((**m).size == 50u);
}

BOOST_AUTO_TEST_CASE(sizes_from_8_gib_are_base_256)
{
    for (std::uint64_t size : {(std::uint64_t{1} << 33) - 1, std::uint64_t{1} << 33, std::uint64_t{3} << 40,
                               (std::uint64_t{1} << 62) + 12345}) {
        auto b = format::encode_tar_header("segments/000001.seg", size, 0);
        bool binary = size >= (std::uint64_t{1} << 33);
        BOOST_TEST((static_cast<unsigned>(b[124]) == (binary ? 0x80u : static_cast<unsigned>('7'))), size);
        auto m = format::decode_tar_header(b, 512);
        BOOST_TEST_REQUIRE(m.has_value(), size);
        BOOST_TEST((**m).size == size);
    }
}

BOOST_AUTO_TEST_CASE(padding_fills_to_the_next_block)
{
    BOOST_TEST(format::tar_padding(0) == 0u);
    BOOST_TEST(format::tar_padding(1) == 511u);
    BOOST_TEST(format::tar_padding(512) == 0u);
    BOOST_TEST(format::tar_padding(513) == 511u);
    BOOST_TEST(format::tar_padding(196608) == 0u);
}

BOOST_AUTO_TEST_CASE(zero_block_ends_the_archive)
{
    std::array<std::byte, format::tar_block_bytes> zero{};
    auto m = format::decode_tar_header(zero, 1024);
    BOOST_TEST_REQUIRE(m.has_value());
    BOOST_TEST(!m->has_value());
}

BOOST_AUTO_TEST_CASE(damaged_headers_are_rejected_with_their_offset)
{
    const auto good = format::encode_tar_header("wal/000001.log", 103923, 1796249677);
    // Any single flipped bit fails the checksum (or, in the checksum field, its match).
    for (std::size_t i = 0; i < format::tar_block_bytes; i += 7) {
        auto b = good;
        b[i] ^= std::byte{0x10};
        auto m = format::decode_tar_header(b, 1536);
        BOOST_TEST_REQUIRE(!m.has_value(), "flip at byte " << i);
        BOOST_TEST(is(m.error(), errc::corruption));
        BOOST_TEST(m.error().message().find("at byte 1536") != std::string::npos, m.error().message());
    }

    // Well-formed checksums around wrong contents: a re-sealed header with one field changed.
    auto reseal = [](std::array<std::byte, format::tar_block_bytes> b) {
        std::memset(b.data() + 148, ' ', 8);
        std::uint32_t sum = 0;
        for (auto c : b) {
            sum += static_cast<std::uint32_t>(c);
        }
        char digits[8];
        std::snprintf(digits, sizeof digits, "%06o", sum);
        std::memcpy(b.data() + 148, digits, 7);
        return b;
    };
    auto expect = [](const std::array<std::byte, format::tar_block_bytes>& b, const std::string& words) {
        auto m = format::decode_tar_header(b, 0);
        BOOST_TEST_REQUIRE(!m.has_value(), words);
        BOOST_TEST(m.error().message().find(words) != std::string::npos, m.error().message());
    };
    auto b = good;
    b[156] = std::byte{'5'};  // a directory
    expect(reseal(b), "regular files only");
    b = good;
    b[156] = std::byte{'2'};  // a symbolic link
    expect(reseal(b), "regular files only");
    b = good;
    std::memcpy(b.data() + 257, "xxxxx", 5);
    expect(reseal(b), "no ustar magic");
    b = good;
    b[130] = std::byte{'9'};
    expect(reseal(b), "malformed size");
    b = good;
    b[124] = std::byte{0xff};  // base-256 negative
    expect(reseal(b), "base-256");
    b = good;
    b[124] = std::byte{0x80};
    b[125] = std::byte{0x01};  // more than 64 bits
    expect(reseal(b), "oversized base-256");
}

BOOST_AUTO_TEST_CASE(descriptor_encodes_to_the_documented_text)
{
    BOOST_TEST((format::encode_snapshot_descriptor(example()) == example_text));
    auto d = format::decode_snapshot_descriptor(example_text, "SNAPSHOT");
    BOOST_TEST_REQUIRE(d.has_value(), d.error().message());
    BOOST_TEST(d->collection == "docs");
    BOOST_TEST(d->id == "20261202-221437-425");
    BOOST_TEST(d->created_unix_ms == 1796249677425u);
    BOOST_TEST(d->dimension == 4u);
    BOOST_TEST((d->distance_metric == metric::cosine));
    BOOST_TEST(d->points == 3000u);
    BOOST_TEST_REQUIRE(d->files.size() == 3u);
    BOOST_TEST(d->files[1].path == "segments/000001.seg");
    BOOST_TEST(d->files[1].size == 196608u);
    BOOST_TEST((format::encode_snapshot_descriptor(*d) == example_text));
}

BOOST_AUTO_TEST_CASE(descriptor_cut_anywhere_is_rejected)
{
    for (std::size_t n = 0; n < example_text.size(); ++n) {
        auto d = format::decode_snapshot_descriptor(example_text.substr(0, n), "SNAPSHOT");
        BOOST_TEST(!d.has_value(), "cut at " << n);
    }
}

BOOST_AUTO_TEST_CASE(descriptor_errors_name_the_line)
{
    auto replace = [](std::string from, std::string to) {
        std::string t = example_text;
        auto at = t.find(from);
        BOOST_TEST_REQUIRE(at != std::string::npos);
        return t.replace(at, from.size(), to);
    };
    BOOST_TEST(decode_error(replace("openpuffer snapshot 1", "openpuffer snapshot 2")).find("version 2") !=
               std::string::npos);
    BOOST_TEST(decode_error(replace("openpuffer snapshot 1", "tar snapshot 1")).find("not a snapshot") !=
               std::string::npos);
    BOOST_TEST(decode_error(replace("collection docs", "collection  docs")).find("line 2") != std::string::npos);
    BOOST_TEST(decode_error(replace("id 2026", "idx 2026")).find("line 3") != std::string::npos);
    BOOST_TEST(decode_error(replace("created_unix_ms 1", "created_unix_ms -1")).find("line 4") !=
               std::string::npos);
    BOOST_TEST(decode_error(replace("dimension 4", "dimension 0")).find("line 5") != std::string::npos);
    BOOST_TEST(decode_error(replace("dimension 4", "dimension 04")).find("line 5") != std::string::npos);
    BOOST_TEST(decode_error(replace("metric cosine", "metric hamming")).find("line 6") != std::string::npos);
    BOOST_TEST(decode_error(replace("points 3000", "points 3e3")).find("line 7") != std::string::npos);
    BOOST_TEST(decode_error(replace("file MANIFEST 78", "file MANIFEST")).find("line 8") != std::string::npos);
    BOOST_TEST(decode_error(replace("file MANIFEST 78", "fil MANIFEST 78")).find("line 8") != std::string::npos);
    BOOST_TEST(decode_error(replace("end\n", "")).find("end") != std::string::npos);
    BOOST_TEST(decode_error(replace("wal/000002.log", "MANIFEST")).find("twice") != std::string::npos);
    // Paths that would leave the directory, or collide with the archive's own members.
    for (std::string p : std::vector<std::string>{"/etc/passwd", "../x", "segments/../../x", "segments/./x", "segments//x", "segments/",
                          "a b", "SNAPSHOT", "CHECKSUMS", std::string(101, 'a'), "wal/\x01"}) {
        auto message = decode_error(replace("wal/000002.log", p));
        BOOST_TEST(message.find("line 10") != std::string::npos, p << ": " << message);
    }
    BOOST_TEST(decode_error(std::string(format::snapshot_text_bytes_max + 1, '\n')).find("not a whole") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(checksums_round_trip_and_their_size_is_known)
{
    std::vector<format::member_checksum> sums = {
        {"SNAPSHOT", 0x3d3f8c14}, {"MANIFEST", 0x00000007}, {"wal/000001.log", 0xf417f729}};
    const std::string text = "openpuffer checksums 1\nSNAPSHOT 3d3f8c14\nMANIFEST 00000007\nwal/000001.log f417f729\nend\n";
    BOOST_TEST((format::encode_snapshot_checksums(sums) == text));
    BOOST_TEST(format::snapshot_checksums_size({"SNAPSHOT", "MANIFEST", "wal/000001.log"}) == text.size());
    BOOST_TEST(format::snapshot_checksums_size({}) == format::encode_snapshot_checksums({}).size());
    auto back = format::decode_snapshot_checksums(text, "CHECKSUMS");
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST_REQUIRE(back->size() == 3u);
    BOOST_TEST((*back)[2].path == "wal/000001.log");
    BOOST_TEST((*back)[2].crc32c == 0xf417f729u);
    BOOST_TEST((*back)[1].crc32c == 7u);

    for (std::size_t n = 0; n < text.size(); ++n) {
        BOOST_TEST(!format::decode_snapshot_checksums(text.substr(0, n), "CHECKSUMS").has_value(), "cut at " << n);
    }
    for (std::string bad : {"openpuffer checksums 2\nend\n", "openpuffer checksums 1\nMANIFEST 7\nend\n",
                            "openpuffer checksums 1\nMANIFEST 0000000g\nend\n",
                            "openpuffer checksums 1\nMANIFEST0000000a\nend\n"}) {
        auto r = format::decode_snapshot_checksums(bad, "CHECKSUMS");
        BOOST_TEST_REQUIRE(!r.has_value(), bad);
        BOOST_TEST(is(r.error(), errc::corruption));
        BOOST_TEST(r.error().message().find("CHECKSUMS") == 0u, r.error().message());
    }
}

BOOST_AUTO_TEST_SUITE_END()
