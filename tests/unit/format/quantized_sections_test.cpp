// The sections of a quantized segment: sq8 parameters (kind 3), sq8 codes (kind 4), row
// checksums (kind 5), rabitq parameters (kind 6) and rabitq codes (kind 7). A written segment reads back with the same parameters, every cluster's
// code block and every row checksum verifies, and each kind of damage is refused naming the
// file and the offset: a flipped byte in any of the three sections, parameters of the wrong
// size, dimension or flags, a codes section without its parameters or of the wrong size.
#include "engine/core/aligned_buffer.hpp"
#include "engine/core/coding.hpp"
#include "engine/format/segment_reader.hpp"
#include "engine/format/segment_writer.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/format/segment_test_util.hpp"

#include <boost/test/unit_test.hpp>

#include <cstring>
#include <limits>
#include <random>

using namespace puffer;
using format::segment_reader;

namespace {

constexpr std::uint64_t segment_id = 11;

struct quantized_segment {
    test::temp_dir dir;
    std::string path = dir.file("000011.seg");
    std::size_t d = 6;
    std::vector<float> vectors;
    std::vector<std::string> id_text;
    std::vector<std::string_view> ids;
    index::ivf_layout layout;
    index::quantization codec;
    index::sq8_params params;
    index::rabitq_params rotation;
    format::code_sections codes;
    std::string row_crcs;
    std::string bytes;

    // sections: which of params, codes and row checksums to write.
    explicit quantized_segment(bool with_params = true, bool with_codes = true, bool with_rows = true,
                               index::quantization q = index::quantization::sq8)
        : codec(q)
    {
        const std::size_t n = 23;
        std::mt19937_64 rng(3);
        std::uniform_real_distribution<float> value(-2.0f, 2.0f);
        vectors.resize(n * d);
        for (auto& v : vectors) {
            v = value(rng);
        }
        for (std::size_t i = 0; i < n; ++i) {
            id_text.push_back("p" + std::to_string(i));
        }
        for (const auto& s : id_text) {
            ids.push_back(s);
        }
        layout.dimension = d;
        layout.cluster_count = 3;
        layout.centroids.assign(3 * d, 0.0f);
        for (std::size_t j = 0; j < d; ++j) {
            layout.centroids[d + j] = 1.0f;
            layout.centroids[2 * d + j] = -1.0f;
        }
        layout.cluster_offsets = {0, 10, 10, 23};  // an empty cluster in the middle
        for (std::size_t i = 0; i < n; ++i) {
            layout.order.push_back(static_cast<std::uint32_t>(n - 1 - i));
        }
        if (q == index::quantization::sq8) {
            params = index::train_sq8(vectors.data(), layout, true);
            codes = format::encode_sq8_sections(segment_id, params, vectors.data(), layout);
        } else {
            rotation = index::rabitq_rotation(d);
            codes = format::encode_rabitq_sections(segment_id, rotation, vectors.data(), layout);
        }
        row_crcs = format::encode_row_checksums(segment_id, vectors.data(), layout);
        format::segment_input in = input();
        if (with_rows) {
            in.sections.push_back({format::section_kind::row_checksums, 0, row_crcs});
        }
        if (with_params) {
            in.sections.push_back({params_kind(), 0, codes.params});
        }
        if (with_codes) {
            in.sections.push_back({codes_kind(), 0, codes.codes});
        }
        auto info = format::write_segment(io::posix_env(), path, in);
        BOOST_TEST_REQUIRE(info.has_value(), info.error().message());
        bytes = test::slurp(path);
    }

    // The segment's rows, ids and layout, without sections.
    format::segment_input input() const
    {
        format::segment_input in;
        in.segment_id = segment_id;
        in.dimension = d;
        in.vectors = vectors.data();
        in.ids = ids;
        in.layout = &layout;
        return in;
    }

    format::section_kind params_kind() const
    {
        return codec == index::quantization::sq8 ? format::section_kind::sq8_params : format::section_kind::rabitq_params;
    }
    format::section_kind codes_kind() const
    {
        return codec == index::quantization::sq8 ? format::section_kind::sq8_codes : format::section_kind::rabitq_codes;
    }

    result<segment_reader> reopen(const std::string& b)
    {
        test::spit(path, b);
        return segment_reader::open(io::posix_env(), path, segment_id);
    }

    // The directory entry of a section kind.
    format::section_entry entry(format::section_kind kind) const
    {
        auto r = segment_reader::open(io::posix_env(), path, segment_id);
        BOOST_TEST_REQUIRE(r.has_value());
        for (const auto& e : r->sections()) {
            if (e.kind == static_cast<std::uint32_t>(kind)) {
                return e;
            }
        }
        BOOST_FAIL("no such section");
        return {};
    }
};

void expect_error(const result<segment_reader>& r, const std::string& needle)
{
    BOOST_TEST_REQUIRE(!r.has_value(), "expected an error containing '" << needle << "'");
    BOOST_TEST(is(r.error(), errc::corruption), r.error().message());
    BOOST_TEST(r.error().message().find(needle) != std::string::npos, r.error().message());
    BOOST_TEST(r.error().message().find("000011.seg") != std::string::npos, r.error().message());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(quantized_sections_suite)

BOOST_AUTO_TEST_CASE(a_quantized_segment_reads_back_and_every_block_and_row_verifies)
{
    quantized_segment s;
    auto r = segment_reader::open(io::posix_env(), s.path, segment_id);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST_REQUIRE(r->sq8() != nullptr);
    BOOST_TEST((*r->sq8() == s.params));
    BOOST_TEST(r->has_row_checksums());
    BOOST_TEST(r->verify_all(io::posix_env()).has_value());
    auto f = io::posix_env().open(s.path, io::open_mode::read);
    BOOST_TEST_REQUIRE(f.has_value());
    // Blocks lie back to back on 64-byte boundaries of the section, and hold what was encoded.
    const format::section_entry codes = s.entry(format::section_kind::sq8_codes);
    BOOST_TEST(codes.offset_bytes % 4096 == 0u);
    std::uint64_t expected_offset = codes.offset_bytes;
    for (std::size_t c = 0; c < 3; ++c) {
        auto range = r->code_range(c);
        BOOST_TEST(range.offset_bytes == expected_offset);
        BOOST_TEST(range.size_bytes == index::sq8_block_bytes(r->cluster_length(c), s.d));
        std::string block(range.size_bytes, '\0');
        BOOST_TEST_REQUIRE((*f)->read_at(range.offset_bytes, std::as_writable_bytes(std::span(block))).has_value());
        BOOST_TEST((block == s.codes.codes.substr(range.offset_bytes - codes.offset_bytes, range.size_bytes)));
        BOOST_TEST(r->verify_codes(c, block.data()).has_value());
        if (!block.empty()) {
            block[0] = static_cast<char>(block[0] ^ 1);
            auto bad = r->verify_codes(c, block.data());
            BOOST_TEST_REQUIRE(!bad.has_value());
            BOOST_TEST(bad.error().message().find("sq8 codes of cluster " + std::to_string(c)) != std::string::npos,
                       bad.error().message());
        }
        expected_offset = align_up(range.offset_bytes + range.size_bytes - codes.offset_bytes, 64) + codes.offset_bytes;
    }
    for (std::size_t p = 0; p < 23; ++p) {
        BOOST_TEST(r->cluster_of(p) == (p < 10 ? 0u : 2u));
        auto range = r->row_range(p);
        std::vector<float> row(s.d);
        BOOST_TEST_REQUIRE((*f)->read_at(range.offset_bytes, std::as_writable_bytes(std::span(row))).has_value());
        BOOST_TEST(r->verify_row(p, row.data()).has_value());
        // A row checked against another position's checksum fails: the seed binds the position.
        if (p > 0) {
            BOOST_TEST(!r->verify_row(p - 1, row.data()).has_value());
        }
    }
}

BOOST_AUTO_TEST_CASE(a_flipped_byte_in_each_section_is_refused)
{
    quantized_segment s;
    const format::section_entry params = s.entry(format::section_kind::sq8_params);
    const format::section_entry rows = s.entry(format::section_kind::row_checksums);
    const format::section_entry e = s.entry(format::section_kind::sq8_codes);
    for (const format::section_entry& damaged : {params, rows}) {
        std::string bytes = s.bytes;
        const format::section_entry& e = damaged;
        bytes[e.offset_bytes + e.size_bytes / 2] ^= 0x10;
        expect_error(s.reopen(bytes), "crc32c mismatch");
    }
    // The codes are checked as they are read (each block) and by a full verification.
    std::string bytes = s.bytes;
    bytes[e.offset_bytes + 3] ^= 0x10;
    auto r = s.reopen(bytes);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    auto f = io::posix_env().open(s.path, io::open_mode::read);
    BOOST_TEST_REQUIRE(f.has_value());
    std::string block(r->code_range(0).size_bytes, '\0');
    BOOST_TEST_REQUIRE((*f)->read_at(r->code_range(0).offset_bytes, std::as_writable_bytes(std::span(block))).has_value());
    BOOST_TEST(!r->verify_codes(0, block.data()).has_value());
    auto all = r->verify_all(io::posix_env());
    BOOST_TEST_REQUIRE(!all.has_value());
    BOOST_TEST(all.error().message().find("section (kind 4)") != std::string::npos, all.error().message());
}

BOOST_AUTO_TEST_CASE(parameters_with_bad_fields_are_refused_behind_a_good_crc)
{
    quantized_segment s;
    const format::section_entry e = s.entry(format::section_kind::sq8_params);
    auto put32 = [](std::string& b, std::uint64_t at, std::uint32_t v) {
        put_fixed32_le(reinterpret_cast<std::byte*>(b.data() + at), v);
    };
    {
        std::string b = s.bytes;
        put32(b, e.offset_bytes, 2);  // an unknown flag
        expect_error(s.reopen(test::reseal_segment(b)), "sq8 parameters: flags 0x2");
    }
    {
        std::string b = s.bytes;
        put32(b, e.offset_bytes + 4, 7);  // the wrong dimension
        expect_error(s.reopen(test::reseal_segment(b)), "dimension 7 (expected 6)");
    }
    {
        std::string b = s.bytes;
        float negative = -1.0f;
        std::memcpy(b.data() + e.offset_bytes + 8 + 4 * s.d + 4, &negative, 4);  // step[1] < 0
        expect_error(s.reopen(test::reseal_segment(b)), "dimension 1 has low");
    }
    {
        std::string b = s.bytes;
        float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(b.data() + e.offset_bytes + 8, &nan, 4);  // low[0]
        expect_error(s.reopen(test::reseal_segment(b)), "dimension 0 has low");
    }
}

BOOST_AUTO_TEST_CASE(codes_and_parameters_come_together_and_fill_their_section)
{
    {
        quantized_segment only_codes(false, true, true);
        expect_error(segment_reader::open(io::posix_env(), only_codes.path, segment_id),
                     "needs both the parameters and the codes section");
    }
    {
        quantized_segment only_params(true, false, true);
        expect_error(segment_reader::open(io::posix_env(), only_params.path, segment_id),
                     "needs both the parameters and the codes section");
    }
    {
        // Without row checksums the segment opens, and searches score it with its floats.
        quantized_segment no_rows(true, true, false);
        auto r = segment_reader::open(io::posix_env(), no_rows.path, segment_id);
        BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
        BOOST_TEST(r->sq8() != nullptr);
        BOOST_TEST(!r->has_row_checksums());
    }
    {
        // A codes section a block short of what the clusters need.
        quantized_segment s;
        format::segment_input in = s.input();
        in.sections.push_back({format::section_kind::sq8_params, 0, s.codes.params});
        in.sections.push_back({format::section_kind::sq8_codes, 0, s.codes.codes.substr(0, s.codes.codes.size() - 4)});
        BOOST_TEST_REQUIRE(format::write_segment(io::posix_env(), s.path, in).has_value());
        expect_error(segment_reader::open(io::posix_env(), s.path, segment_id), "the clusters' blocks take");
        // Row checksums for a different row count.
        in.sections.clear();
        in.sections.push_back({format::section_kind::row_checksums, 0, s.row_crcs + "abcd"});
        BOOST_TEST_REQUIRE(format::write_segment(io::posix_env(), s.path, in).has_value());
        expect_error(segment_reader::open(io::posix_env(), s.path, segment_id), "row checksums: 96 bytes for 23 rows");
    }
}

BOOST_AUTO_TEST_CASE(a_rabitq_segment_reads_back_and_each_kind_of_damage_is_refused)
{
    quantized_segment s(true, true, true, index::quantization::rabitq);
    auto r = segment_reader::open(io::posix_env(), s.path, segment_id);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST((r->codes() == index::quantization::rabitq));
    BOOST_TEST(r->sq8() == nullptr);
    BOOST_TEST_REQUIRE(r->rabitq() != nullptr);
    BOOST_TEST((*r->rabitq() == s.rotation));
    BOOST_TEST(r->verify_all(io::posix_env()).has_value());
    // The centroids rotated on open, as the queries are.
    std::vector<float> rotated(64);
    index::rabitq_rotate(s.rotation, s.layout.centroids.data() + s.d, rotated.data());
    for (std::size_t j = 0; j < 64; ++j) {
        BOOST_TEST(r->rotated_centroids()[64 + j] == rotated[j]);
    }
    auto f = io::posix_env().open(s.path, io::open_mode::read);
    BOOST_TEST_REQUIRE(f.has_value());
    const format::section_entry codes = s.entry(format::section_kind::rabitq_codes);
    for (std::size_t c = 0; c < 3; ++c) {
        auto range = r->code_range(c);
        BOOST_TEST(range.size_bytes == index::rabitq_block_bytes(r->cluster_length(c), s.d));
        BOOST_TEST((range.offset_bytes - codes.offset_bytes) % 64 == 0u);
        std::string block(range.size_bytes, '\0');
        BOOST_TEST_REQUIRE((*f)->read_at(range.offset_bytes, std::as_writable_bytes(std::span(block))).has_value());
        BOOST_TEST((block == s.codes.codes.substr(range.offset_bytes - codes.offset_bytes, range.size_bytes)));
        BOOST_TEST(r->verify_codes(c, block.data()).has_value());
        if (!block.empty()) {
            block[block.size() - 1] = static_cast<char>(block[block.size() - 1] ^ 1);  // a factor's byte
            auto bad = r->verify_codes(c, block.data());
            BOOST_TEST_REQUIRE(!bad.has_value());
            BOOST_TEST(bad.error().message().find("rabitq codes of cluster " + std::to_string(c)) != std::string::npos,
                       bad.error().message());
        }
    }
    const format::section_entry e = s.entry(format::section_kind::rabitq_params);
    {
        std::string b = s.bytes;
        b[e.offset_bytes + e.size_bytes / 2] ^= 0x10;
        expect_error(s.reopen(b), "crc32c mismatch");
    }
    auto put32 = [](std::string& b, std::uint64_t at, std::uint32_t v) {
        put_fixed32_le(reinterpret_cast<std::byte*>(b.data() + at), v);
    };
    {
        std::string b = s.bytes;
        put32(b, e.offset_bytes, 1);  // a flag
        expect_error(s.reopen(test::reseal_segment(b)), "rabitq parameters: flags 0x1");
    }
    {
        std::string b = s.bytes;
        put32(b, e.offset_bytes + 8, 128);  // the wrong padded dimension
        expect_error(s.reopen(test::reseal_segment(b)), "padded 128");
    }
    {
        std::string b = s.bytes;
        float two = 2.0f;
        std::memcpy(b.data() + e.offset_bytes + 16 + 4 * 5, &two, 4);  // not a rotation's entry
        expect_error(s.reopen(test::reseal_segment(b)), "rotation entry 5 is 2");
    }
    {
        quantized_segment only_codes(false, true, true, index::quantization::rabitq);
        expect_error(segment_reader::open(io::posix_env(), only_codes.path, segment_id),
                     "a segment with rabitq codes needs both");
    }
    {
        // Two kinds of codes in one segment.
        quantized_segment sq8;
        format::segment_input in = s.input();
        in.sections.push_back({format::section_kind::rabitq_params, 0, s.codes.params});
        in.sections.push_back({format::section_kind::rabitq_codes, 0, s.codes.codes});
        in.sections.push_back({format::section_kind::sq8_params, 0, sq8.codes.params});
        in.sections.push_back({format::section_kind::sq8_codes, 0, sq8.codes.codes});
        BOOST_TEST_REQUIRE(format::write_segment(io::posix_env(), s.path, in).has_value());
        expect_error(segment_reader::open(io::posix_env(), s.path, segment_id), "this is a second codes section");
    }
}

BOOST_AUTO_TEST_SUITE_END()
