#pragma once
// HTTP routes over the database, free of Beast: a request (method, target, body) in, a response
// (status, JSON body) out. Bodies are parsed and validated here, on the network thread; the
// engine call runs on the owning shard; the response is built by a function that the server runs
// back on the connection's thread, so shard threads never serialize JSON.

#include "engine/core/unique_function.hpp"
#include "engine/db/database.hpp"
#include "net/auth.hpp"
#include "net/metrics.hpp"

#include <array>
#include <memory>
#include <optional>
#include <atomic>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::net {

struct http_request {
    std::string_view method;  // "GET", "POST", ...
    std::string_view target;  // path and optional query
    std::string body;
    credentials who;          // the key it presented and where it came from
    // An upload (is_upload): the body was written to this file instead, which the route removes.
    std::string upload_file;
};

struct http_response {
    unsigned status = 200;
    std::string body;  // JSON, unless content_type says otherwise
    std::string_view content_type = "application/json";  // static storage
    std::string allow;  // 405: the methods the path takes
    bool retry_after = false;  // 503: ask the client to retry in a second
    // A streamed answer (a snapshot archive): stream_bytes bytes read from stream as they are
    // sent, instead of body; attachment names the file a browser saves it as.
    std::shared_ptr<io::byte_source> stream;
    std::uint64_t stream_bytes = 0;
    std::string attachment;
};

using make_response_fn = unique_function<http_response()>;
// Called exactly once, from any thread; the server runs make on the connection's thread.
using deliver_fn = unique_function<void(make_response_fn make)>;

struct router_options {
    // The payloads of one search answer may total at most this (0: no bound).
    std::size_t answer_bytes_max = std::size_t{32} << 20;
    auth_options auth;
    // A search or batch that takes at least this long from routing to its answer is logged (warn)
    // with its plan's budget and what it read; 0: never.
    std::uint32_t slow_query_ms = 1000;
    // Serve the console's files from this directory instead of the built-in copies (empty: built in).
    std::string console_dir;
};

class router {
public:
    explicit router(db::database& db, router_options options = {}) : db_(db), options_(std::move(options)) {}

    // Returns the matched route's pattern ("/v1/collections/{name}/search"; "none"), in static
    // storage, for the server's request metrics.
    std::string_view handle(http_request request, deliver_fn deliver);

    // Uploads (POST .../snapshots/restore) are received into a file, not memory: the server asks
    // after the request's header whether it is one, whether its key may write (so that a refused
    // caller sends nothing to disk), and where to put it (a name start-up removes, unique).
    bool is_upload(std::string_view method, std::string_view target) const;
    std::optional<http_response> refuse_upload(const credentials& who) const;
    std::string upload_path();

    // The server records every answered request here; GET /metrics renders it.
    http_metrics& request_metrics() { return request_metrics_; }

    // From now on every request but /healthz gets 503 shutting_down; /healthz reports it.
    void set_shutting_down() { shutting_down_.store(true); }
    bool shutting_down() const { return shutting_down_.load(); }

    struct call;  // one request being handled (routes.cpp)

private:
    // The route table (routes.cpp): a path pattern ("{name}" stands for a collection name), a
    // method and its handler, one entry per path and method.
    struct route_entry {
        std::array<std::string_view, 5> pattern;
        std::size_t length;
        std::string_view method;
        void (router::*handler)(call&);
        bool writes;  // changes state: refused to the read-only key
        std::string_view label;  // the pattern, for /metrics
    };
    // The entry for method on the path, or null; allow gets the methods the path takes (empty:
    // no such path).
    const route_entry* match(std::string_view method, const std::vector<std::string_view>& parts,
                             std::string& allow) const;

    void healthz(call& c);
    void console(call& c);
    void metrics(call& c);
    void list_collections(call& c);
    void create_collection(call& c);
    void describe_collection(call& c);
    void drop_collection(call& c);
    void collection_stats(call& c);
    void upsert_points(call& c);
    void delete_points(call& c);
    void search(call& c);
    void search_batch(call& c);
    void count_points(call& c);
    void get_points(call& c);
    void get_point(call& c);
    void scroll_points(call& c);
    void patch_payloads(call& c);
    void recall(call& c);
    void flush(call& c);
    void compact(call& c);
    void create_snapshot(call& c);
    void list_snapshots(call& c);
    void get_snapshot(call& c);
    void delete_snapshot(call& c);
    void restore_snapshot(call& c);

    db::database& db_;
    router_options options_;
    std::atomic<bool> shutting_down_{false};
    std::atomic<std::uint64_t> uploads_{0};
    http_metrics request_metrics_;
};

// An error response with the envelope.
http_response error_response(const error& e);
http_response error_response(unsigned status, std::string_view code, std::string_view message);

}  // namespace puffer::net
