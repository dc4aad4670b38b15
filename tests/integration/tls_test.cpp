// TLS against the real server: a certificate made here with openssl; curl and the Python client
// talk HTTPS with it (keys still apply); a client that does not trust it fails its handshake and
// the server goes on; plain HTTP to the TLS port gets a 400 saying so; bytes that are not a TLS
// handshake close that connection only; an expired certificate, a key of another certificate or
// one of the two flags alone stop the server at start with a clear message.
#include "tests/support/raw_connection.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace puffer;
namespace json = boost::json;

namespace {

const std::string key = "tls-full-0123456789";

int sh(const std::string& line, std::string& out)
{
    return test::run_command({"/bin/sh", "-c", line}, out);
}

// A self-signed certificate for 127.0.0.1 valid for `days` days (0: it expires as it is made).
void make_certificate(const std::string& cert, const std::string& private_key, int days)
{
    std::string out;
    std::string line = "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -addext "
                       "subjectAltName=IP:127.0.0.1 -keyout '" + private_key + "' -out '" + cert + "' -days 30";
    if (days == 0) {
        // req -x509 wants at least a day; x509 -req signs the same key for zero days.
        line = "openssl genrsa -out '" + private_key + "' 2048 && openssl req -new -key '" + private_key +
               "' -subj /CN=127.0.0.1 | openssl x509 -req -signkey '" + private_key + "' -days 0 -out '" + cert + "'";
    }
    BOOST_TEST_REQUIRE(sh(line + " 2>&1", out) == 0, out);
}

std::string curl(const std::string& args, int& rc)
{
    std::string out;
    rc = sh("curl -sS --max-time 10 " + args + " 2>&1", out);
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tls)

BOOST_AUTO_TEST_CASE(https_with_keys_and_clients)
{
    test::temp_dir dir;
    const std::string cert = dir.file("cert.pem");
    const std::string private_key = dir.file("key.pem");
    make_certificate(cert, private_key, 30);
    test::server_process server(dir.file("data"),
                                {"--tls-cert", cert, "--tls-key", private_key, "--api-key", key, "--log-level", "info"});
    const std::string base = "https://127.0.0.1:" + std::to_string(server.port());
    const std::string auth = " -H 'Authorization: Bearer " + key + "' --cacert '" + cert + "' ";
    int rc = 0;

    BOOST_TEST((curl("--cacert '" + cert + "' " + base + "/healthz", rc) == R"({"status":"ok"})"));
    BOOST_TEST(rc == 0);
    // Keys apply over TLS as over plain HTTP.
    std::string denied = curl("--cacert '" + cert + "' -o /dev/null -w '%{http_code}' " + base + "/v1/collections", rc);
    BOOST_TEST(denied == "401");
    std::string made = curl(auth + "-X POST -d '{\"name\":\"t\",\"dimension\":2}' " + base + "/v1/collections", rc);
    BOOST_TEST(rc == 0, made);
    BOOST_TEST(made.find("\"name\":\"t\"") != std::string::npos, made);
    std::string upserted = curl(auth + "-X POST -d '{\"points\":[{\"id\":\"a\",\"vector\":[1,2]},{\"id\":\"b\",\"vector\":[5,5]}]}' " +
                                    base + "/v1/collections/t/points",
                                rc);
    BOOST_TEST(upserted == R"({"upserted":2})");
    // Two requests on one kept-alive TLS connection, then a Connection: close one.
    std::string two = curl(auth + base + "/healthz " + base + "/healthz", rc);
    BOOST_TEST((two == R"({"status":"ok"}{"status":"ok"})"), two);
    std::string closing = curl(auth + "-H 'Connection: close' -X POST -d '{\"vector\":[1,2],\"top_k\":1}' " + base +
                                   "/v1/collections/t/search",
                               rc);
    BOOST_TEST(rc == 0, closing);
    BOOST_TEST(closing.find("\"id\":\"a\"") != std::string::npos, closing);

    // A client that does not trust the certificate: its handshake fails (curl: 60), nothing else.
    curl(base + "/healthz", rc);
    BOOST_TEST(rc == 60);

    // The Python client over HTTPS: trusting the certificate (ca_file), and not.
    const std::string clients = std::string(PUFFER_TEST_DATA_DIR) + "/../../clients/python";
    auto python = [&](const std::string& ca_file, std::string& out) {
        return test::run_command({"/usr/bin/python3", "-c",
                                  "import openpuffer\n"
                                  "c = openpuffer.Client('" + base + "', api_key='" + key + "', ca_file=" + ca_file + ")\n"
                                  "hits = c.search('t', [5, 5], top_k=1)\n"
                                  "print(hits.hits[0].id)\n"},
                                 out, {"PYTHONPATH=" + clients});
    };
    std::string out;
    BOOST_TEST(python("'" + cert + "'", out) == 0, out);
    BOOST_TEST(out == "b\n", out);
    BOOST_TEST(python("None", out) != 0, out);
    BOOST_TEST(out.find("CERTIFICATE_VERIFY_FAILED") != std::string::npos, out);

    // puffer-cli over HTTPS: --ca-file trusts the certificate; without it the handshake fails
    // and says how to trust it.
    const std::string cli = test::cli_binary();
    BOOST_TEST(test::run_command({cli, "--server", base, "--api-key", key, "--ca-file", cert, "list-collections"}, out) ==
                   0,
               out);
    BOOST_TEST(out.find("t") != std::string::npos, out);
    BOOST_TEST(test::run_command({cli, "search", "--collection", "t", "--vector", "[5,5]", "--top-k", "1"}, out,
                                 {"PUFFER_SERVER=" + base, "PUFFER_API_KEY=" + key, "PUFFER_CA_FILE=" + cert}) == 0,
               out);
    BOOST_TEST(out.find("\"b\"") != std::string::npos, out);
    BOOST_TEST(test::run_command({cli, "--server", base, "--api-key", key, "list-collections"}, out) == 1, out);
    BOOST_TEST(out.find("certificate verify failed") != std::string::npos, out);
    BOOST_TEST(out.find("--ca-file") != std::string::npos, out);

    // Plain HTTP to the TLS port: a 400 that says what to do, and the connection ends.
    {
        test::raw_connection plain(server.port());
        BOOST_TEST_REQUIRE(plain.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
        std::string answer = plain.read_until_closed(std::chrono::seconds(5));
        BOOST_TEST(test::first_status(answer) == 400u, answer);
        BOOST_TEST(answer.find("this port speaks HTTPS") != std::string::npos, answer);
        BOOST_TEST(plain.closed());
    }
    // A TLS record and ClientHello header followed by garbage: the handshake fails, that
    // connection closes, the server serves on.
    {
        test::raw_connection garbage(server.port());
        BOOST_TEST_REQUIRE(garbage.send(std::string("\x16\x03\x01\x00\x40\x01\x00\x00\x3c", 9) + std::string(60, 'x')));
        std::string answer = garbage.read_until_closed(std::chrono::seconds(5));
        BOOST_TEST(garbage.closed());
        BOOST_TEST(answer.find("HTTP/1.1") == std::string::npos, answer);
    }
    BOOST_TEST((curl("--cacert '" + cert + "' " + base + "/healthz", rc) == R"({"status":"ok"})"));
    BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_CASE(unusable_certificates_stop_the_start)
{
    test::temp_dir dir;
    const std::string cert = dir.file("cert.pem");
    const std::string private_key = dir.file("key.pem");
    const std::string expired = dir.file("expired.pem");
    const std::string expired_key = dir.file("expired-key.pem");
    make_certificate(cert, private_key, 30);
    make_certificate(expired, expired_key, 0);
    ::sleep(1);  // notAfter is the second it was made
    struct start_case {
        std::vector<std::string> args;
        std::string message;
    };
    const std::vector<start_case> cases = {
        {{"--tls-cert", expired, "--tls-key", expired_key}, "expired on"},
        {{"--tls-cert", cert, "--tls-key", expired_key}, "cannot use the TLS key"},
        {{"--tls-cert", cert}, "TLS needs both --tls-cert and --tls-key"},
        {{"--tls-cert", dir.file("missing.pem"), "--tls-key", private_key}, "cannot use the TLS certificate"},
    };
    for (const auto& c : cases) {
        std::vector<std::string> argv = {test::server_binary(), "--data-dir", dir.file("data"), "--bind-addr",
                                         "127.0.0.1:0"};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        std::string out;
        BOOST_TEST(test::run_command(argv, out) == 1, out);
        BOOST_TEST(out.find(c.message) != std::string::npos, out);
    }
}

BOOST_AUTO_TEST_SUITE_END()
