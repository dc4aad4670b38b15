// GCC sees malloc inside a replaced operator new and free inside the replaced delete as a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
// Heap allocations per warm search, counted by a replacement operator new in this test binary
// (every thread: the caller's, the shards'). A warm search of a collection held in segments
// (every cluster cached), split among shards or not, allocates three times: the hits vector of
// its answer, the one holder that routes a call to its shard, and this test's blocking waiter.
// Ids longer than the small-string buffer would add one each (these have at most 5 characters);
// the engine's own per-search state comes from pools. The bound is in docs/design.md.
#include "engine/db/database.hpp"
#include "engine/format/vecs_file.hpp"
#include "tests/support/sync_db.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::uint64_t> allocations{0};
}  // namespace

void* operator new(std::size_t size)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) {
        return p;
    }
    throw std::bad_alloc();
}
void* operator new[](std::size_t size)
{
    return operator new(size);
}
void operator delete(void* p) noexcept
{
    std::free(p);
}
void operator delete[](void* p) noexcept
{
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept
{
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept
{
    std::free(p);
}

using namespace puffer;

BOOST_AUTO_TEST_SUITE(allocation_suite)

BOOST_AUTO_TEST_CASE(a_warm_search_allocates_only_its_answer)
{
    auto base = format::read_fvecs(std::string(PUFFER_TEST_DATA_DIR) + "/sift20k/sift_base.fvecs");
    auto queries = format::read_fvecs(std::string(PUFFER_TEST_DATA_DIR) + "/sift20k/sift_query.fvecs");
    BOOST_TEST_REQUIRE(base.has_value());
    BOOST_TEST_REQUIRE(queries.has_value());
    for (auto [shards, quantization] : {std::pair{1u, index::quantization::none}, std::pair{2u, index::quantization::none},
                                        std::pair{1u, index::quantization::sq8}, std::pair{2u, index::quantization::sq8},
                                        std::pair{1u, index::quantization::rabitq},
                                        std::pair{2u, index::quantization::rabitq}}) {
        test::temp_dir dir;
        db::database_options o;
        o.data_dir = dir.path();
        o.shards = shards;
        o.background_threads = 1;
        o.cache_bytes = 64u << 20;
        o.pin_shards = false;
        o.collection.flush_threshold_vectors = 1u << 30;
        o.collection.idle_flush_ms = 0;
        o.executor.scatter_bytes_min = 0;  // with two shards, every search is split
        auto d = db::database::open(o);
        BOOST_TEST_REQUIRE(d.has_value());
        db::database& db = **d;
        const std::size_t dim = base->dimension;
        collection::create_settings settings;
        settings.quantization = quantization;  // codes scanned, candidates re-ranked from cached pages
        BOOST_TEST_REQUIRE(test::create(db, "c", dim, metric::l2, settings).has_value());
        point_batch b;
        b.dimension = dim;
        for (std::size_t i = 0; i < base->rows; ++i) {
            b.ids.push_back(std::to_string(i));  // at most 5 characters: no id allocates
        }
        b.vectors = base->data;
        BOOST_TEST_REQUIRE(test::upsert(db, "c", std::move(b)).has_value());
        BOOST_TEST_REQUIRE(test::flush(db, "c").has_value());
        // Requests built beforehand (their vectors are the caller's allocations), and a warm-up
        // that reads every cluster and fills the pools.
        std::vector<query::search_request> requests;
        for (std::size_t qi = 0; qi < queries->rows; ++qi) {
            query::search_request r;
            r.vector.assign(queries->row(qi), queries->row(qi) + dim);
            r.top_k = 10;
            r.nprobe = 48;
            requests.push_back(std::move(r));
        }
        for (int round = 0; round < 2; ++round) {
            for (const auto& r : requests) {
                BOOST_TEST_REQUIRE(test::search(db, "c", r).has_value());
            }
        }
        std::vector<query::search_request> copies = requests;  // moved into the searches below
        std::uint64_t before = allocations.load();
        std::size_t hits = 0;
        for (auto& r : copies) {
            auto found = test::search(db, "c", std::move(r));
            BOOST_TEST_REQUIRE(found.has_value());
            BOOST_TEST_REQUIRE(found->stats.clusters_read == 0u);  // warm
            BOOST_TEST_REQUIRE(found->stats.bytes_read == 0u);
            BOOST_TEST_REQUIRE((found->stats.refine != 0) == (quantization != index::quantization::none));
            hits += found->hits.size();
        }
        double per_search = static_cast<double>(allocations.load() - before) / static_cast<double>(copies.size());
        BOOST_TEST_MESSAGE(shards << " shard(s): " << per_search << " allocations per warm search");
        BOOST_TEST(hits == 10 * copies.size());
        BOOST_TEST(per_search <= 3.0, shards << " shard(s), " << index::to_string(quantization) << ": " << per_search
                                             << " allocations per warm search");
    }
}

BOOST_AUTO_TEST_SUITE_END()
