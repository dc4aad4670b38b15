// Filters from JSON: every malformed class is invalid_argument naming the bad node's path, and
// valid filters decode to what they say (their compact text).
#include "engine/core/result.hpp"
#include "net/filter_decoding.hpp"
#include "net/request_decoding.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <string>

using namespace puffer;
namespace json = boost::json;

namespace {

result<std::shared_ptr<const index::filter>> decode(const std::string& text)
{
    json::parse_options deep;
    deep.max_depth = 200;
    return net::parse_filter(json::parse(text, {}, deep), "filter");
}

void refused(const std::string& text, const std::string& where)
{
    auto r = decode(text);
    BOOST_TEST_REQUIRE(!r.has_value(), text);
    BOOST_TEST(is(r.error(), errc::invalid_argument), text);
    BOOST_TEST(r.error().message().rfind(where + ": ", 0) == 0, text << " -> " << r.error().message());
}

std::string nested(const char* op, int levels)
{
    std::string s = R"({"eq":["a",1]})";
    for (int i = 0; i < levels; ++i) {
        s = std::string(op) == "not" ? R"({"not":)" + s + "}" : R"({"and":[)" + s + "]}";
    }
    return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(filter_json_suite)

BOOST_AUTO_TEST_CASE(every_malformed_class_names_its_node)
{
    refused(R"([1])", "filter");
    refused(R"("eq")", "filter");
    refused(R"({})", "filter");
    refused(R"({"eq":["a",1],"ne":["a",2]})", "filter");
    refused(R"({"like":["a","b"]})", "filter");
    refused(R"({"and":[]})", "filter.and");
    refused(R"({"or":{"eq":["a",1]}})", "filter.or");
    refused(R"({"and":[{"eq":["a",1]},{"bogus":1}]})", "filter.and[1]");
    refused(R"({"eq":["a"]})", "filter.eq");
    refused(R"({"eq":["a",1,2]})", "filter.eq");
    refused(R"({"eq":[1,1]})", "filter.eq[0]");
    refused(R"({"eq":["",1]})", "filter.eq[0]");
    refused(R"({"eq":["a",{"x":1}]})", "filter.eq[1]");
    refused(R"({"eq":["a",[1]]})", "filter.eq[1]");
    refused(R"({"eq":["a",null]})", "filter.eq[1]");
    refused(R"({"in":["a",1]})", "filter.in[1]");
    refused(R"({"in":["a",[]]})", "filter.in[1]");
    refused(R"({"nin":["a",[1,{}]]})", "filter.nin[1][1]");
    std::string many = R"({"in":["a",[)";
    for (int i = 0; i <= 1024; ++i) {
        many += (i ? "," : "") + std::to_string(i);
    }
    refused(many + "]]}", "filter.in[1]");
    refused(R"({"range":["a",{}]})", "filter.range[1]");
    refused(R"({"range":["a",5]})", "filter.range[1]");
    refused(R"({"range":["a",{"gt":1,"between":2}]})", "filter.range[1].between");
    refused(R"({"range":["a",{"gt":1,"gte":2}]})", "filter.range[1].gte");
    refused(R"({"range":["a",{"lt":1,"lte":2}]})", "filter.range[1].lte");
    refused(R"({"range":["a",{"gt":true}]})", "filter.range[1].gt");
    refused(R"({"range":["a",{"gt":1,"lt":"b"}]})", "filter.range[1]");
    refused(R"({"exists":5})", "filter.exists");
    refused(R"({"not":[{"eq":["a",1]}]})", "filter.not");
    refused(R"({"contains_any":["t","x"]})", "filter.contains_any[1]");
    // 32 levels are fine, 33 are not: "not" chains and "and" chains.
    BOOST_TEST(decode(nested("not", 31)).has_value());
    BOOST_TEST(decode(nested("and", 31)).has_value());
    refused(nested("not", 32), "filter" + [] {
        std::string p;
        for (int i = 0; i < 32; ++i) {
            p += ".not";
        }
        return p;
    }());
    auto deep = decode(nested("and", 32));
    BOOST_TEST_REQUIRE(!deep.has_value());
    BOOST_TEST(deep.error().message().find("at most 32 levels") != std::string::npos, deep.error().message());
    // More than 1,024 expressions.
    std::string wide = R"({"or":[)";
    for (int i = 0; i < 1100; ++i) {
        wide += (i ? "," : "") + std::string(R"({"eq":["a",1]})");
    }
    refused(wide + "]}", "filter.or[1023]");
}

BOOST_AUTO_TEST_CASE(valid_filters_decode_to_what_they_say)
{
    const char* texts[] = {
        R"({"and":[{"eq":["color","red"]},{"not":{"exists":"meta.lang"}}]})",
        R"({"or":[{"in":["n",[1,2.5,-3]]},{"nin":["s",["a","b"]]},{"ne":["flag",true]}]})",
        R"({"range":["n",{"gte":1,"lt":2}]})",
        R"({"range":["s",{"gt":"a"}]})",
        R"({"contains":["tags","x"]})",
        R"({"contains_any":["tags",["x",false]]})",
        R"({"eq":["id","p7"]})",
    };
    for (const char* t : texts) {
        auto f = decode(t);
        BOOST_TEST_REQUIRE(f.has_value(), t << ": " << f.error().message());
        BOOST_TEST_REQUIRE(*f != nullptr);
        BOOST_TEST(json::parse(index::describe(**f)) == json::parse(t), t << " -> " << index::describe(**f));
    }
    auto none = net::parse_filter(json::value(nullptr), "filter");
    BOOST_TEST_REQUIRE(none.has_value());
    BOOST_TEST(*none == nullptr);
}

BOOST_AUTO_TEST_CASE(searches_and_counts_carry_their_filter_and_prefix_its_path)
{
    auto s = net::parse_search(R"({"vector":[1,2],"filter":{"eq":["a","b"]}})");
    BOOST_TEST_REQUIRE(s.has_value());
    BOOST_TEST_REQUIRE(s->filter != nullptr);
    auto batch = net::parse_search_batch(R"({"searches":[{"vector":[1]},{"vector":[1],"filter":{"eq":["a"]}}]})");
    BOOST_TEST_REQUIRE(!batch.has_value());
    BOOST_TEST(batch.error().message().rfind("searches[1].filter.eq: ", 0) == 0, batch.error().message());
    auto empty = net::parse_count("");
    BOOST_TEST_REQUIRE(empty.has_value());
    BOOST_TEST(*empty == nullptr);
    BOOST_TEST(!net::parse_count(R"({"where":{}})").has_value());
    BOOST_TEST(!net::parse_count(R"([])").has_value());
    auto c = net::parse_count(R"({"filter":{"exists":"x"}})");
    BOOST_TEST_REQUIRE(c.has_value());
    BOOST_TEST(*c != nullptr);
}

BOOST_AUTO_TEST_SUITE_END()
