// Rings: io_uring and the synchronous ring give the same bytes for aligned O_DIRECT reads;
// io_uring with a 4 KiB transfer cap (every read comes back short and is resubmitted) still
// delivers whole reads; reads past the end come back short; a bad descriptor fails with -EBADF;
// writes and fdatasync complete; wake() ends a blocking reap. When the kernel refuses io_uring
// the test exits 77 (skipped) at a desk and fails under CI=true (tests/support/skip.hpp).
#include "engine/core/aligned_buffer.hpp"
#include "engine/io/env.hpp"
#include "engine/io/ring.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <random>
#include <thread>

using namespace puffer;

namespace {

std::unique_ptr<io::ring> uring_or_skip(std::size_t cap = 0)
{
    io::uring_options o;
    o.transfer_cap_bytes = cap;
    auto r = io::make_uring_ring(o);
    if (!r) {
        test::skip_or_fail("ring_test", "io_uring unavailable (" + r.error().message() + ")");
    }
    return std::move(*r);
}

io::completion wait_one(io::ring& r)
{
    io::completion c{};
    while (r.reap(std::span(&c, 1), true) == 0) {
    }
    return c;
}

std::string make_file(const test::temp_dir& dir, std::size_t size)
{
    std::string bytes(size, '\0');
    std::mt19937_64 rng(5);
    for (auto& b : bytes) {
        b = static_cast<char>(rng());
    }
    test::spit(dir.file("data"), bytes);
    return bytes;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ring_suite)

BOOST_AUTO_TEST_CASE(uring_and_sync_read_the_same_bytes_with_o_direct)
{
    test::temp_dir dir;
    std::string bytes = make_file(dir, 1 << 20);
    auto f = io::posix_env().open(dir.file("data"), io::open_mode::read_direct);
    BOOST_TEST_REQUIRE(f.has_value());
    std::vector<std::unique_ptr<io::ring>> rings;
    rings.push_back(uring_or_skip());
    rings.push_back(uring_or_skip(4096));
    rings.push_back(io::make_sync_ring());
    for (auto& r : rings) {
        // Many reads in flight at once, completing in any order.
        std::vector<aligned_buffer> buffers;
        for (std::size_t i = 0; i < 16; ++i) {
            buffers.emplace_back(16 * 4096, 4096);
            r->submit_read((*f)->fd(), i * 65536, buffers.back().span(), i);
        }
        std::size_t seen = 0;
        while (seen < 16) {
            io::completion c = wait_one(*r);
            BOOST_TEST_REQUIRE(c.result == 16 * 4096);
            BOOST_TEST(std::memcmp(buffers[c.tag].data(), bytes.data() + c.tag * 65536, 65536) == 0,
                       r->name() << " read " << c.tag);
            ++seen;
        }
        BOOST_TEST(r->inflight() == 0u);
    }
}

BOOST_AUTO_TEST_CASE(short_transfers_are_resubmitted_until_whole)
{
    test::temp_dir dir;
    std::string bytes = make_file(dir, 256 * 1024);
    auto f = io::posix_env().open(dir.file("data"), io::open_mode::read);
    BOOST_TEST_REQUIRE(f.has_value());
    auto r = uring_or_skip(4096);
    std::string out(200000, '\0');
    r->submit_read((*f)->fd(), 1000, std::as_writable_bytes(std::span(out)), 7);
    io::completion c = wait_one(*r);
    BOOST_TEST(c.tag == 7u);
    BOOST_TEST(c.result == 200000);
    BOOST_TEST(out == bytes.substr(1000, 200000));
}

BOOST_AUTO_TEST_CASE(read_past_end_is_short_and_bad_fd_fails)
{
    test::temp_dir dir;
    make_file(dir, 10000);
    auto f = io::posix_env().open(dir.file("data"), io::open_mode::read);
    BOOST_TEST_REQUIRE(f.has_value());
    std::vector<std::unique_ptr<io::ring>> rings;
    rings.push_back(uring_or_skip());
    rings.push_back(io::make_sync_ring());
    for (auto& r : rings) {
        std::string out(8192, '\0');
        r->submit_read((*f)->fd(), 8000, std::as_writable_bytes(std::span(out)), 1);
        BOOST_TEST(wait_one(*r).result == 2000);
        r->submit_read(987654, 0, std::as_writable_bytes(std::span(out)), 2);
        BOOST_TEST(wait_one(*r).result == -EBADF);
    }
}

BOOST_AUTO_TEST_CASE(write_then_fdatasync)
{
    test::temp_dir dir;
    auto f = io::posix_env().open(dir.file("w"), io::open_mode::read_write);
    BOOST_TEST_REQUIRE(f.has_value());
    auto r = uring_or_skip(4096);
    std::string data(20000, 'x');
    r->submit_write((*f)->fd(), 0, std::as_bytes(std::span(data)), 1);
    BOOST_TEST(wait_one(*r).result == 20000);
    BOOST_TEST(r->counters().writes == 5u);  // 20000 bytes in 4 KiB pieces
    r->submit_fdatasync((*f)->fd(), 2);
    BOOST_TEST(wait_one(*r).result == 0);
    BOOST_TEST(test::slurp(dir.file("w")) == data);
}

// A completion of 0 proves little: a no-op completes with 0 too. The sync must go to the kernel
// as an fdatasync (the SQE's opcode and flag, as counted by the ring), and a bad descriptor must
// come back as the kernel's -EBADF, which only a real sync reports.
BOOST_AUTO_TEST_CASE(fdatasync_is_submitted_as_an_fdatasync)
{
    test::temp_dir dir;
    auto f = io::posix_env().open(dir.file("w"), io::open_mode::read_write);
    BOOST_TEST_REQUIRE(f.has_value());
    std::vector<std::unique_ptr<io::ring>> rings;
    rings.push_back(uring_or_skip());
    rings.push_back(io::make_sync_ring());
    for (auto& r : rings) {
        BOOST_TEST(r->counters().fdatasyncs == 0u, r->name());
        r->submit_fdatasync((*f)->fd(), 1);
        BOOST_TEST(wait_one(*r).result == 0, r->name());
        BOOST_TEST(r->counters().fdatasyncs == 1u, r->name());
        BOOST_TEST(r->counters().fsyncs == 0u, r->name());
        r->submit_fdatasync(987654, 2);
        BOOST_TEST(wait_one(*r).result == -EBADF, r->name());
        BOOST_TEST(r->counters().fdatasyncs == 2u, r->name());
        BOOST_TEST(r->counters().reads == 0u, r->name());
        BOOST_TEST(r->counters().writes == 0u, r->name());
    }
}

// open_mode::read_direct on the test's file system (a real one: ext4, xfs or tmpfs since Linux
// 6.6) really sets O_DIRECT; there is no buffered fallback to hide behind.
BOOST_AUTO_TEST_CASE(read_direct_opens_with_o_direct_in_effect)
{
    test::temp_dir dir;
    make_file(dir, 8192);
    auto f = io::posix_env().open(dir.file("data"), io::open_mode::read_direct);
    const boost::system::error_code einval(EINVAL, boost::system::system_category());
    if (!f && f.error().code == einval) {
        test::skip_or_fail("ring_test", dir.path() + " has no O_DIRECT: " + f.error().message());
    }
    BOOST_TEST_REQUIRE(f.has_value(), f.error().message());
    int flags = ::fcntl((*f)->fd(), F_GETFL);
    BOOST_TEST_REQUIRE(flags >= 0);
    BOOST_TEST((flags & O_DIRECT) != 0);
    auto plain = io::posix_env().open(dir.file("data"), io::open_mode::read);
    BOOST_TEST_REQUIRE(plain.has_value());
    BOOST_TEST((::fcntl((*plain)->fd(), F_GETFL) & O_DIRECT) == 0);
}

BOOST_AUTO_TEST_CASE(wake_interrupts_a_blocking_reap)
{
    std::vector<std::unique_ptr<io::ring>> rings;
    rings.push_back(uring_or_skip());
    rings.push_back(io::make_sync_ring());
    for (auto& r : rings) {
        std::thread waker([&r] {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            r->wake();
        });
        io::completion c{};
        std::size_t n = r->reap(std::span(&c, 1), true);
        BOOST_TEST(n == 0u);
        waker.join();
    }
}

// A ring the kernel refuses keeps the kernel's errno (and says what was asked), rather than
// becoming a generic I/O error with the reason only in its text.
BOOST_AUTO_TEST_CASE(a_refused_ring_keeps_the_errno)
{
    io::uring_options o;
    o.queue_depth = 1u << 20;  // over IORING_MAX_ENTRIES (32768): EINVAL
    auto r = io::make_uring_ring(o);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().code == boost::system::errc::invalid_argument), r.error().message());
    BOOST_TEST(r.error().message().find("1048576 entries") != std::string::npos, r.error().message());
}

BOOST_AUTO_TEST_SUITE_END()
