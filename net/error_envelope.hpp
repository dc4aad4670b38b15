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
// ENOSPC/EDQUOT, which the engine already reports as errc::no_space -> 507).
http_error classify(const error& e);

// {"error":{"code":code,"message":message}}
std::string error_body(std::string_view code, std::string_view message);

}  // namespace puffer::net
