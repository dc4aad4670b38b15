#include "engine/wal/wal_format.hpp"

#include "engine/core/coding.hpp"
#include "engine/core/crc32c.hpp"
#include "engine/core/log.hpp"

#include <charconv>
#include <cmath>
#include <cstring>

namespace puffer::wal {
namespace {

// Reserves the 9-byte frame, lets body_writer append the body, then fills the frame in.
template <class BodyWriter>
void append_record(std::string& out, record_type type, BodyWriter&& body_writer)
{
    std::size_t frame = out.size();
    out.append(record_header_size_bytes, '\0');
    body_writer(out);
    std::size_t body_size = out.size() - frame - record_header_size_bytes;
    auto* f = reinterpret_cast<std::byte*>(out.data() + frame);
    put_fixed32_le(f, static_cast<std::uint32_t>(body_size));
    put_fixed8(f + 8, static_cast<std::uint8_t>(type));
    put_fixed32_le(f + 4, crc32c::value(out.data() + frame + 8, body_size + 1));
}

error bad_record(const char* what)
{
    return make_error(errc::corruption, std::string("WAL record: ") + what);
}

}  // namespace

std::string encode_file_header()
{
    std::string out(file_header_size_bytes, '\0');
    std::memcpy(out.data(), file_magic.data(), file_magic.size());
    put_fixed32_le(reinterpret_cast<std::byte*>(out.data() + 8), file_version);
    return out;
}

void append_upsert_record(std::string& out, const point_batch& batch)
{
    append_record(out, record_type::upsert, [&](std::string& buf) {
        encoder enc(buf);
        enc.put_u32(static_cast<std::uint32_t>(batch.dimension));
        enc.put_u32(static_cast<std::uint32_t>(batch.size()));
        for (std::size_t i = 0; i < batch.size(); ++i) {
            enc.put_string32(batch.ids[i]);
            enc.put_string32(batch.has_payloads() ? std::string_view(batch.payloads[i]) : std::string_view{});
            enc.put_bytes(batch.vector(i), batch.dimension * sizeof(float));
        }
    });
}

void append_remove_record(std::string& out, const std::vector<std::string>& ids)
{
    append_record(out, record_type::remove, [&](std::string& buf) {
        encoder enc(buf);
        enc.put_u32(static_cast<std::uint32_t>(ids.size()));
        for (const auto& id : ids) {
            enc.put_string32(id);
        }
    });
}

status decode_upsert(std::string_view body, point_batch& out)
{
    decoder dec(body);
    std::uint32_t dimension = 0;
    std::uint32_t count = 0;
    if (!dec.get_u32(dimension) || !dec.get_u32(count) || dimension == 0 || dimension > dimension_max) {
        return bad_record("bad upsert header");
    }
    // Each point takes at least 4 + 1 + 4 + 4 * dimension bytes: bound count before reserving.
    if (count > dec.remaining() / (9 + 4 * static_cast<std::size_t>(dimension))) {
        return bad_record("upsert count larger than the record");
    }
    out = point_batch{};
    out.dimension = dimension;
    out.ids.reserve(count);
    out.vectors.resize(static_cast<std::size_t>(count) * dimension);
    out.payloads.reserve(count);
    bool any_payload = false;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::string_view id;
        std::string_view payload;
        if (!dec.get_string32(id, id_size_bytes_max) || id.empty() ||
            !dec.get_string32(payload, payload_size_bytes_max) ||
            !dec.get_bytes(out.vector(i), dimension * sizeof(float))) {
            return bad_record("truncated upsert point");
        }
        out.ids.emplace_back(id);
        out.payloads.emplace_back(payload);
        any_payload = any_payload || !payload.empty();
    }
    if (!dec.done()) {
        return bad_record("trailing bytes after upsert points");
    }
    if (!any_payload) {
        out.payloads.clear();
    }
    return ok();
}

status decode_remove(std::string_view body, std::vector<std::string>& out)
{
    decoder dec(body);
    std::uint32_t count = 0;
    if (!dec.get_u32(count) || count > dec.remaining() / 5) {
        return bad_record("bad remove header");
    }
    out.clear();
    out.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        std::string_view id;
        if (!dec.get_string32(id, id_size_bytes_max) || id.empty()) {
            return bad_record("truncated remove id");
        }
        out.emplace_back(id);
    }
    if (!dec.done()) {
        return bad_record("trailing bytes after remove ids");
    }
    return ok();
}

result<replay_result> replay(std::string_view file_bytes,
                             const unique_function<status(record_type, std::string_view)>& on_record)
{
    replay_result r;
    if (file_bytes.size() < file_header_size_bytes ||
        std::memcmp(file_bytes.data(), file_magic.data(), file_magic.size()) != 0) {
        r.clean = file_bytes.empty();
        r.reason = file_bytes.empty() ? "" : "missing or bad file header";
        return r;
    }
    std::uint32_t version = get_fixed32_le(reinterpret_cast<const std::byte*>(file_bytes.data() + 8));
    std::uint32_t reserved = get_fixed32_le(reinterpret_cast<const std::byte*>(file_bytes.data() + 12));
    if (version != file_version || reserved != 0) {
        return make_error(errc::unsupported_version,
                          strprintf("WAL version %u (reserved field 0x%08x); this build reads version %u with a zero "
                                    "reserved field", version, reserved, file_version));
    }
    std::size_t offset = file_header_size_bytes;
    r.valid_size_bytes = offset;
    while (offset < file_bytes.size()) {
        std::size_t remaining = file_bytes.size() - offset;
        const auto* f = reinterpret_cast<const std::byte*>(file_bytes.data() + offset);
        if (remaining < record_header_size_bytes) {
            r.clean = false;
            r.reason = strprintf("torn record header at offset %zu (%zu bytes left)", offset, remaining);
            break;
        }
        std::uint32_t body_size = get_fixed32_le(f);
        std::uint32_t stored_crc = get_fixed32_le(f + 4);
        auto type = static_cast<record_type>(get_fixed8(f + 8));
        if (body_size > record_body_size_bytes_max || body_size > remaining - record_header_size_bytes) {
            r.clean = false;
            r.reason = strprintf("torn record at offset %zu (length %u, %zu bytes left)", offset,
                                 body_size, remaining - record_header_size_bytes);
            break;
        }
        std::uint32_t computed = crc32c::value(file_bytes.data() + offset + 8, body_size + 1);
        if (computed != stored_crc) {
            r.clean = false;
            r.reason = strprintf("record at offset %zu fails its crc32c (stored 0x%08x, computed 0x%08x)",
                                 offset, stored_crc, computed);
            break;
        }
        if (type != record_type::upsert && type != record_type::remove) {
            r.clean = false;
            r.reason = strprintf("record at offset %zu has unknown type %u", offset,
                                 static_cast<unsigned>(type));
            break;
        }
        std::string_view body = file_bytes.substr(offset + record_header_size_bytes, body_size);
        PUFFER_TRY(on_record(type, body));
        ++r.records;
        offset += record_header_size_bytes + body_size;
        r.valid_size_bytes = offset;
    }
    return r;
}

std::string file_name(std::uint64_t number)
{
    return strprintf("%06llu.log", static_cast<unsigned long long>(number));
}

bool parse_file_name(std::string_view name, std::uint64_t& number)
{
    constexpr std::string_view suffix = ".log";
    if (name.size() <= suffix.size() || name.substr(name.size() - suffix.size()) != suffix) {
        return false;
    }
    std::string_view digits = name.substr(0, name.size() - suffix.size());
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    return ec == std::errc{} && end == digits.data() + digits.size();
}

}  // namespace puffer::wal
