// API keys against the real server: every route with no key, a wrong key, the read-only key and
// the full key; /healthz open; the CLI's --api-key and PUFFER_API_KEY; keys from a file; unusable
// key settings refused at start. And the default for a server without a key, seen from another
// host: a client in a network namespace of this test's own (a veth pair) gets 401 with the way
// out, unless the server was started with --allow-unauthenticated. Needs root for the namespace.
#include "tests/support/raw_connection.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <string>
#include <tuple>
#include <unistd.h>
#include <vector>

using namespace puffer;
namespace json = boost::json;

namespace {

const std::string full_key = "full-0123456789abcdef";
const std::string read_key = "read-0123456789abcdef";

struct route {
    const char* method;
    const char* target;
    const char* body;
    bool writes;
};

// Every route but /healthz. The collection "c" exists; the bodies are valid, so that with the
// right key a route answers as it would without keys (200, 201, 400 or 404 are all "let in").
const route routes[] = {
    {"GET", "/v1/collections", "", false},
    {"POST", "/v1/collections", R"({"name":"made","dimension":2})", true},
    {"GET", "/v1/collections/c", "", false},
    {"GET", "/v1/collections/c/stats", "", false},
    {"POST", "/v1/collections/c/points", R"({"points":[{"id":"p9","vector":[9,9]}]})", true},
    {"POST", "/v1/collections/c/points/delete", R"({"ids":["p9"]})", true},
    {"POST", "/v1/collections/c/search", R"({"vector":[1,1],"top_k":1})", false},
    {"POST", "/v1/collections/c/search/batch", R"({"searches":[{"vector":[1,1],"top_k":1}]})", false},
    {"POST", "/v1/collections/c/recall", R"({"num_queries":2})", false},
    {"POST", "/v1/collections/c/flush", "", true},
    {"POST", "/v1/collections/c/compact", "", true},
    {"DELETE", "/v1/collections/made", "", true},
    {"GET", "/v1/no/such/route", "", false},
};

unsigned status_with(const test::server_process& server, const std::string& key, const route& r)
{
    auto c = server.client();
    c.set_api_key(key);
    auto answer = c.request(r.method, r.target, r.body);
    BOOST_TEST_REQUIRE(answer.has_value(), answer.error().message());
    return answer->status;
}

std::string error_code_of(const net::client_response& r)
{
    auto v = json::parse(r.body);
    return std::string(v.at("error").at("code").as_string());
}

// Runs a shell command line; its exit code (output discarded unless asked for).
int sh(const std::string& line, std::string* output = nullptr)
{
    std::string out;
    int rc = test::run_command({"/bin/sh", "-c", line}, out);
    if (output != nullptr) {
        *output = out;
    }
    return rc;
}

// A network namespace with one end of a veth pair at 10.231.<n>.2, the other end here at
// 10.231.<n>.1: a client in it reaches this host's servers from a non-loopback address.
class other_host {
public:
    other_host()
    {
        std::string id = std::to_string(::getpid() % 200 + 20);
        ns_ = "puffer-auth-" + id;
        here_ = "vpa" + id;
        there_ = "vpb" + id;
        address_ = "10.231." + id + ".1";
        std::string peer = "10.231." + id + ".2";
        sh("ip netns del " + ns_ + " 2>/dev/null; ip link del " + here_ + " 2>/dev/null");
        std::string out;
        int rc = sh("set -e; ip netns add " + ns_ + "; ip link add " + here_ + " type veth peer name " + there_ +
                        "; ip link set " + there_ + " netns " + ns_ + "; ip addr add " + address_ + "/24 dev " +
                        here_ + "; ip link set " + here_ + " up; ip netns exec " + ns_ + " ip addr add " + peer +
                        "/24 dev " + there_ + "; ip netns exec " + ns_ + " ip link set " + there_ +
                        " up; ip netns exec " + ns_ + " ip link set lo up",
                    &out);
        BOOST_TEST_REQUIRE(rc == 0, "could not make the network namespace: " << out);
    }
    ~other_host() { sh("ip netns del " + ns_ + " 2>/dev/null; ip link del " + here_ + " 2>/dev/null"); }

    // The HTTP status a GET of target on this host's port gets from inside the namespace, and
    // the answer's body.
    unsigned get(std::uint16_t port, const std::string& target, std::string& body, const std::string& key = {})
    {
        std::string out;
        std::string auth = key.empty() ? "" : " -H 'Authorization: Bearer " + key + "'";
        int rc = sh("ip netns exec " + ns_ + " curl -s -m 10" + auth + " -w '\\n%{http_code}' http://" + address_ +
                        ":" + std::to_string(port) + target,
                    &out);
        BOOST_TEST_REQUIRE(rc == 0, "curl from the namespace failed: " << out);
        auto nl = out.rfind('\n');
        body = out.substr(0, nl);
        return static_cast<unsigned>(std::stoul(out.substr(nl + 1)));
    }

private:
    std::string ns_;
    std::string here_;
    std::string there_;
    std::string address_;
};

void require_root()
{
    if (::geteuid() != 0) {
        std::exit(test::skip_or_fail_code("integration_operate", "the network namespace needs root"));
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(auth_suite)

BOOST_AUTO_TEST_CASE(every_route_with_no_key_a_wrong_key_the_read_only_key_and_the_full_key)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"),
                                {"--api-key", full_key, "--read-only-api-key", read_key, "--log-level", "info"});
    {
        auto c = server.client();
        c.set_api_key(full_key);
        BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections", R"({"name":"c","dimension":2})")->status == 201u);
        auto up = c.request("POST", "/v1/collections/c/points",
                            R"({"points":[{"id":"p1","vector":[1,1]},{"id":"p2","vector":[2,2]},{"id":"p3","vector":[3,1]}]})");
        BOOST_TEST_REQUIRE(up->status == 200u);
    }
    auto healthz = server.client().request("GET", "/healthz");
    BOOST_TEST(healthz->status == 200u);  // open without a key
    for (const route& r : routes) {
        std::string what = std::string(r.method) + " " + r.target;
        for (const std::string& wrong : {std::string(), std::string("not-the-key"), full_key + "x",
                                         full_key.substr(0, full_key.size() - 1)}) {
            auto c = server.client();
            c.set_api_key(wrong);
            auto answer = c.request(r.method, r.target, r.body);
            BOOST_TEST_REQUIRE(answer.has_value());
            BOOST_TEST(answer->status == 401u, what << " with key '" << wrong << "'");
            BOOST_TEST(error_code_of(*answer) == "unauthorized", what);
        }
        unsigned with_read = status_with(server, read_key, r);
        if (r.writes) {
            BOOST_TEST(with_read == 403u, what << " with the read-only key");
        } else {
            BOOST_TEST((with_read != 401u && with_read != 403u), what << " with the read-only key: " << with_read);
        }
        unsigned with_full = status_with(server, full_key, r);
        BOOST_TEST((with_full != 401u && with_full != 403u), what << " with the full key: " << with_full);
    }
    // The api-key header works as well as a Bearer token, and the read-only key in it still
    // may not write.
    for (const auto& [key, target, expected] : {std::tuple{full_key, "/v1/collections/c/flush", 200u},
                                                std::tuple{read_key, "/v1/collections/c/flush", 403u},
                                                std::tuple{read_key, "/v1/collections/c/stats", 200u}}) {
        test::raw_connection raw(server.port());
        std::string method = std::string(target).ends_with("flush") ? "POST" : "GET";
        BOOST_TEST_REQUIRE(raw.send(method + " " + target + " HTTP/1.1\r\nHost: x\r\napi-key: " + key +
                                    "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
        BOOST_TEST(test::first_status(raw.read_until_closed(std::chrono::seconds(30))) == expected, target);
    }
    // Nothing the refused calls sent was applied: p9 never got in, "made" is gone again.
    {
        auto c = server.client();
        c.set_api_key(read_key);
        auto st = c.request("GET", "/v1/collections/c/stats");
        BOOST_TEST_REQUIRE(st->status == 200u);
        BOOST_TEST(json::parse(st->body).at("points").as_int64() == 3);
    }
    // The keys never reach the log.
    server.stop();
    std::ifstream in(server.log_path());
    std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    BOOST_TEST(log.find("access: API key required, a full key and a read-only key configured") != std::string::npos);
    BOOST_TEST(log.find(full_key) == std::string::npos);
    BOOST_TEST(log.find(read_key) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_cli_sends_its_key_and_keys_come_from_files_and_the_environment)
{
    test::temp_dir dir;
    {
        std::ofstream f(dir.file("key"));
        f << full_key << "\n";
    }
    test::server_process server(dir.file("data"), {"--api-key-file", dir.file("key")});
    std::string out;
    const std::string cli = test::cli_binary();
    BOOST_TEST(test::run_command({cli, "--server", server.url(), "list-collections"}, out) == 1, out);
    BOOST_TEST(out.find("401") != std::string::npos, out);
    BOOST_TEST(test::run_command({cli, "--server", server.url(), "--api-key", full_key, "create-collection", "--name",
                                  "a", "--dimension", "4"},
                                 out) == 0,
               out);
    BOOST_TEST(test::run_command({cli, "list-collections", "--server", server.url(), "--api-key", full_key}, out) == 0,
               out);
    BOOST_TEST(out.find("\na ") != std::string::npos, out);
    BOOST_TEST(test::run_command({cli, "--server", server.url(), "stats", "--collection", "a"}, out,
                                 {"PUFFER_API_KEY=" + full_key}) == 0,
               out);
    test::server_process from_env(dir.file("data2"), {}, {"PUFFER_API_KEY=" + read_key});
    auto c = from_env.client();
    BOOST_TEST(c.request("GET", "/v1/collections")->status == 401u);
    c.set_api_key(read_key);
    BOOST_TEST(c.request("GET", "/v1/collections")->status == 200u);
}

BOOST_AUTO_TEST_CASE(unusable_key_settings_stop_the_server_at_start)
{
    test::temp_dir dir;
    const std::string server = test::server_binary();
    std::string out;
    auto start = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {server, "--data-dir", dir.file("data"), "--bind-addr", "127.0.0.1:0"});
        return test::run_command(args, out);
    };
    BOOST_TEST(start({"--api-key", "has space"}) == 2, out);
    BOOST_TEST(out.find("not a usable key") != std::string::npos, out);
    BOOST_TEST(start({"--api-key", "same-key", "--read-only-api-key", "same-key"}) == 2, out);
    BOOST_TEST(out.find("must differ") != std::string::npos, out);
    BOOST_TEST(start({"--api-key-file", dir.file("missing")}) == 2, out);
    BOOST_TEST(out.find("cannot read a key") != std::string::npos, out);
    {
        std::ofstream f(dir.file("k"));
        f << "k1\n";
    }
    BOOST_TEST(start({"--api-key", "k1", "--api-key-file", dir.file("k")}) == 2, out);
    BOOST_TEST(out.find("not both") != std::string::npos, out);
}

BOOST_AUTO_TEST_CASE(a_server_without_a_key_answers_other_hosts_401_unless_allowed)
{
    require_root();
    other_host remote;
    test::temp_dir dir;
    std::string body;
    {
        test::server_process server(dir.file("data"), {"--bind-addr", "0.0.0.0:0", "--log-level", "info"});
        BOOST_TEST(remote.get(server.port(), "/healthz", body) == 200u, body);
        BOOST_TEST(remote.get(server.port(), "/v1/collections", body) == 401u, body);
        BOOST_TEST(body.find("--api-key") != std::string::npos, body);
        BOOST_TEST(body.find("--allow-unauthenticated") != std::string::npos, body);
        BOOST_TEST(server.client().request("GET", "/v1/collections")->status == 200u);  // loopback
        server.stop();
        std::ifstream in(server.log_path());
        std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        BOOST_TEST(log.find("only loopback clients are served") != std::string::npos);
    }
    {
        test::server_process server(dir.file("data"),
                                    {"--bind-addr", "0.0.0.0:0", "--allow-unauthenticated", "--log-level", "info"});
        BOOST_TEST(remote.get(server.port(), "/v1/collections", body) == 200u, body);
        server.stop();
        std::ifstream in(server.log_path());
        std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        BOOST_TEST(log.find("every client served (--allow-unauthenticated)") != std::string::npos);
    }
    {
        test::server_process server(dir.file("data"), {"--bind-addr", "0.0.0.0:0", "--api-key", full_key});
        BOOST_TEST(remote.get(server.port(), "/v1/collections", body) == 401u, body);
        BOOST_TEST(remote.get(server.port(), "/v1/collections", body, full_key) == 200u, body);
    }
}

BOOST_AUTO_TEST_SUITE_END()
