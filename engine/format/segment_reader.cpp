#include "engine/format/segment_reader.hpp"

#include "engine/core/aligned_buffer.hpp"
#include "engine/core/coding.hpp"
#include "engine/core/crc32c.hpp"
#include "engine/core/log.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace puffer::format {
namespace {

using ull = unsigned long long;

error corrupt(const std::string& path, std::uint64_t offset, const std::string& what)
{
    return make_error(errc::corruption,
                      strprintf("%s: offset %llu: %s", path.c_str(), static_cast<ull>(offset), what.c_str()));
}

std::string hex_bytes(const std::byte* p, std::size_t n)
{
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += strprintf("%02x", static_cast<unsigned>(p[i]));
    }
    return out;
}

status read_exact(io::file& f, std::uint64_t offset, std::span<std::byte> out, const std::string& what)
{
    PUFFER_TRY_ASSIGN(std::size_t n, f.read_at(offset, out));
    if (n != out.size()) {
        return corrupt(f.path(), offset + n,
                       strprintf("%s: file ends after %zu of %zu bytes", what.c_str(), n, out.size()));
    }
    return ok();
}

status check_crc(const std::string& path, std::uint64_t offset, const char* section,
                 std::uint32_t stored, std::uint32_t computed)
{
    if (stored != computed) {
        return corrupt(path, offset,
                       strprintf("%s crc32c mismatch (stored 0x%08x, computed 0x%08x)", section,
                                 stored, computed));
    }
    return ok();
}

}  // namespace

result<segment_reader> segment_reader::open(io::env& e, const std::string& path,
                                            std::optional<std::uint64_t> expected_segment_id)
{
    segment_reader r;
    r.path_ = path;
    PUFFER_TRY_ASSIGN(auto f, e.open(path, io::open_mode::read));
    PUFFER_TRY_ASSIGN(r.file_size_, f->size());
    const std::uint64_t size = r.file_size_;

    // 1. Minimum size.
    if (size < segment_header_size_bytes + segment_trailer_size_bytes) {
        return corrupt(path, 0, strprintf("file is %llu bytes, smaller than header + trailer (%zu)",
                                          static_cast<ull>(size),
                                          segment_header_size_bytes + segment_trailer_size_bytes));
    }

    // 2. Magic, 3. version.
    std::byte hb[segment_header_size_bytes];
    PUFFER_TRY(read_exact(*f, 0, hb, "header"));
    if (std::memcmp(hb, segment_magic.data(), segment_magic.size()) != 0) {
        return corrupt(path, header_magic_offset,
                       "bad magic: expected 50525345473100 (\"PRSEG1\\0\"), found " +
                           hex_bytes(hb, segment_magic.size()));
    }
    segment_header& h = r.header_;
    h.version = get_fixed32_le(hb + header_version_offset);
    if (h.version < segment_version_min_read || h.version > segment_version_current) {
        // A version this build does not know, or a damaged one: if the trailer (the same in
        // every version so far) holds a header crc the header does not match, it is damage.
        std::byte tb[segment_trailer_size_bytes];
        if (read_exact(*f, size - segment_trailer_size_bytes, tb, "trailer") &&
            std::memcmp(tb, segment_trailer_magic.data(), segment_trailer_magic.size()) == 0 &&
            get_fixed32_le(tb + trailer_crc_offset) == crc32c::value(tb, trailer_crc_offset) &&
            get_fixed32_le(tb + trailer_header_crc_offset) != crc32c::value(hb, sizeof hb)) {
            return check_crc(path, 0, "header", get_fixed32_le(tb + trailer_header_crc_offset),
                             crc32c::value(hb, sizeof hb)).error();
        }
        return make_error(errc::unsupported_version,
                          strprintf("%s: offset %zu: segment version %u; this build reads versions "
                                    "%u to %u", path.c_str(), header_version_offset, h.version,
                                    segment_version_min_read, segment_version_current));
    }
    h.dimension = get_fixed32_le(hb + header_dimension_offset);
    std::uint8_t metric_code = get_fixed8(hb + header_metric_offset);
    h.vector_count = get_fixed32_le(hb + header_vector_count_offset);
    h.cluster_count = get_fixed32_le(hb + header_cluster_count_offset);
    for (std::size_t i = 0; i < section_count; ++i) {
        h.section_offsets[i] = get_fixed64_le(hb + header_section_offsets_offset + 8 * i);
    }

    // Trailer: magic and its own crc, then the header crc.
    std::byte tb[segment_trailer_size_bytes];
    const std::uint64_t trailer_offset = size - segment_trailer_size_bytes;
    PUFFER_TRY(read_exact(*f, trailer_offset, tb, "trailer"));
    if (std::memcmp(tb, segment_trailer_magic.data(), segment_trailer_magic.size()) != 0) {
        return corrupt(path, trailer_offset,
                       "bad trailer magic (file truncated or not a complete segment): expected "
                       "5052534547454e44 (\"PRSEGEND\"), found " +
                           hex_bytes(tb, segment_trailer_magic.size()));
    }
    PUFFER_TRY(check_crc(path, trailer_offset + trailer_crc_offset, "trailer",
                         get_fixed32_le(tb + trailer_crc_offset), crc32c::value(tb, trailer_crc_offset)));
    segment_trailer& t = r.trailer_;
    t.segment_id = get_fixed64_le(tb + trailer_segment_id_offset);
    t.payload_blob_size = get_fixed64_le(tb + trailer_payload_blob_size_offset);
    t.footer_offset = get_fixed64_le(tb + trailer_footer_offset_offset);
    t.header_crc = get_fixed32_le(tb + trailer_header_crc_offset);
    t.cluster_meta_crc = get_fixed32_le(tb + trailer_cluster_meta_crc_offset);
    t.vectors_crc = get_fixed32_le(tb + trailer_vectors_crc_offset);
    t.id_table_crc = get_fixed32_le(tb + trailer_id_table_crc_offset);
    t.payload_offsets_crc = get_fixed32_le(tb + trailer_payload_offsets_crc_offset);
    t.payload_blob_crc = get_fixed32_le(tb + trailer_payload_blob_crc_offset);
    t.tables_crc = get_fixed32_le(tb + trailer_tables_crc_offset);
    PUFFER_TRY(check_crc(path, 0, "header", t.header_crc, crc32c::value(hb, sizeof hb)));
    if (expected_segment_id && *expected_segment_id != t.segment_id) {
        return corrupt(path, trailer_offset + trailer_segment_id_offset,
                       strprintf("segment id: expected %llu, found %llu",
                                 static_cast<ull>(*expected_segment_id), static_cast<ull>(t.segment_id)));
    }

    // Header fields and section offsets.
    if (h.dimension < 1 || h.dimension > dimension_max) {
        return corrupt(path, header_dimension_offset,
                       strprintf("dimension %u outside 1..%u", h.dimension, dimension_max));
    }
    if (!metric_from_code(metric_code, h.distance_metric)) {
        return corrupt(path, header_metric_offset, strprintf("unknown metric code %u", metric_code));
    }
    // Version 1 has at most one cluster per row; from version 2 a segment may share its
    // collection's centroid table, which has more clusters than a small segment has rows.
    if (h.vector_count < 1 || h.cluster_count < 1 || (h.version == 1 && h.cluster_count > h.vector_count)) {
        return corrupt(path, header_vector_count_offset,
                       strprintf("counts: %u vectors in %u clusters (need 1 <= clusters%s)", h.vector_count,
                                 h.cluster_count, h.version == 1 ? " <= vectors" : ""));
    }

    // Version 2: the section directory after the header.
    std::size_t directory_entries = 0;
    if (h.version >= 2) {
        std::byte dh[directory_header_size_bytes];
        PUFFER_TRY(read_exact(*f, directory_offset, dh, "section directory"));
        std::uint32_t stored_crc = get_fixed32_le(dh);
        directory_entries = get_fixed32_le(dh + 4);
        if (directory_entries > directory_entries_max ||
            directory_offset + directory_size_bytes(directory_entries) > size) {
            return corrupt(path, directory_offset + 4,
                           strprintf("section directory: %zu entries (at most %zu)", directory_entries,
                                     directory_entries_max));
        }
        std::string dir(directory_size_bytes(directory_entries) - 4, '\0');
        PUFFER_TRY(read_exact(*f, directory_offset + 4, std::as_writable_bytes(std::span(dir)), "section directory"));
        PUFFER_TRY(check_crc(path, directory_offset, "section directory", stored_crc, crc32c::value(dir)));
        decoder dd(dir.data() + 4, dir.size() - 4);
        for (std::size_t i = 0; i < directory_entries; ++i) {
            section_entry e;
            std::uint32_t reserved = 0;
            bool fits = dd.get_u32(e.kind) && dd.get_u32(e.flags) && dd.get_u64(e.offset_bytes) &&
                        dd.get_u64(e.size_bytes) && dd.get_u32(e.crc) && dd.get_u32(reserved);
            PUFFER_ASSERT(fits);
            std::uint64_t at = directory_offset + directory_header_size_bytes + i * directory_entry_size_bytes;
            if (reserved != 0 || (e.flags & ~section_flag_required) != 0) {
                return make_error(errc::unsupported_version,
                                  strprintf("%s: offset %llu: section %zu: unknown flags 0x%x or nonzero reserved "
                                            "bytes (a newer format)",
                                            path.c_str(), static_cast<ull>(at), i, e.flags));
            }
            bool known = e.kind >= static_cast<std::uint32_t>(section_kind::recall_curve) &&
                         e.kind <= static_cast<std::uint32_t>(section_kind::row_checksums);
            for (const section_entry& before : r.sections_) {
                if (known && before.kind == e.kind) {
                    return corrupt(path, at, strprintf("section %zu repeats kind %u", i, e.kind));
                }
            }
            if (!known && (e.flags & section_flag_required) != 0) {
                return make_error(errc::unsupported_version,
                                  strprintf("%s: offset %llu: section %zu has kind %u, which this build does not "
                                            "know and the file requires",
                                            path.c_str(), static_cast<ull>(at), i, e.kind));
            }
            r.sections_.push_back(e);
        }
    }
    const std::uint64_t n = h.vector_count;
    const std::uint64_t k = h.cluster_count;
    const std::uint64_t d = h.dimension;
    const std::uint64_t meta_size = k * cluster_meta_entry_size_bytes(h.dimension);
    const std::uint64_t tables_size = k * cluster_crc_entry_size_bytes + n * payload_crc_entry_size_bytes;
    struct expectation {
        const char* name;
        std::size_t field_offset;
        std::uint64_t found;
        std::uint64_t low;   // smallest valid value
        std::uint64_t high;  // largest valid value
    };
    const std::uint64_t meta_offset = h.section_offsets[0];
    const std::uint64_t vectors_offset = h.section_offsets[1];
    const std::uint64_t ids_offset = h.section_offsets[2];
    const std::uint64_t payload_offsets_offset = h.section_offsets[3];
    const std::uint64_t blob_offset = h.section_offsets[4];
    const std::uint64_t meta_expected =
        h.version >= 2 ? directory_offset + directory_size_bytes(directory_entries) : segment_header_size_bytes;
    const std::uint64_t vectors_expected = align_up(meta_expected + meta_size, segment_alignment_bytes);
    const expectation checks[] = {
        {"cluster metadata offset", header_section_offsets_offset, meta_offset, meta_expected, meta_expected},
        {"vector section offset", header_section_offsets_offset + 8, vectors_offset,
         vectors_expected, vectors_expected},
        {"id table offset", header_section_offsets_offset + 16, ids_offset,
         vectors_offset + n * d * 4, vectors_offset + n * d * 4},
        {"payload offset table offset", header_section_offsets_offset + 24, payload_offsets_offset,
         ids_offset + n * 5, ids_offset + n * (4 + id_size_bytes_max)},
        {"payload blob offset", header_section_offsets_offset + 32, blob_offset,
         payload_offsets_offset + n * payload_offset_entry_size_bytes,
         payload_offsets_offset + n * payload_offset_entry_size_bytes},
        // Bounded before the footer bounds add it to the blob offset: a size near 2^64 would wrap
        // them, and payload entries checked against that size could point anywhere.
        {"payload blob size", trailer_offset + trailer_payload_blob_size_offset, t.payload_blob_size,
         0, size},
    };
    auto check_all = [&](std::span<const expectation> list) -> status {
        for (const auto& c : list) {
            if (c.found < c.low || c.found > c.high) {
                return corrupt(path, c.field_offset,
                               strprintf("%s %llu outside the valid range %llu..%llu (file is %llu bytes)", c.name,
                                         static_cast<ull>(c.found), static_cast<ull>(c.low),
                                         static_cast<ull>(c.high), static_cast<ull>(size)));
            }
        }
        return ok();
    };
    PUFFER_TRY(check_all(checks));
    // Extra sections: each on the next 4096-byte boundary after the blob or the section before.
    std::uint64_t extras_end = blob_offset + t.payload_blob_size;
    for (std::size_t i = 0; i < r.sections_.size(); ++i) {
        const section_entry& e = r.sections_[i];
        std::uint64_t at = directory_offset + directory_header_size_bytes + i * directory_entry_size_bytes;
        std::uint64_t expected = align_up(extras_end, segment_alignment_bytes);
        if (e.offset_bytes != expected || e.size_bytes > size || e.offset_bytes + e.size_bytes > trailer_offset) {
            return corrupt(path, at + 8,
                           strprintf("section %zu at offset %llu, %llu bytes: expected it at %llu, inside the file", i,
                                     static_cast<ull>(e.offset_bytes), static_cast<ull>(e.size_bytes),
                                     static_cast<ull>(expected)));
        }
        extras_end = e.offset_bytes + e.size_bytes;
    }
    const expectation footer_checks[] = {
        {"footer offset", trailer_offset + trailer_footer_offset_offset, t.footer_offset, extras_end,
         extras_end + segment_alignment_bytes},
        {"file size", trailer_offset, size, t.footer_offset + tables_size + segment_trailer_size_bytes,
         t.footer_offset + tables_size + segment_trailer_size_bytes},
    };
    PUFFER_TRY(check_all(footer_checks));
    if (size % segment_alignment_bytes != 0) {
        return corrupt(path, size, strprintf("file size %llu is not a multiple of %zu",
                                             static_cast<ull>(size), segment_alignment_bytes));
    }

    // Checksummed sections.
    std::string meta(vectors_offset - meta_offset, '\0');
    PUFFER_TRY(read_exact(*f, meta_offset, std::as_writable_bytes(std::span(meta)), "cluster metadata"));
    PUFFER_TRY(check_crc(path, meta_offset, "cluster metadata", t.cluster_meta_crc,
                         crc32c::value(meta.data(), meta_size)));
    for (std::uint64_t i = meta_size; i < meta.size(); ++i) {
        if (meta[i] != 0) {
            return corrupt(path, meta_offset + i, "nonzero byte in the padding before the vectors");
        }
    }
    std::string small(blob_offset - ids_offset, '\0');  // id table + payload offset table
    PUFFER_TRY(read_exact(*f, ids_offset, std::as_writable_bytes(std::span(small)), "id table"));
    const std::uint64_t ids_size = payload_offsets_offset - ids_offset;
    PUFFER_TRY(check_crc(path, ids_offset, "id table", t.id_table_crc, crc32c::value(small.data(), ids_size)));
    PUFFER_TRY(check_crc(path, payload_offsets_offset, "payload offset table", t.payload_offsets_crc,
                         crc32c::value(small.data() + ids_size, small.size() - ids_size)));
    // The zero padding before each extra section, and the small sections this build reads.
    std::uint64_t section_start = blob_offset + t.payload_blob_size;
    for (const section_entry& e : r.sections_) {
        std::string gap(e.offset_bytes - section_start, '\0');
        PUFFER_TRY(read_exact(*f, section_start, std::as_writable_bytes(std::span(gap)), "padding"));
        for (std::size_t i = 0; i < gap.size(); ++i) {
            if (gap[i] != 0) {
                return corrupt(path, section_start + i, "nonzero byte in the padding before a section");
            }
        }
        if (e.kind == static_cast<std::uint32_t>(section_kind::recall_curve)) {
            std::string bytes(e.size_bytes, '\0');
            PUFFER_TRY(read_exact(*f, e.offset_bytes, std::as_writable_bytes(std::span(bytes)), "recall curve"));
            PUFFER_TRY(check_crc(path, e.offset_bytes, "recall curve", e.crc, crc32c::value(bytes)));
            PUFFER_TRY_ASSIGN(r.recall_curve_, decode_recall_curve(bytes, k, path, e.offset_bytes));
        } else if (e.kind == static_cast<std::uint32_t>(section_kind::attribute_index)) {
            std::string bytes(e.size_bytes, '\0');
            PUFFER_TRY(read_exact(*f, e.offset_bytes, std::as_writable_bytes(std::span(bytes)), "attribute index"));
            PUFFER_TRY(check_crc(path, e.offset_bytes, "attribute index", e.crc, crc32c::value(bytes)));
            PUFFER_TRY_ASSIGN(auto attrs, index::attribute_index::decode(bytes, n, path, e.offset_bytes));
            r.attributes_ = std::make_shared<const index::attribute_index>(std::move(attrs));
        } else if (e.kind == static_cast<std::uint32_t>(section_kind::sq8_params)) {
            std::string bytes(e.size_bytes, '\0');
            PUFFER_TRY(read_exact(*f, e.offset_bytes, std::as_writable_bytes(std::span(bytes)), "sq8 parameters"));
            PUFFER_TRY(check_crc(path, e.offset_bytes, "sq8 parameters", e.crc, crc32c::value(bytes)));
            PUFFER_TRY(r.decode_sq8_params(bytes, e.offset_bytes));
        } else if (e.kind == static_cast<std::uint32_t>(section_kind::rabitq_params)) {
            std::string bytes(e.size_bytes, '\0');
            PUFFER_TRY(read_exact(*f, e.offset_bytes, std::as_writable_bytes(std::span(bytes)), "rabitq parameters"));
            PUFFER_TRY(check_crc(path, e.offset_bytes, "rabitq parameters", e.crc, crc32c::value(bytes)));
            PUFFER_TRY(r.decode_rabitq_params(bytes, e.offset_bytes));
        } else if (e.kind == static_cast<std::uint32_t>(section_kind::sq8_codes) ||
                   e.kind == static_cast<std::uint32_t>(section_kind::rabitq_codes)) {
            if (r.codes_offset_ != 0) {
                return corrupt(path, e.offset_bytes, "a segment holds one kind of codes; this is a second codes section");
            }
            r.codes_offset_ = e.offset_bytes;
            r.codes_size_ = e.size_bytes;
            r.codes_ = e.kind == static_cast<std::uint32_t>(section_kind::sq8_codes) ? index::quantization::sq8
                                                                                       : index::quantization::rabitq;
        } else if (e.kind == static_cast<std::uint32_t>(section_kind::row_checksums)) {
            if (e.size_bytes != n * 4) {
                return corrupt(path, e.offset_bytes,
                               strprintf("row checksums: %llu bytes for %llu rows (expected %llu)",
                                         static_cast<ull>(e.size_bytes), static_cast<ull>(n),
                                         static_cast<ull>(n * 4)));
            }
            r.row_crcs_.resize(n);
            PUFFER_TRY(read_exact(*f, e.offset_bytes, std::as_writable_bytes(std::span(r.row_crcs_)), "row checksums"));
            PUFFER_TRY(check_crc(path, e.offset_bytes, "row checksums", e.crc,
                                 crc32c::value(r.row_crcs_.data(), r.row_crcs_.size() * 4)));
            for (auto& crc : r.row_crcs_) {
                crc = get_fixed32_le(reinterpret_cast<const std::byte*>(&crc));
            }
        }
        section_start = e.offset_bytes + e.size_bytes;
    }
    const std::uint64_t padding_offset = extras_end;
    std::string tail(trailer_offset - padding_offset, '\0');  // padding + checksum tables
    PUFFER_TRY(read_exact(*f, padding_offset, std::as_writable_bytes(std::span(tail)), "footer"));
    const std::uint64_t padding_size = t.footer_offset - padding_offset;
    for (std::uint64_t i = 0; i < padding_size; ++i) {
        if (tail[i] != 0) {
            return corrupt(path, padding_offset + i, "nonzero byte in the padding before the footer");
        }
    }
    PUFFER_TRY(check_crc(path, t.footer_offset, "checksum tables", t.tables_crc,
                         crc32c::value(tail.data() + padding_size, tables_size)));

    // Contents: cluster extents must tile 0..n in order.
    decoder md(meta.data(), meta_size);
    r.centroids_.resize(k * d);
    r.cluster_starts_.resize(k + 1);
    std::uint32_t expected_start = 0;
    for (std::uint64_t c = 0; c < k; ++c) {
        std::uint32_t start = 0;
        std::uint32_t length = 0;
        bool fits = md.get_bytes(r.centroids_.data() + c * d, d * 4) && md.get_u32(start) && md.get_u32(length);
        PUFFER_ASSERT(fits);  // sizes were checked above
        if (start != expected_start || length > n - start) {
            return corrupt(path, meta_offset + c * cluster_meta_entry_size_bytes(h.dimension) + d * 4,
                           strprintf("cluster %llu extent: start %u length %u, expected start %u "
                                     "within %llu vectors",
                                     static_cast<ull>(c), start, length, expected_start, static_cast<ull>(n)));
        }
        r.cluster_starts_[c] = start;
        expected_start = start + length;
    }
    if (expected_start != n) {
        return corrupt(path, meta_offset, strprintf("clusters hold %u vectors, header says %llu",
                                                    expected_start, static_cast<ull>(n)));
    }
    r.cluster_starts_[k] = expected_start;
    for (float v : r.centroids_) {
        if (!std::isfinite(v)) {
            return corrupt(path, meta_offset, "non-finite centroid value");
        }
    }

    // Ids: n length-prefixed strings filling the table exactly.
    decoder idd(small.data(), ids_size);
    r.id_offsets_.resize(n + 1);
    r.id_bytes_.reserve(ids_size - 4 * n);
    for (std::uint64_t p = 0; p < n; ++p) {
        std::string_view id;
        std::size_t at = idd.position();
        if (!idd.get_string32(id, id_size_bytes_max) || id.empty()) {
            return corrupt(path, ids_offset + at,
                           strprintf("id %llu: bad length (ids are 1..%zu bytes)", static_cast<ull>(p),
                                     id_size_bytes_max));
        }
        r.id_offsets_[p] = static_cast<std::uint32_t>(r.id_bytes_.size());
        r.id_bytes_.append(id);
    }
    r.id_offsets_[n] = static_cast<std::uint32_t>(r.id_bytes_.size());
    if (!idd.done()) {
        return corrupt(path, ids_offset + idd.position(), "id table has trailing bytes");
    }

    // Payload locations within the blob.
    decoder pd(small.data() + ids_size, small.size() - ids_size);
    r.payload_offsets_.resize(n);
    r.payload_sizes_.resize(n);
    for (std::uint64_t p = 0; p < n; ++p) {
        std::uint64_t offset = 0;
        std::uint32_t length = 0;
        bool fits = pd.get_u64(offset) && pd.get_u32(length);
        PUFFER_ASSERT(fits);
        if (length > payload_size_bytes_max || offset > t.payload_blob_size ||
            length > t.payload_blob_size - offset) {
            return corrupt(path, payload_offsets_offset + p * payload_offset_entry_size_bytes,
                           strprintf("payload %llu: offset %llu length %u outside the %llu-byte blob",
                                     static_cast<ull>(p), static_cast<ull>(offset), length,
                                     static_cast<ull>(t.payload_blob_size)));
        }
        r.payload_offsets_[p] = offset;
        r.payload_sizes_[p] = length;
    }

    decoder cd(tail.data() + padding_size, tables_size);
    r.cluster_crcs_.resize(k);
    r.payload_crcs_.resize(n);
    for (auto& crc : r.cluster_crcs_) {
        bool fits = cd.get_u32(crc);
        PUFFER_ASSERT(fits);
    }
    for (auto& crc : r.payload_crcs_) {
        bool fits = cd.get_u32(crc);
        PUFFER_ASSERT(fits);
    }
    // The codes and their parameters come together, and the blocks fill the codes section.
    if (r.sq8_.has_value() != (r.codes_ == index::quantization::sq8)) {
        return corrupt(path, directory_offset, "a segment with sq8 codes needs both the parameters and the codes section");
    }
    if (r.rabitq_.has_value() != (r.codes_ == index::quantization::rabitq)) {
        return corrupt(path, directory_offset,
                       "a segment with rabitq codes needs both the parameters and the codes section");
    }
    if (r.codes_ != index::quantization::none) {
        r.code_offsets_.resize(k + 1);
        std::uint64_t at = 0;
        for (std::uint64_t c = 0; c < k; ++c) {
            at = align_up(at, code_block_alignment_bytes);
            r.code_offsets_[c] = at;
            at += r.code_block_bytes(c);
        }
        r.code_offsets_[k] = at;
        if (at != r.codes_size_) {
            return corrupt(path, r.codes_offset_,
                           strprintf("%s codes section is %llu bytes; the clusters' blocks take %llu",
                                     std::string(index::to_string(r.codes_)).c_str(),
                                     static_cast<ull>(r.codes_size_), static_cast<ull>(at)));
        }
    }
    if (r.rabitq_) {
        // The centroids in the rotated space: what an l2 query's rotated residual needs.
        r.rotated_centroids_.resize(k * r.rabitq_->padded());
        index::rabitq_rotate_rows(*r.rabitq_, r.centroids_.data(), k, r.rotated_centroids_.data());
    }
    if (!r.attributes_ && t.payload_blob_size != 0) {
        // Written before segments held their attribute index: index the payloads now, from one
        // read of the blob. A payload that fails its crc is left out of the index (its own reads
        // keep failing: data sections are verified when they are read, not here).
        std::string blob(t.payload_blob_size, '\0');
        PUFFER_TRY(read_exact(*f, blob_offset, std::as_writable_bytes(std::span(blob)), "payload blob"));
        index::attribute_index attrs;
        for (std::uint64_t p = 0; p < n; ++p) {
            std::string_view payload = std::string_view(blob).substr(r.payload_offsets_[p], r.payload_sizes_[p]);
            if (auto s = r.verify_payload(p, payload); !s) {
                PUFFER_LOG(error, "%s (not indexed for filters)", s.error().message().c_str());
                continue;
            }
            attrs.add(static_cast<std::uint32_t>(p), payload);
        }
        attrs.seal(n);
        if (!attrs.empty()) {
            r.attributes_ = std::make_shared<const index::attribute_index>(std::move(attrs));
        }
    }
    return r;
}

byte_range segment_reader::cluster_range(std::size_t c) const
{
    const std::uint64_t row_bytes = static_cast<std::uint64_t>(header_.dimension) * 4;
    return {header_.offset_of(section::vectors) + cluster_starts_[c] * row_bytes,
            cluster_length(c) * row_bytes};
}

byte_range segment_reader::payload_range(std::size_t p) const
{
    return {header_.offset_of(section::payload_blob) + payload_offsets_[p], payload_sizes_[p]};
}

status segment_reader::verify_cluster(std::size_t c, const void* data) const
{
    byte_range range = cluster_range(c);
    std::uint32_t computed = crc32c::extend(cluster_crc_seed(segment_id(), static_cast<std::uint32_t>(c)),
                                            data, range.size_bytes);
    if (computed != cluster_crcs_[c]) {
        return corrupt(path_, range.offset_bytes,
                       strprintf("cluster %zu crc32c mismatch (stored 0x%08x, computed 0x%08x)", c,
                                 cluster_crcs_[c], computed));
    }
    return ok();
}

status segment_reader::decode_sq8_params(std::string_view bytes, std::uint64_t offset)
{
    const std::size_t d = dimension();
    const std::size_t k = cluster_count();
    if (bytes.size() != sq8_params_section_bytes(d, k)) {
        return corrupt(path_, offset,
                       strprintf("sq8 parameters: %zu bytes (expected %zu for dimension %zu and %zu clusters)",
                                 bytes.size(), sq8_params_section_bytes(d, k), d, k));
    }
    decoder dec(bytes.data(), bytes.size());
    std::uint32_t flags = 0;
    std::uint32_t dim = 0;
    index::sq8_params p;
    p.low.resize(d);
    p.step.resize(d);
    code_crcs_.resize(k);
    bool fits = dec.get_u32(flags) && dec.get_u32(dim) && dec.get_bytes(p.low.data(), d * 4) &&
                dec.get_bytes(p.step.data(), d * 4);
    for (auto& crc : code_crcs_) {
        fits = fits && dec.get_u32(crc);
    }
    PUFFER_ASSERT(fits && dec.done());
    if ((flags & ~sq8_flag_residual) != 0 || dim != d) {
        return corrupt(path_, offset, strprintf("sq8 parameters: flags 0x%x or dimension %u (expected %zu)", flags, dim, d));
    }
    for (std::size_t j = 0; j < d; ++j) {
        if (!std::isfinite(p.low[j]) || !std::isfinite(p.step[j]) || p.step[j] < 0) {
            return corrupt(path_, offset + 8 + 4 * j, strprintf("sq8 parameters: dimension %zu has low %g, step %g", j,
                                                                static_cast<double>(p.low[j]),
                                                                static_cast<double>(p.step[j])));
        }
    }
    p.residual = (flags & sq8_flag_residual) != 0;
    sq8_ = std::move(p);
    return ok();
}

status segment_reader::decode_rabitq_params(std::string_view bytes, std::uint64_t offset)
{
    const std::size_t d = dimension();
    const std::size_t k = cluster_count();
    if (bytes.size() != rabitq_params_section_bytes(d, k)) {
        return corrupt(path_, offset,
                       strprintf("rabitq parameters: %zu bytes (expected %zu for dimension %zu and %zu clusters)",
                                 bytes.size(), rabitq_params_section_bytes(d, k), d, k));
    }
    decoder dec(bytes.data(), bytes.size());
    std::uint32_t flags = 0;
    std::uint32_t dim = 0;
    std::uint32_t padded = 0;
    std::uint32_t reserved = 0;
    index::rabitq_params p;
    p.dimension = d;
    p.rotation.resize(index::rabitq_padded(d) * d);
    code_crcs_.resize(k);
    bool fits = dec.get_u32(flags) && dec.get_u32(dim) && dec.get_u32(padded) && dec.get_u32(reserved) &&
                dec.get_bytes(p.rotation.data(), p.rotation.size() * 4);
    for (auto& crc : code_crcs_) {
        fits = fits && dec.get_u32(crc);
    }
    PUFFER_ASSERT(fits && dec.done());
    if (flags != 0 || reserved != 0 || dim != d || padded != index::rabitq_padded(d)) {
        return corrupt(path_, offset,
                       strprintf("rabitq parameters: flags 0x%x, dimension %u, padded %u, reserved %u (expected 0, "
                                 "%zu, %zu, 0)",
                                 flags, dim, padded, reserved, d, index::rabitq_padded(d)));
    }
    // A rotation's entries lie in [-1, 1] (its rows have unit length).
    for (std::size_t j = 0; j < p.rotation.size(); ++j) {
        if (!(std::fabs(p.rotation[j]) <= 1.0f)) {
            return corrupt(path_, offset + 16 + 4 * j,
                           strprintf("rabitq parameters: rotation entry %zu is %g", j,
                                     static_cast<double>(p.rotation[j])));
        }
    }
    rabitq_ = std::move(p);
    return ok();
}

std::size_t segment_reader::code_block_bytes(std::size_t c) const
{
    return codes_ == index::quantization::sq8 ? index::sq8_block_bytes(cluster_length(c), dimension())
                                              : index::rabitq_block_bytes(cluster_length(c), dimension());
}

byte_range segment_reader::code_range(std::size_t c) const
{
    return {codes_offset_ + code_offsets_[c], code_block_bytes(c)};
}

status segment_reader::verify_codes(std::size_t c, const void* data) const
{
    byte_range range = code_range(c);
    std::uint32_t computed =
        crc32c::extend(code_crc_seed(segment_id(), static_cast<std::uint32_t>(c)), data, range.size_bytes);
    if (computed != code_crcs_[c]) {
        return corrupt(path_, range.offset_bytes,
                       strprintf("%s codes of cluster %zu crc32c mismatch (stored 0x%08x, computed 0x%08x)",
                                 std::string(index::to_string(codes_)).c_str(), c, code_crcs_[c], computed));
    }
    return ok();
}

byte_range segment_reader::row_range(std::size_t p) const
{
    const std::uint64_t row_bytes = static_cast<std::uint64_t>(header_.dimension) * 4;
    return {header_.offset_of(section::vectors) + p * row_bytes, row_bytes};
}

status segment_reader::verify_row(std::size_t p, const void* data) const
{
    byte_range range = row_range(p);
    std::uint32_t computed =
        crc32c::extend(row_crc_seed(segment_id(), static_cast<std::uint32_t>(p)), data, range.size_bytes);
    if (computed != row_crcs_[p]) {
        return corrupt(path_, range.offset_bytes, strprintf("row %zu crc32c mismatch (stored 0x%08x, computed 0x%08x)",
                                                            p, row_crcs_[p], computed));
    }
    return ok();
}

std::size_t segment_reader::cluster_of(std::size_t p) const
{
    auto it = std::upper_bound(cluster_starts_.begin(), cluster_starts_.end(), static_cast<std::uint32_t>(p));
    return static_cast<std::size_t>(it - cluster_starts_.begin()) - 1;
}

status segment_reader::verify_payload(std::size_t p, std::string_view data) const
{
    std::uint32_t computed = crc32c::extend(payload_crc_seed(segment_id(), static_cast<std::uint32_t>(p)),
                                            data.data(), data.size());
    if (computed != payload_crcs_[p] || data.size() != payload_sizes_[p]) {
        return corrupt(path_, payload_range(p).offset_bytes,
                       strprintf("payload %zu crc32c mismatch (stored 0x%08x, computed 0x%08x)", p,
                                 payload_crcs_[p], computed));
    }
    return ok();
}

status segment_reader::read_cluster(io::file& f, std::size_t c, std::vector<float>& out) const
{
    byte_range range = cluster_range(c);
    out.resize(range.size_bytes / 4);
    PUFFER_TRY(read_exact(f, range.offset_bytes, std::as_writable_bytes(std::span(out)), "cluster"));
    return verify_cluster(c, out.data());
}

result<std::string> segment_reader::read_payload(io::file& f, std::size_t p) const
{
    byte_range range = payload_range(p);
    std::string out(range.size_bytes, '\0');
    PUFFER_TRY(read_exact(f, range.offset_bytes, std::as_writable_bytes(std::span(out)), "payload"));
    PUFFER_TRY(verify_payload(p, out));
    return out;
}

status segment_reader::verify_all(io::env& e) const
{
    PUFFER_TRY_ASSIGN(auto f, e.open(path_, io::open_mode::read));
    std::vector<float> cluster;
    std::uint32_t section_crc = 0;
    for (std::size_t c = 0; c < cluster_count(); ++c) {
        PUFFER_TRY(read_cluster(*f, c, cluster));
        section_crc = crc32c::extend(section_crc, cluster.data(), cluster.size() * 4);
    }
    PUFFER_TRY(check_crc(path_, header_.offset_of(section::vectors), "vector section",
                         trailer_.vectors_crc, section_crc));
    std::uint32_t blob_crc = 0;
    for (std::size_t p = 0; p < vector_count(); ++p) {
        PUFFER_TRY_ASSIGN(std::string payload, read_payload(*f, p));
        blob_crc = crc32c::extend(blob_crc, payload.data(), payload.size());
    }
    PUFFER_TRY(check_crc(path_, header_.offset_of(section::payload_blob), "payload blob", trailer_.payload_blob_crc,
                         blob_crc));
    for (const section_entry& e : sections_) {
        std::string bytes(e.size_bytes, '\0');
        PUFFER_TRY(read_exact(*f, e.offset_bytes, std::as_writable_bytes(std::span(bytes)), "section"));
        PUFFER_TRY(check_crc(path_, e.offset_bytes, strprintf("section (kind %u)", e.kind).c_str(), e.crc,
                             crc32c::value(bytes)));
    }
    return ok();
}

}  // namespace puffer::format
