#pragma once
// Elapsed time on the monotonic clock, for log lines and stats.

#include <chrono>

namespace puffer {

// Milliseconds since `since` (std::chrono::steady_clock).
inline double ms_since(std::chrono::steady_clock::time_point since)
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace puffer
