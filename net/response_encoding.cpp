#include "net/response_encoding.hpp"

#include "engine/core/log.hpp"
#include "net/error_envelope.hpp"
#include "net/json_parse.hpp"

#include <boost/json.hpp>

#include <cmath>
#include <limits>
#include <optional>

namespace json = boost::json;

namespace puffer::net {
namespace {

json::object info_object(const collection::collection_info& info)
{
    json::object o;
    o["name"] = info.name;
    o["dimension"] = info.dimension;
    o["metric"] = to_string(info.distance_metric);
    o["points"] = info.points;
    if (!info.unindexed_fields.empty()) {
        json::array fields;
        for (const auto& f : info.unindexed_fields) {
            fields.emplace_back(f);
        }
        o["unindexed_fields"] = std::move(fields);
    }
    o["quantization"] = index::to_string(info.quantization);
    if (info.failed) {
        o["status"] = "failed";
    } else {
        o["status"] = "ok";
    }
    return o;
}

}  // namespace

std::string info_json(const collection::collection_info& info)
{
    return json::serialize(info_object(info));
}

std::string list_json(const std::vector<collection::collection_info>& infos)
{
    json::array a;
    for (const auto& i : infos) {
        a.push_back(info_object(i));
    }
    json::object o;
    o["collections"] = std::move(a);
    return json::serialize(o);
}

std::string stats_json(const collection::collection_stats& s, const db::io_report& io)
{
    json::object o = info_object(s.info);
    if (!s.failure.empty()) {
        o["failure"] = utf8_text(s.failure);  // names files, whose paths need not be UTF-8
    }
    o["segments"] = s.segments;
    o["staging_vectors"] = s.staging_vectors;
    o["flushing_vectors"] = s.frozen_vectors;
    o["recall_samples"] = s.recall_samples;
    if (s.recall_estimate >= 0) {
        o["recall_estimate"] = s.recall_estimate;
    }
    o["tombstones"] = s.tombstones;
    o["disk_bytes"] = s.disk_bytes;
    o["segment_bytes"] = s.segment_bytes;
    o["wal_bytes"] = s.wal_bytes;
    o["cache_hits"] = s.cache_hits;
    o["cache_misses"] = s.cache_misses;
    o["bytes_read"] = s.bytes_read;
    o["flushes"] = s.flushes;
    o["compactions"] = s.compactions;
    o["retrains"] = s.retrains;
    o["centroid_tables"] = s.centroid_tables;
    o["clusters"] = s.clusters;
    json::object iob;
    iob["ring"] = io.ring;
    iob["segment_reads"] = io.segment_reads;
    o["io"] = std::move(iob);
    o["wal_syncs"] = s.wal_groups;
    o["flushing"] = s.flushing;
    o["compacting"] = s.compacting;
    return json::serialize(o);
}

namespace {

// A score as a JSON number. JSON has no infinities: a squared distance or a dot product of
// finite float32 values can still overflow float32 (values near 1e38), and such a score is
// written as the largest float32 of its sign, where it still ranks. Top-k turns a NaN distance
// into +inf, so a NaN cannot get here; it would be written as null rather than as invalid JSON.
json::value score_value(float score)
{
    if (std::isnan(score)) {
        return nullptr;
    }
    if (std::isinf(score)) {
        return score > 0 ? std::numeric_limits<float>::max() : -std::numeric_limits<float>::max();
    }
    return score;
}

}  // namespace

namespace {

// A stored payload as JSON, with only the fields asked for (all when no list is given; an empty
// list gives an empty object), or null when the point has none.
// Stored payloads were checked when written; one that no longer parses (or holds a number JSON
// cannot carry, as an earlier version let through) is damaged data, reported as such rather
// than answered as null.
result<json::value> payload_value(const std::string& id, const std::string& payload, const payload_selection& sel)
{
    if (payload.empty()) {
        return json::value(nullptr);
    }
    auto v = parse_payload(payload);
    std::optional<std::string> bad_number = v ? find_non_finite(*v) : std::nullopt;
    if (!v || !v->is_object() || bad_number) {
        return make_error(errc::corruption,
                          strprintf("the stored payload of point '%s' is damaged: %s", id.c_str(),
                                    !v ? v.error().context.c_str()
                                       : bad_number ? ("field '" + *bad_number + "' is out of range").c_str()
                                                    : "not an object"));
    }
    if (!sel.fields) {
        return std::move(*v);
    }
    json::object kept;
    json::object& all = v->as_object();
    for (const auto& f : *sel.fields) {
        if (auto it = all.find(f); it != all.end()) {
            kept[f] = std::move(it->value());
        }
    }
    return json::value(std::move(kept));
}

// A search's hits as a JSON array.
result<json::array> hits_json(const query::search_response& response, const payload_selection& sel)
{
    json::array results;
    results.reserve(response.hits.size());
    for (const auto& h : response.hits) {
        json::object r;
        r["id"] = h.id;
        r["score"] = score_value(h.score);
        if (sel.include) {
            PUFFER_TRY_ASSIGN(r["payload"], payload_value(h.id, h.payload, sel));
        }
        results.push_back(std::move(r));
    }
    return results;
}

// Stored points as a JSON array of point objects (the shape an upsert takes).
result<json::array> points_array(const std::vector<query::stored_point>& points, const payload_selection& sel,
                                 bool include_vector)
{
    json::array out;
    out.reserve(points.size());
    for (const auto& p : points) {
        json::object o;
        o["id"] = p.id;
        if (include_vector) {
            json::array v;
            v.reserve(p.vector.size());
            for (float x : p.vector) {
                v.emplace_back(static_cast<double>(x));
            }
            o["vector"] = std::move(v);
        }
        if (sel.include) {
            PUFFER_TRY_ASSIGN(o["payload"], payload_value(p.id, p.payload, sel));
        }
        out.push_back(std::move(o));
    }
    return out;
}

json::object stats_object(const query::search_stats& s)
{
    json::object st;
    st["segments"] = s.segments;
    st["clusters_probed"] = s.clusters_probed;
    st["clusters_read"] = s.clusters_read;
    st["vectors_scanned"] = s.vectors_scanned;
    st["bytes_read"] = s.bytes_read;
    st["nprobe"] = s.nprobe;
    if (s.expected_recall >= 0) {
        st["expected_recall"] = s.expected_recall;
    }
    st["shards"] = s.shards;
    if (s.filtered) {
        st["matches"] = s.matches;
        st["exhaustive"] = s.exhaustive;
    }
    if (s.refine != 0) {
        st["refine"] = s.refine;
        st["reranked"] = s.reranked;
    }
    return st;
}

}  // namespace

result<std::string> get_json(const query::get_response& response, const payload_selection& payload,
                             bool include_vector)
{
    json::object o;
    PUFFER_TRY_ASSIGN(o["points"], points_array(response.points, payload, include_vector));
    json::array missing;
    for (const auto& id : response.missing) {
        missing.emplace_back(id);
    }
    o["missing"] = std::move(missing);
    return json::serialize(o);
}

result<std::string> point_json(const query::stored_point& point, const payload_selection& payload,
                               bool include_vector)
{
    PUFFER_TRY_ASSIGN(json::array a, points_array({point}, payload, include_vector));
    return json::serialize(a[0]);
}

result<std::string> scroll_json(const query::scroll_response& response, const payload_selection& payload,
                                bool include_vector)
{
    json::object o;
    PUFFER_TRY_ASSIGN(o["points"], points_array(response.points, payload, include_vector));
    if (response.next_cursor) {
        o["next_cursor"] = *response.next_cursor;
    } else {
        o["next_cursor"] = nullptr;
    }
    return json::serialize(o);
}

result<std::string> search_json(const query::search_response& response, const payload_selection& payload)
{
    PUFFER_TRY_ASSIGN(json::array results, hits_json(response, payload));
    json::object o;
    o["results"] = std::move(results);
    o["stats"] = stats_object(response.stats);
    return json::serialize(o);
}

result<std::string> batch_json(const query::batch_response& response, const std::vector<payload_selection>& include_payload)
{
    json::array results;
    json::array per_search;
    results.reserve(response.results.size());
    for (std::size_t i = 0; i < response.results.size(); ++i) {
        PUFFER_TRY_ASSIGN(json::array hits, hits_json(response.results[i], include_payload[i]));
        results.push_back(std::move(hits));
        json::object st;
        st["nprobe"] = response.results[i].stats.nprobe;
        st["clusters_probed"] = response.results[i].stats.clusters_probed;
        st["vectors_scanned"] = response.results[i].stats.vectors_scanned;
        if (response.results[i].stats.filtered) {
            st["matches"] = response.results[i].stats.matches;
            st["exhaustive"] = response.results[i].stats.exhaustive;
        }
        if (response.results[i].stats.expected_recall >= 0) {
            st["expected_recall"] = response.results[i].stats.expected_recall;
        }
        if (response.results[i].stats.refine != 0) {
            st["refine"] = response.results[i].stats.refine;
            st["reranked"] = response.results[i].stats.reranked;
        }
        per_search.push_back(std::move(st));
    }
    json::object o;
    o["results"] = std::move(results);
    json::object totals = stats_object(response.totals);
    totals.erase("nprobe");
    totals["searches"] = std::move(per_search);
    o["stats"] = std::move(totals);
    return json::serialize(o);
}

std::string recall_json(const query::recall_response& r)
{
    json::object o;
    o["recall"] = r.recall;
    o["num_queries"] = r.queries;
    o["top_k"] = r.top_k;
    o["nprobe"] = r.nprobe;
    if (r.expected_recall >= 0) {
        o["expected_recall"] = r.expected_recall;
    }
    o["vectors_scanned"] = r.vectors_scanned;
    o["exhaustive_vectors_scanned"] = r.exhaustive_vectors_scanned;
    return json::serialize(o);
}

namespace {

boost::json::object snapshot_object(const db::snapshot_info& info)
{
    boost::json::object o;
    o["id"] = info.id;
    o["created_unix_ms"] = info.created_unix_ms;
    o["points"] = info.points;
    o["bytes"] = info.bytes;
    o["files"] = info.files;
    return o;
}

}  // namespace

std::string snapshot_json(const db::snapshot_info& info)
{
    return boost::json::serialize(snapshot_object(info));
}

std::string snapshot_list_json(const std::vector<db::snapshot_info>& infos)
{
    boost::json::array a;
    for (const auto& i : infos) {
        a.push_back(snapshot_object(i));
    }
    boost::json::object o;
    o["snapshots"] = std::move(a);
    return boost::json::serialize(o);
}

}  // namespace puffer::net
