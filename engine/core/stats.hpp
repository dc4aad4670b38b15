#pragma once
// Small statistics helpers for benchmarks and tools.

#include <algorithm>
#include <cstddef>
#include <vector>

namespace puffer {

// The p-th percentile (0..100) of values, nearest rank; 0 for no values.
inline double percentile(std::vector<double> values, double p)
{
    if (values.empty()) {
        return 0;
    }
    std::sort(values.begin(), values.end());
    auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(i, values.size() - 1)];
}

}  // namespace puffer
