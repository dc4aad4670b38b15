// puffer-server as a client sees it: the real binary on 127.0.0.1 with a free port and a
// temporary data directory. Every endpoint; every error class with its status and envelope; a
// batch with one bad point stored not at all; graceful restart and kill -9 keep every
// acknowledged point; concurrent clients on collections of different shards (which shard each
// lands on pinned to the FNV-1a rule); the seed README's curl bodies and CLI commands as written;
// option precedence: command line, then environment, then config file.
#include "engine/db/database.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <random>
#include <set>
#include <thread>

namespace json = boost::json;
using namespace puffer;

namespace {

struct reply {
    unsigned status = 0;
    json::value body;
    std::string raw;
    std::string allow;
    std::string retry_after;
};

reply send(net::http_client& c, std::string_view method, std::string_view target, std::string_view body = {})
{
    auto r = c.request(method, target, body);
    BOOST_TEST_REQUIRE(r.has_value(), "request failed: " << (r ? "" : r.error().message()));
    reply out;
    out.status = r->status;
    out.raw = r->body;
    out.allow = r->header("allow");
    out.retry_after = r->header("retry-after");
    boost::system::error_code ec;
    out.body = json::parse(r->body, ec);
    BOOST_TEST_REQUIRE(!ec, "response is not JSON: " << r->body);
    return out;
}

// Asserts status and, for errors, the envelope with the code and a message containing needle.
void expect_error(const reply& r, unsigned status, std::string_view code, std::string_view needle = {})
{
    BOOST_TEST(r.status == status, "body: " << r.raw);
    const json::object* o = r.body.if_object();
    BOOST_TEST_REQUIRE(o != nullptr);
    const json::value* e = o->if_contains("error");
    BOOST_TEST_REQUIRE(e != nullptr, "no error envelope: " << r.raw);
    BOOST_TEST(std::string(e->at("code").as_string()) == code, r.raw);
    std::string message(e->at("message").as_string());
    BOOST_TEST(!message.empty());
    if (!needle.empty()) {
        BOOST_TEST(message.find(needle) != std::string::npos, "message '" << message << "' lacks '" << needle << "'");
    }
}

std::string vec(std::size_t d, float base)
{
    std::string s = "[";
    for (std::size_t j = 0; j < d; ++j) {
        s += (j ? "," : "") + std::to_string(base + static_cast<float>(j % 7));
    }
    return s + "]";
}

std::string points(const std::string& prefix, std::size_t first, std::size_t n, std::size_t d, bool payload = false)
{
    std::string s = "{\"points\":[";
    for (std::size_t i = first; i < first + n; ++i) {
        s += (i == first ? "" : ",");
        s += "{\"id\":\"" + prefix + std::to_string(i) + "\",\"vector\":" + vec(d, static_cast<float>(i));
        if (payload) {
            s += ",\"payload\":{\"n\":" + std::to_string(i) + "}";
        }
        s += "}";
    }
    return s + "]}";
}

std::size_t points_of(net::http_client& c, const std::string& name)
{
    reply r = send(c, "GET", "/v1/collections/" + name + "/stats");
    BOOST_TEST_REQUIRE(r.status == 200u, r.raw);
    return static_cast<std::size_t>(r.body.at("points").to_number<double>());
}

std::set<std::string> all_ids(net::http_client& c, const std::string& name, std::size_t d)
{
    reply r = send(c, "POST", "/v1/collections/" + name + "/search",
                   "{\"vector\":" + vec(d, 0) + ",\"top_k\":1000,\"nprobe\":100000}");
    BOOST_TEST_REQUIRE(r.status == 200u, r.raw);
    std::set<std::string> ids;
    for (const auto& h : r.body.at("results").as_array()) {
        BOOST_TEST(ids.insert(std::string(h.at("id").as_string())).second, "duplicate id in results");
    }
    return ids;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(server_suite)

BOOST_AUTO_TEST_CASE(every_endpoint_round_trip)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"));
    auto c = server.client();

    reply h = send(c, "GET", "/healthz");
    BOOST_TEST(h.status == 200u);
    BOOST_TEST(std::string(h.body.at("status").as_string()) == "ok");

    reply created = send(c, "POST", "/v1/collections", R"({"name":"docs","dimension":4,"metric":"cosine"})");
    BOOST_TEST(created.status == 201u, created.raw);
    BOOST_TEST(std::string(created.body.at("name").as_string()) == "docs");
    BOOST_TEST(std::string(created.body.at("metric").as_string()) == "cosine");

    reply list = send(c, "GET", "/v1/collections");
    BOOST_TEST(list.status == 200u);
    BOOST_TEST(list.body.at("collections").as_array().size() == 1u);

    reply up = send(c, "POST", "/v1/collections/docs/points",
                    R"({"points":[{"id":"a","vector":[1,0,0,0],"payload":{"title":"A","tags":["x"]}},
                                 {"id":"b","vector":[0,1,0,0]},
                                 {"id":7,"vector":[0.9,0.1,0,0],"payload":{"n":7}}]})");
    BOOST_TEST(up.status == 200u, up.raw);
    BOOST_TEST(up.body.at("upserted").to_number<double>() == 3);

    reply s = send(c, "POST", "/v1/collections/docs/search", R"({"vector":[1,0,0,0],"top_k":2,"include_payload":true})");
    BOOST_TEST_REQUIRE(s.status == 200u, s.raw);
    const auto& results = s.body.at("results").as_array();
    BOOST_TEST_REQUIRE(results.size() == 2u);
    BOOST_TEST(std::string(results[0].at("id").as_string()) == "a");
    BOOST_TEST(results[0].at("score").to_number<double>() == 1.0, boost::test_tools::tolerance(1e-6));
    BOOST_TEST(std::string(results[0].at("payload").at("title").as_string()) == "A");
    BOOST_TEST(std::string(results[1].at("id").as_string()) == "7");
    BOOST_TEST(results[1].at("payload").at("n").to_number<double>() == 7);
    reply plain = send(c, "POST", "/v1/collections/docs/search", R"({"vector":[1,0,0,0]})");
    BOOST_TEST(plain.body.at("results").as_array().size() == 3u);  // top_k defaults to 10
    BOOST_TEST(plain.body.at("results").as_array()[0].as_object().if_contains("payload") == nullptr);

    reply fl = send(c, "POST", "/v1/collections/docs/flush", "{}");
    BOOST_TEST(fl.status == 200u, fl.raw);
    reply st = send(c, "GET", "/v1/collections/docs/stats");
    BOOST_TEST(st.status == 200u);
    BOOST_TEST(st.body.at("segments").to_number<double>() == 1);
    BOOST_TEST(st.body.at("points").to_number<double>() == 3);
    reply info = send(c, "GET", "/v1/collections/docs");
    BOOST_TEST(info.status == 200u);
    BOOST_TEST(info.body.at("dimension").to_number<double>() == 4);

    s = send(c, "POST", "/v1/collections/docs/search", R"({"vector":[1,0,0,0],"top_k":1,"nprobe":1,"include_payload":true})");
    BOOST_TEST(std::string(s.body.at("results").as_array()[0].at("payload").at("tags").as_array()[0].as_string()) == "x");

    reply del = send(c, "POST", "/v1/collections/docs/points/delete", R"({"ids":["a","zzz"]})");
    BOOST_TEST(del.status == 200u, del.raw);
    BOOST_TEST(del.body.at("deleted").to_number<double>() == 1);
    s = send(c, "POST", "/v1/collections/docs/search", R"({"vector":[1,0,0,0],"top_k":10})");
    BOOST_TEST(s.body.at("results").as_array().size() == 2u);

    reply gone = send(c, "DELETE", "/v1/collections/docs");
    BOOST_TEST(gone.status == 200u, gone.raw);
    expect_error(send(c, "GET", "/v1/collections/docs/stats"), 404, "not_found", "docs");
    BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_CASE(every_error_class_gets_its_status_and_envelope)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"), {"--max-body-mb", "1"});
    auto c = server.client();
    BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections", R"({"name":"e","dimension":3})").status == 201u);
    BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections/e/points", points("p", 0, 5, 3)).status == 200u);

    // 400: malformed JSON, wrong types, missing fields, out-of-range numbers.
    expect_error(send(c, "POST", "/v1/collections", "{\"name\":"), 400, "invalid_argument", "not valid JSON");
    expect_error(send(c, "POST", "/v1/collections", "[1,2]"), 400, "invalid_argument", "JSON object");
    expect_error(send(c, "POST", "/v1/collections", R"({"name":"x","dimension":"4"})"), 400, "invalid_argument", "dimension");
    expect_error(send(c, "POST", "/v1/collections", R"({"name":"x"})"), 400, "invalid_argument", "dimension");
    expect_error(send(c, "POST", "/v1/collections", R"({"name":"x","dimension":0})"), 400, "invalid_argument");
    expect_error(send(c, "POST", "/v1/collections", R"({"name":"x","dimension":4,"metric":"manhattan"})"), 400,
                 "invalid_argument", "manhattan");
    expect_error(send(c, "POST", "/v1/collections", R"({"name":"bad name","dimension":4})"), 400, "invalid_argument",
                 "invalid collection name");
    expect_error(send(c, "POST", "/v1/collections", R"({"name":"x","dimension":4,"colour":"red"})"), 400,
                 "invalid_argument", "unknown field 'colour'");
    expect_error(send(c, "POST", "/v1/collections/e/points", R"({"points":[{"id":"a","vector":[1,"2",3]}]})"), 400,
                 "invalid_argument", "points[0]: vector[1]");
    expect_error(send(c, "POST", "/v1/collections/e/points", R"({"points":[{"id":"a","vector":[1,1e400,3]}]})"), 400,
                 "invalid_argument", "finite");
    expect_error(send(c, "POST", "/v1/collections/e/points", R"({"points":[{"id":"a","vector":[1,1e39,3]}]})"), 400,
                 "invalid_argument", "float32");
    expect_error(send(c, "POST", "/v1/collections/e/points", R"({"points":[{"id":"a","vector":[1,NaN,3]}]})"), 400,
                 "invalid_argument", "not valid JSON");
    expect_error(send(c, "POST", "/v1/collections/e/points", R"({"points":[{"id":"a","vector":[1,2,3,4]}]})"), 400,
                 "invalid_argument", "dimension 4");
    expect_error(send(c, "POST", "/v1/collections/e/points", R"({"points":[{"id":"","vector":[1,2,3]}]})"), 400,
                 "invalid_argument", "'id'");
    expect_error(send(c, "POST", "/v1/collections/e/points",
                      "{\"points\":[{\"id\":\"" + std::string(300, 'x') + "\",\"vector\":[1,2,3]}]}"),
                 400, "invalid_argument", "1 to 256 bytes");
    expect_error(send(c, "POST", "/v1/collections/e/points", R"({"points":[{"id":true,"vector":[1,2,3]}]})"), 400,
                 "invalid_argument", "'id'");
    expect_error(send(c, "POST", "/v1/collections/e/points", R"({"points":[{"id":"a","vector":[1,2,3],"payload":[1]}]})"),
                 400, "invalid_argument", "'payload' must be a JSON object");
    expect_error(send(c, "POST", "/v1/collections/e/points", R"({"points":[]})"), 400, "invalid_argument", "empty");
    expect_error(send(c, "POST", "/v1/collections/e/points", R"({"points":[{"vector":[1,2,3]}]})"), 400,
                 "invalid_argument", "'id' is required");
    expect_error(send(c, "POST", "/v1/collections/e/search", R"({"vector":[1,2,3],"top_k":0})"), 400, "invalid_argument", "top_k");
    expect_error(send(c, "POST", "/v1/collections/e/search", R"({"vector":[1,2,3],"top_k":1001})"), 400, "invalid_argument", "top_k");
    expect_error(send(c, "POST", "/v1/collections/e/search", R"({"vector":[1,2,3],"top_k":"5"})"), 400, "invalid_argument", "top_k");
    expect_error(send(c, "POST", "/v1/collections/e/search", R"({"vector":[1,2,3],"nprobe":0})"), 400, "invalid_argument", "nprobe");
    expect_error(send(c, "POST", "/v1/collections/e/search", R"({"vector":[1,2,3],"include_payload":"yes"})"), 400,
                 "invalid_argument", "include_payload");
    expect_error(send(c, "POST", "/v1/collections/e/search", R"({"vector":[1,2]})"), 400, "invalid_argument", "dimension");
    expect_error(send(c, "POST", "/v1/collections/e/search", R"({"top_k":3})"), 400, "invalid_argument", "'vector'");
    expect_error(send(c, "GET", "/v1/collections/bad.name/stats"), 400, "invalid_argument", "invalid collection name");
    expect_error(send(c, "GET", "/v1/collections/" + std::string(65, 'a') + "/stats"), 400, "invalid_argument");
    expect_error(send(c, "GET", "/v1/collections/..%2Fetc/stats"), 400, "invalid_argument");
    // A nprobe beyond the cluster count means every cluster.
    BOOST_TEST(send(c, "POST", "/v1/collections/e/search", R"({"vector":[1,2,3],"nprobe":1000000})").status == 200u);

    // 404, 405, 409, 413.
    expect_error(send(c, "GET", "/v1/collections/nope/stats"), 404, "not_found", "nope");
    expect_error(send(c, "POST", "/v1/collections/nope/points", points("p", 0, 1, 3)), 404, "not_found");
    expect_error(send(c, "GET", "/v2/things"), 404, "route_not_found");
    expect_error(send(c, "GET", "/v1/collections/e/whatever"), 404, "route_not_found");
    reply wrong = send(c, "DELETE", "/v1/collections/e/points");
    expect_error(wrong, 405, "method_not_allowed");
    BOOST_TEST(wrong.allow == "POST");
    expect_error(send(c, "GET", "/v1/collections/e/search"), 405, "method_not_allowed");
    expect_error(send(c, "POST", "/v1/collections", R"({"name":"e","dimension":3})"), 409, "already_exists");
    auto big = server.client();
    expect_error(send(big, "POST", "/v1/collections/e/points", std::string(2 << 20, ' ')), 413, "payload_too_large");

    // Nothing above changed what is stored.
    BOOST_TEST(points_of(c, "e") == 5u);
    BOOST_TEST(send(c, "GET", "/healthz").status == 200u);
}

BOOST_AUTO_TEST_CASE(a_batch_with_one_bad_point_is_rejected_whole)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"));
    auto c = server.client();
    BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections", R"({"name":"b","dimension":3})").status == 201u);
    std::string body = R"({"points":[{"id":"ok1","vector":[1,2,3]},{"id":"ok2","vector":[1,2,3]},{"id":"bad","vector":[1,2]}]})";
    expect_error(send(c, "POST", "/v1/collections/b/points", body), 400, "invalid_argument", "points[2]");
    body = R"({"points":[{"id":"ok1","vector":[1,2,3]},{"id":"ok2","vector":[1,2,3],"payload":"x"}]})";
    expect_error(send(c, "POST", "/v1/collections/b/points", body), 400, "invalid_argument", "points[1]");
    BOOST_TEST(points_of(c, "b") == 0u);
    BOOST_TEST(all_ids(c, "b", 3).empty());
}

BOOST_AUTO_TEST_CASE(restarts_keep_every_acknowledged_point)
{
    test::temp_dir dir;
    const std::string data = dir.file("data");
    const std::size_t d = 8;
    {
        test::server_process server(data);
        auto c = server.client();
        BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections", R"({"name":"r","dimension":8})").status == 201u);
        BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections/r/points", points("p", 0, 100, d, true)).status == 200u);
        BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections/r/flush", "{}").status == 200u);
        BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections/r/points", points("p", 100, 50, d, true)).status == 200u);
        BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections/r/points/delete", R"({"ids":["p3","p120"]})").status == 200u);
        BOOST_TEST(server.stop() == 0);  // graceful
    }
    {
        test::server_process server(data);
        auto c = server.client();
        BOOST_TEST(points_of(c, "r") == 148u);
        auto ids = all_ids(c, "r", d);
        BOOST_TEST(ids.size() == 148u);
        BOOST_TEST(ids.count("p3") == 0u);
        BOOST_TEST(ids.count("p120") == 0u);
        BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections/r/points", points("q", 0, 30, d)).status == 200u);
        BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections/r/points/delete", R"({"ids":["p4"]})").status == 200u);
        server.kill();  // kill -9 right after the acknowledgements
    }
    test::server_process server(data);
    auto c = server.client();
    auto ids = all_ids(c, "r", d);
    BOOST_TEST(ids.size() == 177u);
    BOOST_TEST(ids.count("q29") == 1u);
    BOOST_TEST(ids.count("p4") == 0u);
    reply s = send(c, "POST", "/v1/collections/r/search",
                   "{\"vector\":" + vec(d, 140) + ",\"top_k\":1,\"include_payload\":true}");
    BOOST_TEST(std::string(s.body.at("results").as_array()[0].at("id").as_string()) == "p140");
    BOOST_TEST(s.body.at("results").as_array()[0].at("payload").at("n").to_number<double>() == 140);
}

BOOST_AUTO_TEST_CASE(concurrent_clients_on_collections_of_different_shards)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"));
    // The shard of a collection is FNV-1a of its name modulo the shard count (2 here, as
    // server_process starts the server; engine/db/database.cpp). Written out here so that a
    // change of the hash, which would move every collection, fails; the database must agree, and
    // the names must cover both shards or the test would not be about shards at all.
    auto fnv1a = [](std::string_view s) {
        std::uint64_t h = 1469598103934665603ull;
        for (unsigned char c : s) {
            h ^= c;
            h *= 1099511628211ull;
        }
        return h;
    };
    const std::vector<std::string> names = {"col0", "col1", "col2", "col3"};
    const std::vector<std::size_t> expected_shards = {1, 0, 1, 0};
    {
        test::temp_dir probe_dir;
        db::database_options probe_options;
        probe_options.data_dir = probe_dir.path();
        probe_options.shards = 2;
        probe_options.pin_shards = false;
        probe_options.background_threads = 1;
        probe_options.cache_bytes = 1 << 20;
        auto probe = db::database::open(probe_options);
        BOOST_TEST_REQUIRE(probe.has_value());
        std::set<std::size_t> shards;
        for (std::size_t i = 0; i < names.size(); ++i) {
            BOOST_TEST(fnv1a(names[i]) % 2 == expected_shards[i], names[i]);
            BOOST_TEST((*probe)->shard_of(names[i]) == expected_shards[i], names[i]);
            shards.insert((*probe)->shard_of(names[i]));
        }
        BOOST_TEST(shards.size() == 2u);
    }
    {
        auto c = server.client();
        for (const auto& n : names) {
            BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections", "{\"name\":\"" + n + "\",\"dimension\":16}").status == 201u);
        }
    }
    std::atomic<int> failures{0};
    std::vector<std::thread> clients;
    for (std::size_t t = 0; t < 8; ++t) {
        clients.emplace_back([&, t] {
            auto c = server.client();
            const std::string& name = names[t % names.size()];
            for (std::size_t b = 0; b < 10; ++b) {
                std::string prefix = "t" + std::to_string(t) + "-";
                auto r = c.request("POST", "/v1/collections/" + name + "/points", points(prefix, b * 20, 20, 16));
                if (!r || r->status != 200) {
                    ++failures;
                }
                auto s = c.request("POST", "/v1/collections/" + name + "/search", "{\"vector\":" + vec(16, 1) + ",\"top_k\":5}");
                if (!s || s->status != 200) {
                    ++failures;
                }
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    BOOST_TEST(failures.load() == 0);
    auto c = server.client();
    for (const auto& n : names) {
        BOOST_TEST(points_of(c, n) == 400u);  // two clients x 10 batches x 20 points each
    }
}

BOOST_AUTO_TEST_CASE(seed_readme_curl_bodies_and_cli_commands_as_written)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"));
    auto c = server.client();
    // curl examples (the seed's bodies, with the "..." filled to the dimension).
    reply created = send(c, "POST", "/v1/collections", R"({"name": "my_collection", "dimension": 768, "metric": "cosine"})");
    BOOST_TEST(created.status == 201u, created.raw);
    std::string v = vec(768, 0.1f);
    reply up = send(c, "POST", "/v1/collections/my_collection/points",
                    "{\n    \"points\": [\n      {\"id\": \"vec1\", \"vector\": " + v + ", \"payload\": {\"key\": \"value\"}}\n    ]\n  }");
    BOOST_TEST(up.status == 200u, up.raw);
    reply s = send(c, "POST", "/v1/collections/my_collection/search",
                   "{\n    \"vector\": " + v + ",\n    \"top_k\": 10,\n    \"nprobe\": 4,\n    \"include_payload\": true\n  }");
    BOOST_TEST_REQUIRE(s.status == 200u, s.raw);
    BOOST_TEST(std::string(s.body.at("results").as_array()[0].at("payload").at("key").as_string()) == "value");

    // CLI commands.
    std::string out;
    std::vector<std::string> env = {"PUFFER_SERVER=" + server.url()};
    std::string cli = test::cli_binary();
    BOOST_TEST(test::run_command({cli, "create-collection", "--name", "my_vectors", "--dimension", "768", "--metric", "cosine"}, out, env) == 0, out);
    BOOST_TEST(test::run_command({cli, "load-random", "--collection", "my_vectors", "--count", "3000", "--dimension", "768"}, out, env) == 0, out);
    BOOST_TEST(out.find("vectors/s") != std::string::npos, out);
    BOOST_TEST(test::run_command({cli, "search-random", "--collection", "my_vectors", "--dimension", "768", "--num-queries", "100"}, out, env) == 0, out);
    BOOST_TEST(out.find("QPS") != std::string::npos, out);
    BOOST_TEST(out.find("p99") != std::string::npos, out);
    BOOST_TEST(test::run_command({cli, "--server", server.url(), "list-collections"}, out) == 0, out);
    BOOST_TEST(out.find("my_vectors") != std::string::npos);
    BOOST_TEST(test::run_command({cli, "stats", "--collection", "my_vectors"}, out, env) == 0, out);
    BOOST_TEST(out.find("\"points\": 3000") != std::string::npos, out);
    BOOST_TEST(test::run_command({cli, "flush", "--collection", "my_vectors"}, out, env) == 0, out);
    // Errors: a clear message and a non-zero exit.
    BOOST_TEST(test::run_command({cli, "stats", "--collection", "missing"}, out, env) == 1);
    BOOST_TEST(out.find("does not exist") != std::string::npos, out);
    BOOST_TEST(test::run_command({cli, "--server", "http://127.0.0.1:1", "list-collections"}, out) == 1);
    BOOST_TEST(out.find("cannot connect") != std::string::npos, out);
    BOOST_TEST(test::run_command({cli, "load-random", "--collection", "my_vectors"}, out, env) == 2);
    BOOST_TEST(test::run_command({cli, "delete-collection", "--name", "my_vectors"}, out, env) == 0, out);
}

// A server whose staging holds at most 1,000 rows answers most of four concurrent 1,000-point
// batches 503 busy with Retry-After until a flush has taken the rows: import waits, sends the
// batch again, and ends with every point stored.
BOOST_AUTO_TEST_CASE(cli_import_waits_out_busy_answers)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"), {"--flush-threshold", "1000", "--staging-max-vectors", "1000"});
    std::string out;
    std::vector<std::string> env = {"PUFFER_SERVER=" + server.url()};
    std::string cli = test::cli_binary();
    std::string sift = test::data_dir() + "/sift20k";
    BOOST_TEST_REQUIRE(test::run_command({cli, "create-collection", "--name", "sift", "--dimension", "128"}, out, env) == 0, out);
    BOOST_TEST_REQUIRE(test::run_command({cli, "import", "--collection", "sift", "--file", sift + "/sift_base.fvecs",
                                          "--concurrency", "4"},
                                         out, env) == 0,
                       out);
    BOOST_TEST(out.find("busy indexing; waiting") != std::string::npos, out);
    BOOST_TEST(out.find("imported 20,000") != std::string::npos, out);
    BOOST_TEST(test::run_command({cli, "stats", "--collection", "sift"}, out, env) == 0, out);
    BOOST_TEST(out.find("\"points\": 20000") != std::string::npos, out);
    BOOST_TEST(server.stop() == 0);
}

// A batch larger than the staging bound could never be taken, even with staging empty: it is a
// 400 that says so, not a busy answer to retry forever, and nothing of it is stored.
BOOST_AUTO_TEST_CASE(batch_over_the_staging_bound_is_refused)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"), {"--flush-threshold", "1000", "--staging-max-vectors", "1000"});
    auto c = server.client();
    BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections", R"({"name":"s","dimension":2})")->status == 201u);
    auto batch = [](int n) {
        std::string body = R"({"points":[)";
        for (int i = 0; i < n; ++i) {
            body += (i ? "," : "") + std::string(R"({"id":")") + std::to_string(i) + R"(","vector":[1,2]})";
        }
        return body + "]}";
    };
    auto over = c.request("POST", "/v1/collections/s/points", batch(1001));
    BOOST_TEST(over->status == 400u, over->body);
    BOOST_TEST(over->header("retry-after").empty());
    BOOST_TEST(over->body.find("a batch of 1001 points is over collection 's''s staging bound of 1000 rows") !=
                   std::string::npos,
               over->body);
    BOOST_TEST(c.request("POST", "/v1/collections/s/points/count", "{}")->body == R"({"count":0})");
    auto fits = c.request("POST", "/v1/collections/s/points", batch(1000));
    BOOST_TEST(fits->status == 200u, fits->body);
    BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_CASE(a_quantized_collection_as_a_client_sees_it)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"));
    auto c = server.client();
    // Created with its codes; every description says which.
    reply created = send(c, "POST", "/v1/collections", R"({"name":"q","dimension":8,"quantization":"sq8"})");
    BOOST_TEST(created.status == 201u, created.raw);
    BOOST_TEST(std::string(created.body.at("quantization").as_string()) == "sq8");
    reply plain = send(c, "POST", "/v1/collections", R"({"name":"f","dimension":8})");
    BOOST_TEST(std::string(plain.body.at("quantization").as_string()) == "none");
    expect_error(send(c, "POST", "/v1/collections", R"({"name":"x","dimension":8,"quantization":"pq"})"), 400,
                 "invalid_argument", "'quantization' must be \"none\", \"sq8\" or \"rabitq\"");
    expect_error(send(c, "POST", "/v1/collections", R"({"name":"x","dimension":8,"quantization":8})"), 400,
                 "invalid_argument", "'quantization' must be");
    BOOST_TEST(send(c, "GET", "/v1/collections/x").status == 404u);  // nothing was created
    reply described = send(c, "GET", "/v1/collections/q");
    BOOST_TEST(std::string(described.body.at("quantization").as_string()) == "sq8", described.raw);

    BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections/q/points", points("p", 0, 300, 8)).status == 200u);
    BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections/q/flush", "{}").status == 200u);
    // The nearest point of a stored vector is itself, at distance 0, found through the codes.
    reply found = send(c, "POST", "/v1/collections/q/search", "{\"vector\":" + vec(8, 17) + ",\"top_k\":3}");
    BOOST_TEST_REQUIRE(found.status == 200u, found.raw);
    BOOST_TEST(std::string(found.body.at("results").at(0).at("id").as_string()) == "p17", found.raw);
    BOOST_TEST(found.body.at("results").at(0).at("score").to_number<double>() == 0.0);
    BOOST_TEST(found.body.at("stats").at("refine").to_number<double>() == 2.0, found.raw);
    BOOST_TEST(found.body.at("stats").at("reranked").to_number<double>() > 0.0, found.raw);
    reply refined = send(c, "POST", "/v1/collections/q/search",
                         "{\"vector\":" + vec(8, 17) + ",\"top_k\":3,\"refine\":5}");
    BOOST_TEST(refined.body.at("stats").at("refine").to_number<double>() == 5.0, refined.raw);
    BOOST_TEST(refined.body.at("stats").at("reranked").to_number<double>() <= 15.0, refined.raw);
    for (const char* bad : {"0", "65", "1.5", "\"4\"", "-1"}) {
        expect_error(send(c, "POST", "/v1/collections/q/search",
                          "{\"vector\":" + vec(8, 17) + ",\"refine\":" + std::string(bad) + "}"),
                     400, "invalid_argument", "'refine' must be an integer from 1 to 64");
    }
    // 1-bit codes: the same answers through the rabitq estimator and its bound.
    {
        reply r = send(c, "POST", "/v1/collections", R"({"name":"r","dimension":8,"quantization":"rabitq"})");
        BOOST_TEST(r.status == 201u, r.raw);
        BOOST_TEST(std::string(r.body.at("quantization").as_string()) == "rabitq");
        BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections/r/points", points("p", 0, 300, 8)).status == 200u);
        BOOST_TEST_REQUIRE(send(c, "POST", "/v1/collections/r/flush", "{}").status == 200u);
        reply hit = send(c, "POST", "/v1/collections/r/search", "{\"vector\":" + vec(8, 17) + ",\"top_k\":3}");
        BOOST_TEST_REQUIRE(hit.status == 200u, hit.raw);
        BOOST_TEST(std::string(hit.body.at("results").at(0).at("id").as_string()) == "p17", hit.raw);
        BOOST_TEST(hit.body.at("results").at(0).at("score").to_number<double>() == 0.0);
        BOOST_TEST(hit.body.at("stats").at("refine").to_number<double>() == 40.0, hit.raw);
        BOOST_TEST(hit.body.at("stats").at("reranked").to_number<double>() >= 3.0, hit.raw);
        BOOST_TEST(hit.body.at("stats").at("reranked").to_number<double>() <= 120.0, hit.raw);
        expect_error(send(c, "POST", "/v1/collections", R"({"name":"wide","dimension":2049,"quantization":"rabitq"})"),
                     400, "invalid_argument", "quantization rabitq is offered up to dimension 2048");
        BOOST_TEST(send(c, "GET", "/v1/collections/wide").status == 404u);
    }
    // The CLI creates quantized collections and passes refine.
    {
        std::string out;
        std::vector<std::string> env = {"PUFFER_SERVER=" + server.url()};
        std::string cli = test::cli_binary();
        BOOST_TEST(test::run_command({cli, "create-collection", "--name", "cq", "--dimension", "8", "--quantization",
                                      "sq8"},
                                     out, env) == 0,
                   out);
        BOOST_TEST(std::string(send(c, "GET", "/v1/collections/cq").body.at("quantization").as_string()) == "sq8");
        BOOST_TEST(test::run_command({cli, "search", "--collection", "q", "--vector", vec(8, 17), "--top-k", "3",
                                      "--refine", "7"},
                                     out, env) == 0,
                   out);
        BOOST_TEST(out.find("\"refine\":7") != std::string::npos, out);
        BOOST_TEST(test::run_command({cli, "search", "--collection", "q", "--vector", vec(8, 17), "--refine", "65"},
                                     out, env) == 1,
                   out);
        BOOST_TEST(out.find("'refine' must be an integer from 1 to 64") != std::string::npos, out);
    }
    // The quantization survives a restart.
    BOOST_TEST(server.stop() == 0);
    test::server_process again(dir.file("data"));
    auto c2 = again.client();
    BOOST_TEST(std::string(send(c2, "GET", "/v1/collections/q").body.at("quantization").as_string()) == "sq8");
    reply after = send(c2, "POST", "/v1/collections/q/search", "{\"vector\":" + vec(8, 17) + ",\"top_k\":3}");
    BOOST_TEST(std::string(after.body.at("results").at(0).at("id").as_string()) == "p17", after.raw);
    BOOST_TEST(again.stop() == 0);
}

BOOST_AUTO_TEST_CASE(cli_import_and_bench_on_real_data)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"));
    std::string out;
    std::vector<std::string> env = {"PUFFER_SERVER=" + server.url()};
    std::string cli = test::cli_binary();
    std::string sift = test::data_dir() + "/sift20k";
    BOOST_TEST_REQUIRE(test::run_command({cli, "create-collection", "--name", "sift", "--dimension", "128"}, out, env) == 0, out);
    BOOST_TEST_REQUIRE(test::run_command({cli, "import", "--collection", "sift", "--file", sift + "/sift_base.fvecs"}, out, env) == 0, out);
    BOOST_TEST_REQUIRE(test::run_command({cli, "flush", "--collection", "sift"}, out, env) == 0, out);
    BOOST_TEST_REQUIRE(test::run_command({cli, "bench", "--collection", "sift", "--queries", sift + "/sift_query.fvecs",
                                          "--groundtruth", sift + "/sift_gt.ivecs", "--top-k", "10", "--nprobe", "48",
                                          "--concurrency", "4"}, out, env) == 0, out);
    auto at = out.find("recall@10 ");
    BOOST_TEST_REQUIRE(at != std::string::npos, out);
    double recall = std::atof(out.c_str() + at + 10);
    BOOST_TEST(recall >= 0.95, out);
    // .jsonl import.
    std::string jsonl = dir.file("points.jsonl");
    test::spit(jsonl, "{\"id\":\"j1\",\"vector\":" + vec(128, 1) + ",\"payload\":{\"k\":1}}\n{\"id\":\"j2\",\"vector\":" + vec(128, 2) + "}\n");
    BOOST_TEST(test::run_command({cli, "import", "--collection", "sift", "--file", jsonl}, out, env) == 0, out);
    auto c = server.client();
    BOOST_TEST(points_of(c, "sift") == 20002u);
}

BOOST_AUTO_TEST_CASE(second_server_on_the_same_data_dir_refuses_to_start)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"));
    std::string out;
    int code = test::run_command({test::server_binary(), "--data-dir", dir.file("data"), "--bind-addr", "127.0.0.1:0"}, out);
    BOOST_TEST(code == 1);
    BOOST_TEST(out.find("LOCK") != std::string::npos, out);
    BOOST_TEST(out.find("already running") != std::string::npos, out);
}

BOOST_AUTO_TEST_CASE(bad_flags_and_help)
{
    std::string out;
    BOOST_TEST(test::run_command({test::server_binary(), "--help"}, out) == 0);
    for (const char* flag : {"--data-dir", "--bind-addr", "--shards", "--net-threads", "--io-mode", "--cache-mb",
                             "--flush-threshold", "--max-body-mb", "--log-level", "--config"}) {
        BOOST_TEST(out.find(flag) != std::string::npos, flag);
    }
    BOOST_TEST(test::run_command({test::server_binary(), "--io-mode", "floppy"}, out) == 2);
    BOOST_TEST(test::run_command({test::server_binary(), "--bind-addr", "nonsense"}, out) != 0);
    BOOST_TEST(out.find("bind-addr") != std::string::npos, out);
}

// Where an option comes from: the command line beats the environment (PUFFER_*), which beats
// the config file. The probe is --max-body-mb: a body of 1.5 MiB gets 413 under a 1 MiB limit
// and, as a body of blanks, 400 (not JSON) under a 2 MiB one.
BOOST_AUTO_TEST_CASE(command_line_beats_environment_beats_config_file)
{
    test::temp_dir dir;
    const std::string big((3 << 20) / 2, ' ');
    auto limit_is_1_mib = [&](test::server_process& server) {
        auto c = server.client();
        reply r = send(c, "POST", "/v1/collections", big);
        BOOST_TEST((r.status == 413u || r.status == 400u), r.raw);
        return r.status == 413u;
    };
    std::string one = dir.file("one.conf");
    std::string two = dir.file("two.conf");
    test::spit(one, "max-body-mb = 1\nlog-level = warn\n");
    test::spit(two, "max-body-mb = 2\n");
    int run = 0;
    auto data = [&] { return dir.file("data" + std::to_string(run++)); };
    {
        test::server_process server(data(), {"--config", one});  // the file alone
        BOOST_TEST(limit_is_1_mib(server));
    }
    {
        test::server_process server(data(), {"--config", two});
        BOOST_TEST(!limit_is_1_mib(server));
    }
    {
        test::server_process server(data(), {"--config", one},
                                    {"PUFFER_MAX_BODY_MB=2"});  // env > file
        BOOST_TEST(!limit_is_1_mib(server));
    }
    {
        test::server_process server(data(), {"--config", two},
                                    {"PUFFER_MAX_BODY_MB=1"});  // env > file
        BOOST_TEST(limit_is_1_mib(server));
    }
    {
        test::server_process server(data(), {"--config", two, "--max-body-mb", "1"},
                                    {"PUFFER_MAX_BODY_MB=2"});  // command line > env > file
        BOOST_TEST(limit_is_1_mib(server));
    }
    {
        test::server_process server(data(), {"--config", one, "--max-body-mb", "2"},
                                    {"PUFFER_MAX_BODY_MB=1"});  // command line > env > file
        BOOST_TEST(!limit_is_1_mib(server));
    }
    // The environment also names the config file itself.
    test::server_process server(data(), {}, {"PUFFER_CONFIG=" + one});
    BOOST_TEST(limit_is_1_mib(server));
}

BOOST_AUTO_TEST_SUITE_END()
