// The I/O mode the server reports is the one it uses, and direct mode never falls back to
// buffered reads: the real server on the test's file system logs io_uring and O_DIRECT (mmap
// mode logs buffered); on ramfs, which refuses O_DIRECT, --io-mode direct fails to start with a
// clear message while mmap mode serves; on tmpfs it does whatever an O_DIRECT open there does.
// Mounting needs root: without it the test exits 77 at a desk and fails under CI=true.
#include "engine/io/ring.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace puffer;

namespace {

struct mount_point {
    std::string path;
    mount_point(const std::string& p, const char* type) : path(p)
    {
        ::mkdir(p.c_str(), 0755);
        if (::mount(type, p.c_str(), type, 0, "size=64m") != 0) {
            test::skip_or_fail("io_mode_test", std::string("cannot mount a ") + type + " at " + p +
                                                   " (" + std::strerror(errno) + ")");
        }
    }
    ~mount_point() { ::umount2(path.c_str(), MNT_DETACH); }
};

// The start-up line a server here must log for its segment reads: the ring is io_uring where
// this process can set one up, else the synchronous ring, logged as a warning (a kernel without
// io_uring is ring_test's and the crash harness's business: a skip, a failure under CI).
std::string expected_io_line(const std::string& segment_reads)
{
    if (io::make_uring_ring(io::uring_options{})) {
        return "io: io_uring, segment reads " + segment_reads;
    }
    return "io: sync ring, segment reads " + segment_reads + " (io_uring unavailable)";
}

// Whether a file under dir opens with O_DIRECT (and keeps the flag).
bool o_direct_works(const std::string& dir)
{
    std::string path = dir + "/probe";
    test::spit(path, std::string(4096, 'p'));
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT);
    bool works = fd >= 0 && (::fcntl(fd, F_GETFL) & O_DIRECT) != 0;
    if (fd >= 0) {
        ::close(fd);
    }
    ::unlink(path.c_str());
    return works;
}

// A collection with a segment (read through the mode under test) answers a search.
void serve_a_segment(test::server_process& server)
{
    auto c = server.client();
    BOOST_TEST_REQUIRE(
        c.request("POST", "/v1/collections", R"({"name":"m","dimension":2})")->status == 201u);
    auto up = c.request("POST", "/v1/collections/m/points",
                        R"({"points":[{"id":"a","vector":[1,2]},{"id":"b","vector":[5,5]}]})");
    BOOST_TEST_REQUIRE(up->status == 200u, up->body);
    BOOST_TEST_REQUIRE(c.request("POST", "/v1/collections/m/flush", "{}")->status == 200u);
    auto s = c.request("POST", "/v1/collections/m/search", R"({"vector":[5,4],"top_k":1})");
    BOOST_TEST_REQUIRE(s->status == 200u, s->body);
    BOOST_TEST(s->body.find("\"b\"") != std::string::npos, s->body);
    BOOST_TEST(s->body.find("\"segments\":1") != std::string::npos, s->body);
}

// Starts the server in mode on data_dir, expecting it to refuse; returns what it said. A server
// that starts instead fails the test (and is stopped), rather than leaving the test waiting.
std::string refused_start(const std::string& data_dir, const std::string& mode)
{
    try {
        test::server_process server(data_dir, {"--log-level", "info", "--io-mode", mode});
        BOOST_ERROR("the server started with --io-mode " << mode << " on " << data_dir << " ("
                                                         << server.io_line() << ")");
        return {};
    } catch (const std::runtime_error& e) {
        return e.what();
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(io_mode_suite)

BOOST_AUTO_TEST_CASE(the_server_reports_io_uring_and_o_direct_on_a_real_file_system)
{
    test::temp_dir dir;
    if (!o_direct_works(dir.path())) {
        test::skip_or_fail("io_mode_test", dir.path() + " does not support O_DIRECT");
    }
    {
        test::server_process server(dir.file("direct"), {"--log-level", "info"});
        BOOST_TEST(server.io_line() == expected_io_line("O_DIRECT"));
        serve_a_segment(server);
        BOOST_TEST(server.stop() == 0);
    }
    test::server_process server(dir.file("mmap"), {"--log-level", "info", "--io-mode", "mmap"});
    BOOST_TEST(server.io_line() == expected_io_line("buffered (mmap)"));
    serve_a_segment(server);
    BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_CASE(direct_mode_refuses_to_start_where_o_direct_cannot_work)
{
    test::temp_dir dir;
    mount_point ramfs(dir.file("ramfs"), "ramfs");
    BOOST_TEST_REQUIRE(!o_direct_works(ramfs.path));  // ramfs has no direct I/O at all
    std::string out = refused_start(ramfs.path + "/data", "direct");
    BOOST_TEST(out.find("exited at start with status 1") != std::string::npos, out);
    BOOST_TEST(out.find("--io-mode direct needs O_DIRECT reads") != std::string::npos, out);
    BOOST_TEST(out.find("Invalid argument") != std::string::npos, out);
    BOOST_TEST(out.find("use --io-mode mmap") != std::string::npos, out);
    // The mode that can work there does.
    test::server_process server(ramfs.path + "/data", {"--log-level", "info", "--io-mode", "mmap"});
    BOOST_TEST(server.io_line() == expected_io_line("buffered (mmap)"));
    serve_a_segment(server);
    BOOST_TEST(server.stop() == 0);
}

// tmpfs refused O_DIRECT before Linux 6.6 and accepts it since: the server must agree with the
// kernel either way, never start in direct mode and read buffered.
BOOST_AUTO_TEST_CASE(tmpfs_gets_direct_mode_exactly_when_it_opens_with_o_direct)
{
    test::temp_dir dir;
    mount_point tmpfs(dir.file("tmpfs"), "tmpfs");
    bool works = o_direct_works(tmpfs.path);
    BOOST_TEST_MESSAGE("tmpfs here " << (works ? "accepts" : "refuses") << " O_DIRECT");
    if (!works) {
        std::string out = refused_start(tmpfs.path + "/data", "direct");
        BOOST_TEST(out.find("exited at start with status 1") != std::string::npos, out);
        BOOST_TEST(out.find("--io-mode direct needs O_DIRECT reads") != std::string::npos, out);
        return;
    }
    test::server_process server(tmpfs.path + "/data", {"--log-level", "info"});
    BOOST_TEST(server.io_line() == expected_io_line("O_DIRECT"));
    serve_a_segment(server);
    BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
