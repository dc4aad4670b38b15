// Searches of a quantized collection (sq8 and rabitq): the codes choose top_k * refine candidates and their
// float vectors decide. Against a float collection holding the same rows in the same segments:
// the answers agree (recall of the float answer >= 0.97, exact scores), a search without codes
// answers exactly as the float collection, and this holds across a restart and in mmap mode.
// Re-ranking reads pages of vectors once: a repeated search reads nothing from disk.
#include "engine/db/database.hpp"
#include "engine/format/vecs_file.hpp"
#include "tests/support/sync_db.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <set>
#include <stdexcept>

using namespace puffer;

namespace {

const format::matrix<float>& base()
{
    static const format::matrix<float> b = [] {
        auto r = format::read_fvecs(std::string(PUFFER_TEST_DATA_DIR) + "/sift20k/sift_base.fvecs");
        if (!r) {
            throw std::runtime_error("sift20k missing");
        }
        return std::move(*r);
    }();
    return b;
}

const format::matrix<float>& queries()
{
    static const format::matrix<float> q = [] {
        auto r = format::read_fvecs(std::string(PUFFER_TEST_DATA_DIR) + "/sift20k/sift_query.fvecs");
        if (!r) {
            throw std::runtime_error("sift20k missing");
        }
        return std::move(*r);
    }();
    return q;
}

db::database_options options_for(const std::string& dir, collection::io_mode mode = collection::io_mode::direct)
{
    db::database_options o;
    o.data_dir = dir;
    o.shards = 1;
    o.background_threads = 2;
    o.cache_bytes = 64u << 20;
    o.pin_shards = false;
    o.collection.flush_threshold_vectors = 1u << 30;  // flushes only when asked
    o.collection.idle_flush_ms = 0;
    o.collection.mode = mode;
    return o;
}

std::unique_ptr<db::database> open_db(const db::database_options& o)
{
    auto d = db::database::open(o);
    BOOST_TEST_REQUIRE(d.has_value(), (d ? "" : d.error().message()));
    return std::move(*d);
}

// The 20k rows in two flushes (then compacted into one segment with a table of its own).
void load(db::database& d, const std::string& name, index::quantization q)
{
    const auto& b = base();
    collection::create_settings settings;
    settings.quantization = q;
    BOOST_TEST_REQUIRE(test::create(d, name, b.dimension, metric::l2, settings).has_value());
    const std::size_t half = b.rows / 2;
    for (std::size_t part = 0; part < 2; ++part) {
        point_batch batch;
        batch.dimension = b.dimension;
        std::size_t first = part * half;
        std::size_t end = part == 0 ? half : b.rows;
        for (std::size_t i = first; i < end; ++i) {
            batch.ids.push_back(std::to_string(i));
        }
        batch.vectors.assign(b.row(first), b.row(end));
        BOOST_TEST_REQUIRE(test::upsert(d, name, std::move(batch)).has_value());
        BOOST_TEST_REQUIRE(test::flush(d, name).has_value());
        test::wait_settled(d, name);
    }
}

query::search_request request(std::size_t qi, std::size_t refine = 0, bool use_codes = true)
{
    query::search_request r;
    r.vector.assign(queries().row(qi), queries().row(qi) + queries().dimension);
    r.top_k = 10;
    r.nprobe = 16;
    r.refine = refine;
    r.use_codes = use_codes;
    return r;
}

constexpr std::size_t query_count = 60;

std::size_t default_refine(index::quantization q)
{
    return q == index::quantization::rabitq ? query::default_refine_rabitq : query::default_refine;
}

// The quantized collection's answers against the float one's.
void expect_agreement(db::database& d, index::quantization codes)
{
    const std::size_t refine = default_refine(codes);
    double found = 0;
    for (std::size_t qi = 0; qi < query_count; ++qi) {
        auto f = test::search(d, "f", request(qi));
        auto q = test::search(d, "q", request(qi));
        BOOST_TEST_REQUIRE(f.has_value(), f.error().message());
        BOOST_TEST_REQUIRE(q.has_value(), q.error().message());
        BOOST_TEST(f->stats.refine == 0u);
        BOOST_TEST(q->stats.refine == refine);
        BOOST_TEST(q->stats.reranked >= 10u);
        BOOST_TEST(q->stats.reranked <= 10 * refine);
        BOOST_TEST(q->hits.size() == 10u);
        std::set<std::string> truth;
        for (const auto& h : f->hits) {
            truth.insert(h.id);
        }
        for (std::size_t i = 0; i < q->hits.size(); ++i) {
            const auto& h = q->hits[i];
            found += truth.count(h.id);
            // The score is the exact distance, as the float scan computes it.
            const float* x = base().row(std::stoul(h.id));
            float exact = distance(metric::l2, queries().row(qi), x, base().dimension);
            BOOST_TEST(h.score == exact, boost::test_tools::tolerance(1e-5f));
            if (i > 0) {
                BOOST_TEST(q->hits[i - 1].score <= h.score);
            }
        }
        // Without codes, the same answer as the float collection's, bit for bit.
        auto exact = test::search(d, "q", request(qi, 0, false));
        BOOST_TEST_REQUIRE(exact.has_value(), exact.error().message());
        BOOST_TEST(exact->stats.refine == 0u);
        BOOST_TEST_REQUIRE(exact->hits.size() == f->hits.size());
        for (std::size_t i = 0; i < f->hits.size(); ++i) {
            BOOST_TEST(exact->hits[i].id == f->hits[i].id);
            BOOST_TEST(exact->hits[i].score == f->hits[i].score);
        }
    }
    double recall = found / (10.0 * query_count);
    BOOST_TEST(recall >= 0.97, "recall of the float answers: " << recall);
}

void agreement_across_restart_and_io_modes(index::quantization codes)
{
    test::temp_dir dir;
    {
        auto d = open_db(options_for(dir.path()));
        load(*d, "f", index::quantization::none);
        load(*d, "q", codes);
        auto st = test::stats(*d, "q");
        BOOST_TEST_REQUIRE(st.has_value());
        BOOST_TEST((st->info.quantization == codes));
        expect_agreement(*d, codes);
        // refine 1: only top_k candidates are re-scored.
        auto one = test::search(*d, "q", request(0, 1));
        BOOST_TEST_REQUIRE(one.has_value());
        BOOST_TEST(one->stats.refine == 1u);
        BOOST_TEST(one->stats.reranked <= 10u);
        // Over the bound: refused, naming it.
        auto over = test::search(*d, "q", request(0, query::refine_max + 1));
        BOOST_TEST_REQUIRE(!over.has_value());
        BOOST_TEST(is(over.error(), errc::invalid_argument));
        BOOST_TEST(over.error().message().find("refine must be 1 to 64") != std::string::npos, over.error().message());
    }
    {
        // The quantization is the collection's (its MANIFEST), kept across a restart.
        auto d = open_db(options_for(dir.path()));
        auto st = test::stats(*d, "q");
        BOOST_TEST_REQUIRE(st.has_value());
        BOOST_TEST((st->info.quantization == codes));
        BOOST_TEST((test::stats(*d, "f")->info.quantization == index::quantization::none));
        expect_agreement(*d, codes);
    }
    {
        auto d = open_db(options_for(dir.path(), collection::io_mode::mmap));
        expect_agreement(*d, codes);
    }
}

void rerank_pages_are_read_once(index::quantization codes)
{
    test::temp_dir dir;
    auto d = open_db(options_for(dir.path()));
    load(*d, "q", codes);
    test::clear_caches(*d);
    auto cold = test::search(*d, "q", request(3));
    BOOST_TEST_REQUIRE(cold.has_value(), cold.error().message());
    // The codes of 16 clusters per segment and one page per candidate at most.
    BOOST_TEST(cold->stats.bytes_read > 0u);
    BOOST_TEST(cold->stats.clusters_read > 0u);
    auto warm = test::search(*d, "q", request(3));
    BOOST_TEST_REQUIRE(warm.has_value(), warm.error().message());
    BOOST_TEST(warm->stats.bytes_read == 0u);
    BOOST_TEST(warm->stats.clusters_read == 0u);
    BOOST_TEST_REQUIRE(warm->hits.size() == cold->hits.size());
    for (std::size_t i = 0; i < warm->hits.size(); ++i) {
        BOOST_TEST(warm->hits[i].id == cold->hits[i].id);
        BOOST_TEST(warm->hits[i].score == cold->hits[i].score);
    }
    // Codes are about a quarter of the floats; with a page per candidate on top, a cold search
    // still reads less than a float search (at this size pages weigh most: 200k rows, docs/results.md).
    auto floats = test::search(*d, "q", request(3, 0, false));
    test::clear_caches(*d);
    floats = test::search(*d, "q", request(3, 0, false));
    BOOST_TEST_REQUIRE(floats.has_value());
    BOOST_TEST(cold->stats.bytes_read < floats->stats.bytes_read,
               "codes + pages " << cold->stats.bytes_read << " bytes, floats " << floats->stats.bytes_read);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(quantized_search_suite)

BOOST_AUTO_TEST_CASE(sq8_answers_agree_with_floats_across_restart_and_io_modes)
{
    agreement_across_restart_and_io_modes(index::quantization::sq8);
}

BOOST_AUTO_TEST_CASE(rabitq_answers_agree_with_floats_across_restart_and_io_modes)
{
    agreement_across_restart_and_io_modes(index::quantization::rabitq);
}

BOOST_AUTO_TEST_CASE(rerank_pages_are_read_once_then_served_from_the_cache)
{
    rerank_pages_are_read_once(index::quantization::sq8);
    rerank_pages_are_read_once(index::quantization::rabitq);
}

BOOST_AUTO_TEST_SUITE_END()
