#pragma once
// Minimal leveled logger to stderr: one line per call, with a UTC timestamp and the level.
// Safe for concurrent use (one write(2) per line).

#include <string>
#include <string_view>

namespace puffer {

// printf-style formatting into a std::string.
std::string strprintf(const char* format, ...) __attribute__((format(printf, 1, 2)));

namespace log {

enum class level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_level(level l);
level current_level();
bool parse_level(std::string_view name, level& out);
void write(level l, std::string_view message);

inline bool enabled(level l)
{
    return l >= current_level();
}

}  // namespace log
}  // namespace puffer

// PUFFER_LOG(info, "format %s", arg): formats only when the level is enabled.
#define PUFFER_LOG(lvl, ...)                                                          \
    do {                                                                              \
        if (::puffer::log::enabled(::puffer::log::level::lvl)) {                      \
            ::puffer::log::write(::puffer::log::level::lvl, ::puffer::strprintf(__VA_ARGS__)); \
        }                                                                             \
    } while (0)
