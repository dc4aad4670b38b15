// Searches over several segments and shards, through the engine's C++ API on real SIFT data:
// a plan split among two shards answers exactly as one shard does (ids, scores, rows scanned),
// warm and cold; a search that needs more cluster reads than a shard keeps in flight waits for
// slots and still answers exactly; segments flushed into the collection's table share it, and
// a collection loaded in several flushes scans what one segment with that table would.
#include "engine/db/database.hpp"
#include "engine/format/vecs_file.hpp"
#include "tests/support/sync_db.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <thread>

using namespace puffer;

namespace {

struct sift {
    format::matrix<float> base;
    format::matrix<float> queries;
};

const sift& data()
{
    static const sift s = [] {
        sift out;
        auto b = format::read_fvecs(std::string(PUFFER_TEST_DATA_DIR) + "/sift20k/sift_base.fvecs");
        auto q = format::read_fvecs(std::string(PUFFER_TEST_DATA_DIR) + "/sift20k/sift_query.fvecs");
        if (!b || !q) {
            throw std::runtime_error("sift20k missing");
        }
        out.base = std::move(*b);
        out.queries = std::move(*q);
        return out;
    }();
    return s;
}

db::database_options options_for(const std::string& dir, std::size_t shards, std::size_t scatter_bytes_min)
{
    db::database_options o;
    o.data_dir = dir;
    o.shards = shards;
    o.background_threads = 2;
    o.cache_bytes = 64u << 20;
    o.pin_shards = false;
    o.collection.flush_threshold_vectors = 1u << 30;  // flushes only when asked
    o.collection.idle_flush_ms = 0;
    o.executor.scatter_bytes_min = scatter_bytes_min;
    return o;
}

// Loads the 20k rows in `parts` flushes, waiting for each flush and the compaction after it, so
// that two databases end in the same state whatever their timing.
void load(db::database& d, const std::string& name, std::size_t parts)
{
    const auto& s = data();
    BOOST_TEST_REQUIRE(test::create(d, name, s.base.dimension).has_value());
    std::size_t per = s.base.rows / parts;
    for (std::size_t p = 0; p < parts; ++p) {
        point_batch b;
        b.dimension = s.base.dimension;
        std::size_t end = p + 1 == parts ? s.base.rows : (p + 1) * per;
        for (std::size_t i = p * per; i < end; ++i) {
            b.ids.push_back(std::to_string(i));
        }
        b.vectors.assign(s.base.row(p * per), s.base.row(end));
        BOOST_TEST_REQUIRE(test::upsert(d, name, std::move(b)).has_value());
        BOOST_TEST_REQUIRE(test::flush(d, name).has_value());
        test::wait_settled(d, name);
    }
}

std::unique_ptr<db::database> open_db(const db::database_options& o)
{
    auto d = db::database::open(o);
    BOOST_TEST_REQUIRE(d.has_value(), (d ? "" : d.error().message()));
    return std::move(*d);
}

void expect_same(const query::search_response& a, const query::search_response& b, std::size_t qi)
{
    BOOST_TEST_REQUIRE(a.hits.size() == b.hits.size(), "query " << qi);
    for (std::size_t i = 0; i < a.hits.size(); ++i) {
        BOOST_TEST(a.hits[i].id == b.hits[i].id, "query " << qi << " hit " << i);
        BOOST_TEST(a.hits[i].score == b.hits[i].score, "query " << qi << " hit " << i);
    }
    BOOST_TEST(a.stats.vectors_scanned == b.stats.vectors_scanned, "query " << qi);
    BOOST_TEST(a.stats.clusters_probed == b.stats.clusters_probed, "query " << qi);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(search_suite)

BOOST_AUTO_TEST_CASE(a_plan_split_among_shards_answers_as_one_shard_does)
{
    test::temp_dir dir;
    auto one = open_db(options_for(dir.file("one"), 1, 0));
    auto two = open_db(options_for(dir.file("two"), 2, 0));  // every plan is split
    load(*one, "c", 4);
    load(*two, "c", 4);
    auto s1 = test::stats(*one, "c");
    auto s2 = test::stats(*two, "c");
    BOOST_TEST_REQUIRE(s1.has_value());
    BOOST_TEST(s1->segments == s2->segments);
    BOOST_TEST(s1->centroid_tables == 1u);  // every flush went into the first table, or a retrain
    const auto& s = data();
    for (bool cold : {true, false}) {
        for (std::size_t qi = 0; qi < s.queries.rows; qi += 5) {
            std::vector<float> q(s.queries.row(qi), s.queries.row(qi) + s.queries.dimension);
            if (cold) {
                test::clear_caches(*one);
                test::clear_caches(*two);
            }
            auto a = test::search(*one, "c", q, 10, 32);
            auto b = test::search(*two, "c", q, 10, 32);
            BOOST_TEST_REQUIRE(a.has_value(), a.error().message());
            BOOST_TEST_REQUIRE(b.has_value(), b.error().message());
            expect_same(*a, *b, qi);
            BOOST_TEST(a->stats.shards == 1u);
            BOOST_TEST(b->stats.shards == 2u);
            if (cold) {
                BOOST_TEST(b->stats.clusters_read == b->stats.clusters_probed);
                BOOST_TEST(b->stats.bytes_read > 0u);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(more_reads_than_a_shard_keeps_in_flight_wait_their_turn)
{
    test::temp_dir dir;
    auto small = options_for(dir.file("d"), 1, std::size_t{1} << 40);
    small.cache_bytes = 1u << 20;  // room for a few clusters: the rest read into memory of their own
    auto d = open_db(small);
    load(*d, "c", 1);
    auto st = test::stats(*d, "c");
    BOOST_TEST_REQUIRE(st.has_value());
    BOOST_TEST_REQUIRE(st->clusters > query::executor::cluster_reads_max);
    const auto& s = data();
    // Every cluster: more misses than read slots, and an exact answer.
    std::vector<float> q(s.queries.row(0), s.queries.row(0) + s.queries.dimension);
    test::clear_caches(*d);
    auto r = test::search(*d, "c", q, 10, 1u << 20);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(r->stats.vectors_scanned == s.base.rows);
    BOOST_TEST(r->stats.clusters_read > query::executor::cluster_reads_max);
    // Several at once, each needing every cluster.
    std::vector<std::thread> threads;
    std::atomic<int> exact{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            std::vector<float> qt(s.queries.row(t), s.queries.row(t) + s.queries.dimension);
            auto rt = test::search(*d, "c", qt, 10, 1u << 20);
            if (rt && rt->stats.vectors_scanned == s.base.rows && rt->hits.size() == 10) {
                ++exact;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    BOOST_TEST(exact.load() == 4);
}

BOOST_AUTO_TEST_CASE(flushes_share_the_collections_table)
{
    test::temp_dir dir;
    auto o = options_for(dir.file("d"), 1, std::size_t{1} << 40);
    o.collection.segments_max = 16;
    auto d = open_db(o);
    // A first flush of 12k trains a table for ~15k rows; 2k and 2k more stay in it.
    const auto& s = data();
    BOOST_TEST_REQUIRE(test::create(*d, "c", s.base.dimension).has_value());
    std::size_t bounds[] = {0, 12000, 14000, 16000};
    for (std::size_t p = 0; p + 1 < std::size(bounds); ++p) {
        point_batch b;
        b.dimension = s.base.dimension;
        for (std::size_t i = bounds[p]; i < bounds[p + 1]; ++i) {
            b.ids.push_back(std::to_string(i));
        }
        b.vectors.assign(s.base.row(bounds[p]), s.base.row(bounds[p + 1]));
        BOOST_TEST_REQUIRE(test::upsert(*d, "c", std::move(b)).has_value());
        BOOST_TEST_REQUIRE(test::flush(*d, "c").has_value());
        test::wait_settled(*d, "c");
    }
    auto st = test::stats(*d, "c");
    BOOST_TEST_REQUIRE(st.has_value());
    BOOST_TEST(st->segments == 3u);
    BOOST_TEST(st->centroid_tables == 1u);
    BOOST_TEST(st->retrains == 0u);
    // Probing the three segments scans what the probed clusters hold in all of them: at
    // nprobe = all, every row once.
    std::vector<float> q(s.queries.row(3), s.queries.row(3) + s.queries.dimension);
    auto r = test::search(*d, "c", q, 10, 1u << 20);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->stats.vectors_scanned == 16000u);
    BOOST_TEST(r->stats.segments == 3u);
    // 4k more: the table (for 15k rows) is now too coarse for 20k; the compaction after the flush
    // trains a new one over every row, in one segment.
    point_batch b;
    b.dimension = s.base.dimension;
    for (std::size_t i = 16000; i < s.base.rows; ++i) {
        b.ids.push_back(std::to_string(i));
    }
    b.vectors.assign(s.base.row(16000), s.base.row(s.base.rows));
    BOOST_TEST_REQUIRE(test::upsert(*d, "c", std::move(b)).has_value());
    BOOST_TEST_REQUIRE(test::flush(*d, "c").has_value());
    test::wait_settled(*d, "c");
    st = test::stats(*d, "c");
    BOOST_TEST_REQUIRE(st.has_value());
    BOOST_TEST(st->retrains == 1u);
    BOOST_TEST(st->segments == 1u);
    BOOST_TEST(st->info.points == s.base.rows);
}

// A batch answers each search exactly as it would be answered alone (the matrix product that
// ranks centroids for the whole batch is re-checked at the edge of each search's probes), with
// each search's own top_k and nprobe, split among shards or not, warm or cold.
BOOST_AUTO_TEST_CASE(a_batch_answers_each_search_as_alone)
{
    test::temp_dir dir;
    auto d = open_db(options_for(dir.file("d"), 2, 0));
    load(*d, "c", 3);
    const auto& s = data();
    std::vector<query::search_request> batch;
    for (std::size_t qi = 0; qi < s.queries.rows; ++qi) {
        query::search_request r;
        r.vector.assign(s.queries.row(qi), s.queries.row(qi) + s.queries.dimension);
        r.top_k = 1 + qi % 20;
        r.nprobe = 1 + (qi * 7) % 60;
        if (qi % 9 == 0) {
            r.nprobe = 0;
            r.recall_target = 0.9;
        }
        batch.push_back(std::move(r));
    }
    for (bool cold : {true, false}) {
        if (cold) {
            test::clear_caches(*d);
        }
        auto answers = test::search_batch(*d, "c", batch);
        BOOST_TEST_REQUIRE(answers.has_value(), answers.error().message());
        BOOST_TEST_REQUIRE(answers->results.size() == batch.size());
        BOOST_TEST(answers->totals.shards == 2u);
        if (cold) {
            BOOST_TEST(answers->totals.clusters_read > 0u);
        }
        for (std::size_t qi = 0; qi < batch.size(); ++qi) {
            auto alone = test::search(*d, "c", batch[qi]);
            BOOST_TEST_REQUIRE(alone.has_value());
            expect_same(answers->results[qi], *alone, qi);
            BOOST_TEST(answers->results[qi].stats.nprobe == alone->stats.nprobe, "query " << qi);
            BOOST_TEST(answers->results[qi].stats.expected_recall == alone->stats.expected_recall, "query " << qi);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_batch_with_a_bad_search_fails_whole_naming_it)
{
    test::temp_dir dir;
    auto d = open_db(options_for(dir.file("d"), 1, 0));
    load(*d, "c", 1);
    const auto& s = data();
    std::vector<query::search_request> batch(3);
    for (auto& r : batch) {
        r.vector.assign(s.queries.row(0), s.queries.row(0) + s.queries.dimension);
    }
    batch[2].vector.pop_back();
    auto answers = test::search_batch(*d, "c", batch);
    BOOST_TEST_REQUIRE(!answers.has_value());
    BOOST_TEST((answers.error().code == make_error_code(errc::invalid_argument)));
    BOOST_TEST(answers.error().message().find("searches[2]") != std::string::npos, answers.error().message());
    BOOST_TEST(!test::search_batch(*d, "c", {}).has_value());
    std::vector<query::search_request> too_many(query::batch_searches_max + 1, batch[0]);
    BOOST_TEST(!test::search_batch(*d, "c", too_many).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
