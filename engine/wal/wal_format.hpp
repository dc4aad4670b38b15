#pragma once
// Write-ahead log files (docs/format.md, "WAL"): a 16-byte file header, then records framed as
//   u32 body_length | u32 crc32c(type byte + body) | u8 type | body
// One record per client batch, so a batch is replayed whole or not at all. Replay stops at the
// first record that is incomplete or fails its checksum: everything before it is the log.

#include "engine/core/point_batch.hpp"
#include "engine/core/result.hpp"
#include "engine/core/unique_function.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::wal {

inline constexpr std::string_view file_magic{"PRWAL1\0\0", 8};
inline constexpr std::uint32_t file_version = 1;
inline constexpr std::size_t file_header_size_bytes = 16;  // magic, u32 version, u32 zero
inline constexpr std::size_t record_header_size_bytes = 9;
inline constexpr std::size_t record_body_size_bytes_max = std::size_t{1} << 30;

enum class record_type : std::uint8_t { upsert = 1, remove = 2 };

std::string encode_file_header();

// Appends one framed record to out.
void append_upsert_record(std::string& out, const point_batch& batch);
void append_remove_record(std::string& out, const std::vector<std::string>& ids);

[[nodiscard]] status decode_upsert(std::string_view body, point_batch& out);
[[nodiscard]] status decode_remove(std::string_view body, std::vector<std::string>& out);

struct replay_result {
    std::size_t records = 0;
    std::uint64_t valid_size_bytes = 0;  // header + whole valid records
    bool clean = true;                   // false: bytes after valid_size_bytes were dropped
    std::string reason;                  // why replay stopped early
};

// Walks the records of a whole WAL file image. on_record gets each valid record in order; an
// error it returns ends the replay with that error. A bad file header or a torn/corrupt record
// is not an error: the result says where the valid log ends and why.
[[nodiscard]] result<replay_result> replay(
    std::string_view file_bytes,
    const unique_function<status(record_type, std::string_view body)>& on_record);

// WAL file name for a number: 000001.log.
std::string file_name(std::uint64_t number);
// The number in a WAL file name, or false.
bool parse_file_name(std::string_view name, std::uint64_t& number);

}  // namespace puffer::wal
