#pragma once
// GET /metrics in the Prometheus text format (version 0.0.4): the HTTP server's requests and
// latencies by route and status, kept here, and every collection's figures from its stats,
// rendered at scrape time. Free of Beast; http_metrics is safe for concurrent use.

#include "engine/collection/types.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace puffer::net {

// Upper bounds of the latency histogram's buckets, in seconds (+Inf follows).
inline constexpr std::array<double, 16> latency_buckets_seconds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

class http_metrics {
public:
    // One answered request: route is its pattern ("/v1/collections/{name}/search", "none" when
    // no route matched), status the answer's.
    void observe(std::string_view route, unsigned status, double seconds);

    // puffer_http_requests_total and puffer_http_request_duration_seconds, every series so far.
    void render(std::string& out) const;

private:
    struct series {
        std::uint64_t count = 0;
        double sum = 0;
        std::array<std::uint64_t, latency_buckets_seconds.size()> buckets{};  // not cumulative
    };
    // Orders (route, status) keys whether the route is held as a string or looked up as a view.
    struct key_less {
        using is_transparent = void;
        template <class A, class B>
        bool operator()(const A& a, const B& b) const
        {
            std::string_view ra = a.first;
            std::string_view rb = b.first;
            return ra != rb ? ra < rb : a.second < b.second;
        }
    };
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, unsigned>, series, key_less> series_;
};

// The collections' series, one sample per collection and metric (label collection="name").
void render_collection_metrics(const std::vector<collection::collection_stats>& all, std::string& out);

// name, escaped for a label value (backslash, double quote and newline).
std::string label_value(std::string_view name);

}  // namespace puffer::net
