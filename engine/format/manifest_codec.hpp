#pragma once
// The MANIFEST of a collection (docs/format.md, "MANIFEST"): its definition and its durable
// state — the segments that hold its data, each with its tombstoned positions, and the first
// WAL file that still holds data not in any segment. Replaced atomically on every change
// (write tmp, fsync, rename, fsync dir); never edited in place.

#include "engine/core/distance.hpp"
#include "engine/core/result.hpp"
#include "engine/index/sq8.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::format {

inline constexpr std::string_view manifest_magic{"PRMAN1\0\0", 8};
// Version 2 adds the unindexed fields; version 3 the quantization. A MANIFEST is written in the
// lowest version that holds it (without either: version 1, which every earlier build reads).
inline constexpr std::uint32_t manifest_version_current = 3;
inline constexpr std::uint32_t manifest_version_min_read = 1;
static_assert(manifest_version_min_read <= manifest_version_current);

struct manifest_segment {
    std::uint64_t id = 0;
    std::uint32_t vector_count = 0;
    std::uint32_t cluster_count = 0;
    std::uint64_t file_size_bytes = 0;
    std::vector<std::uint32_t> tombstones;  // positions, strictly increasing
};

struct manifest {
    std::string name;
    std::uint32_t dimension = 0;
    metric distance_metric = metric::l2;
    std::uint64_t next_segment_id = 1;
    std::uint64_t wal_start = 1;  // WAL files numbered below this are obsolete
    std::vector<manifest_segment> segments;
    // Payload paths the attribute index leaves out (version 2; empty in version 1).
    std::vector<std::string> unindexed_fields;
    // Codes the collection's segments store (version 3; none before).
    index::quantization quantization = index::quantization::none;
};

// Limits on the unindexed fields of a collection.
inline constexpr std::size_t unindexed_fields_max = 256;
inline constexpr std::size_t unindexed_field_bytes_max = 256;

std::string encode_manifest(const manifest& m);
// Errors name path (used only in messages).
[[nodiscard]] result<manifest> decode_manifest(std::string_view bytes, const std::string& path);

}  // namespace puffer::format
