#include "net/request_decoding.hpp"

#include "engine/core/log.hpp"
#include "net/error_envelope.hpp"
#include "net/filter_decoding.hpp"
#include "net/json_parse.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

namespace json = boost::json;

namespace puffer::net {
namespace {

// Doubles at or above this magnitude round to infinity as float32: FLT_MAX plus half its ulp,
// 2^128 - 2^103. Below it they round to at most FLT_MAX (3.4028235e38 is accepted).
constexpr double float_overflow_threshold = 340282356779733661637539395458142568448.0;

error invalid(std::string message)
{
    return make_error(errc::invalid_argument, std::move(message));
}

// Parses body into an object (arena-allocated in mr), numbers exact: request vectors as float32.
result<json::object*> parse_object(std::string_view body, json::value& storage, json::monotonic_resource& mr,
                                   std::size_t depth_max = body_depth_max)
{
    auto parsed = parse_json(body, depth_max, number_mode::float_vectors, &mr);
    if (!parsed) {
        return make_error(errc::invalid_argument, "request body is " + parsed.error().context);
    }
    storage = std::move(*parsed);
    json::object* o = storage.if_object();
    if (o == nullptr) {
        return invalid("request body must be a JSON object");
    }
    return o;
}

// Refuses a payload holding a number beyond double range (parsed as infinity): JSON cannot
// carry it back, so storing it would lose the payload.
status check_payload_numbers(const json::value& payload, const std::string& where)
{
    if (auto path = find_non_finite(payload)) {
        return invalid(strprintf("%s: 'payload' field '%s' is a number beyond the range of a double "
                                 "(+-1.8e308)", where.c_str(), path->c_str()));
    }
    return ok();
}

status reject_unknown_fields(const json::object& o, std::initializer_list<std::string_view> known, const char* where)
{
    for (const auto& kv : o) {
        bool ok = false;
        for (auto k : known) {
            ok = ok || kv.key() == k;
        }
        if (!ok) {
            std::string list;
            for (auto k : known) {
                list += list.empty() ? "" : ", ";
                list += k;
            }
            return invalid(strprintf("unknown field '%s' in %s (known: %s)", std::string(kv.key()).c_str(), where,
                                     list.c_str()));
        }
    }
    return ok();
}

// A JSON number as a finite float32.
bool to_float(const json::value& v, float& out)
{
    double d = 0;
    if (v.is_double()) {
        d = v.get_double();
    } else if (v.is_int64()) {
        d = static_cast<double>(v.get_int64());
    } else if (v.is_uint64()) {
        d = static_cast<double>(v.get_uint64());
    } else {
        return false;
    }
    if (!std::isfinite(d) || std::fabs(d) >= float_overflow_threshold) {
        return false;
    }
    out = static_cast<float>(d);
    return true;
}

// A non-negative integer field.
result<std::uint64_t> to_count(const json::value& v, const char* field)
{
    if (v.is_int64() && v.get_int64() >= 0) {
        return static_cast<std::uint64_t>(v.get_int64());
    }
    if (v.is_uint64()) {
        return v.get_uint64();
    }
    if (v.is_double() && v.get_double() >= 0 && v.get_double() == std::floor(v.get_double()) &&
        v.get_double() < 1e18) {
        return static_cast<std::uint64_t>(v.get_double());
    }
    return invalid(std::string("'") + field + "' must be a non-negative integer");
}

result<std::vector<float>> parse_vector(const json::value& v, const std::string& where)
{
    const json::array* a = v.if_array();
    if (a == nullptr) {
        return invalid(where + ": 'vector' must be an array of numbers");
    }
    if (a->empty()) {
        return invalid(where + ": 'vector' is empty");
    }
    if (a->size() > dimension_max) {
        return invalid(strprintf("%s: 'vector' has %zu values; at most %zu", where.c_str(), a->size(), dimension_max));
    }
    std::vector<float> out(a->size());
    for (std::size_t j = 0; j < a->size(); ++j) {
        if (!to_float((*a)[j], out[j])) {
            return invalid(strprintf("%s: vector[%zu] is not a finite float32 number", where.c_str(), j));
        }
    }
    return out;
}

result<std::string> parse_id(const json::value& v, const std::string& where)
{
    if (v.is_string()) {
        const json::string& s = v.get_string();
        if (s.empty() || s.size() > id_size_bytes_max) {
            return invalid(strprintf("%s: 'id' must be 1 to %zu bytes", where.c_str(), id_size_bytes_max));
        }
        return std::string(s.data(), s.size());
    }
    if (v.is_uint64()) {
        return std::to_string(v.get_uint64());
    }
    if (v.is_int64() && v.get_int64() >= 0) {
        return std::to_string(v.get_int64());
    }
    return invalid(where + ": 'id' must be a string (or a non-negative integer)");
}

}  // namespace

result<create_request> parse_create(std::string_view body)
{
    json::monotonic_resource mr;
    json::value storage;
    PUFFER_TRY_ASSIGN(json::object * o, parse_object(body, storage, mr));
    PUFFER_TRY(reject_unknown_fields(*o, {"name", "dimension", "metric", "unindexed_fields", "quantization"},
                                     "the collection definition"));
    create_request r;
    const json::value* name = o->if_contains("name");
    if (name == nullptr || !name->is_string()) {
        return invalid("'name' is required and must be a string");
    }
    r.name = std::string(name->get_string());
    const json::value* dim = o->if_contains("dimension");
    if (dim == nullptr) {
        return invalid("'dimension' is required");
    }
    PUFFER_TRY_ASSIGN(std::uint64_t d, to_count(*dim, "dimension"));
    if (d < 1 || d > dimension_max) {
        return invalid(strprintf("'dimension' must be 1 to %zu", dimension_max));
    }
    r.dimension = d;
    if (const json::value* m = o->if_contains("metric")) {
        if (!m->is_string()) {
            return invalid("'metric' must be a string: \"l2\", \"cosine\" or \"ip\"");
        }
        auto parsed = parse_metric(std::string_view(m->get_string()));
        if (!parsed) {
            return invalid("unknown metric '" + std::string(m->get_string()) + "': use \"l2\", \"cosine\" or \"ip\"");
        }
        r.distance_metric = *parsed;
    }
    if (const json::value* u = o->if_contains("unindexed_fields"); u != nullptr && !u->is_null()) {
        const json::array* a = u->if_array();
        if (a == nullptr) {
            return invalid("'unindexed_fields' must be an array of payload field names (dotted paths)");
        }
        for (std::size_t i = 0; i < a->size(); ++i) {
            const json::string* f = (*a)[i].if_string();
            if (f == nullptr) {
                return invalid(strprintf("unindexed_fields[%zu] must be a string", i));
            }
            r.unindexed_fields.emplace_back(f->data(), f->size());
        }
    }
    if (const json::value* q = o->if_contains("quantization"); q != nullptr && !q->is_null()) {
        std::optional<index::quantization> parsed;
        if (q->is_string()) {
            parsed = index::parse_quantization(std::string_view(q->get_string()));
        }
        if (!parsed) {
            return invalid("'quantization' must be \"none\", \"sq8\" or \"rabitq\"");
        }
        r.quantization = *parsed;
    }
    return r;
}

namespace detail {

// The general parser: a Boost.JSON DOM, exact error messages for every malformed body.
result<point_batch> parse_points_dom(std::string_view body)
{
    json::monotonic_resource mr;
    json::value storage;
    PUFFER_TRY_ASSIGN(json::object * o, parse_object(body, storage, mr));
    PUFFER_TRY(reject_unknown_fields(*o, {"points"}, "the request"));
    const json::value* pts = o->if_contains("points");
    if (pts == nullptr || !pts->is_array()) {
        return invalid("'points' is required and must be an array");
    }
    const json::array& a = pts->get_array();
    if (a.empty()) {
        return invalid("'points' is empty");
    }
    if (a.size() > batch_points_max) {
        return invalid(strprintf("%zu points in one request; at most %zu", a.size(), batch_points_max));
    }
    point_batch batch;
    batch.ids.reserve(a.size());
    bool any_payload = false;
    std::vector<std::string> payloads;
    payloads.reserve(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        std::string where = strprintf("points[%zu]", i);
        const json::object* p = a[i].if_object();
        if (p == nullptr) {
            return invalid(where + " must be an object with 'id' and 'vector'");
        }
        PUFFER_TRY(reject_unknown_fields(*p, {"id", "vector", "payload"}, where.c_str()));
        const json::value* id = p->if_contains("id");
        const json::value* vec = p->if_contains("vector");
        if (id == nullptr) {
            return invalid(where + ": 'id' is required");
        }
        if (vec == nullptr) {
            return invalid(where + ": 'vector' is required");
        }
        PUFFER_TRY_ASSIGN(std::string parsed_id, parse_id(*id, where));
        const json::array* va = vec->if_array();
        if (va == nullptr) {
            return invalid(where + ": 'vector' must be an array of numbers");
        }
        if (i == 0) {
            if (va->empty() || va->size() > dimension_max) {
                return invalid(strprintf("%s: 'vector' must have 1 to %zu values", where.c_str(), dimension_max));
            }
            batch.dimension = va->size();
        } else if (va->size() != batch.dimension) {
            return invalid(strprintf("%s: 'vector' has %zu values but points[0] has %zu", where.c_str(), va->size(),
                                     batch.dimension));
        }
        // Grown point by point, like the body: sized from points[0] alone, a short body claiming a
        // large dimension and many points would ask for gigabytes before its second point is read.
        batch.vectors.resize((i + 1) * batch.dimension);
        float* out = batch.vector(i);
        for (std::size_t j = 0; j < va->size(); ++j) {
            if (!to_float((*va)[j], out[j])) {
                return invalid(strprintf("%s: vector[%zu] is not a finite float32 number", where.c_str(), j));
            }
        }
        batch.ids.push_back(std::move(parsed_id));
        std::string payload;
        if (const json::value* pl = p->if_contains("payload"); pl != nullptr && !pl->is_null()) {
            if (!pl->is_object()) {
                return invalid(where + ": 'payload' must be a JSON object");
            }
            PUFFER_TRY(check_payload_numbers(*pl, where));
            payload = json::serialize(*pl);
            if (payload.size() > payload_size_bytes_max) {
                return invalid(strprintf("%s: 'payload' is %zu bytes; at most %zu", where.c_str(), payload.size(),
                                         payload_size_bytes_max));
            }
            any_payload = true;
        }
        payloads.push_back(std::move(payload));
    }
    if (any_payload) {
        batch.payloads = std::move(payloads);
    }
    return batch;
}

}  // namespace detail

namespace {

// A scanner for the common shape of a points body, faster than building a DOM for
// number-heavy bodies (a 1,000 x 768 batch, ~8 MB of JSON: 29 ms with the DOM, 15-20 ms here). It accepts only what it
// fully understands: every JSON string without escapes in keys, ids without escapes, numbers
// by the JSON grammar, payloads checked and normalized by Boost.JSON. Anything else (escapes,
// duplicate keys, a malformed body) returns nullopt and the DOM parser decides, with its exact
// messages; so both paths accept the same bodies and store the same values.
class points_scanner {
public:
    explicit points_scanner(std::string_view body) : p_(body.data()), end_(body.data() + body.size()) {}

    std::optional<result<point_batch>> run()
    {
        point_batch batch;
        std::vector<std::string> payloads;
        bool any_payload = false;
        if (!eat('{')) {
            return std::nullopt;
        }
        std::string_view key;
        if (!read_plain_string(key) || key != "points" || !eat(':') || !eat('[')) {
            return std::nullopt;
        }
        skip_ws();
        if (p_ < end_ && *p_ == ']') {
            return std::nullopt;  // empty: let the DOM path word the error
        }
        for (std::size_t i = 0;; ++i) {
            if (i >= batch_points_max || !eat('{')) {
                return std::nullopt;
            }
            bool have_id = false;
            bool have_vector = false;
            bool have_payload = false;
            std::string id;
            std::string payload;
            std::size_t values = 0;
            for (;;) {
                if (!read_plain_string(key) || !eat(':')) {
                    return std::nullopt;
                }
                if (key == "id" && !have_id) {
                    have_id = true;
                    if (!read_id(id)) {
                        return std::nullopt;
                    }
                } else if (key == "vector" && !have_vector) {
                    have_vector = true;
                    if (!read_vector(batch, i, values)) {
                        return std::nullopt;
                    }
                } else if (key == "payload" && !have_payload) {
                    have_payload = true;
                    if (!read_payload(payload)) {
                        return std::nullopt;
                    }
                } else {
                    return std::nullopt;
                }
                skip_ws();
                if (p_ < end_ && *p_ == ',') {
                    ++p_;
                    continue;
                }
                if (!eat('}')) {
                    return std::nullopt;
                }
                break;
            }
            if (!have_id || !have_vector || id.empty() || id.size() > id_size_bytes_max) {
                return std::nullopt;
            }
            if (i == 0) {
                batch.dimension = values;
            } else if (values != batch.dimension) {
                return std::nullopt;
            }
            any_payload = any_payload || !payload.empty();
            batch.ids.push_back(std::move(id));
            payloads.push_back(std::move(payload));
            skip_ws();
            if (p_ < end_ && *p_ == ',') {
                ++p_;
                continue;
            }
            if (!eat(']')) {
                return std::nullopt;
            }
            break;
        }
        if (!eat('}')) {
            return std::nullopt;
        }
        skip_ws();
        if (p_ != end_) {
            return std::nullopt;
        }
        if (any_payload) {
            batch.payloads = std::move(payloads);
        }
        return result<point_batch>(std::move(batch));
    }

private:
    void skip_ws()
    {
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) {
            ++p_;
        }
    }

    bool eat(char c)
    {
        skip_ws();
        if (p_ < end_ && *p_ == c) {
            ++p_;
            return true;
        }
        return false;
    }

    // A string with no escapes and no control characters (else: not handled here).
    bool read_plain_string(std::string_view& out)
    {
        if (!eat('"')) {
            return false;
        }
        const char* start = p_;
        while (p_ < end_ && *p_ != '"') {
            auto c = static_cast<unsigned char>(*p_);
            if (c == '\\' || c < 0x20 || c >= 0x80) {
                return false;  // escapes and non-ASCII (UTF-8 validation) go to the DOM path
            }
            ++p_;
        }
        if (p_ >= end_) {
            return false;
        }
        out = std::string_view(start, static_cast<std::size_t>(p_ - start));
        ++p_;
        return true;
    }

    bool read_id(std::string& out)
    {
        skip_ws();
        if (p_ < end_ && *p_ == '"') {
            std::string_view s;
            if (!read_plain_string(s)) {
                return false;
            }
            out.assign(s);
            return true;
        }
        // A non-negative integer id, as the DOM path accepts (uint64 range).
        const char* start = p_;
        while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
            ++p_;
        }
        std::size_t digits = static_cast<std::size_t>(p_ - start);
        if (digits == 0 || digits > 19 || (digits > 1 && *start == '0') ||
            (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E'))) {
            return false;
        }
        out.assign(start, digits);
        return true;
    }

    // One JSON number (by the JSON grammar) as a finite float32.
    bool read_number(float& out)
    {
        skip_ws();
        const char* start = p_;
        const char* q = p_;
        if (q < end_ && *q == '-') {
            ++q;
        }
        if (q >= end_ || *q < '0' || *q > '9') {
            return false;
        }
        if (*q == '0') {
            ++q;
        } else {
            while (q < end_ && *q >= '0' && *q <= '9') {
                ++q;
            }
        }
        if (q < end_ && *q == '.') {
            ++q;
            if (q >= end_ || *q < '0' || *q > '9') {
                return false;
            }
            while (q < end_ && *q >= '0' && *q <= '9') {
                ++q;
            }
        }
        if (q < end_ && (*q == 'e' || *q == 'E')) {
            ++q;
            if (q < end_ && (*q == '+' || *q == '-')) {
                ++q;
            }
            if (q >= end_ || *q < '0' || *q > '9') {
                return false;
            }
            while (q < end_ && *q >= '0' && *q <= '9') {
                ++q;
            }
        }
        // Straight from the text to the nearest float32, as the DOM path converts it.
        out = float_from_text(std::string_view(start, static_cast<std::size_t>(q - start)));
        if (!std::isfinite(out)) {
            return false;
        }
        p_ = q;
        return true;
    }

    bool read_vector(point_batch& batch, std::size_t i, std::size_t& values)
    {
        if (!eat('[')) {
            return false;
        }
        if (i == 0) {
            // The first vector fixes the dimension; read it into scratch, then size the batch.
            first_.clear();
            for (;;) {
                float v = 0;
                if (!read_number(v) || first_.size() >= dimension_max) {
                    return false;
                }
                first_.push_back(v);
                skip_ws();
                if (p_ < end_ && *p_ == ',') {
                    ++p_;
                    continue;
                }
                break;
            }
            if (!eat(']')) {
                return false;
            }
            values = first_.size();
            batch.vectors.reserve(values * 64);
            batch.vectors.assign(first_.begin(), first_.end());
            return true;
        }
        std::size_t d = batch.dimension;
        std::size_t base = batch.vectors.size();
        batch.vectors.resize(base + d);
        float* out = batch.vectors.data() + base;
        values = 0;
        for (;;) {
            float v = 0;
            if (values >= d || !read_number(v)) {
                return false;
            }
            out[values++] = v;
            skip_ws();
            if (p_ < end_ && *p_ == ',') {
                ++p_;
                continue;
            }
            break;
        }
        return eat(']');
    }

    // A payload object (or null), checked and normalized by Boost.JSON like the DOM path.
    bool read_payload(std::string& out)
    {
        skip_ws();
        if (end_ - p_ >= 4 && std::memcmp(p_, "null", 4) == 0) {
            p_ += 4;
            return true;
        }
        if (p_ >= end_ || *p_ != '{') {
            return false;
        }
        // Find the end of the object: depth counting outside strings.
        const char* start = p_;
        int depth = 0;
        bool in_string = false;
        for (; p_ < end_; ++p_) {
            char c = *p_;
            if (in_string) {
                if (c == '\\') {
                    ++p_;
                } else if (c == '"') {
                    in_string = false;
                }
                continue;
            }
            if (c == '"') {
                in_string = true;
            } else if (c == '{' || c == '[') {
                ++depth;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    ++p_;
                    break;
                }
            }
        }
        if (depth != 0) {
            return false;
        }
        auto v = parse_payload(std::string_view(start, static_cast<std::size_t>(p_ - start)));
        if (!v || !v->is_object() || find_non_finite(*v)) {
            return false;
        }
        out = json::serialize(*v);
        return out.size() <= payload_size_bytes_max;
    }

    const char* p_;
    const char* end_;
    std::vector<float> first_;
};

}  // namespace

result<point_batch> parse_points(std::string_view body)
{
    if (auto fast = points_scanner(body).run()) {
        return std::move(*fast);
    }
    return detail::parse_points_dom(body);
}

namespace {

// Up to max ids of an "ids" array, each a valid id.
result<std::vector<std::string>> ids_of(const json::value& ids, std::size_t max)
{
    if (!ids.is_array() || ids.get_array().empty()) {
        return invalid("'ids' must be a non-empty array");
    }
    if (ids.get_array().size() > max) {
        return invalid(strprintf("at most %zu ids per request", max));
    }
    std::vector<std::string> out;
    out.reserve(ids.get_array().size());
    for (std::size_t i = 0; i < ids.get_array().size(); ++i) {
        PUFFER_TRY_ASSIGN(std::string id, parse_id(ids.get_array()[i], strprintf("ids[%zu]", i)));
        out.push_back(std::move(id));
    }
    return out;
}

// The points a write chooses: "ids" or "filter", exactly one.
status choice_of(const json::object& o, std::size_t ids_max, std::vector<std::string>& ids,
                 std::shared_ptr<const index::filter>& filter)
{
    const json::value* i = o.if_contains("ids");
    const json::value* f = o.if_contains("filter");
    if ((i == nullptr) == (f == nullptr)) {
        return invalid("give the points as 'ids' or as a 'filter' (one of the two)");
    }
    if (i != nullptr) {
        PUFFER_TRY_ASSIGN(ids, ids_of(*i, ids_max));
        return ok();
    }
    PUFFER_TRY_ASSIGN(filter, parse_filter(*f, "filter"));
    if (!filter) {
        return invalid("'filter' must be a filter expression (null chooses no points)");
    }
    return ok();
}

status parse_payload_selection(const json::object& o, payload_selection& out)
{
    const json::value* ip = o.if_contains("include_payload");
    if (ip == nullptr || ip->is_null()) {
        return ok();
    }
    if (ip->is_bool()) {
        out.include = ip->get_bool();
        out.fields.reset();
        return ok();
    }
    const json::array* a = ip->if_array();
    if (a == nullptr) {
        return invalid("'include_payload' must be true, false or an array of field names");
    }
    out.include = true;
    out.fields.emplace();
    for (std::size_t i = 0; i < a->size(); ++i) {
        const json::string* f = (*a)[i].if_string();
        if (f == nullptr || f->empty() || f->size() > 256) {
            return invalid(strprintf("include_payload[%zu] must be a field name of 1 to 256 bytes", i));
        }
        out.fields->emplace_back(f->data(), f->size());
    }
    return ok();
}

result<bool> bool_field(const json::object& o, std::string_view key, bool fallback)
{
    const json::value* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) {
        return fallback;
    }
    if (!v->is_bool()) {
        return invalid("'" + std::string(key) + "' must be true or false");
    }
    return v->get_bool();
}

}  // namespace

namespace {

// One search's fields (a search body, or an item of a batch); where prefixes every message.
result<query::search_request> search_of(const json::object& o, const std::string& where)
{
    PUFFER_TRY(reject_unknown_fields(o,
                                     {"vector", "top_k", "nprobe", "recall_target", "include_payload", "filter",
                                      "refine"},
                                     where.empty() ? "the search request" : where.c_str()));
    const std::string prefix = where.empty() ? "" : where + ": ";
    query::search_request r;
    const json::value* vec = o.if_contains("vector");
    if (vec == nullptr) {
        return invalid(prefix + "'vector' is required");
    }
    PUFFER_TRY_ASSIGN(r.vector, parse_vector(*vec, where.empty() ? "search" : where));
    if (const json::value* k = o.if_contains("top_k")) {
        auto parsed = to_count(*k, "top_k");
        if (!parsed || *parsed < 1 || *parsed > top_k_max) {
            return invalid(strprintf("%s'top_k' must be an integer from 1 to %zu", prefix.c_str(), top_k_max));
        }
        r.top_k = *parsed;
    }
    if (const json::value* np = o.if_contains("nprobe"); np != nullptr && !np->is_null()) {
        auto parsed = to_count(*np, "nprobe");
        if (!parsed || *parsed < 1) {
            return invalid(prefix +
                           "'nprobe' must be an integer of at least 1 (more than the cluster count means all clusters)");
        }
        r.nprobe = static_cast<std::size_t>(std::min<std::uint64_t>(*parsed, 1u << 30));
    }
    if (const json::value* rt = o.if_contains("recall_target"); rt != nullptr && !rt->is_null()) {
        double t = rt->is_number() ? rt->to_number<double>() : -1;
        if (!(t >= recall_target_min && t <= recall_target_max)) {
            return invalid(strprintf("%s'recall_target' must be a number from %g to %g", prefix.c_str(),
                                     recall_target_min, recall_target_max));
        }
        if (r.nprobe != 0) {
            return invalid(prefix + "give 'nprobe' or 'recall_target', not both");
        }
        r.recall_target = t;
    }
    if (const json::value* rf = o.if_contains("refine"); rf != nullptr && !rf->is_null()) {
        auto parsed = to_count(*rf, "refine");
        if (!parsed || *parsed < 1 || *parsed > query::refine_max) {
            return invalid(strprintf("%s'refine' must be an integer from 1 to %zu", prefix.c_str(), query::refine_max));
        }
        r.refine = static_cast<std::size_t>(*parsed);
    }
    {
        payload_selection sel;
        if (auto s = parse_payload_selection(o, sel); !s) {
            return invalid(prefix + s.error().context);
        }
        r.include_payload = sel.include;
        r.payload_fields = std::move(sel.fields);
    }
    if (const json::value* f = o.if_contains("filter")) {
        PUFFER_TRY_ASSIGN(r.filter, parse_filter(*f, where.empty() ? "filter" : where + ".filter"));
    }
    return r;
}

}  // namespace

result<query::search_request> parse_search(std::string_view body)
{
    json::monotonic_resource mr;
    json::value storage;
    PUFFER_TRY_ASSIGN(json::object * o, parse_object(body, storage, mr, filter_body_depth_max));
    return search_of(*o, "");
}

result<std::vector<query::search_request>> parse_search_batch(std::string_view body)
{
    json::monotonic_resource mr;
    json::value storage;
    PUFFER_TRY_ASSIGN(json::object * o, parse_object(body, storage, mr, filter_body_depth_max));
    PUFFER_TRY(reject_unknown_fields(*o, {"searches"}, "the batch"));
    const json::value* searches = o->if_contains("searches");
    if (searches == nullptr || !searches->is_array()) {
        return invalid("'searches' is required and must be an array of search requests");
    }
    const json::array& a = searches->get_array();
    if (a.empty() || a.size() > query::batch_searches_max) {
        return invalid(strprintf("'searches' holds %zu searches; 1 to %zu are allowed", a.size(),
                                 query::batch_searches_max));
    }
    std::vector<query::search_request> out;
    out.reserve(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        std::string where = strprintf("searches[%zu]", i);
        const json::object* item = a[i].if_object();
        if (item == nullptr) {
            return invalid(where + " must be a search request object");
        }
        PUFFER_TRY_ASSIGN(auto r, search_of(*item, where));
        out.push_back(std::move(r));
    }
    return out;
}

result<query::recall_request> parse_recall(std::string_view body)
{
    json::monotonic_resource mr;
    json::value storage;
    query::recall_request r;
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        return r;  // an empty body: every default
    }
    PUFFER_TRY_ASSIGN(json::object * o, parse_object(body, storage, mr));
    PUFFER_TRY(reject_unknown_fields(*o, {"num_queries", "top_k", "nprobe", "recall_target", "queries"},
                                     "the recall request"));
    if (const json::value* n = o->if_contains("num_queries"); n != nullptr && !n->is_null()) {
        auto parsed = to_count(*n, "num_queries");
        if (!parsed || *parsed < 1 || *parsed > query::recall_queries_max) {
            return invalid(strprintf("'num_queries' must be an integer from 1 to %zu", query::recall_queries_max));
        }
        r.num_queries = *parsed;
    }
    if (const json::value* k = o->if_contains("top_k"); k != nullptr && !k->is_null()) {
        auto parsed = to_count(*k, "top_k");
        if (!parsed || *parsed < 1 || *parsed > top_k_max) {
            return invalid(strprintf("'top_k' must be an integer from 1 to %zu", top_k_max));
        }
        r.top_k = *parsed;
    }
    if (const json::value* np = o->if_contains("nprobe"); np != nullptr && !np->is_null()) {
        auto parsed = to_count(*np, "nprobe");
        if (!parsed || *parsed < 1) {
            return invalid("'nprobe' must be an integer of at least 1");
        }
        r.nprobe = static_cast<std::size_t>(std::min<std::uint64_t>(*parsed, 1u << 30));
    }
    if (const json::value* rt = o->if_contains("recall_target"); rt != nullptr && !rt->is_null()) {
        double t = rt->is_number() ? rt->to_number<double>() : -1;
        if (!(t >= recall_target_min && t <= recall_target_max)) {
            return invalid(strprintf("'recall_target' must be a number from %g to %g", recall_target_min,
                                     recall_target_max));
        }
        if (r.nprobe != 0) {
            return invalid("give 'nprobe' or 'recall_target', not both");
        }
        r.recall_target = t;
    }
    if (const json::value* q = o->if_contains("queries"); q != nullptr && !q->is_null()) {
        const json::array* a = q->if_array();
        if (a == nullptr || a->empty() || a->size() > query::recall_queries_max) {
            return invalid(strprintf("'queries' must be an array of 1 to %zu vectors", query::recall_queries_max));
        }
        for (std::size_t i = 0; i < a->size(); ++i) {
            PUFFER_TRY_ASSIGN(auto v, parse_vector((*a)[i], strprintf("queries[%zu]", i)));
            r.queries.push_back(std::move(v));
        }
    }
    return r;
}


result<delete_request> parse_delete(std::string_view body)
{
    json::monotonic_resource mr;
    json::value storage;
    PUFFER_TRY_ASSIGN(json::object * o, parse_object(body, storage, mr, filter_body_depth_max));
    PUFFER_TRY(reject_unknown_fields(*o, {"ids", "filter"}, "the request"));
    delete_request r;
    PUFFER_TRY(choice_of(*o, batch_points_max, r.ids, r.filter));
    return r;
}

result<get_request> parse_get(std::string_view body)
{
    json::monotonic_resource mr;
    json::value storage;
    PUFFER_TRY_ASSIGN(json::object * o, parse_object(body, storage, mr));
    PUFFER_TRY(reject_unknown_fields(*o, {"ids", "include_payload", "include_vector"}, "the request"));
    get_request r;
    const json::value* ids = o->if_contains("ids");
    if (ids == nullptr) {
        return invalid("'ids' is required");
    }
    PUFFER_TRY_ASSIGN(r.ids, ids_of(*ids, query::get_ids_max));
    PUFFER_TRY(parse_payload_selection(*o, r.payload));
    PUFFER_TRY_ASSIGN(r.include_vector, bool_field(*o, "include_vector", false));
    return r;
}

result<scroll_body> parse_scroll(std::string_view body)
{
    scroll_body r;
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        return r;  // no body: the first page of every point
    }
    json::monotonic_resource mr;
    json::value storage;
    PUFFER_TRY_ASSIGN(json::object * o, parse_object(body, storage, mr, filter_body_depth_max));
    PUFFER_TRY(reject_unknown_fields(*o, {"filter", "limit", "cursor", "include_payload", "include_vector"},
                                     "the request"));
    if (const json::value* f = o->if_contains("filter")) {
        PUFFER_TRY_ASSIGN(r.request.filter, parse_filter(*f, "filter"));
    }
    if (const json::value* l = o->if_contains("limit"); l != nullptr && !l->is_null()) {
        PUFFER_TRY_ASSIGN(std::uint64_t limit, to_count(*l, "limit"));
        if (limit < 1 || limit > query::scroll_limit_max) {
            return invalid(strprintf("'limit' must be 1 to %zu", query::scroll_limit_max));
        }
        r.request.limit = static_cast<std::size_t>(limit);
    }
    if (const json::value* c = o->if_contains("cursor"); c != nullptr && !c->is_null()) {
        const json::string* s = c->if_string();
        if (s == nullptr || s->empty() || s->size() > id_size_bytes_max) {
            return invalid("'cursor' must be the 'next_cursor' of the previous page (a string), or null");
        }
        r.request.after = std::string(s->data(), s->size());
    }
    PUFFER_TRY(parse_payload_selection(*o, r.payload));
    r.request.include_payload = r.payload.include;
    PUFFER_TRY_ASSIGN(r.request.include_vector, bool_field(*o, "include_vector", false));
    return r;
}

result<patch_request> parse_patch(std::string_view body)
{
    json::monotonic_resource mr;
    json::value storage;
    PUFFER_TRY_ASSIGN(json::object * o, parse_object(body, storage, mr, filter_body_depth_max));
    PUFFER_TRY(reject_unknown_fields(*o, {"ids", "filter", "payload", "mode"}, "the request"));
    patch_request r;
    PUFFER_TRY(choice_of(*o, batch_points_max, r.ids, r.filter));
    const json::value* pl = o->if_contains("payload");
    if (pl == nullptr || !pl->is_object()) {
        return invalid("'payload' is required and must be a JSON object (a field set to null is removed)");
    }
    PUFFER_TRY(check_payload_numbers(*pl, "the patch"));
    r.payload = json::serialize(*pl);
    if (r.payload.size() > payload_size_bytes_max) {
        return invalid(strprintf("'payload' is %zu bytes; at most %zu", r.payload.size(), payload_size_bytes_max));
    }
    if (const json::value* m = o->if_contains("mode"); m != nullptr && !m->is_null()) {
        const json::string* s = m->if_string();
        if (s == nullptr || (*s != "merge" && *s != "replace")) {
            return invalid("'mode' must be \"merge\" (set the fields given) or \"replace\" (the payload becomes the one given)");
        }
        r.replace = *s == "replace";
    }
    return r;
}

result<std::shared_ptr<const index::filter>> parse_count(std::string_view body)
{
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        return std::shared_ptr<const index::filter>();  // no body: every point
    }
    json::monotonic_resource mr;
    json::value storage;
    PUFFER_TRY_ASSIGN(json::object * o, parse_object(body, storage, mr, filter_body_depth_max));
    PUFFER_TRY(reject_unknown_fields(*o, {"filter"}, "the request"));
    if (const json::value* f = o->if_contains("filter")) {
        return parse_filter(*f, "filter");
    }
    return std::shared_ptr<const index::filter>();
}

}  // namespace puffer::net
