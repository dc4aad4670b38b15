// Fuzz target: the input as a PRSEG1 segment file (written to a tmpfs scratch directory), through
// format::segment_reader::open and, when it opens, verify_all and a read of every cluster and
// every payload. Properties: a rejection is corruption or unsupported_version with a message; an
// opened segment's extents, ids and payload locations lie inside the sections the header
// describes.
//
// Every section is checksummed, so a random change is almost always rejected at the first crc.
// Each input is therefore opened twice: as given (the checks in front of the checksums), then with
// every checksum recomputed over the bytes the reader will check (the parsing behind them). A
// segment whose checksums were recomputed and that opens must then pass verify_all and every read.
#include "engine/core/coding.hpp"
#include "engine/core/crc32c.hpp"
#include "engine/format/segment_format.hpp"
#include "engine/format/segment_reader.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "tests/unit/format/segment_test_util.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace puffer;
using namespace puffer::format;

namespace {

const std::string& input_path()
{
    static const std::string path = fuzz::scratch_dir() + "/input.seg";
    return path;
}

void check(std::string_view bytes, bool checksums_fixed)
{
    fuzz::write_file(input_path(), bytes);
    io::env& e = io::posix_env();
    auto r = segment_reader::open(e, input_path(), std::nullopt);
    if (!r) {
        const error& err = r.error();
        FUZZ_CHECK(is(err, errc::corruption) || is(err, errc::unsupported_version),
                   "unexpected error: %s", err.message().c_str());
        FUZZ_CHECK(!err.context.empty(), "a rejection must say why");
        return;
    }
    const segment_reader& s = *r;
    const segment_header& h = s.header();
    const std::uint64_t size = bytes.size();
    FUZZ_CHECK(s.file_size_bytes() == size, "file size %llu, input %llu",
               static_cast<unsigned long long>(s.file_size_bytes()),
               static_cast<unsigned long long>(size));
    FUZZ_CHECK(s.dimension() >= 1 && s.dimension() <= dimension_max, "dimension %zu",
               s.dimension());
    FUZZ_CHECK(s.cluster_count() >= 1 && s.cluster_count() <= s.vector_count(),
               "%zu clusters for %zu vectors", s.cluster_count(), s.vector_count());

    // Cluster extents tile the vector section.
    const std::uint64_t vectors_begin = h.offset_of(section::vectors);
    const std::uint64_t vectors_end = h.offset_of(section::id_table);
    std::uint64_t next_position = 0;
    for (std::size_t c = 0; c < s.cluster_count(); ++c) {
        FUZZ_CHECK(s.cluster_start(c) == next_position, "cluster %zu starts at %u, expected %llu",
                   c, s.cluster_start(c), static_cast<unsigned long long>(next_position));
        next_position += s.cluster_length(c);
        byte_range range = s.cluster_range(c);
        FUZZ_CHECK(range.offset_bytes >= vectors_begin && range.offset_bytes <= vectors_end &&
                       range.size_bytes <= vectors_end - range.offset_bytes,
                   "cluster %zu range outside the vector section", c);
    }
    FUZZ_CHECK(next_position == s.vector_count(), "clusters hold %llu of %zu vectors",
               static_cast<unsigned long long>(next_position), s.vector_count());

    // Ids and payload locations.
    const std::uint64_t blob_begin = h.offset_of(section::payload_blob);
    const std::uint64_t blob_end = blob_begin + s.trailer().payload_blob_size;
    FUZZ_CHECK(blob_end <= s.trailer().footer_offset && s.trailer().footer_offset <= size,
               "blob past the footer");
    for (std::size_t p = 0; p < s.vector_count(); ++p) {
        std::string_view id = s.id(p);
        FUZZ_CHECK(!id.empty() && id.size() <= id_size_bytes_max, "id %zu of %zu bytes", p,
                   id.size());
        byte_range range = s.payload_range(p);
        FUZZ_CHECK(range.offset_bytes >= blob_begin && range.offset_bytes <= blob_end &&
                       range.size_bytes <= blob_end - range.offset_bytes &&
                       range.size_bytes <= payload_size_bytes_max,
                   "payload %zu range outside the blob", p);
    }

    // Everything on disk, checked.
    status all = s.verify_all(e);
    FUZZ_CHECK(all || !checksums_fixed, "recomputed checksums, but verify_all fails: %s",
               all ? "" : all.error().message().c_str());
    auto f = e.open(input_path(), io::open_mode::read);
    FUZZ_CHECK(f.has_value(), "cannot reopen the input");
    std::vector<float> cluster;
    for (std::size_t c = 0; c < s.cluster_count(); ++c) {
        status read = s.read_cluster(**f, c, cluster);
        FUZZ_CHECK(read || !checksums_fixed, "cluster %zu: %s", c,
                   read ? "" : read.error().message().c_str());
        if (read) {
            FUZZ_CHECK(cluster.size() == s.cluster_length(c) * s.dimension(),
                       "cluster %zu: %zu values", c, cluster.size());
        }
    }
    // Codes and rows: every block and row lies inside the file and is read and checked without
    // harm (the crcs inside the parameters and row checksum sections are not resealed, so a
    // mismatch is allowed).
    if (s.codes() != index::quantization::none) {
        FUZZ_CHECK((s.sq8() != nullptr) == (s.codes() == index::quantization::sq8), "sq8 parameters without codes");
        FUZZ_CHECK((s.rabitq() != nullptr) == (s.codes() == index::quantization::rabitq),
                   "rabitq parameters without codes");
        if (s.sq8() != nullptr) {
            FUZZ_CHECK(s.sq8()->dimension() == s.dimension(), "sq8 dimension %zu", s.sq8()->dimension());
        }
        if (s.rabitq() != nullptr) {
            FUZZ_CHECK(s.rabitq()->dimension == s.dimension() &&
                           s.rabitq()->rotation.size() == s.rabitq()->padded() * s.dimension(),
                       "rabitq rotation of %zu entries", s.rabitq()->rotation.size());
        }
        for (std::size_t c = 0; c < s.cluster_count(); ++c) {
            byte_range range = s.code_range(c);
            FUZZ_CHECK(range.offset_bytes <= size && range.size_bytes <= size - range.offset_bytes,
                       "codes of cluster %zu outside the file", c);
            std::string block(range.size_bytes, '\0');
            if ((*f)->read_at(range.offset_bytes, std::as_writable_bytes(std::span(block)))) {
                (void)s.verify_codes(c, block.data());
            }
        }
    }
    if (s.has_row_checksums()) {
        std::vector<float> row(s.dimension());
        for (std::size_t p = 0; p < s.vector_count(); ++p) {
            byte_range range = s.row_range(p);
            FUZZ_CHECK(range.offset_bytes + range.size_bytes <= size, "row %zu outside the file", p);
            if ((*f)->read_at(range.offset_bytes, std::as_writable_bytes(std::span(row)))) {
                (void)s.verify_row(p, row.data());
            }
        }
    }
    for (std::size_t p = 0; p < s.vector_count(); ++p) {
        auto payload = s.read_payload(**f, p);
        FUZZ_CHECK(payload || !checksums_fixed, "payload %zu: %s", p,
                   payload ? "" : payload.error().message().c_str());
        if (payload) {
            FUZZ_CHECK(payload->size() == s.payload_range(p).size_bytes, "payload %zu: %zu bytes",
                       p, payload->size());
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view input(reinterpret_cast<const char*>(data), size);
    check(input, false);
    std::string fixed = test::reseal_segment(input);
    if (fixed != input) {
        check(fixed, true);
    }
    return 0;
}
