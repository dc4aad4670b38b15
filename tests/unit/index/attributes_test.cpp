// The attribute index and filter evaluation against a reference of their own: a plain
// row-by-row evaluator over the Boost.JSON-parsed payloads (it shares nothing with the engine but
// the filter structs). Random payloads and random filter trees over every operator agree with
// it for the index as staging holds it (unsealed, and seen by views of fewer or more rows), as a
// segment holds it (sealed, prefix bitsets on its long number column) and as a segment file
// gives it back (encode, decode); every documented rule by hand; decode refusing each kind of
// damage with errc::corruption; the bitmap bulk operations on their word boundaries; and a
// collection's unindexed fields: exclude() leaving paths and everything beneath them out (the
// index then equals that of the payloads without them), path_excluded() on whole path parts,
// excluded_field() over nested filters.
#include "engine/core/bitmap.hpp"
#include "engine/core/coding.hpp"
#include "engine/core/log.hpp"
#include "engine/core/result.hpp"
#include "engine/index/attributes.hpp"
#include "engine/index/filter.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace puffer;
using namespace puffer::index;
namespace json = boost::json;

namespace {

using rows_list = std::vector<std::uint32_t>;

// ---------------------------------------------------------------------------------------------
// Filters, built from values or from their JSON text (the test's own unchecked reader, so these
// tests do not lean on net/).

filter_value str_value(std::string s)
{
    filter_value v;
    v.kind = value_kind::string;
    v.text = std::move(s);
    return v;
}

filter_value num_value(double d)
{
    filter_value v;
    v.kind = value_kind::number;
    v.number = d;
    return v;
}

filter_value bool_value(bool b)
{
    filter_value v;
    v.kind = value_kind::boolean;
    v.boolean = b;
    return v;
}

filter_value value_from_json(const json::value& v)
{
    if (v.is_string()) {
        return str_value(std::string(v.get_string()));
    }
    if (v.is_bool()) {
        return bool_value(v.get_bool());
    }
    return num_value(v.to_number<double>());
}

filter filter_from_json(const json::value& v)
{
    const json::object& o = v.as_object();
    BOOST_TEST_REQUIRE(o.size() == 1u);
    const std::string op(o.begin()->key());
    const json::value& arg = o.begin()->value();
    filter f;
    if (op == "and" || op == "or") {
        f.op = op == "and" ? filter_op::all_of : filter_op::any_of;
        for (const json::value& c : arg.as_array()) {
            f.children.push_back(filter_from_json(c));
        }
        return f;
    }
    if (op == "not") {
        f.op = filter_op::none_of;
        f.children.push_back(filter_from_json(arg));
        return f;
    }
    if (op == "exists") {
        f.op = filter_op::exists;
        f.field = std::string(arg.as_string());
        return f;
    }
    const json::array& a = arg.as_array();
    f.field = std::string(a.at(0).as_string());
    const json::value& second = a.at(1);
    if (op == "eq" || op == "ne" || op == "contains") {
        f.op = op == "eq" ? filter_op::eq : op == "ne" ? filter_op::ne : filter_op::contains;
        f.values.push_back(value_from_json(second));
    } else if (op == "in" || op == "nin" || op == "contains_any") {
        f.op = op == "in" ? filter_op::in : op == "nin" ? filter_op::nin : filter_op::contains_any;
        for (const json::value& x : second.as_array()) {
            f.values.push_back(value_from_json(x));
        }
    } else {
        BOOST_TEST_REQUIRE(op == "range");
        f.op = filter_op::range;
        for (const auto& kv : second.as_object()) {
            const std::string bound(kv.key());
            filter_bound& b = bound[0] == 'g' ? f.lower : f.upper;
            b.set = true;
            b.inclusive = bound.size() == 3;
            b.value = value_from_json(kv.value());
        }
    }
    return f;
}

filter parse(std::string_view text)
{
    return filter_from_json(json::parse(json::string_view(text.data(), text.size())));
}

filter range_of(const std::string& field, bool has_lower, bool lower_inclusive, double lower, bool has_upper,
                bool upper_inclusive, double upper)
{
    filter f;
    f.op = filter_op::range;
    f.field = field;
    if (has_lower) {
        f.lower = filter_bound{true, lower_inclusive, num_value(lower)};
    }
    if (has_upper) {
        f.upper = filter_bound{true, upper_inclusive, num_value(upper)};
    }
    return f;
}

// ---------------------------------------------------------------------------------------------
// The reference.

// Every non-null value `path` reaches in o: the key spelled whole, or a prefix ending before a
// '.' that names an object, and the rest of the path inside it (docs/api.md: keys holding a '.'
// are reached by the dotted path they spell).
void resolve(const json::object& o, std::string_view path, std::vector<const json::value*>& out)
{
    if (const json::value* v = o.if_contains(json::string_view(path.data(), path.size())); v != nullptr && !v->is_null()) {
        out.push_back(v);
    }
    for (std::size_t dot = path.find('.'); dot != std::string_view::npos; dot = path.find('.', dot + 1)) {
        std::string_view head = path.substr(0, dot);
        const json::value* v = o.if_contains(json::string_view(head.data(), head.size()));
        if (v != nullptr && v->is_object()) {
            resolve(v->get_object(), path.substr(dot + 1), out);
        }
    }
}

struct ref_row {
    std::string id;
    json::object payload;  // empty for no payload (empty text, or text that is not an object)
};

bool is_scalar(const json::value& x)
{
    return x.is_string() || x.is_bool() || x.is_number();
}

bool has_kind(const json::value& x, value_kind k)
{
    switch (k) {
    case value_kind::string:
        return x.is_string();
    case value_kind::number:
        return x.is_number();
    case value_kind::boolean:
        return x.is_bool();
    }
    return false;
}

bool equals(const json::value& x, const filter_value& v)
{
    if (!has_kind(x, v.kind)) {
        return false;
    }
    switch (v.kind) {
    case value_kind::string:
        return std::string_view(x.get_string()) == v.text;
    case value_kind::number:
        return x.to_number<double>() == v.number;
    case value_kind::boolean:
        return x.get_bool() == v.boolean;
    }
    return false;
}

// x compared with a bound of the same kind: <0, 0, >0.
int compare(const json::value& x, const filter_value& b)
{
    if (b.kind == value_kind::number) {
        double a = x.to_number<double>();
        return a < b.number ? -1 : a > b.number ? 1 : 0;
    }
    int c = std::string_view(x.get_string()).compare(b.text);  // bytewise (char_traits<char>)
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

bool reference(const filter& f, const ref_row& row)
{
    switch (f.op) {
    case filter_op::all_of:
        return std::all_of(f.children.begin(), f.children.end(), [&](const filter& c) { return reference(c, row); });
    case filter_op::any_of:
        return std::any_of(f.children.begin(), f.children.end(), [&](const filter& c) { return reference(c, row); });
    case filter_op::none_of:
        return !reference(f.children.at(0), row);
    default:
        break;
    }
    // The one value the field holds here, or none.
    json::value id_value;
    const json::value* x = nullptr;
    if (f.field == "id") {
        id_value = json::value(row.id);
        x = &id_value;
    } else {
        thread_local std::vector<const json::value*> found;  // no allocation a call
        found.clear();
        resolve(row.payload, f.field, found);
        if (found.size() > 1) {
            BOOST_FAIL("the reference takes one value a path: " << f.field);
        }
        x = found.empty() ? nullptr : found[0];
    }
    if (x == nullptr) {
        return false;
    }
    switch (f.op) {
    case filter_op::exists:
        return true;
    case filter_op::eq:
    case filter_op::in:
        return std::any_of(f.values.begin(), f.values.end(), [&](const filter_value& v) { return equals(*x, v); });
    case filter_op::ne:
    case filter_op::nin: {
        if (!is_scalar(*x)) {
            return false;
        }
        bool kind_held = false;
        for (const filter_value& v : f.values) {
            if (equals(*x, v)) {
                return false;
            }
            kind_held = kind_held || has_kind(*x, v.kind);
        }
        return kind_held;
    }
    case filter_op::contains:
    case filter_op::contains_any:
        if (f.field == "id" || !x->is_array()) {
            return false;
        }
        for (const json::value& e : x->get_array()) {
            for (const filter_value& v : f.values) {
                if (equals(e, v)) {
                    return true;
                }
            }
        }
        return false;
    case filter_op::range: {
        const value_kind k = f.lower.set ? f.lower.value.kind : f.upper.value.kind;
        if (!has_kind(*x, k)) {
            return false;
        }
        if (f.lower.set) {
            int c = compare(*x, f.lower.value);
            if (f.lower.inclusive ? c < 0 : c <= 0) {
                return false;
            }
        }
        if (f.upper.set) {
            int c = compare(*x, f.upper.value);
            if (f.upper.inclusive ? c > 0 : c >= 0) {
                return false;
            }
        }
        return true;
    }
    default:
        break;
    }
    BOOST_FAIL("unknown operator");
    return false;
}

// ---------------------------------------------------------------------------------------------
// Rows: payload texts, their parsed form, ids.

struct dataset {
    std::vector<std::string> texts;
    std::vector<ref_row> rows;

    void push(std::string text, std::string id)
    {
        ref_row r;
        r.id = std::move(id);
        std::error_code ec;
        json::value v = json::parse(text, ec);
        if (!ec && v.is_object()) {
            r.payload = std::move(v.get_object());
        }
        texts.push_back(std::move(text));
        rows.push_back(std::move(r));
    }
    std::size_t size() const { return rows.size(); }
};

attribute_index index_of(const dataset& d, std::size_t rows)
{
    attribute_index index;
    for (std::size_t r = 0; r < rows; ++r) {
        index.add(static_cast<std::uint32_t>(r), d.texts[r]);
    }
    return index;
}

filter_rows target_of(const attribute_index* index, std::size_t rows, const dataset& d)
{
    filter_rows t;
    t.rows = rows;
    t.attributes = index;
    t.id = [&d](std::uint32_t r) -> std::string_view {
        if (r >= d.size()) {
            BOOST_FAIL("an id asked for row " << r << " of " << d.size());
        }
        return d.rows[r].id;
    };
    return t;
}

// evaluate() over rows [0, rows) against the reference; true when they agree on every row.
bool agrees(const filter& f, const attribute_index* index, std::size_t rows, const dataset& d, const char* what,
            std::size_t* matched = nullptr)
{
    bitmap got = evaluate(f, target_of(index, rows, d));
    if (got.size() != rows) {
        BOOST_ERROR(what << ": " << describe(f) << ": a bitmap of " << got.size() << " bits for " << rows << " rows");
        return false;
    }
    std::size_t expected = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        bool want = reference(f, d.rows[r]);
        expected += want ? 1 : 0;
        if (got.test(r) != want) {
            BOOST_ERROR(what << ": " << describe(f) << ": row " << r << " " << d.texts[r] << " (id " << d.rows[r].id
                             << "): expected " << want << ", got " << got.test(r));
            return false;
        }
    }
    // The count is recomputed, and no bit beyond rows is set.
    if (got.count() != expected || got.list().size() != expected) {
        BOOST_ERROR(what << ": " << describe(f) << ": count " << got.count() << ", list " << got.list().size()
                         << ", expected " << expected);
        return false;
    }
    if (matched != nullptr) {
        *matched = expected;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Random payloads. Each path reaches at most one value a row (the literal key "dot.k" and the
// nested {"dot": {"k": ...}} never meet in one row), so the reference is unambiguous.

const char* const words[] = {"red", "green", "blue", "", "Red", "red ", "a b", "\xc3\xa9t\xc3\xa9", "zz", "p12"};
constexpr std::size_t word_count = sizeof words / sizeof words[0];

json::value random_number(std::mt19937_64& rng)
{
    switch (rng() % 6) {
    case 0:
        return json::value(-0.0);
    case 1:
        return json::value(static_cast<double>(static_cast<int>(rng() % 9) - 4) / 2.0);  // -2 .. 2 by halves
    case 2:
        return json::value(static_cast<std::uint64_t>(rng() % 4));
    default:
        return json::value(static_cast<std::int64_t>(rng() % 7) - 3);
    }
}

json::value random_scalar(std::mt19937_64& rng)
{
    switch (rng() % 4) {
    case 0:
    case 1:
        return json::value(words[rng() % word_count]);
    case 2:
        return random_number(rng);
    default:
        return json::value(rng() % 2 == 0);
    }
}

// Any value: mostly scalars, sometimes null, an array or an object.
json::value random_any(std::mt19937_64& rng)
{
    switch (rng() % 8) {
    case 0:
        return json::value(nullptr);
    case 1: {
        json::array a;
        a.push_back(random_scalar(rng));
        a.push_back(random_scalar(rng));
        return a;
    }
    case 2: {
        json::object o;
        o["q"] = random_scalar(rng);
        return o;
    }
    default:
        return random_scalar(rng);
    }
}

json::array random_array(std::mt19937_64& rng, bool numbers_only)
{
    json::array a;
    for (std::size_t i = rng() % 5; i > 0; --i) {
        if (numbers_only) {
            a.push_back(random_number(rng));
            continue;
        }
        switch (rng() % 10) {
        case 0:
            a.push_back(random_number(rng));
            break;
        case 1:
            a.push_back(rng() % 2 == 0);
            break;
        case 2:
            a.push_back(nullptr);
            break;
        case 3: {
            json::array inner;  // nested: not an element
            inner.push_back(json::value(words[rng() % word_count]));
            a.push_back(std::move(inner));
            break;
        }
        case 4: {
            json::object inner;
            inner["x"] = words[rng() % word_count];
            a.push_back(std::move(inner));
            break;
        }
        default:
            a.push_back(json::value(words[rng() % word_count]));
            break;
        }
    }
    return a;
}

// The value of "num": on every row, few distinct values (long runs of equal values), -0 and 0.
double random_num(std::mt19937_64& rng)
{
    switch (rng() % 40) {
    case 0:
        return -0.0;
    case 1:
        return 0.0;
    default:
        return static_cast<double>(static_cast<int>(rng() % 241) - 120) / 2.0;  // -60 .. 60 by halves
    }
}

json::object random_payload(std::mt19937_64& rng)
{
    json::object o;
    o["num"] = random_num(rng);
    if (std::uint64_t c = rng() % 20; c < 14) {
        o["s"] = words[rng() % word_count];
    } else if (c < 16) {
        o["s"] = random_number(rng);
    } else if (c < 17) {
        o["s"] = rng() % 2 == 0;
    } else if (c < 18) {
        o["s"] = nullptr;
    }
    if (std::uint64_t c = rng() % 10; c < 6) {
        o["i"] = static_cast<std::int64_t>(rng() % 7) - 3;
    } else if (c < 7) {
        o["i"] = static_cast<double>(rng() % 7) - 3.5;
    } else if (c < 8) {
        o["i"] = json::string(std::to_string(rng() % 3));  // a number as a string: another kind
    }
    if (std::uint64_t c = rng() % 10; c < 5) {
        o["b"] = rng() % 2 == 0;
    } else if (c < 6) {
        o["b"] = nullptr;
    }
    if (std::uint64_t c = rng() % 10; c < 4) {
        o["tags"] = random_array(rng, false);
    } else if (c < 5) {
        o["tags"] = words[rng() % word_count];  // a scalar: "contains" does not see it
    }
    if (rng() % 10 < 3) {
        o["nums"] = random_array(rng, true);
    }
    if (std::uint64_t c = rng() % 20; c < 8) {
        json::object meta;
        if (rng() % 4 != 0) {
            meta["lang"] = rng() % 6 == 0 ? json::value(nullptr) : random_scalar(rng);
        }
        if (rng() % 2 == 0) {
            meta["score"] = random_number(rng);
        }
        if (rng() % 3 == 0) {
            json::object deep;
            deep["x"] = random_any(rng);
            meta["deep"] = std::move(deep);
        }
        o["meta"] = std::move(meta);
    } else if (c < 9) {
        o["meta"] = "en";  // meta a string: meta.lang missing
    } else if (c < 10) {
        o["meta"] = json::object{};
    }
    if (std::uint64_t c = rng() % 10; c < 2) {
        o["dot.k"] = random_scalar(rng);  // reached as "dot.k"
    } else if (c < 4) {
        json::object dot;
        dot["k"] = random_scalar(rng);
        o["dot"] = std::move(dot);
    }
    if (rng() % 10 == 0) {
        o["id"] = "p1";  // a payload key "id" is not the point's id
    }
    if (rng() % 3 != 0) {
        o["mixed"] = random_any(rng);
    }
    return o;
}

// Ids: unique, and not in row order when compared as strings.
std::string random_id(std::size_t r)
{
    return "p" + std::to_string(r);
}

dataset random_dataset(std::mt19937_64& rng, std::size_t n)
{
    dataset d;
    for (std::size_t r = 0; r < n; ++r) {
        d.push(json::serialize(random_payload(rng)), random_id(r));
    }
    return d;
}

const char* const fields[] = {"s",         "i",         "b",     "tags",    "nums",  "meta",   "meta.lang",
                              "meta.score", "meta.deep.x", "meta.deep", "dot.k", "dot",   "id",     "num",
                              "mixed",     "missing",   "mixed.q"};
constexpr std::size_t field_count = sizeof fields / sizeof fields[0];

filter_value random_filter_value(std::mt19937_64& rng, const std::string& field, std::size_t rows)
{
    if (field == "id" && rng() % 4 != 0) {
        return str_value(rng() % 10 == 0 ? std::string("p") : random_id(rng() % (rows + 50)));
    }
    if (field == "num" && rng() % 4 != 0) {
        return num_value(random_num(rng));
    }
    switch (rng() % 8) {
    case 0:
        return num_value(static_cast<double>(rng() % 5) + 0.25);  // held by no row
    case 1:
        return str_value("absent");
    default:
        return value_from_json(random_scalar(rng));
    }
}

filter random_leaf(std::mt19937_64& rng, std::size_t rows)
{
    filter f;
    if (rng() % 4 == 0) {
        // A range on the long number column: every shape of bounds, equal endpoints included.
        double a = random_num(rng);
        double b = rng() % 4 == 0 ? a : random_num(rng);
        if (a > b && rng() % 4 != 0) {
            std::swap(a, b);
        }
        int shape = static_cast<int>(rng() % 3);  // 0 lower only, 1 upper only, 2 both
        return range_of("num", shape != 1, rng() % 2 == 0, a, shape != 0, rng() % 2 == 0, shape == 1 ? a : b);
    }
    f.op = static_cast<filter_op>(static_cast<int>(filter_op::eq) + static_cast<int>(rng() % 8));
    f.field = fields[rng() % field_count];
    switch (f.op) {
    case filter_op::eq:
    case filter_op::ne:
    case filter_op::contains:
        f.values.push_back(random_filter_value(rng, f.field, rows));
        break;
    case filter_op::in:
    case filter_op::nin:
    case filter_op::contains_any:
        for (std::size_t i = 1 + rng() % 4; i > 0; --i) {
            f.values.push_back(random_filter_value(rng, f.field, rows));
        }
        break;
    case filter_op::range: {
        filter_value a = random_filter_value(rng, f.field, rows);
        while (a.kind == value_kind::boolean) {
            a = random_filter_value(rng, f.field, rows);
        }
        filter_value b = a;
        if (rng() % 4 != 0) {
            b = random_filter_value(rng, f.field, rows);
            while (b.kind != a.kind) {
                b = random_filter_value(rng, f.field, rows);
            }
        }
        int shape = static_cast<int>(rng() % 3);
        if (shape != 1) {
            f.lower = filter_bound{true, rng() % 2 == 0, a};
        }
        if (shape != 0) {
            f.upper = filter_bound{true, rng() % 2 == 0, shape == 1 ? a : b};
        }
        break;
    }
    default:
        break;  // exists
    }
    return f;
}

// A tree of at most 4 levels: and / or / not above, leaves below.
filter random_filter(std::mt19937_64& rng, int depth, std::size_t rows)
{
    if (depth < 3 && rng() % 5 < 2) {
        filter f;
        f.op = static_cast<filter_op>(rng() % 3);
        std::size_t children = f.op == filter_op::none_of ? 1 : 1 + rng() % 3;
        for (std::size_t i = 0; i < children; ++i) {
            f.children.push_back(random_filter(rng, depth + 1, rows));
        }
        return f;
    }
    return random_leaf(rng, rows);
}

// ---------------------------------------------------------------------------------------------
// Sections written by hand (docs/format.md, attribute index section), to damage them precisely.

struct raw_field {
    std::string path;
    rows_list present;
    std::array<rows_list, value_kinds> kinds;
    std::vector<std::pair<std::string, rows_list>> scalars;
    std::vector<std::pair<std::string, rows_list>> elements;
    std::vector<double> numbers;
    rows_list number_rows;
};

// Postings as the format stores them: a list, or a bitset of the segment's rows when they hold
// at least 1024 rows and 1/32 of them.
void put_raw_postings(encoder& e, const rows_list& rows, std::size_t segment_rows)
{
    e.put_u32(static_cast<std::uint32_t>(rows.size()));
    if (rows.size() >= 1024 && rows.size() * 32 >= segment_rows) {
        std::vector<std::uint64_t> words((segment_rows + 63) / 64, 0);
        for (std::uint32_t r : rows) {
            words.at(r / 64) |= std::uint64_t{1} << (r % 64);
        }
        for (std::uint64_t w : words) {
            e.put_u64(w);
        }
        return;
    }
    for (std::uint32_t r : rows) {
        e.put_u32(r);
    }
}

std::string raw_section(const std::vector<raw_field>& fields_in, std::size_t segment_rows)
{
    std::string out;
    encoder e(out);
    e.put_u32(static_cast<std::uint32_t>(fields_in.size()));
    for (const raw_field& f : fields_in) {
        e.put_string32(f.path);
        put_raw_postings(e, f.present, segment_rows);
        for (const rows_list& k : f.kinds) {
            put_raw_postings(e, k, segment_rows);
        }
        for (const auto* m : {&f.scalars, &f.elements}) {
            e.put_u32(static_cast<std::uint32_t>(m->size()));
            for (const auto& [key, rows] : *m) {
                e.put_string32(key);
                put_raw_postings(e, rows, segment_rows);
            }
        }
        e.put_u32(static_cast<std::uint32_t>(f.numbers.size()));
        for (double v : f.numbers) {
            std::uint64_t bits = 0;
            std::memcpy(&bits, &v, 8);
            e.put_u64(bits);
        }
        for (std::uint32_t r : f.number_rows) {
            e.put_u32(r);
        }
    }
    return out;
}

// The index of rows 0: {"a":"x","n":2} and 2: {"a":"y","n":1,"t":["x"]} of a 3-row segment.
std::vector<raw_field> small_fields()
{
    raw_field a;
    a.path = "a";
    a.present = {0, 2};
    a.kinds[static_cast<std::size_t>(value_kind::string)] = {0, 2};
    a.scalars = {{string_key("x"), {0}}, {string_key("y"), {2}}};
    raw_field n;
    n.path = "n";
    n.present = {0, 2};
    n.kinds[static_cast<std::size_t>(value_kind::number)] = {0, 2};
    n.numbers = {1, 2};
    n.number_rows = {2, 0};
    raw_field t;
    t.path = "t";
    t.present = {2};
    t.elements = {{string_key("x"), {2}}};
    return {a, n, t};
}

const std::string section_path = "segments/000042.seg";
constexpr std::uint64_t section_offset = 8192;

// True when decode refuses the bytes as corruption; the message must name the attribute index,
// the file, an offset and the reason given (a part of its text); it is kept for the caller.
bool refused(const std::string& bytes, std::size_t rows, std::string_view reason = {}, std::string* message = nullptr)
{
    auto r = attribute_index::decode(bytes, rows, section_path, section_offset);
    if (r.has_value()) {
        return false;
    }
    const std::string m = r.error().message();
    if (message != nullptr) {
        *message = m;
    }
    bool named = m.find("attribute index") != std::string::npos && m.find(section_path) != std::string::npos &&
                 m.find("offset ") != std::string::npos;
    BOOST_TEST(named, m);
    BOOST_TEST(m.find(reason) != std::string::npos, "expected \"" << reason << "\" in: " << m);
    if (named) {
        std::uint64_t at = std::stoull(m.substr(m.find("offset ") + 7));
        BOOST_TEST((at >= section_offset && at <= section_offset + bytes.size()), "offset outside the section: " << m);
    }
    return is(r.error(), errc::corruption);
}

// The offset a refusal names.
std::uint64_t offset_named(const std::string& message)
{
    auto at = message.find("offset ");
    BOOST_TEST_REQUIRE(at != std::string::npos);
    return std::stoull(message.substr(at + 7));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(attributes_suite)

// ---------------------------------------------------------------------------------------------
// Randomized: the engine against the reference.

BOOST_AUTO_TEST_CASE(random_filters_agree_with_the_reference_unsealed_sealed_decoded_and_remapped)
{
    std::mt19937_64 rng(0xA77B);
    const std::size_t n = 6000;  // "num" on every row: a column above number_prefix_min
    dataset d = random_dataset(rng, n);
    attribute_index staging = index_of(d, n);
    attribute_index sealed = index_of(d, n);
    sealed.seal(n);
    BOOST_TEST(!staging.sealed());
    BOOST_TEST(sealed.sealed());
    BOOST_TEST(sealed.rows() == n);
    const attribute_field* num = sealed.field("num");
    BOOST_TEST_REQUIRE(num != nullptr);
    BOOST_TEST_REQUIRE(num->numbers.size() == n);
    BOOST_TEST_REQUIRE(num->prefix.size() == attribute_field::number_buckets - 1);
    BOOST_TEST(std::is_sorted(num->numbers.begin(), num->numbers.end()));
    BOOST_TEST(staging.field("num")->prefix.empty());
    BOOST_TEST(staging.field("meta.lang") != nullptr);
    BOOST_TEST(staging.field("dot.k") != nullptr);

    const std::string bytes = sealed.encode();
    auto decoded = attribute_index::decode(bytes, n, section_path, section_offset);
    BOOST_TEST_REQUIRE(decoded.has_value(), decoded.error().message());
    BOOST_TEST(decoded->sealed());
    BOOST_TEST(decoded->field("num")->prefix.size() == attribute_field::number_buckets - 1);
    BOOST_TEST((decoded->encode() == bytes));
    // The staging's index renumbered onto itself is the sealed one.
    std::vector<std::vector<std::int64_t>> identity(1, std::vector<std::int64_t>(n));
    for (std::size_t r = 0; r < n; ++r) {
        identity[0][r] = static_cast<std::int64_t>(r);
    }
    attribute_index remapped = attribute_index::remap({&staging}, identity, n);
    BOOST_TEST((remapped.encode() == bytes));

    std::size_t failures = 0;
    std::size_t nontrivial = 0;
    std::size_t long_ranges = 0;
    for (int i = 0; i < 1500 && failures < 10; ++i) {
        filter f = random_filter(rng, 0, n);
        std::size_t matched = 0;
        bool ok = agrees(f, &staging, n, d, "unsealed", &matched);
        ok = agrees(f, &sealed, n, d, "sealed") && ok;
        ok = agrees(f, &*decoded, n, d, "decoded") && ok;
        ok = agrees(f, &remapped, n, d, "remapped") && ok;
        failures += ok ? 0 : 1;
        nontrivial += matched != 0 && matched != n ? 1 : 0;
        if (f.op == filter_op::range && f.field == "num" && matched > 4 * n / attribute_field::number_buckets + 64) {
            ++long_ranges;  // runs long enough to take the prefix bitsets
        }
    }
    BOOST_TEST(failures == 0u);
    BOOST_TEST(nontrivial > 600u);
    BOOST_TEST(long_ranges > 100u);
}

BOOST_AUTO_TEST_CASE(ranges_on_a_long_column_agree_at_every_shape_of_bounds)
{
    // Bounds on both sides of the column, at its values, between them, equal endpoints; every
    // combination of inclusive and exclusive; sealed (prefix bitsets), decoded and unsealed.
    std::mt19937_64 rng(99);
    const std::size_t n = 5000;
    dataset d;
    for (std::size_t r = 0; r < n; ++r) {
        json::object o;
        o["num"] = random_num(rng);
        if (r % 3 == 0) {
            o["other"] = static_cast<std::int64_t>(r);  // a second long column: distinct values
        }
        d.push(json::serialize(o), random_id(r));
    }
    attribute_index staging = index_of(d, n);
    attribute_index sealed = index_of(d, n);
    sealed.seal(n);
    BOOST_TEST_REQUIRE(sealed.field("num")->prefix.size() == attribute_field::number_buckets - 1);
    BOOST_TEST_REQUIRE(sealed.field("other")->prefix.empty());  // 1667 entries: below number_prefix_min
    auto decoded = attribute_index::decode(sealed.encode(), n, section_path, 0);
    BOOST_TEST_REQUIRE(decoded.has_value(), decoded.error().message());
    const double points[] = {-1e9, -61, -60, -59.75, -30, -0.5, -0.0, 0.0, 0.25, 0.5, 17, 59.5, 60, 60.5, 1e9};
    std::size_t failures = 0;
    for (double a : points) {
        for (double b : points) {
            for (int shape = 0; shape < 3 && failures < 10; ++shape) {
                for (int inclusive = 0; inclusive < 4; ++inclusive) {
                    if (shape != 2 && (b != a || inclusive >= 2)) {
                        continue;  // one bound: a, inclusive or not
                    }
                    for (const char* field : {"num", "other"}) {
                        filter f = range_of(field, shape != 1, (inclusive & 1) != 0, a, shape != 0,
                                            (inclusive & 2) != 0 || (shape == 1 && inclusive == 1), b);
                        bool ok = agrees(f, &sealed, n, d, "sealed");
                        ok = agrees(f, &*decoded, n, d, "decoded") && ok;
                        ok = agrees(f, &staging, n, d, "unsealed") && ok;
                        failures += ok ? 0 : 1;
                    }
                }
            }
        }
    }
    BOOST_TEST(failures == 0u);
    // Equal endpoints: gte x lte x is eq x (-0 and 0 one value); an open end makes it empty.
    for (double x : {-60.0, -0.0, 0.0, 12.5, 60.0}) {
        filter eq;
        eq.op = filter_op::eq;
        eq.field = "num";
        eq.values.push_back(num_value(x));
        bitmap want = evaluate(eq, target_of(&staging, n, d));
        BOOST_TEST(want.count() > 0u, x);
        BOOST_TEST((evaluate(range_of("num", true, true, x, true, true, x), target_of(&sealed, n, d)).list() ==
                    want.list()), x);
        BOOST_TEST(evaluate(range_of("num", true, false, x, true, true, x), target_of(&sealed, n, d)).count() == 0u);
        BOOST_TEST(evaluate(range_of("num", true, true, x, true, false, x), target_of(&sealed, n, d)).count() == 0u);
        BOOST_TEST((evaluate(eq, target_of(&sealed, n, d)).list() == want.list()), x);
    }
    // The column's extremes: everything, nothing.
    BOOST_TEST(evaluate(range_of("num", true, true, -60, false, false, 0), target_of(&sealed, n, d)).count() == n);
    BOOST_TEST(evaluate(range_of("num", false, false, 0, true, true, 60), target_of(&sealed, n, d)).count() == n);
    BOOST_TEST(evaluate(range_of("num", true, false, 60, false, false, 0), target_of(&sealed, n, d)).count() == 0u);
    BOOST_TEST(evaluate(range_of("num", false, false, 0, true, false, -60), target_of(&sealed, n, d)).count() == 0u);
}

BOOST_AUTO_TEST_CASE(a_view_of_a_growing_staging_sees_only_its_rows)
{
    // A staging's index holds more rows than a view taken earlier: the view's answer has the
    // view's size, and rows beyond it are left out (even by "not", whose complement is over the
    // view's rows). A view may also hold rows without payloads past the index's last row.
    std::mt19937_64 rng(4242);
    const std::size_t n = 6000;
    dataset d = random_dataset(rng, n);
    attribute_index staging = index_of(d, n);
    dataset wider = d;
    for (std::size_t r = n; r < n + 70; ++r) {
        wider.push("", random_id(r));
    }
    std::size_t failures = 0;
    for (std::size_t rows : {std::size_t{0}, std::size_t{1}, std::size_t{63}, std::size_t{64}, std::size_t{65},
                             std::size_t{1000}, std::size_t{4095}, std::size_t{4096}, std::size_t{4097}, n - 1}) {
        for (int i = 0; i < 150 && failures < 10; ++i) {
            filter f = random_filter(rng, 0, rows);
            failures += agrees(f, &staging, rows, d, "view") ? 0 : 1;
        }
        // The complement of nothing is every row of the view, and no more.
        bitmap all = evaluate(parse(R"({"not":{"exists":"missing"}})"), target_of(&staging, rows, d));
        BOOST_TEST(all.size() == rows);
        BOOST_TEST(all.count() == rows);
        bitmap every_num = evaluate(parse(R"({"exists":"num"})"), target_of(&staging, rows, d));
        BOOST_TEST(every_num.count() == rows);
    }
    for (int i = 0; i < 150 && failures < 10; ++i) {
        filter f = random_filter(rng, 0, n);
        failures += agrees(f, &staging, n + 70, wider, "view past the index") ? 0 : 1;
    }
    BOOST_TEST(failures == 0u);
    // Rows added after a view was answered do not change that answer's size.
    attribute_index growing;
    for (std::uint32_t r = 0; r < 100; ++r) {
        growing.add(r, d.texts[r]);
    }
    filter f = parse(R"({"range":["num",{"gte":-60}]})");
    bitmap before = evaluate(f, target_of(&growing, 100, d));
    for (std::uint32_t r = 100; r < 200; ++r) {
        growing.add(r, d.texts[r]);
    }
    BOOST_TEST((evaluate(f, target_of(&growing, 100, d)).list() == before.list()));
    BOOST_TEST(evaluate(f, target_of(&growing, 200, d)).count() == 200u);
}

// ---------------------------------------------------------------------------------------------
// The documented rules, exactly.

// Rows of the rule payloads; ids p0 .. p11.
const char* const rule_payloads[] = {
    R"({"color":"red","n":7,"s7":"7","tags":["x","y"],"meta":{"lang":"en","score":0.5}})",  // 0
    R"({"color":"blue","n":-0.0,"s7":7,"tags":"x","meta":"en"})",                           // 1
    R"({"color":null,"n":0,"tags":[],"meta":{"lang":null},"flag":false})",                  // 2
    R"({})",                                                                                // 3
    "",                                                                                     // 4: none
    R"({"color":"red","n":7.0,"tags":[["x"],{"x":1},"z",null],"meta":{},"flag":true,"id":"p0"})",  // 5
    R"([1,2,3])",                                                                           // 6: not an object
    R"({"meta.lang":"fr","n":"7","color":7})",                                              // 7
    R"({"tags":[-0.0,1,true,"red"],"nums":[0]})",                                           // 8
    R"({"big":18446744073709551615,"color":"Red","n":1e-320})",                              // 9
    R"({"color":"red","n":null,"flag":null,"tags":null})",                                  // 10
    R"({"color":"\u00e9","n":-7,"obj":{"a":{"b":{"c":true}}}})",                            // 11
};

struct rule_fixture {
    dataset d;
    attribute_index unsealed;
    attribute_index sealed;
    attribute_index decoded;

    rule_fixture()
    {
        for (std::size_t r = 0; r < std::size(rule_payloads); ++r) {
            d.push(rule_payloads[r], "p" + std::to_string(r));
        }
        unsealed = index_of(d, d.size());
        sealed = index_of(d, d.size());
        sealed.seal(d.size());
        auto back = attribute_index::decode(sealed.encode(), d.size(), section_path, 0);
        BOOST_TEST_REQUIRE(back.has_value(), back.error().message());
        decoded = std::move(*back);
    }

    // The rows matching the filter text; the three indexes and the reference must agree.
    rows_list match(std::string_view text)
    {
        filter f = parse(text);
        bitmap a = evaluate(f, target_of(&unsealed, d.size(), d));
        bitmap b = evaluate(f, target_of(&sealed, d.size(), d));
        bitmap c = evaluate(f, target_of(&decoded, d.size(), d));
        BOOST_TEST((a.list() == b.list()), text << ": unsealed and sealed differ");
        BOOST_TEST((a.list() == c.list()), text << ": unsealed and decoded differ");
        agrees(f, &unsealed, d.size(), d, "reference");
        BOOST_TEST(a.count() == a.list().size());
        return a.list();
    }
};

BOOST_FIXTURE_TEST_CASE(comparisons_on_missing_fields_and_other_kinds_are_false, rule_fixture)
{
    BOOST_TEST(match(R"({"eq":["color","red"]})") == (rows_list{0, 5, 10}));
    // ne holds only where the field holds a string: not on null (2), missing (3, 4, 6, 8), or a
    // number (7).
    BOOST_TEST(match(R"({"ne":["color","red"]})") == (rows_list{1, 9, 11}));
    BOOST_TEST(match(R"({"ne":["nothing","x"]})") == (rows_list{}));
    BOOST_TEST(match(R"({"nin":["nothing",["x",1,true]]})") == (rows_list{}));
    // "7" is not 7, either way.
    BOOST_TEST(match(R"({"eq":["s7",7]})") == (rows_list{1}));
    BOOST_TEST(match(R"({"eq":["s7","7"]})") == (rows_list{0}));
    BOOST_TEST(match(R"({"ne":["s7",7]})") == (rows_list{}));
    BOOST_TEST(match(R"({"ne":["s7",8]})") == (rows_list{1}));
    BOOST_TEST(match(R"({"ne":["s7","8"]})") == (rows_list{0}));
    BOOST_TEST(match(R"({"ne":["color",7]})") == (rows_list{}));
    BOOST_TEST(match(R"({"ne":["color",8]})") == (rows_list{7}));
    BOOST_TEST(match(R"({"eq":["n","7"]})") == (rows_list{7}));
    BOOST_TEST(match(R"({"eq":["n",7]})") == (rows_list{0, 5}));  // 7 and 7.0 are one number
    // nin: a scalar of one of the values' kinds, equal to none.
    BOOST_TEST(match(R"({"nin":["color",["red",7]]})") == (rows_list{1, 9, 11}));
    BOOST_TEST(match(R"({"nin":["color",["red",8]]})") == (rows_list{1, 7, 9, 11}));
    BOOST_TEST(match(R"({"nin":["flag",[true,"x"]]})") == (rows_list{2}));
    BOOST_TEST(match(R"({"ne":["flag",true]})") == (rows_list{2}));
    BOOST_TEST(match(R"({"eq":["flag",false]})") == (rows_list{2}));
    // Objects and arrays are not scalars: eq / ne on them are false.
    BOOST_TEST(match(R"({"eq":["meta","en"]})") == (rows_list{1}));
    BOOST_TEST(match(R"({"ne":["meta","fr"]})") == (rows_list{1}));
    BOOST_TEST(match(R"({"ne":["tags","y"]})") == (rows_list{1}));
    // A range sees values of its bounds' kind only.
    BOOST_TEST(match(R"({"range":["color",{"gte":0}]})") == (rows_list{7}));
    BOOST_TEST(match(R"({"range":["n",{"gte":"0"}]})") == (rows_list{7}));
    BOOST_TEST(match(R"({"range":["s7",{"lte":7}]})") == (rows_list{1}));
}

BOOST_FIXTURE_TEST_CASE(not_is_the_complement_over_every_row, rule_fixture)
{
    // Rows without the field, with null, and without any payload match "not eq".
    BOOST_TEST(match(R"({"not":{"eq":["color","red"]}})") == (rows_list{1, 2, 3, 4, 6, 7, 8, 9, 11}));
    BOOST_TEST(match(R"({"not":{"exists":"color"}})") == (rows_list{2, 3, 4, 6, 8}));
    BOOST_TEST(match(R"({"not":{"ne":["color","red"]}})") == (rows_list{0, 2, 3, 4, 5, 6, 7, 8, 10}));
    BOOST_TEST(match(R"({"not":{"not":{"eq":["color","red"]}}})") == (rows_list{0, 5, 10}));
    BOOST_TEST(match(R"({"not":{"exists":"nothing"}})").size() == std::size(rule_payloads));
    BOOST_TEST(match(R"({"and":[{"exists":"n"},{"not":{"range":["n",{"gt":0}]}}]})") == (rows_list{1, 2, 7, 11}));
    BOOST_TEST(match(R"({"or":[{"eq":["color","blue"]},{"not":{"exists":"tags"}}]})") == (rows_list{1, 3, 4, 6, 7, 9, 10, 11}));
}

BOOST_FIXTURE_TEST_CASE(contains_sees_array_elements_only, rule_fixture)
{
    BOOST_TEST(match(R"({"eq":["tags","x"]})") == (rows_list{1}));        // the scalar
    BOOST_TEST(match(R"({"contains":["tags","x"]})") == (rows_list{0}));  // not the scalar, not [["x"]]
    BOOST_TEST(match(R"({"contains":["tags","z"]})") == (rows_list{5}));
    BOOST_TEST(match(R"({"contains_any":["tags",["z","y","nope"]]})") == (rows_list{0, 5}));
    BOOST_TEST(match(R"({"contains":["tags",0]})") == (rows_list{8}));  // -0.0 element
    BOOST_TEST(match(R"({"contains":["tags",-0.0]})") == (rows_list{8}));
    BOOST_TEST(match(R"({"contains":["nums",-0.0]})") == (rows_list{8}));
    BOOST_TEST(match(R"({"contains":["tags",1.0]})") == (rows_list{8}));
    BOOST_TEST(match(R"({"contains":["tags",true]})") == (rows_list{8}));
    BOOST_TEST(match(R"({"contains":["tags","true"]})") == (rows_list{}));
    BOOST_TEST(match(R"({"contains":["tags","red"]})") == (rows_list{8}));
    BOOST_TEST(match(R"({"contains":["color","red"]})") == (rows_list{}));
    BOOST_TEST(match(R"({"contains":["tags.x",1]})") == (rows_list{}));  // objects inside arrays are not paths
    BOOST_TEST(match(R"({"contains":["id","p0"]})") == (rows_list{}));
    BOOST_TEST(match(R"({"contains_any":["id",["p0","p1"]]})") == (rows_list{}));
}

BOOST_FIXTURE_TEST_CASE(exists_counts_objects_and_arrays_but_not_null, rule_fixture)
{
    BOOST_TEST(match(R"({"exists":"meta"})") == (rows_list{0, 1, 2, 5}));  // {"lang":null} and {} count
    BOOST_TEST(match(R"({"exists":"tags"})") == (rows_list{0, 1, 2, 5, 8}));  // [] counts, null does not
    BOOST_TEST(match(R"({"exists":"flag"})") == (rows_list{2, 5}));
    BOOST_TEST(match(R"({"exists":"obj"})") == (rows_list{11}));
    BOOST_TEST(match(R"({"exists":"obj.a"})") == (rows_list{11}));
    BOOST_TEST(match(R"({"exists":"obj.a.b"})") == (rows_list{11}));
    BOOST_TEST(match(R"({"eq":["obj.a.b.c",true]})") == (rows_list{11}));
    BOOST_TEST(match(R"({"exists":"obj.a.b.c.d"})") == (rows_list{}));
    BOOST_TEST(match(R"({"exists":"n"})") == (rows_list{0, 1, 2, 5, 7, 9, 11}));
}

BOOST_FIXTURE_TEST_CASE(dotted_paths_reach_nested_objects_and_dotted_keys, rule_fixture)
{
    BOOST_TEST(match(R"({"eq":["meta.lang","en"]})") == (rows_list{0}));
    BOOST_TEST(match(R"({"eq":["meta.lang","fr"]})") == (rows_list{7}));  // the key "meta.lang"
    BOOST_TEST(match(R"({"exists":"meta.lang"})") == (rows_list{0, 7}));   // null (2) is missing
    BOOST_TEST(match(R"({"range":["meta.score",{"gte":0.5,"lte":0.5}]})") == (rows_list{0}));
    BOOST_TEST(match(R"({"exists":"meta.score.x"})") == (rows_list{}));
    BOOST_TEST(match(R"({"exists":"lang"})") == (rows_list{}));
}

BOOST_FIXTURE_TEST_CASE(id_is_the_point_id, rule_fixture)
{
    BOOST_TEST(match(R"({"eq":["id","p3"]})") == (rows_list{3}));
    BOOST_TEST(match(R"({"eq":["id","p0"]})") == (rows_list{0}));  // not row 5's payload key "id"
    BOOST_TEST(match(R"({"eq":["id",0]})") == (rows_list{}));
    BOOST_TEST(match(R"({"in":["id",["p1","p9","zz"]]})") == (rows_list{1, 9}));
    BOOST_TEST(match(R"({"ne":["id","p0"]})") == (rows_list{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
    BOOST_TEST(match(R"({"ne":["id",1]})") == (rows_list{}));
    BOOST_TEST(match(R"({"nin":["id",["p0","p1",true]]})") == (rows_list{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
    // Lexicographic: "p10" and "p11" sort between "p1" and "p2".
    BOOST_TEST(match(R"({"range":["id",{"gte":"p5","lt":"p8"}]})") == (rows_list{5, 6, 7}));
    BOOST_TEST(match(R"({"range":["id",{"gt":"p1","lt":"p2"}]})") == (rows_list{10, 11}));
    BOOST_TEST(match(R"({"range":["id",{"lte":"p1"}]})") == (rows_list{0, 1}));
    BOOST_TEST(match(R"({"range":["id",{"gt":"p"}]})").size() == std::size(rule_payloads));
    BOOST_TEST(match(R"({"range":["id",{"gte":0}]})") == (rows_list{}));
    BOOST_TEST(match(R"({"exists":"id"})").size() == std::size(rule_payloads));
    BOOST_TEST(match(R"({"not":{"exists":"id"}})") == (rows_list{}));
}

BOOST_FIXTURE_TEST_CASE(numbers_compare_as_doubles_and_minus_zero_is_zero, rule_fixture)
{
    BOOST_TEST(match(R"({"eq":["n",0]})") == (rows_list{1, 2}));
    BOOST_TEST(match(R"({"eq":["n",-0.0]})") == (rows_list{1, 2}));
    BOOST_TEST(match(R"({"in":["n",[-0.0,99]]})") == (rows_list{1, 2}));
    BOOST_TEST(match(R"({"range":["n",{"gte":0,"lte":-0.0}]})") == (rows_list{1, 2}));
    BOOST_TEST(match(R"({"range":["n",{"gte":-0.0,"lte":0}]})") == (rows_list{1, 2}));
    BOOST_TEST(match(R"({"range":["n",{"gt":-0.0}]})") == (rows_list{0, 5, 9}));  // 1e-320 > 0
    BOOST_TEST(match(R"({"range":["n",{"lt":0}]})") == (rows_list{11}));
    BOOST_TEST(match(R"({"ne":["n",0]})") == (rows_list{0, 5, 9, 11}));
    BOOST_TEST(match(R"({"ne":["n",-0.0]})") == (rows_list{0, 5, 9, 11}));
    BOOST_TEST(match(R"({"eq":["big",18446744073709551615]})") == (rows_list{9}));
    BOOST_TEST(match(R"({"eq":["big",1.8446744073709552e19]})") == (rows_list{9}));
    BOOST_TEST(match(R"({"range":["big",{"gt":1e19}]})") == (rows_list{9}));
    // Equal endpoints.
    BOOST_TEST(match(R"({"range":["n",{"gte":7,"lte":7}]})") == (rows_list{0, 5}));
    BOOST_TEST(match(R"({"range":["n",{"gt":7,"lte":7}]})") == (rows_list{}));
    BOOST_TEST(match(R"({"range":["n",{"gte":7,"lt":7}]})") == (rows_list{}));
    BOOST_TEST(match(R"({"range":["n",{"gte":8,"lte":6}]})") == (rows_list{}));
}

BOOST_FIXTURE_TEST_CASE(string_ranges_compare_bytewise, rule_fixture)
{
    // "Red" (0x52) < "blue" (0x62) < "red" (0x72) < "\xc3\xa9" (0xc3).
    BOOST_TEST(match(R"({"range":["color",{"gte":"Red","lt":"red"}]})") == (rows_list{1, 9}));
    BOOST_TEST(match(R"({"range":["color",{"gt":"Red","lte":"red"}]})") == (rows_list{0, 1, 5, 10}));
    BOOST_TEST(match(R"({"range":["color",{"gt":"r"}]})") == (rows_list{0, 5, 10, 11}));
    BOOST_TEST(match(R"({"range":["color",{"gt":"red"}]})") == (rows_list{11}));
    BOOST_TEST(match(R"({"range":["color",{"lte":"blue"}]})") == (rows_list{1, 9}));
    BOOST_TEST(match(R"({"range":["color",{"lt":"Red"}]})") == (rows_list{}));
    BOOST_TEST(match(R"({"range":["color",{"gte":""}]})") == (rows_list{0, 1, 5, 9, 10, 11}));
    BOOST_TEST(match(R"({"range":["color",{"gte":"red","lte":"red"}]})") == (rows_list{0, 5, 10}));
    BOOST_TEST(match(R"({"range":["color",{"gt":"red","lt":"red"}]})") == (rows_list{}));
    // Booleans are keywords too; a string range does not see them.
    BOOST_TEST(match(R"({"range":["flag",{"gte":""}]})") == (rows_list{}));
}

BOOST_AUTO_TEST_CASE(no_attributes_and_empty_payloads)
{
    dataset d;
    d.push("", "a");
    d.push("not json", "b");
    d.push("{}", "c");
    d.push(R"({"x":1})", "d");
    // No index at all: fields are missing, "not" and "id" still work.
    BOOST_TEST(evaluate(parse(R"({"exists":"x"})"), target_of(nullptr, 4, d)).count() == 0u);
    BOOST_TEST(evaluate(parse(R"({"not":{"exists":"x"}})"), target_of(nullptr, 4, d)).count() == 4u);
    BOOST_TEST((evaluate(parse(R"({"eq":["id","c"]})"), target_of(nullptr, 4, d)).list() == rows_list{2}));
    BOOST_TEST((evaluate(parse(R"({"range":["id",{"gt":"a","lt":"d"}]})"), target_of(nullptr, 4, d)).list() ==
                rows_list{1, 2}));
    attribute_index index = index_of(d, 4);
    BOOST_TEST(index.fields().size() == 1u);
    BOOST_TEST((evaluate(parse(R"({"not":{"eq":["x",1]}})"), target_of(&index, 4, d)).list() == rows_list{0, 1, 2}));
    // An index of nothing but empty payloads is empty.
    attribute_index none;
    none.add(0, "");
    none.add(1, "[]");
    none.add(2, "{}");
    none.add(5, "{\"a\":null}");
    none.seal(6);
    BOOST_TEST(none.empty());
    auto back = attribute_index::decode(none.encode(), 6, section_path, 0);
    BOOST_TEST_REQUIRE(back.has_value(), back.error().message());
    BOOST_TEST(back->empty());
}

BOOST_AUTO_TEST_CASE(nesting_and_path_limits)
{
    // Paths of up to attribute_depth_max keys are indexed; deeper ones match nothing.
    std::string deep = "1";
    for (int i = 0; i < 10; ++i) {
        deep = "{\"a\":" + deep + "}";
    }
    dataset d;
    d.push(deep, "p0");
    std::string wide = "{";
    for (int i = 0; i < 1100; ++i) {
        wide += strprintf("%s\"k%04d\":%d", i == 0 ? "" : ",", i, i);
    }
    d.push(wide + "}", "p1");
    d.push(R"({"zzz":1,"k0000":5})", "p2");
    attribute_index index = index_of(d, d.size());
    index.seal(d.size());
    auto path_of = [](int keys) {
        std::string p = "a";
        for (int i = 1; i < keys; ++i) {
            p += ".a";
        }
        return p;
    };
    auto matches = [&](const std::string& text) { return evaluate(parse(text), target_of(&index, d.size(), d)).list(); };
    BOOST_TEST(matches(R"({"exists":")" + path_of(attribute_depth_max) + "\"}") == (rows_list{0}));
    BOOST_TEST(matches(R"({"exists":")" + path_of(attribute_depth_max + 1) + "\"}") == (rows_list{}));
    BOOST_TEST(index.field(path_of(attribute_depth_max + 1)) == nullptr);
    // The first 1024 distinct paths: "a" .. "a.a.a.a.a.a.a.a" are 8 of them.
    BOOST_TEST(index.fields().size() == attribute_fields_max);
    BOOST_TEST(matches(R"({"eq":["k1015",1015]})") == (rows_list{1}));
    BOOST_TEST(matches(R"({"exists":"k1016"})") == (rows_list{}));
    BOOST_TEST(matches(R"({"exists":"zzz"})") == (rows_list{}));
    BOOST_TEST(matches(R"({"eq":["k0000",5]})") == (rows_list{2}));  // known paths still grow
    auto back = attribute_index::decode(index.encode(), d.size(), section_path, 0);
    BOOST_TEST_REQUIRE(back.has_value(), back.error().message());
    BOOST_TEST(back->fields().size() == attribute_fields_max);
}

BOOST_AUTO_TEST_CASE(a_path_reached_twice_in_one_row_agrees_sealed_and_unsealed)
{
    // {"x.y": small, "x": {"y": large}}: the path "x.y" reaches two numbers in one row. However
    // such a row is meant to answer, the staging (unsealed) and the segment (sealed, prefix
    // bitsets: the column is long) must answer it alike, as must short and long ranges.
    const std::size_t n = 5000;
    dataset d;
    for (std::size_t r = 0; r < n; ++r) {
        d.push(strprintf(R"({"x.y":%zu,"x":{"y":%zu}})", r % 100, 1000 + r % 100), random_id(r));
    }
    attribute_index staging = index_of(d, n);
    attribute_index sealed = index_of(d, n);
    sealed.seal(n);
    BOOST_TEST_REQUIRE(sealed.field("x.y")->numbers.size() == 2 * n);
    // A row holding two entries: the column keeps no prefix bitsets, which stand for sets of entries.
    BOOST_TEST(sealed.field("x.y")->prefix.empty());
    for (const char* text : {R"({"range":["x.y",{"gte":50}]})", R"({"range":["x.y",{"gte":1050}]})",
                             R"({"range":["x.y",{"gte":10,"lt":1090}]})", R"({"range":["x.y",{"lt":1002}]})",
                             R"({"range":["x.y",{"gte":99,"lte":1000}]})"}) {
        filter f = parse(text);
        bitmap a = evaluate(f, target_of(&staging, n, d));
        bitmap b = evaluate(f, target_of(&sealed, n, d));
        BOOST_TEST(a.count() == b.count(), text << ": unsealed " << a.count() << " rows, sealed " << b.count());
        BOOST_TEST((a.list() == b.list()), text);
    }
}

BOOST_AUTO_TEST_CASE(any_payload_text_round_trips_through_a_section)
{
    // Whatever text add() was given, a sealed index encodes to bytes that decode() accepts (a
    // segment written from it can be opened again). 1e999 parses as infinity. The server refuses
    // such payloads (net/request_decoding.cpp), so this guards the engine's own contract only.
    dataset d;
    d.push(R"({"x":1e999,"y":[1e999],"z":"ok"})", "p0");
    d.push(R"({"x":-1e999,"y":2})", "p1");
    d.push(R"({"x":3})", "p2");
    attribute_index index = index_of(d, d.size());
    index.seal(d.size());
    auto back = attribute_index::decode(index.encode(), d.size(), section_path, 0);
    BOOST_TEST(back.has_value(), (back.has_value() ? std::string() : back.error().message()));
}

// ---------------------------------------------------------------------------------------------
// decode() refusing damaged sections.

BOOST_AUTO_TEST_CASE(the_hand_written_section_is_what_encode_writes)
{
    dataset d;
    d.push(R"({"a":"x","n":2})", "p0");
    d.push("", "p1");
    d.push(R"({"a":"y","n":1,"t":["x"]})", "p2");
    attribute_index index = index_of(d, 3);
    index.seal(3);
    BOOST_TEST_REQUIRE((raw_section(small_fields(), 3) == index.encode()));
    auto back = attribute_index::decode(raw_section(small_fields(), 3), 3, section_path, section_offset);
    BOOST_TEST_REQUIRE(back.has_value(), back.error().message());
    BOOST_TEST((back->encode() == index.encode()));
    // The bitset form: 1050 of 1100 rows.
    raw_field f;
    f.path = "f";
    for (std::uint32_t r = 0; r < 1050; ++r) {
        f.present.push_back(r);
        f.kinds[static_cast<std::size_t>(value_kind::boolean)].push_back(r);
    }
    f.scalars = {{bool_key(true), f.present}};
    attribute_index dense;
    for (std::uint32_t r = 0; r < 1050; ++r) {
        dense.add(r, R"({"f":true})");
    }
    dense.seal(1100);
    BOOST_TEST_REQUIRE((raw_section({f}, 1100) == dense.encode()));
    BOOST_TEST(attribute_index::decode(dense.encode(), 1100, section_path, 0).has_value());
}

BOOST_AUTO_TEST_CASE(decode_refuses_truncated_and_trailing_bytes)
{
    const std::string good = raw_section(small_fields(), 3);
    BOOST_TEST_REQUIRE(attribute_index::decode(good, 3, section_path, section_offset).has_value());
    for (std::size_t size = 0; size < good.size(); ++size) {
        BOOST_TEST(refused(good.substr(0, size), 3), "truncated to " << size << " bytes");
    }
    std::string message;
    BOOST_TEST(refused(good + std::string(1, '\0'), 3, "bytes after the last field", &message));
    BOOST_TEST(offset_named(message) == section_offset + good.size(), message);
    BOOST_TEST(refused(good + std::string(4, '\0'), 3, "bytes after the last field"));
    BOOST_TEST(refused(good + good, 3, "bytes after the last field"));
    // A big index truncated anywhere (bitset postings included).
    std::mt19937_64 rng(5);
    dataset d = random_dataset(rng, 2000);
    attribute_index index = index_of(d, d.size());
    index.seal(d.size());
    const std::string big = index.encode();
    BOOST_TEST_REQUIRE(attribute_index::decode(big, d.size(), section_path, 0).has_value());
    for (std::size_t size = 0; size < big.size(); size += 1 + rng() % 97) {
        BOOST_TEST(refused(big.substr(0, size), d.size()), "truncated to " << size << " bytes");
    }
    BOOST_TEST(refused(big.substr(0, big.size() - 1), d.size()));
    BOOST_TEST(refused(big + std::string(1, 'x'), d.size(), "bytes after the last field"));
}

BOOST_AUTO_TEST_CASE(decode_refuses_rows_out_of_range)
{
    const std::string good = raw_section(small_fields(), 3);
    BOOST_TEST(refused(good, 2, "out of range"));  // row 2 in a 2-row segment
    BOOST_TEST(refused(good, 0, "more rows than the segment"));
    auto fields_in = small_fields();
    fields_in[0].present = {0, 3};
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "out of range"));
    fields_in = small_fields();
    fields_in[0].kinds[0] = {0, 1, 2, 3};  // more rows than the segment
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "more rows than the segment"));
    fields_in = small_fields();
    fields_in[0].scalars[1].second = {7};
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "out of range"));
    fields_in = small_fields();
    fields_in[2].elements[0].second = {0xFFFFFFFFu};
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "out of range"));
    fields_in = small_fields();
    fields_in[1].number_rows = {2, 3};
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "number column row out of range"));
    fields_in = small_fields();
    fields_in[1].numbers = {1, 2, 3, 4};
    fields_in[1].number_rows = {0, 1, 2, 0};  // more entries than rows
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "number column runs past the section or holds more rows"));
    // A bitset with a bit at or beyond the segment's rows (1100 rows: bits 1100 .. 1151 of the
    // last word are outside).
    raw_field f;
    f.path = "f";
    for (std::uint32_t r = 0; r < 1050; ++r) {
        f.present.push_back(r);
    }
    std::string ok = raw_section({f}, 1100);
    BOOST_TEST_REQUIRE(attribute_index::decode(ok, 1100, section_path, 0).has_value());
    std::string beyond = ok;
    const std::size_t words_at = 4 + 4 + 1 + 4;  // field count, path, postings count
    std::uint64_t last = get_fixed64_le(reinterpret_cast<const std::byte*>(beyond.data() + words_at + 17 * 8));
    last |= std::uint64_t{1} << (1120 - 17 * 64);
    put_fixed64_le(reinterpret_cast<std::byte*>(beyond.data() + words_at + 17 * 8), last);
    BOOST_TEST(refused(beyond, 1100, "bit beyond the segment's rows"));
    // A bitset holding another number of rows than its count.
    std::string miscounted = ok;
    miscounted[words_at + 16 * 8 + 7] = static_cast<char>(0xFF);  // rows 1080 .. 1087, beyond 1049
    BOOST_TEST(refused(miscounted, 1100, "another number of rows than its count"));
    std::string short_count = ok;
    put_fixed32_le(reinterpret_cast<std::byte*>(short_count.data() + words_at - 4), 1049);
    BOOST_TEST(refused(short_count, 1100, "another number of rows than its count"));
}

BOOST_AUTO_TEST_CASE(decode_refuses_postings_not_strictly_ascending)
{
    auto fields_in = small_fields();
    fields_in[0].present = {2, 0};
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "not strictly ascending"));
    fields_in = small_fields();
    fields_in[0].present = {0, 0};
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "not strictly ascending"));
    fields_in = small_fields();
    fields_in[1].kinds[static_cast<std::size_t>(value_kind::number)] = {2, 0};
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "not strictly ascending"));
    fields_in = small_fields();
    fields_in[0].scalars[0].second = {1, 0};
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "not strictly ascending"));
    fields_in = small_fields();
    fields_in[2].elements[0].second = {1, 1};
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "not strictly ascending"));
}

BOOST_AUTO_TEST_CASE(decode_refuses_keys_and_paths_out_of_order)
{
    auto fields_in = small_fields();
    std::swap(fields_in[0].scalars[0], fields_in[0].scalars[1]);  // "sy" before "sx"
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "keyword keys not strictly ascending"));
    fields_in = small_fields();
    fields_in[0].scalars[1].first = fields_in[0].scalars[0].first;  // one key twice
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "keyword keys not strictly ascending"));
    fields_in = small_fields();
    fields_in[2].elements.push_back({string_key("a"), {2}});  // "sa" after "sx"
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "keyword keys not strictly ascending"));
    fields_in = small_fields();
    fields_in[0].scalars[0].first = "";  // an empty key
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "keyword key runs past the section or is empty"));
    fields_in = small_fields();
    fields_in[0].scalars[0].first = "qx";  // a key of no kind
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "keyword key of an unknown kind"));
    fields_in = small_fields();
    std::swap(fields_in[0], fields_in[1]);  // "n" before "a"
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "field paths not strictly ascending"));
    fields_in = small_fields();
    fields_in[1].path = "a";  // one path twice
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "field paths not strictly ascending"));
    fields_in = small_fields();
    fields_in[0].path = "";
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "field path runs past the section or is empty"));
    // More fields than an index may hold.
    std::string many;
    encoder e(many);
    e.put_u32(static_cast<std::uint32_t>(attribute_fields_max + 1));
    BOOST_TEST(refused(many, 3, "field count missing or above the limit"));
    // A keyword count beyond the section.
    fields_in = small_fields();
    std::string bytes = raw_section(fields_in, 3);
    // Field count, path "a", presence (2 rows), string kind (2 rows), number and boolean kinds (none).
    const std::size_t scalars_at = 4 + (4 + 1) + (4 + 2 * 4) * 2 + 4 * 2;
    BOOST_TEST_REQUIRE(get_fixed32_le(reinterpret_cast<const std::byte*>(bytes.data() + scalars_at)) == 2u);
    put_fixed32_le(reinterpret_cast<std::byte*>(bytes.data() + scalars_at), 0x7FFFFFFFu);
    BOOST_TEST(refused(bytes, 3, "keyword count runs past the section"));
}

BOOST_AUTO_TEST_CASE(decode_refuses_numbers_not_finite_or_not_sorted)
{
    for (double bad : {std::numeric_limits<double>::quiet_NaN(), -std::numeric_limits<double>::quiet_NaN(),
                       std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
        for (std::size_t at = 0; at < 2; ++at) {
            auto fields_in = small_fields();
            fields_in[1].numbers[at] = bad;
            BOOST_TEST(refused(raw_section(fields_in, 3), 3, "number column not finite or not sorted"), bad << " at " << at);
        }
    }
    // A NaN with a payload (another bit pattern).
    auto fields_in = small_fields();
    std::uint64_t bits = 0x7FF0000000000001ull;
    std::memcpy(&fields_in[1].numbers[1], &bits, 8);
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "number column not finite or not sorted"));
    fields_in = small_fields();
    fields_in[1].numbers = {2, 1};
    BOOST_TEST(refused(raw_section(fields_in, 3), 3, "number column not finite or not sorted"));
    fields_in = small_fields();
    fields_in[1].numbers = {-0.0, 0.0};  // equal values: sorted
    BOOST_TEST(attribute_index::decode(raw_section(fields_in, 3), 3, section_path, 0).has_value());
}

// ---------------------------------------------------------------------------------------------
// bitmap bulk operations.

std::vector<bool> random_bits(std::mt19937_64& rng, std::size_t size)
{
    std::vector<bool> v(size);
    for (std::size_t i = 0; i < size; ++i) {
        v[i] = rng() % 3 == 0;
    }
    return v;
}

bitmap bitmap_of(const std::vector<bool>& v)
{
    bitmap b(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i]) {
            b.set(i);
        }
    }
    return b;
}

// No bit at or beyond size() is set in the last word.
bool tail_clear(const bitmap& b)
{
    if (b.size() % 64 == 0) {
        return true;
    }
    return (b.words()[b.size() / 64] >> (b.size() % 64)) == 0;
}

BOOST_AUTO_TEST_CASE(bitmap_count_and_list_ranges_on_word_boundaries)
{
    std::mt19937_64 rng(11);
    for (std::size_t size : {1u, 63u, 64u, 65u, 127u, 128u, 129u, 200u, 256u}) {
        for (int fill = 0; fill < 3; ++fill) {
            std::vector<bool> v = fill == 0 ? std::vector<bool>(size, true) : random_bits(rng, size);
            if (fill == 2) {
                v.assign(size, false);
            }
            bitmap b = bitmap_of(v);
            std::vector<std::size_t> cuts = {0, 1, 62, 63, 64, 65, 127, 128, 129, size - 1, size};
            for (std::size_t begin : cuts) {
                for (std::size_t end : cuts) {
                    if (begin > end || end > size) {
                        continue;
                    }
                    std::size_t want = 0;
                    rows_list listed;
                    for (std::size_t i = begin; i < end; ++i) {
                        if (v[i]) {
                            ++want;
                            listed.push_back(static_cast<std::uint32_t>(i - begin));
                        }
                    }
                    BOOST_TEST(b.count_range(begin, end) == want, size << " [" << begin << ", " << end << ")");
                    rows_list out = {12345};  // appended to
                    b.list_range(begin, end, out);
                    listed.insert(listed.begin(), 12345);
                    BOOST_TEST(out == listed, size << " [" << begin << ", " << end << ")");
                }
            }
            BOOST_TEST(b.count_range(0, size) == b.count());
        }
    }
    bitmap empty;
    BOOST_TEST(empty.count_range(0, 0) == 0u);
    rows_list out;
    empty.list_range(0, 0, out);
    BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(bitmap_flip_and_set_all_leave_the_tail_clear)
{
    std::mt19937_64 rng(12);
    for (std::size_t size : {0u, 1u, 63u, 64u, 65u, 100u, 128u, 129u}) {
        std::vector<bool> v = random_bits(rng, size);
        bitmap b = bitmap_of(v);
        const std::size_t before = b.count();
        b.flip_all();
        BOOST_TEST(b.count() == size - before, size);
        BOOST_TEST(b.list().size() == size - before, size);
        BOOST_TEST(tail_clear(b), size);
        for (std::size_t i = 0; i < size; ++i) {
            BOOST_TEST_REQUIRE(b.test(i) == !v[i]);
        }
        // Growing after a flip adds clear bits.
        bitmap g = b;
        g.grow(size + 70);
        BOOST_TEST(g.count() == size - before);
        BOOST_TEST(g.count_range(size, size + 70) == 0u);
        BOOST_TEST(g.list().size() == size - before);
        b.flip_all();
        BOOST_TEST(b.count() == before);
        BOOST_TEST((b.list() == bitmap_of(v).list()));
        b.set_all();
        BOOST_TEST(b.count() == size);
        BOOST_TEST(b.list().size() == size);
        BOOST_TEST(tail_clear(b));
        b.flip_all();
        BOOST_TEST(b.count() == 0u);
        BOOST_TEST(b.empty());
        BOOST_TEST(b.list().empty());
    }
}

BOOST_AUTO_TEST_CASE(bitmap_and_or_and_not_and_recount)
{
    std::mt19937_64 rng(13);
    for (std::size_t size : {0u, 1u, 64u, 65u, 191u, 1000u}) {
        std::vector<bool> x = random_bits(rng, size);
        std::vector<bool> y = random_bits(rng, size);
        auto expect = [&](const bitmap& b, auto op, const char* what) {
            std::size_t n = 0;
            for (std::size_t i = 0; i < size; ++i) {
                bool want = op(x[i], y[i]);
                n += want ? 1 : 0;
                if (b.test(i) != want) {
                    BOOST_ERROR(what << " size " << size << " bit " << i);
                    return;
                }
            }
            BOOST_TEST(b.count() == n, what << " size " << size);
            BOOST_TEST(tail_clear(b));
        };
        bitmap a = bitmap_of(x);
        a.and_with(bitmap_of(y));
        expect(a, [](bool p, bool q) { return p && q; }, "and");
        bitmap o = bitmap_of(x);
        o.or_with(bitmap_of(y));
        expect(o, [](bool p, bool q) { return p || q; }, "or");
        bitmap m = bitmap_of(x);
        m.and_not_with(bitmap_of(y));
        expect(m, [](bool p, bool q) { return p && !q; }, "and not");
        // Words written directly, tail bits included: recount() clears the tail and counts.
        bitmap w(size);
        for (std::size_t i = 0; i < w.word_count(); ++i) {
            w.mutable_words()[i] = ~std::uint64_t{0};
        }
        w.recount();
        BOOST_TEST(w.count() == size);
        BOOST_TEST(tail_clear(w));
        bitmap f = bitmap_of(x);
        f.and_not_with(f);
        BOOST_TEST(f.empty());
    }
}

// ---------------------------------------------------------------------------------------------
// A collection's unindexed fields: exclude() leaves them and every path beneath them out of the
// index, path_excluded() is the prefix rule on whole path parts, and excluded_field() finds the
// first filter field naming one ("id" never).

namespace {

std::shared_ptr<const std::vector<std::string>> paths_of(std::vector<std::string> paths)
{
    return std::make_shared<const std::vector<std::string>>(std::move(paths));
}

rows_list rows_of(const postings& p)
{
    return p.rows;
}

}  // namespace

BOOST_AUTO_TEST_CASE(excluded_paths_and_everything_beneath_them_are_left_out)
{
    // Rows: 0 the brief's payload; 1 no excluded path; 2 an object that holds only an excluded
    // path, and keys spelling excluded paths with their dots; 3 an excluded path at null and one
    // under a scalar; 4 no payload; 5 an excluded path holding an array.
    dataset d;
    d.push(R"({"secret":"s","secrets":"t","meta":{"blob":{"x":1},"lang":"en"}})", "p0");
    d.push(R"({"secrets":"u","meta":{"lang":"de","blobs":2}})", "p1");
    d.push(R"({"meta":{"blob":"raw","blob.x":3},"meta.blob":7,"secret.deep":{"k":1},"secret":{"deep":1}})", "p2");
    d.push(R"({"meta":{"blob":null,"lang":"en"},"secret":null,"meta_blob":4})", "p3");
    d.push("", "p4");
    d.push(R"({"secret":[1,2,"s"],"secretive":true})", "p5");
    // What the index must equal: the same payloads with the excluded paths taken out by hand.
    dataset stripped;
    stripped.push(R"({"secrets":"t","meta":{"lang":"en"}})", "p0");
    stripped.push(R"({"secrets":"u","meta":{"lang":"de","blobs":2}})", "p1");
    stripped.push(R"({"meta":{}})", "p2");
    stripped.push(R"({"meta":{"lang":"en"},"meta_blob":4})", "p3");
    stripped.push("", "p4");
    stripped.push(R"({"secretive":true})", "p5");
    const std::size_t n = d.size();

    attribute_index plain = index_of(d, n);  // the control: without exclude() every path is there
    BOOST_TEST_REQUIRE(plain.field("secret") != nullptr);
    BOOST_TEST_REQUIRE(plain.field("meta.blob") != nullptr);
    BOOST_TEST_REQUIRE(plain.field("meta.blob.x") != nullptr);

    attribute_index index;
    index.exclude(paths_of({"secret", "meta.blob"}));
    for (std::size_t r = 0; r < n; ++r) {
        index.add(static_cast<std::uint32_t>(r), d.texts[r]);
    }
    auto check = [&](const attribute_index& x, const std::string& label) {
        for (const char* gone : {"secret", "secret.deep", "secret.deep.k", "meta.blob", "meta.blob.x"}) {
            BOOST_TEST(x.field(gone) == nullptr, label << ": " << gone << " is indexed");
        }
        const attribute_field* secrets = x.field("secrets");
        const attribute_field* meta = x.field("meta");
        const attribute_field* lang = x.field("meta.lang");
        BOOST_TEST_REQUIRE(secrets != nullptr, label);
        BOOST_TEST_REQUIRE(meta != nullptr, label);
        BOOST_TEST_REQUIRE(lang != nullptr, label);
        BOOST_TEST(rows_of(secrets->present) == (rows_list{0, 1}), label);
        BOOST_TEST_REQUIRE(secrets->scalars.count(string_key("t")) == 1u, label);
        BOOST_TEST(rows_of(secrets->scalars.at(string_key("t"))) == (rows_list{0}), label);
        BOOST_TEST(rows_of(secrets->scalars.at(string_key("u"))) == (rows_list{1}), label);
        // The parent of an excluded path is still there, also where the excluded path was all it
        // held (row 2).
        BOOST_TEST(rows_of(meta->present) == (rows_list{0, 1, 2, 3}), label);
        BOOST_TEST(rows_of(lang->present) == (rows_list{0, 1, 3}), label);
        BOOST_TEST(rows_of(lang->scalars.at(string_key("en"))) == (rows_list{0, 3}), label);
        BOOST_TEST(rows_of(lang->scalars.at(string_key("de"))) == (rows_list{1}), label);
        // Names that only begin like an excluded path are kept.
        BOOST_TEST_REQUIRE(x.field("meta.blobs") != nullptr, label);
        BOOST_TEST(rows_of(x.field("meta.blobs")->present) == (rows_list{1}), label);
        BOOST_TEST_REQUIRE(x.field("meta_blob") != nullptr, label);
        BOOST_TEST(rows_of(x.field("meta_blob")->present) == (rows_list{3}), label);
        BOOST_TEST_REQUIRE(x.field("secretive") != nullptr, label);
        BOOST_TEST(rows_of(x.field("secretive")->present) == (rows_list{5}), label);
        std::vector<std::string> paths;
        for (const auto& [path, f] : x.fields()) {
            paths.push_back(path);
        }
        BOOST_TEST(paths == (std::vector<std::string>{"meta", "meta.blobs", "meta.lang", "meta_blob", "secretive",
                                                      "secrets"}),
                   label);
        // Filters: an excluded path matches nothing, the others as if it had never been there.
        auto match = [&](const char* text) { return evaluate(parse(text), target_of(&x, n, d)).list(); };
        BOOST_TEST(match(R"({"exists":"secret"})") == (rows_list{}), label);
        BOOST_TEST(match(R"({"exists":"meta.blob"})") == (rows_list{}), label);
        BOOST_TEST(match(R"({"eq":["meta.blob.x",1]})") == (rows_list{}), label);
        BOOST_TEST(match(R"({"exists":"secrets"})") == (rows_list{0, 1}), label);
        BOOST_TEST(match(R"({"exists":"meta"})") == (rows_list{0, 1, 2, 3}), label);
        BOOST_TEST(match(R"({"eq":["meta.lang","en"]})") == (rows_list{0, 3}), label);
        BOOST_TEST(match(R"({"and":[{"exists":"meta"},{"not":{"exists":"meta.lang"}}]})") == (rows_list{2}), label);
        BOOST_TEST(match(R"({"eq":["id","p2"]})") == (rows_list{2}), label);
    };
    check(index, "unsealed");
    attribute_index sealed;
    sealed.exclude(paths_of({"secret", "meta.blob"}));
    for (std::size_t r = 0; r < n; ++r) {
        sealed.add(static_cast<std::uint32_t>(r), d.texts[r]);
    }
    sealed.seal(n);
    check(sealed, "sealed");
    auto decoded = attribute_index::decode(sealed.encode(), n, section_path, section_offset);
    BOOST_TEST_REQUIRE(decoded.has_value(), decoded.error().message());
    check(*decoded, "decoded");
    std::vector<std::vector<std::int64_t>> identity(1, std::vector<std::int64_t>(n));
    for (std::size_t r = 0; r < n; ++r) {
        identity[0][r] = static_cast<std::int64_t>(r);
    }
    attribute_index remapped = attribute_index::remap({&index}, identity, n);
    check(remapped, "remapped");
    // Byte for byte the index of the payloads without the excluded paths.
    attribute_index reference = index_of(stripped, n);
    reference.seal(n);
    BOOST_TEST((sealed.encode() == reference.encode()));
    BOOST_TEST((remapped.encode() == reference.encode()));
}

BOOST_AUTO_TEST_CASE(exclude_of_nothing_and_excluded_paths_use_none_of_the_path_budget)
{
    const std::string payload = R"({"a":1,"b":{"c":"x"},"c":[1]})";
    attribute_index plain;
    plain.add(0, payload);
    plain.seal(1);
    for (auto paths : {std::shared_ptr<const std::vector<std::string>>(), paths_of({}), paths_of({"z", "b.d", "bb"})}) {
        attribute_index x;
        x.exclude(paths);
        x.add(0, payload);
        x.seal(1);
        BOOST_TEST((x.encode() == plain.encode()));
    }
    // 1100 paths beneath an excluded one, then a few others: the others are all indexed (an
    // excluded path costs no index memory, so it takes no place among the first 1024).
    std::string wide = R"({"blob":{)";
    for (int i = 0; i < 1100; ++i) {
        wide += strprintf("%s\"k%04d\":%d", i == 0 ? "" : ",", i, i);
    }
    wide += R"(},"keep":1,"z":{"y":true}})";
    attribute_index x;
    x.exclude(paths_of({"blob"}));
    x.add(0, wide);
    x.add(1, R"({"later":"v"})");
    x.seal(2);
    BOOST_TEST(x.fields().size() == 4u);
    BOOST_TEST(x.field("blob") == nullptr);
    BOOST_TEST(x.field("blob.k0000") == nullptr);
    BOOST_TEST(x.field("keep") != nullptr);
    BOOST_TEST(x.field("z.y") != nullptr);
    BOOST_TEST_REQUIRE(x.field("later") != nullptr);
    BOOST_TEST(rows_of(x.field("later")->present) == (rows_list{1}));
}

BOOST_AUTO_TEST_CASE(path_excluded_takes_whole_parts_only)
{
    const std::vector<std::string> ex = {"secret", "meta.blob"};
    for (const char* yes : {"secret", "secret.x", "secret.x.y", "secret.", "meta.blob", "meta.blob.x", "meta.blob.x.y"}) {
        BOOST_TEST(path_excluded(yes, ex), yes);
    }
    for (const char* no : {"", "s", "secre", "secrets", "secret_x", "Secret", "xsecret", "x.secret", "meta", "meta.",
                           "meta.blo", "meta.blobs", "meta_blob", "metablob", "meta.blob_x", "xmeta.blob", "a.meta.blob",
                           "blob", "id"}) {
        BOOST_TEST(!path_excluded(no, ex), no);
    }
    BOOST_TEST(!path_excluded("secret", {}));
    BOOST_TEST(!path_excluded("", {}));
    // A match on any entry of the list, wherever it stands in it.
    BOOST_TEST(path_excluded("c.d", {"a", "b", "c"}));
    BOOST_TEST(path_excluded("b", {"a", "b", "c"}));
    // An entry deeper than the path does not exclude the path.
    BOOST_TEST(!path_excluded("a.b", {"a.b.c"}));
    BOOST_TEST(!path_excluded("a", {"a.b.c"}));
    BOOST_TEST(path_excluded("a.b.c.d", {"a.b.c"}));
    BOOST_TEST(path_excluded("a.b.c", {"a"}));
    // Bytes, not characters: a multi-byte name and one that only shares its first byte.
    BOOST_TEST(path_excluded("\xc3\xa9t\xc3\xa9.x", {"\xc3\xa9t\xc3\xa9"}));
    BOOST_TEST(!path_excluded("\xc3\xa9t\xc3\xa8", {"\xc3\xa9t\xc3\xa9"}));
}

BOOST_AUTO_TEST_CASE(excluded_field_finds_the_first_excluded_field_in_nested_filters)
{
    const std::vector<std::string> ex = {"secret", "meta.blob"};
    auto found = [&](const filter& f) -> std::string {
        const std::string* s = excluded_field(f, ex);
        return s == nullptr ? std::string("<none>") : *s;
    };
    // Leaves of every operator.
    for (const char* text :
         {R"({"exists":"secret"})", R"({"eq":["secret","s"]})", R"({"ne":["secret",1]})", R"({"in":["secret",["a",1]]})",
          R"({"nin":["secret",[true]]})", R"({"range":["secret",{"gte":1}]})", R"({"contains":["secret","x"]})",
          R"({"contains_any":["secret",["x"]]})"}) {
        BOOST_TEST(found(parse(text)) == "secret", text);
    }
    BOOST_TEST(found(parse(R"({"exists":"meta.blob.x"})")) == "meta.blob.x");
    BOOST_TEST(found(parse(R"({"eq":["secret.a.b",1]})")) == "secret.a.b");
    // Nothing excluded: siblings, parents, prefixes that are not whole parts, and "id".
    BOOST_TEST(found(parse(R"({"and":[{"exists":"secrets"},{"exists":"meta"},{"eq":["meta.lang","en"]},)"
                           R"({"not":{"exists":"meta.blobs"}},{"or":[{"eq":["id","secret"]},{"exists":"secretive"}]}]})")) ==
               "<none>");
    // Nested: and / or / not, at depth; the answer points into the filter.
    filter deep = parse(R"({"and":[{"eq":["meta.lang","en"]},{"or":[{"exists":"secrets"},{"not":{"range":["meta.blob.x",{"lt":3}]}}]}]})");
    const std::string* at = excluded_field(deep, ex);
    BOOST_TEST_REQUIRE(at != nullptr);
    BOOST_TEST(*at == "meta.blob.x");
    BOOST_TEST(at == &deep.children[1].children[1].children[0].field);
    // The first in document order, whichever entry of the list it falls under.
    BOOST_TEST(found(parse(R"({"or":[{"eq":["meta.lang","en"]},{"eq":["meta.blob",1]},{"eq":["secret","s"]}]})")) ==
               "meta.blob");
    BOOST_TEST(found(parse(R"({"or":[{"not":{"and":[{"exists":"a"},{"exists":"secret.z"}]}},{"eq":["meta.blob",1]}]})")) ==
               "secret.z");
    // Many levels of "not".
    filter nots = parse(R"({"exists":"secret"})");
    for (int i = 0; i < 31; ++i) {
        filter up;
        up.op = filter_op::none_of;
        up.children.push_back(std::move(nots));
        nots = std::move(up);
    }
    BOOST_TEST(found(nots) == "secret");
    // An empty list excludes nothing.
    BOOST_TEST(excluded_field(parse(R"({"exists":"secret"})"), {}) == nullptr);
    // "id" is the point's id: never reported, even were it on the list, which still applies to
    // the other fields.
    const std::vector<std::string> with_id = {"id", "secret"};
    BOOST_TEST(excluded_field(parse(R"({"eq":["id","p1"]})"), with_id) == nullptr);
    BOOST_TEST(excluded_field(parse(R"({"in":["id",["p1","p2"]]})"), with_id) == nullptr);
    BOOST_TEST(excluded_field(parse(R"({"range":["id",{"gte":"a"}]})"), with_id) == nullptr);
    BOOST_TEST(excluded_field(parse(R"({"and":[{"eq":["id","p1"]},{"not":{"exists":"id"}}]})"), with_id) == nullptr);
    const filter mixed = parse(R"({"or":[{"eq":["id","p1"]},{"exists":"secret.k"}]})");
    const std::string* m = excluded_field(mixed, with_id);
    BOOST_TEST_REQUIRE(m != nullptr);
    BOOST_TEST(*m == "secret.k");
    BOOST_TEST(m == &mixed.children[1].field);
}

BOOST_AUTO_TEST_SUITE_END()

