// A snapshot's moment: the collection's files as of now, linked into a directory. Runs on the
// shard, so nothing changes meanwhile: the list of segments is the one searches see, and the WAL
// files from the MANIFEST's start hold every record since, up to the active file's durable end
// (every acknowledged write; a group still being written is not acknowledged and is left out).
// The MANIFEST beside them is made from memory like a flush's install: its tombstones may
// already hold deletes whose records the WAL replays again, which changes nothing.
#include "engine/collection/collection.hpp"

#include "engine/collection/layout.hpp"
#include "engine/format/segment_format.hpp"
#include "engine/wal/wal_format.hpp"

namespace puffer::collection {

result<collection::snapshot_parts> collection::link_snapshot(const std::string& dir)
{
    PUFFER_ASSERT(!failed());
    snapshot_parts parts;
    auto& d = parts.descriptor;
    d.collection = name_;
    d.dimension = static_cast<std::uint32_t>(dimension_);
    d.distance_metric = metric_;
    d.points = ids_.size();
    format::manifest m = manifest_now();
    parts.manifest = format::encode_manifest(m);
    d.files.push_back({manifest_file_name, parts.manifest.size()});

    // Hard links: the files are immutable (segments) or appended only (the active WAL file, of
    // which the descriptor keeps the durable length), so the links hold them as of now for as
    // long as the snapshot lives, whatever the collection removes later.
    PUFFER_TRY(env_.make_dirs(segments_dir_of(dir)));
    PUFFER_TRY(env_.make_dirs(wal_dir_of(dir)));
    for (const auto& rec : segments_) {
        std::string file = format::segment_file_name(rec.id());
        PUFFER_TRY(env_.link(rec.seg->path(), io::join_path(segments_dir_of(dir), file)));
        d.files.push_back({"segments/" + file, rec.seg->reader().file_size_bytes()});
    }
    auto link_wal = [&](std::uint64_t number, std::uint64_t size) -> status {
        std::string file = wal::file_name(number);
        PUFFER_TRY(env_.link(io::join_path(wal_dir_of(dir_), file), io::join_path(wal_dir_of(dir), file)));
        d.files.push_back({"wal/" + file, size});
        return ok();
    };
    for (const auto& [number, size] : wal_sizes_) {
        if (number >= wal_start_ && number != wal_.number()) {
            PUFFER_TRY(link_wal(number, size));
        }
    }
    PUFFER_TRY(link_wal(wal_.number(), wal_.size_bytes()));
    return parts;
}

}  // namespace puffer::collection
