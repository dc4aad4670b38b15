// The engine through its C++ API on a real data directory: collections are created, listed and
// dropped; upserts and deletes are visible at once, after a flush and after a restart; searches
// running during a flush see every point exactly once; compaction drops deleted rows; the LOCK
// file keeps a second database out; a corrupt segment fails only its own collection; a torn WAL
// tail is cut without losing whole records; mmap mode answers exactly as direct mode and checks
// each cluster's crc; a search without nprobe probes default_nprobe clusters per segment.
#include "engine/db/database.hpp"
#include "engine/format/segment_format.hpp"
#include "engine/io/env.hpp"
#include "engine/wal/wal_format.hpp"
#include "tests/support/forwarding_env.hpp"
#include "tests/support/sync_db.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

using namespace puffer;
using test::make_batch;

namespace {

db::database_options small_options(const std::string& dir)
{
    db::database_options o;
    o.data_dir = dir;
    o.shards = 2;
    o.background_threads = 2;
    o.cache_bytes = 8u << 20;
    o.pin_shards = false;
    o.collection.flush_threshold_vectors = 1u << 30;  // flush only when a test asks
    o.collection.idle_flush_ms = 0;
    return o;
}

std::unique_ptr<db::database> open_db(const db::database_options& o)
{
    auto d = db::database::open(o);
    BOOST_TEST_REQUIRE(d.has_value(), (d ? "" : d.error().message()));
    return std::move(*d);
}

float grid(std::size_t i, std::size_t j)
{
    return static_cast<float>((i * 7 + j * 13) % 31) + static_cast<float>(i) * 0.01f;
}

std::vector<float> vector_of(std::size_t i, std::size_t d)
{
    std::vector<float> v(d);
    for (std::size_t j = 0; j < d; ++j) {
        v[j] = grid(i, j);
    }
    return v;
}

std::set<std::string> ids_of(const query::search_response& r)
{
    std::set<std::string> out;
    for (const auto& h : r.hits) {
        out.insert(h.id);
    }
    return out;
}

// Every live point must be its own nearest neighbour (exact search: nprobe = all clusters).
void expect_self_hits(db::database& d, const std::string& name, std::size_t dim, const std::vector<std::size_t>& live,
                      const std::string& prefix = "p")
{
    for (std::size_t i : live) {
        auto r = test::search(d, name, vector_of(i, dim), 1, 1u << 20);
        BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
        BOOST_TEST_REQUIRE(r->hits.size() == 1u);
        BOOST_TEST(r->hits[0].id == prefix + std::to_string(i));
        BOOST_TEST(r->hits[0].score == 0.0f);
    }
}

// Holds every open of a segment file for writing until released: a segment build caught in
// the middle, for as long as a test needs.
class gate_env final : public test::forwarding_env {
public:
    using forwarding_env::forwarding_env;

    void release()
    {
        std::lock_guard lock(mutex_);
        open_ = true;
        changed_.notify_all();
    }
    // From now on only the next segment build is held; every later one passes.
    void hold_only_the_next()
    {
        std::lock_guard lock(mutex_);
        open_ = false;
        holds_left_ = 1;
        held_ = 0;
    }
    bool wait_until_held(std::chrono::seconds limit)
    {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, limit, [this] { return held_ > 0; });
    }

    result<std::unique_ptr<io::file>> open(const std::string& path, io::open_mode mode) override
    {
        if (mode != io::open_mode::read && mode != io::open_mode::read_direct && path.ends_with(".seg")) {
            std::unique_lock lock(mutex_);
            if (holds_left_ > 0) {
                --holds_left_;
                ++held_;
                changed_.notify_all();
                changed_.wait(lock, [this] { return open_; });
            }
        }
        return base_.open(path, mode);
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    bool open_ = false;
    int held_ = 0;
    std::size_t holds_left_ = static_cast<std::size_t>(-1);
};

// Refuses (ENOSPC) every open of a WAL file while failing is set, and counts the attempts.
class wal_open_fail_env final : public test::forwarding_env {
public:
    using forwarding_env::forwarding_env;

    std::atomic<bool> failing{false};
    std::atomic<int> refused{0};

    result<std::unique_ptr<io::file>> open(const std::string& path, io::open_mode mode) override
    {
        if (failing.load() && path.ends_with(".log")) {
            ++refused;
            return make_system_error(ENOSPC, path);
        }
        return base_.open(path, mode);
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(database_suite)

// An automatic flush that cannot start (no space for the next WAL file) is not retried in a
// loop: the next write past the threshold asks again, and then it succeeds.
BOOST_AUTO_TEST_CASE(a_failed_automatic_flush_waits_for_the_next_write)
{
    test::temp_dir dir;
    wal_open_fail_env fe(io::posix_env());
    auto o = small_options(dir.path());
    o.env = &fe;
    o.collection.flush_threshold_vectors = 100;
    auto d = open_db(o);
    BOOST_TEST_REQUIRE(test::create(*d, "c", 8).has_value());
    fe.failing = true;
    BOOST_TEST_REQUIRE(test::upsert(*d, "c", make_batch("p", 0, 150, 8, grid)).has_value());
    for (int wait = 0; wait < 500 && fe.refused.load() == 0; ++wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    BOOST_TEST(fe.refused.load() == 1);  // tried once, not again and again
    BOOST_TEST(test::stats(*d, "c")->flushes == 0u);

    fe.failing = false;
    BOOST_TEST_REQUIRE(test::upsert(*d, "c", make_batch("p", 150, 1, 8, grid)).has_value());
    for (int wait = 0; wait < 500 && test::stats(*d, "c")->flushes == 0; ++wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    auto st = test::stats(*d, "c");
    BOOST_TEST(st->flushes == 1u);
    BOOST_TEST(st->info.points == 151u);
    BOOST_TEST(fe.refused.load() == 1);
}

// A segment build keeps running after its collection is deleted, and writes by path into the
// collection's directory. A collection of the same name created meanwhile would get the old
// build's file written over its own, so the name stays busy until that work has ended.
BOOST_AUTO_TEST_CASE(a_deleted_collections_build_cannot_write_into_its_successor)
{
    test::temp_dir dir;
    gate_env gate(io::posix_env());
    auto o = small_options(dir.path());
    o.env = &gate;
    auto d = open_db(o);
    BOOST_TEST_REQUIRE(test::create(*d, "c", 8).has_value());
    BOOST_TEST_REQUIRE(test::upsert(*d, "c", make_batch("old", 0, 200, 8, grid)).has_value());
    auto flushed = std::make_shared<std::promise<status>>();
    auto flush_result = flushed->get_future();
    d->flush("c", [flushed](status s) { flushed->set_value(std::move(s)); });
    BOOST_TEST_REQUIRE(gate.wait_until_held(std::chrono::seconds(20)));  // the build is at its file

    BOOST_TEST_REQUIRE(test::drop(*d, "c").has_value());
    auto again = test::create(*d, "c", 8);
    BOOST_TEST_REQUIRE(!again.has_value());
    BOOST_TEST(is(again.error(), errc::busy), again.error().message());

    gate.release();
    BOOST_TEST_REQUIRE((flush_result.wait_for(std::chrono::seconds(20)) == std::future_status::ready));
    status created = make_error(errc::busy, "not tried");
    for (int attempt = 0; attempt < 2000 && !created; ++attempt) {
        created = test::create(*d, "c", 8);
        if (!created) {
            BOOST_TEST_REQUIRE(is(created.error(), errc::busy), created.error().message());
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    BOOST_TEST_REQUIRE(created.has_value(), "the name never came free");
    BOOST_TEST_REQUIRE(test::upsert(*d, "c", make_batch("p", 0, 50, 8, grid)).has_value());
    BOOST_TEST_REQUIRE(test::flush(*d, "c").has_value());
    d.reset();
    d = open_db(o);
    std::vector<std::size_t> live(50);
    for (std::size_t i = 0; i < live.size(); ++i) {
        live[i] = i;
    }
    expect_self_hits(*d, "c", 8, live);
}

// A flush into the collection's centroid table publishes where it assigned the rows before it
// writes the segment: while the write is held, searches probe those rows through the table's
// clusters (one search and a batch alike) instead of scanning all of them, every row is still
// found, and a delete in the meantime still hides its row.
BOOST_AUTO_TEST_CASE(a_flushs_rows_are_probed_through_the_table_before_its_segment_is_written)
{
    test::temp_dir dir;
    gate_env gate(io::posix_env());
    gate.release();
    auto o = small_options(dir.path());
    o.env = &gate;
    auto d = open_db(o);
    constexpr std::size_t dim = 8;
    BOOST_TEST_REQUIRE(test::create(*d, "c", dim).has_value());
    BOOST_TEST_REQUIRE(test::upsert(*d, "c", make_batch("p", 0, 400, dim, grid)).has_value());
    BOOST_TEST_REQUIRE(test::flush(*d, "c").has_value());  // trains the table
    BOOST_TEST_REQUIRE(test::upsert(*d, "c", make_batch("p", 400, 1000, dim, grid)).has_value());

    auto full = test::search(*d, "c", vector_of(900, dim), 10);
    BOOST_TEST_REQUIRE(full.has_value(), full.error().message());
    BOOST_TEST(full->stats.vectors_scanned > 1000u);  // every staged row, before the flush

    gate.hold_only_the_next();
    struct release_at_exit {
        gate_env& gate;
        ~release_at_exit() { gate.release(); }
    } releaser{gate};
    auto flushed = std::make_shared<std::promise<status>>();
    auto flush_result = flushed->get_future();
    d->flush("c", [flushed](status s) { flushed->set_value(std::move(s)); });
    BOOST_TEST_REQUIRE(gate.wait_until_held(std::chrono::seconds(20)));  // assigned, not written
    BOOST_TEST(test::stats(*d, "c")->staging_vectors == 1000u);

    auto probed = test::search(*d, "c", vector_of(900, dim), 10);
    BOOST_TEST_REQUIRE(probed.has_value(), probed.error().message());
    BOOST_TEST(probed->stats.vectors_scanned < 700u, probed->stats.vectors_scanned);
    BOOST_TEST(probed->stats.vectors_scanned > 0u);
    BOOST_TEST(probed->hits[0].id == "p900");
    query::search_request r;
    r.vector = vector_of(1200, dim);
    r.top_k = 1;
    auto batch = test::search_batch(*d, "c", {r, r});
    BOOST_TEST_REQUIRE(batch.has_value(), batch.error().message());
    for (const auto& one : batch->results) {
        BOOST_TEST(one.hits[0].id == "p1200");
        BOOST_TEST(one.stats.vectors_scanned < 700u, one.stats.vectors_scanned);
    }
    std::vector<std::size_t> all(1400);
    for (std::size_t i = 0; i < all.size(); ++i) {
        all[i] = i;
    }
    expect_self_hits(*d, "c", dim, all);  // probing every cluster finds every row, staged or not
    BOOST_TEST_REQUIRE(test::remove(*d, "c", {"p1300", "p1301"}).has_value());
    for (std::size_t i : {1300u, 1301u}) {
        auto gone = test::search(*d, "c", vector_of(i, dim), 1, 1u << 20);
        BOOST_TEST_REQUIRE(gone.has_value());
        BOOST_TEST(gone->hits[0].id != "p" + std::to_string(i));
    }

    gate.release();
    BOOST_TEST_REQUIRE((flush_result.wait_for(std::chrono::seconds(20)) == std::future_status::ready));
    BOOST_TEST_REQUIRE(flush_result.get().has_value());
    BOOST_TEST(test::stats(*d, "c")->staging_vectors == 0u);
    all.resize(1300);
    expect_self_hits(*d, "c", dim, all);
}

// A flush takes its segment id when it starts; a compaction started after it takes a higher one
// and may install first. The flush then wrote a MANIFEST that listed its segment after the
// compaction's, and recovery, which finds segments by ascending id, lost track of the flushed
// rows: the replay of an overwrite of one of them stopped the server at start.
BOOST_AUTO_TEST_CASE(a_flush_installed_after_a_newer_compaction_recovers)
{
    test::temp_dir dir;
    const std::size_t dim = 8;
    gate_env gate(io::posix_env());
    gate.release();
    auto o = small_options(dir.path());
    o.env = &gate;
    o.collection.segments_max = 2;  // the two segments at the end stay as they are
    auto d = open_db(o);
    BOOST_TEST_REQUIRE(test::create(*d, "c", dim).has_value());
    for (std::size_t round = 0; round < 2; ++round) {
        BOOST_TEST_REQUIRE(test::upsert(*d, "c", make_batch("p", round * 100, 100, dim, grid)).has_value());
        BOOST_TEST_REQUIRE(test::flush(*d, "c").has_value());
    }
    test::wait_settled(*d, "c");
    // Tombstones give the compaction below work to do.
    std::vector<std::string> doomed;
    for (std::size_t i = 0; i < 80; ++i) {
        doomed.push_back("p" + std::to_string(i));
    }
    BOOST_TEST_REQUIRE(*test::remove(*d, "c", doomed) == doomed.size());
    test::wait_settled(*d, "c");
    BOOST_TEST_REQUIRE(test::stats(*d, "c")->tombstones == doomed.size());
    BOOST_TEST_REQUIRE(test::upsert(*d, "c", make_batch("p", 200, 100, dim, grid)).has_value());

    gate.hold_only_the_next();
    struct release_at_exit {
        gate_env& gate;
        ~release_at_exit() { gate.release(); }  // a failed check must not leave the build held
    } releaser{gate};
    auto flushed = std::make_shared<std::promise<status>>();
    auto flush_result = flushed->get_future();
    d->flush("c", [flushed](status s) { flushed->set_value(std::move(s)); });
    BOOST_TEST_REQUIRE(gate.wait_until_held(std::chrono::seconds(20)));  // the flush has its id
    auto compacted = std::make_shared<std::promise<status>>();
    auto compact_result = compacted->get_future();
    d->compact("c", [compacted](status s) { compacted->set_value(std::move(s)); });
    BOOST_TEST_REQUIRE((compact_result.wait_for(std::chrono::seconds(20)) == std::future_status::ready));
    BOOST_TEST_REQUIRE(compact_result.get().has_value());
    BOOST_TEST_REQUIRE(test::stats(*d, "c")->tombstones == 0u);  // it rewrote the segment
    gate.release();
    BOOST_TEST_REQUIRE((flush_result.wait_for(std::chrono::seconds(20)) == std::future_status::ready));
    BOOST_TEST_REQUIRE(flush_result.get().has_value());
    test::wait_settled(*d, "c");

    // Overwrite and delete rows of the flushed segment and of the compacted one; they replay
    // from the log at the next open.
    BOOST_TEST_REQUIRE(test::upsert(*d, "c", make_batch("p", 250, 10, dim, grid)).has_value());
    BOOST_TEST_REQUIRE(test::upsert(*d, "c", make_batch("p", 100, 10, dim, grid)).has_value());
    BOOST_TEST(*test::remove(*d, "c", {"p260", "p150"}) == 2u);
    d.reset();
    auto reopened = open_db(o);
    std::vector<std::size_t> live;
    for (std::size_t i = 80; i < 300; ++i) {
        if (i != 260 && i != 150) {
            live.push_back(i);
        }
    }
    BOOST_TEST(test::stats(*reopened, "c")->info.points == live.size());
    expect_self_hits(*reopened, "c", dim, live);
    BOOST_TEST_REQUIRE(test::flush(*reopened, "c").has_value());
    reopened.reset();
    auto again = open_db(o);
    expect_self_hits(*again, "c", dim, live);
}

BOOST_AUTO_TEST_CASE(create_list_drop_and_errors)
{
    test::temp_dir dir;
    auto d = open_db(small_options(dir.path()));
    BOOST_TEST(test::create(*d, "alpha", 4).has_value());
    BOOST_TEST(test::create(*d, "beta", 8, metric::cosine).has_value());
    auto dup = test::create(*d, "alpha", 4);
    BOOST_TEST_REQUIRE(!dup.has_value());
    BOOST_TEST(is(dup.error(), errc::already_exists));
    auto bad = test::create(*d, "../etc", 4);
    BOOST_TEST_REQUIRE(!bad.has_value());
    BOOST_TEST(is(bad.error(), errc::invalid_argument));
    BOOST_TEST(!test::create(*d, std::string(65, 'a'), 4).has_value());
    BOOST_TEST(!test::create(*d, "zero", 0).has_value());
    auto list = *test::list(*d);
    BOOST_TEST_REQUIRE(list.size() == 2u);
    BOOST_TEST(list[0].name == "alpha");
    BOOST_TEST(list[1].name == "beta");
    BOOST_TEST(list[1].dimension == 8u);
    BOOST_TEST((list[1].distance_metric == metric::cosine));

    auto missing = test::upsert(*d, "gamma", make_batch("p", 0, 1, 4, grid));
    BOOST_TEST_REQUIRE(!missing.has_value());
    BOOST_TEST(is(missing.error(), errc::not_found));

    BOOST_TEST(test::upsert(*d, "alpha", make_batch("p", 0, 10, 4, grid)).has_value());
    BOOST_TEST(test::drop(*d, "alpha").has_value());
    BOOST_TEST(is(test::drop(*d, "alpha").error(), errc::not_found));
    BOOST_TEST(test::list(*d)->size() == 1u);
    // The name can be used again, and starts empty.
    BOOST_TEST(test::create(*d, "alpha", 4).has_value());
    BOOST_TEST(test::stats(*d, "alpha")->info.points == 0u);
}

// A list that could not ask every shard is an error, never a list with collections left out.
BOOST_AUTO_TEST_CASE(listing_without_every_shard_is_an_error)
{
    test::temp_dir dir;
    auto d = open_db(small_options(dir.path()));
    BOOST_TEST_REQUIRE(test::create(*d, "kept", 4).has_value());
    BOOST_TEST_REQUIRE(test::list(*d)->size() == 1u);
    d->shutdown();
    auto listed = test::list(*d);
    BOOST_TEST_REQUIRE(!listed.has_value());
    BOOST_TEST(is(listed.error(), errc::shutting_down), listed.error().message());
}

BOOST_AUTO_TEST_CASE(dropping_a_collection_answers_its_flush_in_progress)
{
    test::temp_dir dir;
    auto d = open_db(small_options(dir.path()));
    BOOST_TEST_REQUIRE(test::create(*d, "gone", 32).has_value());
    BOOST_TEST_REQUIRE(test::upsert(*d, "gone", make_batch("p", 0, 5000, 32, grid)).has_value());
    auto flushed = std::make_shared<std::promise<status>>();
    auto result = flushed->get_future();
    d->flush("gone", [flushed](status s) { flushed->set_value(std::move(s)); });
    BOOST_TEST(test::drop(*d, "gone").has_value());
    // Whether the flush finished first or was cut short by the drop, it is answered.
    BOOST_TEST_REQUIRE((result.wait_for(std::chrono::seconds(20)) == std::future_status::ready));
    status s = result.get();
    BOOST_TEST((s.has_value() || is(s.error(), errc::not_found)), (s ? "" : s.error().message()));
}

BOOST_AUTO_TEST_CASE(invalid_batches_are_rejected_whole)
{
    test::temp_dir dir;
    auto d = open_db(small_options(dir.path()));
    BOOST_TEST_REQUIRE(test::create(*d, "c", 4, metric::cosine).has_value());
    auto nan_batch = make_batch("p", 0, 5, 4, grid);
    nan_batch.vectors[13] = std::nanf("");
    BOOST_TEST(is(test::upsert(*d, "c", nan_batch).error(), errc::invalid_argument));
    auto zero = make_batch("p", 0, 3, 4, [](std::size_t, std::size_t) { return 0.0f; });
    BOOST_TEST(is(test::upsert(*d, "c", zero).error(), errc::invalid_argument));
    auto wrong_dim = make_batch("p", 0, 3, 5, grid);
    BOOST_TEST(is(test::upsert(*d, "c", wrong_dim).error(), errc::invalid_argument));
    auto empty_id = make_batch("p", 0, 3, 4, grid);
    empty_id.ids[2] = "";
    BOOST_TEST(is(test::upsert(*d, "c", empty_id).error(), errc::invalid_argument));
    BOOST_TEST(test::stats(*d, "c")->info.points == 0u);
    BOOST_TEST(is(test::search(*d, "c", {1, 2, 3}, 5).error(), errc::invalid_argument));
}

BOOST_AUTO_TEST_CASE(upsert_and_delete_visible_at_once_after_flush_and_after_restart)
{
    test::temp_dir dir;
    const std::size_t dim = 16;
    auto o = small_options(dir.path());
    std::vector<std::size_t> live;
    {
        auto d = open_db(o);
        BOOST_TEST_REQUIRE(test::create(*d, "v", dim).has_value());
        BOOST_TEST_REQUIRE(test::upsert(*d, "v", make_batch("p", 0, 300, dim, grid, true)).has_value());
        // Visible at once (staging, exact).
        expect_self_hits(*d, "v", dim, {0, 17, 299});
        // Delete some, replace one with another vector.
        auto removed = test::remove(*d, "v", {"p5", "p6", "nope"});
        BOOST_TEST_REQUIRE(removed.has_value());
        BOOST_TEST(*removed == 2u);
        auto moved = make_batch("p", 7, 1, dim, [](std::size_t, std::size_t j) { return 1000.0f + static_cast<float>(j); });
        BOOST_TEST_REQUIRE(test::upsert(*d, "v", moved).has_value());
        auto r = test::search(*d, "v", vector_of(5, dim), 300, 1u << 20);
        BOOST_TEST(r->hits.size() == 298u);
        BOOST_TEST(ids_of(*r).count("p5") == 0u);
        auto far = test::search(*d, "v", std::vector<float>(moved.vectors.begin(), moved.vectors.end()), 1);
        BOOST_TEST(far->hits[0].id == "p7");

        BOOST_TEST_REQUIRE(test::flush(*d, "v").has_value());
        auto st = test::stats(*d, "v");
        BOOST_TEST(st->segments == 1u);
        BOOST_TEST(st->staging_vectors == 0u);
        BOOST_TEST(st->info.points == 298u);
        r = test::search(*d, "v", vector_of(5, dim), 300, 1u << 20);
        BOOST_TEST(r->hits.size() == 298u);
        BOOST_TEST(ids_of(*r).count("p5") == 0u);
        far = test::search(*d, "v", std::vector<float>(moved.vectors.begin(), moved.vectors.end()), 1, 0, true);
        BOOST_TEST(far->hits[0].id == "p7");
        BOOST_TEST(far->hits[0].payload.empty());  // the replacement had no payload

        // After the flush: delete from the segment, upsert over a segment row.
        BOOST_TEST(*test::remove(*d, "v", {"p10"}) == 1u);
        BOOST_TEST_REQUIRE(test::upsert(*d, "v", make_batch("p", 300, 10, dim, grid, true)).has_value());
        auto again = make_batch("p", 11, 1, dim, [](std::size_t, std::size_t j) { return -500.0f - static_cast<float>(j); });
        BOOST_TEST_REQUIRE(test::upsert(*d, "v", again).has_value());
        st = test::stats(*d, "v");
        BOOST_TEST(st->tombstones == 2u);  // p10 and the old p11
        BOOST_TEST(st->info.points == 307u);
    }
    for (std::size_t i = 0; i < 310; ++i) {
        if (i != 5 && i != 6 && i != 7 && i != 10 && i != 11) {
            live.push_back(i);
        }
    }
    // Restart: everything acknowledged is back, deletes stay deleted.
    auto d = open_db(o);
    auto st = test::stats(*d, "v");
    BOOST_TEST_REQUIRE(st.has_value());
    BOOST_TEST(st->info.points == 307u);
    expect_self_hits(*d, "v", dim, live);
    auto r = test::search(*d, "v", vector_of(10, dim), 400, 1u << 20, true);
    BOOST_TEST(r->hits.size() == 307u);
    BOOST_TEST(ids_of(*r).count("p10") == 0u);
    for (const auto& h : r->hits) {
        if (h.id == "p300") {
            BOOST_TEST(h.payload == "{\"i\":300}");
        }
        if (h.id == "p20") {
            BOOST_TEST(h.payload == "{\"i\":20}");
        }
    }
    auto neg = test::search(*d, "v", std::vector<float>(dim, -600.0f), 1);
    BOOST_TEST(neg->hits[0].id == "p11");
}

BOOST_AUTO_TEST_CASE(searches_during_flush_see_every_point_exactly_once)
{
    test::temp_dir dir;
    const std::size_t dim = 32;
    const std::size_t n = 4000;
    auto d = open_db(small_options(dir.path()));
    BOOST_TEST_REQUIRE(test::create(*d, "f", dim).has_value());
    BOOST_TEST_REQUIRE(test::upsert(*d, "f", make_batch("p", 0, n, dim, grid)).has_value());
    std::atomic<bool> flushing{true};
    std::atomic<int> checks{0};
    std::atomic<int> bad{0};
    std::thread searcher([&] {
        while (flushing.load() || checks.load() < 5) {
            auto r = test::search(*d, "f", vector_of(1, dim), n + 10, 1u << 20);
            if (!r || r->hits.size() != n || ids_of(*r).size() != n) {
                ++bad;
            }
            ++checks;
        }
    });
    BOOST_TEST(test::flush(*d, "f").has_value());
    flushing = false;
    searcher.join();
    BOOST_TEST(bad.load() == 0);
    BOOST_TEST(checks.load() >= 5);
    BOOST_TEST(test::stats(*d, "f")->segments == 1u);
}

BOOST_AUTO_TEST_CASE(compaction_merges_segments_and_drops_deleted_rows)
{
    test::temp_dir dir;
    const std::size_t dim = 8;
    auto o = small_options(dir.path());
    o.collection.segments_max = 2;
    auto d = open_db(o);
    BOOST_TEST_REQUIRE(test::create(*d, "m", dim).has_value());
    std::vector<std::size_t> live;
    for (std::size_t round = 0; round < 4; ++round) {
        BOOST_TEST_REQUIRE(test::upsert(*d, "m", make_batch("p", round * 100, 100, dim, grid, true)).has_value());
        BOOST_TEST_REQUIRE(test::flush(*d, "m").has_value());
    }
    std::vector<std::string> doomed;
    for (std::size_t i = 0; i < 400; ++i) {
        if (i % 3 == 0) {
            doomed.push_back("p" + std::to_string(i));
        } else {
            live.push_back(i);
        }
    }
    BOOST_TEST(*test::remove(*d, "m", doomed) == doomed.size());
    BOOST_TEST_REQUIRE(test::compact(*d, "m").has_value());
    auto st = test::stats(*d, "m");
    BOOST_TEST(st->segments <= 2u);
    BOOST_TEST(st->tombstones == 0u);
    BOOST_TEST(st->compactions >= 1u);
    BOOST_TEST(st->info.points == live.size());
    expect_self_hits(*d, "m", dim, live);
    auto r = test::search(*d, "m", vector_of(4, dim), 1000, 1u << 20, true);
    BOOST_TEST(r->hits.size() == live.size());
    for (const auto& h : r->hits) {
        BOOST_TEST(h.payload == "{\"i\":" + h.id.substr(1) + "}");
    }
    d.reset();
    auto reopened = open_db(o);
    BOOST_TEST(test::stats(*reopened, "m")->info.points == live.size());
    expect_self_hits(*reopened, "m", dim, live);
}

BOOST_AUTO_TEST_CASE(second_database_on_the_same_directory_is_refused)
{
    test::temp_dir dir;
    auto d = open_db(small_options(dir.path()));
    auto second = db::database::open(small_options(dir.path()));
    BOOST_TEST_REQUIRE(!second.has_value());
    BOOST_TEST(is(second.error(), errc::busy));
    BOOST_TEST(second.error().message().find("LOCK") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(corrupt_segment_fails_only_its_collection)
{
    test::temp_dir dir;
    auto o = small_options(dir.path());
    {
        auto d = open_db(o);
        for (const char* name : {"good", "bad"}) {
            BOOST_TEST_REQUIRE(test::create(*d, name, 8).has_value());
            BOOST_TEST_REQUIRE(test::upsert(*d, name, make_batch("p", 0, 50, 8, grid)).has_value());
            BOOST_TEST_REQUIRE(test::flush(*d, name).has_value());
        }
    }
    std::string seg = dir.path() + "/collections/bad/segments/" + format::segment_file_name(1);
    std::string bytes = test::slurp(seg);
    bytes[70] = static_cast<char>(bytes[70] ^ 0x40);  // a centroid
    test::spit(seg, bytes);
    auto d = open_db(o);
    auto r = test::search(*d, "bad", vector_of(1, 8), 3);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(is(r.error(), errc::failed));
    BOOST_TEST(r.error().message().find("000001.seg") != std::string::npos, r.error().message());
    BOOST_TEST(is(test::upsert(*d, "bad", make_batch("p", 0, 1, 8, grid)).error(), errc::failed));
    auto st = test::stats(*d, "bad");
    BOOST_TEST(st->info.failed);
    expect_self_hits(*d, "good", 8, {0, 10, 49});
    // A failed collection can still be deleted, and the name reused.
    BOOST_TEST(test::drop(*d, "bad").has_value());
    BOOST_TEST(test::create(*d, "bad", 8).has_value());
}

BOOST_AUTO_TEST_CASE(torn_wal_tail_is_cut_at_the_last_whole_record)
{
    test::temp_dir dir;
    auto o = small_options(dir.path());
    {
        auto d = open_db(o);
        BOOST_TEST_REQUIRE(test::create(*d, "w", 8).has_value());
        for (std::size_t b = 0; b < 5; ++b) {
            BOOST_TEST_REQUIRE(test::upsert(*d, "w", make_batch("p", b * 10, 10, 8, grid)).has_value());
        }
    }
    std::string wal = dir.path() + "/collections/w/wal/" + wal::file_name(1);
    std::string bytes = test::slurp(wal);
    // Tear the last record: keep all but its final 7 bytes, then add junk.
    test::spit(wal, bytes.substr(0, bytes.size() - 7) + "junk");
    {
        auto d = open_db(o);
        auto st = test::stats(*d, "w");
        BOOST_TEST_REQUIRE(st.has_value());
        BOOST_TEST(!st->info.failed);
        BOOST_TEST(st->info.points == 40u);  // the torn batch is gone whole
        std::vector<std::size_t> live;
        for (std::size_t i = 0; i < 40; ++i) {
            live.push_back(i);
        }
        expect_self_hits(*d, "w", 8, live);
        // Writes go on after the cut, and survive another restart.
        BOOST_TEST_REQUIRE(test::upsert(*d, "w", make_batch("p", 100, 3, 8, grid)).has_value());
    }
    auto d = open_db(o);
    BOOST_TEST(test::stats(*d, "w")->info.points == 43u);
    expect_self_hits(*d, "w", 8, {0, 39, 100, 101, 102});
}

BOOST_AUTO_TEST_CASE(empty_newest_wal_file_gets_a_header)
{
    // A crash right after a WAL file is created can leave it empty; writes appended after the
    // next start must still be readable at the start after that.
    test::temp_dir dir;
    auto o = small_options(dir.path());
    {
        auto d = open_db(o);
        BOOST_TEST_REQUIRE(test::create(*d, "e", 8).has_value());
    }
    std::string wal = dir.path() + "/collections/e/wal/" + wal::file_name(1);
    test::spit(wal, "");
    {
        auto d = open_db(o);
        BOOST_TEST_REQUIRE(test::upsert(*d, "e", make_batch("p", 0, 2, 8, grid)).has_value());
    }
    auto d = open_db(o);
    BOOST_TEST(test::stats(*d, "e")->info.points == 2u);
}

BOOST_AUTO_TEST_CASE(cosine_and_inner_product_rank_by_direction_and_dot)
{
    test::temp_dir dir;
    auto d = open_db(small_options(dir.path()));
    BOOST_TEST_REQUIRE(test::create(*d, "cos", 2, metric::cosine).has_value());
    BOOST_TEST_REQUIRE(test::create(*d, "dot", 2, metric::inner_product).has_value());
    point_batch b;
    b.dimension = 2;
    b.ids = {"east", "north", "far-east"};
    b.vectors = {1, 0, 0, 1, 10, 0.5f};
    BOOST_TEST_REQUIRE(test::upsert(*d, "cos", b).has_value());
    BOOST_TEST_REQUIRE(test::upsert(*d, "dot", b).has_value());
    auto c = test::search(*d, "cos", {2, 0}, 3);
    BOOST_TEST(c->hits[0].id == "east");
    BOOST_TEST(c->hits[0].score == 1.0f, boost::test_tools::tolerance(1e-6f));
    auto p = test::search(*d, "dot", {1, 0}, 3);
    BOOST_TEST(p->hits[0].id == "far-east");
    BOOST_TEST(p->hits[0].score == 10.0f);
    BOOST_TEST_REQUIRE(test::flush(*d, "cos").has_value());
    c = test::search(*d, "cos", {2, 0}, 3);
    BOOST_TEST(c->hits[0].id == "east");
}

// Dot products of finite values near 1e38 overflow float32: +inf, or NaN where +inf meets -inf.
// Every point still comes back, in staging and from a segment: numbers first, the overflowed last.
BOOST_AUTO_TEST_CASE(inner_product_overflow_still_returns_every_point)
{
    test::temp_dir dir;
    auto d = open_db(small_options(dir.path()));
    BOOST_TEST_REQUIRE(test::create(*d, "dot", 2, metric::inner_product).has_value());
    point_batch b;
    b.dimension = 2;
    b.ids = {"nan", "huge", "zero", "small"};
    b.vectors = {1e38f, 1e38f, 1e38f, -1e38f, 1, 1, 2, 0};
    BOOST_TEST_REQUIRE(test::upsert(*d, "dot", b).has_value());
    for (int pass = 0; pass < 2; ++pass) {
        auto r = test::search(*d, "dot", {1e38f, -1e38f}, 10);
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST_REQUIRE(r->hits.size() == 4u, "pass " << pass);
        BOOST_TEST(r->hits[0].id == "huge");  // +inf + +inf
        BOOST_TEST(r->hits[1].id == "small");  // 2e38
        BOOST_TEST(r->hits[2].id == "zero");   // 1e38 - 1e38
        BOOST_TEST(r->hits[3].id == "nan");    // +inf + -inf ranks last
        BOOST_TEST_REQUIRE(test::flush(*d, "dot").has_value());
    }
}

BOOST_AUTO_TEST_CASE(automatic_flush_past_the_threshold)
{
    test::temp_dir dir;
    auto o = small_options(dir.path());
    o.collection.flush_threshold_vectors = 500;
    auto d = open_db(o);
    BOOST_TEST_REQUIRE(test::create(*d, "auto", 8).has_value());
    for (std::size_t b = 0; b < 6; ++b) {
        BOOST_TEST_REQUIRE(test::upsert(*d, "auto", make_batch("p", b * 200, 200, 8, grid)).has_value());
    }
    // Rows that arrive before the automatic flush freezes staging go into the same segment, so
    // the segment count depends on timing; what must hold is that staging drains below the
    // threshold without an explicit flush.
    for (int wait = 0; wait < 500 && test::stats(*d, "auto")->staging_vectors >= 500; ++wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    auto st = test::stats(*d, "auto");
    BOOST_TEST(st->segments >= 1u);
    BOOST_TEST(st->flushes >= 1u);
    BOOST_TEST(st->info.points == 1200u);
    BOOST_TEST(st->staging_vectors < 500u);
}

// Staging left below the threshold when writes stop is flushed once the collection has been
// quiet for idle_flush_ms, once per quiet spell; with 0 it stays until the threshold. Rows
// replayed from the log at a restart are indexed the same way.
BOOST_AUTO_TEST_CASE(staging_is_flushed_once_writes_stop)
{
    test::temp_dir dir;
    auto wait_for_flushes = [](db::database& d, const std::string& name, std::size_t flushes) {
        for (int wait = 0; wait < 500; ++wait) {
            auto st = test::stats(d, name);
            if (st->flushes >= flushes && st->staging_vectors == 0) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    };
    {
        auto o = small_options(dir.path());
        o.collection.idle_flush_ms = 200;
        auto d = open_db(o);
        BOOST_TEST_REQUIRE(test::create(*d, "quiet", 8).has_value());
        BOOST_TEST_REQUIRE(test::create(*d, "never", 8).has_value());
        BOOST_TEST_REQUIRE(test::upsert(*d, "quiet", make_batch("p", 0, 300, 8, grid)).has_value());
        BOOST_TEST(wait_for_flushes(*d, "quiet", 1));
        auto st = test::stats(*d, "quiet");
        BOOST_TEST(st->flushes == 1u);
        BOOST_TEST(st->info.points == 300u);
        // Quiet again: no second flush without a write.
        std::this_thread::sleep_for(std::chrono::milliseconds(800));
        BOOST_TEST(test::stats(*d, "quiet")->flushes == 1u);
        BOOST_TEST_REQUIRE(test::upsert(*d, "quiet", make_batch("q", 0, 50, 8, grid)).has_value());
        BOOST_TEST(wait_for_flushes(*d, "quiet", 2));
        BOOST_TEST(test::stats(*d, "quiet")->flushes == 2u);
        // A collection that has never been written is left alone.
        BOOST_TEST(test::stats(*d, "never")->flushes == 0u);
    }
    {
        auto o = small_options(dir.path());  // idle flushes off
        auto d = open_db(o);
        BOOST_TEST_REQUIRE(test::upsert(*d, "quiet", make_batch("r", 0, 40, 8, grid)).has_value());
        std::this_thread::sleep_for(std::chrono::milliseconds(800));
        auto st = test::stats(*d, "quiet");
        BOOST_TEST(st->staging_vectors == 40u);
        BOOST_TEST(st->flushes == 0u);
    }
    {
        // The 40 rows come back from the log and are flushed once quiet.
        auto o = small_options(dir.path());
        o.collection.idle_flush_ms = 200;
        auto d = open_db(o);
        BOOST_TEST(test::stats(*d, "quiet")->staging_vectors == 40u);
        BOOST_TEST(wait_for_flushes(*d, "quiet", 1));
        BOOST_TEST(test::stats(*d, "quiet")->info.points == 390u);
    }
}

// Overwriting the same ids keeps the live count flat while every write adds a staged row, and
// deleting indexed points adds only log: both still reach an automatic flush, which drops the
// dead rows and retires the log.
BOOST_AUTO_TEST_CASE(overwrites_and_deletes_cannot_grow_staging_or_the_log_without_end)
{
    test::temp_dir dir;
    auto o = small_options(dir.path());
    o.collection.flush_threshold_vectors = 500;
    o.collection.wal_flush_bytes = 64 << 10;
    auto d = open_db(o);
    BOOST_TEST_REQUIRE(test::create(*d, "hot", 8).has_value());
    for (std::size_t round = 0; round < 30; ++round) {
        BOOST_TEST_REQUIRE(test::upsert(*d, "hot", make_batch("p", 0, 50, 8, grid)).has_value());
    }
    for (int wait = 0; wait < 500 && test::stats(*d, "hot")->flushes == 0; ++wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    auto st = test::stats(*d, "hot");
    BOOST_TEST(st->flushes >= 1u);
    BOOST_TEST(st->info.points == 50u);

    // Deletes that touch no staged row (here of ids not stored at all) add only WAL records.
    std::uint64_t flushes = st->flushes;
    for (std::size_t round = 0; round < 400 && test::stats(*d, "hot")->flushes == flushes; ++round) {
        std::vector<std::string> ids;
        for (std::size_t i = 0; i < 40; ++i) {
            ids.push_back("p" + std::to_string(i) + "-but-not-stored-" + std::to_string(round));
        }
        BOOST_TEST_REQUIRE(test::remove(*d, "hot", ids).has_value());
    }
    for (int wait = 0; wait < 500 && test::stats(*d, "hot")->flushes == flushes; ++wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    BOOST_TEST(test::stats(*d, "hot")->flushes > flushes, "a log of deletes alone never flushed");
    // The retired files are removed in the background, just after the flush is answered.
    std::size_t wal_files = 0;
    for (int wait = 0; wait < 500; ++wait) {
        wal_files = 0;
        for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/collections/hot/wal")) {
            wal_files += e.path().extension() == ".log" ? 1 : 0;
        }
        if (wal_files <= 2) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    BOOST_TEST(wal_files <= 2u);
}

// The same data read through mmap and through O_DIRECT gives the same answers, result for
// result: ids, scores bit for bit and payloads, for nprobe 1, 3, the default and all clusters.
BOOST_AUTO_TEST_CASE(mmap_mode_answers_like_direct_mode)
{
    test::temp_dir dir;
    auto o = small_options(dir.path());
    o.collection.cluster_count = 8;
    using answers = std::vector<std::vector<std::tuple<std::string, float, std::string>>>;
    auto ask = [](db::database& d) {
        answers out;
        for (std::size_t q = 0; q < 40; ++q) {
            for (std::size_t nprobe : {1u, 3u, 0u, 1000u}) {
                // Queries between stored points, so the top 10 mixes clusters and segments.
                std::vector<float> v = vector_of(q * 37 % 900, 16);
                v[q % 16] += 0.5f;
                auto r = test::search(d, "x", v, 10, nprobe, true);
                BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
                auto& row = out.emplace_back();
                for (const auto& h : r->hits) {
                    row.emplace_back(h.id, h.score, h.payload);
                }
            }
        }
        return out;
    };
    answers direct;
    {
        auto d = open_db(o);
        BOOST_TEST_REQUIRE(test::create(*d, "x", 16).has_value());
        // Two segments, deletes in the first, and rows left in staging.
        BOOST_TEST_REQUIRE(test::upsert(*d, "x", make_batch("p", 0, 500, 16, grid, true)).has_value());
        BOOST_TEST_REQUIRE(test::flush(*d, "x").has_value());
        BOOST_TEST_REQUIRE(
            test::upsert(*d, "x", make_batch("p", 500, 400, 16, grid, true)).has_value());
        BOOST_TEST_REQUIRE(test::flush(*d, "x").has_value());
        BOOST_TEST_REQUIRE(test::remove(*d, "x", {"p3", "p250", "p777"}).has_value());
        BOOST_TEST_REQUIRE(
            test::upsert(*d, "x", make_batch("s", 0, 20, 16, grid, true)).has_value());
        test::clear_caches(*d);
        direct = ask(*d);
    }
    o.collection.mode = collection::io_mode::mmap;
    auto d = open_db(o);
    BOOST_TEST(d->io().segment_reads == "buffered (mmap)");
    answers mapped = ask(*d);
    BOOST_TEST_REQUIRE(mapped.size() == direct.size());
    for (std::size_t i = 0; i < direct.size(); ++i) {
        BOOST_TEST_REQUIRE(mapped[i].size() == direct[i].size(), "query " << i);
        for (std::size_t k = 0; k < direct[i].size(); ++k) {
            BOOST_TEST(std::get<0>(mapped[i][k]) == std::get<0>(direct[i][k]),
                       "query " << i << " hit " << k);
            BOOST_TEST(std::get<1>(mapped[i][k]) == std::get<1>(direct[i][k]),
                       "query " << i << " hit " << k);
            BOOST_TEST(std::get<2>(mapped[i][k]) == std::get<2>(direct[i][k]),
                       "query " << i << " hit " << k);
        }
    }
    expect_self_hits(*d, "x", 16, {0, 499, 500, 899});
}

// mmap mode verifies each cluster's crc32c the first time it is scanned: a flipped byte in a
// cluster's vectors fails a search that probes it, with the cluster named, and leaves searches
// of the other clusters alone.
BOOST_AUTO_TEST_CASE(mmap_mode_checks_the_crc_of_every_cluster_it_scans)
{
    test::temp_dir dir;
    auto o = small_options(dir.path());
    o.collection.cluster_count = 4;
    {
        auto d = open_db(o);
        BOOST_TEST_REQUIRE(test::create(*d, "x", 8).has_value());
        BOOST_TEST_REQUIRE(test::upsert(*d, "x", make_batch("p", 0, 200, 8, grid)).has_value());
        BOOST_TEST_REQUIRE(test::flush(*d, "x").has_value());
    }
    std::string seg = dir.path() + "/collections/x/segments/" + format::segment_file_name(1);
    std::string bytes = test::slurp(seg);
    // The vector section starts at 4096 (64 + 4 * (4 * 8 + 8) bytes of metadata before it): its
    // first float is cluster 0's first row.
    bytes[4096 + 1] = static_cast<char>(bytes[4096 + 1] ^ 0x10);
    test::spit(seg, bytes);
    o.collection.mode = collection::io_mode::mmap;
    auto d = open_db(o);
    auto all = test::search(*d, "x", vector_of(1, 8), 5, 1000);
    BOOST_TEST_REQUIRE(!all.has_value(), "a search of every cluster succeeded over a flipped byte");
    BOOST_TEST(is(all.error(), errc::corruption), all.error().message());
    BOOST_TEST(all.error().message().find("000001.seg") != std::string::npos,
               all.error().message());
    BOOST_TEST(all.error().message().find("cluster 0 crc32c mismatch") != std::string::npos,
               all.error().message());
    // Some point lies in another cluster: nprobe 1 for its own vector scans only that cluster.
    std::size_t answered = 0;
    for (std::size_t i = 0; i < 200; ++i) {
        auto r = test::search(*d, "x", vector_of(i, 8), 1, 1);
        if (r) {
            BOOST_TEST(r->hits[0].score == 0.0f);
            ++answered;
        } else {
            BOOST_TEST(is(r.error(), errc::corruption), r.error().message());
        }
    }
    BOOST_TEST(answered > 0u);
    BOOST_TEST(answered < 200u);
}

// query::default_nprobe is about 1.5 * sqrt(clusters), at least 1 and at most the cluster count.
// A search that gives no nprobe probes what a one-segment collection of the same size would:
// default_nprobe(default_cluster_count(rows)) of its default_cluster_count(rows) clusters, as the
// same share of the clusters of the table the segments share.
BOOST_AUTO_TEST_CASE(default_nprobe_is_what_a_search_without_nprobe_probes)
{
    // 1.5 * sqrt(k) + 0.5, rounded down, clamped to 1..k.
    const std::pair<std::size_t, std::size_t> table[] = {
        {0, 1}, {1, 1}, {2, 2}, {4, 3}, {9, 5}, {16, 6}, {100, 15}, {1788, 63}, {10000, 150}};
    for (const auto& [clusters, nprobe] : table) {
        BOOST_TEST(query::default_nprobe(clusters) == nprobe, "clusters " << clusters);
    }
    test::temp_dir dir;
    auto o = small_options(dir.path());
    o.collection.cluster_count = 16;  // tables of 16 clusters, never retrained
    auto d = open_db(o);
    BOOST_TEST_REQUIRE(test::create(*d, "x", 8).has_value());
    BOOST_TEST_REQUIRE(test::upsert(*d, "x", make_batch("p", 0, 400, 8, grid)).has_value());
    BOOST_TEST_REQUIRE(test::flush(*d, "x").has_value());
    // 400 rows: a one-segment collection would have min(round(4 * sqrt(400)), 400 / 16) = 25
    // clusters and probe default_nprobe(25) = 8 of them, 32%: 5 of these 16.
    auto r = test::search(*d, "x", vector_of(5, 8), 10);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(r->stats.segments == 1u);
    BOOST_TEST(r->stats.nprobe == 8u);
    BOOST_TEST(r->stats.clusters_probed <= 5u);
    BOOST_TEST(r->stats.clusters_probed >= 4u);  // a probed cluster may be empty
    BOOST_TEST_REQUIRE(test::upsert(*d, "x", make_batch("q", 0, 400, 8, grid)).has_value());
    BOOST_TEST_REQUIRE(test::flush(*d, "x").has_value());
    // 800 rows in two segments of the same table: min(113, 50) = 50 clusters, default_nprobe(50)
    // = 11 of them, 22%: 4 of the 16 clusters, in each segment.
    auto st = test::stats(*d, "x");
    BOOST_TEST_REQUIRE(st.has_value());
    BOOST_TEST(st->segments == 2u);
    BOOST_TEST(st->centroid_tables == 1u);
    r = test::search(*d, "x", vector_of(5, 8), 10);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(r->stats.segments == 2u);
    BOOST_TEST(r->stats.nprobe == 11u);
    BOOST_TEST(r->stats.clusters_probed <= 8u);
    BOOST_TEST(r->stats.clusters_probed >= 6u);
    r = test::search(*d, "x", vector_of(5, 8), 10, 2);
    BOOST_TEST(r->stats.clusters_probed <= 2u);  // an explicit nprobe wins: 2 of 50 is one cluster
    r = test::search(*d, "x", vector_of(5, 8), 10, 1000);
    BOOST_TEST(r->stats.nprobe == 50u);               // capped at the one-segment cluster count
    BOOST_TEST(r->stats.vectors_scanned == 800u);     // every cluster of both segments
}

BOOST_AUTO_TEST_SUITE_END()
