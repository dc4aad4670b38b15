#include "net/metrics.hpp"

#include "engine/core/log.hpp"

#include <charconv>
#include <cstddef>

namespace puffer::net {
namespace {

// The shortest text that reads back as v: positional ("0.0001", "12345678901") in the range
// metrics take, with an exponent only beyond it.
void append_number(std::string& out, double v)
{
    char buf[64];
    double a = v < 0 ? -v : v;
    bool positional = v == 0 || (a >= 1e-6 && a < 1e15);
    auto r = positional ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                        : std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// A metric with one sample per item (a collection, a shard), read from the item.
template <class T>
struct item_metric {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const T&);
};

// Each metric's HELP and TYPE lines, then its sample for every item; labels[i] is item i's label
// set ("collection=\"docs\"").
template <class T, std::size_t N>
void render_items(std::string& out, const item_metric<T> (&metrics)[N], const std::vector<T>& items,
                  const std::vector<std::string>& labels)
{
    for (const auto& m : metrics) {
        out += strprintf("# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.type);
        for (std::size_t i = 0; i < items.size(); ++i) {
            out += m.name;
            out += "{" + labels[i] + "} ";
            append_number(out, m.value(items[i]));
            out += '\n';
        }
    }
}

}  // namespace

std::string label_value(std::string_view name)
{
    std::string out;
    out.reserve(name.size());
    for (char c : name) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

void http_metrics::observe(std::string_view route, unsigned status, double seconds)
{
    std::lock_guard lock(mutex_);
    auto it = series_.find(std::pair<std::string_view, unsigned>(route, status));
    if (it == series_.end()) {
        it = series_.emplace(std::pair<std::string, unsigned>(std::string(route), status), latency_histogram{}).first;
    }
    it->second.observe(seconds);
}

void render_histogram(std::string& out, std::string_view name, const std::string& labels, const latency_histogram& h)
{
    std::string prefix(name);
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < latency_bucket_bounds.size(); ++b) {
        cumulative += h.buckets[b];
        out += prefix + "_bucket{" + labels + ",le=\"";
        append_number(out, latency_bucket_bounds[b]);
        out += strprintf("\"} %llu\n", static_cast<unsigned long long>(cumulative));
    }
    out += prefix + "_bucket{" + labels + strprintf(",le=\"+Inf\"} %llu\n", static_cast<unsigned long long>(h.count));
    out += prefix + "_sum{" + labels + "} ";
    append_number(out, h.sum_seconds);
    out += "\n" + prefix + "_count{" + labels + strprintf("} %llu\n", static_cast<unsigned long long>(h.count));
}

void http_metrics::render(std::string& out) const
{
    std::lock_guard lock(mutex_);
    out += "# HELP puffer_http_requests_total HTTP requests answered, by route pattern and status.\n";
    out += "# TYPE puffer_http_requests_total counter\n";
    for (const auto& [key, h] : series_) {
        out += strprintf("puffer_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
                         label_value(key.first).c_str(), key.second, static_cast<unsigned long long>(h.count));
    }
    out += "# HELP puffer_http_request_duration_seconds Time from a request's arrival to its answer being sent.\n";
    out += "# TYPE puffer_http_request_duration_seconds histogram\n";
    for (const auto& [key, h] : series_) {
        render_histogram(out, "puffer_http_request_duration_seconds",
                         strprintf("route=\"%s\",status=\"%u\"", label_value(key.first).c_str(), key.second), h);
    }
}

void render_collection_metrics(const std::vector<collection::collection_stats>& all, std::string& out)
{
    using metric = item_metric<collection::collection_stats>;
    static const metric metrics[] = {
        {"puffer_collection_points", "gauge", "Live points.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.info.points); }},
        {"puffer_collection_segments", "gauge", "Segment files.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.segments); }},
        {"puffer_collection_staging_vectors", "gauge", "Live vectors waiting in staging to be indexed.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.staging_vectors); }},
        {"puffer_collection_tombstones", "gauge", "Dead rows that segments still hold.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.tombstones); }},
        {"puffer_collection_disk_bytes", "gauge", "Bytes of segment and WAL files.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.disk_bytes); }},
        {"puffer_collection_wal_bytes", "gauge", "Bytes of WAL files.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.wal_bytes); }},
        {"puffer_collection_cache_hits_total", "counter", "Cluster reads served from the cache.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.cache_hits); }},
        {"puffer_collection_cache_misses_total", "counter", "Cluster reads that went to disk.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.cache_misses); }},
        {"puffer_collection_read_bytes_total", "counter", "Cluster and payload bytes read from disk.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.bytes_read); }},
        {"puffer_collection_flushes_total", "counter", "Flushes of staging into segments.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.flushes); }},
        {"puffer_collection_compactions_total", "counter", "Compactions.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.compactions); }},
        {"puffer_collection_retrains_total", "counter", "Compactions that trained a new centroid table.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.retrains); }},
        {"puffer_collection_wal_groups_total", "counter", "WAL groups made durable with one fdatasync.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.wal_groups); }},
        {"puffer_collection_wal_records_total", "counter", "WAL records (write batches) made durable.",
         [](const collection::collection_stats& s) { return static_cast<double>(s.wal_records); }},
        {"puffer_collection_failed", "gauge", "1 when the collection is failed (see its stats).",
         [](const collection::collection_stats& s) { return s.info.failed ? 1.0 : 0.0; }},
        {"puffer_recall_samples_total", "counter", "Searches sampled and re-run exactly (--recall-sample).",
         [](const collection::collection_stats& s) { return static_cast<double>(s.recall_samples); }},
    };
    std::vector<std::string> labels;
    labels.reserve(all.size());
    for (const auto& s : all) {
        labels.push_back("collection=\"" + label_value(s.info.name) + "\"");
    }
    render_items(out, metrics, all, labels);
    // Only collections with samples have an estimate.
    bool any_recall = false;
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (all[i].recall_estimate < 0) {
            continue;
        }
        if (!any_recall) {
            out += "# HELP puffer_recall_at_k Mean recall@k of the last 256 sampled searches against their exact "
                   "re-runs.\n# TYPE puffer_recall_at_k gauge\n";
            any_recall = true;
        }
        out += strprintf("puffer_recall_at_k{%s} %.6f\n", labels[i].c_str(), all[i].recall_estimate);
    }
    out += "# HELP puffer_collection_wal_fdatasync_seconds Time of each WAL group's fdatasync.\n"
           "# TYPE puffer_collection_wal_fdatasync_seconds histogram\n";
    for (std::size_t i = 0; i < all.size(); ++i) {
        render_histogram(out, "puffer_collection_wal_fdatasync_seconds", labels[i], all[i].wal_sync);
    }
}

void render_shard_metrics(const std::vector<shard::shard_report>& shards, std::string& out)
{
    using metric = item_metric<shard::shard_report>;
    static const metric metrics[] = {
        {"puffer_shard_ring_reads_total", "counter", "Reads submitted through the shard's ring.",
         [](const shard::shard_report& r) { return static_cast<double>(r.ring.reads); }},
        {"puffer_shard_ring_writes_total", "counter", "Writes submitted through the shard's ring (WAL groups).",
         [](const shard::shard_report& r) { return static_cast<double>(r.ring.writes); }},
        {"puffer_shard_ring_fdatasyncs_total", "counter", "fdatasyncs submitted through the shard's ring.",
         [](const shard::shard_report& r) { return static_cast<double>(r.ring.fdatasyncs); }},
        {"puffer_shard_cluster_reads_total", "counter", "Cluster reads from disk completed for searches.",
         [](const shard::shard_report& r) { return static_cast<double>(r.reads.cluster_reads); }},
        {"puffer_shard_cluster_read_bytes_total", "counter", "Bytes of cluster reads that succeeded.",
         [](const shard::shard_report& r) { return static_cast<double>(r.reads.cluster_read_bytes); }},
        {"puffer_shard_payload_reads_total", "counter", "Payload reads from disk completed for searches.",
         [](const shard::shard_report& r) { return static_cast<double>(r.reads.payload_reads); }},
        {"puffer_shard_read_errors_total", "counter", "Cluster and payload reads that failed or came back short.",
         [](const shard::shard_report& r) { return static_cast<double>(r.reads.read_errors); }},
        {"puffer_shard_crc_failures_total", "counter", "Reads whose crc32c did not match (corruption).",
         [](const shard::shard_report& r) { return static_cast<double>(r.reads.crc_failures); }},
        {"puffer_shard_inbox_depth", "gauge", "Tasks posted to the shard and not yet run.",
         [](const shard::shard_report& r) { return static_cast<double>(r.inbox_depth); }},
        {"puffer_shard_searches_active", "gauge", "Searches in progress on the shard.",
         [](const shard::shard_report& r) { return static_cast<double>(r.searches_active); }},
        {"puffer_shard_cache_bytes", "gauge", "Bytes the shard's cluster cache holds.",
         [](const shard::shard_report& r) { return static_cast<double>(r.cache_bytes); }},
        {"puffer_shard_cache_budget_bytes", "gauge", "The shard's cluster cache budget.",
         [](const shard::shard_report& r) { return static_cast<double>(r.cache_budget_bytes); }},
    };
    std::vector<std::string> labels;
    labels.reserve(shards.size());
    for (const auto& r : shards) {
        labels.push_back(strprintf("shard=\"%zu\"", r.index));
    }
    render_items(out, metrics, shards, labels);
}

}  // namespace puffer::net
