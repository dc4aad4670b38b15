// Limits hold under abuse, against the real server: a client that sends half a request, or
// nothing, is dropped at the request deadline, not before it, while others are served; thousands of
// idle connections do not stop the server answering; a thousand collections are created, listed,
// and all come back after a restart. (scripts/load.sh runs the 10,000-collection version.)
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <vector>
#include <unistd.h>

using namespace puffer;
namespace json = boost::json;
using clock_type = std::chrono::steady_clock;

namespace {

int connect_raw(std::uint16_t port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (fd >= 0) {
            ::close(fd);
        }
        return -1;
    }
    return fd;
}

// Seconds from start until the server closed each of fds (watched together, so one close does
// not wait behind another), or -1 for one still open at start + timeout.
std::vector<double> close_times(const std::vector<int>& fds, clock_type::time_point start,
                                std::chrono::milliseconds timeout)
{
    std::vector<double> closed(fds.size(), -1);
    std::size_t open = fds.size();
    char buf[4096];
    while (open > 0 && clock_type::now() - start < timeout) {
        std::vector<pollfd> p;
        std::vector<std::size_t> which;
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (closed[i] < 0) {
                p.push_back(pollfd{fds[i], POLLIN, 0});
                which.push_back(i);
            }
        }
        if (::poll(p.data(), p.size(), 20) <= 0) {
            continue;
        }
        for (std::size_t k = 0; k < p.size(); ++k) {
            if ((p[k].revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
                ::recv(p[k].fd, buf, sizeof buf, 0) <= 0) {
                closed[which[k]] = std::chrono::duration<double>(clock_type::now() - start).count();
                --open;
            }
        }
    }
    return closed;
}

unsigned status_of(net::http_client& c, std::string_view method, std::string_view target, std::string_view body = {})
{
    auto r = c.request(method, target, body);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    return r->status;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(abuse_suite)

// Both connections are timed from before they were opened, so neither close can come before the
// 400 ms request deadline has run out (a lower bound: a server that dropped them at once, or on
// the first partial read, fails) nor long after it.
BOOST_AUTO_TEST_CASE(slow_and_half_open_clients_are_dropped_at_the_deadline)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"), {"--request-timeout-ms", "400"});
    auto start = clock_type::now();
    int silent = connect_raw(server.port());
    int slow = connect_raw(server.port());
    BOOST_TEST_REQUIRE(silent >= 0);
    BOOST_TEST_REQUIRE(slow >= 0);
    const char partial[] = "POST /v1/collections HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"na";
    BOOST_TEST_REQUIRE(::send(slow, partial, sizeof partial - 1, 0) > 0);
    // Meanwhile the server answers others.
    auto c = server.client();
    BOOST_TEST(status_of(c, "GET", "/healthz") == 200u);
    auto closed = close_times({silent, slow}, start, std::chrono::seconds(5));
    BOOST_TEST_MESSAGE("silent client dropped after " << closed[0] << " s, slow client after "
                                                      << closed[1] << " s");
    BOOST_TEST_REQUIRE(closed[0] >= 0.0, "the silent client was never dropped");
    BOOST_TEST_REQUIRE(closed[1] >= 0.0, "the slow client was never dropped");
    // Not before the deadline (less a little for the timer's granularity), and not long after.
    BOOST_TEST(closed[0] >= 0.35);
    BOOST_TEST(closed[1] >= 0.35);
    BOOST_TEST(closed[0] < 3.0);
    BOOST_TEST(closed[1] < 3.0);
    ::close(silent);
    ::close(slow);
    BOOST_TEST(status_of(c, "GET", "/healthz") == 200u);
    BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_CASE(thousands_of_idle_connections)
{
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    const std::size_t wanted = std::min<std::size_t>(3000, limit.rlim_cur > 200 ? limit.rlim_cur - 200 : 0);
    test::temp_dir dir;
    test::server_process server(dir.file("data"));
    std::vector<int> idle;
    for (std::size_t i = 0; i < wanted; ++i) {
        int fd = connect_raw(server.port());
        if (fd < 0) {
            break;
        }
        idle.push_back(fd);
    }
    BOOST_TEST_MESSAGE("idle connections open: " << idle.size());
    BOOST_TEST(idle.size() >= std::min<std::size_t>(wanted, 2000));
    auto c = server.client();
    auto start = clock_type::now();
    for (int i = 0; i < 50; ++i) {
        BOOST_TEST_REQUIRE(status_of(c, "GET", "/healthz") == 200u);
    }
    double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    BOOST_TEST(seconds < 2.0, "50 requests took " << seconds << " s with " << idle.size() << " idle connections");
    BOOST_TEST(status_of(c, "POST", "/v1/collections", R"({"name":"busy","dimension":2})") == 201u);
    for (int fd : idle) {
        ::close(fd);
    }
    BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_CASE(a_thousand_collections_survive_a_restart)
{
    const int count = 1000;
    test::temp_dir dir;
    {
        test::server_process server(dir.file("data"));
        std::vector<std::thread> threads;
        std::atomic<int> failures{0};
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                auto c = server.client();
                for (int i = t; i < count; i += 4) {
                    std::string name = "c" + std::to_string(i);
                    auto r = c.request("POST", "/v1/collections", "{\"name\":\"" + name + "\",\"dimension\":4}");
                    auto p = c.request("POST", "/v1/collections/" + name + "/points",
                                       "{\"points\":[{\"id\":\"x\",\"vector\":[1,2,3," + std::to_string(i) + "]}]}");
                    if (!r || r->status != 201 || !p || p->status != 200) {
                        ++failures;
                    }
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        BOOST_TEST(failures.load() == 0);
        BOOST_TEST(server.stop() == 0);
    }
    test::server_process server(dir.file("data"));
    auto c = server.client();
    auto r = c.request("GET", "/v1/collections");
    BOOST_TEST_REQUIRE(r.has_value());
    json::value v = json::parse(r->body);
    BOOST_TEST(v.at("collections").as_array().size() == static_cast<std::size_t>(count));
    auto s = c.request("POST", "/v1/collections/c777/search", R"({"vector":[1,2,3,777],"top_k":1})");
    BOOST_TEST_REQUIRE(s.has_value());
    BOOST_TEST(s->status == 200u);
    BOOST_TEST(s->body.find("\"x\"") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
