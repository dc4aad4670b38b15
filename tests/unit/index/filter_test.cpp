// Filters over the attribute index: evaluate() equals a plain row-by-row reference on random
// payloads and random filters, for the index as staging holds it (unsealed, and seen by a view
// holding fewer rows), as a segment holds it (sealed), and as a segment file gives it back
// (encoded and decoded); the hand-written semantic rules; and decode refusing damaged bytes.
#include "engine/index/attributes.hpp"
#include "engine/index/filter.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

using namespace puffer;
using namespace puffer::index;
namespace json = boost::json;

namespace {

// The reference: the documented semantics on a parsed payload, one row at a time.
const json::value* lookup(const json::object& o, const std::string& path)
{
    auto dot = path.find('.');
    const json::value* v = o.if_contains(path.substr(0, dot));
    if (v == nullptr || dot == std::string::npos) {
        return v;
    }
    return v->is_object() ? lookup(v->get_object(), path.substr(dot + 1)) : nullptr;
}

bool same(const json::value& x, const filter_value& v)
{
    switch (v.kind) {
    case value_kind::string:
        return x.is_string() && std::string_view(x.get_string()) == v.text;
    case value_kind::boolean:
        return x.is_bool() && x.get_bool() == v.boolean;
    case value_kind::number:
        return x.is_number() && x.to_number<double>() == v.number;
    }
    return false;
}

bool of_kind(const json::value& x, value_kind k)
{
    return k == value_kind::string ? x.is_string() : k == value_kind::boolean ? x.is_bool() : x.is_number();
}

bool reference(const filter& f, const std::string& id, const json::object& payload)
{
    json::value id_value(id);
    const json::value* x = f.field == "id" ? &id_value : lookup(payload, f.field);
    if (x != nullptr && x->is_null()) {
        x = nullptr;
    }
    switch (f.op) {
    case filter_op::all_of:
        for (const auto& c : f.children) {
            if (!reference(c, id, payload)) {
                return false;
            }
        }
        return true;
    case filter_op::any_of:
        for (const auto& c : f.children) {
            if (reference(c, id, payload)) {
                return true;
            }
        }
        return false;
    case filter_op::none_of:
        return !reference(f.children[0], id, payload);
    case filter_op::exists:
        return x != nullptr;
    case filter_op::eq:
    case filter_op::in:
        for (const auto& v : f.values) {
            if (x != nullptr && same(*x, v)) {
                return true;
            }
        }
        return false;
    case filter_op::ne:
    case filter_op::nin: {
        bool kind_held = false;
        for (const auto& v : f.values) {
            if (x != nullptr && same(*x, v)) {
                return false;
            }
            kind_held = kind_held || (x != nullptr && of_kind(*x, v.kind));
        }
        return kind_held;
    }
    case filter_op::contains:
    case filter_op::contains_any:
        if (x == nullptr || !x->is_array() || f.field == "id") {
            return false;
        }
        for (const auto& e : x->get_array()) {
            for (const auto& v : f.values) {
                if (same(e, v)) {
                    return true;
                }
            }
        }
        return false;
    case filter_op::range: {
        if (x == nullptr) {
            return false;
        }
        const value_kind k = f.lower.set ? f.lower.value.kind : f.upper.value.kind;
        if (!of_kind(*x, k)) {
            return false;
        }
        auto cmp = [&](const filter_value& b) {  // x <=> b
            if (k == value_kind::number) {
                double a = x->to_number<double>();
                return a < b.number ? -1 : a > b.number ? 1 : 0;
            }
            int c = std::string_view(x->get_string()).compare(b.text);
            return c < 0 ? -1 : c > 0 ? 1 : 0;
        };
        if (f.lower.set && !(f.lower.inclusive ? cmp(f.lower.value) >= 0 : cmp(f.lower.value) > 0)) {
            return false;
        }
        if (f.upper.set && !(f.upper.inclusive ? cmp(f.upper.value) <= 0 : cmp(f.upper.value) < 0)) {
            return false;
        }
        return true;
    }
    }
    return false;
}

const char* words[] = {"red", "green", "blue", "", "Red", "zz"};

json::value random_scalar(std::mt19937_64& rng)
{
    switch (rng() % 4) {
    case 0:
        return json::value(words[rng() % 6]);
    case 1:
        return json::value(static_cast<std::int64_t>(rng() % 7) - 3);
    case 2:
        return json::value(static_cast<double>(rng() % 9) / 4.0 - 1.0);
    default:
        return json::value(rng() % 2 == 0);
    }
}

json::object random_payload(std::mt19937_64& rng, std::size_t row)
{
    json::object o;
    o["n"] = static_cast<double>(row % 997) / 10.0;  // on every row: a long number column
    if (rng() % 4 != 0) {
        o["a"] = random_scalar(rng);
    }
    if (rng() % 3 == 0) {
        o["b"] = nullptr;
    } else if (rng() % 2 == 0) {
        o["b"] = random_scalar(rng);
    }
    if (rng() % 2 == 0) {
        json::array tags;
        for (std::size_t i = rng() % 4; i > 0; --i) {
            tags.push_back(random_scalar(rng));
        }
        o["tags"] = std::move(tags);
    }
    if (rng() % 3 == 0) {
        json::object meta;
        meta["lang"] = random_scalar(rng);
        if (rng() % 2 == 0) {
            meta["deep"] = json::object{{"x", random_scalar(rng)}};
        }
        o["meta"] = std::move(meta);
    }
    return o;
}

filter_value value_of(const json::value& v)
{
    filter_value out;
    if (v.is_string()) {
        out.kind = value_kind::string;
        out.text = std::string(v.get_string());
    } else if (v.is_bool()) {
        out.kind = value_kind::boolean;
        out.boolean = v.get_bool();
    } else {
        out.kind = value_kind::number;
        out.number = v.to_number<double>();
    }
    return out;
}

const char* fields[] = {"a", "b", "tags", "meta.lang", "meta.deep.x", "meta", "id", "n", "missing"};

filter random_filter(std::mt19937_64& rng, int depth)
{
    filter f;
    if (depth < 3 && rng() % 3 == 0) {
        f.op = static_cast<filter_op>(rng() % 3);  // and, or, not
        std::size_t n = f.op == filter_op::none_of ? 1 : 1 + rng() % 3;
        for (std::size_t i = 0; i < n; ++i) {
            f.children.push_back(random_filter(rng, depth + 1));
        }
        return f;
    }
    f.op = static_cast<filter_op>(3 + rng() % 8);
    f.field = fields[rng() % 9];
    auto scalar = [&] {
        if (f.field == "id") {
            return value_of(json::value("r" + std::to_string(rng() % 50)));
        }
        if (f.field == "n") {
            return value_of(json::value(static_cast<double>(rng() % 1100) / 10.0));
        }
        return value_of(random_scalar(rng));
    };
    switch (f.op) {
    case filter_op::eq:
    case filter_op::ne:
    case filter_op::contains:
        f.values.push_back(scalar());
        break;
    case filter_op::in:
    case filter_op::nin:
    case filter_op::contains_any:
        for (std::size_t i = 1 + rng() % 3; i > 0; --i) {
            f.values.push_back(scalar());
        }
        break;
    case filter_op::range: {
        // Bounds of one kind: numbers, or strings (never booleans).
        filter_value a = scalar();
        while (a.kind == value_kind::boolean) {
            a = scalar();
        }
        filter_value b = a;
        if (a.kind == value_kind::number) {
            b.number = a.number + static_cast<double>(rng() % 400) / 10.0;
        } else {
            b.text = words[rng() % 6];
        }
        int shape = static_cast<int>(rng() % 3);  // lower only, upper only, both
        if (shape != 1) {
            f.lower = filter_bound{true, rng() % 2 == 0, a};
        }
        if (shape != 0) {
            f.upper = filter_bound{true, rng() % 2 == 0, shape == 1 ? a : b};
        }
        break;
    }
    default:
        break;
    }
    return f;
}

std::string row_id(std::size_t r)
{
    return "r" + std::to_string(r);
}

filter_rows rows_of(const attribute_index& index, std::size_t n, const std::vector<std::string>& ids)
{
    filter_rows t;
    t.rows = n;
    t.attributes = &index;
    t.id = [&ids](std::uint32_t r) { return std::string_view(ids[r]); };
    return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(filter_suite)

BOOST_AUTO_TEST_CASE(evaluation_equals_the_reference_unsealed_sealed_and_decoded)
{
    std::mt19937_64 rng(20261202);
    const std::size_t n = 6000;  // above number_prefix_min: ranges on "n" take the prefix bitsets
    std::vector<json::object> payloads;
    std::vector<std::string> ids;
    attribute_index staging;
    attribute_index sealed;
    for (std::size_t r = 0; r < n; ++r) {
        payloads.push_back(random_payload(rng, r));
        ids.push_back(row_id(r));
        std::string text = json::serialize(payloads.back());
        staging.add(static_cast<std::uint32_t>(r), text);
        sealed.add(static_cast<std::uint32_t>(r), text);
    }
    sealed.seal(n);
    BOOST_TEST_REQUIRE(!sealed.field("n")->prefix.empty());
    auto decoded = attribute_index::decode(sealed.encode(), n, "seg", 0);
    BOOST_TEST_REQUIRE(decoded.has_value(), decoded.error().message());
    BOOST_TEST(decoded->encode() == sealed.encode());
    const std::size_t view_rows = n - 1234;  // a view taken before the last rows arrived
    for (int i = 0; i < 400; ++i) {
        filter f = random_filter(rng, 0);
        bitmap a = evaluate(f, rows_of(staging, n, ids));
        bitmap b = evaluate(f, rows_of(sealed, n, ids));
        bitmap c = evaluate(f, rows_of(*decoded, n, ids));
        bitmap v = evaluate(f, rows_of(staging, view_rows, ids));
        std::size_t expected = 0;
        for (std::size_t r = 0; r < n; ++r) {
            bool want = reference(f, ids[r], payloads[r]);
            expected += want ? 1 : 0;
            if (a.test(r) != want || b.test(r) != want || c.test(r) != want || (r < view_rows && v.test(r) != want)) {
                BOOST_FAIL(describe(f) << ": row " << r << " " << json::serialize(payloads[r]) << " expected " << want);
            }
        }
        BOOST_TEST(a.count() == expected);
        BOOST_TEST(b.count() == expected);
        BOOST_TEST(v.size() == view_rows);
    }
}

BOOST_AUTO_TEST_CASE(ranges_on_a_long_column_reach_both_of_its_ends)
{
    // Ranges whose run ends at the column's end (a lower bound only) or starts at its beginning.
    const std::size_t n = 10000;
    attribute_index index;
    std::vector<std::string> ids;
    for (std::size_t r = 0; r < n; ++r) {
        index.add(static_cast<std::uint32_t>(r), "{\"v\":" + std::to_string((r * 7919) % n) + "}");
        ids.push_back(row_id(r));
    }
    index.seal(n);
    for (double lo : {-1.0, 0.0, 1.0, 4999.5, 9998.0, 9999.0, 10000.0}) {
        filter f;
        f.op = filter_op::range;
        f.field = "v";
        f.lower = filter_bound{true, true, filter_value{value_kind::number, "", lo, false}};
        std::size_t want = static_cast<std::size_t>(std::max(0.0, static_cast<double>(n) - std::ceil(std::max(lo, 0.0))));
        BOOST_TEST(evaluate(f, rows_of(index, n, ids)).count() == want, "gte " << lo);
        filter g = f;
        g.lower = {};
        g.upper = filter_bound{true, false, f.lower.value};
        BOOST_TEST(evaluate(g, rows_of(index, n, ids)).count() == n - want, "lt " << lo);
    }
}

BOOST_AUTO_TEST_CASE(the_documented_rules)
{
    attribute_index index;
    const char* rows[] = {
        R"({"color":"red","n":1,"tags":["x","y"],"meta":{"lang":"en"}})",
        R"({"color":"blue","n":-0.0,"tags":"x"})",
        R"({"n":"1","meta":{"lang":null}})",
        R"({})",
        R"({"color":null,"n":0,"flag":true})",
    };
    std::vector<std::string> ids;
    for (std::uint32_t r = 0; r < 5; ++r) {
        index.add(r, rows[r]);
        ids.push_back(row_id(r));
    }
    index.seal(5);
    auto eq = [](const std::string& field, filter_value v) {
        filter f;
        f.op = filter_op::eq;
        f.field = field;
        f.values.push_back(std::move(v));
        return f;
    };
    auto str = [](const char* s) { return filter_value{value_kind::string, s, 0, false}; };
    auto num = [](double d) { return filter_value{value_kind::number, "", d, false}; };
    auto rows_matching = [&](const filter& f) { return evaluate(f, rows_of(index, 5, ids)).list(); };
    using list = std::vector<std::uint32_t>;
    BOOST_TEST(rows_matching(eq("color", str("red"))) == (list{0}));
    BOOST_TEST(rows_matching(eq("n", num(1))) == (list{0}));         // "1" is a string, not 1
    BOOST_TEST(rows_matching(eq("n", num(0))) == (list{1, 4}));      // -0 equals 0
    BOOST_TEST(rows_matching(eq("meta.lang", str("en"))) == (list{0}));
    BOOST_TEST(rows_matching(eq("id", str("r3"))) == (list{3}));
    filter ne = eq("color", str("red"));
    ne.op = filter_op::ne;
    BOOST_TEST(rows_matching(ne) == (list{1}));  // missing and null fields do not hold "ne"
    filter complement;
    complement.op = filter_op::none_of;
    complement.children.push_back(eq("color", str("red")));
    BOOST_TEST(rows_matching(complement) == (list{1, 2, 3, 4}));
    filter contains = eq("tags", str("x"));
    contains.op = filter_op::contains;
    BOOST_TEST(rows_matching(contains) == (list{0}));  // a scalar "x" is not an array holding it
    filter exists;
    exists.op = filter_op::exists;
    exists.field = "meta";
    BOOST_TEST(rows_matching(exists) == (list{0, 2}));  // an object counts
    exists.field = "meta.lang";
    BOOST_TEST(rows_matching(exists) == (list{0}));  // null does not
    exists.field = "color";
    BOOST_TEST(rows_matching(exists) == (list{0, 1}));
}

BOOST_AUTO_TEST_CASE(remapping_staged_indexes_equals_indexing_the_payloads_again)
{
    // Two stagings of random payloads; some rows dead; the live ones gathered into a segment in
    // a shuffled order (as clusters order them). The remapped index is byte for byte the one
    // that parsing the payloads in position order gives.
    std::mt19937_64 rng(7);
    std::vector<std::vector<std::string>> texts(2);
    std::vector<attribute_index> staged(2);
    for (std::size_t s = 0; s < 2; ++s) {
        for (std::uint32_t r = 0; r < 3000; ++r) {
            texts[s].push_back(json::serialize(random_payload(rng, r + 3000 * s)));
            staged[s].add(r, texts[s].back());
        }
    }
    std::vector<std::pair<std::size_t, std::uint32_t>> live;
    for (std::size_t s = 0; s < 2; ++s) {
        for (std::uint32_t r = 0; r < 3000; ++r) {
            if (rng() % 5 != 0) {
                live.push_back({s, r});
            }
        }
    }
    std::shuffle(live.begin(), live.end(), rng);
    std::vector<std::vector<std::int64_t>> positions(2, std::vector<std::int64_t>(3000, -1));
    attribute_index parsed;
    for (std::size_t p = 0; p < live.size(); ++p) {
        positions[live[p].first][live[p].second] = static_cast<std::int64_t>(p);
        parsed.add(static_cast<std::uint32_t>(p), texts[live[p].first][live[p].second]);
    }
    parsed.seal(live.size());
    attribute_index remapped = attribute_index::remap({&staged[0], &staged[1]}, positions, live.size());
    BOOST_TEST(remapped.sealed());
    BOOST_TEST((remapped.encode() == parsed.encode()));
}

BOOST_AUTO_TEST_CASE(decode_refuses_damaged_sections)
{
    attribute_index index;
    index.add(0, R"({"s":"a","n":2})");
    index.add(2, R"({"s":"b","n":1,"t":["x"]})");
    index.seal(3);
    const std::string good = index.encode();
    BOOST_TEST(attribute_index::decode(good, 3, "seg", 4096).has_value());
    auto refused = [](const std::string& bytes, std::size_t rows) {
        auto r = attribute_index::decode(bytes, rows, "seg", 4096);
        return !r.has_value() && is(r.error(), errc::corruption) &&
               r.error().message().find("attribute index") != std::string::npos;
    };
    BOOST_TEST(refused(good.substr(0, good.size() - 1), 3));  // truncated
    BOOST_TEST(refused(good + std::string(1, '\0'), 3));       // trailing bytes
    BOOST_TEST(refused(good, 2));                              // row 2 beyond a 2-row segment
    // The first field is "n": its presence postings (rows 0, 2) follow the u32 count, the
    // path (u32 length + "n") and the postings count.
    std::string swapped = good;
    const std::size_t rows_at = 4 + 4 + 1 + 4;
    std::swap_ranges(swapped.begin() + rows_at, swapped.begin() + rows_at + 4, swapped.begin() + rows_at + 4);
    BOOST_TEST(refused(swapped, 3));  // postings not ascending
    // A NaN in the number column of "n": its values follow presence, kinds, scalars, elements.
    std::string nan = good;
    std::size_t at = nan.find(std::string("\x02\0\0\0", 4), rows_at + 8 + 4 * 4 + 8 + 4 + 4);
    BOOST_TEST_REQUIRE(at != std::string::npos);
    for (std::size_t i = 0; i < 8; ++i) {
        nan[at + 4 + i] = static_cast<char>(0xFF);
    }
    BOOST_TEST(refused(nan, 3));
}

BOOST_AUTO_TEST_SUITE_END()
