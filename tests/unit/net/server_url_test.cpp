// Server URLs as puffer-cli takes them: scheme, host, port and its defaults, IPv6 brackets, and
// the refusals.
#include "net/http_client.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace puffer;

BOOST_AUTO_TEST_SUITE(server_url)

BOOST_AUTO_TEST_CASE(schemes_hosts_and_ports)
{
    struct want {
        const char* url;
        const char* host;
        unsigned port;
        bool tls;
    };
    const want cases[] = {
        {"http://127.0.0.1:8080", "127.0.0.1", 8080, false},
        {"127.0.0.1:9000", "127.0.0.1", 9000, false},
        {"http://db.example/v1/collections", "db.example", 80, false},
        {"https://db.example", "db.example", 443, true},
        {"https://127.0.0.1:8443/", "127.0.0.1", 8443, true},
        {"https://[::1]:8443", "::1", 8443, true},
        {"http://[::1]", "::1", 80, false},
    };
    for (const auto& w : cases) {
        auto a = net::parse_server_url(w.url);
        BOOST_TEST_REQUIRE(a.has_value(), w.url);
        BOOST_TEST(a->host == w.host, w.url);
        BOOST_TEST(a->port == w.port, w.url);
        BOOST_TEST(a->tls == w.tls, w.url);
    }
}

BOOST_AUTO_TEST_CASE(refusals)
{
    for (const char* url : {"ftp://host:21", "http://host:0", "http://host:65536", "http://host:x", "http://:80",
                            "https://"}) {
        auto a = net::parse_server_url(url);
        BOOST_TEST(!a.has_value(), url);
        if (!a) {
            BOOST_TEST(is(a.error(), errc::invalid_argument), url);
        }
    }
    auto scheme = net::parse_server_url("ftp://host");
    BOOST_TEST(!scheme.has_value());
    if (!scheme) {
        BOOST_TEST(scheme.error().text().find("only http:// and https://") != std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()
