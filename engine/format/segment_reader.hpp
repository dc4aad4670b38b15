#pragma once
// Opens a PRSEG1 segment: checks it (size, magic, version, offsets, checksums, then contents, in
// that order) and keeps its small sections in memory: centroids, cluster extents, ids, payload
// locations and checksums. Vector data and payloads stay on disk; callers read them (the shard
// through its ring) and verify each read with verify_cluster / verify_payload.
//
// Every rejection is errc::corruption or errc::unsupported_version with a message that names the
// file, the offset, and what was expected and found. Immutable once opened; safe to share.

#include "engine/core/result.hpp"
#include "engine/format/segment_format.hpp"
#include "engine/index/attributes.hpp"
#include "engine/io/env.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::format {

struct byte_range {
    std::uint64_t offset_bytes = 0;
    std::uint64_t size_bytes = 0;
};

class segment_reader {
public:
    // expected_segment_id: when set, the trailer's segment id must match (a misplaced file).
    [[nodiscard]] static result<segment_reader> open(io::env& e, const std::string& path,
                                                     std::optional<std::uint64_t> expected_segment_id);

    const std::string& path() const { return path_; }
    const segment_header& header() const { return header_; }
    const segment_trailer& trailer() const { return trailer_; }
    std::uint64_t segment_id() const { return trailer_.segment_id; }
    std::uint64_t file_size_bytes() const { return file_size_; }
    std::size_t dimension() const { return header_.dimension; }
    metric distance_metric() const { return header_.distance_metric; }
    std::size_t vector_count() const { return header_.vector_count; }
    std::size_t cluster_count() const { return header_.cluster_count; }

    // cluster_count * dimension floats.
    const float* centroids() const { return centroids_.data(); }
    std::uint32_t cluster_start(std::size_t c) const { return cluster_starts_[c]; }
    std::uint32_t cluster_length(std::size_t c) const { return cluster_starts_[c + 1] - cluster_starts_[c]; }
    // Where cluster c's vectors lie in the file.
    byte_range cluster_range(std::size_t c) const;

    // Id of the row at position p (cluster order).
    std::string_view id(std::size_t p) const
    {
        return std::string_view(id_bytes_).substr(id_offsets_[p], id_offsets_[p + 1] - id_offsets_[p]);
    }
    // Where the payload of position p lies in the file (size 0: no payload).
    byte_range payload_range(std::size_t p) const;

    // Checks bytes read for cluster c against its checksum.
    [[nodiscard]] status verify_cluster(std::size_t c, const void* data) const;
    // Checks bytes read for the payload of position p.
    [[nodiscard]] status verify_payload(std::size_t p, std::string_view data) const;

    // Reads cluster c / payload p with blocking reads (tools, compaction, tests), verified.
    [[nodiscard]] status read_cluster(io::file& f, std::size_t c, std::vector<float>& out) const;
    [[nodiscard]] result<std::string> read_payload(io::file& f, std::size_t p) const;

    // Reads the whole file and checks every checksum (vectors, payloads and extra sections too).
    [[nodiscard]] status verify_all(io::env& e) const;

    // Version 2: the extra sections the directory lists (empty for version 1).
    const std::vector<section_entry>& sections() const { return sections_; }
    // The recall curve measured when the segment was built, if it has one.
    const std::optional<index::recall_curve>& recall() const { return recall_curve_; }
    // The attribute index of the payloads (positions are rows), sealed; null when no row has a
    // payload. A segment written before the section existed gets one built from its payloads
    // when it is opened.
    const std::shared_ptr<const index::attribute_index>& attributes() const { return attributes_; }

    // Which codes the segment holds beside its float vectors (none: no code sections).
    index::quantization codes() const { return codes_; }
    // The 8-bit codes' parameters (sections sq8_params and sq8_codes), if the segment has them.
    const index::sq8_params* sq8() const { return sq8_ ? &*sq8_ : nullptr; }
    // The 1-bit codes' parameters (sections rabitq_params and rabitq_codes), if the segment has
    // them, and its centroids rotated (cluster_count rows of the padded dimension).
    const index::rabitq_params* rabitq() const { return rabitq_ ? &*rabitq_ : nullptr; }
    const float* rotated_centroids() const { return rotated_centroids_.data(); }
    // Where cluster c's code block lies in the file. REQUIRES: codes() != none.
    byte_range code_range(std::size_t c) const;
    // Checks bytes read for cluster c's code block against its checksum.
    [[nodiscard]] status verify_codes(std::size_t c, const void* data) const;
    // Whether each row's float vector has a checksum of its own (row_checksums section), so a
    // single row can be read and checked.
    bool has_row_checksums() const { return !row_crcs_.empty(); }
    // Where position p's float vector lies in the file.
    byte_range row_range(std::size_t p) const;
    // Checks bytes read for position p's vector. REQUIRES: has_row_checksums().
    [[nodiscard]] status verify_row(std::size_t p, const void* data) const;
    // The cluster holding position p.
    std::size_t cluster_of(std::size_t p) const;

private:
    [[nodiscard]] status decode_sq8_params(std::string_view bytes, std::uint64_t offset);
    [[nodiscard]] status decode_rabitq_params(std::string_view bytes, std::uint64_t offset);
    std::size_t code_block_bytes(std::size_t c) const;

    std::string path_;
    std::uint64_t file_size_ = 0;
    segment_header header_;
    segment_trailer trailer_;
    std::vector<float> centroids_;
    std::vector<std::uint32_t> cluster_starts_;  // cluster_count + 1
    std::vector<std::uint32_t> cluster_crcs_;
    std::string id_bytes_;
    std::vector<std::uint32_t> id_offsets_;  // vector_count + 1, into id_bytes_
    std::vector<std::uint64_t> payload_offsets_;  // relative to the blob
    std::vector<std::uint32_t> payload_sizes_;
    std::vector<std::uint32_t> payload_crcs_;
    std::vector<section_entry> sections_;
    std::optional<index::recall_curve> recall_curve_;
    std::shared_ptr<const index::attribute_index> attributes_;
    index::quantization codes_ = index::quantization::none;
    std::optional<index::sq8_params> sq8_;
    std::optional<index::rabitq_params> rabitq_;
    std::vector<float> rotated_centroids_;      // with rabitq_
    std::vector<std::uint32_t> code_crcs_;      // per cluster, with either
    std::uint64_t codes_offset_ = 0;            // the codes section (0: none)
    std::uint64_t codes_size_ = 0;
    std::vector<std::uint64_t> code_offsets_;   // cluster_count + 1, relative to codes_offset_
    std::vector<std::uint32_t> row_crcs_;       // per position (empty: no row checksums)
};

}  // namespace puffer::format
