// Payload patches (engine/index/payload_patch.hpp) against Boost.JSON parses of their results:
// merge sets and overwrites top-level fields and a null removes one, replace keeps the patch
// alone, a result without fields is the empty string, nested objects are replaced whole (a null
// inside one is kept), numbers and strings come back with the same values and the result is
// compact; a patch that is not one JSON object is invalid_argument, a stored payload that is
// not one is corruption.
#include "engine/core/result.hpp"
#include "engine/index/payload_patch.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace puffer;
using namespace puffer::index;
namespace json = boost::json;

namespace {

// The patch applied; the test fails (and the answer is empty) if it was refused.
std::string applied(std::string_view stored, std::string_view patch, patch_mode mode)
{
    auto r = apply_payload_patch(stored, patch, mode);
    BOOST_TEST_REQUIRE(r.has_value(), "stored " << stored << " patch " << patch << ": " << r.error().message());
    return *r;
}

// The result parsed: it must be one JSON object.
json::object parsed(const std::string& text)
{
    json::error_code ec;
    json::value v = json::parse(text, ec);
    BOOST_TEST_REQUIRE(!ec, "not JSON: " << text);
    BOOST_TEST_REQUIRE(v.is_object(), "not an object: " << text);
    return v.as_object();
}

json::object object_of(std::string_view text)
{
    return json::parse(text).as_object();
}

const char* mode_name(patch_mode m)
{
    return m == patch_mode::merge ? "merge" : "replace";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(payload_patch_suite)

BOOST_AUTO_TEST_CASE(merge_sets_new_fields_and_overwrites_existing_ones)
{
    std::string out = applied(R"({"a":1,"b":"x","c":[1,2]})", R"({"b":"y","d":{"k":true},"a":2.5})", patch_mode::merge);
    json::object o = parsed(out);
    BOOST_TEST(o.size() == 4u);
    BOOST_TEST(o.at("a") == json::value(2.5));
    BOOST_TEST(o.at("b") == json::value("y"));
    BOOST_TEST(o.at("c") == json::parse("[1,2]"));  // untouched
    BOOST_TEST(o.at("d") == json::parse(R"({"k":true})"));
    // Fields the patch does not name keep their place; new ones follow.
    BOOST_TEST(applied(R"({"a":1,"b":"x"})", R"({"b":"y","c":3})", patch_mode::merge) == R"({"a":1,"b":"y","c":3})");
    // A field may change kind.
    BOOST_TEST(applied(R"({"a":"1"})", R"({"a":1})", patch_mode::merge) == R"({"a":1})");
    BOOST_TEST(applied(R"({"a":[1]})", R"({"a":false})", patch_mode::merge) == R"({"a":false})");
    // An empty patch changes nothing.
    BOOST_TEST(parsed(applied(R"({"a":1,"b":"x"})", "{}", patch_mode::merge)) == object_of(R"({"a":1,"b":"x"})"));
}

BOOST_AUTO_TEST_CASE(merge_with_null_removes_the_field)
{
    json::object o = parsed(applied(R"({"a":1,"b":2,"c":3})", R"({"b":null})", patch_mode::merge));
    BOOST_TEST(o == object_of(R"({"a":1,"c":3})"));
    BOOST_TEST(!o.contains("b"));
    // Removing and setting in one patch.
    o = parsed(applied(R"({"a":1,"b":2,"c":3})", R"({"a":null,"c":null,"d":"new"})", patch_mode::merge));
    BOOST_TEST(o == object_of(R"({"b":2,"d":"new"})"));
    // A null for a field that is not there adds nothing (it is not stored as null).
    o = parsed(applied(R"({"a":1})", R"({"zz":null})", patch_mode::merge));
    BOOST_TEST(o == object_of(R"({"a":1})"));
    BOOST_TEST(!o.contains("zz"));
}

BOOST_AUTO_TEST_CASE(removing_a_field_keeps_the_order_of_the_others)
{
    // Text, not just the object: a patch must not reorder what it leaves alone.
    BOOST_TEST(applied(R"({"a":1,"b":2,"c":3,"d":4})", R"({"b":null})", patch_mode::merge) == R"({"a":1,"c":3,"d":4})");
    BOOST_TEST(applied(R"({"a":1,"b":2,"c":3,"d":4})", R"({"a":null,"e":5})", patch_mode::merge) ==
               R"({"b":2,"c":3,"d":4,"e":5})");
}

BOOST_AUTO_TEST_CASE(merge_into_an_empty_stored_payload)
{
    BOOST_TEST(applied("", R"({"a":1,"s":"t"})", patch_mode::merge) == R"({"a":1,"s":"t"})");
    // Its nulls remove nothing and are not kept.
    BOOST_TEST(applied("", R"({"a":1,"gone":null})", patch_mode::merge) == R"({"a":1})");
    BOOST_TEST(applied("", "{}", patch_mode::merge).empty());
}

BOOST_AUTO_TEST_CASE(replace_drops_every_old_field)
{
    BOOST_TEST(applied(R"({"a":1,"b":2})", R"({"c":3})", patch_mode::replace) == R"({"c":3})");
    // Fields of the same name take the patch's value only.
    BOOST_TEST(applied(R"({"a":1,"b":2})", R"({"b":"two"})", patch_mode::replace) == R"({"b":"two"})");
    BOOST_TEST(applied("", R"({"c":[3]})", patch_mode::replace) == R"({"c":[3]})");
    // A null means no field in either mode.
    json::object o = parsed(applied(R"({"a":1})", R"({"a":null,"c":3})", patch_mode::replace));
    BOOST_TEST(o == object_of(R"({"c":3})"));
}

BOOST_AUTO_TEST_CASE(a_result_without_fields_is_the_empty_string)
{
    BOOST_TEST(applied(R"({"a":1})", R"({"a":null})", patch_mode::merge).empty());
    BOOST_TEST(applied(R"({"a":1,"b":[2]})", R"({"b":null,"a":null})", patch_mode::merge).empty());
    BOOST_TEST(applied(R"({"a":1})", "{}", patch_mode::replace).empty());
    BOOST_TEST(applied(R"({"a":1})", R"({"x":null})", patch_mode::replace).empty());
    BOOST_TEST(applied("{}", "{}", patch_mode::merge).empty());
    BOOST_TEST(applied("", "{}", patch_mode::replace).empty());
}

BOOST_AUTO_TEST_CASE(a_patch_that_is_not_one_json_object_is_invalid_argument)
{
    const std::vector<std::string> bad = {
        "", "   ", "[]", R"([{"a":1}])", "1", "-2.5", R"("text")", "null", "true",
        "{", R"({"a":1)", R"({"a":1}})", R"({"a":1} {"b":2})", R"({"a":1} x)", "{a:1}", R"({'a':1})",
    };
    for (const auto& patch : bad) {
        BOOST_TEST_CONTEXT("patch '" << patch << "'")
        {
            auto c = check_payload_patch(patch);
            BOOST_TEST_REQUIRE(!c.has_value());
            BOOST_TEST(is(c.error(), errc::invalid_argument), c.error().message());
            for (patch_mode m : {patch_mode::merge, patch_mode::replace}) {
                auto r = apply_payload_patch(R"({"a":1})", patch, m);
                BOOST_TEST_REQUIRE(!r.has_value(), mode_name(m));
                BOOST_TEST(is(r.error(), errc::invalid_argument), mode_name(m) << ": " << r.error().message());
                r = apply_payload_patch("", patch, m);
                BOOST_TEST_REQUIRE(!r.has_value(), mode_name(m));
                BOOST_TEST(is(r.error(), errc::invalid_argument), mode_name(m) << ": " << r.error().message());
            }
        }
    }
    for (const char* good : {"{}", R"({"a":1})", R"( {"a":{"b":[1,{"c":null}]}} )", R"({"":0})"}) {
        BOOST_TEST(check_payload_patch(good).has_value(), good);
    }
}

BOOST_AUTO_TEST_CASE(a_stored_payload_that_is_not_a_json_object_is_corruption)
{
    const std::vector<std::string> bad = {
        "[1,2]", "[]", "5", R"("text")", "null", "false", "not json", R"({"a":)", R"({"a":1}})", "{}{}",
    };
    for (const auto& stored : bad) {
        BOOST_TEST_CONTEXT("stored '" << stored << "'")
        {
            auto r = apply_payload_patch(stored, R"({"a":1})", patch_mode::merge);
            BOOST_TEST_REQUIRE(!r.has_value());
            BOOST_TEST(is(r.error(), errc::corruption), r.error().message());
            BOOST_TEST(!is(r.error(), errc::invalid_argument));
            r = apply_payload_patch(stored, "{}", patch_mode::merge);
            BOOST_TEST_REQUIRE(!r.has_value());
            BOOST_TEST(is(r.error(), errc::corruption), r.error().message());
        }
    }
}

BOOST_AUTO_TEST_CASE(nested_objects_are_replaced_whole)
{
    const char* stored = R"({"m":{"x":1,"y":2,"deep":{"z":3}},"k":1})";
    json::object o = parsed(applied(stored, R"({"m":{"y":3}})", patch_mode::merge));
    BOOST_TEST(o.size() == 2u);
    BOOST_TEST(o.at("m") == json::parse(R"({"y":3})"));  // not {"x":1,"y":3,"deep":...}
    BOOST_TEST(o.at("k") == json::value(1));
    // A null inside a nested object is a value of that object, not a removal.
    o = parsed(applied(stored, R"({"m":{"x":null}})", patch_mode::merge));
    BOOST_TEST(o.at("m") == json::parse(R"({"x":null})"));
    // An empty nested object stays (it is a value, not a removal).
    o = parsed(applied(stored, R"({"m":{}})", patch_mode::merge));
    BOOST_TEST(o.at("m") == json::parse("{}"));
    // Arrays are replaced whole too.
    o = parsed(applied(R"({"t":[1,2,3]})", R"({"t":[4]})", patch_mode::merge));
    BOOST_TEST(o.at("t") == json::parse("[4]"));
}

BOOST_AUTO_TEST_CASE(numbers_and_strings_round_trip)
{
    const char* stored =
        R"({"big":9007199254740993,"neg":-42,"u":18446744073709551615,"min":-9223372036854775808,)"
        R"("d":0.1,"tiny":-1.5e-300,"huge":1.7976931348623157e308,"zero":0,)"
        R"("s":"caf\u00e9 \"q\" \\ \n\t\u0001 \u2028 \ud83d\ude00","empty":"","arr":[1,"two",3.25,null,true]})";
    const char* patch = R"({"p":123456789012345678,"q":"\u00fcn\u00efc\u00f6de \/ \"x\"","r":-0.0,"f":2.5e-5})";
    std::string out = applied(stored, patch, patch_mode::merge);
    json::object o = parsed(out);
    BOOST_TEST(o.size() == 15u);
    BOOST_TEST_REQUIRE(o.at("big").is_int64());
    BOOST_TEST(o.at("big").as_int64() == std::int64_t{9007199254740993});  // not rounded to a double
    BOOST_TEST(o.at("neg").as_int64() == -42);
    BOOST_TEST_REQUIRE(o.at("u").is_uint64());
    BOOST_TEST(o.at("u").as_uint64() == std::numeric_limits<std::uint64_t>::max());
    BOOST_TEST_REQUIRE(o.at("min").is_int64());
    BOOST_TEST(o.at("min").as_int64() == std::numeric_limits<std::int64_t>::min());
    BOOST_TEST_REQUIRE(o.at("d").is_double());
    BOOST_TEST(o.at("d").as_double() == 0.1);  // exactly the double of 0.1
    BOOST_TEST(o.at("tiny").as_double() == -1.5e-300);
    BOOST_TEST(o.at("huge").as_double() == 1.7976931348623157e308);
    BOOST_TEST(o.at("zero").as_int64() == 0);
    BOOST_TEST(o.at("s").as_string() == "caf\xc3\xa9 \"q\" \\ \n\t\x01 \xe2\x80\xa8 \xf0\x9f\x98\x80");
    BOOST_TEST(o.at("empty").as_string() == "");
    BOOST_TEST(o.at("arr") == json::parse(R"([1,"two",3.25,null,true])"));
    BOOST_TEST(o.at("p").as_int64() == std::int64_t{123456789012345678});
    BOOST_TEST(o.at("q").as_string() == "\xc3\xbcn\xc3\xaf" "c\xc3\xb6" "de / \"x\"");
    BOOST_TEST_REQUIRE(o.at("r").is_double());
    BOOST_TEST(o.at("r").as_double() == 0.0);
    BOOST_TEST(std::signbit(o.at("r").as_double()));
    BOOST_TEST(o.at("f").as_double() == 2.5e-5);
    // Read back and patched again with nothing: the same values (a fixed point).
    BOOST_TEST(parsed(applied(out, "{}", patch_mode::merge)) == o);
    BOOST_TEST(parsed(applied("", out, patch_mode::replace)) == o);
}

// Doubles a patch does not touch keep their exact values, including ones that a fast (not
// correctly rounded) decimal conversion gets wrong: each number of the result, read back with
// strtod (correctly rounded), is the double the stored text meant.
BOOST_AUTO_TEST_CASE(untouched_doubles_keep_their_exact_values)
{
    const std::vector<std::string> numbers = {
        "14755.500343569805", "1.9143322110176086", "0.1", "2.2250738585072014e-308", "4.9406564584124654e-324",
        "9007199254740993.0", "1.7976931348623157e308", "-123456.78901234567", "3.141592653589793", "1e23",
        "8.98846567431158e307", "0.30000000000000004", "5e-324", "2.675", "1.00000000000000011102230246251565",
    };
    for (const auto& text : numbers) {
        BOOST_TEST_CONTEXT(text)
        {
            for (patch_mode mode : {patch_mode::merge, patch_mode::replace}) {
                // merge: the number is stored and left alone; replace: it comes in the patch.
                std::string stored = mode == patch_mode::merge ? "{\"x\":" + text + ",\"s\":\"a\"}" : "";
                std::string patch = mode == patch_mode::merge ? R"({"p":1})" : "{\"x\":" + text + "}";
                std::string out = applied(stored, patch, mode);
                auto at = out.find("\"x\":");
                BOOST_TEST_REQUIRE(at != std::string::npos, out);
                auto end = out.find_first_of(",}", at);
                std::string number = out.substr(at + 4, end - at - 4);
                double got = std::strtod(number.c_str(), nullptr);
                double want = std::strtod(text.c_str(), nullptr);
                BOOST_TEST(std::memcmp(&got, &want, sizeof got) == 0, mode_name(mode) << ": " << text << " came back as " << number);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(the_result_is_compact)
{
    BOOST_TEST(applied("{ \"a\" : 1 ,\n \"b\" : [ 1 , 2 ] ,\t\"c\" : { \"d\" : \"e f\" } }", "{ }", patch_mode::merge) ==
               R"({"a":1,"b":[1,2],"c":{"d":"e f"}})");
    BOOST_TEST(applied("", " {\n \"x\" : [ true , null ] } ", patch_mode::replace) == R"({"x":[true,null]})");
}

BOOST_AUTO_TEST_SUITE_END()
