// GET /metrics against the real server: Prometheus text that promtool accepts, with the values
// the test caused (requests by route and status, latency histograms whose buckets add up, and
// each collection's points, segments and staging), readable with the read-only key. And the
// slow-query log line.
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <thread>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

using namespace puffer;

namespace {

// Every sample line "name{labels} value" of a scrape, by "name{labels}".
std::map<std::string, double> samples_of(const std::string& text)
{
    std::map<std::string, double> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        auto space = line.rfind(' ');
        BOOST_TEST_REQUIRE(space != std::string::npos, line);
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

double sample(const std::map<std::string, double>& s, const std::string& key)
{
    auto it = s.find(key);
    BOOST_TEST_REQUIRE((it != s.end()), "no sample " << key);
    return it->second;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(metrics_suite)

BOOST_AUTO_TEST_CASE(metrics_pass_promtool_and_hold_what_the_test_did)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"), {"--read-only-api-key", "reader-0123456789", "--api-key",
                                                   "writer-0123456789", "--flush-threshold", "1000000",
                                                   "--idle-flush-ms", "0", "--recall-sample", "1",
                                                   "--recall-rerun-share", "1"});
    auto c = server.client();
    c.set_api_key("writer-0123456789");
    BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections", R"({"name":"docs","dimension":2})")->status == 201u);
    BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections", R"({"name":"img-2_b","dimension":3})")->status == 201u);
    std::string points = R"({"points":[)";
    for (int i = 0; i < 40; ++i) {
        points += (i ? "," : "") + std::string(R"({"id":"p)") + std::to_string(i) + R"(","vector":[)" +
                  std::to_string(i) + ",1]}";
    }
    points += "]}";
    BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/docs/points", points)->status == 200u);
    BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/docs/flush")->status == 200u);
    BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/docs/points",
                                 R"({"points":[{"id":"late","vector":[5,5]}]})")
                           ->status == 200u);
    for (int i = 0; i < 7; ++i) {
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/docs/search", R"({"vector":[3,1],"top_k":2})")->status ==
                           200u);
    }
    // Every search is sampled: the 7 re-runs finish soon after the answers.
    for (int i = 0; i < 500; ++i) {
        auto st = c.request("GET", "/v1/collections/docs/stats");
        if (st->body.find("\"recall_samples\":7") != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    BOOST_TEST(c.request("GET", "/v1/no/such/route")->status == 404u);
    BOOST_TEST(c.request("POST", "/v1/collections/missing/search", R"({"vector":[1,1],"top_k":1})")->status == 404u);
    // A request is counted once its answer has been sent, which the client may see before the
    // server does: the next request on the same connection is read only after that.
    BOOST_TEST(c.request("GET", "/healthz")->status == 200u);

    // Without a key: 401; with the read-only key: the scrape.
    auto anonymous = server.client();
    BOOST_TEST(anonymous.request("GET", "/metrics")->status == 401u);
    BOOST_TEST(anonymous.request("GET", "/healthz")->status == 200u);
    auto reader = server.client();
    reader.set_api_key("reader-0123456789");
    auto scrape = reader.request("GET", "/metrics");
    BOOST_TEST_REQUIRE(scrape.has_value());
    BOOST_TEST_REQUIRE(scrape->status == 200u, scrape->body);
    BOOST_TEST(scrape->header("content-type") == "text/plain; version=0.0.4; charset=utf-8");

    // promtool reads it as valid exposition text (lint problems included).
    {
        std::ofstream f(dir.file("scrape.txt"));
        f << scrape->body;
    }
    std::string out;
    int rc = test::run_command({"/bin/sh", "-c", "promtool check metrics < " + dir.file("scrape.txt")}, out);
    BOOST_TEST(rc == 0, "promtool: " << out);

    auto s = samples_of(scrape->body);
    BOOST_TEST(sample(s, R"(puffer_http_requests_total{route="/v1/collections/{name}/search",status="200"})") == 7);
    BOOST_TEST(sample(s, R"(puffer_http_requests_total{route="/v1/collections/{name}/search",status="404"})") == 1);
    BOOST_TEST(sample(s, R"(puffer_http_requests_total{route="none",status="404"})") == 1);
    BOOST_TEST(sample(s, R"(puffer_http_requests_total{route="/v1/collections",status="201"})") == 2);
    BOOST_TEST(sample(s, R"(puffer_http_requests_total{route="/metrics",status="401"})") == 1);
    const std::string search = R"(route="/v1/collections/{name}/search",status="200")";
    BOOST_TEST(sample(s, "puffer_http_request_duration_seconds_count{" + search + "}") == 7);
    BOOST_TEST(sample(s, "puffer_http_request_duration_seconds_bucket{" + search + R"(,le="+Inf"})") == 7);
    BOOST_TEST(sample(s, "puffer_http_request_duration_seconds_bucket{" + search + R"(,le="10"})") == 7);
    BOOST_TEST(sample(s, "puffer_http_request_duration_seconds_sum{" + search + "}") > 0);
    BOOST_TEST(sample(s, "puffer_http_request_duration_seconds_sum{" + search + "}") < 70);
    BOOST_TEST(sample(s, R"(puffer_collection_points{collection="docs"})") == 41);
    BOOST_TEST(sample(s, R"(puffer_collection_segments{collection="docs"})") == 1);
    BOOST_TEST(sample(s, R"(puffer_collection_staging_vectors{collection="docs"})") == 1);
    BOOST_TEST(sample(s, R"(puffer_collection_flushes_total{collection="docs"})") == 1);
    BOOST_TEST(sample(s, R"(puffer_collection_disk_bytes{collection="docs"})") > 0);
    BOOST_TEST(sample(s, R"(puffer_collection_points{collection="img-2_b"})") == 0);
    BOOST_TEST(sample(s, R"(puffer_collection_failed{collection="docs"})") == 0);
    // Continuous recall: the searches' re-runs, and their recall (41 points: the default budget
    // finds the exact top 2 here, as the re-runs show); none for a collection not searched.
    BOOST_TEST(sample(s, R"(puffer_recall_samples_total{collection="docs"})") == 7);
    BOOST_TEST(sample(s, R"(puffer_recall_at_k{collection="docs"})") == 1);
    BOOST_TEST(sample(s, R"(puffer_recall_samples_total{collection="img-2_b"})") == 0);
    BOOST_TEST(s.count(R"(puffer_recall_at_k{collection="img-2_b"})") == 0u);
    // Two acknowledged batches, each in a group of its own (they were sent one after the other),
    // each group's fdatasync timed once.
    BOOST_TEST(sample(s, R"(puffer_collection_wal_records_total{collection="docs"})") == 2);
    BOOST_TEST(sample(s, R"(puffer_collection_wal_groups_total{collection="docs"})") == 2);
    BOOST_TEST(sample(s, R"(puffer_collection_wal_fdatasync_seconds_count{collection="docs"})") == 2);
    BOOST_TEST(sample(s, R"(puffer_collection_wal_fdatasync_seconds_bucket{collection="docs",le="+Inf"})") == 2);
    BOOST_TEST(sample(s, R"(puffer_collection_wal_fdatasync_seconds_count{collection="img-2_b"})") == 0);
    // Each shard's series (the test server runs two shards); the WAL's fdatasyncs went through
    // the rings of the shards that own the collections; nothing failed a read or a checksum.
    double fdatasyncs = 0;
    for (const char* shard : {"0", "1"}) {
        const std::string l = std::string("{shard=\"") + shard + "\"}";
        fdatasyncs += sample(s, "puffer_shard_ring_fdatasyncs_total" + l);
        BOOST_TEST(sample(s, "puffer_shard_crc_failures_total" + l) == 0);
        BOOST_TEST(sample(s, "puffer_shard_read_errors_total" + l) == 0);
        BOOST_TEST(sample(s, "puffer_shard_cache_budget_bytes" + l) > 0);
        BOOST_TEST(sample(s, "puffer_shard_inbox_depth" + l) >= 0);
    }
    BOOST_TEST(fdatasyncs >= 2);
    // The scrape itself is counted by the next one.
    auto again = samples_of(reader.request("GET", "/metrics")->body);
    BOOST_TEST(sample(again, R"(puffer_http_requests_total{route="/metrics",status="200"})") == 1);
}

// A search at or over --slow-query-ms is logged with its plan and reads; with 0, none is. 100k
// staged rows of 128 floats are 51 MB scanned exactly: over 1 ms on any machine.
BOOST_AUTO_TEST_CASE(slow_searches_are_logged_with_their_plan)
{
    test::temp_dir dir;
    for (const char* threshold : {"1", "0"}) {
        test::server_process server(dir.file(std::string("data") + threshold),
                                    {"--slow-query-ms", threshold, "--flush-threshold", "1000000"});
        std::string out;
        BOOST_TEST_REQUIRE(test::run_command({test::cli_binary(), "--server", server.url(), "create-collection",
                                              "--name", "big", "--dimension", "128"},
                                             out) == 0,
                           out);
        BOOST_TEST_REQUIRE(test::run_command({test::cli_binary(), "--server", server.url(), "load-random",
                                              "--collection", "big", "--count", "100000", "--dimension", "128"},
                                             out) == 0,
                           out);
        std::string query = "[";
        for (int j = 0; j < 128; ++j) {
            query += (j ? ",0." : "0.") + std::to_string(j % 10);
        }
        query += "]";
        auto c = server.client();
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/big/search", R"({"top_k":3,"vector":)" + query + "}")
                               ->status == 200u);
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/big/search/batch",
                                     R"({"searches":[{"top_k":3,"vector":)" + query + "}]}")
                               ->status == 200u);
        server.stop();
        std::ifstream in(server.log_path());
        std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        bool logged = log.find("slow search on 'big': ") != std::string::npos;
        bool batch_logged = log.find("slow batch search on 'big': ") != std::string::npos;
        BOOST_TEST(logged == (std::string(threshold) == "1"), threshold << ":\n" << log);
        BOOST_TEST(batch_logged == (std::string(threshold) == "1"), threshold << ":\n" << log);
        if (logged) {
            BOOST_TEST(log.find("(1 searches): nprobe 0, expected recall -1.000, 0 segments, 0 clusters probed, "
                                "0 read from disk, 100000 vectors scanned, 0 bytes read, 1 shards") != std::string::npos,
                       log);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
