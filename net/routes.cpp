#include "net/routes.hpp"

#include "engine/core/log.hpp"
#include "net/error_envelope.hpp"
#include "net/json_codec.hpp"

#include <boost/json.hpp>

#include <memory>
#include <vector>

namespace puffer::net {
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

http_response method_not_allowed(std::string_view method, std::string allow)
{
    http_response r = error_response(405, "method_not_allowed",
                                     "method " + std::string(method) + " is not allowed here; allowed: " + allow);
    r.allow = std::move(allow);
    return r;
}

// True when method is one of the comma-separated methods in allow.
bool allowed(std::string_view allow, std::string_view method)
{
    std::size_t i = 0;
    while (i < allow.size()) {
        std::size_t j = allow.find(',', i);
        if (j == std::string_view::npos) {
            j = allow.size();
        }
        std::string_view token = allow.substr(i, j - i);
        while (!token.empty() && token.front() == ' ') {
            token.remove_prefix(1);
        }
        if (token == method) {
            return true;
        }
        i = j + 1;
    }
    return false;
}

// Delivers a ready response.
void reply(deliver_fn& deliver, http_response r)
{
    deliver([r = std::move(r)]() mutable { return std::move(r); });
}

}  // namespace

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

void router::handle(http_request request, deliver_fn deliver)
{
    const std::string_view method = request.method;
    auto parts = split_path(request.target);

    if (parts.size() == 1 && parts[0] == "healthz") {
        if (method != "GET") {
            reply(deliver, method_not_allowed(method, "GET"));
            return;
        }
        if (shutting_down()) {
            http_response r = error_response(503, "shutting_down", "the server is shutting down");
            r.retry_after = true;
            reply(deliver, std::move(r));
            return;
        }
        reply(deliver, json_response(200, R"({"status":"ok"})"));
        return;
    }
    if (parts.empty() || parts[0] != "v1" || parts.size() < 2 || parts[1] != "collections" || parts.size() > 5) {
        reply(deliver, error_response(404, "route_not_found",
                                      "no route for " + std::string(request.target.substr(0, 200))));
        return;
    }
    // Shape of the path: which resource, and the methods it takes.
    enum class route { collections, collection, stats, points, points_delete, search, flush, compact, none };
    route which = route::none;
    std::string allow;
    if (parts.size() == 2) {
        which = route::collections;
        allow = "GET, POST";
    } else if (parts.size() == 3) {
        which = route::collection;
        allow = "GET, DELETE";
    } else if (parts.size() == 4) {
        std::string_view leaf = parts[3];
        if (leaf == "stats") {
            which = route::stats;
            allow = "GET";
        } else if (leaf == "points") {
            which = route::points;
            allow = "POST";
        } else if (leaf == "search") {
            which = route::search;
            allow = "POST";
        } else if (leaf == "flush") {
            which = route::flush;
            allow = "POST";
        } else if (leaf == "compact") {
            which = route::compact;
            allow = "POST";
        }
    } else if (parts.size() == 5 && parts[3] == "points" && parts[4] == "delete") {
        which = route::points_delete;
        allow = "POST";
    }
    if (which == route::none) {
        reply(deliver, error_response(404, "route_not_found", "no route for " + std::string(request.target.substr(0, 200))));
        return;
    }
    if (!allowed(allow, method)) {
        reply(deliver, method_not_allowed(method, allow));
        return;
    }
    if (shutting_down()) {
        http_response r = error_response(503, "shutting_down", "the server is shutting down");
        r.retry_after = true;
        reply(deliver, std::move(r));
        return;
    }
    std::string name;
    if (parts.size() >= 3) {
        name = std::string(parts[2]);
        if (!db::valid_collection_name(name)) {
            reply(deliver, error_response(400, "invalid_argument",
                                          "invalid collection name '" + name.substr(0, 80) +
                                              "': use 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'"));
            return;
        }
    }

    // From here the engine answers; deliver is shared by the completion (on a shard thread).
    auto d = std::make_shared<deliver_fn>(std::move(deliver));
    auto on_status = [d](unsigned ok_status, std::string ok_body) {
        return [d, ok_status, ok_body = std::move(ok_body)](status s) mutable {
            (*d)([s = std::move(s), ok_status, ok_body = std::move(ok_body)]() mutable {
                return s ? json_response(ok_status, std::move(ok_body)) : error_response(s.error());
            });
        };
    };

    switch (which) {
    case route::collections:
        if (method == "GET") {
            db_.list_collections([d](result<std::vector<collection::collection_info>> infos) {
                (*d)([infos = std::move(infos)] {
                    return infos ? json_response(200, list_json(*infos)) : error_response(infos.error());
                });
            });
            return;
        } else {
            auto parsed = parse_create(request.body);
            if (!parsed) {
                reply(*d, error_response(parsed.error()));
                return;
            }
            collection::collection_info info;
            info.name = parsed->name;
            info.dimension = parsed->dimension;
            info.distance_metric = parsed->distance_metric;
            db_.create_collection(parsed->name, parsed->dimension, parsed->distance_metric,
                                  on_status(201, info_json(info)));
            return;
        }
    case route::collection:
        if (method == "GET") {
            db_.stats(name, [d](result<collection::collection_stats> r) {
                (*d)([r = std::move(r)]() mutable {
                    return r ? json_response(200, info_json(r->info)) : error_response(r.error());
                });
            });
        } else {
            boost::json::object o;
            o["deleted"] = name;
            db_.drop_collection(name, on_status(200, boost::json::serialize(o)));
        }
        return;
    case route::stats:
        db_.stats(name, [d](result<collection::collection_stats> r) {
            (*d)([r = std::move(r)]() mutable {
                return r ? json_response(200, stats_json(*r)) : error_response(r.error());
            });
        });
        return;
    case route::points: {
        auto parsed = parse_points(request.body);
        if (!parsed) {
            reply(*d, error_response(parsed.error()));
            return;
        }
        std::size_t n = parsed->size();
        db_.upsert(name, std::move(*parsed), on_status(200, strprintf("{\"upserted\":%zu}", n)));
        return;
    }
    case route::points_delete: {
        auto parsed = parse_delete(request.body);
        if (!parsed) {
            reply(*d, error_response(parsed.error()));
            return;
        }
        db_.remove(name, std::move(*parsed), [d](result<std::size_t> r) {
            (*d)([r = std::move(r)]() mutable {
                return r ? json_response(200, strprintf("{\"deleted\":%zu}", *r)) : error_response(r.error());
            });
        });
        return;
    }
    case route::search: {
        auto parsed = parse_search(request.body);
        if (!parsed) {
            reply(*d, error_response(parsed.error()));
            return;
        }
        bool include_payload = parsed->include_payload;
        parsed->payload_bytes_max = options_.answer_bytes_max;
        db_.search(name, std::move(*parsed), [d, include_payload](result<query::search_response> r) {
            (*d)([r = std::move(r), include_payload]() mutable {
                if (!r) {
                    return error_response(r.error());
                }
                auto body = search_json(*r, include_payload);
                return body ? json_response(200, std::move(*body)) : error_response(body.error());
            });
        });
        return;
    }
    case route::flush:
        db_.flush(name, on_status(200, R"({"flushed":true})"));
        return;
    case route::compact:
        db_.compact(name, on_status(200, R"({"compacted":true})"));
        return;
    case route::none:
        break;
    }
}

}  // namespace puffer::net
