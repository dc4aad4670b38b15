#pragma once
// The one table that maps engine errors to HTTP: status, a stable code string, and the JSON
// envelope {"error":{"code":"...","message":"..."}} every failed request gets.

#include "engine/core/result.hpp"

#include <string>
#include <string_view>

namespace puffer::net {

struct http_error {
    unsigned status;
    std::string_view code;
};

// Status and code for an engine error (errno-style errors map to 500 "io_error", except
// ENOSPC/EDQUOT, which the engine already reports as errc::no_space -> 507, and EMFILE/ENFILE,
// which are an overload: 503 "busy").
http_error classify(const error& e);

// EMFILE or ENFILE: the process or the system is out of file descriptors.
bool out_of_file_descriptors(const error& e);

// {"error":{"code":code,"message":message}}. The message is made valid UTF-8 first
// (utf8_text): messages quote client input (a request target, a collection name cut at 80 bytes)
// that may not be, and JSON text must be.
std::string error_body(std::string_view code, std::string_view message);

// s with every byte that does not belong to a well-formed UTF-8 sequence (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF) replaced by U+FFFD. Valid text is returned as is.
std::string utf8_text(std::string_view s);

}  // namespace puffer::net
