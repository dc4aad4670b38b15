#include "engine/core/result.hpp"

#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>

#include <cerrno>
#include <cstring>

namespace puffer {
namespace {

class puffer_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "puffer"; }

    std::string message(int value) const override
    {
        switch (static_cast<errc>(value)) {
        case errc::corruption: return "data corruption";
        case errc::unsupported_version: return "unsupported format version";
        case errc::not_found: return "not found";
        case errc::already_exists: return "already exists";
        case errc::invalid_argument: return "invalid argument";
        case errc::too_large: return "too large";
        case errc::no_space: return "no space left on device";
        case errc::io: return "I/O error";
        case errc::busy: return "busy";
        case errc::shutting_down: return "shutting down";
        case errc::failed: return "collection failed";
        case errc::unavailable: return "object store unavailable";
        case errc::refused: return "refused by the object store";
        }
        return "unknown puffer error";
    }
};

}  // namespace

const boost::system::error_category& puffer_category() noexcept
{
    static const puffer_category_impl category;
    return category;
}

std::string error::message() const
{
    if (context.empty()) {
        return code.message();
    }
    return context + ": " + code.message();
}

std::string error::text() const
{
    if (code.category() == puffer_category() && !context.empty()) {
        return context;
    }
    return message();
}

error make_system_error(int errno_value, std::string context)
{
    if (errno_value == ENOSPC || errno_value == EDQUOT) {
        // Reported as the engine condition (HTTP 507), keeping the system's words.
        return make_error(errc::no_space, context + " (" + std::strerror(errno_value) + ")");
    }
    return error{boost::system::error_code(errno_value, boost::system::system_category()),
                 std::move(context)};
}

bool is(const error& err, errc e) noexcept
{
    return err.code.category() == puffer_category() && err.code.value() == static_cast<int>(e);
}

void throw_exception_from_error(const error& err, const boost::source_location& loc)
{
    boost::throw_with_location(boost::system::system_error(err.code, err.context), loc);
}

}  // namespace puffer
