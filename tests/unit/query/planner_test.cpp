// The planner, without I/O: over segments written to a temporary directory, one probe budget
// covers the collection. Segments that share a centroid table are probed as one (the same
// clusters in each); groups with their own tables get the same share of their clusters; the
// default budget is that of a one-segment collection of the same size; a recall target takes
// its probes from the representative segment's stored curve (asking a curve measured with only
// the row itself left out for half the misses);
// staging rows assigned to a group's table are probed with that group's clusters.
#include "engine/format/segment_format.hpp"
#include "engine/format/segment_writer.hpp"
#include "engine/index/ivf.hpp"
#include "engine/query/planner.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <random>
#include <set>

using namespace puffer;

namespace {

constexpr std::size_t d = 8;

// Writes segment `id` of n random rows assigned to centroids (k x d), with an optional curve.
std::shared_ptr<const storage::segment> write(test::temp_dir& dir, std::uint64_t id, std::size_t n,
                                              const std::vector<float>& centroids, std::size_t k,
                                              const index::recall_curve* curve = nullptr)
{
    std::mt19937_64 rng(id);
    std::normal_distribution<float> g;
    std::vector<float> x(n * d);
    for (auto& v : x) {
        v = g(rng);
    }
    index::ivf_layout layout = index::assign_ivf_layout(x.data(), n, d, centroids.data(), k, nullptr);
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < n; ++i) {
        ids.push_back(std::to_string(id) + ":" + std::to_string(i));
    }
    std::vector<std::string_view> id_views(ids.begin(), ids.end());
    format::segment_input in;
    in.segment_id = id;
    in.dimension = d;
    in.vectors = x.data();
    in.ids = id_views;
    in.layout = &layout;
    if (curve != nullptr) {
        in.sections.push_back({format::section_kind::recall_curve, 0, format::encode_recall_curve(*curve)});
    }
    std::string path = dir.file(format::segment_file_name(id));
    auto written = format::write_segment(io::posix_env(), path, in);
    BOOST_TEST_REQUIRE(written.has_value(), written.error().message());
    auto seg = storage::segment::open(io::posix_env(), path, id, storage::io_mode::direct);
    BOOST_TEST_REQUIRE(seg.has_value(), seg.error().message());
    return *seg;
}

std::vector<float> random_table(std::size_t k, std::uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> g;
    std::vector<float> c(k * d);
    for (auto& v : c) {
        v = g(rng);
    }
    return c;
}

// A recall curve over 64 clusters: 0.40 at 1 probe, 0.80 at 4, 0.95 at 8, 0.99 at 16, 0.999 at 32.
index::recall_curve curve_of_64_clusters(std::uint32_t neighbours_skipped)
{
    index::recall_curve curve;
    curve.top_k = 10;
    curve.queries = 200;
    curve.neighbours_skipped = neighbours_skipped;
    curve.points = {{1, 0.40f}, {4, 0.80f}, {8, 0.95f}, {16, 0.99f}, {32, 0.999f}, {64, 1.0f}};
    return curve;
}

// A view of the segments, grouped as given (group index per segment).
query::read_view view_of(const std::vector<std::shared_ptr<const storage::segment>>& segs,
                         const std::vector<std::uint32_t>& groups)
{
    query::read_view v;
    v.dimension = d;
    for (std::size_t i = 0; i < segs.size(); ++i) {
        if (groups[i] >= v.groups.size()) {
            v.groups.resize(groups[i] + 1);
            v.groups[groups[i]].representative = static_cast<std::uint32_t>(i);
        }
        auto& g = v.groups[groups[i]];
        g.segments.push_back(static_cast<std::uint32_t>(i));
        g.rows += segs[i]->vector_count();
        if (segs[i]->vector_count() > segs[g.representative]->vector_count()) {
            g.representative = static_cast<std::uint32_t>(i);
        }
        v.segments.push_back(query::view_segment{segs[i], nullptr, groups[i]});
    }
    return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(planner_suite)

BOOST_AUTO_TEST_CASE(an_empty_view_plans_nothing)
{
    query::read_view v;
    v.dimension = d;
    query::planner planner;
    query::plan p;
    std::vector<float> q(d, 0.5f);
    planner.make(v, q.data(), query::search_request{}, p);
    BOOST_TEST(p.clusters.empty());
    BOOST_TEST(p.vectors == 0u);
}

BOOST_AUTO_TEST_CASE(segments_sharing_a_table_are_probed_as_one)
{
    test::temp_dir dir;
    const std::size_t k = 40;
    auto table = random_table(k, 1);
    auto big = write(dir, 1, 3000, table, k);
    auto small = write(dir, 2, 300, table, k);  // a flush assigned to the same table
    auto v = view_of({big, small}, {0, 0});
    query::planner planner;
    query::plan p;
    std::vector<float> q(d, 0.25f);
    query::search_request r;
    r.nprobe = 5;
    planner.make(v, q.data(), r, p);
    // The one-segment collection of 3,300 rows has default_cluster_count(3300) clusters; 5 of
    // them are the same share of this table's 40.
    std::size_t one_segment = index::default_cluster_count(3300);
    std::size_t expected_probes = static_cast<std::size_t>(std::llround(5.0 / one_segment * k));
    std::set<std::uint32_t> clusters;
    std::size_t rows = 0;
    for (const auto& pc : p.clusters) {
        clusters.insert(pc.cluster);
        rows += pc.rows;
        BOOST_TEST(pc.rows == v.segments[pc.segment].segment->reader().cluster_length(pc.cluster));
    }
    BOOST_TEST(clusters.size() == expected_probes);
    BOOST_TEST(p.vectors == rows);
    BOOST_TEST(p.nprobe == 5u);
    // Each probed cluster is planned in every segment that has rows in it, nearest first.
    for (std::uint32_t c : clusters) {
        for (std::uint32_t s = 0; s < 2; ++s) {
            bool planned = false;
            for (const auto& pc : p.clusters) {
                planned = planned || (pc.cluster == c && pc.segment == s);
            }
            BOOST_TEST(planned == (v.segments[s].segment->reader().cluster_length(c) > 0));
        }
    }
    std::vector<std::uint32_t> order;
    std::vector<float> scratch;
    index::select_probes(metric::l2, q.data(), table.data(), k, d, expected_probes, order, scratch);
    BOOST_TEST(std::set<std::uint32_t>(order.begin(), order.end()) == clusters);
}

BOOST_AUTO_TEST_CASE(assigned_staging_rows_are_probed_with_their_groups_clusters)
{
    test::temp_dir dir;
    const std::size_t k = 40;
    auto table = random_table(k, 1);
    auto other_table = random_table(30, 2);
    auto big = write(dir, 1, 3000, table, k);
    auto other = write(dir, 2, 1500, other_table, 30);
    auto v = view_of({big, other}, {0, 1});
    // Staging 0 is assigned to group 0's table: row r in cluster r % k, none in cluster 7.
    // Staging 1 is not assigned (scanned whole, never planned).
    auto sc = std::make_shared<query::staged_clusters>();
    sc->offsets.assign(k + 1, 0);
    std::vector<std::vector<std::uint32_t>> members(k);
    for (std::uint32_t r = 0; r < 500; ++r) {
        if (r % k != 7) {
            members[r % k].push_back(r);
        }
    }
    for (std::size_t c = 0; c < k; ++c) {
        sc->rows.insert(sc->rows.end(), members[c].begin(), members[c].end());
        sc->offsets[c + 1] = static_cast<std::uint32_t>(sc->rows.size());
    }
    auto rows = std::make_shared<query::staged_rows>(d);
    v.staging.push_back(query::view_staging{rows, 500, nullptr, sc, 0});
    v.staging.push_back(query::view_staging{rows, 500, nullptr, nullptr, 0});

    query::planner planner;
    std::vector<float> q(2 * d, 0.25f);
    for (std::size_t j = d; j < 2 * d; ++j) {
        q[j] = -0.5f;
    }
    query::search_request r;
    r.nprobe = 8;
    std::vector<query::search_request> requests{r, r};
    query::batch_plan batch;
    planner.make_batch(v, q.data(), 2, requests.data(), batch);
    for (std::uint32_t i = 0; i < 2; ++i) {
        query::plan p;
        planner.make(v, q.data() + i * d, r, p);
        // Exactly group 0's probed clusters that hold staged rows, in staging 0 only.
        std::set<std::uint32_t> group0;
        for (const auto& pc : p.clusters) {
            if (pc.segment == 0) {
                group0.insert(pc.cluster);
            }
        }
        group0.erase(7);
        BOOST_TEST_REQUIRE(!group0.empty());
        std::set<std::uint32_t> staged;
        for (const auto& ps : p.staged) {
            BOOST_TEST(ps.staging == 0u);
            BOOST_TEST(sc->length(ps.cluster) > 0u);
            staged.insert(ps.cluster);
        }
        BOOST_TEST(staged.size() == p.staged.size());  // each once
        BOOST_TEST(staged == group0);
        // The batch plans the same for each of its searches.
        std::set<std::uint32_t> batched;
        for (const auto& t : batch.staged) {
            if (t.query == i) {
                BOOST_TEST(t.staging == 0u);
                batched.insert(t.cluster);
            }
        }
        BOOST_TEST(batched == staged);
    }
}

BOOST_AUTO_TEST_CASE(groups_with_their_own_tables_get_the_same_share)
{
    test::temp_dir dir;
    auto a = write(dir, 1, 4000, random_table(60, 1), 60);
    auto b = write(dir, 2, 1000, random_table(20, 2), 20);
    auto v = view_of({a, b}, {0, 1});
    query::planner planner;
    query::plan p;
    std::vector<float> q(d, -0.1f);
    query::search_request r;
    std::size_t one_segment = index::default_cluster_count(5000);
    r.nprobe = one_segment / 4;
    planner.make(v, q.data(), r, p);
    std::set<std::uint32_t> in_a;
    std::set<std::uint32_t> in_b;
    for (const auto& pc : p.clusters) {
        (pc.segment == 0 ? in_a : in_b).insert(pc.cluster);
    }
    double share = static_cast<double>(r.nprobe) / static_cast<double>(one_segment);
    BOOST_TEST(in_a.size() <= static_cast<std::size_t>(std::llround(share * 60)));
    BOOST_TEST(in_b.size() <= static_cast<std::size_t>(std::llround(share * 20)));
    BOOST_TEST(in_a.size() >= static_cast<std::size_t>(std::llround(share * 60)) - 2);  // empty clusters skipped
    BOOST_TEST(in_b.size() >= 1u);
}

BOOST_AUTO_TEST_CASE(the_default_budget_is_a_one_segment_collections)
{
    test::temp_dir dir;
    const std::size_t k = 100;
    auto table = random_table(k, 3);
    auto s1 = write(dir, 1, 5000, table, k);
    auto s2 = write(dir, 2, 5000, table, k);
    auto v = view_of({s1, s2}, {0, 0});
    query::planner planner;
    query::plan p;
    std::vector<float> q(d, 0.0f);
    planner.make(v, q.data(), query::search_request{}, p);
    std::size_t one_segment = index::default_cluster_count(10000);
    BOOST_TEST(p.nprobe == query::default_nprobe(one_segment));
    std::set<std::uint32_t> clusters;
    for (const auto& pc : p.clusters) {
        clusters.insert(pc.cluster);
    }
    BOOST_TEST(clusters.size() ==
               static_cast<std::size_t>(std::llround(static_cast<double>(p.nprobe) / one_segment * k)));
}

BOOST_AUTO_TEST_CASE(a_recall_target_reads_the_representatives_curve)
{
    test::temp_dir dir;
    const std::size_t k = 64;
    auto table = random_table(k, 4);
    index::recall_curve curve = curve_of_64_clusters(0);
    auto big = write(dir, 1, 6000, table, k, &curve);
    auto small = write(dir, 2, 500, table, k);  // no curve; the group's representative has one
    auto v = view_of({big, small}, {0, 0});
    BOOST_TEST_REQUIRE(big->reader().recall().has_value());
    BOOST_TEST(big->reader().recall()->points.size() == curve.points.size());
    query::planner planner;
    query::plan p;
    std::vector<float> q(d, 0.3f);
    query::search_request r;
    r.recall_target = 0.9;  // half the misses: the curve is asked for 0.95, at 8 probes
    planner.make(v, q.data(), r, p);
    std::set<std::uint32_t> clusters;
    for (const auto& pc : p.clusters) {
        clusters.insert(pc.cluster);
    }
    BOOST_TEST(clusters.size() == 8u);
    BOOST_TEST(p.expected_recall == 0.9, boost::test_tools::tolerance(1e-6));
    std::size_t one_segment = index::default_cluster_count(6500);
    BOOST_TEST(p.nprobe == static_cast<std::size_t>(std::llround(8.0 / k * one_segment)));
    r.recall_target = 0.98;  // asks the curve for 0.99: 16 probes
    planner.make(v, q.data(), r, p);
    clusters.clear();
    for (const auto& pc : p.clusters) {
        clusters.insert(pc.cluster);
    }
    BOOST_TEST(clusters.size() == 16u);
}

// A curve that left each row's near neighbours out of its answer stands for new queries as it
// is: the target is asked of it unchanged, and what it says is what the plan expects.
BOOST_AUTO_TEST_CASE(a_curve_measured_without_near_neighbours_is_asked_for_the_target_itself)
{
    test::temp_dir dir;
    const std::size_t k = 64;
    auto table = random_table(k, 4);
    index::recall_curve curve = curve_of_64_clusters(5);
    auto seg = write(dir, 1, 6000, table, k, &curve);
    BOOST_TEST_REQUIRE(seg->reader().recall().has_value());
    BOOST_TEST(seg->reader().recall()->neighbours_skipped == 5u);
    auto v = view_of({seg}, {0});
    query::planner planner;
    query::plan p;
    std::vector<float> q(d, 0.3f);
    query::search_request r;
    r.recall_target = 0.95;
    planner.make(v, q.data(), r, p);
    BOOST_TEST(p.clusters.size() == 8u);
    BOOST_TEST(p.expected_recall == 0.95, boost::test_tools::tolerance(1e-6));
    r.recall_target = 0.9;  // 4 + 4 * (0.10 / 0.15) = 6.67: 7 probes, expecting 0.9125
    planner.make(v, q.data(), r, p);
    BOOST_TEST(p.clusters.size() == 7u);
    BOOST_TEST(p.expected_recall == 0.9125, boost::test_tools::tolerance(1e-6));
}

// A filter's matching rows as the executor hands them to the planner: every position p of each
// segment for which keep(segment, p) holds.
template <class Keep>
query::filtered_rows allowed_of(const query::read_view& v, Keep keep)
{
    query::filtered_rows a;
    for (std::size_t s = 0; s < v.segments.size(); ++s) {
        bitmap b(v.segments[s].segment->vector_count());
        for (std::size_t p = 0; p < b.size(); ++p) {
            if (keep(s, p)) {
                b.set(p);
            }
        }
        a.segment_matches += b.count();
        a.segments.push_back(std::move(b));
    }
    return a;
}

BOOST_AUTO_TEST_CASE(a_filter_matching_few_rows_plans_every_cluster_holding_one)
{
    test::temp_dir dir;
    const std::size_t k = 40;
    auto table = random_table(k, 3);
    auto v = view_of({write(dir, 1, 3000, table, k), write(dir, 2, 400, table, k)}, {0, 0});
    // One row in 97: far fewer than the rows the budget scans unfiltered.
    auto allowed = allowed_of(v, [](std::size_t s, std::size_t p) { return (p + s) % 97 == 0; });
    query::planner planner;
    query::plan p;
    std::vector<float> q(d, 0.1f);
    query::search_request r;
    planner.make_filtered(v, q.data(), r, allowed, p);
    BOOST_TEST(p.exhaustive);
    BOOST_TEST(p.vectors == allowed.segment_matches);
    std::size_t planned_matches = 0;
    for (const auto& pc : p.clusters) {
        const auto& reader = v.segments[pc.segment].segment->reader();
        std::size_t start = reader.cluster_start(pc.cluster);
        std::size_t n = allowed.segments[pc.segment].count_range(start, start + pc.rows);
        BOOST_TEST(n > 0u);  // no cluster without a matching row
        planned_matches += n;
    }
    BOOST_TEST(planned_matches == allowed.segment_matches);  // every matching row, once
    BOOST_TEST(p.nprobe == query::default_nprobe(index::default_cluster_count(3400)));

    // No match at all: nothing to scan, and the answer is exact.
    auto none = allowed_of(v, [](std::size_t, std::size_t) { return false; });
    planner.make_filtered(v, q.data(), r, none, p);
    BOOST_TEST(p.exhaustive);
    BOOST_TEST(p.clusters.empty());
}

BOOST_AUTO_TEST_CASE(a_broad_filter_widens_the_probe_nearest_first_until_the_budget_is_met)
{
    test::temp_dir dir;
    const std::size_t k = 60;
    auto table = random_table(k, 4);
    auto v = view_of({write(dir, 1, 6000, table, k)}, {0});
    query::planner planner;
    std::vector<float> q(d, -0.2f);
    query::search_request r;
    r.nprobe = 4;
    query::plan unfiltered;
    planner.make(v, q.data(), r, unfiltered);
    // A third of the rows match, spread over every cluster.
    auto allowed = allowed_of(v, [](std::size_t, std::size_t p) { return p % 3 == 0; });
    query::plan p;
    planner.make_filtered(v, q.data(), r, allowed, p);
    BOOST_TEST(!p.exhaustive);
    BOOST_TEST(p.nprobe == unfiltered.nprobe);
    // The probes are the table's nearest clusters in order: the unfiltered ones first.
    std::vector<std::uint32_t> order;
    std::vector<float> scratch;
    index::select_probes(metric::l2, q.data(), v.segments[0].segment->reader().centroids(), k, d, k, order, scratch);
    BOOST_TEST_REQUIRE(p.clusters.size() > unfiltered.clusters.size());
    std::size_t matched = 0;
    std::size_t before_last = 0;
    for (std::size_t i = 0; i < p.clusters.size(); ++i) {
        BOOST_TEST(p.clusters[i].cluster == order[i]);
        const auto& reader = v.segments[0].segment->reader();
        std::size_t start = reader.cluster_start(p.clusters[i].cluster);
        std::size_t n = allowed.segments[0].count_range(start, start + p.clusters[i].rows);
        before_last = matched;
        matched += n;
    }
    BOOST_TEST(p.vectors == matched);
    // It stops at the first cluster that brings the matching rows to the share of the budget.
    const double target = query::filtered_budget_share * static_cast<double>(unfiltered.vectors);
    BOOST_TEST(static_cast<double>(matched) >= target);
    BOOST_TEST(static_cast<double>(before_last) < target);
}

BOOST_AUTO_TEST_SUITE_END()
