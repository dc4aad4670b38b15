// Reading data back and writes that choose points by filter, against the real server as a client
// sees them: scroll pages give every point once with its exact vector and payload; delete and
// patch by filter change exactly the points a count with the filter counts, and nothing when the
// request is bad; `puffer-cli export` then `import` rebuilds an identical collection; and all of
// it holds after a restart (the delete and patch were logged as what they chose).
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace puffer;
namespace json = boost::json;

namespace {

struct stored {
    std::vector<double> vector;
    std::string payload;  // serialized, "null" when none
};

// Every point of collection name, by scrolling pages of `limit`: each id must come once, in
// ascending byte order.
std::map<std::string, stored> scroll_all(net::http_client& c, const std::string& name, std::size_t limit,
                                         const std::string& filter = {})
{
    std::map<std::string, stored> out;
    std::string cursor;
    std::string last;
    for (int pages = 0; pages < 100000; ++pages) {
        std::string body = "{\"limit\":" + std::to_string(limit) + ",\"include_vector\":true";
        if (!cursor.empty()) {
            body += ",\"cursor\":" + json::serialize(json::value(cursor));
        }
        if (!filter.empty()) {
            body += ",\"filter\":" + filter;
        }
        auto r = c.request("POST", "/v1/collections/" + name + "/points/scroll", body + "}");
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST_REQUIRE(r->status == 200u, r->body);
        json::value v = json::parse(r->body);
        const auto& points = v.at("points").as_array();
        BOOST_TEST_REQUIRE(points.size() <= limit);
        for (const auto& p : points) {
            std::string id(p.at("id").as_string());
            BOOST_TEST_REQUIRE((id > last), "ids out of order: '" << id << "' after '" << last << "'");
            last = id;
            stored s;
            for (const auto& x : p.at("vector").as_array()) {
                s.vector.push_back(x.to_number<double>());
            }
            s.payload = json::serialize(p.at("payload"));
            BOOST_TEST_REQUIRE(out.emplace(id, s).second, "'" << id << "' twice");
        }
        if (v.at("next_cursor").is_null()) {
            return out;
        }
        BOOST_TEST_REQUIRE(!points.empty());
        cursor = std::string(v.at("next_cursor").as_string());
        BOOST_TEST(cursor == last);
    }
    BOOST_FAIL("the scroll does not end");
    return out;
}

double count_of(net::http_client& c, const std::string& name, const std::string& filter)
{
    auto r = c.request("POST", "/v1/collections/" + name + "/points/count", "{\"filter\":" + filter + "}");
    BOOST_TEST_REQUIRE(r->status == 200u, r->body);
    return json::parse(r->body).at("count").to_number<double>();
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// puffer-cli export of a collection into path; its exit code.
int export_to(const test::server_process& server, const std::string& name, const std::string& path,
              const std::string& extra = {})
{
    std::string out;
    int code = test::run_command({"/bin/sh", "-c",
                                  test::cli_binary() + " --server " + server.url() + " export --collection " + name +
                                      " --page-size 97 " + extra + " > " + path},
                                 out);
    BOOST_TEST_MESSAGE(out);
    return code;
}

const char* colors[] = {"red", "green", "blue"};

}  // namespace

BOOST_AUTO_TEST_SUITE(read_api_suite)

BOOST_AUTO_TEST_CASE(scroll_get_delete_and_patch_by_filter_and_export_round_trip_survive_a_restart)
{
    test::temp_dir dir;
    std::map<std::string, stored> want;  // the model: id -> vector, payload
    const std::vector<std::string> args = {"--flush-threshold", "150", "--idle-flush-ms", "0"};
    std::string before_restart;
    {
        test::server_process server(dir.file("data"), args);
        auto c = server.client();
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections", R"({"name":"r","dimension":3})")->status == 201u);
        // 600 points (several segments), then replacements and deletes, some rows in staging.
        auto write = [&](int i, int version) {
            std::string id = "p" + std::to_string(i);
            stored s;
            s.vector = {i * 0.5, -1.25 * version, i % 7 + 0.125};
            json::object payload;
            if (i % 10 != 0) {
                payload["color"] = colors[(i + version) % 3];
                payload["n"] = i;
                if (i % 3 == 0) {
                    payload["lang"] = i % 2 == 0 ? "en" : "de";
                }
                s.payload = json::serialize(payload);
            } else {
                s.payload = "null";
            }
            want[id] = s;
            json::object p;
            p["id"] = id;
            p["vector"] = json::array{s.vector[0], s.vector[1], s.vector[2]};
            if (i % 10 != 0) {
                p["payload"] = payload;
            }
            return json::serialize(p);
        };
        for (int first = 0; first < 600; first += 60) {
            std::string body = R"({"points":[)";
            for (int i = first; i < first + 60; ++i) {
                body += (i > first ? "," : "") + write(i, 0);
            }
            BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/r/points", body + "]}")->status == 200u);
        }
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/r/flush")->status == 200u);
        std::string body = R"({"points":[)";
        for (int i = 0; i < 600; i += 7) {
            body += (i > 0 ? "," : "") + write(i, 1);
        }
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/r/points", body + "]}")->status == 200u);
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/r/points/delete", R"({"ids":["p1","p2","p3"]})")->status ==
                           200u);
        want.erase("p1");
        want.erase("p2");
        want.erase("p3");
        BOOST_TEST(json::parse(c.request("GET", "/v1/collections/r/stats")->body).at("staging_vectors").to_number<double>() > 0);

        // Scroll in pages of several sizes: every point once, vectors and payloads exact.
        for (std::size_t limit : {1u, 37u, 10000u}) {
            auto all = scroll_all(c, "r", limit);
            BOOST_TEST_REQUIRE(all.size() == want.size());
            for (const auto& [id, s] : want) {
                BOOST_TEST_REQUIRE(all.count(id) == 1u, id);
                BOOST_TEST(all[id].payload == s.payload, id);
                BOOST_TEST((all[id].vector == s.vector), id);
            }
        }
        // A filtered scroll gives what the filter counts.
        auto red = scroll_all(c, "r", 50, R"({"eq":["color","red"]})");
        BOOST_TEST(static_cast<double>(red.size()) == count_of(c, "r", R"({"eq":["color","red"]})"));

        // Get by id: order asked, missing listed; GET one point.
        auto g = c.request("POST", "/v1/collections/r/points/get", R"({"ids":["p14","p1","p4"],"include_vector":true})");
        BOOST_TEST_REQUIRE(g->status == 200u, g->body);
        json::value gv = json::parse(g->body);
        BOOST_TEST(gv.at("points").as_array().size() == 2u);
        BOOST_TEST(gv.at("points").as_array()[0].at("id").as_string() == "p14");
        BOOST_TEST(json::serialize(gv.at("points").as_array()[0].at("payload")) == want["p14"].payload);
        BOOST_TEST(json::serialize(gv.at("missing")) == R"(["p1"])");
        auto one = c.request("GET", "/v1/collections/r/points/p5");
        BOOST_TEST_REQUIRE(one->status == 200u, one->body);
        BOOST_TEST(json::serialize(json::parse(one->body).at("payload")) == want["p5"].payload);
        BOOST_TEST(c.request("GET", "/v1/collections/r/points/p1")->status == 404u);

        // Delete by filter: exactly what the count counted, then none match.
        const std::string blue = R"({"and":[{"eq":["color","blue"]},{"range":["n",{"lt":300}]}]})";
        double n_blue = count_of(c, "r", blue);
        BOOST_TEST_REQUIRE(n_blue > 10);
        auto d = c.request("POST", "/v1/collections/r/points/delete", "{\"filter\":" + blue + "}");
        BOOST_TEST_REQUIRE(d->status == 200u, d->body);
        BOOST_TEST(json::parse(d->body).at("deleted").to_number<double>() == n_blue);
        BOOST_TEST(count_of(c, "r", blue) == 0);
        for (auto it = want.begin(); it != want.end();) {
            if (it->second.payload != "null") {
                json::object p = json::parse(it->second.payload).as_object();
                if (p.at("color").as_string() == "blue" && p.at("n").to_number<double>() < 300) {
                    it = want.erase(it);
                    continue;
                }
            }
            ++it;
        }

        // Patch by filter (merge: set one field, remove another) and by ids (replace).
        const std::string has_lang = R"({"exists":"lang"})";
        double n_lang = count_of(c, "r", has_lang);
        BOOST_TEST_REQUIRE(n_lang > 10);
        auto p = c.request("POST", "/v1/collections/r/points/payload",
                           "{\"filter\":" + has_lang + R"(,"payload":{"lang":null,"patched":true}})");
        BOOST_TEST_REQUIRE(p->status == 200u, p->body);
        BOOST_TEST(json::parse(p->body).at("updated").to_number<double>() == n_lang);
        BOOST_TEST(count_of(c, "r", has_lang) == 0);
        BOOST_TEST(count_of(c, "r", R"({"eq":["patched",true]})") == n_lang);
        for (auto& [id, s] : want) {
            if (s.payload != "null" && json::parse(s.payload).as_object().contains("lang")) {
                json::object o = json::parse(s.payload).as_object();
                o.erase("lang");
                o["patched"] = true;
                s.payload = json::serialize(o);
            }
        }
        auto r = c.request("POST", "/v1/collections/r/points/payload",
                           R"({"ids":["p10","p12","nope"],"payload":{"k":1},"mode":"replace"})");
        BOOST_TEST_REQUIRE(r->status == 200u, r->body);
        BOOST_TEST(json::parse(r->body).at("updated").to_number<double>() == 2);
        want["p10"].payload = R"({"k":1})";
        want["p12"].payload = R"({"k":1})";

        // Bad requests: 400, and nothing changes.
        std::string snapshot = dir.file("before-bad.jsonl");
        BOOST_TEST_REQUIRE(export_to(server, "r", snapshot) == 0);
        const std::pair<const char*, const char*> bad[] = {
            {"/points/payload", R"({"ids":["p5"],"payload":[1]})"},
            {"/points/payload", R"({"ids":["p5"],"filter":{"exists":"n"},"payload":{}})"},
            {"/points/payload", R"({"filter":{"exists":"n"},"payload":{"a":1},"mode":"deep"})"},
            {"/points/payload", R"({"filter":{"eq":["n"]},"payload":{"a":1}})"},
            {"/points/delete", R"({"filter":{"bogus":1}})"},
            {"/points/delete", R"({})"},
            {"/points/scroll", R"({"limit":0})"},
            {"/points/scroll", R"({"cursor":5})"},
            {"/points/get", R"({"ids":[]})"},
        };
        for (const auto& [path, b] : bad) {
            auto e = c.request("POST", std::string("/v1/collections/r") + path, b);
            BOOST_TEST(e->status == 400u, path << " " << b << ": " << e->body);
        }
        std::string after_bad = dir.file("after-bad.jsonl");
        BOOST_TEST_REQUIRE(export_to(server, "r", after_bad) == 0);
        BOOST_TEST(read_file(snapshot) == read_file(after_bad));

        // The model, as seen now.
        auto all = scroll_all(c, "r", 100);
        BOOST_TEST_REQUIRE(all.size() == want.size());
        for (const auto& [id, s] : want) {
            BOOST_TEST(all[id].payload == s.payload, id);
            BOOST_TEST((all[id].vector == s.vector), id);
        }

        // Export, import into a new collection, export again: the same bytes.
        std::string a = dir.file("a.jsonl");
        BOOST_TEST_REQUIRE(export_to(server, "r", a) == 0);
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections", R"({"name":"copy","dimension":3})")->status == 201u);
        std::string out;
        BOOST_TEST_REQUIRE(test::run_command({test::cli_binary(), "--server", server.url(), "import", "--collection",
                                              "copy", "--file", a, "--batch-size", "64"},
                                             out) == 0,
                           out);
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/copy/flush")->status == 200u);
        std::string b = dir.file("b.jsonl");
        BOOST_TEST_REQUIRE(export_to(server, "copy", b) == 0);
        before_restart = read_file(a);
        BOOST_TEST(std::count(before_restart.begin(), before_restart.end(), '\n') == static_cast<long>(want.size()));
        BOOST_TEST(before_restart == read_file(b));
        // A filtered export holds what the filter counts.
        std::string f = dir.file("f.jsonl");
        BOOST_TEST_REQUIRE(export_to(server, "r", f, "--filter '{\"eq\":[\"patched\",true]}'") == 0);
        std::string fs = read_file(f);
        BOOST_TEST(static_cast<double>(std::count(fs.begin(), fs.end(), '\n')) ==
                   count_of(c, "r", R"({"eq":["patched",true]})"));
        BOOST_TEST(count_of(c, "r", R"({"eq":["patched",true]})") == n_lang - 1);  // p12 was replaced
        BOOST_TEST(server.stop() == 0);
    }
    // Recovered: segments from their files, the rest (the delete by filter and the patches among
    // it) replayed from the log: the same points.
    test::server_process server(dir.file("data"), args);
    std::string after = dir.file("after.jsonl");
    BOOST_TEST_REQUIRE(export_to(server, "r", after) == 0);
    BOOST_TEST(read_file(after) == before_restart);
}

BOOST_AUTO_TEST_CASE(cli_commands_for_points_as_a_user_types_them)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"));
    const std::string cli = test::cli_binary();
    auto run = [&](std::vector<std::string> args, std::string& out) {
        args.insert(args.begin(), {cli, "--server", server.url()});
        return test::run_command(args, out);
    };
    std::string out;
    BOOST_TEST_REQUIRE(run({"create-collection", "--name", "c", "--dimension", "2", "--unindexed-fields", "body"}, out) == 0,
                       out);
    {
        std::ofstream f(dir.file("in.jsonl"));
        f << R"({"id":"a","vector":[1,0],"payload":{"k":"x","n":1,"body":"long text"}})" << "\n"
          << R"({"id":"b","vector":[0,1],"payload":{"k":"y","n":2}})" << "\n"
          << R"({"id":"c","vector":[1,1],"payload":{"k":"x","n":3.25}})" << "\n";
    }
    BOOST_TEST_REQUIRE(run({"import", "--collection", "c", "--file", dir.file("in.jsonl")}, out) == 0, out);
    BOOST_TEST_REQUIRE(run({"count", "--collection", "c", "--filter", R"({"eq":["k","x"]})"}, out) == 0, out);
    BOOST_TEST(out.find(R"({"count":2})") != std::string::npos, out);
    BOOST_TEST(run({"count", "--collection", "c", "--filter", R"({"exists":"body"})"}, out) == 1, out);
    BOOST_TEST(out.find("not indexed") != std::string::npos, out);
    BOOST_TEST(run({"count", "--collection", "c", "--filter", "{not json"}, out) == 2, out);
    BOOST_TEST_REQUIRE(run({"patch", "--collection", "c", "--filter", R"({"eq":["k","x"]})", "--payload", R"({"k":"z","n":null})"},
                           out) == 0,
                       out);
    BOOST_TEST(out.find(R"({"updated":2})") != std::string::npos, out);
    BOOST_TEST_REQUIRE(run({"get", "--collection", "c", "--ids", "a,missing", "--include-vector"}, out) == 0, out);
    BOOST_TEST(out.find(R"("payload":{"k":"z","body":"long text"})") != std::string::npos, out);
    BOOST_TEST(out.find(R"("missing":["missing"])") != std::string::npos, out);
    BOOST_TEST(run({"patch", "--collection", "c", "--ids", "a", "--filter", "{}", "--payload", "{}"}, out) == 2, out);
    BOOST_TEST_REQUIRE(run({"delete-points", "--collection", "c", "--filter", R"({"eq":["k","z"]})"}, out) == 0, out);
    BOOST_TEST(out.find(R"({"deleted":2})") != std::string::npos, out);
    BOOST_TEST_REQUIRE(export_to(server, "c", dir.file("out.jsonl")) == 0);
    BOOST_TEST(read_file(dir.file("out.jsonl")) == std::string(R"({"id":"b","vector":[0E0,1E0],"payload":{"k":"y","n":2}})") + "\n");
}

BOOST_AUTO_TEST_SUITE_END()
