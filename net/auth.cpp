#include "net/auth.hpp"

#include "net/http_text.hpp"

#include <cstddef>
#include <cstdint>

namespace puffer::net {
namespace {

constexpr std::size_t key_bytes_max = 512;

// The key a request presented: the api-key header, else a Bearer token; empty when neither.
std::string_view presented_key(const credentials& c)
{
    if (!c.api_key.empty()) {
        return trim_blanks(c.api_key);
    }
    std::string_view a = trim_blanks(c.authorization);
    constexpr std::string_view bearer = "bearer";
    if (a.size() > bearer.size() && iequals_ascii(a.substr(0, bearer.size()), bearer) &&
        (a[bearer.size()] == ' ' || a[bearer.size()] == '\t')) {
        return trim_blanks(a.substr(bearer.size()));
    }
    return {};
}

}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b)
{
    // Every byte of b is compared with the byte of a at the same place (or 0 past a's end), and
    // differences are accumulated without a branch, so the time follows b's length only.
    volatile std::uint8_t diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < b.size(); ++i) {
        std::uint8_t x = i < a.size() ? static_cast<std::uint8_t>(a[i]) : 0;
        diff = static_cast<std::uint8_t>(diff | (x ^ static_cast<std::uint8_t>(b[i])));
    }
    return diff == 0;
}

std::optional<auth_refusal> authorize(const auth_options& o, const credentials& c, bool writes)
{
    if (!o.keys_configured()) {
        if (o.allow_unauthenticated || c.peer_is_loopback) {
            return std::nullopt;
        }
        return auth_refusal{401, "unauthorized",
                            "this server has no API key and answers only loopback clients: start it with "
                            "--api-key (or PUFFER_API_KEY, or --api-key-file), or with --allow-unauthenticated "
                            "to serve every client without a key"};
    }
    std::string_view key = presented_key(c);
    if (key.empty()) {
        return auth_refusal{401, "unauthorized",
                            "an API key is required: send 'Authorization: Bearer <key>' or 'api-key: <key>'"};
    }
    // Both comparisons always run, so the answer takes as long whichever key (if any) matched.
    bool full = !o.api_key.empty() && constant_time_equal(key, o.api_key);
    bool read_only = !o.read_only_api_key.empty() && constant_time_equal(key, o.read_only_api_key);
    if (full) {
        return std::nullopt;
    }
    if (read_only) {
        if (!writes) {
            return std::nullopt;
        }
        return auth_refusal{403, "forbidden", "the read-only API key may not call this route: it changes data"};
    }
    return auth_refusal{401, "unauthorized", "the API key is not valid"};
}

std::string describe_access(const auth_options& o)
{
    if (o.keys_configured()) {
        std::string s = "access: API key required";
        if (!o.api_key.empty()) {
            s += ", a full key";
        }
        if (!o.read_only_api_key.empty()) {
            s += !o.api_key.empty() ? " and a read-only key" : ", a read-only key only";
        }
        s += " configured";
        return s;
    }
    if (o.allow_unauthenticated) {
        return "access: no API key, every client served (--allow-unauthenticated)";
    }
    return "access: no API key, so only loopback clients are served (set --api-key to serve others)";
}

std::optional<std::string> invalid_key_reason(std::string_view key)
{
    if (key.empty()) {
        return std::string("it is empty");
    }
    if (key.size() > key_bytes_max) {
        return "it is " + std::to_string(key.size()) + " bytes long; at most " + std::to_string(key_bytes_max);
    }
    for (char ch : key) {
        if (ch <= ' ' || ch > '~') {
            return std::string("it holds a space, a control character or a non-ASCII byte");
        }
    }
    return std::nullopt;
}

}  // namespace puffer::net
