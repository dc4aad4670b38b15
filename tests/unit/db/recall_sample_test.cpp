// Continuous recall: with executor_options::recall_sample set, searches are re-run exactly when
// their shard is idle, after they are answered, and the collection's stats give the mean recall@k
// of the last 256 (search_counters::recall_estimate). Checked against the recall the test
// computes itself from the same queries' answers and exact answers, on real SIFT data.
#include "engine/db/database.hpp"
#include "engine/format/vecs_file.hpp"
#include "tests/support/sync_db.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <set>
#include <thread>

using namespace puffer;

namespace {

std::unique_ptr<db::database> open_sampled(const std::string& dir, double share)
{
    db::database_options o;
    o.data_dir = dir;
    o.shards = 2;
    o.background_threads = 2;
    o.cache_bytes = 64u << 20;
    o.pin_shards = false;
    o.collection.flush_threshold_vectors = 1u << 30;
    o.collection.idle_flush_ms = 0;
    o.executor.recall_sample = share;
    o.executor.recall_rerun_share = 1.0;  // no pause between re-runs: every sample is run
    auto d = db::database::open(o);
    BOOST_TEST_REQUIRE(d.has_value(), (d ? "" : d.error().message()));
    return std::move(*d);
}

void load_sift(db::database& d)
{
    auto b = format::read_fvecs(std::string(PUFFER_TEST_DATA_DIR) + "/sift20k/sift_base.fvecs");
    BOOST_TEST_REQUIRE(b.has_value());
    BOOST_TEST_REQUIRE(test::create(d, "s", b->dimension).has_value());
    point_batch batch;
    batch.dimension = b->dimension;
    for (std::size_t i = 0; i < b->rows; ++i) {
        batch.ids.push_back(std::to_string(i));
    }
    batch.vectors = b->data;
    BOOST_TEST_REQUIRE(test::upsert(d, "s", std::move(batch)).has_value());
    BOOST_TEST_REQUIRE(test::flush(d, "s").has_value());
    test::wait_settled(d, "s");
}

format::matrix<float> queries()
{
    auto q = format::read_fvecs(std::string(PUFFER_TEST_DATA_DIR) + "/sift20k/sift_query.fvecs");
    BOOST_TEST_REQUIRE(q.has_value());
    return std::move(*q);
}

// Waits until the collection has taken `samples` samples (the re-runs come after the answers).
collection::collection_stats wait_samples(db::database& d, std::uint64_t samples)
{
    for (int i = 0; i < 3000; ++i) {
        auto st = test::stats(d, "s");
        BOOST_TEST_REQUIRE(st.has_value());
        if (st->recall_samples >= samples) {
            return *st;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    BOOST_FAIL("the samples were not taken");
    return {};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(recall_sample_suite)

BOOST_AUTO_TEST_CASE(every_search_sampled_gives_the_recall_the_test_measures)
{
    test::temp_dir dir;
    auto d = open_sampled(dir.path(), 1.0);
    load_sift(*d);
    auto before = test::stats(*d, "s");
    BOOST_TEST(before->recall_samples == 0u);
    BOOST_TEST(before->recall_estimate < 0);  // none yet
    const auto q = queries();
    const std::size_t n = 40;
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::vector<float> v(q.row(i), q.row(i) + q.dimension);
        auto ann = test::search(*d, "s", v, 10, 1);  // one cluster: recall well below 1
        auto exact = test::search(*d, "s", v, 10, std::size_t{1} << 30);
        BOOST_TEST_REQUIRE(ann.has_value());
        BOOST_TEST_REQUIRE(exact.has_value());
        std::set<std::string> truth;
        for (const auto& h : exact->hits) {
            truth.insert(h.id);
        }
        std::size_t found = 0;
        for (const auto& h : ann->hits) {
            found += truth.count(h.id);
        }
        sum += static_cast<double>(found) / static_cast<double>(truth.size());
        // Both searches are sampled; the exact one's recall is 1. Wait for both re-runs so the
        // samples stay in query order (one re-run at a time, on the collection's shard).
        wait_samples(*d, 2 * (i + 1));
    }
    auto st = wait_samples(*d, 2 * n);
    BOOST_TEST(st.recall_samples == 2 * n);
    double expected = (sum + static_cast<double>(n)) / static_cast<double>(2 * n);
    BOOST_TEST(std::fabs(st.recall_estimate - expected) < 1e-6, st.recall_estimate << " against " << expected);
    BOOST_TEST(sum / static_cast<double>(n) < 0.9);  // the one-cluster searches did miss
}

BOOST_AUTO_TEST_CASE(without_sampling_nothing_is_re_run)
{
    test::temp_dir dir;
    auto d = open_sampled(dir.path(), 0.0);
    load_sift(*d);
    const auto q = queries();
    for (std::size_t i = 0; i < 20; ++i) {
        BOOST_TEST_REQUIRE(test::search(*d, "s", std::vector<float>(q.row(i), q.row(i) + q.dimension), 10, 1).has_value());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto st = test::stats(*d, "s");
    BOOST_TEST(st->recall_samples == 0u);
    BOOST_TEST(st->recall_estimate < 0);
}

BOOST_AUTO_TEST_CASE(the_estimate_follows_the_last_256_samples)
{
    query::search_counters c;
    BOOST_TEST(c.recall_estimate() < 0);
    for (int i = 0; i < 256; ++i) {
        c.add_recall_sample(0.5);
    }
    BOOST_TEST(c.recall_estimate() == 0.5);
    for (int i = 0; i < 128; ++i) {
        c.add_recall_sample(1.0);
    }
    BOOST_TEST(std::fabs(c.recall_estimate() - 0.75) < 1e-9);
    BOOST_TEST(c.recall_samples == 384u);
}

BOOST_AUTO_TEST_SUITE_END()
