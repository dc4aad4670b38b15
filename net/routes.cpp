#include "net/routes.hpp"

#include "engine/core/clock.hpp"
#include "engine/core/log.hpp"
#include "net/console.hpp"
#include "net/error_envelope.hpp"
#include "net/request_decoding.hpp"
#include "net/response_encoding.hpp"

#include <boost/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <optional>
#include <memory>
#include <vector>

namespace puffer::net {

// One request on its way through the router: what the handler needs, and how to answer.
struct router::call {
    std::string_view method;
    std::string name;  // the collection, for routes under /v1/collections/{name}
    std::string item;  // the path's fifth segment, percent-decoded (a point id)
    std::string query;  // after '?' in the target
    std::string body;
    std::shared_ptr<deliver_fn> deliver;
    std::string upload_file;  // an upload's body, in a file

    void answer(http_response r)
    {
        (*deliver)([r = std::move(r)]() mutable { return std::move(r); });
    }
};

namespace {

std::vector<std::string_view> split_path(std::string_view target)
{
    if (auto q = target.find('?'); q != std::string_view::npos) {
        target = target.substr(0, q);
    }
    std::vector<std::string_view> parts;
    std::size_t i = 0;
    while (i < target.size()) {
        while (i < target.size() && target[i] == '/') {
            ++i;
        }
        std::size_t j = i;
        while (j < target.size() && target[j] != '/') {
            ++j;
        }
        if (j > i) {
            parts.push_back(target.substr(i, j - i));
        }
        i = j;
    }
    return parts;
}

http_response json_response(unsigned status, std::string body)
{
    http_response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

http_response shutting_down_response()
{
    http_response r = error_response(503, "shutting_down", "the server is shutting down");
    r.retry_after = true;
    return r;
}

// A path segment that matches any collection name (or, fifth, any point id).
constexpr std::string_view any_name = "{name}";

int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// %XX escapes decoded (a '+' stays a '+': paths are not form data); nullopt when one is malformed.
std::optional<std::string> percent_decode(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) {
            return std::nullopt;
        }
        int hi = hex_value(s[i + 1]);
        int lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

// The value of `key` in a query string ("a=1&b=2"), undecoded; nullopt when absent.
std::optional<std::string_view> query_value(std::string_view query, std::string_view key)
{
    while (!query.empty()) {
        std::size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        std::size_t eq = pair.find('=');
        if (pair.substr(0, eq) == key) {
            return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
        }
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
    return std::nullopt;
}

}  // namespace

const router::route_entry* router::match(std::string_view method, const std::vector<std::string_view>& parts,
                                         std::string& allow) const
{
    constexpr bool reads = false;
    constexpr bool writes = true;
    // Each entry's last field is its label in /metrics.
    static const route_entry table[] = {
        {{"healthz"}, 1, "GET", &router::healthz, reads, "/healthz"},
        // The web console's files: open to every caller, as they hold no data.
        {{}, 0, "GET", &router::console, reads, "/"},
        {{"console"}, 1, "GET", &router::console, reads, "/console"},
        {{"console", any_name}, 2, "GET", &router::console, reads, "/console/{file}"},
        {{"metrics"}, 1, "GET", &router::metrics, reads, "/metrics"},
        {{"v1", "collections"}, 2, "GET", &router::list_collections, reads, "/v1/collections"},
        {{"v1", "collections"}, 2, "POST", &router::create_collection, writes, "/v1/collections"},
        {{"v1", "collections", any_name}, 3, "GET", &router::describe_collection, reads,
         "/v1/collections/{name}"},
        {{"v1", "collections", any_name}, 3, "DELETE", &router::drop_collection, writes, "/v1/collections/{name}"},
        {{"v1", "collections", any_name, "stats"}, 4, "GET", &router::collection_stats, reads,
         "/v1/collections/{name}/stats"},
        {{"v1", "collections", any_name, "points"}, 4, "POST", &router::upsert_points, writes,
         "/v1/collections/{name}/points"},
        {{"v1", "collections", any_name, "points", "delete"}, 5, "POST", &router::delete_points, writes,
         "/v1/collections/{name}/points/delete"},
        {{"v1", "collections", any_name, "points", "count"}, 5, "POST", &router::count_points, reads,
         "/v1/collections/{name}/points/count"},
        {{"v1", "collections", any_name, "points", "get"}, 5, "POST", &router::get_points, reads,
         "/v1/collections/{name}/points/get"},
        {{"v1", "collections", any_name, "points", "scroll"}, 5, "POST", &router::scroll_points, reads,
         "/v1/collections/{name}/points/scroll"},
        {{"v1", "collections", any_name, "points", "payload"}, 5, "POST", &router::patch_payloads, writes,
         "/v1/collections/{name}/points/payload"},
        {{"v1", "collections", any_name, "points", any_name}, 5, "GET", &router::get_point, reads,
         "/v1/collections/{name}/points/{id}"},
        {{"v1", "collections", any_name, "search"}, 4, "POST", &router::search, reads,
         "/v1/collections/{name}/search"},
        {{"v1", "collections", any_name, "search", "batch"}, 5, "POST", &router::search_batch, reads,
         "/v1/collections/{name}/search/batch"},
        {{"v1", "collections", any_name, "recall"}, 4, "POST", &router::recall, reads,
         "/v1/collections/{name}/recall"},
        {{"v1", "collections", any_name, "flush"}, 4, "POST", &router::flush, writes, "/v1/collections/{name}/flush"},
        {{"v1", "collections", any_name, "compact"}, 4, "POST", &router::compact, writes,
         "/v1/collections/{name}/compact"},
        // Snapshots hold every point: each call on them takes the full key.
        {{"v1", "collections", any_name, "snapshots"}, 4, "POST", &router::create_snapshot, writes,
         "/v1/collections/{name}/snapshots"},
        {{"v1", "collections", any_name, "snapshots"}, 4, "GET", &router::list_snapshots, writes,
         "/v1/collections/{name}/snapshots"},
        {{"v1", "collections", any_name, "snapshots", "restore"}, 5, "POST", &router::restore_snapshot, writes,
         "/v1/collections/{name}/snapshots/restore"},
        {{"v1", "collections", any_name, "snapshots", any_name}, 5, "GET", &router::get_snapshot, writes,
         "/v1/collections/{name}/snapshots/{id}"},
        {{"v1", "collections", any_name, "snapshots", any_name}, 5, "DELETE", &router::delete_snapshot, writes,
         "/v1/collections/{name}/snapshots/{id}"},
    };
    auto fits = [&](const route_entry& r) {
        if (r.length != parts.size()) {
            return false;
        }
        for (std::size_t i = 0; i < r.length; ++i) {
            if (r.pattern[i] != any_name && r.pattern[i] != parts[i]) {
                return false;
            }
        }
        return true;
    };
    // A literal segment outranks the id wildcard: GET .../points/count is not the point "count"
    // (such ids are read with POST .../points/get).
    auto wildcard_item = [](const route_entry& r) { return r.length == 5 && r.pattern[4] == any_name; };
    bool literal_fits = false;
    for (const auto& r : table) {
        literal_fits = literal_fits || (fits(r) && !wildcard_item(r));
    }
    const route_entry* found = nullptr;
    allow.clear();
    for (const auto& r : table) {
        if (!fits(r) || (literal_fits && wildcard_item(r))) {
            continue;
        }
        allow += allow.empty() ? "" : ", ";
        allow += r.method;
        if (r.method == method) {
            found = found != nullptr ? found : &r;
        }
    }
    return found;
}

http_response error_response(const error& e)
{
    http_error c = classify(e);
    std::string message = e.text();
    if (out_of_file_descriptors(e)) {
        message = "the server is out of file descriptors (raise its open-file limit, ulimit -n; "
                  "docs/operations.md says how many it needs); retry: " + message;
    }
    http_response r = error_response(c.status, c.code, message);
    r.retry_after = c.status == 503;
    return r;
}

http_response error_response(unsigned status, std::string_view code, std::string_view message)
{
    return json_response(status, error_body(code, message));
}

std::string_view router::handle(http_request request, deliver_fn deliver)
{
    auto parts = split_path(request.target);
    call c{request.method, {}, {}, {}, std::move(request.body), std::make_shared<deliver_fn>(std::move(deliver)),
           std::move(request.upload_file)};
    // An upload's file goes with the call: removed once the call is answered, whichever way.
    struct remove_upload {
        explicit remove_upload(std::string p) : path(std::move(p)) {}
        remove_upload(const remove_upload&) = delete;
        remove_upload& operator=(const remove_upload&) = delete;
        std::string path;
        ~remove_upload()
        {
            if (!path.empty()) {
                (void)io::posix_env().remove(path);
            }
        }
    };
    std::shared_ptr<remove_upload> upload_guard;
    if (!c.upload_file.empty()) {
        upload_guard = std::make_shared<remove_upload>(c.upload_file);
        auto inner = std::move(c.deliver);
        c.deliver = std::make_shared<deliver_fn>([inner, upload_guard](make_response_fn make) mutable {
            upload_guard.reset();
            (*inner)(std::move(make));
        });
    }
    if (auto q = request.target.find('?'); q != std::string_view::npos) {
        c.query = std::string(request.target.substr(q + 1));
    }
    std::string allow;
    const route_entry* r = match(c.method, parts, allow);
    const std::string_view label = r != nullptr ? r->label : "none";
    if (r != nullptr && r->handler == &router::healthz) {
        healthz(c);
        return label;
    }
    if (r != nullptr && r->handler == &router::console) {
        c.item = parts.size() == 2 ? std::string(parts[1]) : std::string("index.html");
        console(c);
        return label;
    }
    // The order of checks (docs/api.md): key, route, method, shutdown, name, body, collection.
    // The key comes first, so that a caller without one learns nothing of the routes.
    if (auto refused = authorize(options_.auth, request.who, r != nullptr && r->writes)) {
        c.answer(error_response(refused->status, refused->code, refused->message));
        return label;
    }
    if (r == nullptr && allow.empty()) {
        c.answer(error_response(404, "route_not_found", "no route for " + std::string(request.target.substr(0, 200))));
        return label;
    }
    if (r == nullptr) {
        http_response na = error_response(405, "method_not_allowed",
                                          "method " + std::string(c.method) + " is not allowed here; allowed: " + allow);
        na.allow = allow;
        c.answer(std::move(na));
        return label;
    }
    if (shutting_down()) {
        c.answer(shutting_down_response());
        return label;
    }
    if (parts.size() >= 3) {
        c.name = std::string(parts[2]);
        if (!db::valid_collection_name(c.name)) {
            c.answer(error_response(400, "invalid_argument",
                                    "invalid collection name '" + c.name.substr(0, 80) +
                                        "': use 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'"));
            return label;
        }
    }
    if (parts.size() >= 5) {
        auto decoded = percent_decode(parts[4]);
        if (!decoded || decoded->empty() || decoded->size() > id_size_bytes_max) {
            c.answer(error_response(400, "invalid_argument",
                                    strprintf("the id in the path must be 1 to %zu bytes, percent-encoded",
                                              id_size_bytes_max)));
            return label;
        }
        c.item = std::move(*decoded);
    }
    (this->*(r->handler))(c);
    return label;
}

namespace {

// An engine completion (on a shard thread) that answers with a status: ok_body, or the error.
auto on_status(const std::shared_ptr<deliver_fn>& d, unsigned ok_status, std::string ok_body)
{
    return [d, ok_status, ok_body = std::move(ok_body)](status s) mutable {
        (*d)([s = std::move(s), ok_status, ok_body = std::move(ok_body)]() mutable {
            return s ? json_response(ok_status, std::move(ok_body)) : error_response(s.error());
        });
    };
}

// An engine completion that answers with a number: {"<key>": n}, or the error.
auto on_count(const std::shared_ptr<deliver_fn>& d, const char* key)
{
    return [d, key](result<std::size_t> r) mutable {
        (*d)([r = std::move(r), key]() mutable {
            return r ? json_response(200, strprintf("{\"%s\":%zu}", key, *r)) : error_response(r.error());
        });
    };
}

}  // namespace

void router::healthz(call& c)
{
    c.answer(shutting_down() ? shutting_down_response() : json_response(200, R"({"status":"ok"})"));
}

void router::console(call& c)
{
    auto bytes = console_file_bytes(options_.console_dir, c.item);
    if (!bytes) {
        c.answer(error_response(404, "route_not_found", "the console has no file '" + c.item.substr(0, 80) + "'"));
        return;
    }
    http_response r;
    r.body = std::move(*bytes);
    r.content_type = console_content_type(c.item);
    c.answer(std::move(r));
}

void router::metrics(call& c)
{
    // The shards' reports first, then every collection's stats; rendered on the net thread.
    db_.shard_reports([this, d = c.deliver](result<std::vector<shard::shard_report>> shards) mutable {
        if (!shards) {
            (*d)([e = shards.error()] { return error_response(e); });
            return;
        }
        db_.all_stats([this, d, shards = std::move(*shards)](
                          result<std::vector<collection::collection_stats>> all) mutable {
            (*d)([this, shards = std::move(shards), all = std::move(all)] {
                if (!all) {
                    return error_response(all.error());
                }
                http_response r;
                r.content_type = "text/plain; version=0.0.4; charset=utf-8";
                request_metrics_.render(r.body);
                render_shard_metrics(shards, r.body);
                render_collection_metrics(*all, r.body);
                return r;
            });
        });
    });
}

void router::list_collections(call& c)
{
    db_.list_collections([d = c.deliver](result<std::vector<collection::collection_info>> infos) {
        (*d)([infos = std::move(infos)] {
            return infos ? json_response(200, list_json(*infos)) : error_response(infos.error());
        });
    });
}

void router::create_collection(call& c)
{
    auto parsed = parse_create(c.body);
    if (!parsed) {
        c.answer(error_response(parsed.error()));
        return;
    }
    collection::collection_info info;
    info.name = parsed->name;
    info.dimension = parsed->dimension;
    info.distance_metric = parsed->distance_metric;
    info.unindexed_fields = parsed->unindexed_fields;
    std::sort(info.unindexed_fields.begin(), info.unindexed_fields.end());
    info.unindexed_fields.erase(std::unique(info.unindexed_fields.begin(), info.unindexed_fields.end()),
                                info.unindexed_fields.end());
    info.quantization = parsed->quantization;
    collection::create_settings settings;
    settings.unindexed_fields = std::move(parsed->unindexed_fields);
    settings.quantization = parsed->quantization;
    db_.create_collection(parsed->name, parsed->dimension, parsed->distance_metric, std::move(settings),
                          on_status(c.deliver, 201, info_json(info)));
}

void router::describe_collection(call& c)
{
    db_.stats(c.name, [d = c.deliver](result<collection::collection_stats> r) {
        (*d)([r = std::move(r)]() mutable { return r ? json_response(200, info_json(r->info)) : error_response(r.error()); });
    });
}

void router::drop_collection(call& c)
{
    boost::json::object o;
    o["deleted"] = c.name;
    db_.drop_collection(c.name, on_status(c.deliver, 200, boost::json::serialize(o)));
}

void router::collection_stats(call& c)
{
    db_.stats(c.name, [d = c.deliver, io = db_.io()](result<collection::collection_stats> r) {
        (*d)([r = std::move(r), io]() mutable {
            return r ? json_response(200, stats_json(*r, io)) : error_response(r.error());
        });
    });
}

void router::upsert_points(call& c)
{
    auto parsed = parse_points(c.body);
    if (!parsed) {
        c.answer(error_response(parsed.error()));
        return;
    }
    std::size_t n = parsed->size();
    db_.upsert(c.name, std::move(*parsed), on_status(c.deliver, 200, strprintf("{\"upserted\":%zu}", n)));
}

void router::delete_points(call& c)
{
    auto parsed = parse_delete(c.body);
    if (!parsed) {
        c.answer(error_response(parsed.error()));
        return;
    }
    auto answer = on_count(c.deliver, "deleted");
    if (parsed->filter) {
        db_.remove_matching(c.name, std::move(parsed->filter), std::move(answer));
        return;
    }
    db_.remove(c.name, std::move(parsed->ids), std::move(answer));
}

void router::patch_payloads(call& c)
{
    auto parsed = parse_patch(c.body);
    if (!parsed) {
        c.answer(error_response(parsed.error()));
        return;
    }
    collection::collection::payload_patch p;
    p.ids = std::move(parsed->ids);
    p.filter = std::move(parsed->filter);
    p.payload = std::move(parsed->payload);
    p.mode = parsed->replace ? index::patch_mode::replace : index::patch_mode::merge;
    db_.patch_payloads(c.name, std::move(p), on_count(c.deliver, "updated"));
}

void router::get_points(call& c)
{
    auto parsed = parse_get(c.body);
    if (!parsed) {
        c.answer(error_response(parsed.error()));
        return;
    }
    payload_selection sel = parsed->payload;
    bool vectors = parsed->include_vector;
    db_.get_points(c.name, std::move(parsed->ids), sel.include, vectors, options_.answer_bytes_max,
                   [d = c.deliver, sel, vectors](result<query::get_response> r) mutable {
        (*d)([r = std::move(r), sel = std::move(sel), vectors]() mutable {
            if (!r) {
                return error_response(r.error());
            }
            auto body = get_json(*r, sel, vectors);
            return body ? json_response(200, std::move(*body)) : error_response(body.error());
        });
    });
}

void router::get_point(call& c)
{
    // ?include_vector=true and ?include_payload=false; the answer is the point object itself.
    auto flag = [&c](std::string_view key, bool fallback) -> std::optional<bool> {
        auto v = query_value(c.query, key);
        if (!v) {
            return fallback;
        }
        if (*v == "true" || *v == "1") {
            return true;
        }
        if (*v == "false" || *v == "0") {
            return false;
        }
        return std::nullopt;
    };
    auto vectors = flag("include_vector", false);
    auto payloads = flag("include_payload", true);
    if (!vectors || !payloads) {
        c.answer(error_response(400, "invalid_argument", "include_vector and include_payload take true or false"));
        return;
    }
    payload_selection sel{*payloads, {}};
    std::string id = c.item;
    db_.get_points(c.name, {c.item}, sel.include, *vectors, options_.answer_bytes_max,
                   [d = c.deliver, sel, vectors = *vectors, id = std::move(id)](result<query::get_response> r) mutable {
        (*d)([r = std::move(r), sel = std::move(sel), vectors, id = std::move(id)]() mutable {
            if (!r) {
                return error_response(r.error());
            }
            if (r->points.empty()) {
                return error_response(404, "not_found", "no point '" + id.substr(0, 300) + "'");
            }
            auto body = point_json(r->points.front(), sel, vectors);
            return body ? json_response(200, std::move(*body)) : error_response(body.error());
        });
    });
}

void router::scroll_points(call& c)
{
    auto parsed = parse_scroll(c.body);
    if (!parsed) {
        c.answer(error_response(parsed.error()));
        return;
    }
    payload_selection sel = parsed->payload;
    bool vectors = parsed->request.include_vector;
    parsed->request.bytes_max = options_.answer_bytes_max;
    db_.scroll(c.name, std::move(parsed->request), [d = c.deliver, sel, vectors](result<query::scroll_response> r) mutable {
        (*d)([r = std::move(r), sel = std::move(sel), vectors]() mutable {
            if (!r) {
                return error_response(r.error());
            }
            auto body = scroll_json(*r, sel, vectors);
            return body ? json_response(200, std::move(*body)) : error_response(body.error());
        });
    });
}

namespace {

// The slow-query log line: how long, and what the plan asked and read.
void log_if_slow(std::uint32_t threshold_ms, std::chrono::steady_clock::time_point started, const std::string& name,
                 std::string_view what, const query::search_stats& s, std::size_t searches)
{
    if (threshold_ms == 0) {
        return;
    }
    double ms = ms_since(started);
    if (ms < threshold_ms) {
        return;
    }
    PUFFER_LOG(warn,
               "slow %.*s on '%s': %.0f ms (%zu searches): nprobe %zu, expected recall %.3f, %zu segments, "
               "%zu clusters probed, %zu read from disk, %zu vectors scanned, %llu bytes read, %zu shards",
               static_cast<int>(what.size()), what.data(), name.c_str(), ms, searches, s.nprobe, s.expected_recall,
               s.segments, s.clusters_probed, s.clusters_read, s.vectors_scanned,
               static_cast<unsigned long long>(s.bytes_read), s.shards);
}

}  // namespace

void router::search(call& c)
{
    auto parsed = parse_search(c.body);
    if (!parsed) {
        c.answer(error_response(parsed.error()));
        return;
    }
    payload_selection include_payload{parsed->include_payload, parsed->payload_fields};
    parsed->payload_bytes_max = options_.answer_bytes_max;
    auto started = std::chrono::steady_clock::now();
    db_.search(c.name, std::move(*parsed),
               [d = c.deliver, include_payload, started, name = c.name,
                slow = options_.slow_query_ms](result<query::search_response> r) mutable {
        (*d)([r = std::move(r), include_payload, started, name = std::move(name), slow]() mutable {
            if (!r) {
                return error_response(r.error());
            }
            log_if_slow(slow, started, name, "search", r->stats, 1);
            auto body = search_json(*r, include_payload);
            return body ? json_response(200, std::move(*body)) : error_response(body.error());
        });
    });
}

void router::search_batch(call& c)
{
    auto parsed = parse_search_batch(c.body);
    if (!parsed) {
        c.answer(error_response(parsed.error()));
        return;
    }
    std::vector<payload_selection> include_payload;
    for (auto& s : *parsed) {
        include_payload.push_back({s.include_payload, s.payload_fields});
        s.payload_bytes_max = options_.answer_bytes_max;  // the batch's payloads together
    }
    auto started = std::chrono::steady_clock::now();
    db_.search_batch(c.name, std::move(*parsed),
                     [d = c.deliver, include_payload = std::move(include_payload), started, name = c.name,
                      slow = options_.slow_query_ms](result<query::batch_response> r) mutable {
        (*d)([r = std::move(r), include_payload = std::move(include_payload), started, name = std::move(name),
              slow]() mutable {
            if (!r) {
                return error_response(r.error());
            }
            log_if_slow(slow, started, name, "batch search", r->totals, r->results.size());
            auto body = batch_json(*r, include_payload);
            return body ? json_response(200, std::move(*body)) : error_response(body.error());
        });
    });
}

void router::count_points(call& c)
{
    auto parsed = parse_count(c.body);
    if (!parsed) {
        c.answer(error_response(parsed.error()));
        return;
    }
    db_.count(c.name, std::move(*parsed), on_count(c.deliver, "count"));
}

void router::recall(call& c)
{
    auto parsed = parse_recall(c.body);
    if (!parsed) {
        c.answer(error_response(parsed.error()));
        return;
    }
    db_.recall(c.name, std::move(*parsed), [d = c.deliver](result<query::recall_response> r) {
        (*d)([r = std::move(r)]() mutable { return r ? json_response(200, recall_json(*r)) : error_response(r.error()); });
    });
}

void router::flush(call& c)
{
    db_.flush(c.name, on_status(c.deliver, 200, R"({"flushed":true})"));
}

void router::compact(call& c)
{
    db_.compact(c.name, on_status(c.deliver, 200, R"({"compacted":true})"));
}

// ---- snapshots

bool router::is_upload(std::string_view method, std::string_view target) const
{
    auto parts = split_path(target);
    return method == "POST" && parts.size() == 5 && parts[0] == "v1" && parts[1] == "collections" &&
           parts[3] == "snapshots" && parts[4] == "restore";
}

std::optional<http_response> router::refuse_upload(const credentials& who) const
{
    if (auto refused = authorize(options_.auth, who, true)) {
        return error_response(refused->status, refused->code, refused->message);
    }
    if (shutting_down()) {
        return shutting_down_response();
    }
    return std::nullopt;
}

std::string router::upload_path()
{
    // Under collections/, where start-up removes every .tmp-* name: a crash leaves nothing.
    return io::join_path(db::collections_dir_of(db_.options().data_dir),
                         strprintf(".tmp-upload-%d-%llu.tar", static_cast<int>(::getpid()),
                                   static_cast<unsigned long long>(uploads_.fetch_add(1))));
}

void router::create_snapshot(call& c)
{
    db_.create_snapshot(c.name, [d = c.deliver](result<db::snapshot_info> r) {
        (*d)([r = std::move(r)]() mutable {
            return r ? json_response(201, snapshot_json(*r)) : error_response(r.error());
        });
    });
}

void router::list_snapshots(call& c)
{
    db_.list_snapshots(c.name, [d = c.deliver](result<std::vector<db::snapshot_info>> r) {
        (*d)([r = std::move(r)]() mutable {
            return r ? json_response(200, snapshot_list_json(*r)) : error_response(r.error());
        });
    });
}

void router::get_snapshot(call& c)
{
    db_.open_snapshot(c.name, c.item, [d = c.deliver, name = c.name](result<std::unique_ptr<db::snapshot_archive>> r) {
        std::shared_ptr<db::snapshot_archive> archive;
        std::optional<error> failure;
        if (r) {
            archive = std::move(*r);
        } else {
            failure = r.error();
        }
        (*d)([archive, failure, name]() mutable {
            if (failure) {
                return error_response(*failure);
            }
            http_response resp;
            resp.content_type = "application/x-tar";
            resp.stream_bytes = archive->size();
            resp.attachment = name + "-" + archive->info().id + ".tar";
            resp.stream = std::move(archive);
            return resp;
        });
    });
}

void router::delete_snapshot(call& c)
{
    boost::json::object o;
    o["deleted"] = c.item;
    db_.delete_snapshot(c.name, c.item, on_status(c.deliver, 200, boost::json::serialize(o)));
}

void router::restore_snapshot(call& c)
{
    std::unique_ptr<io::byte_source> archive;
    if (!c.upload_file.empty()) {
        auto opened = io::file_source(io::posix_env(), c.upload_file);
        if (!opened) {
            c.answer(error_response(opened.error()));
            return;
        }
        archive = std::move(*opened);
    } else {
        archive = io::memory_source(std::move(c.body));
    }
    boost::json::object o;
    o["restored"] = c.name;
    db_.restore_collection(c.name, std::move(archive), on_status(c.deliver, 201, boost::json::serialize(o)));
}

}  // namespace puffer::net
