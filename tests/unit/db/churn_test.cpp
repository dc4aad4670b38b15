// Regression cases other vector stores have had, on real data (sift20k): after many upserts,
// deletes and re-inserts (flushed, compacted), recall@10 stays within 0.01 of a fresh build of
// the same data and is at least 0.95 (nprobe 96); a deleted id never comes back (not after flush,
// compaction or restart); a re-inserted id is visible at once and after restart.
#include "engine/db/database.hpp"
#include "engine/format/vecs_file.hpp"
#include "tests/support/sync_db.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <random>
#include <set>

using namespace puffer;

namespace {

struct sift {
    format::matrix<float> base;
    format::matrix<float> queries;
    format::matrix<std::int32_t> truth;
};

const sift& data()
{
    static const sift s = [] {
        sift out;
        out.base = *format::read_fvecs(test::data_dir() + "/sift20k/sift_base.fvecs");
        out.queries = *format::read_fvecs(test::data_dir() + "/sift20k/sift_query.fvecs");
        out.truth = *format::read_ivecs(test::data_dir() + "/sift20k/sift_gt.ivecs");
        return out;
    }();
    return s;
}

point_batch rows(const std::vector<std::size_t>& ids, std::size_t d, bool garbage = false)
{
    point_batch b;
    b.dimension = d;
    for (std::size_t id : ids) {
        b.ids.push_back(std::to_string(id));
        const float* v = data().base.row(id);
        for (std::size_t j = 0; j < d; ++j) {
            b.vectors.push_back(garbage ? 255.0f - v[j] : v[j]);
        }
    }
    return b;
}

void load_all(db::database& d, const std::string& name)
{
    std::size_t n = data().base.rows;
    for (std::size_t first = 0; first < n; first += 1000) {
        std::vector<std::size_t> ids;
        for (std::size_t i = first; i < std::min(n, first + 1000); ++i) {
            ids.push_back(i);
        }
        BOOST_TEST_REQUIRE(test::upsert(d, name, rows(ids, data().base.dimension)).has_value());
    }
}

// coded: the collection's searches must score codes (and re-rank), not its floats.
double recall(db::database& d, const std::string& name, std::size_t nprobe, const std::set<std::string>& deleted,
              bool coded)
{
    const auto& s = data();
    std::size_t hits = 0;
    for (std::size_t q = 0; q < s.queries.rows; ++q) {
        auto r = test::search(d, name, std::vector<float>(s.queries.row(q), s.queries.row(q) + s.queries.dimension), 10, nprobe);
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST_REQUIRE((r->stats.refine != 0) == coded);
        std::set<std::string> want;
        for (std::size_t k = 0; k < 10; ++k) {
            want.insert(std::to_string(s.truth.row(q)[k]));
        }
        for (const auto& h : r->hits) {
            BOOST_TEST_REQUIRE(deleted.count(h.id) == 0u, "deleted id " << h.id << " came back");
            hits += want.count(h.id);
        }
    }
    return static_cast<double>(hits) / static_cast<double>(s.queries.rows * 10);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(churn_suite)

// codes: the quantization of both collections (a quantized one's segments are re-encoded on
// every flush and compaction; its searches score codes, then re-rank).
static void churn_against_fresh(index::quantization codes)
{
    test::temp_dir dir;
    db::database_options o;
    o.data_dir = dir.path();
    o.shards = 2;
    o.pin_shards = false;
    o.cache_bytes = 64u << 20;
    o.collection.flush_threshold_vectors = 1u << 30;
    o.collection.idle_flush_ms = 0;
    o.collection.segments_max = 3;
    const std::size_t d = data().base.dimension;
    const std::size_t n = data().base.rows;
    // At 48 probes a fresh build of sift20k reaches 0.9475 here, below the floor; 96 gives 0.9665
    // (64: 0.9575), so the floor tests churn rather than the probe count.
    const std::size_t nprobe = 96;
    std::mt19937_64 rng(test::test_seed("churn", 71));

    auto db = *db::database::open(o);
    collection::create_settings settings;
    settings.quantization = codes;
    const bool coded = codes != index::quantization::none;
    BOOST_TEST_REQUIRE(test::create(*db, "fresh", d, metric::l2, settings).has_value());
    load_all(*db, "fresh");
    BOOST_TEST_REQUIRE(test::flush(*db, "fresh").has_value());

    BOOST_TEST_REQUIRE(test::create(*db, "churned", d, metric::l2, settings).has_value());
    load_all(*db, "churned");
    BOOST_TEST_REQUIRE(test::flush(*db, "churned").has_value());
    std::set<std::string> gone;  // deleted for good
    for (int round = 0; round < 6; ++round) {
        // Overwrite 10% with wrong vectors, delete 10%, then put back the right vectors for
        // everything but the ids deleted for good.
        std::vector<std::size_t> overwrite;
        std::vector<std::string> doomed;
        std::vector<std::size_t> doomed_rows;
        for (std::size_t i = 0; i < n; ++i) {
            if (gone.count(std::to_string(i)) != 0) {
                continue;
            }
            auto u = rng() % 10;
            if (u == 0) {
                overwrite.push_back(i);
            } else if (u == 1) {
                doomed.push_back(std::to_string(i));
                doomed_rows.push_back(i);
            }
        }
        for (std::size_t first = 0; first < overwrite.size(); first += 1000) {
            std::vector<std::size_t> part(overwrite.begin() + static_cast<std::ptrdiff_t>(first),
                                          overwrite.begin() + static_cast<std::ptrdiff_t>(std::min(overwrite.size(), first + 1000)));
            BOOST_TEST_REQUIRE(test::upsert(*db, "churned", rows(part, d, true)).has_value());
        }
        BOOST_TEST_REQUIRE(test::remove(*db, "churned", doomed).has_value());
        BOOST_TEST_REQUIRE(test::flush(*db, "churned").has_value());
        // Re-insert the deleted ones (visible at once) except a few that stay deleted.
        std::vector<std::size_t> back;
        for (std::size_t k = 0; k < doomed_rows.size(); ++k) {
            if (k % 20 == 0) {
                gone.insert(doomed[k]);
            } else {
                back.push_back(doomed_rows[k]);
            }
        }
        for (std::size_t first = 0; first < back.size(); first += 1000) {
            std::vector<std::size_t> part(back.begin() + static_cast<std::ptrdiff_t>(first),
                                          back.begin() + static_cast<std::ptrdiff_t>(std::min(back.size(), first + 1000)));
            BOOST_TEST_REQUIRE(test::upsert(*db, "churned", rows(part, d)).has_value());
        }
        std::size_t probe = back[back.size() / 2];
        auto hit = test::search(*db, "churned", std::vector<float>(data().base.row(probe), data().base.row(probe) + d), 1);
        BOOST_TEST(hit->hits[0].id == std::to_string(probe), "re-inserted id not visible");
        for (std::size_t first = 0; first < overwrite.size(); first += 1000) {
            std::vector<std::size_t> part(overwrite.begin() + static_cast<std::ptrdiff_t>(first),
                                          overwrite.begin() + static_cast<std::ptrdiff_t>(std::min(overwrite.size(), first + 1000)));
            BOOST_TEST_REQUIRE(test::upsert(*db, "churned", rows(part, d)).has_value());
        }
        BOOST_TEST_REQUIRE(test::flush(*db, "churned").has_value());
    }
    BOOST_TEST_REQUIRE(test::compact(*db, "churned").has_value());
    // The fresh build gets the same deletions, so both hold the same data.
    std::vector<std::string> gone_list(gone.begin(), gone.end());
    BOOST_TEST_REQUIRE(test::remove(*db, "fresh", gone_list).has_value());
    auto st = test::stats(*db, "churned");
    BOOST_TEST(st->info.points == n - gone.size());
    BOOST_TEST(st->segments <= 3u);
    BOOST_TEST_MESSAGE("churned: " << st->segments << " segments, " << st->tombstones << " tombstones, "
                                   << st->compactions << " compactions");
    double fresh = recall(*db, "fresh", nprobe, gone, coded);
    double churned = recall(*db, "churned", nprobe, gone, coded);
    BOOST_TEST_MESSAGE(index::to_string(codes) << ": recall@10 at nprobe " << nprobe << ": fresh " << fresh
                                               << ", churned " << churned);
    BOOST_TEST(churned >= fresh - 0.01);
    // And an absolute floor: a fresh build that itself lost recall would hide a churn loss above.
    BOOST_TEST(fresh >= 0.95);
    BOOST_TEST(churned >= 0.95);

    // Restart: still no deleted id, still the same recall.
    db.reset();
    db = *db::database::open(o);
    BOOST_TEST(test::stats(*db, "churned")->info.points == n - gone.size());
    BOOST_TEST(recall(*db, "churned", nprobe, gone, coded) == churned, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(recall_after_churn_matches_a_fresh_build)
{
    churn_against_fresh(index::quantization::none);
}

BOOST_AUTO_TEST_CASE(recall_after_churn_matches_a_fresh_build_with_sq8_codes)
{
    churn_against_fresh(index::quantization::sq8);
}

BOOST_AUTO_TEST_CASE(recall_after_churn_matches_a_fresh_build_with_rabitq_codes)
{
    churn_against_fresh(index::quantization::rabitq);
}

BOOST_AUTO_TEST_SUITE_END()
