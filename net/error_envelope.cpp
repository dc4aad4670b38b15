#include "net/error_envelope.hpp"

#include <boost/json.hpp>

namespace puffer::net {

http_error classify(const error& e)
{
    if (e.code.category() != puffer_category()) {
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
    inner["message"] = message;
    boost::json::object outer;
    outer["error"] = std::move(inner);
    return boost::json::serialize(outer);
}

}  // namespace puffer::net
