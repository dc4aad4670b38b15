#pragma once
// Snapshots on disk (docs/format.md, "Snapshots"): <data-dir>/snapshots/<collection>/<id>/, made
// under .tmp-<id> and renamed into place once durable, so a crash leaves a whole snapshot or
// none (start-up removes the leftovers). Snapshots outlive their collection: deleting a
// collection keeps them, DELETE removes one.
//
// Everything here blocks on the file system: call it from the background pool or at start-up.

#include "engine/collection/collection.hpp"
#include "engine/core/result.hpp"
#include "engine/format/snapshot_format.hpp"
#include "engine/io/byte_source.hpp"
#include "engine/io/env.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace puffer::db {

std::string snapshots_dir(const std::string& data_dir, const std::string& collection);
std::string collections_dir_of(const std::string& data_dir);

// Snapshot ids are [0-9A-Za-z_-]{1,64}, like collection names; new ones are the UTC time of
// their moment, "20261202-191530-123", with a suffix when two fall in one millisecond.
bool valid_snapshot_id(std::string_view id);
std::string snapshot_id_for(std::uint64_t unix_ms);

struct snapshot_info {
    std::string id;
    std::uint64_t created_unix_ms = 0;
    std::uint64_t points = 0;
    std::uint64_t bytes = 0;  // of the files it lists (the archive adds headers)
    std::size_t files = 0;
};

// Makes <dir> the durable snapshot that parts describes: writes MANIFEST and SNAPSHOT beside the
// links already made in tmp_dir, syncs, renames tmp_dir to dir.
[[nodiscard]] status finish_snapshot(io::env& e, const std::string& tmp_dir, const std::string& dir,
                                     const collection::collection::snapshot_parts& parts);

// The snapshots of a collection, oldest first (none: an empty list).
[[nodiscard]] result<std::vector<snapshot_info>> list_snapshots(io::env& e, const std::string& data_dir,
                                                                 const std::string& collection);
// errc::not_found if there is no such snapshot.
[[nodiscard]] status delete_snapshot(io::env& e, const std::string& data_dir, const std::string& collection,
                                     const std::string& id);

// A snapshot as an archive, read front to back.
class snapshot_archive : public io::byte_source {
public:
    virtual std::uint64_t size() const = 0;
    virtual const snapshot_info& info() const = 0;
};
// errc::not_found if there is no such snapshot. Its files are opened now: deleting the snapshot
// while the archive is read does not cut it short.
[[nodiscard]] result<std::unique_ptr<snapshot_archive>> open_snapshot_archive(io::env& e, const std::string& data_dir,
                                                                             const std::string& collection,
                                                                             const std::string& id);

// Restores a collection named `name` from an archive: every member checked (shape, lengths,
// checksums), the collection opened once where it was unpacked, then renamed into place; on any
// error nothing is left and the data directory is as before. errc::invalid_argument for an
// archive that is not a whole, intact snapshot (the message says what is wrong),
// errc::already_exists if the collection exists. The caller makes sure no other call creates the
// name meanwhile.
[[nodiscard]] status restore_collection(io::env& e, const std::string& data_dir, const std::string& name,
                                        io::byte_source& archive, const collection::options& options);

// The descriptor at the start of an archive (what it holds), read without unpacking anything.
[[nodiscard]] result<format::snapshot_descriptor> read_snapshot_descriptor(io::byte_source& archive);

// Removes the .tmp-* leftovers of snapshots a crash interrupted.
[[nodiscard]] status remove_snapshot_leftovers(io::env& e, const std::string& data_dir);

}  // namespace puffer::db
