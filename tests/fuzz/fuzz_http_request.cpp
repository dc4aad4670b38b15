// Fuzz target: HTTP requests as the router sees them, from JSON body to engine request. The
// input is up to 8 requests separated by 0x1E bytes (ASCII record separator, which no JSON body
// can hold unescaped); each is "METHOD TARGET\nBODY" (no newline: the whole request is the
// request line and the body is empty). A sequence reaches states one request cannot: create,
// upsert, flush, then search a collection of its own.
//
// 1. Every body goes through every decoder: net::parse_points, whose fast scanner and DOM parser
//    must agree (same success, same error, same ids, payloads and dimension, vectors bit for
//    bit), parse_search, parse_create and parse_delete; what they accept must satisfy the
//    engine's limits.
// 2. Every request goes through net::router::handle on a real database (one shard, a scratch
//    directory on tmpfs) with a synchronous deliver. The answer must be a known status with a
//    JSON body (an error envelope for errors); a 500 is a finding, since nothing here corrupts
//    the data. After an input whose requests changed data, the database is reset to the same
//    fixture collections, so every input starts from the same state and a finding reproduces.
#include "engine/core/log.hpp"
#include "engine/db/database.hpp"
#include "net/request_decoding.hpp"
#include "net/response_encoding.hpp"
#include "net/routes.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "tests/support/sync_db.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using namespace puffer;
namespace json = boost::json;

namespace {

// The collections every input starts with, all of dimension 4: "c" (l2) and "ip" (inner product)
// with a segment and rows in staging, "cos" (cosine) with rows in staging only.
constexpr std::size_t fixture_dimension = 4;
constexpr std::size_t requests_max = 8;
constexpr char request_separator = '\x1e';

db::database* database = nullptr;
net::router* router = nullptr;

float fixture_value(std::size_t i, std::size_t j)
{
    return static_cast<float>((i * 7 + j * 3) % 11) - 5.0f;
}

using done_fn = unique_function<void(status)>;
using list_fn = unique_function<void(result<std::vector<collection::collection_info>>)>;

void must(const status& s, const char* what)
{
    FUZZ_CHECK(s.has_value(), "fixture: %s: %s", what, s ? "" : s.error().message().c_str());
}

// Runs start(callback) and blocks until the callback has its value. Blocks at once rather than
// spinning first (as test::waiter does): on a busy machine a spinning caller takes the CPU the
// shard thread needs to answer.
template <class T, class Start>
T await(Start start)
{
    auto promise = std::make_shared<std::promise<T>>();
    std::future<T> future = promise->get_future();
    start(unique_function<void(T)>([promise](T value) { promise->set_value(std::move(value)); }));
    return future.get();
}

// A fixture collection: 48 rows with payloads on every row; with_segment: flushed into a
// segment, then 6 more rows in staging.
void build(const std::string& name, metric m, bool with_segment)
{
    auto d = database;
    must(await<status>([d, &name, m](done_fn done) {
             d->create_collection(name, fixture_dimension, m, std::move(done));
         }),
         "create");
    must(await<status>([d, &name](done_fn done) {
             d->upsert(name, test::make_batch("p", 0, 48, fixture_dimension, fixture_value, true),
                       std::move(done));
         }),
         "upsert");
    if (!with_segment) {
        return;
    }
    must(await<status>([d, &name](done_fn done) { d->flush(name, std::move(done)); }), "flush");
    must(await<status>([d, &name](done_fn done) {
             d->upsert(name, test::make_batch("s", 0, 6, fixture_dimension, fixture_value),
                       std::move(done));
         }),
         "upsert");
}

struct fixture_collection {
    const char* name;
    metric distance_metric;
    bool with_segment;
};

constexpr fixture_collection fixtures[] = {
    {"c", metric::l2, true},
    {"cos", metric::cosine, false},
    {"ip", metric::inner_product, true},
};

// Back to the fixture: drops every collection that is not a fixture or that a request changed
// (touched: collection names, "" for a create), and rebuilds the fixtures that are missing.
// Rebuilding only what changed keeps a reset at a few milliseconds.
void reset(const std::vector<std::string_view>& touched)
{
    auto d = database;
    auto infos = await<result<std::vector<collection::collection_info>>>(
        [d](list_fn done) { d->list_collections(std::move(done)); });
    must(infos.has_value() ? ok() : status(infos.error()), "list collections");
    std::vector<std::string> kept;
    for (const auto& info : *infos) {
        bool fixture = false;
        for (const auto& f : fixtures) {
            fixture = fixture || info.name == f.name;
        }
        bool changed = std::find(touched.begin(), touched.end(), info.name) != touched.end();
        if (fixture && !changed) {
            kept.push_back(info.name);
        } else {
            must(await<status>(
                     [d, &info](done_fn done) { d->drop_collection(info.name, std::move(done)); }),
                 "drop");
        }
    }
    for (const auto& f : fixtures) {
        if (std::find(kept.begin(), kept.end(), f.name) == kept.end()) {
            build(f.name, f.distance_metric, f.with_segment);
        }
    }
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b)
{
    return a.size() == b.size() &&
           (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

bool finite(const std::vector<float>& v)
{
    for (float x : v) {
        if (!std::isfinite(x)) {
            return false;
        }
    }
    return true;
}

void check_points(std::string_view body)
{
    auto fast = net::parse_points(body);
    auto dom = net::detail::parse_points_dom(body);
    FUZZ_CHECK(fast.has_value() == dom.has_value(), "scanner %s, DOM %s",
               fast ? "accepts" : "rejects", dom ? "accepts" : "rejects");
    if (!fast) {
        FUZZ_CHECK(fast.error().context == dom.error().context, "errors differ: '%s' vs '%s'",
                   fast.error().context.c_str(), dom.error().context.c_str());
        return;
    }
    FUZZ_CHECK(fast->dimension == dom->dimension, "dimension %zu vs %zu", fast->dimension,
               dom->dimension);
    FUZZ_CHECK(fast->ids == dom->ids, "ids differ");
    FUZZ_CHECK(fast->payloads == dom->payloads, "payloads differ");
    FUZZ_CHECK(bit_equal(fast->vectors, dom->vectors), "vectors differ");

    const point_batch& b = *fast;
    FUZZ_CHECK(b.dimension >= 1 && b.dimension <= dimension_max, "dimension %zu", b.dimension);
    FUZZ_CHECK(b.size() >= 1 && b.size() <= batch_points_max, "%zu points", b.size());
    FUZZ_CHECK(b.vectors.size() == b.size() * b.dimension, "%zu values for %zu points",
               b.vectors.size(), b.size());
    FUZZ_CHECK(finite(b.vectors), "a non-finite value");
    for (const auto& id : b.ids) {
        FUZZ_CHECK(!id.empty() && id.size() <= id_size_bytes_max, "id of %zu bytes", id.size());
    }
    FUZZ_CHECK(b.payloads.empty() || b.payloads.size() == b.size(), "%zu payloads",
               b.payloads.size());
    for (const auto& p : b.payloads) {
        if (p.empty()) {
            continue;
        }
        FUZZ_CHECK(p.size() <= payload_size_bytes_max, "payload of %zu bytes", p.size());
        boost::system::error_code ec;
        json::value v = json::parse(p, ec);
        FUZZ_CHECK(!ec && v.is_object(), "payload is not a JSON object: %s",
                   p.substr(0, 200).c_str());
        FUZZ_CHECK(json::serialize(v) == p, "payload is not in normal form: %s",
                   p.substr(0, 200).c_str());
    }
}

// A decoded filter is within the limits and well formed (what the engine assumes).
void check_filter(const index::filter& f, std::size_t depth, std::size_t* nodes = nullptr)
{
    FUZZ_CHECK(depth <= index::filter_depth_max, "filter depth %zu", depth);
    if (nodes != nullptr) {
        ++*nodes;
    }
    using index::filter_op;
    switch (f.op) {
    case filter_op::all_of:
    case filter_op::any_of:
        FUZZ_CHECK(!f.children.empty(), "an empty and/or");
        break;
    case filter_op::none_of:
        FUZZ_CHECK(f.children.size() == 1, "not with %zu children", f.children.size());
        break;
    case filter_op::eq:
    case filter_op::ne:
    case filter_op::contains:
        FUZZ_CHECK(f.values.size() == 1 && !f.field.empty(), "leaf with %zu values", f.values.size());
        break;
    case filter_op::in:
    case filter_op::nin:
    case filter_op::contains_any:
        FUZZ_CHECK(!f.values.empty() && f.values.size() <= index::filter_values_max && !f.field.empty(),
                   "%zu values", f.values.size());
        break;
    case filter_op::range:
        FUZZ_CHECK((f.lower.set || f.upper.set) && !f.field.empty(), "a range without bounds");
        FUZZ_CHECK(!f.lower.set || !f.upper.set || f.lower.value.kind == f.upper.value.kind, "mixed bounds");
        break;
    case filter_op::exists:
        FUZZ_CHECK(!f.field.empty(), "exists without a field");
        break;
    }
    for (const auto& v : f.values) {
        FUZZ_CHECK(v.kind != index::value_kind::number || std::isfinite(v.number), "a non-finite value");
    }
    for (const auto& c : f.children) {
        check_filter(c, depth + 1, nodes);
    }
}

void check_other_decoders(std::string_view body)
{
    if (auto s = net::parse_search(body)) {
        FUZZ_CHECK(!s->vector.empty() && s->vector.size() <= dimension_max, "%zu values",
                   s->vector.size());
        FUZZ_CHECK(finite(s->vector), "a non-finite value");
        FUZZ_CHECK(s->top_k >= 1 && s->top_k <= net::top_k_max, "top_k %zu", s->top_k);
        FUZZ_CHECK(s->nprobe <= (std::size_t{1} << 30), "nprobe %zu", s->nprobe);
    }
    if (auto s = net::parse_search(body); s && s->filter) {
        check_filter(*s->filter, 1);
    }
    if (auto f = net::parse_count(body); f && *f) {
        std::size_t nodes = 0;
        check_filter(**f, 1, &nodes);
        FUZZ_CHECK(nodes <= index::filter_nodes_max, "%zu filter nodes", nodes);
    }
    if (auto c = net::parse_create(body)) {
        FUZZ_CHECK(c->dimension >= 1 && c->dimension <= dimension_max, "dimension %zu",
                   c->dimension);
        FUZZ_CHECK(static_cast<unsigned>(c->distance_metric) <= 2, "metric %u",
                   static_cast<unsigned>(c->distance_metric));
    }
    auto check_ids = [](const std::vector<std::string>& ids, std::size_t max) {
        FUZZ_CHECK(ids.size() <= max, "%zu ids", ids.size());
        for (const auto& id : ids) {
            FUZZ_CHECK(!id.empty() && id.size() <= id_size_bytes_max, "id of %zu bytes", id.size());
        }
    };
    // Writes that choose points take ids or a filter, exactly one.
    if (auto d = net::parse_delete(body)) {
        FUZZ_CHECK(d->ids.empty() != (d->filter == nullptr), "delete: %zu ids and %s filter", d->ids.size(),
                   d->filter ? "a" : "no");
        check_ids(d->ids, batch_points_max);
        if (d->filter) {
            check_filter(*d->filter, 1, nullptr);
        }
    }
    if (auto p = net::parse_patch(body)) {
        FUZZ_CHECK(p->ids.empty() != (p->filter == nullptr), "patch: %zu ids and %s filter", p->ids.size(),
                   p->filter ? "a" : "no");
        check_ids(p->ids, batch_points_max);
        FUZZ_CHECK(!p->payload.empty() && p->payload.front() == '{' && p->payload.size() <= payload_size_bytes_max,
                   "patch payload of %zu bytes", p->payload.size());
    }
    if (auto g = net::parse_get(body)) {
        FUZZ_CHECK(!g->ids.empty(), "get without ids");
        check_ids(g->ids, query::get_ids_max);
    }
    if (auto sc = net::parse_scroll(body)) {
        FUZZ_CHECK(sc->request.limit >= 1 && sc->request.limit <= query::scroll_limit_max, "limit %zu",
                   sc->request.limit);
        FUZZ_CHECK(!sc->request.after || (!sc->request.after->empty() && sc->request.after->size() <= id_size_bytes_max),
                   "cursor");
    }
}

bool known_status(unsigned status)
{
    switch (status) {
    case 200:
    case 201:
    case 400:
    case 404:
    case 405:
    case 409:
    case 413:
    case 503:
    case 507: return true;
    default: return false;
    }
}

// Whether method is one of the methods in an Allow value ("GET, POST").
bool allow_lists(std::string_view allow, std::string_view method)
{
    while (!allow.empty()) {
        std::size_t comma = allow.find(", ");
        if (allow.substr(0, comma) == method) {
            return true;
        }
        allow = comma == std::string_view::npos ? std::string_view{} : allow.substr(comma + 2);
    }
    return false;
}

// A loopback client of a server without keys: every route is open to it.
const net::credentials loopback{{}, {}, true};

net::http_response call(std::string_view method, std::string_view target, std::string_view body)
{
    net::make_response_fn make = await<net::make_response_fn>([&](net::deliver_fn deliver) {
        router->handle(net::http_request{method, target, std::string(body), loopback}, std::move(deliver));
    });
    return make();
}

void check_response(std::string_view method, const net::http_response& r)
{
    FUZZ_CHECK(known_status(r.status), "status %u: %s", r.status, r.body.substr(0, 300).c_str());
    if (r.status == 200 && r.content_type != "application/json") {
        // The web console's files (GET /, /console/...): not JSON, answered only to GET.
        FUZZ_CHECK(method == "GET" && !r.body.empty(), "a %.*s answer of %.*s", static_cast<int>(method.size()),
                   method.data(), static_cast<int>(r.content_type.size()), r.content_type.data());
        return;
    }
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    FUZZ_CHECK(!ec && v.is_object(), "status %u, body is not a JSON object: %s", r.status,
               r.body.substr(0, 300).c_str());
    if (r.status >= 400) {
        const json::value* e = v.get_object().if_contains("error");
        FUZZ_CHECK(e != nullptr && e->is_object(), "status %u without an error envelope", r.status);
        const json::value* code = e->get_object().if_contains("code");
        const json::value* message = e->get_object().if_contains("message");
        FUZZ_CHECK(code != nullptr && code->is_string() && message != nullptr &&
                       message->is_string(),
                   "error envelope without code and message: %s", r.body.substr(0, 300).c_str());
    }
    if (r.status == 405) {
        FUZZ_CHECK(!r.allow.empty(), "405 without Allow");
        FUZZ_CHECK(!allow_lists(r.allow, method), "405 for %s, which Allow lists: %s",
                   std::string(method).c_str(), r.allow.c_str());
    }
}

// The path's segments as the router splits them: no query, no empty segments.
std::vector<std::string_view> path_segments(std::string_view target)
{
    target = target.substr(0, target.find('?'));
    std::vector<std::string_view> out;
    while (!target.empty()) {
        std::size_t slash = target.find('/');
        if (slash != 0) {
            out.push_back(target.substr(0, slash));
        }
        target = slash == std::string_view::npos ? std::string_view{} : target.substr(slash + 1);
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    log::set_level(log::level::error);
    db::database_options o;
    o.data_dir = fuzz::scratch_dir() + "/data";
    o.shards = 1;
    o.background_threads = 1;
    o.cache_bytes = std::size_t{8} << 20;
    o.use_uring = false;  // the ring is not under test; synchronous reads need no kernel setup
    o.pin_shards = false;
    o.collection.flush_threshold_vectors = 256;
    o.collection.staging_vectors_max = 4096;
    auto opened = db::database::open(o);
    FUZZ_CHECK(opened.has_value(), "cannot open the database: %s",
               opened ? "" : opened.error().message().c_str());
    database = opened->release();
    router = new net::router(*database);
    reset({});
    // Shut down before the scratch directory goes (atexit handlers run in reverse order).
    std::atexit([] {
        delete router;
        router = nullptr;
        delete database;
        database = nullptr;
    });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> touched;
    bool changed = false;
    for (std::size_t i = 0; i < requests_max && (i == 0 || !input.empty()); ++i) {
        std::size_t end = input.find(request_separator);
        std::string_view request = input.substr(0, end);
        input = end == std::string_view::npos ? std::string_view{} : input.substr(end + 1);

        std::size_t newline = request.find('\n');
        std::string_view line = request.substr(0, newline);
        std::string_view body =
            newline == std::string_view::npos ? std::string_view{} : request.substr(newline + 1);
        std::size_t space = line.find(' ');
        std::string_view method = line.substr(0, space);
        std::string_view target =
            space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);

        check_points(body);
        check_other_decoders(body);

        net::http_response r = call(method, target, body);
        check_response(method, r);
        // A successful request other than a read or a search changed data: the collection it
        // names (/v1/collections/NAME/...), or the set of collections.
        auto path = path_segments(target);
        if (method != "GET" && r.status >= 200 && r.status < 300 &&
            !(path.size() == 4 && path[3] == "search")) {
            changed = true;
            touched.push_back(path.size() >= 3 ? path[2] : std::string_view{});
        }
    }
    if (changed) {
        reset(touched);
    }
    return 0;
}
