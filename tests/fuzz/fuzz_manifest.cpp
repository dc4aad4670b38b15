// Fuzz target: the input as MANIFEST bytes, through format::decode_manifest. A decoded MANIFEST
// must satisfy what recovery relies on (dimension and metric valid, segment ids below the next
// id, tombstones increasing below the vector count) and must encode back to the same bytes.
//
// A random change almost never keeps the body size and the crc32c right, so each input is decoded
// twice: as given (the checks in front of the body), then with the body size and the crc
// recomputed (the body decoder itself).
#include "engine/core/coding.hpp"
#include "engine/core/crc32c.hpp"
#include "engine/core/point_batch.hpp"
#include "engine/format/manifest_codec.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <cstdint>
#include <string>
#include <string_view>

using namespace puffer;

namespace {

constexpr std::size_t prefix_size_bytes = 16;  // magic, version, body size
constexpr std::size_t crc_size_bytes = 4;

void check(std::string_view bytes)
{
    auto m = format::decode_manifest(bytes, "MANIFEST");
    if (!m) {
        FUZZ_CHECK(!m.error().context.empty(), "a rejection must say why");
        return;
    }
    FUZZ_CHECK(m->dimension >= 1 && m->dimension <= dimension_max, "dimension %u", m->dimension);
    FUZZ_CHECK(m->name.size() <= 64, "name of %zu bytes", m->name.size());
    for (const auto& s : m->segments) {
        FUZZ_CHECK(s.id < m->next_segment_id, "segment id %llu, next id %llu",
                   static_cast<unsigned long long>(s.id),
                   static_cast<unsigned long long>(m->next_segment_id));
        FUZZ_CHECK(s.tombstones.size() <= s.vector_count, "%zu tombstones for %u vectors",
                   s.tombstones.size(), s.vector_count);
        for (std::size_t t = 0; t < s.tombstones.size(); ++t) {
            FUZZ_CHECK(s.tombstones[t] < s.vector_count, "tombstone %u of %u", s.tombstones[t],
                       s.vector_count);
            FUZZ_CHECK(t == 0 || s.tombstones[t] > s.tombstones[t - 1],
                       "tombstones not increasing");
        }
    }
    std::string again = format::encode_manifest(*m);
    FUZZ_CHECK(again == bytes, "decode then encode changed the bytes (%zu -> %zu bytes)",
               bytes.size(), again.size());
}

// The input with its body size and crc32c made consistent with its length.
std::string fix_checksums(std::string_view input)
{
    std::string bytes(input);
    if (bytes.size() < prefix_size_bytes + crc_size_bytes) {
        return bytes;
    }
    auto* b = reinterpret_cast<std::byte*>(bytes.data());
    put_fixed32_le(b + 12,
                   static_cast<std::uint32_t>(bytes.size() - prefix_size_bytes - crc_size_bytes));
    put_fixed32_le(b + bytes.size() - crc_size_bytes,
                   crc32c::value(bytes.data(), bytes.size() - crc_size_bytes));
    return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view input(reinterpret_cast<const char*>(data), size);
    check(input);
    std::string fixed = fix_checksums(input);
    if (fixed != input) {
        check(fixed);
    }
    return 0;
}
