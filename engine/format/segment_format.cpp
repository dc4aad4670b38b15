#include "engine/format/segment_format.hpp"

#include "engine/core/assert.hpp"
#include "engine/core/coding.hpp"
#include "engine/core/crc32c.hpp"
#include "engine/core/log.hpp"

#include <cstring>

namespace puffer::format {

void encode_header(const segment_header& h, std::byte* out)
{
    std::memset(out, 0, segment_header_size_bytes);
    std::memcpy(out + header_magic_offset, segment_magic.data(), segment_magic.size());
    put_fixed32_le(out + header_version_offset, h.version);
    put_fixed32_le(out + header_dimension_offset, h.dimension);
    put_fixed8(out + header_metric_offset, static_cast<std::uint8_t>(h.distance_metric));
    put_fixed32_le(out + header_vector_count_offset, h.vector_count);
    put_fixed32_le(out + header_cluster_count_offset, h.cluster_count);
    for (std::size_t i = 0; i < section_count; ++i) {
        put_fixed64_le(out + header_section_offsets_offset + 8 * i, h.section_offsets[i]);
    }
}

void encode_trailer(const segment_trailer& t, std::byte* out)
{
    std::memset(out, 0, segment_trailer_size_bytes);
    std::memcpy(out + trailer_magic_offset, segment_trailer_magic.data(),
                segment_trailer_magic.size());
    put_fixed64_le(out + trailer_segment_id_offset, t.segment_id);
    put_fixed64_le(out + trailer_payload_blob_size_offset, t.payload_blob_size);
    put_fixed64_le(out + trailer_footer_offset_offset, t.footer_offset);
    put_fixed32_le(out + trailer_header_crc_offset, t.header_crc);
    put_fixed32_le(out + trailer_cluster_meta_crc_offset, t.cluster_meta_crc);
    put_fixed32_le(out + trailer_vectors_crc_offset, t.vectors_crc);
    put_fixed32_le(out + trailer_id_table_crc_offset, t.id_table_crc);
    put_fixed32_le(out + trailer_payload_offsets_crc_offset, t.payload_offsets_crc);
    put_fixed32_le(out + trailer_payload_blob_crc_offset, t.payload_blob_crc);
    put_fixed32_le(out + trailer_tables_crc_offset, t.tables_crc);
    put_fixed32_le(out + trailer_crc_offset, crc32c::value(out, trailer_crc_offset));
}

std::uint32_t cluster_crc_seed(std::uint64_t segment_id, std::uint32_t cluster_index)
{
    std::byte seed[13];
    put_fixed8(seed, 'C');
    put_fixed64_le(seed + 1, segment_id);
    put_fixed32_le(seed + 9, cluster_index);
    return crc32c::value(seed, sizeof seed);
}

std::uint32_t payload_crc_seed(std::uint64_t segment_id, std::uint32_t position)
{
    std::byte seed[13];
    put_fixed8(seed, 'P');
    put_fixed64_le(seed + 1, segment_id);
    put_fixed32_le(seed + 9, position);
    return crc32c::value(seed, sizeof seed);
}

std::string segment_file_name(std::uint64_t segment_id)
{
    return strprintf("%06llu.seg", static_cast<unsigned long long>(segment_id));
}

std::string encode_recall_curve(const index::recall_curve& c)
{
    std::string out;
    encoder enc(out);
    enc.put_u32(c.top_k);
    enc.put_u32(c.queries);
    enc.put_u32(static_cast<std::uint32_t>(c.points.size()));
    enc.put_u32(c.neighbours_skipped);
    for (const auto& p : c.points) {
        enc.put_u32(p.probes);
        enc.put_bytes(&p.recall, 4);
    }
    return out;
}

result<index::recall_curve> decode_recall_curve(std::string_view bytes, std::size_t clusters, const std::string& path,
                                         std::uint64_t offset)
{
    auto bad = [&](std::size_t at, const std::string& what) {
        return make_error(errc::corruption, strprintf("%s: offset %llu: recall curve: %s", path.c_str(),
                                                      static_cast<unsigned long long>(offset + at), what.c_str()));
    };
    decoder dec(bytes.data(), bytes.size());
    index::recall_curve c;
    std::uint32_t count = 0;
    if (!dec.get_u32(c.top_k) || !dec.get_u32(c.queries) || !dec.get_u32(count) ||
        !dec.get_u32(c.neighbours_skipped)) {
        return bad(0, strprintf("%zu bytes, shorter than its header", bytes.size()));
    }
    if (c.neighbours_skipped > recall_neighbours_skipped_max) {
        return bad(12, strprintf("%u neighbours skipped, at most %zu", c.neighbours_skipped,
                                 recall_neighbours_skipped_max));
    }
    if (c.top_k < 1 || c.queries < 1 || count < 1 || count > clusters) {
        return bad(0, strprintf("top_k %u, %u queries, %u points (the segment has %zu clusters)", c.top_k, c.queries,
                                count, clusters));
    }
    if (bytes.size() != recall_curve_header_size_bytes + std::size_t{count} * recall_point_size_bytes) {
        return bad(0, strprintf("%zu bytes for %u points", bytes.size(), count));
    }
    c.points.resize(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        index::recall_point& p = c.points[i];
        bool fits = dec.get_u32(p.probes) && dec.get_bytes(&p.recall, 4);
        PUFFER_ASSERT(fits);
        std::size_t at = recall_curve_header_size_bytes + i * recall_point_size_bytes;
        bool ascending = i == 0 || (p.probes > c.points[i - 1].probes && p.recall >= c.points[i - 1].recall);
        if (p.probes < 1 || p.probes > clusters || !(p.recall >= 0.0f && p.recall <= 1.0f) || !ascending) {
            return bad(at, strprintf("point %u: %u probes, recall %g", i, p.probes, static_cast<double>(p.recall)));
        }
    }
    return c;
}

}  // namespace puffer::format
