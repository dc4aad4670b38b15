// parse_filter: each class of malformed filter is errc::invalid_argument, and its message starts
// with the path of the bad node ("filter.and[1].range[1].gt: ..."), under whatever prefix the
// caller gives; the limits (32 levels, 1024 expressions, 1024 values) hold exactly at their
// bounds; valid filters round-trip: describe(parse(text)) is the canonical compact text; a JSON
// null is no filter.
#include "engine/core/result.hpp"
#include "engine/index/filter.hpp"
#include "net/filter_decoding.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <string>

using namespace puffer;
namespace json = boost::json;
using index::filter_op;
using index::value_kind;

namespace {

json::value parse_json(const std::string& text)
{
    json::parse_options deep;
    deep.max_depth = 400;  // the nesting tests go past Boost.JSON's default of 32
    return json::parse(text, {}, deep);
}

result<std::shared_ptr<const index::filter>> decode(const std::string& text, const std::string& where = "filter")
{
    return net::parse_filter(parse_json(text), where);
}

// The filter is refused as invalid_argument, the message starting with "<path>: " and holding
// `what` (a part of the reason).
void refused_value(const json::value& v, const std::string& path, const std::string& what = {},
                   const std::string& where = "filter")
{
    const std::string text = json::serialize(v);
    auto r = net::parse_filter(v, where);
    BOOST_TEST_REQUIRE(!r.has_value(), text.substr(0, 200) << " was accepted");
    BOOST_TEST(is(r.error(), errc::invalid_argument), text.substr(0, 200));
    const std::string m = r.error().message();
    BOOST_TEST(m.rfind(path + ": ", 0) == 0, text.substr(0, 200) << " -> " << m.substr(0, 300) << " (expected " << path << ")");
    BOOST_TEST(m.find(what) != std::string::npos, text.substr(0, 200) << " -> " << m.substr(0, 300) << " (expected \"" << what << "\")");
}

void refused(const std::string& text, const std::string& path, const std::string& what = {})
{
    refused_value(parse_json(text), path, what);
}

void accepted(const std::string& text)
{
    auto r = decode(text);
    BOOST_TEST(r.has_value(), text.substr(0, 200) << ": " << (r.has_value() ? "" : r.error().message()));
    if (r.has_value()) {
        BOOST_TEST((*r != nullptr));
    }
}

// op levels of "not" (or "and" of one) around one eq: op levels + 1 in all.
std::string nested(const std::string& op, int levels)
{
    std::string s = R"({"eq":["a",1]})";
    for (int i = 0; i < levels; ++i) {
        s = op == "not" ? R"({"not":)" + s + "}" : R"({"and":[)" + s + "]}";
    }
    return s;
}

std::string repeat(const std::string& s, int n)
{
    std::string out;
    for (int i = 0; i < n; ++i) {
        out += s;
    }
    return out;
}

// {"<op>":[e, e, ...]} of n copies of e.
std::string list_of(const std::string& op, const std::string& e, int n)
{
    std::string s = "{\"" + op + "\":[";
    for (int i = 0; i < n; ++i) {
        s += (i == 0 ? "" : ",") + e;
    }
    return s + "]}";
}

std::string values_of(int n)
{
    std::string s = "[";
    for (int i = 0; i < n; ++i) {
        s += (i == 0 ? "" : ",") + std::to_string(i);
    }
    return s + "]";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(filter_decoding_suite)

BOOST_AUTO_TEST_CASE(a_node_that_is_not_an_object_of_one_operator)
{
    for (const char* text : {R"([])", R"([{"eq":["a",1]}])", R"("eq")", R"(5)", R"(true)", R"(-0.5)"}) {
        refused(text, "filter", "must be an object with one operator");
    }
    refused(R"({})", "filter", "exactly one operator, not 0");
    refused(R"({"eq":["a",1],"ne":["a",2]})", "filter", "not 2: 'eq', 'ne'");
    refused(R"({"eq":["a",1],"bogus":1,"and":[]})", "filter", "not 3");
    refused(R"({"like":["a","b"]})", "filter", "unknown operator 'like'");
    refused(R"({"EQ":["a",1]})", "filter", "unknown operator 'EQ'");
    refused(R"({"":1})", "filter", "unknown operator ''");
    refused(R"({"gte":["a",1]})", "filter", "unknown operator 'gte'");
    // Inside and / or / not: the child's path.
    refused(R"({"and":[{"eq":["a",1]},[1]]})", "filter.and[1]", "must be an object");
    refused(R"({"or":[{"eq":["a",1]},{"exists":"x"},{"x":1}]})", "filter.or[2]", "unknown operator 'x'");
    refused(R"({"not":[{"eq":["a",1]}]})", "filter.not", "must be an object");
    refused(R"({"not":null})", "filter.not", "must be an object");
    refused(R"({"not":{"not":{}}})", "filter.not.not", "not 0");
    refused(R"({"and":[{"exists":"a"},{"or":[{"exists":"b"},{"not":{"eq":["a",1],"ne":["b",1]}}]}]})",
            "filter.and[1].or[1].not", "not 2");
}

BOOST_AUTO_TEST_CASE(and_or_need_a_non_empty_array)
{
    for (const char* op : {"and", "or"}) {
        const std::string o = op;
        refused("{\"" + o + "\":[]}", "filter." + o, "non-empty array of expressions");
        refused("{\"" + o + "\":{\"eq\":[\"a\",1]}}", "filter." + o, "non-empty array");
        refused("{\"" + o + "\":null}", "filter." + o, "non-empty array");
        refused("{\"" + o + "\":\"x\"}", "filter." + o, "non-empty array");
        refused(R"({"and":[{"exists":"a"},{")" + o + "\":[]}]}", "filter.and[1]." + o, "non-empty array");
        accepted("{\"" + o + "\":[{\"exists\":\"a\"}]}");
    }
}

BOOST_AUTO_TEST_CASE(leaves_need_a_field_and_a_value)
{
    // Arity: [field, value] for eq, ne, contains; [field, [values]] for in, nin, contains_any;
    // [field, {bounds}] for range.
    for (const char* op : {"eq", "ne", "contains", "in", "nin", "contains_any", "range"}) {
        const std::string o = op;
        const std::string path = "filter." + o;
        refused("{\"" + o + "\":[\"a\"]}", path, "must be an array of two");
        refused("{\"" + o + "\":[\"a\",1,2]}", path, "must be an array of two");
        refused("{\"" + o + "\":[]}", path, "must be an array of two");
        refused("{\"" + o + "\":\"a\"}", path, "must be an array of two");
        refused("{\"" + o + "\":{\"a\":1}}", path, "must be an array of two");
        refused("{\"" + o + "\":null}", path, "must be an array of two");
        // The field: a non-empty string.
        refused("{\"" + o + "\":[1,1]}", path + "[0]", "the field must be a non-empty string");
        refused("{\"" + o + "\":[null,1]}", path + "[0]", "the field must be a non-empty string");
        refused("{\"" + o + "\":[[\"a\"],1]}", path + "[0]", "the field must be a non-empty string");
        refused("{\"" + o + "\":[\"\",1]}", path + "[0]", "the field must be a non-empty string");
        refused("{\"" + o + "\":[\"" + std::string(257, 'f') + "\",1]}", path + "[0]", "at most 256 bytes");
    }
    refused(R"({"in":["a",[1],2]})", "filter.in", "[field, [value, ...]]");
    refused(R"({"range":["a"]})", "filter.range", "[field, {\"gte\": 1, \"lt\": 2}]");
    refused(R"({"eq":["a"]})", "filter.eq", "[field, value]");
    // exists takes the field alone.
    refused(R"({"exists":1})", "filter.exists", "the field must be a non-empty string");
    refused(R"({"exists":""})", "filter.exists", "non-empty string");
    refused(R"({"exists":["a"]})", "filter.exists", "non-empty string");
    refused(R"({"exists":null})", "filter.exists", "non-empty string");
    refused(R"({"exists":")" + std::string(257, 'f') + "\"}", "filter.exists", "at most 256 bytes");
    accepted(R"({"exists":")" + std::string(256, 'f') + "\"}");
    accepted(R"({"eq":[")" + std::string(256, 'f') + "\",1]}");
}

BOOST_AUTO_TEST_CASE(values_are_strings_numbers_or_booleans)
{
    for (const char* op : {"eq", "ne", "contains"}) {
        const std::string o = op;
        for (const char* bad : {R"({"x":1})", "{}", "[1]", "[]", "null"}) {
            refused("{\"" + o + "\":[\"a\"," + bad + "]}", "filter." + o + "[1]",
                    "a value must be a string, a number or a boolean");
        }
    }
    for (const char* op : {"in", "nin", "contains_any"}) {
        const std::string o = op;
        const std::string path = "filter." + o + "[1]";
        refused("{\"" + o + "\":[\"a\",\"x\"]}", path, "must be an array of 1 to 1024 values");
        refused("{\"" + o + "\":[\"a\",1]}", path, "must be an array of 1 to 1024 values");
        refused("{\"" + o + "\":[\"a\",null]}", path, "must be an array of 1 to 1024 values");
        refused("{\"" + o + "\":[\"a\",{}]}", path, "must be an array of 1 to 1024 values");
        refused("{\"" + o + "\":[\"a\",[]]}", path, "must be an array of 1 to 1024 values");
        refused("{\"" + o + "\":[\"a\"," + values_of(1025) + "]}", path, "1 to 1024 values");
        accepted("{\"" + o + "\":[\"a\"," + values_of(1024) + "]}");
        refused("{\"" + o + "\":[\"a\",[1,\"b\",null]]}", path + "[2]", "a value must be");
        refused("{\"" + o + "\":[\"a\",[[1]]]}", path + "[0]", "a value must be");
        refused("{\"" + o + "\":[\"a\",[true,{\"x\":1}]]}", path + "[1]", "a value must be");
    }
    // Numbers beyond a double (Boost.JSON reads 1e999 as infinity).
    refused(R"({"eq":["a",1e999]})", "filter.eq[1]", "beyond the range of a double");
    refused(R"({"in":["a",[1,-1e999]]})", "filter.in[1][1]", "beyond the range of a double");
    auto leaf = [](const char* op, double number) {
        json::array a;
        a.push_back(json::value("a"));
        a.push_back(json::value(number));
        json::object o;
        o[op] = std::move(a);
        return json::value(std::move(o));
    };
    refused_value(leaf("ne", std::numeric_limits<double>::infinity()), "filter.ne[1]", "beyond the range of a double");
    refused_value(leaf("eq", std::numeric_limits<double>::quiet_NaN()), "filter.eq[1]", "beyond the range of a double");
    refused_value(leaf("contains", -std::numeric_limits<double>::infinity()), "filter.contains[1]",
                  "beyond the range of a double");
}

BOOST_AUTO_TEST_CASE(ranges_take_one_bound_a_side_of_one_kind)
{
    refused(R"({"range":["a",{}]})", "filter.range[1]", "must be an object of bounds");
    refused(R"({"range":["a",[1,2]]})", "filter.range[1]", "must be an object of bounds");
    refused(R"({"range":["a",5]})", "filter.range[1]", "must be an object of bounds");
    refused(R"({"range":["a",null]})", "filter.range[1]", "must be an object of bounds");
    refused(R"({"range":["a",{"gt":1,"ge":2}]})", "filter.range[1].ge", "unknown bound");
    refused(R"({"range":["a",{"GT":1}]})", "filter.range[1].GT", "unknown bound");
    refused(R"({"range":["a",{"eq":1}]})", "filter.range[1].eq", "unknown bound");
    refused(R"({"range":["a",{"gt":1,"gte":2}]})", "filter.range[1].gte", "give one lower bound");
    refused(R"({"range":["a",{"gte":1,"gt":2}]})", "filter.range[1].gt", "give one lower bound");
    refused(R"({"range":["a",{"lt":1,"lte":2}]})", "filter.range[1].lte", "give one upper bound");
    refused(R"({"range":["a",{"lte":1,"gt":0,"lt":2}]})", "filter.range[1].lt", "give one upper bound");
    refused(R"({"range":["a",{"gt":true}]})", "filter.range[1].gt", "a bound must be a number or a string");
    refused(R"({"range":["a",{"lte":false}]})", "filter.range[1].lte", "a bound must be a number or a string");
    refused(R"({"range":["a",{"gt":null}]})", "filter.range[1].gt", "a value must be");
    refused(R"({"range":["a",{"gt":{"x":1}}]})", "filter.range[1].gt", "a value must be");
    refused(R"({"range":["a",{"gt":[1]}]})", "filter.range[1].gt", "a value must be");
    refused(R"({"range":["a",{"lt":1e999}]})", "filter.range[1].lt", "beyond the range of a double");
    refused(R"({"range":["a",{"gt":1,"lt":"b"}]})", "filter.range[1]", "both bounds must be numbers or both strings");
    refused(R"({"range":["a",{"lte":"b","gte":0}]})", "filter.range[1]", "both bounds must be numbers or both strings");
    // The example of docs/api.md.
    refused(R"({"and":[{"exists":"a"},{"range":["n",{"gt":1,"gte":2}]}]})", "filter.and[1].range[1].gte",
            "give one lower bound: \"gt\" or \"gte\"");
    refused(R"({"and":[{"exists":"a"},{"range":["n",{"gt":1,"lt":true}]}]})", "filter.and[1].range[1].lt",
            "a bound must be");
    accepted(R"({"range":["a",{"gt":"a","lte":"b"}]})");
    accepted(R"({"range":["a",{"lt":0}]})");
}

BOOST_AUTO_TEST_CASE(depth_is_at_most_32_levels)
{
    // nested(op, k) is k + 1 levels: 31 operators around a leaf are 32 levels, accepted.
    accepted(nested("not", 31));
    accepted(nested("and", 31));
    accepted(nested("or", 0));
    // 32 "not" around a leaf: the leaf is the 33rd level; 33 "not": the 33rd "not" is.
    refused(nested("not", 32), "filter" + repeat(".not", 32), "at most 32 levels deep");
    refused(nested("not", 33), "filter" + repeat(".not", 32), "at most 32 levels deep");
    refused(nested("not", 60), "filter" + repeat(".not", 32), "at most 32 levels deep");
    refused(nested("and", 32), "filter" + repeat(".and[0]", 32), "at most 32 levels deep");
    refused(nested("and", 33), "filter" + repeat(".and[0]", 32), "at most 32 levels deep");
    // A shallow first child does not hide a deep second one.
    refused(R"({"or":[{"exists":"a"},)" + nested("not", 31) + "]}", "filter.or[1]" + repeat(".not", 31),
            "at most 32 levels deep");
    accepted(R"({"or":[{"exists":"a"},)" + nested("not", 30) + "]}");
    // The body limit a server parses with lets a filter of 32 "and" levels reach the decoder.
    json::parse_options body;
    body.max_depth = net::filter_body_depth_max;
    std::error_code ec;
    json::value v = json::parse(nested("and", 32), ec, {}, body);
    BOOST_TEST_REQUIRE(!ec, ec.message());
    refused_value(v, "filter" + repeat(".and[0]", 32), "at most 32 levels deep");
}

BOOST_AUTO_TEST_CASE(at_most_1024_expressions)
{
    const std::string eq = R"({"eq":["a",1]})";
    accepted(list_of("or", eq, 1023));  // 1 + 1023 expressions
    refused(list_of("or", eq, 1024), "filter.or[1023]", "at most 1024 expressions");
    refused(list_of("or", eq, 1100), "filter.or[1023]", "at most 1024 expressions");
    refused(list_of("and", eq, 5000), "filter.and[1023]", "at most 1024 expressions");
    // Counted over the whole tree, in document order: and (1), or (2), 600 eq (3 .. 602), or
    // (603), then its 422nd child is the 1025th expression.
    const std::string big = list_of("or", eq, 600);
    refused(R"({"and":[)" + big + "," + big + "]}", "filter.and[1].or[421]", "at most 1024 expressions");
    // "not" counts; "in" values do not.
    accepted(list_of("or", R"({"not":)" + eq + "}", 511));  // 1 + 2 * 511 = 1023
    refused(list_of("or", R"({"not":)" + eq + "}", 512), "filter.or[511].not", "at most 1024 expressions");
    accepted(list_of("or", R"({"in":["a",)" + values_of(1024) + "]}", 1023));
}

BOOST_AUTO_TEST_CASE(errors_carry_the_callers_prefix)
{
    auto r = decode(R"({"and":[{"exists":"a"},{"eq":["b",{}]}]})", "searches[2].filter");
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(is(r.error(), errc::invalid_argument));
    BOOST_TEST(r.error().message().rfind("searches[2].filter.and[1].eq[1]: ", 0) == 0, r.error().message());
    refused_value(parse_json(R"({"x":1})"), "where", "unknown operator", "where");
}

BOOST_AUTO_TEST_CASE(null_is_no_filter)
{
    auto none = net::parse_filter(json::value(nullptr), "filter");
    BOOST_TEST_REQUIRE(none.has_value());
    BOOST_TEST((*none == nullptr));
    auto parsed_null = decode("null");
    BOOST_TEST_REQUIRE(parsed_null.has_value());
    BOOST_TEST((*parsed_null == nullptr));
    // Null elsewhere is an error, not "no filter".
    refused(R"({"not":null})", "filter.not");
    refused(R"({"and":[null]})", "filter.and[0]");
}

BOOST_AUTO_TEST_CASE(valid_filters_round_trip_to_their_canonical_text)
{
    const std::pair<const char*, const char*> cases[] = {
        // Canonical already.
        {R"({"eq":["color","red"]})", R"({"eq":["color","red"]})"},
        {R"({"and":[{"eq":["color","red"]},{"not":{"exists":"meta.lang"}}]})",
         R"({"and":[{"eq":["color","red"]},{"not":{"exists":"meta.lang"}}]})"},
        {R"({"or":[{"in":["n",[1,2.5,-3]]},{"nin":["s",["a","b"]]},{"ne":["flag",true]}]})",
         R"({"or":[{"in":["n",[1,2.5,-3]]},{"nin":["s",["a","b"]]},{"ne":["flag",true]}]})"},
        {R"({"contains":["tags","x"]})", R"({"contains":["tags","x"]})"},
        {R"({"contains_any":["tags",["x",false,3]]})", R"({"contains_any":["tags",["x",false,3]]})"},
        {R"({"range":["id",{"gt":"p1"}]})", R"({"range":["id",{"gt":"p1"}]})"},
        {R"({"range":["n",{"lte":5}]})", R"({"range":["n",{"lte":5}]})"},
        // Whitespace goes; bounds are written lower first.
        {" { \"eq\" : [ \"a\" , 1 ] } ", R"({"eq":["a",1]})"},
        {R"({"range":["n",{"lt":2,"gte":1}]})", R"({"range":["n",{"gte":1,"lt":2}]})"},
        {R"({"range":["s",{"lte":"z","gt":"a"}]})", R"({"range":["s",{"gt":"a","lte":"z"}]})"},
        // Numbers as %.17g doubles.
        {R"({"eq":["n",0.1]})", R"({"eq":["n",0.10000000000000001]})"},
        {R"({"eq":["n",1.0]})", R"({"eq":["n",1]})"},
        {R"({"eq":["n",-0.0]})", R"({"eq":["n",-0]})"},
        {R"({"eq":["n",1e300]})", R"({"eq":["n",1.0000000000000001e+300]})"},
        {R"({"eq":["n",18446744073709551615]})", R"({"eq":["n",1.8446744073709552e+19]})"},
        {R"({"in":["n",[1E2,-2.50]]})", R"({"in":["n",[100,-2.5]]})"},
        // Strings: quotes, backslashes and control characters escaped; other bytes as they are.
        {R"({"eq":["a\"b","x\\y\u0001\n"]})", R"({"eq":["a\"b","x\\y\u0001\u000a"]})"},
        {R"({"eq":["\u00e9","\u00fc\/"]})", "{\"eq\":[\"\xc3\xa9\",\"\xc3\xbc/\"]}"},
        {R"({"not":{"and":[{"exists":"id"},{"or":[{"ne":["flag",false]},{"contains":["t",-1.5]}]}]}})",
         R"({"not":{"and":[{"exists":"id"},{"or":[{"ne":["flag",false]},{"contains":["t",-1.5]}]}]}})"},
    };
    for (const auto& [text, canonical] : cases) {
        auto f = decode(text);
        BOOST_TEST_REQUIRE(f.has_value(), text << ": " << f.error().message());
        BOOST_TEST_REQUIRE((*f != nullptr));
        const std::string d = index::describe(**f);
        BOOST_TEST(d == canonical, text);
        // The canonical text is valid JSON and decodes to the same filter (compared as JSON: "-0"
        // reads back as the integer 0).
        auto again = decode(d);
        BOOST_TEST_REQUIRE(again.has_value(), d << ": " << again.error().message());
        BOOST_TEST((json::parse(index::describe(**again)) == json::parse(d)), d);
    }
}

BOOST_AUTO_TEST_CASE(decoded_filters_hold_what_they_say)
{
    auto r = decode(R"({"and":[{"range":["n",{"lt":2,"gte":1}]},{"nin":["s",["a",2,true]]},{"not":{"exists":"m.x"}}]})");
    BOOST_TEST_REQUIRE(r.has_value());
    const index::filter& f = **r;
    BOOST_TEST_REQUIRE((f.op == filter_op::all_of));
    BOOST_TEST_REQUIRE(f.children.size() == 3u);
    const index::filter& range = f.children[0];
    BOOST_TEST((range.op == filter_op::range));
    BOOST_TEST(range.field == "n");
    BOOST_TEST(range.lower.set);
    BOOST_TEST(range.lower.inclusive);
    BOOST_TEST((range.lower.value.kind == value_kind::number));
    BOOST_TEST(range.lower.value.number == 1.0);
    BOOST_TEST(range.upper.set);
    BOOST_TEST(!range.upper.inclusive);
    BOOST_TEST(range.upper.value.number == 2.0);
    const index::filter& nin = f.children[1];
    BOOST_TEST((nin.op == filter_op::nin));
    BOOST_TEST_REQUIRE(nin.values.size() == 3u);
    BOOST_TEST((nin.values[0].kind == value_kind::string));
    BOOST_TEST(nin.values[0].text == "a");
    BOOST_TEST((nin.values[1].kind == value_kind::number));
    BOOST_TEST(nin.values[1].number == 2.0);
    BOOST_TEST((nin.values[2].kind == value_kind::boolean));
    BOOST_TEST(nin.values[2].boolean);
    const index::filter& no = f.children[2];
    BOOST_TEST((no.op == filter_op::none_of));
    BOOST_TEST_REQUIRE(no.children.size() == 1u);
    BOOST_TEST((no.children[0].op == filter_op::exists));
    BOOST_TEST(no.children[0].field == "m.x");
    // A range of one bound leaves the other unset.
    auto lower_only = decode(R"({"range":["s",{"gt":"k"}]})");
    BOOST_TEST_REQUIRE(lower_only.has_value());
    BOOST_TEST((*lower_only)->lower.set);
    BOOST_TEST(!(*lower_only)->upper.set);
    BOOST_TEST(((*lower_only)->lower.value.kind == value_kind::string));
    // -0 keeps its sign in the filter (the index treats it as 0).
    auto minus_zero = decode(R"({"eq":["n",-0.0]})");
    BOOST_TEST_REQUIRE(minus_zero.has_value());
    BOOST_TEST(std::signbit((*minus_zero)->values.at(0).number));
}

BOOST_AUTO_TEST_SUITE_END()
