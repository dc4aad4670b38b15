// Snapshots as a client sees them, against the real server: taken, listed, downloaded as a tar
// that `tar` lists, restored by upload under another name with every point and search answer
// equal, refused whole (400, 409, 403, 401) with nothing created, deleted; `puffer-server
// --restore` restores offline and refuses a damaged archive at start-up.
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>
#include <string>

using namespace puffer;
namespace json = boost::json;

namespace {

const std::string full_key = "snapshot-test-full-key-0123456789";
const std::string read_key = "snapshot-test-read-key-0123456789";

std::string points_body(int first, int n)
{
    std::string b = "{\"points\":[";
    for (int i = first; i < first + n; ++i) {
        if (i > first) {
            b += ",";
        }
        b += "{\"id\":\"p" + std::to_string(i) + "\",\"vector\":[" + std::to_string(i % 7) + "," +
             std::to_string((i * 3) % 11) + ".5," + std::to_string(i % 5) + "],\"payload\":{\"i\":" + std::to_string(i) +
             "}}";
    }
    return b + "]}";
}

std::string answers(net::http_client& c, const std::string& name)
{
    std::string out;
    for (int q = 0; q < 5; ++q) {
        auto r = c.request("POST", "/v1/collections/" + name + "/search",
                           "{\"vector\":[" + std::to_string(q) + ",2," + std::to_string(q % 3) +
                               "],\"top_k\":5,\"include_payload\":true}");
        BOOST_TEST_REQUIRE(r->status == 200u, r->body);
        out += json::serialize(json::parse(r->body).at("results")) + "\n";
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(snapshot_api)

BOOST_AUTO_TEST_CASE(snapshot_download_restore_delete)
{
    test::temp_dir dir;
    test::server_process server(dir.file("data"), {"--api-key", full_key, "--read-only-api-key", read_key});
    auto c = server.client();
    c.set_api_key(full_key);
    BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections", R"({"name":"c","dimension":3})")->status == 201u);
    BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/c/points", points_body(0, 600))->status == 200u);
    BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/c/flush")->status == 200u);
    BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/c/points", points_body(600, 50))->status == 200u);
    const std::string before = answers(c, "c");

    auto made = c.request("POST", "/v1/collections/c/snapshots");
    BOOST_TEST_REQUIRE(made->status == 201u, made->body);
    json::value info = json::parse(made->body);
    const std::string id(info.at("id").as_string());
    BOOST_TEST(info.at("points").to_number<double>() == 650);
    BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/c/points", points_body(650, 10))->status == 200u);

    auto listed = c.request("GET", "/v1/collections/c/snapshots");
    BOOST_TEST_REQUIRE(listed->status == 200u);
    BOOST_TEST(json::parse(listed->body).at("snapshots").as_array().size() == 1u);

    auto tar = c.request("GET", "/v1/collections/c/snapshots/" + id);
    BOOST_TEST_REQUIRE(tar->status == 200u);
    BOOST_TEST(tar->header("content-type") == "application/x-tar");
    BOOST_TEST(tar->header("content-disposition").find("c-" + id + ".tar") != std::string::npos);
    BOOST_TEST(tar->header("content-length") == std::to_string(tar->body.size()));
    {
        std::ofstream(dir.file("s.tar"), std::ios::binary) << tar->body;
        std::string listing;
        BOOST_TEST_REQUIRE(test::run_command({"/usr/bin/tar", "-tf", dir.file("s.tar")}, listing) == 0, listing);
        BOOST_TEST(listing.find("SNAPSHOT\nMANIFEST\n") == 0u, listing);
        BOOST_TEST(listing.find("segments/") != std::string::npos, listing);
        BOOST_TEST(listing.find("CHECKSUMS\n") != std::string::npos, listing);
    }

    // The read-only key may not take, read or restore snapshots; no key gets 401.
    auto reader = server.client();
    reader.set_api_key(read_key);
    BOOST_TEST(reader.request("POST", "/v1/collections/c/snapshots")->status == 403u);
    BOOST_TEST(reader.request("GET", "/v1/collections/c/snapshots/" + id)->status == 403u);
    BOOST_TEST(reader.request("POST", "/v1/collections/r/snapshots/restore", tar->body)->status == 403u);
    BOOST_TEST(server.client().request("GET", "/v1/collections/c/snapshots")->status == 401u);
    BOOST_TEST(server.client().request("POST", "/v1/collections/r/snapshots/restore", tar->body)->status == 401u);

    // Damaged, cut and existing-name restores change nothing.
    // A bit flipped inside the first segment's bytes (after the SNAPSHOT, MANIFEST and segment
    // headers, each a 512-byte header and one block of data); padding is not checked.
    const std::size_t in_segment = 5 * 512 + 300;
    std::string flipped = tar->body;
    BOOST_TEST_REQUIRE(tar->body.compare(2048 + 0, 8, "segments") == 0);
    flipped[in_segment] = static_cast<char>(flipped[in_segment] ^ 0x04);
    for (const std::string& bad : {tar->body.substr(0, tar->body.size() / 2), flipped, std::string("hello")}) {
        auto r = c.request("POST", "/v1/collections/r/snapshots/restore", bad);
        BOOST_TEST(r->status == 400u, r->body);
        BOOST_TEST(r->body.find("snapshot archive") != std::string::npos, r->body);
    }
    BOOST_TEST(c.request("GET", "/v1/collections/r")->status == 404u);
    auto exists = c.request("POST", "/v1/collections/c/snapshots/restore", tar->body);
    BOOST_TEST(exists->status == 409u, exists->body);

    auto restored = c.request("POST", "/v1/collections/r/snapshots/restore", tar->body);
    BOOST_TEST_REQUIRE(restored->status == 201u, restored->body);
    BOOST_TEST(json::parse(restored->body).at("restored").as_string() == "r");
    BOOST_TEST((answers(c, "r") == before));
    auto count = c.request("POST", "/v1/collections/r/points/count", "{}");
    BOOST_TEST(json::parse(count->body).at("count").to_number<double>() == 650);

    BOOST_TEST(c.request("DELETE", "/v1/collections/c/snapshots/" + id)->status == 200u);
    BOOST_TEST(c.request("DELETE", "/v1/collections/c/snapshots/" + id)->status == 404u);
    BOOST_TEST(c.request("GET", "/v1/collections/c/snapshots/" + id)->status == 404u);
    BOOST_TEST(c.request("GET", "/v1/collections/nope/snapshots")->status == 404u);
    BOOST_TEST(server.stop() == 0);

    // Offline: a damaged archive stops start-up, a good one is served.
    std::ofstream(dir.file("bad.tar"), std::ios::binary) << flipped;
    std::string out;
    BOOST_TEST(test::run_command({test::server_binary(), "--data-dir", dir.file("data2"), "--bind-addr", "127.0.0.1:0", "--restore",
                                  dir.file("bad.tar")},
                                 out) != 0);
    BOOST_TEST(out.find("snapshot archive") != std::string::npos, out);
    test::server_process offline(dir.file("data2"), {"--restore", dir.file("s.tar"), "--restore-as", "back"});
    auto o = offline.client();
    BOOST_TEST((answers(o, "back") == before));
}

BOOST_AUTO_TEST_SUITE_END()
