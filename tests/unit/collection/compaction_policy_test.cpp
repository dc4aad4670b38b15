// The compaction policy as a pure function of segment sizes: a table too coarse (or too fine)
// for the collection is retrained over every segment, segments of older tables are merged into
// the current one, too many segments merge the smallest, heavily tombstoned ones are rewritten,
// and a settled collection is left alone (so the policy cannot loop).
#include "engine/collection/compaction_policy.hpp"
#include "engine/index/ivf.hpp"

#include <boost/test/unit_test.hpp>

using namespace puffer;
using namespace puffer::collection;

namespace {

segment_summary seg(std::uint64_t id, std::size_t rows, std::size_t clusters, std::uint64_t quantizer,
                    std::size_t dead = 0)
{
    return segment_summary{id, rows, rows - dead, clusters, quantizer};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(compaction_policy_suite)

BOOST_AUTO_TEST_CASE(the_current_table_is_the_largest_segments)
{
    BOOST_TEST(current_quantizer({seg(1, 100, 10, 1), seg(2, 300, 10, 2), seg(3, 200, 10, 1)}) == 2u);
    // Ties go to the newest.
    BOOST_TEST(current_quantizer({seg(1, 100, 10, 1), seg(2, 100, 10, 2)}) == 2u);
}

BOOST_AUTO_TEST_CASE(retrain_size_looks_ahead_and_is_capped)
{
    policy_options o;
    BOOST_TEST(retrain_cluster_count(20000, o) == index::default_cluster_count(25000));
    BOOST_TEST(retrain_cluster_count(160, o) == 10u);  // n / 16
    BOOST_TEST(retrain_cluster_count(1, o) == 1u);
}

BOOST_AUTO_TEST_CASE(the_first_table_is_trained_within_a_budget)
{
    policy_options o;
    // SIFT (d = 128) at the default flush threshold: the full table.
    BOOST_TEST(first_table_cluster_count(20000, 128, o) == retrain_cluster_count(20000, o));
    // 768 dimensions: 2e10 / (20000 * 768 * 12) = 108 clusters, retrained later in the background.
    BOOST_TEST(first_table_cluster_count(20000, 768, o) == 108u);
    BOOST_TEST(first_table_cluster_count(100, 768, o) == retrain_cluster_count(100, o));
    BOOST_TEST(first_table_cluster_count(1, 65536, o) == 1u);
    // A table cut by the budget is soon too coarse: the next compaction retrains it.
    auto c = choose_compaction({seg(1, 20000, 108, 1)}, o);
    BOOST_TEST((c.what == compaction_choice::kind::retrain));
}

BOOST_AUTO_TEST_CASE(a_settled_collection_is_left_alone)
{
    policy_options o;
    BOOST_TEST((choose_compaction({}, o).what == compaction_choice::kind::none));
    // One table sized for 25k rows holding 20k, and a flush of 20k more assigned to it.
    std::size_t k = retrain_cluster_count(20000, o);
    BOOST_TEST((choose_compaction({seg(1, 20000, k, 1)}, o).what == compaction_choice::kind::none));
    // What a retrain produces is never retrained again at the same size.
    for (std::size_t n : {100u, 5000u, 20000u, 200000u, 1000000u}) {
        auto c = choose_compaction({seg(7, n, retrain_cluster_count(n, o), 7)}, o);
        BOOST_TEST((c.what == compaction_choice::kind::none), "n " << n);
    }
}

BOOST_AUTO_TEST_CASE(a_table_grown_too_coarse_is_retrained_over_everything)
{
    policy_options o;
    std::size_t k = retrain_cluster_count(20000, o);  // 632
    // 20k + 20k rows: the default for 40k is 800 clusters, 632 * 1.12 = 708 < 800.
    auto c = choose_compaction({seg(1, 20000, k, 1), seg(2, 20000, k, 1)}, o);
    BOOST_TEST((c.what == compaction_choice::kind::retrain));
    BOOST_TEST(c.segments == (std::vector<std::uint64_t>{1, 2}));
    BOOST_TEST(c.cluster_count == retrain_cluster_count(40000, o));
    // 20k + 5k: still within 12%.
    BOOST_TEST((choose_compaction({seg(1, 20000, k, 1), seg(2, 5000, k, 1)}, o).what ==
                compaction_choice::kind::none));
}

BOOST_AUTO_TEST_CASE(a_table_far_too_fine_after_deletes_is_retrained)
{
    policy_options o;
    std::size_t k = retrain_cluster_count(200000, o);
    auto c = choose_compaction({seg(1, 200000, k, 1, 190000)}, o);
    BOOST_TEST((c.what == compaction_choice::kind::retrain));
    BOOST_TEST(c.cluster_count == retrain_cluster_count(10000, o));
}

BOOST_AUTO_TEST_CASE(segments_of_older_tables_move_to_the_current_one)
{
    policy_options o;
    std::size_t k = retrain_cluster_count(100000, o);
    auto c = choose_compaction({seg(3, 100000, k, 3), seg(4, 2000, 500, 1), seg(5, 1000, 500, 1)}, o);
    BOOST_TEST((c.what == compaction_choice::kind::merge));
    BOOST_TEST(c.segments == (std::vector<std::uint64_t>{4, 5}));
    BOOST_TEST(c.cluster_count == 0u);
}

BOOST_AUTO_TEST_CASE(too_many_segments_merge_the_smallest_down_to_half)
{
    policy_options o;
    o.segments_max = 4;
    std::size_t k = retrain_cluster_count(100000, o);
    std::vector<segment_summary> s = {seg(1, 90000, k, 1), seg(2, 3000, k, 1), seg(3, 1000, k, 1), seg(4, 2000, k, 1),
                                      seg(5, 4000, k, 1)};
    auto c = choose_compaction(s, o);
    BOOST_TEST((c.what == compaction_choice::kind::merge));
    // 5 segments, bound 4: merge 5 - 2 + 1 = 4 of the smallest, leaving 2.
    BOOST_TEST(c.segments == (std::vector<std::uint64_t>{2, 3, 4, 5}));
}

BOOST_AUTO_TEST_CASE(heavily_tombstoned_segments_are_rewritten)
{
    policy_options o;
    std::size_t k = retrain_cluster_count(100000, o);
    auto c = choose_compaction({seg(1, 100000, k, 1), seg(2, 10000, k, 1, 3000)}, o);
    BOOST_TEST((c.what == compaction_choice::kind::merge));
    BOOST_TEST(c.segments == (std::vector<std::uint64_t>{2}));
    BOOST_TEST((choose_compaction({seg(1, 100000, k, 1), seg(2, 10000, k, 1, 2999)}, o).what ==
                compaction_choice::kind::none));
}

BOOST_AUTO_TEST_SUITE_END()
