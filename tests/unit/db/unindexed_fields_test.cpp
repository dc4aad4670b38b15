// A collection's unindexed fields through the database's C++ API on a real data directory of two
// shards. Definitions that break a rule (more than 256 paths, a path empty, over 256 bytes, with
// an empty part, or "id") are refused and create nothing; a good one is answered by stats and
// list sorted and without duplicates. Points holding those fields are stored and answered whole
// by get, scroll and search; every filtered call (search, batch search, count, scroll, delete by
// filter, patch by filter) naming an unindexed field or a path beneath one is invalid_argument
// naming the field and changes nothing, while filters on every other field (a sibling that
// shares a prefix, the parent object, "id") answer exactly what a model of the points says, as
// they do in a twin collection that indexes everything (where the refused filters are answered
// too). All of it in staging, in segments, in both, after a compaction and after a restart; the
// MANIFEST is version 2 with the fields and version 1 without.
#include "engine/core/coding.hpp"
#include "engine/db/database.hpp"
#include "engine/index/filter.hpp"
#include "tests/support/point_model.hpp"
#include "tests/support/sync_db.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace puffer;

namespace {

constexpr std::size_t dim = 8;
using filter_ptr = std::shared_ptr<const index::filter>;
using patch_request = collection::collection::payload_patch;

const std::string hidden = "c";      // the collection with unindexed fields
const std::string twin = "plain";    // the same points, every field indexed
const std::vector<std::string> hidden_fields = {"meta.blob", "secret"};

db::database_options options_for(const std::string& dir)
{
    db::database_options o;
    o.data_dir = dir;
    o.shards = 2;
    o.background_threads = 2;
    o.cache_bytes = 8u << 20;
    o.pin_shards = false;
    o.use_uring = false;
    o.collection.flush_threshold_vectors = 1u << 30;  // flushes only when a test asks
    o.collection.idle_flush_ms = 0;
    o.collection.cluster_count = 4;  // a fixed table: compactions only merge
    o.collection.segments_max = 1;   // a compaction merges every segment
    return o;
}

std::unique_ptr<db::database> open_db(const db::database_options& o)
{
    auto d = db::database::open(o);
    BOOST_TEST_REQUIRE(d.has_value(), (d ? "" : d.error().message()));
    return std::move(*d);
}

std::string manifest_path(const std::string& data_dir, const std::string& name)
{
    return data_dir + "/collections/" + name + "/MANIFEST";
}

// Bytes 8..11 of the collection's MANIFEST.
std::uint32_t manifest_version(const std::string& data_dir, const std::string& name)
{
    std::string bytes = test::slurp(manifest_path(data_dir, name));
    BOOST_TEST_REQUIRE(bytes.size() >= 20u, manifest_path(data_dir, name));
    return get_fixed32_le(reinterpret_cast<const std::byte*>(bytes.data() + 8));
}

std::vector<float> vector_for(std::uint64_t seed)
{
    std::vector<float> v(dim);
    for (std::size_t j = 0; j < dim; ++j) {
        v[j] = static_cast<float>(static_cast<std::int64_t>(test::mix64(seed * 131 + j) % 20001) - 10000) / 97.0f;
    }
    return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b)
{
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

std::string id_of(std::size_t i)
{
    std::string n = std::to_string(i);
    return "p" + std::string(n.size() < 3 ? 3 - n.size() : 0, '0') + n;
}

// What a point holds, field by field, as the filters see it.
struct point {
    std::size_t i = 0;
    std::string payload;
    std::vector<float> vector;
    bool numbered = false;                 // "i"
    std::optional<std::string> secret;     // "secret" as a string (unindexed)
    bool secret_deep = false;              // "secret.deep" (unindexed)
    std::optional<std::string> secrets;    // "secrets"
    bool meta = false;                     // "meta"
    bool meta_blob = false;                // "meta.blob" (unindexed)
    std::optional<std::string> blob_x;     // "meta.blob.x" (unindexed)
    std::optional<std::string> lang;       // "meta.lang"
    std::optional<std::string> blobs;      // "meta.blobs"
    bool secretive = false;                // "secretive"
    std::optional<std::string> tag;        // "tag", set by patches
};
using model = std::map<std::string, point>;

// Point i of shape `shape` (0 to 4): unindexed values are strings and objects of strings, so
// their text survives a patch's re-serialization as it is.
point point_of(std::size_t i, std::size_t shape, std::uint64_t seed)
{
    point p;
    p.i = i;
    p.vector = vector_for(seed);
    const std::string n = std::to_string(i);
    const std::string lang = i % 2 == 0 ? "en" : "de";
    const std::string t = "t" + std::to_string(i % 3);
    switch (shape % 5) {
    case 0:
        p.payload = R"({"i":)" + n + R"(,"secret":"s)" + n + R"(","secrets":")" + t + R"(","meta":{"blob":{"x":"v)" + n +
                    R"("},"lang":")" + lang + R"("}})";
        p.numbered = true;
        p.secret = "s" + n;
        p.secrets = t;
        p.meta = true;
        p.meta_blob = true;
        p.blob_x = "v" + n;
        p.lang = lang;
        break;
    case 1:
        p.payload = R"({"i":)" + n + R"(,"secrets":")" + t + R"(","meta":{"lang":")" + lang + R"(","blobs":"b)" +
                    std::to_string(i % 2) + R"("}})";
        p.numbered = true;
        p.secrets = t;
        p.meta = true;
        p.lang = lang;
        p.blobs = "b" + std::to_string(i % 2);
        break;
    case 2:
        // A parent that holds nothing but an unindexed path.
        p.payload = R"({"i":)" + n + R"(,"meta":{"blob":"raw)" + n + R"("}})";
        p.numbered = true;
        p.meta = true;
        p.meta_blob = true;
        break;
    case 3:
        p.payload = R"({"i":)" + n + R"(,"secret":{"deep":"d)" + n + R"("},"secretive":true})";
        p.numbered = true;
        p.secret_deep = true;
        p.secretive = true;
        break;
    default:
        break;  // no payload
    }
    return p;
}

// The text of a point's unindexed values, which must come back unchanged whatever is patched.
std::vector<std::string> unindexed_text(const point& p)
{
    std::vector<std::string> out;
    if (p.secret) {
        out.push_back(R"("secret":")" + *p.secret + "\"");
    }
    if (p.secret_deep) {
        out.push_back(R"("secret":{"deep":"d)" + std::to_string(p.i) + "\"}");
    }
    if (p.blob_x) {
        out.push_back(R"("blob":{"x":")" + *p.blob_x + "\"}");
    } else if (p.meta_blob) {
        out.push_back(R"("blob":"raw)" + std::to_string(p.i) + "\"");
    }
    return out;
}

struct state {
    model live;
    std::uint64_t writes = 0;
};

// Upserts points `is` of shapes (i + rewrite) % 5 into both collections.
void put(db::database& d, state& s, const std::vector<std::size_t>& is, std::size_t rewrite = 0)
{
    point_batch b;
    b.dimension = dim;
    for (std::size_t i : is) {
        point p = point_of(i, i + rewrite, ++s.writes);
        b.ids.push_back(id_of(i));
        b.vectors.insert(b.vectors.end(), p.vector.begin(), p.vector.end());
        b.payloads.push_back(p.payload);
        s.live[id_of(i)] = std::move(p);
    }
    for (const auto& name : {hidden, twin}) {
        auto r = test::upsert(d, name, b);
        BOOST_TEST_REQUIRE(r.has_value(), name << ": " << r.error().message());
    }
}

std::vector<std::size_t> range_of(std::size_t first, std::size_t end, std::size_t step = 1)
{
    std::vector<std::size_t> out;
    for (std::size_t i = first; i < end; i += step) {
        out.push_back(i);
    }
    return out;
}

// Filters, built as net/ decodes them.
index::filter_value str(std::string s)
{
    return {index::value_kind::string, std::move(s), 0, false};
}
index::filter_value num(double v)
{
    return {index::value_kind::number, "", v, false};
}
index::filter leaf(index::filter_op op, std::string field, std::vector<index::filter_value> values = {})
{
    index::filter f;
    f.op = op;
    f.field = std::move(field);
    f.values = std::move(values);
    return f;
}
index::filter eq(std::string field, index::filter_value v)
{
    return leaf(index::filter_op::eq, std::move(field), {std::move(v)});
}
index::filter exists(std::string field)
{
    return leaf(index::filter_op::exists, std::move(field));
}
// first <= field < end
index::filter between(std::string field, double first, double end)
{
    index::filter f = leaf(index::filter_op::range, std::move(field));
    f.lower = {true, true, num(first)};
    f.upper = {true, false, num(end)};
    return f;
}
index::filter node(index::filter_op op, std::vector<index::filter> children)
{
    index::filter f;
    f.op = op;
    f.children = std::move(children);
    return f;
}
index::filter all_of(std::vector<index::filter> c)
{
    return node(index::filter_op::all_of, std::move(c));
}
index::filter any_of(std::vector<index::filter> c)
{
    return node(index::filter_op::any_of, std::move(c));
}
index::filter none_of(index::filter c)
{
    return node(index::filter_op::none_of, {std::move(c)});
}
filter_ptr share(index::filter f)
{
    return std::make_shared<const index::filter>(std::move(f));
}

using predicate = std::function<bool(const std::string& id, const point&)>;

struct case_filter {
    std::string label;
    filter_ptr f;
    predicate keeps;
    std::string field;  // refused ones: the unindexed field the refusal names
};

bool numbered_in(const point& p, std::size_t first, std::size_t end)
{
    return p.numbered && p.i >= first && p.i < end;
}

// Filters every collection answers: on siblings sharing a prefix with an unindexed field, on
// the parent of one, on "id", combined.
std::vector<case_filter> accepted_filters()
{
    std::vector<case_filter> out;
    auto add = [&out](std::string label, index::filter f, predicate keeps) {
        out.push_back({std::move(label), share(std::move(f)), std::move(keeps), ""});
    };
    add("eq secrets t1", eq("secrets", str("t1")), [](auto&, const point& p) { return p.secrets == "t1"; });
    add("exists secrets", exists("secrets"), [](auto&, const point& p) { return p.secrets.has_value(); });
    add("not exists secrets", none_of(exists("secrets")), [](auto&, const point& p) { return !p.secrets; });
    add("exists meta", exists("meta"), [](auto&, const point& p) { return p.meta; });
    add("eq meta.lang en", eq("meta.lang", str("en")), [](auto&, const point& p) { return p.lang == "en"; });
    add("exists meta.blobs", exists("meta.blobs"), [](auto&, const point& p) { return p.blobs.has_value(); });
    add("eq meta.blobs b1", eq("meta.blobs", str("b1")), [](auto&, const point& p) { return p.blobs == "b1"; });
    add("exists secretive", exists("secretive"), [](auto&, const point& p) { return p.secretive; });
    add("meta without lang", all_of({exists("meta"), none_of(exists("meta.lang"))}),
        [](auto&, const point& p) { return p.meta && !p.lang; });
    add("range i", between("i", 40, 160), [](auto&, const point& p) { return numbered_in(p, 40, 160); });
    add("id or secretive", any_of({eq("id", str(id_of(7))), eq("id", str(id_of(300))), exists("secretive")}),
        [](const std::string& id, const point& p) { return id == id_of(7) || id == id_of(300) || p.secretive; });
    add("exists tag", exists("tag"), [](auto&, const point& p) { return p.tag.has_value(); });
    return out;
}

// Filters naming an unindexed field or a path beneath one, anywhere in the tree; in the twin
// collection they are answered as keeps says.
std::vector<case_filter> refused_filters()
{
    std::vector<case_filter> out;
    auto add = [&out](std::string label, index::filter f, std::string field, predicate keeps) {
        out.push_back({std::move(label), share(std::move(f)), std::move(keeps), std::move(field)});
    };
    add("exists secret", exists("secret"), "secret", [](auto&, const point& p) { return p.secret || p.secret_deep; });
    add("eq secret", eq("secret", str("s0")), "secret", [](auto&, const point& p) { return p.secret == "s0"; });
    add("exists secret.deep", exists("secret.deep"), "secret.deep", [](auto&, const point& p) { return p.secret_deep; });
    add("exists meta.blob", exists("meta.blob"), "meta.blob", [](auto&, const point& p) { return p.meta_blob; });
    add("eq meta.blob.x", eq("meta.blob.x", str("v10")), "meta.blob.x",
        [](auto&, const point& p) { return p.blob_x == "v10"; });
    add("and not meta.blob", all_of({exists("secrets"), none_of(exists("meta.blob"))}), "meta.blob",
        [](auto&, const point& p) { return p.secrets && !p.meta_blob; });
    add("or range secret.n", any_of({eq("meta.lang", str("en")), between("secret.n", 0, 10)}), "secret.n",
        [](auto&, const point& p) { return p.lang == "en"; });
    add("id and secret", all_of({eq("id", str(id_of(0))), none_of(any_of({exists("meta"), exists("secret")}))}), "secret",
        [](const std::string& id, const point& p) { return id == id_of(0) && !p.meta && !p.secret && !p.secret_deep; });
    add("first of two", any_of({exists("meta.blob.x"), exists("secret")}), "meta.blob.x",
        [](auto&, const point& p) { return p.blob_x || p.secret || p.secret_deep; });
    return out;
}

std::string refusal(const std::string& field, const std::string& name)
{
    return "filter: field '" + field + "' is not indexed in collection '" + name + "' (it is one of its unindexed_fields)";
}

template <class T>
void expect_refused(const result<T>& r, const std::string& message, const std::string& label)
{
    BOOST_TEST_REQUIRE(!r.has_value(), label << ": answered");
    BOOST_TEST(is(r.error(), errc::invalid_argument), label << ": " << r.error().message());
    BOOST_TEST(r.error().message().find(message) != std::string::npos,
               label << ": '" << r.error().message() << "' lacks '" << message << "'");
}

std::size_t count_of(db::database& d, const std::string& name, filter_ptr f)
{
    test::waiter<result<std::size_t>> w;
    d.count(name, std::move(f), w.callback());
    auto r = w.get();
    BOOST_TEST_REQUIRE(r.has_value(), name << ": " << r.error().message());
    return *r;
}

result<std::size_t> try_count(db::database& d, const std::string& name, filter_ptr f)
{
    test::waiter<result<std::size_t>> w;
    d.count(name, std::move(f), w.callback());
    return w.get();
}

// Every page of a scroll (limit 64), checked to ascend.
std::vector<query::stored_point> scroll_all(db::database& d, const std::string& name, filter_ptr f, bool vectors)
{
    std::vector<query::stored_point> out;
    std::optional<std::string> after;
    for (std::size_t page = 0; page < 100000; ++page) {
        query::scroll_request r;
        r.filter = f;
        r.limit = 64;
        r.after = after;
        r.include_payload = true;
        r.include_vector = vectors;
        auto got = test::scroll(d, name, r);
        BOOST_TEST_REQUIRE(got.has_value(), name << ": " << got.error().message());
        for (auto& p : got->points) {
            BOOST_TEST_REQUIRE((out.empty() || out.back().id < p.id), name << ": " << p.id);
            out.push_back(std::move(p));
        }
        if (!got->next_cursor) {
            return out;
        }
        after = got->next_cursor;
    }
    BOOST_FAIL("a scroll without end");
    return out;
}

// got is exactly the points of m that keeps keeps, in id order, payloads byte for byte (and
// vectors bit for bit when asked for).
void expect_points(const std::vector<query::stored_point>& got, const model& m, const predicate& keeps, bool vectors,
                   const std::string& label)
{
    std::size_t k = 0;
    for (const auto& [id, p] : m) {
        if (!keeps(id, p)) {
            continue;
        }
        BOOST_TEST_REQUIRE(k < got.size(), label << ": the answer ends before " << id);
        BOOST_TEST_REQUIRE(got[k].id == id, label << ": point " << k);
        BOOST_TEST(got[k].payload == p.payload, label << ": " << id);
        if (vectors) {
            BOOST_TEST(same_bits(got[k].vector, p.vector), label << ": " << id);
        }
        ++k;
    }
    BOOST_TEST(k == got.size(), label);
}

query::search_request everything(filter_ptr f)
{
    query::search_request r;
    r.vector = vector_for(424242);
    r.top_k = 1000;     // more than the collection holds
    r.nprobe = 1000;    // every cluster: the answer is exact
    r.include_payload = true;
    r.filter = std::move(f);
    return r;
}

// The hits are exactly the points of m that keeps keeps, with their payloads.
void expect_hits(const query::search_response& got, const model& m, const predicate& keeps, const std::string& label)
{
    std::map<std::string, std::string> hits;
    for (const auto& h : got.hits) {
        BOOST_TEST(hits.emplace(h.id, h.payload).second, label << ": " << h.id << " twice");
    }
    std::size_t expected = 0;
    for (const auto& [id, p] : m) {
        if (!keeps(id, p)) {
            continue;
        }
        ++expected;
        auto it = hits.find(id);
        BOOST_TEST_REQUIRE((it != hits.end()), label << ": " << id << " not found");
        BOOST_TEST(it->second == p.payload, label << ": " << id);
    }
    BOOST_TEST(hits.size() == expected, label);
}

std::size_t count_in(const model& m, const predicate& keeps)
{
    std::size_t n = 0;
    for (const auto& [id, p] : m) {
        n += keeps(id, p) ? 1 : 0;
    }
    return n;
}

// The collection holds exactly m: scrolled with vectors, by get in reverse order, and counted.
void expect_collection(db::database& d, const std::string& name, const model& m, const std::string& label)
{
    auto all = [](const std::string&, const point&) { return true; };
    expect_points(scroll_all(d, name, nullptr, true), m, all, true, label + " scroll");
    BOOST_TEST(count_of(d, name, nullptr) == m.size(), label);
    std::vector<std::string> ids;
    for (auto it = m.rbegin(); it != m.rend(); ++it) {
        ids.push_back(it->first);
    }
    if (ids.empty()) {
        return;
    }
    auto got = test::get(d, name, ids);
    BOOST_TEST_REQUIRE(got.has_value(), label << ": " << got.error().message());
    BOOST_TEST(got->missing.empty(), label);
    BOOST_TEST_REQUIRE(got->points.size() == ids.size(), label);
    for (std::size_t k = 0; k < ids.size(); ++k) {
        const point& p = m.at(ids[k]);
        BOOST_TEST(got->points[k].id == ids[k], label);
        BOOST_TEST(got->points[k].payload == p.payload, label << ": get " << ids[k]);
        BOOST_TEST(same_bits(got->points[k].vector, p.vector), label << ": get " << ids[k]);
    }
}

// Every filtered call answers these filters exactly: count, scroll, search, one batch of them.
void expect_answered(db::database& d, const std::string& name, const model& m, const std::vector<case_filter>& filters,
                     const std::string& phase)
{
    std::vector<query::search_request> batch;
    for (const auto& c : filters) {
        const std::string label = phase + ", " + name + ", " + c.label;
        BOOST_TEST(count_of(d, name, c.f) == count_in(m, c.keeps), label);
        expect_points(scroll_all(d, name, c.f, false), m, c.keeps, false, label + " scroll");
        auto s = test::search(d, name, everything(c.f));
        BOOST_TEST_REQUIRE(s.has_value(), label << ": " << s.error().message());
        expect_hits(*s, m, c.keeps, label + " search");
        batch.push_back(everything(c.f));
    }
    batch.push_back(everything(nullptr));
    auto b = test::search_batch(d, name, batch);
    BOOST_TEST_REQUIRE(b.has_value(), phase << ", " << name << ": batch: " << b.error().message());
    BOOST_TEST_REQUIRE(b->results.size() == filters.size() + 1);
    for (std::size_t k = 0; k < filters.size(); ++k) {
        expect_hits(b->results[k], m, filters[k].keeps, phase + ", " + name + ", batch " + filters[k].label);
    }
    expect_hits(b->results.back(), m, [](auto&, const point&) { return true; }, phase + ", " + name + ", batch all");
}

std::uint64_t wal_records(db::database& d, const std::string& name)
{
    auto st = test::stats(d, name);
    BOOST_TEST_REQUIRE(st.has_value(), st.error().message());
    return st->wal_records;
}

// Every filtered call with a refused filter is invalid_argument naming its field, and nothing
// changes (no write reaches the log).
void expect_refused_everywhere(db::database& d, const model& m, const std::string& phase)
{
    const std::uint64_t records = wal_records(d, hidden);
    const auto accepted = accepted_filters();
    for (const auto& c : refused_filters()) {
        const std::string label = phase + ", " + c.label;
        const std::string message = refusal(c.field, hidden);
        expect_refused(test::search(d, hidden, everything(c.f)), message, label + ": search");
        auto unfiltered = everything(nullptr);
        expect_refused(test::search_batch(d, hidden, {unfiltered, everything(c.f)}), "searches[1]: " + message,
                       label + ": batch, second");
        expect_refused(test::search_batch(d, hidden, {everything(c.f), everything(accepted[0].f)}),
                       "searches[0]: " + message, label + ": batch, first");
        expect_refused(try_count(d, hidden, c.f), message, label + ": count");
        query::scroll_request sr;
        sr.filter = c.f;
        expect_refused(test::scroll(d, hidden, sr), message, label + ": scroll");
        expect_refused(test::remove_matching(d, hidden, c.f), message, label + ": delete by filter");
        for (auto mode : {index::patch_mode::merge, index::patch_mode::replace}) {
            patch_request p;
            p.filter = c.f;
            p.payload = R"({"tag":"never"})";
            p.mode = mode;
            expect_refused(test::patch(d, hidden, p), message, label + ": patch by filter");
        }
    }
    BOOST_TEST(wal_records(d, hidden) == records, phase << ": a refused call reached the log");
    expect_collection(d, hidden, m, phase + ", after the refusals");
}

// The whole check of one phase: both collections hold the model, the accepted filters are
// answered exactly by both, the refused ones are refused by one and answered by its twin.
void check_phase(db::database& d, const model& m, const std::string& phase)
{
    expect_collection(d, hidden, m, phase + ", " + hidden);
    expect_collection(d, twin, m, phase + ", " + twin);
    expect_answered(d, hidden, m, accepted_filters(), phase);
    expect_answered(d, twin, m, accepted_filters(), phase);
    expect_answered(d, twin, m, refused_filters(), phase);
    expect_refused_everywhere(d, m, phase);
}

void expect_definition(db::database& d, const std::string& name, const std::vector<std::string>& fields,
                       const std::string& label)
{
    auto st = test::stats(d, name);
    BOOST_TEST_REQUIRE(st.has_value(), label << ": " << st.error().message());
    BOOST_TEST(st->info.unindexed_fields == fields, label << ": stats");
    auto all = test::list(d);
    BOOST_TEST_REQUIRE(all.has_value(), label << ": " << all.error().message());
    bool listed = false;
    for (const auto& info : *all) {
        if (info.name == name) {
            listed = true;
            BOOST_TEST(info.unindexed_fields == fields, label << ": list");
        }
    }
    BOOST_TEST(listed, label << ": " << name << " not listed");
}

// Deletes by an accepted filter in both collections, as the model says.
void remove_where(db::database& d, state& s, const index::filter& f, const predicate& keeps, const std::string& label)
{
    const std::size_t expected = count_in(s.live, keeps);
    BOOST_TEST_REQUIRE(expected > 0u, label);
    for (const auto& name : {hidden, twin}) {
        auto r = test::remove_matching(d, name, share(f));
        BOOST_TEST_REQUIRE(r.has_value(), label << ", " << name << ": " << r.error().message());
        BOOST_TEST(*r == expected, label << ", " << name);
    }
    for (auto it = s.live.begin(); it != s.live.end();) {
        it = keeps(it->first, it->second) ? s.live.erase(it) : std::next(it);
    }
}

// Patches {"tag": tag} by an accepted filter (merge) in both collections; the patched payloads
// keep their unindexed values' text and gain the tag, and both collections answer the same.
void tag_where(db::database& d, state& s, const index::filter& f, const predicate& keeps, const std::string& tag,
               const std::string& label)
{
    std::vector<std::string> ids;
    for (const auto& [id, p] : s.live) {
        if (keeps(id, p)) {
            ids.push_back(id);
        }
    }
    BOOST_TEST_REQUIRE(!ids.empty(), label);
    for (const auto& name : {hidden, twin}) {
        patch_request p;
        p.filter = share(f);
        p.payload = R"({"tag":")" + tag + "\"}";
        auto r = test::patch(d, name, p);
        BOOST_TEST_REQUIRE(r.has_value(), label << ", " << name << ": " << r.error().message());
        BOOST_TEST(*r == ids.size(), label << ", " << name);
    }
    auto got = test::get(d, hidden, ids);
    auto got_twin = test::get(d, twin, ids);
    BOOST_TEST_REQUIRE(got.has_value(), got.error().message());
    BOOST_TEST_REQUIRE(got_twin.has_value(), got_twin.error().message());
    BOOST_TEST_REQUIRE(got->points.size() == ids.size());
    BOOST_TEST_REQUIRE(got_twin->points.size() == ids.size());
    for (std::size_t k = 0; k < ids.size(); ++k) {
        point& p = s.live.at(ids[k]);
        const std::string& text = got->points[k].payload;
        BOOST_TEST(got_twin->points[k].payload == text, label << ": " << ids[k]);
        BOOST_TEST(text.find(R"("tag":")" + tag + "\"") != std::string::npos, label << ": " << ids[k] << ": " << text);
        for (const auto& part : unindexed_text(p)) {
            BOOST_TEST(text.find(part) != std::string::npos, label << ": " << ids[k] << ": " << text << " lacks " << part);
        }
        BOOST_TEST(same_bits(got->points[k].vector, p.vector), label << ": " << ids[k]);
        p.payload = text;
        p.tag = tag;
    }
}

bool collections_dir_empty(const std::string& data_dir)
{
    std::error_code ec;
    std::filesystem::directory_iterator it(data_dir + "/collections", ec);
    BOOST_TEST_REQUIRE(!ec, ec.message());
    return it == std::filesystem::directory_iterator{};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(unindexed_fields_suite)

BOOST_AUTO_TEST_CASE(invalid_definitions_are_refused_and_create_nothing)
{
    test::temp_dir dir;
    auto d = open_db(options_for(dir.path()));
    std::vector<std::string> too_many;
    for (int i = 0; i < 257; ++i) {
        too_many.push_back("f" + std::to_string(i));
    }
    const std::vector<std::pair<std::string, std::vector<std::string>>> invalid = {
        {"an empty path", {""}},
        {"an empty path among good ones", {"a", "", "b"}},
        {"a..b", {"a..b"}},
        {".a", {".a"}},
        {"a.", {"a."}},
        {".", {"."}},
        {"..", {".."}},
        {"a.b..", {"a.b.."}},
        {"id", {"id"}},
        {"id among good ones", {"a", "id"}},
        {"257 bytes", {std::string(257, 'x')}},
        {"257 bytes, dotted", {std::string(128, 'x') + "." + std::string(128, 'y')}},
        {"257 paths", too_many},
    };
    for (const auto& [label, fields] : invalid) {
        auto r = test::create(*d, "c", 4, metric::l2, fields);
        BOOST_TEST_REQUIRE(!r.has_value(), label << ": created");
        BOOST_TEST(is(r.error(), errc::invalid_argument), label << ": " << r.error().message());
        BOOST_TEST(r.error().message().find("unindexed_fields") != std::string::npos, label << ": " << r.error().message());
        auto all = test::list(*d);
        BOOST_TEST_REQUIRE(all.has_value(), all.error().message());
        BOOST_TEST(all->empty(), label << ": a collection was listed");
        BOOST_TEST(collections_dir_empty(dir.path()), label << ": a directory was left");
        auto st = test::stats(*d, "c");
        BOOST_TEST_REQUIRE(!st.has_value(), label);
        BOOST_TEST(is(st.error(), errc::not_found), label << ": " << st.error().message());
    }
    // A bad dimension is refused with good fields too.
    BOOST_TEST(!test::create(*d, "c", 0, metric::l2, {"a"}).has_value());
    BOOST_TEST(collections_dir_empty(dir.path()));

    // The limits themselves are fine: 256 paths, 256 bytes; names that only look like "id" or
    // hold it as a part.
    std::vector<std::string> most;
    for (int i = 0; i < 256; ++i) {
        std::string head = std::to_string(1000 + i) + ".";
        most.push_back(head + std::string(256 - head.size(), 'x'));
    }
    BOOST_TEST_REQUIRE(test::create(*d, "most", 4, metric::l2, most).has_value());
    expect_definition(*d, "most", most, "256 paths of 256 bytes");
    const std::vector<std::string> near_id = {"ID", "a.id", "id.a", "ids", "x"};
    auto r = test::create(*d, "near", 4, metric::cosine, near_id);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    expect_definition(*d, "near", near_id, "near id");
    // The name a refused definition would have taken is free, and a second create of a name
    // that exists leaves its definition alone.
    BOOST_TEST_REQUIRE(test::create(*d, "c", 4, metric::l2, {"a"}).has_value());
    auto again = test::create(*d, "c", 4, metric::l2, {"b"});
    BOOST_TEST_REQUIRE(!again.has_value());
    BOOST_TEST(is(again.error(), errc::already_exists), again.error().message());
    expect_definition(*d, "c", {"a"}, "after a second create");
    auto all = test::list(*d);
    BOOST_TEST_REQUIRE(all.has_value());
    BOOST_TEST(all->size() == 3u);

    // All of it as it was after a restart.
    d->shutdown();
    d.reset();
    d = open_db(options_for(dir.path()));
    expect_definition(*d, "most", most, "256 paths of 256 bytes, reopened");
    expect_definition(*d, "near", near_id, "near id, reopened");
    expect_definition(*d, "c", {"a"}, "c, reopened");
    BOOST_TEST(manifest_version(dir.path(), "most") == 2u);
    // A filter on the last of the 256 and one beneath it are refused; on a parent they are not.
    auto refused = try_count(*d, "most", share(exists(most.back())));
    expect_refused(refused, refusal(most.back(), "most"), "the last of 256");
    // (the message quotes at most 256 bytes of the field)
    auto beneath = try_count(*d, "most", share(exists(most.front() + ".k")));
    expect_refused(beneath, "filter: field '" + most.front(), "beneath the first of 256");
    expect_refused(beneath, "' is not indexed in collection 'most' (it is one of its unindexed_fields)",
                   "beneath the first of 256");
    BOOST_TEST(count_of(*d, "most", share(exists("1000"))) == 0u);
    expect_refused(try_count(*d, "near", share(exists("a.id.z"))), refusal("a.id.z", "near"), "a.id.z");
    BOOST_TEST(count_of(*d, "near", share(eq("id", str("p1")))) == 0u);
}

BOOST_AUTO_TEST_CASE(the_definition_is_answered_sorted_and_unique)
{
    test::temp_dir dir;
    auto d = open_db(options_for(dir.path()));
    BOOST_TEST_REQUIRE(test::create(*d, "c", 4, metric::l2, {"secret", "meta.blob", "b", "secret", "a.z", "meta.blob"})
                           .has_value());
    BOOST_TEST_REQUIRE(test::create(*d, "none", 4, metric::l2, std::vector<std::string>{}).has_value());
    BOOST_TEST_REQUIRE(test::create(*d, "old", 4).has_value());
    const std::vector<std::string> sorted = {"a.z", "b", "meta.blob", "secret"};
    expect_definition(*d, "c", sorted, "created");
    expect_definition(*d, "none", {}, "none");
    expect_definition(*d, "old", {}, "old");
    BOOST_TEST(manifest_version(dir.path(), "c") == 2u);
    BOOST_TEST(manifest_version(dir.path(), "none") == 1u);
    BOOST_TEST(manifest_version(dir.path(), "old") == 1u);
    d->shutdown();
    d.reset();
    d = open_db(options_for(dir.path()));
    expect_definition(*d, "c", sorted, "reopened");
    expect_definition(*d, "none", {}, "none, reopened");
}

// The phases: staging only; segments only; both, with replacements and deletes; after deletes
// and patches by accepted filters; after a compaction; after a restart, and writes after it.
BOOST_AUTO_TEST_CASE(filters_on_unindexed_fields_are_refused_and_the_others_are_exact)
{
    test::temp_dir dir;
    auto o = options_for(dir.path());
    auto d = open_db(o);
    BOOST_TEST_REQUIRE(test::create(*d, hidden, dim, metric::l2, {"secret", "meta.blob"}).has_value());
    BOOST_TEST_REQUIRE(test::create(*d, twin, dim).has_value());
    expect_definition(*d, hidden, hidden_fields, "created");
    expect_definition(*d, twin, {}, "twin");
    state s;
    // Filters on an empty collection are judged as well.
    check_phase(*d, s.live, "empty");

    put(*d, s, range_of(0, 200));
    check_phase(*d, s.live, "staging");

    BOOST_TEST_REQUIRE(test::flush(*d, hidden).has_value());
    BOOST_TEST_REQUIRE(test::flush(*d, twin).has_value());
    test::wait_settled(*d, hidden);
    test::wait_settled(*d, twin);
    {
        auto st = test::stats(*d, hidden);
        BOOST_TEST_REQUIRE(st.has_value());
        BOOST_TEST_REQUIRE(st->segments == 1u);
        BOOST_TEST_REQUIRE(st->staging_vectors == 0u);
    }
    check_phase(*d, s.live, "segments");
    BOOST_TEST(manifest_version(dir.path(), hidden) == 2u);
    BOOST_TEST(manifest_version(dir.path(), twin) == 1u);

    // New points and replacements of segment points in other shapes, deletes by id.
    put(*d, s, range_of(200, 320));
    put(*d, s, range_of(0, 200, 3), 1);
    std::vector<std::string> gone;
    for (std::size_t i = 1; i < 320; i += 7) {
        gone.push_back(id_of(i));
    }
    for (const auto& name : {hidden, twin}) {
        auto r = test::remove(*d, name, gone);
        BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
        BOOST_TEST(*r == gone.size());
    }
    for (const auto& id : gone) {
        s.live.erase(id);
    }
    {
        auto st = test::stats(*d, hidden);
        BOOST_TEST_REQUIRE(st.has_value());
        BOOST_TEST_REQUIRE(st->segments == 1u);
        BOOST_TEST_REQUIRE(st->staging_vectors > 0u);
        BOOST_TEST_REQUIRE(st->tombstones > 0u);
    }
    check_phase(*d, s.live, "segments and staging");

    // Deletes and patches by filters on indexed fields, the sibling and the parent among them.
    remove_where(*d, s, eq("secrets", str("t2")), [](auto&, const point& p) { return p.secrets == "t2"; }, "secrets t2");
    remove_where(*d, s, all_of({exists("meta"), none_of(exists("meta.lang")), between("i", 0, 150)}),
                 [](auto&, const point& p) { return p.meta && !p.lang && numbered_in(p, 0, 150); }, "meta without lang");
    tag_where(*d, s, eq("meta.lang", str("de")), [](auto&, const point& p) { return p.lang == "de"; }, "de",
              "tag meta.lang de");
    tag_where(*d, s, exists("secretive"), [](auto&, const point& p) { return p.secretive; }, "sly", "tag secretive");
    // A patch by ids may write an unindexed field: it is stored and answered, still not filterable.
    {
        const std::string id = s.live.begin()->first;
        for (const auto& name : {hidden, twin}) {
            patch_request p;
            p.ids = {id};
            p.payload = R"({"secret":"rewritten"})";
            p.mode = index::patch_mode::replace;
            auto r = test::patch(*d, name, p);
            BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
            BOOST_TEST(*r == 1u);
        }
        point& p = s.live.at(id);
        p = point{p.i, R"({"secret":"rewritten"})", p.vector};
        p.secret = "rewritten";
    }
    check_phase(*d, s.live, "after deletes and patches by filter");

    // Two more segments, then a compaction of them all.
    std::map<std::string, std::uint64_t> compactions;
    for (const auto& name : {hidden, twin}) {
        auto st = test::stats(*d, name);
        BOOST_TEST_REQUIRE(st.has_value());
        compactions[name] = st->compactions;
    }
    BOOST_TEST_REQUIRE(test::flush(*d, hidden).has_value());
    BOOST_TEST_REQUIRE(test::flush(*d, twin).has_value());
    put(*d, s, range_of(320, 360));
    put(*d, s, range_of(2, 320, 5), 2);
    BOOST_TEST_REQUIRE(test::flush(*d, hidden).has_value());
    BOOST_TEST_REQUIRE(test::flush(*d, twin).has_value());
    test::wait_settled(*d, hidden);
    test::wait_settled(*d, twin);
    for (const auto& name : {hidden, twin}) {
        auto c = test::compact(*d, name);
        BOOST_TEST_REQUIRE(c.has_value(), c.error().message());
        test::wait_settled(*d, name);
        auto st = test::stats(*d, name);
        BOOST_TEST_REQUIRE(st.has_value());
        BOOST_TEST_REQUIRE(st->compactions > compactions[name], name);
        BOOST_TEST_REQUIRE(st->segments == 1u, name);
        BOOST_TEST(st->tombstones == 0u, name);
    }
    put(*d, s, range_of(360, 380));  // and some staging beside the merged segment
    expect_definition(*d, hidden, hidden_fields, "compacted");
    BOOST_TEST(manifest_version(dir.path(), hidden) == 2u);
    BOOST_TEST(manifest_version(dir.path(), twin) == 1u);
    check_phase(*d, s.live, "compacted");

    // A restart: the definition comes back from the MANIFEST, staging from the log.
    d->shutdown();
    d.reset();
    d = open_db(o);
    expect_definition(*d, hidden, hidden_fields, "reopened");
    expect_definition(*d, twin, {}, "twin, reopened");
    check_phase(*d, s.live, "reopened");
    put(*d, s, range_of(380, 400));
    put(*d, s, range_of(0, 400, 11), 3);
    tag_where(*d, s, eq("secrets", str("t0")), [](auto&, const point& p) { return p.secrets == "t0"; }, "z",
              "tag secrets t0");
    check_phase(*d, s.live, "written after the restart");
    BOOST_TEST_REQUIRE(test::flush(*d, hidden).has_value());
    BOOST_TEST_REQUIRE(test::flush(*d, twin).has_value());
    test::wait_settled(*d, hidden);
    test::wait_settled(*d, twin);
    check_phase(*d, s.live, "flushed after the restart");
    BOOST_TEST(manifest_version(dir.path(), hidden) == 2u);
    BOOST_TEST(manifest_version(dir.path(), twin) == 1u);
}

// Without unindexed fields the MANIFEST stays version 1 through every rewrite of it (create,
// flush, compaction, restart), with a collection that has them beside it.
BOOST_AUTO_TEST_CASE(a_collection_without_unindexed_fields_writes_a_version_1_manifest)
{
    test::temp_dir dir;
    auto o = options_for(dir.path());
    auto d = open_db(o);
    BOOST_TEST_REQUIRE(test::create(*d, "v1", dim).has_value());
    BOOST_TEST_REQUIRE(test::create(*d, "v1b", dim, metric::inner_product, std::vector<std::string>{}).has_value());
    BOOST_TEST_REQUIRE(test::create(*d, "v2", dim, metric::l2, {"x"}).has_value());
    auto expect_versions = [&](const std::string& label) {
        BOOST_TEST(manifest_version(dir.path(), "v1") == 1u, label);
        BOOST_TEST(manifest_version(dir.path(), "v1b") == 1u, label);
        BOOST_TEST(manifest_version(dir.path(), "v2") == 2u, label);
    };
    expect_versions("created");
    std::uint64_t seed = 0;
    for (int round = 0; round < 2; ++round) {
        for (const char* name : {"v1", "v1b", "v2"}) {
            point_batch b;
            b.dimension = dim;
            for (std::size_t i = 0; i < 50; ++i) {
                b.ids.push_back(id_of(round * 50 + i));
                auto v = vector_for(++seed);
                b.vectors.insert(b.vectors.end(), v.begin(), v.end());
                b.payloads.push_back(R"({"x":"a","y":1})");
            }
            BOOST_TEST_REQUIRE(test::upsert(*d, name, b).has_value());
            BOOST_TEST_REQUIRE(test::flush(*d, name).has_value());
            test::wait_settled(*d, name);
        }
    }
    expect_versions("flushed");
    for (const char* name : {"v1", "v1b", "v2"}) {
        BOOST_TEST_REQUIRE(test::compact(*d, name).has_value());
        test::wait_settled(*d, name);
    }
    expect_versions("compacted");
    d->shutdown();
    d.reset();
    d = open_db(o);
    expect_versions("reopened");
    BOOST_TEST(count_of(*d, "v1", share(eq("x", str("a")))) == 100u);
    BOOST_TEST(count_of(*d, "v1b", share(eq("x", str("a")))) == 100u);
    expect_refused(try_count(*d, "v2", share(eq("x", str("a")))), refusal("x", "v2"), "v2");
    BOOST_TEST(count_of(*d, "v2", share(eq("y", num(1)))) == 100u);
}

BOOST_AUTO_TEST_SUITE_END()
