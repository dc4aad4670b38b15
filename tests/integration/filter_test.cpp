// Filtered search and count against the real server, as a client sees them: answers equal an
// exact filtered scan of the points the test wrote (over flushed segments, upserts, deletes and
// staging rows), stay the same after a restart, and malformed filters are 400 naming the node
// while nothing stored changes.
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

using namespace puffer;
namespace json = boost::json;

namespace {

struct point {
    float x = 0;
    float y = 0;
    std::string color;  // "" when the payload has none
    int n = 0;
    std::vector<std::string> tags;
    std::string lang;  // meta.lang, "" when absent
};

const char* colors[] = {"red", "green", "blue"};

point make_point(int i, int version)
{
    point p;
    p.x = static_cast<float>(i % 37);
    p.y = static_cast<float>(i / 37 + version);
    if (i % 11 != 0) {
        p.color = colors[(i + version) % 3];
    }
    p.n = i;
    if (i % 2 == 0) {
        p.tags.push_back("even");
    }
    if (i % 5 == 0) {
        p.tags.push_back("five");
    }
    if (i % 4 == 1) {
        p.lang = i % 8 == 1 ? "en" : "de";
    }
    return p;
}

std::string point_json(const std::string& id, const point& p)
{
    json::object payload;
    if (!p.color.empty()) {
        payload["color"] = p.color;
    }
    payload["n"] = p.n;
    json::array tags;
    for (const auto& t : p.tags) {
        tags.emplace_back(t);
    }
    payload["tags"] = std::move(tags);
    if (!p.lang.empty()) {
        payload["meta"] = json::object{{"lang", p.lang}};
    }
    json::object o{{"id", id}, {"vector", json::array{p.x, p.y}}, {"payload", std::move(payload)}};
    return json::serialize(o);
}

struct filter_case {
    std::string text;
    std::function<bool(const std::string&, const point&)> match;
};

bool has_tag(const point& p, const std::string& t)
{
    return std::find(p.tags.begin(), p.tags.end(), t) != p.tags.end();
}

std::vector<filter_case> cases()
{
    return {
        {R"({"eq":["color","red"]})", [](const std::string&, const point& p) { return p.color == "red"; }},
        {R"({"ne":["color","red"]})",
         [](const std::string&, const point& p) { return !p.color.empty() && p.color != "red"; }},
        {R"({"not":{"eq":["color","red"]}})", [](const std::string&, const point& p) { return p.color != "red"; }},
        {R"({"and":[{"range":["n",{"gte":100,"lt":300}]},{"contains":["tags","five"]}]})",
         [](const std::string&, const point& p) { return p.n >= 100 && p.n < 300 && has_tag(p, "five"); }},
        {R"({"or":[{"eq":["meta.lang","en"]},{"in":["n",[3,4,500]]}]})",
         [](const std::string&, const point& p) { return p.lang == "en" || p.n == 3 || p.n == 4 || p.n == 500; }},
        {R"({"not":{"exists":"color"}})", [](const std::string&, const point& p) { return p.color.empty(); }},
        {R"({"nin":["color",["red","blue"]]})", [](const std::string&, const point& p) { return p.color == "green"; }},
        {R"({"contains_any":["tags",["five","none"]]})",
         [](const std::string&, const point& p) { return has_tag(p, "five"); }},
        {R"({"in":["id",["p7","p8","p9","gone"]]})",
         [](const std::string& id, const point&) { return id == "p7" || id == "p8" || id == "p9"; }},
        {R"({"range":["color",{"gt":"blue","lte":"red"}]})",
         [](const std::string&, const point& p) { return p.color == "green" || p.color == "red"; }},
        {R"({"eq":["n","7"]})", [](const std::string&, const point&) { return false; }},  // another kind
        {R"({"eq":["missing","x"]})", [](const std::string&, const point&) { return false; }},
    };
}

// The squared L2 distances of the exact top_k of the live points matching c, ascending.
std::vector<double> exact_top(const std::map<std::string, point>& live, const filter_case& c, float qx, float qy,
                              std::size_t top_k)
{
    std::vector<double> d;
    for (const auto& [id, p] : live) {
        if (c.match(id, p)) {
            d.push_back((p.x - qx) * (p.x - qx) + (p.y - qy) * (p.y - qy));
        }
    }
    std::sort(d.begin(), d.end());
    d.resize(std::min(d.size(), top_k));
    return d;
}

std::size_t count_of(const std::map<std::string, point>& live, const filter_case& c)
{
    std::size_t n = 0;
    for (const auto& [id, p] : live) {
        n += c.match(id, p) ? 1 : 0;
    }
    return n;
}

// Every case: search answers equal the exact scan (scores, and each hit matches), counts equal.
void check_all(net::http_client& c, const std::map<std::string, point>& live)
{
    const std::size_t top_k = 15;
    for (const auto& fc : cases()) {
        for (auto [qx, qy] : {std::pair{10.0f, 5.0f}, std::pair{30.0f, 12.0f}}) {
            std::string body = R"({"vector":[)" + std::to_string(qx) + "," + std::to_string(qy) +
                               R"(],"top_k":15,"nprobe":1000000,"include_payload":true,"filter":)" + fc.text + "}";
            auto r = c.request("POST", "/v1/collections/f/search", body);
            BOOST_TEST_REQUIRE(r.has_value());
            BOOST_TEST_REQUIRE(r->status == 200u, fc.text << ": " << r->body);
            json::value v = json::parse(r->body);
            const auto& results = v.at("results").as_array();
            std::vector<double> want = exact_top(live, fc, qx, qy, top_k);
            BOOST_TEST_REQUIRE(results.size() == want.size(), fc.text << ": " << r->body);
            for (std::size_t i = 0; i < results.size(); ++i) {
                std::string id(results[i].at("id").as_string());
                auto it = live.find(id);
                BOOST_TEST_REQUIRE((it != live.end()), fc.text << ": " << id << " is not live");
                BOOST_TEST(fc.match(id, it->second), fc.text << ": " << id << " does not match");
                BOOST_TEST(results[i].at("score").to_number<double>() == want[i], fc.text << " hit " << i);
            }
            const auto& stats = v.at("stats").as_object();
            BOOST_TEST(stats.at("matches").to_number<double>() == static_cast<double>(count_of(live, fc)), fc.text);
            BOOST_TEST(stats.contains("exhaustive"));
        }
        auto n = c.request("POST", "/v1/collections/f/points/count", R"({"filter":)" + fc.text + "}");
        BOOST_TEST_REQUIRE(n->status == 200u, n->body);
        BOOST_TEST(json::parse(n->body).at("count").to_number<double>() == static_cast<double>(count_of(live, fc)),
                   fc.text);
    }
    auto all = c.request("POST", "/v1/collections/f/points/count", "");
    BOOST_TEST_REQUIRE(all->status == 200u, all->body);
    BOOST_TEST(json::parse(all->body).at("count").to_number<double>() == static_cast<double>(live.size()));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(filter_suite)

BOOST_AUTO_TEST_CASE(filtered_search_and_count_equal_an_exact_scan_before_and_after_a_restart)
{
    test::temp_dir dir;
    std::map<std::string, point> live;
    const std::vector<std::string> args = {"--flush-threshold", "150", "--idle-flush-ms", "0"};
    {
        test::server_process server(dir.file("data"), args);
        auto c = server.client();
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections", R"({"name":"f","dimension":2})")->status == 201u);
        // 700 points in batches: several flushed segments, then upserts, deletes, staging rows.
        for (int first = 0; first < 700; first += 50) {
            std::string body = R"({"points":[)";
            for (int i = first; i < first + 50; ++i) {
                point p = make_point(i, 0);
                std::string id = "p" + std::to_string(i);
                body += (i > first ? "," : "") + point_json(id, p);
                live[id] = p;
            }
            BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/f/points", body + "]}")->status == 200u);
        }
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/f/flush")->status == 200u);
        std::string upserts = R"({"points":[)";
        for (int i = 0; i < 700; i += 9) {
            point p = make_point(i, 1);
            std::string id = "p" + std::to_string(i);
            upserts += (i > 0 ? "," : "") + point_json(id, p);
            live[id] = p;
        }
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/f/points", upserts + "]}")->status == 200u);
        std::string deletes = R"({"ids":[)";
        for (int i = 1; i < 700; i += 13) {
            deletes += (i > 1 ? "," : "") + std::string("\"p") + std::to_string(i) + "\"";
            live.erase("p" + std::to_string(i));
        }
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/f/points/delete", deletes + "]}")->status == 200u);
        auto stats = json::parse(c.request("GET", "/v1/collections/f/stats")->body);
        // Flushed segments (a compaction may have merged them by now), and rows in staging.
        BOOST_TEST(stats.at("segments").to_number<double>() >= 1);
        BOOST_TEST(stats.at("staging_vectors").to_number<double>() > 0);
        check_all(c, live);

        // Malformed filters: 400 naming the node; nothing changes.
        const std::pair<const char*, const char*> bad[] = {
            {R"({"eq":["color"]})", "filter.eq"},
            {R"({"and":[{"eq":["color","red"]},{"bogus":1}]})", "filter.and[1]"},
            {R"({"eq":["color","red"],"ne":["color","x"]})", "filter"},
            {R"({"range":["n",{"gt":1,"gte":2}]})", "filter.range[1].gte"},
            {R"({"in":["n",{}]})", "filter.in[1]"},
        };
        for (const auto& [f, where] : bad) {
            auto r = c.request("POST", "/v1/collections/f/search", R"({"vector":[1,1],"filter":)" + std::string(f) + "}");
            BOOST_TEST(r->status == 400u, f);
            BOOST_TEST(r->body.find(std::string("\"") + where) != std::string::npos, f << ": " << r->body);
            auto n = c.request("POST", "/v1/collections/f/points/count", R"({"filter":)" + std::string(f) + "}");
            BOOST_TEST(n->status == 400u, f);
        }
        auto n = c.request("POST", "/v1/collections/f/points/count", R"({"filtre":{}})");
        BOOST_TEST(n->status == 400u);
        BOOST_TEST(server.stop() == 0);
    }
    // Recovered (segments from their files, the rest replayed from the WAL): the same answers.
    test::server_process server(dir.file("data"), args);
    auto c = server.client();
    check_all(c, live);
    // And a batch holding filtered searches answers each like a search of its own.
    auto r = c.request("POST", "/v1/collections/f/search/batch",
                       R"({"searches":[{"vector":[10,5],"top_k":3,"filter":{"eq":["color","red"]}},)"
                       R"({"vector":[10,5],"top_k":3}]})");
    BOOST_TEST_REQUIRE(r->status == 200u, r->body);
    json::value v = json::parse(r->body);
    auto one = c.request("POST", "/v1/collections/f/search",
                         R"({"vector":[10,5],"top_k":3,"filter":{"eq":["color","red"]}})");
    BOOST_TEST(json::serialize(v.at("results").as_array()[0]) == json::serialize(json::parse(one->body).at("results")));
}

BOOST_AUTO_TEST_SUITE_END()
