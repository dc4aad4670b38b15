#pragma once
// GET /metrics in the Prometheus text format (version 0.0.4): the HTTP server's requests and
// latencies by route and status, kept here, and every collection's figures from its stats,
// rendered at scrape time. Free of Beast; http_metrics is safe for concurrent use.

#include "engine/collection/types.hpp"
#include "engine/core/histogram.hpp"
#include "engine/shard/report.hpp"

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

class http_metrics {
public:
    // One answered request: route is its pattern ("/v1/collections/{name}/search", "none" when
    // no route matched), status the answer's.
    void observe(std::string_view route, unsigned status, double seconds);

    // puffer_http_requests_total and puffer_http_request_duration_seconds, every series so far.
    void render(std::string& out) const;

private:
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
    std::map<std::pair<std::string, unsigned>, latency_histogram, key_less> series_;
};

// The collections' series, one sample per collection and metric (label collection="name").
void render_collection_metrics(const std::vector<collection::collection_stats>& all, std::string& out);

// The shards' series (label shard="i"): ring operations, cluster and payload reads with their
// errors and checksum failures, inbox depth, cache use, searches in progress.
void render_shard_metrics(const std::vector<shard::shard_report>& shards, std::string& out);

// name, escaped for a label value (backslash, double quote and newline).
std::string label_value(std::string_view name);

// The _bucket, _sum and _count lines of histogram `name` for one label set ("a=\"b\"").
void render_histogram(std::string& out, std::string_view name, const std::string& labels, const latency_histogram& h);

}  // namespace puffer::net
