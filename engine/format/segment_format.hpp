#pragma once
// PRSEG1 segment files: every constant of the format. docs/format.md is the byte-exact spec this
// header implements; tests/unit/format/segment_format_test.cpp pins it with a golden hex dump.

#include "engine/core/distance.hpp"
#include "engine/core/result.hpp"
#include "engine/index/recall_curve.hpp"
#include "engine/index/rabitq.hpp"
#include "engine/index/sq8.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::format {

inline constexpr std::string_view segment_magic{"PRSEG1\0", 7};
inline constexpr std::string_view segment_trailer_magic{"PRSEGEND", 8};

// Version 2 adds the section directory after the header, and lets a segment have more clusters
// than rows (it shares its collection's centroid table). Version 1 files stay readable.
inline constexpr std::uint32_t segment_version_current = 2;
inline constexpr std::uint32_t segment_version_min_write = 2;
inline constexpr std::uint32_t segment_version_min_read = 1;
static_assert(segment_version_min_read <= segment_version_min_write);
static_assert(segment_version_min_write <= segment_version_current);

inline constexpr std::size_t segment_header_size_bytes = 64;
inline constexpr std::size_t segment_trailer_size_bytes = 64;
// Header field offsets.
inline constexpr std::size_t header_magic_offset = 0;
inline constexpr std::size_t header_version_offset = 7;
inline constexpr std::size_t header_dimension_offset = 11;
inline constexpr std::size_t header_metric_offset = 15;
inline constexpr std::size_t header_vector_count_offset = 16;
inline constexpr std::size_t header_cluster_count_offset = 20;
inline constexpr std::size_t header_section_offsets_offset = 24;  // 5 x u64
inline constexpr std::size_t section_count = 5;
static_assert(header_section_offsets_offset + section_count * 8 == segment_header_size_bytes);

// Trailer field offsets (the last 64 bytes of the file).
inline constexpr std::size_t trailer_magic_offset = 0;
inline constexpr std::size_t trailer_segment_id_offset = 8;
inline constexpr std::size_t trailer_payload_blob_size_offset = 16;
inline constexpr std::size_t trailer_footer_offset_offset = 24;
inline constexpr std::size_t trailer_header_crc_offset = 32;
inline constexpr std::size_t trailer_cluster_meta_crc_offset = 36;
inline constexpr std::size_t trailer_vectors_crc_offset = 40;
inline constexpr std::size_t trailer_id_table_crc_offset = 44;
inline constexpr std::size_t trailer_payload_offsets_crc_offset = 48;
inline constexpr std::size_t trailer_payload_blob_crc_offset = 52;
inline constexpr std::size_t trailer_tables_crc_offset = 56;
inline constexpr std::size_t trailer_crc_offset = 60;
static_assert(trailer_crc_offset + 4 == segment_trailer_size_bytes);

// The vector section starts on this boundary and the file is padded to a multiple of it, so
// O_DIRECT reads of any cluster's aligned superset stay inside the file.
inline constexpr std::size_t segment_alignment_bytes = 4096;

inline constexpr std::size_t payload_offset_entry_size_bytes = 12;  // u64 offset, u32 length
inline constexpr std::size_t cluster_crc_entry_size_bytes = 4;
inline constexpr std::size_t payload_crc_entry_size_bytes = 4;

// Limits a reader enforces before allocating anything.
inline constexpr std::uint32_t dimension_max = 65536;
inline constexpr std::size_t id_size_bytes_max = 256;
inline constexpr std::size_t payload_size_bytes_max = 1u << 20;

enum class section : std::size_t {
    cluster_meta = 0,
    vectors = 1,
    id_table = 2,
    payload_offsets = 3,
    payload_blob = 4,
};

inline constexpr std::size_t cluster_meta_entry_size_bytes(std::uint32_t dimension)
{
    return static_cast<std::size_t>(dimension) * 4 + 8;  // centroid, start_index u32, length u32
}

// Version 2: the section directory at offset 64, right after the header: u32 crc (of the bytes
// after it, to the directory's end), u32 entry count, then the entries. Extra sections lie after
// the payload blob, each at the next 4096-byte boundary, before the footer.
inline constexpr std::size_t directory_offset = segment_header_size_bytes;
inline constexpr std::size_t directory_header_size_bytes = 8;
inline constexpr std::size_t directory_entry_size_bytes = 32;  // kind, flags, offset, length, crc, reserved
inline constexpr std::size_t directory_entries_max = 64;
inline constexpr std::size_t directory_size_bytes(std::size_t entries)
{
    return directory_header_size_bytes + entries * directory_entry_size_bytes;
}

enum class section_kind : std::uint32_t {
    recall_curve = 1,     // measured recall@k against probes (recall_curve below)
    attribute_index = 2,  // the payload fields' postings (index::attribute_index::encode)
    sq8_params = 3,       // the 8-bit codes' ranges and each cluster's code crc
    sq8_codes = 4,        // the 8-bit codes, cluster by cluster
    row_checksums = 5,    // one crc per row's float vector (reads of single rows: re-ranking)
    rabitq_params = 6,    // the 1-bit codes' rotation and each cluster's code crc
    rabitq_codes = 7,     // the 1-bit codes and their factors, cluster by cluster
};
// A reader that does not know a section's kind refuses the file if this flag is set, and
// ignores the section otherwise.
inline constexpr std::uint32_t section_flag_required = 1;

struct section_entry {
    std::uint32_t kind = 0;
    std::uint32_t flags = 0;
    std::uint64_t offset_bytes = 0;
    std::uint64_t size_bytes = 0;
    std::uint32_t crc = 0;  // crc32c of the section's bytes
};

// The recall curve section (index::recall_curve): u32 top_k, u32 queries, u32 point count, u32
// reserved (0), then per point u32 probes and f32 recall.
inline constexpr std::size_t recall_curve_header_size_bytes = 16;  // top_k, queries, count, skipped
inline constexpr std::size_t recall_neighbours_skipped_max = 64;
inline constexpr std::size_t recall_point_size_bytes = 8;

std::string encode_recall_curve(const index::recall_curve& c);
// The curve of a section's bytes, checked: sizes exact, 1 <= probes <= clusters ascending,
// recall in [0, 1] not decreasing. errc::corruption naming path and offset otherwise.
[[nodiscard]] result<index::recall_curve> decode_recall_curve(std::string_view bytes, std::size_t clusters,
                                                     const std::string& path, std::uint64_t offset);

// The sq8 parameters section: u32 flags (bit 0: residual codes), u32 dimension, f32 low[d],
// f32 step[d], then u32 crc[k] of each cluster's code block. The codes section: cluster c's
// block (index::sq8_block_bytes of its rows) at sq8_block_offset(c), each block starting on a
// 64-byte boundary of the section, zero bytes between.
inline constexpr std::uint32_t sq8_flag_residual = 1;
inline constexpr std::size_t code_block_alignment_bytes = 64;
std::size_t sq8_params_section_bytes(std::size_t dimension, std::size_t clusters);

// A codec's two sections (its parameters, its code blocks).
struct code_sections {
    std::string params;
    std::string codes;
};
// Encodes the rows of layout (vectors: source rows) with p, for segment segment_id.
code_sections encode_sq8_sections(std::uint64_t segment_id, const index::sq8_params& p, const float* vectors,
                                 const index::ivf_layout& layout);
// The rabitq parameters section: u32 flags (0), u32 dimension d, u32 padded dimension D, u32 0,
// f32 rotation[D * d] (index::rabitq_params), then u32 crc[k] of each cluster's code block. The
// codes section: cluster c's block (index::rabitq_block_bytes of its rows) laid out as sq8's.
std::size_t rabitq_params_section_bytes(std::size_t dimension, std::size_t clusters);
// Encodes the rows of layout with p, for segment segment_id (params: the rabitq_params section).
code_sections encode_rabitq_sections(std::uint64_t segment_id, const index::rabitq_params& p, const float* vectors,
                                    const index::ivf_layout& layout);

// The row checksums section: u32 crc per position of its 4d vector bytes, seeded by row_crc_seed.
std::string encode_row_checksums(std::uint64_t segment_id, const float* vectors, const index::ivf_layout& layout);

struct segment_header {
    std::uint32_t version = segment_version_current;
    std::uint32_t dimension = 0;
    metric distance_metric = metric::l2;
    std::uint32_t vector_count = 0;
    std::uint32_t cluster_count = 0;
    std::uint64_t section_offsets[section_count] = {};

    std::uint64_t offset_of(section s) const { return section_offsets[static_cast<std::size_t>(s)]; }
};

struct segment_trailer {
    std::uint64_t segment_id = 0;
    std::uint64_t payload_blob_size = 0;
    std::uint64_t footer_offset = 0;
    std::uint32_t header_crc = 0;
    std::uint32_t cluster_meta_crc = 0;
    std::uint32_t vectors_crc = 0;
    std::uint32_t id_table_crc = 0;
    std::uint32_t payload_offsets_crc = 0;
    std::uint32_t payload_blob_crc = 0;
    std::uint32_t tables_crc = 0;
};

void encode_header(const segment_header& h, std::byte* out);    // writes 64 bytes
void encode_trailer(const segment_trailer& t, std::byte* out);  // writes 64 bytes, with its crc

// Seed of a cluster's crc: binds the checksum to the segment and the cluster, so a read that
// lands on the wrong file or the wrong cluster fails verification even if the bytes are valid.
std::uint32_t cluster_crc_seed(std::uint64_t segment_id, std::uint32_t cluster_index);
// Seed of a payload's crc (same idea, per row position).
std::uint32_t payload_crc_seed(std::uint64_t segment_id, std::uint32_t position);

// Seed of a cluster's code block crc ('Q') and of one row's vector crc ('R').
std::uint32_t code_crc_seed(std::uint64_t segment_id, std::uint32_t cluster_index);
std::uint32_t row_crc_seed(std::uint64_t segment_id, std::uint32_t position);

// Segment file name for an id: 000012.seg.
std::string segment_file_name(std::uint64_t segment_id);

}  // namespace puffer::format
