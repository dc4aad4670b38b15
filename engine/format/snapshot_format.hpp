#pragma once
// A collection snapshot and its archive (docs/format.md, "Snapshots").
//
// On disk a snapshot is a directory: SNAPSHOT (the descriptor below), MANIFEST, and the segment
// and WAL files of the collection at that moment, hard links to the collection's own immutable
// files. The descriptor gives each file's length: the WAL file that was taking appends is linked
// whole and only its first `size` bytes (the durable records at that moment) belong to it.
//
// Downloaded, a snapshot is a POSIX ustar archive: SNAPSHOT first, then each file it lists, in
// its order and at its length, then CHECKSUMS (the crc32c of every member before it), then the
// two zero blocks that end an archive. A restore accepts exactly that shape and nothing else.

#include "engine/core/distance.hpp"
#include "engine/core/result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::format {

// ---- ustar

inline constexpr std::size_t tar_block_bytes = 512;
inline constexpr std::size_t tar_name_bytes_max = 100;  // names go in the name field alone

// Bytes after a member of `size` bytes up to the next block.
inline std::uint64_t tar_padding(std::uint64_t size)
{
    return (tar_block_bytes - size % tar_block_bytes) % tar_block_bytes;
}

// The header block of a regular file (mode 0644, owner 0, ustar magic). Sizes of 8 GiB and more
// are written in base-256 (the GNU extension every tar reads). REQUIRES: name is 1 to 100 bytes.
std::array<std::byte, tar_block_bytes> encode_tar_header(std::string_view name, std::uint64_t size,
                                                         std::uint64_t mtime_seconds);

struct tar_member {
    std::string name;
    std::uint64_t size = 0;
};
// A header block: the member it starts, nullopt for a zero block (the end of the archive), or
// errc::corruption naming what is wrong (checksum, magic, a type other than a regular file, a
// malformed size). `offset` (the block's place in the archive) is for the message.
[[nodiscard]] result<std::optional<tar_member>> decode_tar_header(std::span<const std::byte, tar_block_bytes> block,
                                                                  std::uint64_t offset);

// ---- the descriptor and the checksums

inline constexpr const char* snapshot_descriptor_name = "SNAPSHOT";
inline constexpr const char* snapshot_checksums_name = "CHECKSUMS";
inline constexpr std::uint32_t snapshot_format_version = 1;
inline constexpr std::size_t snapshot_files_max = 65536;
inline constexpr std::size_t snapshot_text_bytes_max = std::size_t{4} << 20;  // each text member

struct snapshot_file {
    std::string path;  // relative: MANIFEST, segments/<name>, wal/<name>
    std::uint64_t size = 0;
};

struct snapshot_descriptor {
    std::string collection;
    std::string id;
    std::uint64_t created_unix_ms = 0;
    std::uint32_t dimension = 0;
    metric distance_metric = metric::l2;
    std::uint64_t points = 0;  // live points at that moment
    std::vector<snapshot_file> files;
};

std::string encode_snapshot_descriptor(const snapshot_descriptor& d);
// errc::corruption (with `where` in the message) unless text is a whole descriptor of a known
// version, every path relative without "." or ".." parts and at most tar_name_bytes_max bytes.
[[nodiscard]] result<snapshot_descriptor> decode_snapshot_descriptor(std::string_view text, const std::string& where);

struct member_checksum {
    std::string path;
    std::uint32_t crc32c = 0;
};
std::string encode_snapshot_checksums(const std::vector<member_checksum>& sums);
[[nodiscard]] result<std::vector<member_checksum>> decode_snapshot_checksums(std::string_view text,
                                                                             const std::string& where);
// The length of encode_snapshot_checksums for these paths (every crc is eight hex digits).
std::size_t snapshot_checksums_size(const std::vector<std::string>& paths);

}  // namespace puffer::format
