#include "engine/core/log.hpp"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <sys/time.h>
#include <unistd.h>

namespace puffer {

std::string strprintf(const char* format, ...)
{
    char stack[512];
    va_list args;
    va_start(args, format);
    int n = std::vsnprintf(stack, sizeof stack, format, args);
    va_end(args);
    if (n < 0) {
        return {};
    }
    if (static_cast<std::size_t>(n) < sizeof stack) {
        return std::string(stack, static_cast<std::size_t>(n));
    }
    std::string out(static_cast<std::size_t>(n), '\0');
    va_start(args, format);
    std::vsnprintf(out.data(), out.size() + 1, format, args);
    va_end(args);
    return out;
}

namespace log {
namespace {

std::atomic<level> threshold{level::info};

const char* name_of(level l)
{
    switch (l) {
    case level::debug: return "DEBUG";
    case level::info: return "INFO";
    case level::warn: return "WARN";
    case level::error: return "ERROR";
    case level::off: return "OFF";
    }
    return "?";
}

}  // namespace

void set_level(level l)
{
    threshold.store(l, std::memory_order_relaxed);
}

level current_level()
{
    return threshold.load(std::memory_order_relaxed);
}

bool parse_level(std::string_view name, level& out)
{
    if (name == "debug") {
        out = level::debug;
    } else if (name == "info") {
        out = level::info;
    } else if (name == "warn" || name == "warning") {
        out = level::warn;
    } else if (name == "error") {
        out = level::error;
    } else if (name == "off") {
        out = level::off;
    } else {
        return false;
    }
    return true;
}

void write(level l, std::string_view message)
{
    timeval now{};
    gettimeofday(&now, nullptr);
    std::tm utc{};
    gmtime_r(&now.tv_sec, &utc);
    char prefix[64];
    int n = std::snprintf(prefix, sizeof prefix, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s ",
                          utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                          utc.tm_min, utc.tm_sec, static_cast<int>(now.tv_usec / 1000), name_of(l));
    std::string line;
    line.reserve(static_cast<std::size_t>(n) + message.size() + 1);
    line.append(prefix, static_cast<std::size_t>(n));
    line.append(message);
    line.push_back('\n');
    // One write(2) keeps concurrent lines whole; a failed log write has nowhere to be reported.
    [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace log
}  // namespace puffer
