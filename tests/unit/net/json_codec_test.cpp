// JSON codec: the fast points scanner and the DOM parser accept the same bodies and produce the
// same batches (ids, vectors bit for bit, payloads) over generated bodies with every feature the
// scanner handles and many it hands over (escapes, duplicates, odd whitespace, exponents);
// validation messages name the field; the router answers 503 once shutting down; error bodies
// are valid JSON (valid UTF-8) whatever bytes the request quoted in them carried.
#include "net/error_envelope.hpp"
#include "net/json_parse.hpp"
#include "net/request_decoding.hpp"
#include "net/response_encoding.hpp"
#include "net/routes.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <future>
#include <limits>
#include <memory>
#include <random>

using namespace puffer;

namespace {

void expect_same(std::string_view body)
{
    auto fast = net::parse_points(body);
    auto dom = net::detail::parse_points_dom(body);
    BOOST_TEST_REQUIRE(fast.has_value() == dom.has_value(), "disagree on: " << body.substr(0, 300));
    if (!fast) {
        BOOST_TEST(fast.error().context == dom.error().context);
        return;
    }
    BOOST_TEST(fast->ids == dom->ids);
    BOOST_TEST(fast->dimension == dom->dimension);
    BOOST_TEST(fast->payloads == dom->payloads);
    BOOST_TEST_REQUIRE(fast->vectors.size() == dom->vectors.size());
    BOOST_TEST(std::memcmp(fast->vectors.data(), dom->vectors.data(), fast->vectors.size() * 4) == 0,
               "vectors differ for: " << body.substr(0, 300));
}

std::string random_number(std::mt19937_64& rng)
{
    switch (rng() % 8) {
    case 0: return std::to_string(static_cast<int>(rng() % 2001) - 1000);
    case 1: return "0." + std::to_string(rng() % 1000000);
    case 2: return "-0.000" + std::to_string(rng() % 100000);
    case 3: return std::to_string(rng() % 100) + "." + std::to_string(rng()) + std::to_string(rng() % 1000);  // > 15 digits
    case 4: return std::to_string(rng() % 10) + "e" + std::to_string(static_cast<int>(rng() % 60) - 30);
    case 5: return "-" + std::to_string(rng() % 10) + ".5E+" + std::to_string(rng() % 5);
    case 6: return "-0";
    default: return std::to_string(static_cast<double>(rng() % 1000000) / 977.0);
    }
}

// A one-shard database in a temporary directory with the router in front: call() answers one
// request as the server would, waiting for the engine when the route goes there.
class routed_database {
public:
    routed_database()
    {
        db::database_options o;
        o.data_dir = dir_.path();
        o.shards = 1;
        o.background_threads = 1;
        o.pin_shards = false;
        auto d = db::database::open(o);
        BOOST_TEST_REQUIRE(d.has_value());
        db_ = std::move(*d);
        routes_ = std::make_unique<net::router>(*db_);
    }

    net::router& routes() { return *routes_; }

    // A loopback client of a server without keys: every route is open to it.
    const net::credentials loopback{{}, {}, true};

    net::http_response call(std::string_view method, std::string_view target, std::string body = "{}")
    {
        std::promise<net::make_response_fn> made;
        auto f = made.get_future();
        routes_->handle(net::http_request{method, target, std::move(body), loopback},
                        [&made](net::make_response_fn make) { made.set_value(std::move(make)); });
        return f.get()();
    }

private:
    test::temp_dir dir_;
    std::unique_ptr<db::database> db_;
    std::unique_ptr<net::router> routes_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(json_codec_suite)

BOOST_AUTO_TEST_CASE(scanner_and_dom_agree_on_generated_bodies)
{
    std::mt19937_64 rng(test::test_seed("json bodies", 51));
    for (int round = 0; round < 400; ++round) {
        std::size_t n = 1 + rng() % 5;
        std::size_t d = 1 + rng() % 6;
        std::string ws = rng() % 3 == 0 ? " \n\t" : "";
        std::string body = "{" + ws + "\"points\"" + ws + ":" + ws + "[";
        for (std::size_t i = 0; i < n; ++i) {
            body += i ? "," + ws : "";
            std::string id = rng() % 5 == 0 ? std::to_string(rng() % 100000) : "\"id-" + std::to_string(i) + "\"";
            std::string vec = "[";
            for (std::size_t j = 0; j < d; ++j) {
                vec += (j ? "," + ws : "") + random_number(rng);
            }
            vec += "]";
            std::string fields[] = {"\"id\":" + ws + id, "\"vector\":" + vec};
            if (rng() % 2) {
                std::swap(fields[0], fields[1]);
            }
            body += "{" + fields[0] + "," + ws + fields[1];
            switch (rng() % 6) {
            case 0: body += ",\"payload\":{\"k\":" + std::to_string(i) + ",\"s\":\"a\\\"b\",\"n\":[1,{\"x\":null}]}"; break;
            case 1: body += ",\"payload\":null"; break;
            case 2: body += ",\"payload\":  { }"; break;
            default: break;
            }
            body += ws + "}";
        }
        body += "]" + ws + "}" + ws;
        expect_same(body);
    }
}

BOOST_AUTO_TEST_CASE(handed_over_and_rejected_bodies_agree)
{
    const char* bodies[] = {
        R"({"points":[{"id":"a\u0041","vector":[1,2]}]})",          // escape in an id
        R"({"points":[{"id":"é","vector":[1,2]}]})",                 // non-ASCII id
        R"({"points":[{"id":"a","id":"b","vector":[1,2]}]})",        // duplicate key
        R"({"points":[{"id":"a","vector":[1,2]},{"id":"b","vector":[1]}]})",
        R"({"points":[{"id":"a","vector":[01,2]}]})",
        R"({"points":[{"id":"a","vector":[1.,2]}]})",
        R"({"points":[{"id":"a","vector":[+1,2]}]})",
        R"({"points":[{"id":"a","vector":[1e400]}]})",
        R"({"points":[{"id":"a","vector":[3.5e38, -3.5e38]}]})",
        R"({"points":[{"id":"a","vector":[1,2],"payload":{"a":}}]})",
        R"({"points":[{"id":"a","vector":[1,2],"payload":[1]}]})",
        R"({"points":[{"id":"a","vector":[1,2],"extra":1}]})",
        R"({"points":[{"id":"a","vector":[]}]})",
        R"({"points":[]})",
        R"({"points":[{"id":"a","vector":[1,2]}]} trailing)",
        R"({"points":[{"id":-1,"vector":[1,2]}]})",
        R"({"points":[{"id":1.5,"vector":[1,2]}]})",
        R"({"points":[{"id":12345678901234567890,"vector":[1,2]}]})",
        R"({"points":[{"id":"","vector":[1,2]}]})",
        R"({"points":[{"id":"a","vector":[1,2]}],"more":true})",
        R"(  {"points":[{"vector":[0.1,0.2],"id":"z"}]}  )",
        "{\"points\":[{\"id\":\"a\",\"vector\":[1,2]}]",
        "",
    };
    for (const char* b : bodies) {
        expect_same(b);
    }
}

BOOST_AUTO_TEST_CASE(values_are_the_nearest_float32)
{
    auto b = net::parse_points(R"({"points":[{"id":"a","vector":[0.1,-0.30000001,123456.789,1e-7,16777217]}]})");
    BOOST_TEST_REQUIRE(b.has_value());
    BOOST_TEST(b->vectors[0] == 0.1f);
    BOOST_TEST(b->vectors[1] == -0.30000001f);
    BOOST_TEST(b->vectors[2] == 123456.789f);
    BOOST_TEST(b->vectors[3] == 1e-7f);
    BOOST_TEST(b->vectors[4] == 16777216.0f);
}

// The same number text is the same float32 on every path: the points scanner, the DOM path (taken
// when an id has an escape) and a search query. The reference is the correctly rounded
// conversion of the text (the compiler's literal, or the standard library's from_chars); the
// texts sit at and around float32 rounding midpoints, where converting to a double first and
// then to float32 rounds twice and can land on the wrong neighbour.
BOOST_AUTO_TEST_CASE(number_text_is_one_float32_on_every_path)
{
    std::vector<std::pair<std::string, float>> cases = {
        {"1.9143322110176086", 1.9143322110176086f},
        {"0.1", 0.1f},
        {"-0", -0.0f},
        {"1e-50", 0.0f},
        {"-1e-50", -0.0f},
        {"7e-46", 0.0f},
        {"1.4e-45", 1.4e-45f},
        {"16777217", 16777216.0f},
        {"3.4028235e38", 3.4028235e38f},
        {"123456789012345678901234567890", 123456789012345678901234567890.0f},
    };
    std::mt19937_64 rng(20261201);
    for (int i = 0; i < 2000; ++i) {
        float a = std::ldexp(static_cast<float>(rng() % (1u << 24)) / 16777216.0f + 1.0f,
                             static_cast<int>(rng() % 60) - 30);
        double midpoint = (static_cast<double>(a) + static_cast<double>(std::nextafter(a, 2 * a))) / 2;
        for (const char* format : {"%.17g", "%.16g", "%.25g", "%.9g"}) {
            char text[64];
            std::snprintf(text, sizeof text, format, midpoint);
            float expected = 0;
            auto [end, ec] = std::from_chars(text, text + std::strlen(text), expected);
            BOOST_TEST_REQUIRE((ec == std::errc()), text);
            cases.emplace_back(text, expected);
        }
    }
    auto same = [](float x, float y) { return std::memcmp(&x, &y, sizeof x) == 0; };
    for (const auto& [text, expected] : cases) {
        auto fast = net::parse_points(R"({"points":[{"id":"a","vector":[)" + text + "]}]}");
        auto dom = net::parse_points(R"({"points":[{"id":"a\u0041","vector":[)" + text + "]}]}");
        auto query = net::parse_search(R"({"vector":[)" + text + "]}");
        BOOST_TEST_REQUIRE(fast.has_value(), text);
        BOOST_TEST_REQUIRE(dom.has_value(), text);
        BOOST_TEST_REQUIRE(query.has_value(), text);
        BOOST_TEST(same(fast->vectors.at(0), expected), text << ": scanner " << fast->vectors.at(0));
        BOOST_TEST(same(dom->vectors.at(0), expected), text << ": DOM " << dom->vectors.at(0));
        BOOST_TEST(same(query->vector.at(0), expected), text << ": search " << query->vector.at(0));
    }
}

// The short decimals vectors are mostly made of ("-0.1234", "12", "0.0000001"; at most 7
// significant digits, at most 10 after the point) take a fast path: every one of them, with
// leading zeros, negative zero and every length, is the same float32 as the correctly rounded
// conversion; just past the fast path's limits (8 digits, 11 places, an exponent) too.
BOOST_AUTO_TEST_CASE(only_request_vectors_are_float32)
{
    // A payload field named "vector" is payload: doubles, in an upsert and in a patch alike.
    auto p = net::parse_patch(R"({"ids":["a"],"payload":{"vector":[0.1,3,1e39]}})");
    BOOST_TEST_REQUIRE(p.has_value(), (p ? "" : p.error().message()));
    BOOST_TEST(p->payload == R"({"vector":[1E-1,3,1E39]})");
    auto b = net::parse_points(R"({"points":[{"id":"a","vector":[0.1],"payload":{"vector":[0.1]}}]})");
    BOOST_TEST_REQUIRE(b.has_value());
    BOOST_TEST(b->vectors[0] == 0.1f);
    BOOST_TEST(b->payloads[0] == R"({"vector":[1E-1]})");
    // The vectors of a search and of a batch's searches stay float32.
    auto s = net::parse_search(R"({"vector":[0.1]})");
    BOOST_TEST_REQUIRE(s.has_value());
    BOOST_TEST(s->vector[0] == 0.1f);
    auto batch = net::parse_search_batch(R"({"searches":[{"vector":[0.1]}]})");
    BOOST_TEST_REQUIRE(batch.has_value());
    BOOST_TEST((*batch)[0].vector[0] == 0.1f);
}

BOOST_AUTO_TEST_CASE(short_decimals_are_the_correctly_rounded_float32)
{
    auto same = [](float x, float y) { return std::memcmp(&x, &y, sizeof x) == 0; };
    auto check = [&](const std::string& text) {
        float expected = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), expected);
        BOOST_TEST_REQUIRE((ec == std::errc() && end == text.data() + text.size()), text);
        float got = net::float_from_text(text);
        BOOST_TEST(same(got, expected), text << ": " << got << " expected " << expected);
    };
    for (const char* text : {"0", "-0", "0.0", "-0.0", "00.5", "0.0000001", "-0.0000000001", "0.00000000001",
                             "9999999", "99999999", "16777215", "16777216", "16777217", "9.999999", "0.1234567",
                             "0.12345678", "1e5", "-1.5E-3", "1234567.0", "1234567.00001", "0.0000000009999999"}) {
        check(text);
    }
    std::mt19937_64 rng(20261202);
    for (int i = 0; i < 200000; ++i) {
        int digits = 1 + static_cast<int>(rng() % 8);
        std::uint64_t limit = 1;
        for (int k = 0; k < digits; ++k) {
            limit *= 10;
        }
        std::string m = std::to_string(rng() % limit);
        int places = static_cast<int>(rng() % 12);
        std::string text = (rng() % 2 ? "-" : "");
        if (places == 0) {
            text += m;
        } else {
            if (static_cast<int>(m.size()) <= places) {
                m.insert(0, static_cast<std::size_t>(places + 1) - m.size(), '0');
            }
            text += m.substr(0, m.size() - static_cast<std::size_t>(places)) + "." +
                    m.substr(m.size() - static_cast<std::size_t>(places));
        }
        check(text);
    }
}

// Numbers in payloads keep double precision (read exactly from their text) and a number beyond
// double range is refused at write time on both paths, naming the field; the float32 rule does not
// reach a payload's own "vector" key.
BOOST_AUTO_TEST_CASE(payload_numbers_are_exact_and_in_range)
{
    for (const char* number : {"1e400", "-1e400", "1.8e308"}) {
        for (const char* id : {"\"a\"", "\"a\\u0041\""}) {
            std::string body = std::string(R"({"points":[{"id":)") + id + R"(,"vector":[1],"payload":{"k":{"a":[0,)" +
                               number + "]}}}]}";
            auto r = net::parse_points(body);
            BOOST_TEST_REQUIRE(!r.has_value(), body);
            BOOST_TEST(r.error().code == make_error_code(errc::invalid_argument));
            BOOST_TEST(r.error().context.find("points[0]") != std::string::npos, r.error().context);
            BOOST_TEST(r.error().context.find("k.a[1]") != std::string::npos, r.error().context);
        }
    }
    for (const char* id : {"\"a\"", "\"a\\u0041\""}) {
        std::string body = std::string(R"({"points":[{"id":)") + id +
                           R"(,"vector":[1],"payload":{"x":1.9143322110176086,"vector":[0.1],"tiny":1e-400}}]})";
        auto r = net::parse_points(body);
        BOOST_TEST_REQUIRE(r.has_value(), body);
        BOOST_TEST(r->payloads.at(0) == R"({"x":1.9143322110176086E0,"vector":[1E-1],"tiny":0E0})");
    }
}

// A stored payload that no longer parses is an error for the search that returns it, not null.
BOOST_AUTO_TEST_CASE(damaged_stored_payload_fails_the_answer)
{
    query::search_response response;
    response.hits.push_back({"good", 1.0f, R"({"a":1})"});
    response.hits.push_back({"bad", 2.0f, R"({"a":1e99999})"});
    auto body = net::search_json(response, {true, {}});
    BOOST_TEST_REQUIRE(!body.has_value());
    BOOST_TEST(body.error().code == make_error_code(errc::corruption));
    BOOST_TEST(body.error().context.find("'bad'") != std::string::npos, body.error().context);
    response.hits.back().payload = R"({"a":)";
    BOOST_TEST(!net::search_json(response, {true, {}}).has_value());
    BOOST_TEST(net::search_json(response, {false, {}}).has_value());
}

BOOST_AUTO_TEST_CASE(validation_messages_name_the_field)
{
    auto r = net::parse_search(R"({"vector":[1,2],"top_k":0})");
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().context.find("top_k") != std::string::npos);
    auto c = net::parse_create(R"({"name":"x","dimension":3,"metric":"hamming"})");
    BOOST_TEST_REQUIRE(!c.has_value());
    BOOST_TEST(c.error().context.find("hamming") != std::string::npos);
    auto d = net::parse_delete(R"({"ids":[]})");
    BOOST_TEST(!d.has_value());
    auto s = net::parse_search(R"({"vector":[1,2],"nprobe":null,"include_payload":null})");
    BOOST_TEST(s.has_value());
}

BOOST_AUTO_TEST_CASE(router_answers_503_while_shutting_down)
{
    routed_database rd;
    auto call = [&](std::string_view method, std::string_view target) { return rd.call(method, target); };
    BOOST_TEST(call("GET", "/healthz").status == 200u);
    rd.routes().set_shutting_down();
    auto h = call("GET", "/healthz");
    BOOST_TEST(h.status == 503u);
    BOOST_TEST(h.retry_after);
    BOOST_TEST(h.body.find("shutting_down") != std::string::npos);
    BOOST_TEST(call("GET", "/v1/collections").status == 503u);
    BOOST_TEST(call("GET", "/nowhere").status == 404u);
}

BOOST_AUTO_TEST_CASE(utf8_text_replaces_what_is_not_utf8)
{
    const std::string replacement = "\xEF\xBF\xBD";
    const std::string valid = "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // two, three, four bytes
    BOOST_TEST(net::utf8_text("plain ascii") == "plain ascii");
    BOOST_TEST(net::utf8_text(valid) == valid);
    // Stray continuation bytes; a sequence cut short; an overlong '/'; a surrogate; > U+10FFFF.
    BOOST_TEST(net::utf8_text("a\x8E\x8C") == "a" + replacement + replacement);
    BOOST_TEST(net::utf8_text("ab\xC3") == "ab" + replacement);
    BOOST_TEST(net::utf8_text("\xC0\xAF") == replacement + replacement);
    BOOST_TEST(net::utf8_text("\xE0\x80\xAF") == replacement + replacement + replacement);
    BOOST_TEST(net::utf8_text("\xED\xA0\x80") == replacement + replacement + replacement);
    BOOST_TEST(net::utf8_text("\xF4\x90\x80\x80") ==
               replacement + replacement + replacement + replacement);
    BOOST_TEST(net::utf8_text("\xFFx") == replacement + "x");
    BOOST_TEST(net::utf8_text(std::string_view("a\0b", 3)) == std::string("a\0b", 3));
}

// Found by fuzz_http_request: a request target with bytes that are not UTF-8 was quoted into the
// 404 message as is, and the response was not valid JSON; so was a collection name cut at 80
// bytes in the middle of a character.
BOOST_AUTO_TEST_CASE(error_bodies_are_valid_json_for_any_request_bytes)
{
    routed_database rd;
    auto call = [&](std::string_view method, std::string_view target, std::string body) {
        return rd.call(method, target, std::move(body));
    };
    auto expect_json = [](const net::http_response& r, unsigned status) {
        BOOST_TEST(r.status == status);
        boost::system::error_code ec;
        boost::json::value v = boost::json::parse(r.body, ec);
        BOOST_TEST(!ec, "not JSON: " << r.body);
        BOOST_TEST(v.is_object());
    };
    expect_json(call("POST", "/v1cosllectio\x8E\x8C", "{}"), 404u);
    expect_json(call("GET", "/v1/collections/\xFF\xFE/stats", ""), 400u);
    // The message quotes 80 bytes of the name: the cut splits the last character.
    std::string name = std::string(79, 'a') + "\xC3\xA9";
    expect_json(call("POST", "/v1/collections", R"({"name":")" + name + R"(","dimension":2})"),
                400u);
}

// Found by fuzz_http_request: a search whose squared distances overflow float32 (finite values
// near 1e38) answered "score":Infinity, which is not JSON.
// A body nests at most 64 levels, so a payload (three levels down) at most 61. Both parsers
// draw the line at the same place, and a stored payload at the limit comes back in a search.
BOOST_AUTO_TEST_CASE(payload_nesting_limit_is_the_same_everywhere)
{
    auto nested = [](int levels) {
        std::string p;
        for (int i = 0; i < levels; ++i) {
            p += i == 0 ? "{\"a\":" : "[";
        }
        p += "1";
        for (int i = levels - 1; i >= 0; --i) {
            p += i == 0 ? "}" : "]";
        }
        return p;
    };
    for (int levels : {60, 61, 62, 63}) {
        std::string payload = nested(levels);
        std::string body = R"({"points":[{"id":"a","vector":[1,2],"payload":)" + payload + "}]}";
        expect_same(body);
        // An escape in the id hands the body to the DOM parser: the same verdict.
        std::string dom_body = R"({"points":[{"id":"a\u0041","vector":[1,2],"payload":)" + payload + "}]}";
        auto fast = net::parse_points(body);
        auto dom = net::parse_points(dom_body);
        BOOST_TEST(fast.has_value() == (levels <= 61), "levels " << levels);
        BOOST_TEST(dom.has_value() == (levels <= 61), "levels " << levels);
        if (fast) {
            query::search_response response;
            response.hits.push_back({"a", 1.0f, fast->payloads.at(0)});
            boost::json::parse_options opts;
            opts.max_depth = 70;
            boost::json::value v = boost::json::parse(net::search_json(response, {true, {}}).value(), {}, opts);
            BOOST_TEST(boost::json::serialize(v.at("results").at(0).at("payload")) == payload);
        }
    }
}

// points[0] alone must not size the batch: a short body claiming 65,536 values per point and
// 100,000 points (the most a request may hold) is refused at its second point without asking
// for 26 GB.
BOOST_AUTO_TEST_CASE(first_point_does_not_size_the_whole_batch)
{
    std::string body = R"({"points":[{"id":"a\u0041","vector":[)";
    for (int i = 0; i < 65536; ++i) {
        body += i == 0 ? "0" : ",0";
    }
    body += "]}";
    for (int i = 1; i < 100000; ++i) {
        body += ",1";
    }
    body += "]}";
    auto r = net::detail::parse_points_dom(body);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().context.find("points[1]") != std::string::npos, r.error().context);
}

BOOST_AUTO_TEST_CASE(overflowing_scores_are_written_as_the_largest_float)
{
    query::search_response response;
    response.hits.push_back({"a", std::numeric_limits<float>::infinity(), ""});
    response.hits.push_back({"b", -std::numeric_limits<float>::infinity(), ""});
    response.hits.push_back({"c", 0.5f, ""});
    std::string body = net::search_json(response, {false, {}}).value();
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(body, ec);
    BOOST_TEST_REQUIRE(!ec, "not JSON: " << body);
    const auto& results = v.at("results").as_array();
    BOOST_TEST(results.at(0).at("score").to_number<float>() == std::numeric_limits<float>::max());
    BOOST_TEST(results.at(1).at("score").to_number<float>() == -std::numeric_limits<float>::max());
    BOOST_TEST(results.at(2).at("score").to_number<float>() == 0.5f);

    // End to end: stored and query values are finite, their squared distance is not.
    routed_database rd;
    auto call = [&](std::string_view method, std::string_view target, std::string request_body) {
        return rd.call(method, target, std::move(request_body));
    };
    BOOST_TEST(call("POST", "/v1/collections", R"({"name":"big","dimension":2})").status == 201u);
    BOOST_TEST(call("POST", "/v1/collections/big/points",
                    R"({"points":[{"id":"far","vector":[3e38,3e38]}]})")
                   .status == 200u);
    auto r = call("POST", "/v1/collections/big/search", R"({"vector":[-3e38,-3e38]})");
    BOOST_TEST(r.status == 200u);
    boost::json::value found = boost::json::parse(r.body, ec);
    BOOST_TEST_REQUIRE(!ec, "not JSON: " << r.body);
    BOOST_TEST(found.at("results").at(0).at("score").to_number<float>() ==
               std::numeric_limits<float>::max());
}

BOOST_AUTO_TEST_SUITE_END()
