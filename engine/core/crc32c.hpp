#pragma once
// CRC-32C (Castagnoli), as used by iSCSI, ext4 and RocksDB. Hardware (SSE4.2) path when the CPU
// has it, portable table path otherwise; both give identical results (tested).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace puffer::crc32c {

// Extends crc (the value of a previous call, or 0 for a fresh checksum) over data.
std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t size);

inline std::uint32_t value(const void* data, std::size_t size)
{
    return extend(0, data, size);
}
inline std::uint32_t value(std::string_view s)
{
    return extend(0, s.data(), s.size());
}

// The portable path alone (for tests and machines without SSE4.2).
std::uint32_t extend_portable(std::uint32_t crc, const void* data, std::size_t size);

// True when extend() uses the SSE4.2 instruction.
bool hardware_accelerated();

}  // namespace puffer::crc32c
