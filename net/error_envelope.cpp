#include "net/error_envelope.hpp"

#include <boost/json.hpp>

namespace puffer::net {

bool out_of_file_descriptors(const error& e)
{
    return e.code == boost::system::errc::too_many_files_open ||
           e.code == boost::system::errc::too_many_files_open_in_system;
}

http_error classify(const error& e)
{
    if (e.code.category() != puffer_category()) {
        // Out of file descriptors is an overload (too many connections or collections for the
        // open-file limit), not a fault of the data: retry later, or raise the limit.
        if (out_of_file_descriptors(e)) {
            return {503, "busy"};
        }
        return {500, "io_error"};
    }
    switch (static_cast<errc>(e.code.value())) {
    case errc::invalid_argument: return {400, "invalid_argument"};
    case errc::not_found: return {404, "not_found"};
    case errc::already_exists: return {409, "already_exists"};
    case errc::too_large: return {413, "payload_too_large"};
    case errc::busy: return {503, "busy"};
    case errc::shutting_down: return {503, "shutting_down"};
    case errc::no_space: return {507, "insufficient_storage"};
    case errc::failed: return {500, "collection_failed"};
    case errc::unavailable: return {503, "object_store_unavailable"};
    case errc::refused: return {500, "object_store_refused"};
    case errc::corruption: return {500, "corruption"};
    case errc::unsupported_version: return {500, "unsupported_version"};
    case errc::io: return {500, "io_error"};
    }
    return {500, "internal"};
}

std::string error_body(std::string_view code, std::string_view message)
{
    boost::json::object inner;
    inner["code"] = code;
    inner["message"] = utf8_text(message);
    boost::json::object outer;
    outer["error"] = std::move(inner);
    return boost::json::serialize(outer);
}

namespace {

// Length of the well-formed UTF-8 sequence at the start of s, or 0 if there is none (Unicode
// table 3-7: the second byte's range depends on the first byte).
std::size_t utf8_sequence_size(std::string_view s)
{
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char b0 = byte(0);
    if (b0 < 0x80) {
        return 1;
    }
    std::size_t size = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        size = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        size = 3;
        low = b0 == 0xE0 ? 0xA0 : 0x80;   // E0: no overlong forms
        high = b0 == 0xED ? 0x9F : 0xBF;  // ED: no surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        size = 4;
        low = b0 == 0xF0 ? 0x90 : 0x80;   // F0: no overlong forms
        high = b0 == 0xF4 ? 0x8F : 0xBF;  // F4: nothing above U+10FFFF
    } else {
        return 0;
    }
    if (s.size() < size || byte(1) < low || byte(1) > high) {
        return 0;
    }
    for (std::size_t i = 2; i < size; ++i) {
        if (byte(i) < 0x80 || byte(i) > 0xBF) {
            return 0;
        }
    }
    return size;
}

}  // namespace

std::string utf8_text(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    while (!s.empty()) {
        std::size_t size = utf8_sequence_size(s);
        if (size == 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
            s.remove_prefix(1);
        } else {
            out.append(s.substr(0, size));
            s.remove_prefix(size);
        }
    }
    return out;
}

}  // namespace puffer::net
