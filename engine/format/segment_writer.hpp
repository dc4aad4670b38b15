#pragma once
// Writes an immutable PRSEG1 segment file (docs/format.md) in one sequential pass and fsyncs it.
// Runs on a background thread (it blocks on the file system).

#include "engine/core/distance.hpp"
#include "engine/core/result.hpp"
#include "engine/format/segment_format.hpp"
#include "engine/index/ivf.hpp"
#include "engine/io/env.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace puffer::format {

struct segment_input {
    std::uint64_t segment_id = 0;
    metric distance_metric = metric::l2;
    std::size_t dimension = 0;
    // Source rows: vectors (count * dimension), ids and payloads (empty view = no payload), all
    // indexed by source row. layout.order maps positions in cluster order to source rows.
    const float* vectors = nullptr;
    std::span<const std::string_view> ids;
    std::span<const std::string_view> payloads;  // empty span: no row has a payload
    const index::ivf_layout* layout = nullptr;
    // Extra sections (version 2 directory), written after the payload blob in this order.
    struct extra_section {
        section_kind kind;
        std::uint32_t flags = 0;
        std::string bytes;
    };
    std::vector<extra_section> sections;
};

struct segment_file_info {
    std::uint64_t file_size_bytes = 0;
    std::uint32_t vector_count = 0;
    std::uint32_t cluster_count = 0;
};

// Writes path (truncating it) and syncs it; the caller makes the name durable (sync_dir) and
// installs it. REQUIRES: 1 <= rows <= 2^32 - 1; ids of 1..id_size_bytes_max bytes.
[[nodiscard]] result<segment_file_info> write_segment(io::env& e, const std::string& path,
                                                      const segment_input& input);

}  // namespace puffer::format
