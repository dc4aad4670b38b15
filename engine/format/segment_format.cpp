#include "engine/format/segment_format.hpp"

#include "engine/core/aligned_buffer.hpp"
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

namespace {

// The crc32c of 13 bytes: the tag, the segment id (u64) and the index (u32), little-endian.
std::uint32_t tagged_seed(char tag, std::uint64_t segment_id, std::uint32_t index)
{
    std::byte seed[13];
    put_fixed8(seed, static_cast<std::uint8_t>(tag));
    put_fixed64_le(seed + 1, segment_id);
    put_fixed32_le(seed + 9, index);
    return crc32c::value(seed, sizeof seed);
}

}  // namespace

std::uint32_t cluster_crc_seed(std::uint64_t segment_id, std::uint32_t cluster_index)
{
    return tagged_seed('C', segment_id, cluster_index);
}

std::uint32_t payload_crc_seed(std::uint64_t segment_id, std::uint32_t position)
{
    return tagged_seed('P', segment_id, position);
}

std::uint32_t code_crc_seed(std::uint64_t segment_id, std::uint32_t cluster_index)
{
    return tagged_seed('Q', segment_id, cluster_index);
}

std::uint32_t row_crc_seed(std::uint64_t segment_id, std::uint32_t position)
{
    return tagged_seed('R', segment_id, position);
}

std::size_t sq8_params_section_bytes(std::size_t dimension, std::size_t clusters)
{
    return 8 + 8 * dimension + 4 * clusters;
}

namespace {

// The code blocks of every cluster, each at the next 64-byte boundary, and each block's crc.
template <class Encode>
std::string encode_code_blocks(std::uint64_t segment_id, const index::ivf_layout& layout,
                               std::size_t (*block_bytes)(std::size_t rows, std::size_t d), Encode encode,
                               std::vector<std::uint32_t>& crcs)
{
    const std::size_t d = layout.dimension;
    const std::size_t k = layout.cluster_count;
    std::size_t total = 0;
    for (std::size_t c = 0; c < k; ++c) {
        std::size_t rows = layout.cluster_offsets[c + 1] - layout.cluster_offsets[c];
        total = align_up(total, code_block_alignment_bytes) + block_bytes(rows, d);
    }
    std::string codes(total, '\0');
    crcs.assign(k, 0);
    std::size_t at = 0;
    for (std::size_t c = 0; c < k; ++c) {
        std::size_t rows = layout.cluster_offsets[c + 1] - layout.cluster_offsets[c];
        at = align_up(at, code_block_alignment_bytes);
        auto* block = reinterpret_cast<std::byte*>(codes.data() + at);
        std::size_t size = block_bytes(rows, d);
        encode(c, block);
        crcs[c] = crc32c::extend(code_crc_seed(segment_id, static_cast<std::uint32_t>(c)), block, size);
        at += size;
    }
    return codes;
}

}  // namespace

code_sections encode_sq8_sections(std::uint64_t segment_id, const index::sq8_params& p, const float* vectors,
                                 const index::ivf_layout& layout)
{
    const std::size_t d = layout.dimension;
    const std::size_t k = layout.cluster_count;
    code_sections out;
    std::vector<std::uint32_t> crcs;
    out.codes = encode_code_blocks(
        segment_id, layout, index::sq8_block_bytes,
        [&](std::size_t c, std::byte* block) { index::encode_sq8_cluster(p, vectors, layout, c, block); }, crcs);
    encoder enc(out.params);
    enc.put_u32(p.residual ? sq8_flag_residual : 0);
    enc.put_u32(static_cast<std::uint32_t>(d));
    enc.put_bytes(p.low.data(), d * 4);
    enc.put_bytes(p.step.data(), d * 4);
    for (std::uint32_t crc : crcs) {
        enc.put_u32(crc);
    }
    PUFFER_ASSERT(out.params.size() == sq8_params_section_bytes(d, k));
    return out;
}

std::size_t rabitq_params_section_bytes(std::size_t dimension, std::size_t clusters)
{
    return 16 + 4 * index::rabitq_padded(dimension) * dimension + 4 * clusters;
}

code_sections encode_rabitq_sections(std::uint64_t segment_id, const index::rabitq_params& p, const float* vectors,
                                    const index::ivf_layout& layout)
{
    const std::size_t d = layout.dimension;
    const std::size_t k = layout.cluster_count;
    PUFFER_ASSERT(p.dimension == d && p.rotation.size() == p.padded() * d);
    code_sections out;
    std::vector<std::uint32_t> crcs;
    out.codes = encode_code_blocks(
        segment_id, layout, index::rabitq_block_bytes,
        [&](std::size_t c, std::byte* block) { index::encode_rabitq_cluster(p, vectors, layout, c, block); }, crcs);
    encoder enc(out.params);
    enc.put_u32(0);
    enc.put_u32(static_cast<std::uint32_t>(d));
    enc.put_u32(static_cast<std::uint32_t>(p.padded()));
    enc.put_u32(0);
    enc.put_bytes(p.rotation.data(), p.rotation.size() * 4);
    for (std::uint32_t crc : crcs) {
        enc.put_u32(crc);
    }
    PUFFER_ASSERT(out.params.size() == rabitq_params_section_bytes(d, k));
    return out;
}

std::string encode_row_checksums(std::uint64_t segment_id, const float* vectors, const index::ivf_layout& layout)
{
    const std::size_t d = layout.dimension;
    std::string out;
    out.reserve(layout.order.size() * 4);
    encoder enc(out);
    for (std::size_t pos = 0; pos < layout.order.size(); ++pos) {
        const float* row = vectors + static_cast<std::size_t>(layout.order[pos]) * d;
        enc.put_u32(crc32c::extend(row_crc_seed(segment_id, static_cast<std::uint32_t>(pos)), row, d * 4));
    }
    return out;
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
