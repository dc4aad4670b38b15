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

// Whether [offset, offset + length) lies inside a file of size bytes, without overflow.
bool inside(std::uint64_t offset, std::uint64_t length, std::uint64_t size)
{
    return offset <= size && length <= size - offset;
}

// The input with every checksum the reader checks recomputed from the bytes it covers, in the
// order that nested checksums need: cluster and payload crcs, then the sections that hold them,
// then the header crc, and the trailer's own crc last. Fields that are out of range are left
// alone (the reader rejects them before it reaches a checksum that depends on them).
std::string fix_checksums(std::string_view input)
{
    std::string bytes(input);
    const std::uint64_t size = bytes.size();
    if (size < segment_header_size_bytes + segment_trailer_size_bytes) {
        return bytes;
    }
    auto* b = reinterpret_cast<std::byte*>(bytes.data());
    std::byte* tb = b + size - segment_trailer_size_bytes;
    auto crc_of = [&](std::uint64_t offset, std::uint64_t length) {
        return crc32c::value(b + offset, static_cast<std::size_t>(length));
    };

    const std::uint64_t d = get_fixed32_le(b + header_dimension_offset);
    const std::uint64_t n = get_fixed32_le(b + header_vector_count_offset);
    const std::uint64_t k = get_fixed32_le(b + header_cluster_count_offset);
    std::uint64_t offsets[section_count];
    for (std::size_t i = 0; i < section_count; ++i) {
        offsets[i] = get_fixed64_le(b + header_section_offsets_offset + 8 * i);
    }
    const std::uint64_t segment_id = get_fixed64_le(tb + trailer_segment_id_offset);
    const std::uint64_t footer = get_fixed64_le(tb + trailer_footer_offset_offset);
    const std::uint64_t meta_offset = offsets[0];
    const std::uint64_t vectors_offset = offsets[1];
    const std::uint64_t ids_offset = offsets[2];
    const std::uint64_t payload_offsets_offset = offsets[3];
    const std::uint64_t blob_offset = offsets[4];

    if (d >= 1 && d <= dimension_max && k >= 1 && k <= n) {
        const std::uint64_t entry_size =
            cluster_meta_entry_size_bytes(static_cast<std::uint32_t>(d));
        const std::uint64_t meta_size = k * entry_size;
        const std::uint64_t tables_size = 4 * k + 4 * n;
        const bool meta_inside = inside(meta_offset, meta_size, size);
        const bool tables_inside = inside(footer, tables_size, size);
        if (meta_inside && tables_inside) {
            // Cluster crcs and the vector section crc (verify_all: the clusters in order).
            std::uint32_t vectors_crc = 0;
            for (std::uint64_t c = 0; c < k; ++c) {
                const std::byte* entry = b + meta_offset + c * entry_size + 4 * d;
                const std::uint64_t start = get_fixed32_le(entry);
                const std::uint64_t length = get_fixed32_le(entry + 4);
                const std::uint64_t range_offset = vectors_offset + start * 4 * d;
                const std::uint64_t range_size = length * 4 * d;
                if (vectors_offset > size || !inside(range_offset, range_size, size)) {
                    break;
                }
                std::uint32_t seed = cluster_crc_seed(segment_id, static_cast<std::uint32_t>(c));
                put_fixed32_le(b + footer + 4 * c,
                               crc32c::extend(seed, b + range_offset, range_size));
                vectors_crc = crc32c::extend(vectors_crc, b + range_offset, range_size);
            }
            put_fixed32_le(tb + trailer_vectors_crc_offset, vectors_crc);
        }
        if (tables_inside &&
            inside(payload_offsets_offset, n * payload_offset_entry_size_bytes, size) &&
            blob_offset <= size) {
            // Payload crcs and the blob crc (verify_all: the payloads in position order).
            std::uint32_t blob_crc = 0;
            for (std::uint64_t p = 0; p < n; ++p) {
                const std::byte* entry =
                    b + payload_offsets_offset + p * payload_offset_entry_size_bytes;
                const std::uint64_t offset = get_fixed64_le(entry);
                const std::uint64_t length = get_fixed32_le(entry + 8);
                if (!inside(offset, length, size - blob_offset)) {
                    break;
                }
                std::uint32_t seed = payload_crc_seed(segment_id, static_cast<std::uint32_t>(p));
                put_fixed32_le(b + footer + 4 * k + 4 * p,
                               crc32c::extend(seed, b + blob_offset + offset, length));
                blob_crc = crc32c::extend(blob_crc, b + blob_offset + offset, length);
            }
            put_fixed32_le(tb + trailer_payload_blob_crc_offset, blob_crc);
        }
        if (meta_inside) {
            put_fixed32_le(tb + trailer_cluster_meta_crc_offset, crc_of(meta_offset, meta_size));
        }
        if (ids_offset <= payload_offsets_offset &&
            inside(ids_offset, payload_offsets_offset - ids_offset, size)) {
            put_fixed32_le(tb + trailer_id_table_crc_offset,
                           crc_of(ids_offset, payload_offsets_offset - ids_offset));
        }
        if (payload_offsets_offset <= blob_offset &&
            inside(payload_offsets_offset, blob_offset - payload_offsets_offset, size)) {
            put_fixed32_le(tb + trailer_payload_offsets_crc_offset,
                           crc_of(payload_offsets_offset, blob_offset - payload_offsets_offset));
        }
        if (tables_inside) {
            put_fixed32_le(tb + trailer_tables_crc_offset, crc_of(footer, tables_size));
        }
    }
    put_fixed32_le(tb + trailer_header_crc_offset, crc_of(0, segment_header_size_bytes));
    put_fixed32_le(tb + trailer_crc_offset, crc32c::value(tb, trailer_crc_offset));
    return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view input(reinterpret_cast<const char*>(data), size);
    check(input, false);
    std::string fixed = fix_checksums(input);
    if (fixed != input) {
        check(fixed, true);
    }
    return 0;
}
