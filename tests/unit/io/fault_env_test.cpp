// fault_env itself, and the atomic MANIFEST replacement under it: a power cut drops unsynced
// tails (whole, or all but their whole 4 KiB sectors), undoes renames of files and directories
// whose directory was not synced, and write_file_atomic interrupted or failed at any step leaves
// the old contents or the new ones, never a mix.
#include "engine/io/env.hpp"
#include "engine/io/fault_env.hpp"
#include "engine/storage/segment.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/format/segment_test_util.hpp"

#include <boost/test/unit_test.hpp>

#include <cerrno>

using namespace puffer;

namespace {

std::span<const std::byte> bytes_of(const std::string& s)
{
    return std::as_bytes(std::span(s.data(), s.size()));
}

std::string read_or_empty(const std::string& path)
{
    auto r = io::read_file(io::posix_env(), path);
    return r ? *r : std::string("<missing>");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fault_env_suite)

BOOST_AUTO_TEST_CASE(power_cut_drops_the_unsynced_tail_whole_or_all_but_whole_sectors)
{
    for (io::crash_mode mode : {io::crash_mode::drop_unsynced, io::crash_mode::torn_last_sector}) {
        test::temp_dir dir;
        std::string path = dir.file("f");
        io::fault_env fe(io::posix_env());
        {
            auto f = fe.open(path, io::open_mode::read_write);
            BOOST_TEST_REQUIRE(f.has_value());
            BOOST_TEST_REQUIRE((*f)->write_at(0, bytes_of(std::string(1000, 'a'))).has_value());
            BOOST_TEST_REQUIRE((*f)->sync().has_value());
            BOOST_TEST_REQUIRE(fe.sync_dir(dir.path()).has_value());
            BOOST_TEST_REQUIRE((*f)->write_at(1000, bytes_of(std::string(2 * 4096, 'b'))).has_value());
        }
        BOOST_TEST_REQUIRE(fe.simulate_crash(mode).has_value());
        std::string after = read_or_empty(path);
        if (mode == io::crash_mode::drop_unsynced) {
            BOOST_TEST(after == std::string(1000, 'a'));
        } else {
            // 9192 bytes written: sectors 0 and 1 whole, the partial third one cut.
            BOOST_TEST(after == std::string(1000, 'a') + std::string(8192 - 1000, 'b'));
        }
    }
}

BOOST_AUTO_TEST_CASE(power_cut_undoes_renames_of_directories_not_synced)
{
    test::temp_dir dir;
    io::fault_env fe(io::posix_env());
    std::string a = dir.file("a");
    BOOST_TEST_REQUIRE(fe.make_dirs(a).has_value());
    {
        auto f = fe.open(a + "/x", io::open_mode::create_trunc);
        BOOST_TEST_REQUIRE(f.has_value());
        BOOST_TEST_REQUIRE((*f)->write_at(0, bytes_of("xyz")).has_value());
        BOOST_TEST_REQUIRE((*f)->sync().has_value());
    }
    BOOST_TEST_REQUIRE(fe.sync_dir(a).has_value());
    BOOST_TEST_REQUIRE(fe.sync_dir(dir.path()).has_value());
    BOOST_TEST_REQUIRE(fe.rename(a, dir.file("b")).has_value());
    BOOST_TEST_REQUIRE(fe.simulate_crash().has_value());
    BOOST_TEST(read_or_empty(a + "/x") == "xyz");
    BOOST_TEST(read_or_empty(dir.file("b/x")) == "<missing>");

    BOOST_TEST_REQUIRE(fe.rename(a, dir.file("b")).has_value());
    BOOST_TEST_REQUIRE(fe.sync_dir(dir.path()).has_value());
    BOOST_TEST_REQUIRE(fe.simulate_crash().has_value());
    BOOST_TEST(read_or_empty(dir.file("b/x")) == "xyz");
    BOOST_TEST(read_or_empty(a + "/x") == "<missing>");
}

BOOST_AUTO_TEST_CASE(injected_faults_name_their_operation_and_file)
{
    test::temp_dir dir;
    io::fault_env fe(io::posix_env());
    fe.fail_op(2, ENOSPC);
    auto f = fe.open(dir.file("f"), io::open_mode::create_trunc);
    BOOST_TEST_REQUIRE(f.has_value());
    auto w = (*f)->write_at(0, bytes_of("abc"));
    BOOST_TEST_REQUIRE(!w.has_value());
    BOOST_TEST(is(w.error(), errc::no_space));
    auto ops = fe.injected_ops();
    BOOST_TEST_REQUIRE(ops.size() == 1u);
    BOOST_TEST(ops[0] == "write " + dir.file("f"));
}

BOOST_AUTO_TEST_CASE(a_fault_by_name_fails_the_first_matching_operation_once)
{
    test::temp_dir dir;
    io::fault_env fe(io::posix_env());
    fe.fail_first_matching([&](const std::string& op) { return op == "write " + dir.file("b"); }, EIO);
    auto a = fe.open(dir.file("a"), io::open_mode::create_trunc);
    auto b = fe.open(dir.file("b"), io::open_mode::create_trunc);
    BOOST_TEST_REQUIRE((a.has_value() && b.has_value()));
    BOOST_TEST((*a)->write_at(0, bytes_of("abc")).has_value());  // another file: passes
    auto w = (*b)->write_at(0, bytes_of("abc"));
    BOOST_TEST_REQUIRE(!w.has_value());
    BOOST_TEST(w.error().code.value() == EIO);
    BOOST_TEST((*b)->write_at(0, bytes_of("abc")).has_value());  // once only
    auto ops = fe.injected_ops();
    BOOST_TEST_REQUIRE(ops.size() == 1u);
    BOOST_TEST(ops[0] == "write " + dir.file("b"));
}

BOOST_AUTO_TEST_CASE(atomic_replacement_leaves_old_or_new_at_every_step)
{
    const std::string old_contents(5000, 'o');
    const std::string new_contents(6000, 'n');
    std::size_t steps = 0;
    for (io::crash_mode mode : {io::crash_mode::drop_unsynced, io::crash_mode::torn_last_sector}) {
        for (int single : {0, ENOSPC, EIO}) {
            for (std::uint64_t step = 1; step < 50; ++step) {
                test::temp_dir dir;
                std::string path = dir.file("MANIFEST");
                io::fault_env fe(io::posix_env());
                BOOST_TEST_REQUIRE(io::write_file_atomic(fe, path, old_contents).has_value());
                if (single != 0) {
                    fe.fail_op(step, single);
                } else {
                    fe.crash_after(step);
                }
                status s = io::write_file_atomic(fe, path, new_contents);
                bool faulted = fe.injected() > 0;
                if (single != 0) {
                    // The process goes on: what it reads now is old or new, and new if it succeeded.
                    std::string live = read_or_empty(path);
                    BOOST_TEST((live == old_contents || live == new_contents), "step " << step);
                    if (s) {
                        BOOST_TEST(live == new_contents);
                    }
                }
                BOOST_TEST_REQUIRE(fe.simulate_crash(mode).has_value());
                std::string after = read_or_empty(path);
                BOOST_TEST((after == old_contents || after == new_contents),
                           "step " << step << ": " << after.size() << " bytes after the crash");
                if (s) {
                    BOOST_TEST(after == new_contents, "step " << step << ": acknowledged replacement lost");
                }
                ++steps;
                if (!faulted) {
                    break;
                }
            }
        }
    }
    BOOST_TEST_MESSAGE("MANIFEST replacement: " << steps << " faulted runs");
}

// Segments in --io-mode mmap are mapped through the env, so a fault reaches the mapping too: the
// open fails with the injected error, and maps once the fault is gone.
BOOST_AUTO_TEST_CASE(mapping_a_segment_goes_through_the_env)
{
    test::temp_dir dir;
    std::string path = dir.file("000007.seg");
    test::write_tiny_segment(path);
    io::fault_env fe(io::posix_env());
    fe.fail_op(1, ENOMEM);  // the first counted operation: the mmap
    auto failed = storage::segment::open(fe, path, 7, storage::io_mode::mmap);
    BOOST_TEST_REQUIRE(!failed.has_value());
    BOOST_TEST(failed.error().message().find("mmap") != std::string::npos, failed.error().message());
    BOOST_TEST(fe.injected_ops() == (std::vector<std::string>{"mmap " + path}));
    auto mapped = storage::segment::open(fe, path, 7, storage::io_mode::mmap);
    BOOST_TEST_REQUIRE(mapped.has_value(), mapped.error().message());
    BOOST_TEST_REQUIRE((*mapped)->map() != nullptr);
    BOOST_TEST(std::string(reinterpret_cast<const char*>((*mapped)->map()), 6) == "PRSEG1");
    BOOST_TEST((*mapped)->verify_mapped_cluster(1).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
