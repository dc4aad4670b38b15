#pragma once
// A collection directory's layout (docs/format.md, "Data directory") and the small file steps
// that recovery, flushes and compactions share.

#include "engine/collection/staging.hpp"
#include "engine/core/result.hpp"
#include "engine/format/manifest_codec.hpp"
#include "engine/io/env.hpp"

#include <algorithm>
#include <memory>
#include <string>

namespace puffer::collection {

inline constexpr const char* manifest_file_name = "MANIFEST";

inline std::string wal_dir_of(const std::string& dir)
{
    return io::join_path(dir, "wal");
}
inline std::string segments_dir_of(const std::string& dir)
{
    return io::join_path(dir, "segments");
}

// Creates WAL file `path` holding only the file header, synced, with its directory entry synced.
[[nodiscard]] result<std::unique_ptr<io::file>> create_wal_file(io::env& e, const std::string& path);

// The MANIFEST entry of a segment; dead(p) says which positions are tombstoned.
template <class Dead>
format::manifest_segment manifest_entry(const storage::segment& seg, Dead dead)
{
    format::manifest_segment e;
    e.id = seg.id();
    e.vector_count = static_cast<std::uint32_t>(seg.vector_count());
    e.cluster_count = static_cast<std::uint32_t>(seg.cluster_count());
    e.file_size_bytes = seg.reader().file_size_bytes();
    for (std::size_t p = 0; p < seg.vector_count(); ++p) {
        if (dead(p)) {
            e.tombstones.push_back(static_cast<std::uint32_t>(p));
        }
    }
    return e;
}

// Adds a segment's entry to a MANIFEST's list, which is kept in ascending id: a flush takes its
// id when it starts and may install after a compaction that started later and took a higher one.
inline void add_manifest_entry(format::manifest& m, format::manifest_segment e)
{
    auto at = std::lower_bound(m.segments.begin(), m.segments.end(), e.id,
                               [](const format::manifest_segment& s, std::uint64_t id) { return s.id < id; });
    m.segments.insert(at, std::move(e));
}

}  // namespace puffer::collection
