#pragma once
// Builds small segments for the format tests (and the segment fuzz target).

#include "engine/core/coding.hpp"
#include "engine/core/crc32c.hpp"
#include "engine/format/segment_format.hpp"
#include "engine/format/segment_writer.hpp"
#include "engine/io/env.hpp"

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::test {

// The tiny segment pinned by the golden test: d = 2, l2, 3 rows in 2 clusters, segment id 7.
//   rows: "a" (1,2); "bb" (3,4) payload {"x":1}; "c" (5,6)
//   clusters: 0 = {row 0}, centroid (1,2); 1 = {rows 1, 2}, centroid (4,5)
// With with_curve, it also holds one extra section (version 2 directory): a recall curve of top_k
// 1, 3 queries, points (1 probe, 0.5) and (2 probes, 1.0).
inline format::segment_file_info write_tiny_segment(const std::string& path, bool with_curve = false)
{
    static const float vectors[] = {1, 2, 3, 4, 5, 6};
    static const std::vector<std::string_view> ids = {"a", "bb", "c"};
    static const std::vector<std::string_view> payloads = {"", "{\"x\":1}", ""};
    static const index::ivf_layout layout = [] {
        index::ivf_layout l;
        l.dimension = 2;
        l.cluster_count = 2;
        l.centroids = {1, 2, 4, 5};
        l.cluster_offsets = {0, 1, 3};
        l.order = {0, 1, 2};
        return l;
    }();
    format::segment_input input;
    input.segment_id = 7;
    input.distance_metric = metric::l2;
    input.dimension = 2;
    input.vectors = vectors;
    input.ids = ids;
    input.payloads = payloads;
    input.layout = &layout;
    if (with_curve) {
        index::recall_curve curve;
        curve.top_k = 1;
        curve.queries = 3;
        curve.points = {{1, 0.5f}, {2, 1.0f}};
        input.sections.push_back({format::section_kind::recall_curve, 0, format::encode_recall_curve(curve)});
    }
    auto info = format::write_segment(io::posix_env(), path, input);
    if (!info) {
        throw std::runtime_error(info.error().message());
    }
    return *info;
}

// Whether [offset, offset + length) lies inside a file of size bytes, without overflow.
inline bool segment_range_inside(std::uint64_t offset, std::uint64_t length, std::uint64_t size)
{
    return offset <= size && length <= size - offset;
}

// segment bytes with every checksum that segment_reader checks (open and verify_all) recomputed
// from the bytes it covers, in the order nested checksums need: cluster and payload crcs, then
// the sections that hold them, then the header crc, and the trailer's own crc last. Fields out of
// range are left alone (the reader rejects them before a checksum that depends on them). Lets a
// test or a fuzz target build or mutate a segment and still reach the checks behind the crcs.
inline std::string reseal_segment(std::string_view input)
{
    std::string bytes(input);
    const std::uint64_t size = bytes.size();
    if (size < format::segment_header_size_bytes + format::segment_trailer_size_bytes) {
        return bytes;
    }
    auto* b = reinterpret_cast<std::byte*>(bytes.data());
    std::byte* tb = b + size - format::segment_trailer_size_bytes;
    auto crc_of = [&](std::uint64_t offset, std::uint64_t length) {
        return crc32c::value(b + offset, static_cast<std::size_t>(length));
    };

    const std::uint64_t d = get_fixed32_le(b + format::header_dimension_offset);
    const std::uint64_t n = get_fixed32_le(b + format::header_vector_count_offset);
    const std::uint64_t k = get_fixed32_le(b + format::header_cluster_count_offset);
    std::uint64_t offsets[format::section_count];
    for (std::size_t i = 0; i < format::section_count; ++i) {
        offsets[i] = get_fixed64_le(b + format::header_section_offsets_offset + 8 * i);
    }
    const std::uint64_t segment_id = get_fixed64_le(tb + format::trailer_segment_id_offset);
    const std::uint64_t footer = get_fixed64_le(tb + format::trailer_footer_offset_offset);
    const std::uint64_t meta_offset = offsets[0];
    const std::uint64_t vectors_offset = offsets[1];
    const std::uint64_t ids_offset = offsets[2];
    const std::uint64_t payload_offsets_offset = offsets[3];
    const std::uint64_t blob_offset = offsets[4];

    if (d >= 1 && d <= format::dimension_max && k >= 1 && k <= n) {
        const std::uint64_t entry_size =
            format::cluster_meta_entry_size_bytes(static_cast<std::uint32_t>(d));
        const std::uint64_t meta_size = k * entry_size;
        const std::uint64_t tables_size = 4 * k + 4 * n;
        const bool meta_inside = segment_range_inside(meta_offset, meta_size, size);
        const bool tables_inside = segment_range_inside(footer, tables_size, size);
        if (meta_inside && tables_inside) {
            // Cluster crcs and the vector section crc (verify_all: the clusters in order).
            std::uint32_t vectors_crc = 0;
            for (std::uint64_t c = 0; c < k; ++c) {
                const std::byte* entry = b + meta_offset + c * entry_size + 4 * d;
                const std::uint64_t start = get_fixed32_le(entry);
                const std::uint64_t length = get_fixed32_le(entry + 4);
                const std::uint64_t range_offset = vectors_offset + start * 4 * d;
                const std::uint64_t range_size = length * 4 * d;
                if (vectors_offset > size ||
                    !segment_range_inside(range_offset, range_size, size)) {
                    break;
                }
                std::uint32_t seed =
                    format::cluster_crc_seed(segment_id, static_cast<std::uint32_t>(c));
                put_fixed32_le(b + footer + 4 * c,
                               crc32c::extend(seed, b + range_offset, range_size));
                vectors_crc = crc32c::extend(vectors_crc, b + range_offset, range_size);
            }
            put_fixed32_le(tb + format::trailer_vectors_crc_offset, vectors_crc);
        }
        if (tables_inside &&
            segment_range_inside(payload_offsets_offset,
                                 n * format::payload_offset_entry_size_bytes, size) &&
            blob_offset <= size) {
            // Payload crcs and the blob crc (verify_all: the payloads in position order).
            std::uint32_t blob_crc = 0;
            for (std::uint64_t p = 0; p < n; ++p) {
                const std::byte* entry =
                    b + payload_offsets_offset + p * format::payload_offset_entry_size_bytes;
                const std::uint64_t offset = get_fixed64_le(entry);
                const std::uint64_t length = get_fixed32_le(entry + 8);
                if (!segment_range_inside(offset, length, size - blob_offset)) {
                    break;
                }
                std::uint32_t seed =
                    format::payload_crc_seed(segment_id, static_cast<std::uint32_t>(p));
                put_fixed32_le(b + footer + 4 * k + 4 * p,
                               crc32c::extend(seed, b + blob_offset + offset, length));
                blob_crc = crc32c::extend(blob_crc, b + blob_offset + offset, length);
            }
            put_fixed32_le(tb + format::trailer_payload_blob_crc_offset, blob_crc);
        }
        if (meta_inside) {
            put_fixed32_le(tb + format::trailer_cluster_meta_crc_offset,
                           crc_of(meta_offset, meta_size));
        }
        if (ids_offset <= payload_offsets_offset &&
            segment_range_inside(ids_offset, payload_offsets_offset - ids_offset, size)) {
            put_fixed32_le(tb + format::trailer_id_table_crc_offset,
                           crc_of(ids_offset, payload_offsets_offset - ids_offset));
        }
        if (payload_offsets_offset <= blob_offset &&
            segment_range_inside(payload_offsets_offset, blob_offset - payload_offsets_offset,
                                 size)) {
            put_fixed32_le(tb + format::trailer_payload_offsets_crc_offset,
                           crc_of(payload_offsets_offset, blob_offset - payload_offsets_offset));
        }
        if (tables_inside) {
            put_fixed32_le(tb + format::trailer_tables_crc_offset, crc_of(footer, tables_size));
        }
    }
    // Version 2: each extra section's crc in its directory entry, then the directory's crc.
    const std::uint32_t version = get_fixed32_le(b + format::header_version_offset);
    if (version >= 2 && size >= format::directory_offset + format::directory_header_size_bytes) {
        const std::uint64_t count = get_fixed32_le(b + format::directory_offset + 4);
        const std::uint64_t dir_size = format::directory_size_bytes(count);
        if (count <= format::directory_entries_max && segment_range_inside(format::directory_offset, dir_size, size)) {
            for (std::uint64_t i = 0; i < count; ++i) {
                std::byte* e = b + format::directory_offset + format::directory_header_size_bytes +
                               i * format::directory_entry_size_bytes;
                std::uint64_t offset = get_fixed64_le(e + 8);
                std::uint64_t length = get_fixed64_le(e + 16);
                if (segment_range_inside(offset, length, size)) {
                    put_fixed32_le(e + 24, crc_of(offset, length));
                }
            }
            put_fixed32_le(b + format::directory_offset, crc_of(format::directory_offset + 4, dir_size - 4));
        }
    }
    put_fixed32_le(tb + format::trailer_header_crc_offset,
                   crc_of(0, format::segment_header_size_bytes));
    put_fixed32_le(tb + format::trailer_crc_offset, crc32c::value(tb, format::trailer_crc_offset));
    return bytes;
}

}  // namespace puffer::test
