#include "engine/format/manifest_codec.hpp"

#include "engine/core/coding.hpp"
#include "engine/core/crc32c.hpp"
#include "engine/core/log.hpp"
#include "engine/core/point_batch.hpp"

#include <cstring>

namespace puffer::format {
namespace {

constexpr std::size_t prefix_size_bytes = 16;  // magic, version, body size
constexpr std::size_t name_size_bytes_max = 64;

error corrupt(const std::string& path, std::size_t offset, const std::string& what)
{
    return make_error(errc::corruption, strprintf("%s: offset %zu: %s", path.c_str(), offset, what.c_str()));
}

}  // namespace

std::string encode_manifest(const manifest& m)
{
    std::string body;
    encoder enc(body);
    enc.put_string32(m.name);
    enc.put_u32(m.dimension);
    enc.put_u8(static_cast<std::uint8_t>(m.distance_metric));
    enc.put_u64(m.next_segment_id);
    enc.put_u64(m.wal_start);
    enc.put_u32(static_cast<std::uint32_t>(m.segments.size()));
    for (const auto& s : m.segments) {
        enc.put_u64(s.id);
        enc.put_u32(s.vector_count);
        enc.put_u32(s.cluster_count);
        enc.put_u64(s.file_size_bytes);
        enc.put_u32(static_cast<std::uint32_t>(s.tombstones.size()));
        for (std::uint32_t t : s.tombstones) {
            enc.put_u32(t);
        }
    }
    const std::uint32_t version =
        m.quantization != index::quantization::none ? 3 : (m.unindexed_fields.empty() ? 1 : 2);
    if (version >= 2) {
        enc.put_u32(static_cast<std::uint32_t>(m.unindexed_fields.size()));
        for (const auto& f : m.unindexed_fields) {
            enc.put_string32(f);
        }
    }
    if (version >= 3) {
        enc.put_u8(static_cast<std::uint8_t>(m.quantization));
    }
    std::string out;
    encoder head(out);
    head.put_bytes(manifest_magic.data(), manifest_magic.size());
    head.put_u32(version);
    head.put_u32(static_cast<std::uint32_t>(body.size()));
    out += body;
    head.put_u32(crc32c::value(out));
    return out;
}

result<manifest> decode_manifest(std::string_view bytes, const std::string& path)
{
    if (bytes.size() < prefix_size_bytes + 4) {
        return corrupt(path, 0, strprintf("file is %zu bytes, too small for a MANIFEST", bytes.size()));
    }
    if (std::memcmp(bytes.data(), manifest_magic.data(), manifest_magic.size()) != 0) {
        return corrupt(path, 0, "bad magic (expected \"PRMAN1\")");
    }
    const auto* b = reinterpret_cast<const std::byte*>(bytes.data());
    std::uint32_t version = get_fixed32_le(b + 8);
    if (version < manifest_version_min_read || version > manifest_version_current) {
        return make_error(errc::unsupported_version,
                          strprintf("%s: offset 8: MANIFEST version %u; this build reads %u to %u",
                                    path.c_str(), version, manifest_version_min_read,
                                    manifest_version_current));
    }
    std::uint32_t body_size = get_fixed32_le(b + 12);
    if (body_size != bytes.size() - prefix_size_bytes - 4) {
        return corrupt(path, 12, strprintf("body size %u does not match the file (%zu bytes)", body_size,
                                           bytes.size()));
    }
    std::uint32_t stored = get_fixed32_le(b + bytes.size() - 4);
    std::uint32_t computed = crc32c::value(bytes.data(), bytes.size() - 4);
    if (stored != computed) {
        return corrupt(path, bytes.size() - 4,
                       strprintf("crc32c mismatch (stored 0x%08x, computed 0x%08x)", stored, computed));
    }
    decoder dec(bytes.data() + prefix_size_bytes, body_size);
    manifest m;
    std::string_view name;
    std::uint8_t metric_code = 0;
    std::uint32_t segment_count = 0;
    if (!dec.get_string32(name, name_size_bytes_max) || !dec.get_u32(m.dimension) ||
        !dec.get_u8(metric_code) || !dec.get_u64(m.next_segment_id) || !dec.get_u64(m.wal_start) ||
        !dec.get_u32(segment_count)) {
        return corrupt(path, prefix_size_bytes + dec.position(), "truncated collection fields");
    }
    m.name = std::string(name);
    if (m.dimension < 1 || m.dimension > dimension_max || !metric_from_code(metric_code, m.distance_metric)) {
        return corrupt(path, prefix_size_bytes, "invalid dimension or metric");
    }
    if (segment_count > dec.remaining() / 28) {
        return corrupt(path, prefix_size_bytes + dec.position(), "segment count larger than the file");
    }
    for (std::uint32_t i = 0; i < segment_count; ++i) {
        manifest_segment s;
        std::uint32_t tombstone_count = 0;
        if (!dec.get_u64(s.id) || !dec.get_u32(s.vector_count) || !dec.get_u32(s.cluster_count) ||
            !dec.get_u64(s.file_size_bytes) || !dec.get_u32(tombstone_count) ||
            tombstone_count > s.vector_count || tombstone_count > dec.remaining() / 4) {
            return corrupt(path, prefix_size_bytes + dec.position(), strprintf("segment entry %u truncated", i));
        }
        if (s.id >= m.next_segment_id) {
            return corrupt(path, prefix_size_bytes + dec.position(),
                           strprintf("segment id %llu not below next id %llu",
                                     static_cast<unsigned long long>(s.id),
                                     static_cast<unsigned long long>(m.next_segment_id)));
        }
        s.tombstones.resize(tombstone_count);
        for (std::uint32_t t = 0; t < tombstone_count; ++t) {
            bool fits = dec.get_u32(s.tombstones[t]);
            if (!fits || s.tombstones[t] >= s.vector_count || (t > 0 && s.tombstones[t] <= s.tombstones[t - 1])) {
                return corrupt(path, prefix_size_bytes + dec.position(),
                               strprintf("segment %llu: tombstones not increasing positions below %u",
                                         static_cast<unsigned long long>(s.id), s.vector_count));
            }
        }
        m.segments.push_back(std::move(s));
    }
    if (version >= 2) {
        std::uint32_t count = 0;
        // Version 2 writes the fields only when there are some; version 3 always writes the count.
        const std::uint32_t fewest = version == 2 ? 1 : 0;
        if (!dec.get_u32(count) || count < fewest || count > unindexed_fields_max) {
            return corrupt(path, prefix_size_bytes + dec.position(),
                           strprintf("unindexed field count missing or not %u to %zu", fewest, unindexed_fields_max));
        }
        for (std::uint32_t i = 0; i < count; ++i) {
            std::string_view f;
            if (!dec.get_string32(f, unindexed_field_bytes_max) || f.empty()) {
                return corrupt(path, prefix_size_bytes + dec.position(),
                               strprintf("unindexed field %u truncated, empty or over %zu bytes", i,
                                         unindexed_field_bytes_max));
            }
            m.unindexed_fields.emplace_back(f);
        }
    }
    if (version >= 3) {
        std::uint8_t code = 0;
        // Version 3 is written only for a quantized collection: none (0) would be version 1 or 2.
        if (!dec.get_u8(code) || code == 0 || code > static_cast<std::uint8_t>(index::quantization_last)) {
            return corrupt(path, prefix_size_bytes + dec.position(),
                           "quantization missing, none (written as version 1 or 2) or unknown");
        }
        m.quantization = static_cast<index::quantization>(code);
    }
    if (!dec.done()) {
        return corrupt(path, prefix_size_bytes + dec.position(), "trailing bytes");
    }
    return m;
}

}  // namespace puffer::format
