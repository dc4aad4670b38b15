// Crash and fault injection at every step of a flush (and the writes around it), through
// fault_env: for each n, the n-th file-system operation from the flush on (every write, fsync,
// truncate, rename, unlink, directory sync, ring write and ring fdatasync) and all after it fail,
// as if the machine died there; then unsynced data is dropped (simulate_crash) and the database
// reopened. Each time: it opens, the collection is healthy, every acknowledged upsert is there,
// every acknowledged delete stays deleted, and an unacknowledged batch is all there or not at all.
// The same again with a single ENOSPC/EIO at step n and no crash: the live database stays
// consistent and keeps working.
#include "engine/db/database.hpp"
#include "engine/io/fault_env.hpp"
#include "tests/support/sync_db.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <set>

using namespace puffer;
using test::make_batch;

namespace {

constexpr std::size_t dim = 8;

float grid(std::size_t i, std::size_t j)
{
    return static_cast<float>((i * 7 + j * 13) % 31) + static_cast<float>(i) * 0.01f;
}

db::database_options options_for(const std::string& dir, io::fault_env* fe)
{
    db::database_options o;
    o.data_dir = dir;
    o.shards = 1;
    o.background_threads = 2;
    o.pin_shards = false;
    o.cache_bytes = 4u << 20;
    o.collection.flush_threshold_vectors = 1u << 30;
    o.collection.idle_flush_ms = 0;
    if (fe != nullptr) {
        o.env = fe;
        o.make_ring = [fe](std::size_t) { return fe->wrap(io::make_sync_ring()); };
    }
    return o;
}

std::set<std::string> all_ids(db::database& d, const std::string& name)
{
    auto r = test::search(d, name, std::vector<float>(dim, 1.0f), 100000, 1u << 20);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    std::set<std::string> out;
    for (const auto& h : r->hits) {
        BOOST_TEST_REQUIRE(out.insert(h.id).second, "id " << h.id << " returned twice");
    }
    return out;
}

std::vector<std::string> names(const std::string& prefix, std::size_t first, std::size_t n)
{
    std::vector<std::string> out;
    for (std::size_t i = first; i < first + n; ++i) {
        out.push_back(prefix + std::to_string(i));
    }
    return out;
}

struct outcome {
    bool flush_ok = false;
    bool upsert_ok = false;
    bool remove_ok = false;
    bool crashed = false;
};

// Baseline (acknowledged before any fault): a0..a199 in a segment minus a0..a19 deleted,
// b0..b49 in staging. Under faults: flush, upsert c0..c29, delete a20..a29 and b0..b4.
outcome run_faulted(const std::string& dir, io::fault_env& fe, std::uint64_t step, bool crash, int err)
{
    outcome out;
    auto d = db::database::open(options_for(dir, &fe));
    BOOST_TEST_REQUIRE(d.has_value());
    BOOST_TEST_REQUIRE(test::create(**d, "c", dim).has_value());
    BOOST_TEST_REQUIRE(test::upsert(**d, "c", make_batch("a", 0, 200, dim, grid, true)).has_value());
    BOOST_TEST_REQUIRE(test::flush(**d, "c").has_value());
    BOOST_TEST_REQUIRE(test::remove(**d, "c", names("a", 0, 20)).has_value());
    BOOST_TEST_REQUIRE(test::upsert(**d, "c", make_batch("b", 0, 50, dim, grid)).has_value());
    if (crash) {
        fe.crash_after(step);
    } else {
        fe.fail_op(step, err);
    }
    out.flush_ok = test::flush(**d, "c").has_value();
    out.upsert_ok = test::upsert(**d, "c", make_batch("c", 0, 30, dim, grid)).has_value();
    std::vector<std::string> doomed = names("a", 20, 10);
    for (auto& b : names("b", 0, 5)) {
        doomed.push_back(b);
    }
    out.remove_ok = test::remove(**d, "c", doomed).has_value();
    if (!crash) {
        // Still running after a single fault: the state must already be consistent.
        auto st = test::stats(**d, "c");
        BOOST_TEST_REQUIRE(st.has_value());
        auto ids = all_ids(**d, "c");
        BOOST_TEST(ids.size() == st->info.points);
    }
    d->reset();
    out.crashed = fe.crashed();
    return out;
}

void verify_after_restart(const std::string& dir, const outcome& o, const std::string& label)
{
    auto d = db::database::open(options_for(dir, nullptr));
    BOOST_TEST_REQUIRE(d.has_value(), label << ": " << (d ? "" : d.error().message()));
    auto st = test::stats(**d, "c");
    BOOST_TEST_REQUIRE(st.has_value());
    BOOST_TEST_REQUIRE(!st->info.failed, label << ": " << st->failure);
    auto ids = all_ids(**d, "c");
    for (std::size_t i = 0; i < 20; ++i) {
        BOOST_TEST(ids.count("a" + std::to_string(i)) == 0u, label << ": deleted a" << i << " came back");
    }
    for (std::size_t i = 30; i < 200; ++i) {
        BOOST_TEST(ids.count("a" + std::to_string(i)) == 1u, label << ": lost a" << i);
    }
    for (std::size_t i = 5; i < 50; ++i) {
        BOOST_TEST(ids.count("b" + std::to_string(i)) == 1u, label << ": lost b" << i);
    }
    std::size_t c_present = 0;
    for (std::size_t i = 0; i < 30; ++i) {
        c_present += ids.count("c" + std::to_string(i));
    }
    BOOST_TEST((c_present == 0u || c_present == 30u), label << ": batch c half there (" << c_present << ")");
    if (o.upsert_ok) {
        BOOST_TEST(c_present == 30u, label << ": acknowledged batch c lost");
    }
    std::size_t removed_present = 0;
    for (std::size_t i = 20; i < 30; ++i) {
        removed_present += ids.count("a" + std::to_string(i));
    }
    for (std::size_t i = 0; i < 5; ++i) {
        removed_present += ids.count("b" + std::to_string(i));
    }
    BOOST_TEST((removed_present == 0u || removed_present == 15u), label << ": delete half applied");
    if (o.remove_ok) {
        BOOST_TEST(removed_present == 0u, label << ": acknowledged delete undone");
    }
    BOOST_TEST(st->info.points == ids.size());
    // The database still takes writes and flushes after recovery.
    BOOST_TEST(test::upsert(**d, "c", make_batch("z", 0, 5, dim, grid)).has_value());
    BOOST_TEST(test::flush(**d, "c").has_value(), label);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(crash_suite)

BOOST_AUTO_TEST_CASE(crash_at_every_step_of_flush_loses_nothing_acknowledged)
{
    std::size_t steps = 0;
    for (std::uint64_t step = 1; step < 200; ++step) {
        test::temp_dir dir;
        io::fault_env fe(io::posix_env());
        outcome o = run_faulted(dir.path(), fe, step, true, EIO);
        BOOST_TEST_REQUIRE(fe.simulate_crash().has_value());
        verify_after_restart(dir.path(), o, "crash at step " + std::to_string(step));
        ++steps;
        if (!o.crashed) {
            break;  // the crash point lies past every operation: all steps covered
        }
    }
    BOOST_TEST_MESSAGE("crash points exercised: " << steps);
    BOOST_TEST(steps >= 10u);
}

BOOST_AUTO_TEST_CASE(single_enospc_or_eio_at_every_step_keeps_state_consistent)
{
    for (int err : {ENOSPC, EIO}) {
        for (std::uint64_t step = 1; step < 200; ++step) {
            test::temp_dir dir;
            io::fault_env fe(io::posix_env());
            outcome o = run_faulted(dir.path(), fe, step, false, err);
            BOOST_TEST_REQUIRE(fe.simulate_crash().has_value());
            verify_after_restart(dir.path(), o, std::string(err == ENOSPC ? "ENOSPC" : "EIO") + " at step " + std::to_string(step));
            if (fe.injected() == 0) {
                break;
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
