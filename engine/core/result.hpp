#pragma once
// One error type for the whole engine: an error_code (errno values keep the system category,
// engine conditions use the puffer category) plus a context string written once, where the file,
// offset or field is known. Functions that can fail return result<T>.

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <string>
#include <string_view>
#include <utility>

namespace puffer {

enum class errc {
    corruption = 1,
    unsupported_version,
    not_found,
    already_exists,
    invalid_argument,
    too_large,
    no_space,
    io,
    busy,
    shutting_down,
    failed,       // the collection could not be opened (for example a corrupt segment)
    unavailable,  // a remote store could not be reached, or answered 5xx, after its retries
    refused,      // a remote store refused the request (credentials, permissions)
};

const boost::system::error_category& puffer_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), puffer_category()};
}

struct error {
    boost::system::error_code code;
    std::string context;

    // "context: message of the code", or the message alone.
    std::string message() const;
    // For people: the context alone for engine conditions (it tells the whole story), the full
    // message() for system errors (whose text, "No space left on device", is the point).
    std::string text() const;
};

// Engine condition with context.
inline error make_error(errc e, std::string context)
{
    return error{make_error_code(e), std::move(context)};
}

// errno value (positive) with context; ENOSPC and EDQUOT are reported as errc::no_space so the
// edge can map them to 507 without knowing errno.
error make_system_error(int errno_value, std::string context);

// True when the error is the puffer condition e (no_space also matches ENOSPC/EDQUOT).
bool is(const error& err, errc e) noexcept;

[[noreturn]] void throw_exception_from_error(const error& err, const boost::source_location& loc);

template <class T>
using result = boost::system::result<T, error>;

using status = result<void>;

inline status ok()
{
    return {};
}

}  // namespace puffer

namespace boost::system {
template <>
struct is_error_code_enum<puffer::errc> : std::true_type {};
}  // namespace boost::system

#define PUFFER_CONCAT_INNER(a, b) a##b
#define PUFFER_CONCAT(a, b) PUFFER_CONCAT_INNER(a, b)

// Evaluates expr (a result); returns its error from the enclosing function if it has one.
#define PUFFER_TRY(expr)                                       \
    do {                                                       \
        auto&& puffer_try_result_ = (expr);                    \
        if (!puffer_try_result_) [[unlikely]] {                \
            return std::move(puffer_try_result_).error();      \
        }                                                      \
    } while (0)

// Declares/assigns lhs from the value of expr (a result), or returns its error.
#define PUFFER_TRY_ASSIGN(lhs, expr) \
    PUFFER_TRY_ASSIGN_IMPL(PUFFER_CONCAT(puffer_try_value_, __LINE__), lhs, expr)
#define PUFFER_TRY_ASSIGN_IMPL(tmp, lhs, expr)    \
    auto tmp = (expr);                            \
    if (!tmp) [[unlikely]] {                      \
        return std::move(tmp).error();            \
    }                                             \
    lhs = std::move(*tmp)
