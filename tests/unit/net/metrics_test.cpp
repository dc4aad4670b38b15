// The /metrics text: cumulative histogram buckets that end in the count, one series per route
// and status, shortest number text, and label values escaped as the exposition format says.
#include "net/metrics.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace puffer;

BOOST_AUTO_TEST_SUITE(metrics_text_suite)

BOOST_AUTO_TEST_CASE(histogram_buckets_are_cumulative_and_end_in_the_count)
{
    net::http_metrics m;
    m.observe("/a", 200, 0.0002);  // bucket le 0.00025
    m.observe("/a", 200, 0.003);   // le 0.005
    m.observe("/a", 200, 20);      // only +Inf
    m.observe("/a", 503, 0.0001);  // le 0.0001 (bounds are inclusive)
    std::string out;
    m.render(out);
    auto has = [&](const std::string& line) {
        BOOST_TEST(out.find(line + "\n") != std::string::npos, "missing: " << line << "\nin:\n" << out);
    };
    has(R"(puffer_http_requests_total{route="/a",status="200"} 3)");
    has(R"(puffer_http_requests_total{route="/a",status="503"} 1)");
    has(R"(puffer_http_request_duration_seconds_bucket{route="/a",status="200",le="0.0001"} 0)");
    has(R"(puffer_http_request_duration_seconds_bucket{route="/a",status="200",le="0.00025"} 1)");
    has(R"(puffer_http_request_duration_seconds_bucket{route="/a",status="200",le="0.0025"} 1)");
    has(R"(puffer_http_request_duration_seconds_bucket{route="/a",status="200",le="0.005"} 2)");
    has(R"(puffer_http_request_duration_seconds_bucket{route="/a",status="200",le="10"} 2)");
    has(R"(puffer_http_request_duration_seconds_bucket{route="/a",status="200",le="+Inf"} 3)");
    has(R"(puffer_http_request_duration_seconds_count{route="/a",status="200"} 3)");
    has(R"(puffer_http_request_duration_seconds_sum{route="/a",status="200"} 20.0032)");
    has(R"(puffer_http_request_duration_seconds_bucket{route="/a",status="503",le="0.0001"} 1)");
    has("# TYPE puffer_http_request_duration_seconds histogram");
}

BOOST_AUTO_TEST_CASE(collection_series_carry_escaped_names)
{
    BOOST_TEST(net::label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
    collection::collection_stats s;
    s.info.name = "img-2_b";
    s.info.points = 12345678901ull;
    s.segments = 3;
    std::string out;
    net::render_collection_metrics({s}, out);
    BOOST_TEST(out.find("puffer_collection_points{collection=\"img-2_b\"} 12345678901\n") != std::string::npos, out);
    BOOST_TEST(out.find("puffer_collection_segments{collection=\"img-2_b\"} 3\n") != std::string::npos, out);
    BOOST_TEST(out.find("# TYPE puffer_collection_flushes_total counter\n") != std::string::npos, out);
}

BOOST_AUTO_TEST_SUITE_END()
