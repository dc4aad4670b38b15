#pragma once
// Who may call what. A full key (--api-key) may call every route; a read-only key
// (--read-only-api-key) only the routes that change nothing. Keys come as
// `Authorization: Bearer K` or `api-key: K`. With no key configured the server answers loopback
// peers only, unless it was started with --allow-unauthenticated. /healthz is always open.
// Keys are compared in time that depends only on the configured key's length, never on how much
// of a wrong key matches; they are never logged. Free of Beast: the server passes the headers in.

#include <optional>
#include <string>
#include <string_view>

namespace puffer::net {

struct auth_options {
    std::string api_key;            // empty: none
    std::string read_only_api_key;  // empty: none
    bool allow_unauthenticated = false;

    bool keys_configured() const { return !api_key.empty() || !read_only_api_key.empty(); }
};

// What a request presented, as the server read it.
struct credentials {
    std::string_view authorization;  // the Authorization header, or empty
    std::string_view api_key;        // the api-key header, or empty
    bool peer_is_loopback = false;
};

struct auth_refusal {
    unsigned status;        // 401 or 403
    std::string_view code;  // "unauthorized" or "forbidden"
    std::string message;
};

// Nothing when the request may go on; otherwise the answer. `writes`: the route changes state.
std::optional<auth_refusal> authorize(const auth_options& o, const credentials& c, bool writes);

// a == b, in time that depends on b's length only.
bool constant_time_equal(std::string_view a, std::string_view b);

// What the start-up log says about access (never the keys).
std::string describe_access(const auth_options& o);

// A key must be 1 to 512 printable ASCII characters without spaces; the reason otherwise.
std::optional<std::string> invalid_key_reason(std::string_view key);

}  // namespace puffer::net
