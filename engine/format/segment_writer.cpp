#include "engine/format/segment_writer.hpp"

#include "engine/core/aligned_buffer.hpp"
#include "engine/core/assert.hpp"
#include "engine/core/coding.hpp"
#include "engine/core/crc32c.hpp"
#include "engine/format/segment_format.hpp"

#include <cstring>
#include <vector>

namespace puffer::format {
namespace {

// Sequential writer with a 1 MiB buffer; tracks the file offset.
class sequential_writer {
public:
    explicit sequential_writer(io::file& f) : file_(f) { buffer_.reserve(buffer_size_bytes); }

    [[nodiscard]] status write(const void* data, std::size_t size)
    {
        const auto* p = static_cast<const char*>(data);
        while (size > 0) {
            std::size_t room = buffer_size_bytes - buffer_.size();
            std::size_t n = size < room ? size : room;
            buffer_.append(p, n);
            p += n;
            size -= n;
            if (buffer_.size() == buffer_size_bytes) {
                PUFFER_TRY(drain());
            }
        }
        return ok();
    }

    [[nodiscard]] status zeros(std::size_t size)
    {
        static const char block[4096] = {};
        while (size > 0) {
            std::size_t n = size < sizeof block ? size : sizeof block;
            PUFFER_TRY(write(block, n));
            size -= n;
        }
        return ok();
    }

    [[nodiscard]] status drain()
    {
        if (buffer_.empty()) {
            return ok();
        }
        PUFFER_TRY(file_.write_at(flushed_, std::as_bytes(std::span(buffer_.data(), buffer_.size()))));
        flushed_ += buffer_.size();
        buffer_.clear();
        return ok();
    }

    std::uint64_t offset() const { return flushed_ + buffer_.size(); }

private:
    static constexpr std::size_t buffer_size_bytes = 1 << 20;
    io::file& file_;
    std::string buffer_;
    std::uint64_t flushed_ = 0;
};

}  // namespace

result<segment_file_info> write_segment(io::env& e, const std::string& path,
                                        const segment_input& input)
{
    const index::ivf_layout& layout = *input.layout;
    const std::size_t n = layout.order.size();
    const std::size_t k = layout.cluster_count;
    const std::size_t d = input.dimension;
    PUFFER_ASSERT(n >= 1);
    PUFFER_ASSERT(n <= 0xFFFFFFFFu);
    PUFFER_ASSERT(k >= 1);
    PUFFER_ASSERT(layout.dimension == d);
    PUFFER_ASSERT(input.ids.size() == n);
    PUFFER_ASSERT(input.payloads.empty() || input.payloads.size() == n);

    // Section sizes, then offsets (docs/format.md, "Layout").
    const std::size_t meta_entry = cluster_meta_entry_size_bytes(static_cast<std::uint32_t>(d));
    std::uint64_t id_table_size = 0;
    std::uint64_t blob_size = 0;
    for (std::size_t row = 0; row < n; ++row) {
        PUFFER_ASSERT(!input.ids[row].empty());
        PUFFER_ASSERT(input.ids[row].size() <= id_size_bytes_max);
        id_table_size += 4 + input.ids[row].size();
        if (!input.payloads.empty()) {
            blob_size += input.payloads[row].size();
        }
    }
    segment_header header;
    header.dimension = static_cast<std::uint32_t>(d);
    header.distance_metric = input.distance_metric;
    header.vector_count = static_cast<std::uint32_t>(n);
    header.cluster_count = static_cast<std::uint32_t>(k);
    PUFFER_ASSERT(input.sections.size() <= directory_entries_max);
    std::uint64_t meta_offset = directory_offset + directory_size_bytes(input.sections.size());
    std::uint64_t vectors_offset = align_up(meta_offset + k * meta_entry, segment_alignment_bytes);
    std::uint64_t id_table_offset = vectors_offset + static_cast<std::uint64_t>(n) * d * 4;
    std::uint64_t payload_offsets_offset = id_table_offset + id_table_size;
    std::uint64_t blob_offset = payload_offsets_offset + n * payload_offset_entry_size_bytes;
    std::uint64_t tables_size = k * cluster_crc_entry_size_bytes + n * payload_crc_entry_size_bytes;
    // Extra sections after the blob, each on the next 4096-byte boundary.
    std::vector<section_entry> entries;
    std::uint64_t extras_end = blob_offset + blob_size;
    for (const auto& extra : input.sections) {
        section_entry e;
        e.kind = static_cast<std::uint32_t>(extra.kind);
        e.flags = extra.flags;
        e.offset_bytes = align_up(extras_end, segment_alignment_bytes);
        e.size_bytes = extra.bytes.size();
        e.crc = crc32c::value(extra.bytes);
        entries.push_back(e);
        extras_end = e.offset_bytes + e.size_bytes;
    }
    std::uint64_t file_size =
        align_up(extras_end + tables_size + segment_trailer_size_bytes, segment_alignment_bytes);
    std::uint64_t footer_offset = file_size - segment_trailer_size_bytes - tables_size;
    header.section_offsets[0] = meta_offset;
    header.section_offsets[1] = vectors_offset;
    header.section_offsets[2] = id_table_offset;
    header.section_offsets[3] = payload_offsets_offset;
    header.section_offsets[4] = blob_offset;

    PUFFER_TRY_ASSIGN(auto f, e.open(path, io::open_mode::create_trunc));
    sequential_writer out(*f);
    segment_trailer trailer;
    trailer.segment_id = input.segment_id;
    trailer.payload_blob_size = blob_size;
    trailer.footer_offset = footer_offset;

    std::byte header_bytes[segment_header_size_bytes];
    encode_header(header, header_bytes);
    trailer.header_crc = crc32c::value(header_bytes, sizeof header_bytes);
    PUFFER_TRY(out.write(header_bytes, sizeof header_bytes));

    // Section directory: crc of what follows it, the count, the entries.
    {
        std::string dir;
        encoder enc(dir);
        enc.put_u32(static_cast<std::uint32_t>(entries.size()));
        for (const auto& e : entries) {
            enc.put_u32(e.kind);
            enc.put_u32(e.flags);
            enc.put_u64(e.offset_bytes);
            enc.put_u64(e.size_bytes);
            enc.put_u32(e.crc);
            enc.put_u32(0);
        }
        std::string with_crc;
        encoder crc_enc(with_crc);
        crc_enc.put_u32(crc32c::value(dir));
        with_crc += dir;
        PUFFER_ASSERT(with_crc.size() == directory_size_bytes(entries.size()));
        PUFFER_TRY(out.write(with_crc.data(), with_crc.size()));
    }
    PUFFER_ASSERT(out.offset() == meta_offset);

    // Cluster metadata.
    {
        std::string meta;
        meta.reserve(k * meta_entry);
        encoder enc(meta);
        for (std::size_t c = 0; c < k; ++c) {
            enc.put_bytes(layout.centroids.data() + c * d, d * 4);
            enc.put_u32(layout.cluster_offsets[c]);
            enc.put_u32(layout.cluster_offsets[c + 1] - layout.cluster_offsets[c]);
        }
        trailer.cluster_meta_crc = crc32c::value(meta);
        PUFFER_TRY(out.write(meta.data(), meta.size()));
        PUFFER_TRY(out.zeros(vectors_offset - out.offset()));
    }

    // Vectors in cluster order, with one crc per cluster and one over the section.
    std::vector<std::uint32_t> cluster_crcs(k);
    {
        std::uint32_t section_crc = 0;
        for (std::size_t c = 0; c < k; ++c) {
            std::uint32_t crc = cluster_crc_seed(input.segment_id, static_cast<std::uint32_t>(c));
            for (std::size_t p = layout.cluster_offsets[c]; p < layout.cluster_offsets[c + 1]; ++p) {
                const float* row = input.vectors + static_cast<std::size_t>(layout.order[p]) * d;
                crc = crc32c::extend(crc, row, d * 4);
                section_crc = crc32c::extend(section_crc, row, d * 4);
                PUFFER_TRY(out.write(row, d * 4));
            }
            cluster_crcs[c] = crc;
        }
        trailer.vectors_crc = section_crc;
    }
    PUFFER_ASSERT(out.offset() == id_table_offset);

    // Id table.
    {
        std::string ids;
        ids.reserve(id_table_size);
        encoder enc(ids);
        for (std::size_t p = 0; p < n; ++p) {
            enc.put_string32(input.ids[layout.order[p]]);
        }
        trailer.id_table_crc = crc32c::value(ids);
        PUFFER_TRY(out.write(ids.data(), ids.size()));
    }

    // Payload offset table, then the blob; one crc per payload.
    std::vector<std::uint32_t> payload_crcs(n);
    {
        std::string table;
        table.reserve(n * payload_offset_entry_size_bytes);
        encoder enc(table);
        std::uint64_t offset = 0;
        for (std::size_t p = 0; p < n; ++p) {
            std::string_view payload = input.payloads.empty() ? std::string_view{}
                                                              : input.payloads[layout.order[p]];
            enc.put_u64(payload.empty() ? 0 : offset);
            enc.put_u32(static_cast<std::uint32_t>(payload.size()));
            offset += payload.size();
            payload_crcs[p] = crc32c::extend(payload_crc_seed(input.segment_id,
                                                              static_cast<std::uint32_t>(p)),
                                             payload.data(), payload.size());
        }
        trailer.payload_offsets_crc = crc32c::value(table);
        PUFFER_TRY(out.write(table.data(), table.size()));
        std::uint32_t blob_crc = 0;
        for (std::size_t p = 0; p < n && !input.payloads.empty(); ++p) {
            std::string_view payload = input.payloads[layout.order[p]];
            blob_crc = crc32c::extend(blob_crc, payload.data(), payload.size());
            PUFFER_TRY(out.write(payload.data(), payload.size()));
        }
        trailer.payload_blob_crc = blob_crc;
    }
    for (std::size_t i = 0; i < entries.size(); ++i) {
        PUFFER_TRY(out.zeros(entries[i].offset_bytes - out.offset()));
        PUFFER_TRY(out.write(input.sections[i].bytes.data(), input.sections[i].bytes.size()));
    }
    PUFFER_TRY(out.zeros(footer_offset - out.offset()));

    // Footer: checksum tables, then the trailer.
    {
        std::string tables;
        tables.reserve(tables_size);
        encoder enc(tables);
        for (std::uint32_t crc : cluster_crcs) {
            enc.put_u32(crc);
        }
        for (std::uint32_t crc : payload_crcs) {
            enc.put_u32(crc);
        }
        trailer.tables_crc = crc32c::value(tables);
        PUFFER_TRY(out.write(tables.data(), tables.size()));
        std::byte trailer_bytes[segment_trailer_size_bytes];
        encode_trailer(trailer, trailer_bytes);
        PUFFER_TRY(out.write(trailer_bytes, sizeof trailer_bytes));
    }
    PUFFER_ASSERT(out.offset() == file_size);
    PUFFER_TRY(out.drain());
    PUFFER_TRY(f->sync());

    segment_file_info info;
    info.file_size_bytes = file_size;
    info.vector_count = header.vector_count;
    info.cluster_count = header.cluster_count;
    return info;
}

}  // namespace puffer::format
