// Fuzz target: the input as a WAL file image, through wal::replay, with every record that replay
// hands over decoded by decode_upsert or decode_remove, as collection recovery does. Properties:
// replay's result is consistent (valid size within the file, whole records, clean only when
// everything was used), a decoded record satisfies the engine's limits, and it encodes back to
// the same body bytes; an error from the record callback ends the replay with that error.
//
// Records carry a crc32c that random changes break, so each input is replayed twice: as given
// (framing and checksum rejection), then with every frame's crc recomputed (the record decoders).
#include "engine/core/coding.hpp"
#include "engine/core/crc32c.hpp"
#include "engine/wal/wal_format.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <cmath>
#include <cstring>
#include <string>
#include <string_view>

using namespace puffer;

namespace {

void check_batch(const point_batch& b, std::string_view body)
{
    FUZZ_CHECK(b.dimension >= 1 && b.dimension <= dimension_max, "dimension %zu", b.dimension);
    FUZZ_CHECK(b.vectors.size() == b.ids.size() * b.dimension, "%zu values for %zu ids",
               b.vectors.size(), b.ids.size());
    FUZZ_CHECK(b.payloads.empty() || b.payloads.size() == b.ids.size(), "%zu payloads for %zu ids",
               b.payloads.size(), b.ids.size());
    for (const auto& id : b.ids) {
        FUZZ_CHECK(!id.empty() && id.size() <= id_size_bytes_max, "id of %zu bytes", id.size());
    }
    for (const auto& p : b.payloads) {
        FUZZ_CHECK(p.size() <= payload_size_bytes_max, "payload of %zu bytes", p.size());
    }
    std::string again;
    wal::append_upsert_record(again, b);
    FUZZ_CHECK(again.size() == wal::record_header_size_bytes + body.size() &&
                   std::memcmp(again.data() + wal::record_header_size_bytes, body.data(),
                               body.size()) == 0,
               "upsert record does not encode back to its body (%zu bytes)", body.size());
}

void check_ids(const std::vector<std::string>& ids, std::string_view body)
{
    for (const auto& id : ids) {
        FUZZ_CHECK(!id.empty() && id.size() <= id_size_bytes_max, "id of %zu bytes", id.size());
    }
    std::string again;
    wal::append_remove_record(again, ids);
    FUZZ_CHECK(again.size() == wal::record_header_size_bytes + body.size() &&
                   std::memcmp(again.data() + wal::record_header_size_bytes, body.data(),
                               body.size()) == 0,
               "remove record does not encode back to its body (%zu bytes)", body.size());
}

status decode_record(wal::record_type type, std::string_view body)
{
    if (type == wal::record_type::upsert) {
        point_batch b;
        PUFFER_TRY(wal::decode_upsert(body, b));
        check_batch(b, body);
        return ok();
    }
    FUZZ_CHECK(type == wal::record_type::remove, "replay handed over record type %u",
               static_cast<unsigned>(type));
    std::vector<std::string> ids;
    PUFFER_TRY(wal::decode_remove(body, ids));
    check_ids(ids, body);
    return ok();
}

void check(std::string_view file)
{
    std::size_t records = 0;
    std::size_t record_bytes = 0;
    unique_function<status(wal::record_type, std::string_view)> on_record =
        [&](wal::record_type type, std::string_view body) -> status {
        FUZZ_CHECK(body.data() >= file.data() &&
                       body.data() + body.size() <= file.data() + file.size(),
                   "record body outside the file");
        ++records;
        record_bytes += wal::record_header_size_bytes + body.size();
        // Recovery fails the collection on a record that passes its crc but does not decode;
        // keep replaying here so later records are decoded too.
        (void)decode_record(type, body);
        return ok();
    };
    auto r = wal::replay(file, on_record);
    if (!r) {
        FUZZ_CHECK(records == 0, "replay failed after %zu records", records);
        return;
    }
    FUZZ_CHECK(r->records == records, "replay counted %zu records, handed over %zu", r->records,
               records);
    FUZZ_CHECK(r->valid_size_bytes <= file.size(), "valid size %llu of a %zu-byte file",
               static_cast<unsigned long long>(r->valid_size_bytes), file.size());
    if (file.size() >= wal::file_header_size_bytes &&
        r->valid_size_bytes >= wal::file_header_size_bytes) {
        FUZZ_CHECK(r->valid_size_bytes == wal::file_header_size_bytes + record_bytes,
                   "valid size %llu is not the header plus %zu record bytes",
                   static_cast<unsigned long long>(r->valid_size_bytes), record_bytes);
    }
    FUZZ_CHECK(r->clean == (r->valid_size_bytes == file.size()),
               "clean %d with valid size %llu of %zu bytes", r->clean ? 1 : 0,
               static_cast<unsigned long long>(r->valid_size_bytes), file.size());
    FUZZ_CHECK(r->clean || !r->reason.empty(), "an unclean replay must say why");

    // An error from the callback ends the replay with that error, after the records before it.
    if (records > 0) {
        const std::size_t stop_at = records / 2;
        std::size_t seen = 0;
        unique_function<status(wal::record_type, std::string_view)> stop =
            [&](wal::record_type, std::string_view) -> status {
            if (seen++ == stop_at) {
                return make_error(errc::io, "stop");
            }
            return ok();
        };
        auto stopped = wal::replay(file, stop);
        FUZZ_CHECK(!stopped && stopped.error().context == "stop",
                   "the callback's error was not returned");
        FUZZ_CHECK(seen == stop_at + 1, "replay went on after the callback failed");
    }
}

// The input with every frame's crc32c recomputed, walking the frames as replay does.
std::string fix_checksums(std::string_view input)
{
    std::string bytes(input);
    std::size_t offset = wal::file_header_size_bytes;
    while (offset + wal::record_header_size_bytes <= bytes.size()) {
        auto* f = reinterpret_cast<std::byte*>(bytes.data() + offset);
        std::size_t body_size = get_fixed32_le(f);
        if (body_size > bytes.size() - offset - wal::record_header_size_bytes) {
            break;
        }
        put_fixed32_le(f + 4, crc32c::value(bytes.data() + offset + 8, body_size + 1));
        offset += wal::record_header_size_bytes + body_size;
    }
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
