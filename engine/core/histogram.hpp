#pragma once
// A latency histogram with fixed bucket bounds (0.1 ms to 10 s, as Prometheus expects them
// cumulative on output; held here per bucket). One owner updates it; readers take copies.

#include <array>
#include <cstddef>
#include <cstdint>

namespace puffer {

// Upper bounds of the buckets, in seconds (+Inf follows).
inline constexpr std::array<double, 16> latency_bucket_bounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct latency_histogram {
    std::uint64_t count = 0;
    double sum_seconds = 0;
    std::array<std::uint64_t, latency_bucket_bounds.size()> buckets{};  // per bucket; the rest is +Inf

    void observe(double seconds)
    {
        ++count;
        sum_seconds += seconds;
        for (std::size_t b = 0; b < latency_bucket_bounds.size(); ++b) {
            if (seconds <= latency_bucket_bounds[b]) {
                ++buckets[b];
                return;
            }
        }
    }
};

}  // namespace puffer
