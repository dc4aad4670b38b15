// The read API and the writes that read, through the database's C++ API on a real data
// directory of two shards, over a collection whose points lie in two segments (with tombstones
// from deletes and replacements) and in staging (with dead rows): get answers vectors bit for
// bit and payloads byte for byte, in the order asked, duplicates once and missing ids listed,
// in direct mode (io_uring and the synchronous ring, cold and warm cache) and mmap mode, before
// and after a restart and a compaction; scroll pages, concatenated, give every live point once in
// byte order of ids, filtered or not, and a scroll through writes, flushes and compactions gives
// every point live for its whole length exactly once; delete by filter removes what a count
// with the filter counted, durably, deleting the ids it chose (a replay does not evaluate the
// filter again); writes that read the collection see every write issued before them and none
// issued after (also with every log sync held back, so that each write finds the one before it
// pending), and a failed one holds up none; payload patches by ids and by filter, merge and
// replace, keep vectors bit for bit, are seen by filters, fail whole, and last across restarts
// and flushes; all of it also while a flush's or a compaction's build is held.
#include "engine/db/database.hpp"
#include "engine/index/filter.hpp"
#include "engine/io/ring.hpp"
#include "tests/support/forwarding_env.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/point_model.hpp"
#include "tests/support/sync_db.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

using namespace puffer;

namespace {

constexpr std::size_t dim = 8;
using filter_ptr = std::shared_ptr<const index::filter>;
using patch_request = collection::collection::payload_patch;

db::database_options options_for(const std::string& dir, collection::io_mode mode = collection::io_mode::direct,
                                 bool uring = true)
{
    db::database_options o;
    o.data_dir = dir;
    o.shards = 2;
    o.background_threads = 2;
    o.cache_bytes = 8u << 20;
    o.pin_shards = false;
    o.use_uring = uring;
    o.collection.flush_threshold_vectors = 1u << 30;  // flushes only when a test asks
    o.collection.idle_flush_ms = 0;
    o.collection.cluster_count = 4;  // a fixed table: compactions only merge
    o.collection.mode = mode;
    return o;
}

std::unique_ptr<db::database> open_db(const db::database_options& o)
{
    auto d = db::database::open(o);
    BOOST_TEST_REQUIRE(d.has_value(), (d ? "" : d.error().message()));
    return std::move(*d);
}

// The vector of the seed-th write: values with all their mantissa bits in use, now and then a
// negative zero and a subnormal, so that any conversion or re-normalization shows.
std::vector<float> vector_for(std::uint64_t seed)
{
    std::vector<float> v(dim);
    for (std::size_t j = 0; j < dim; ++j) {
        std::uint64_t h = test::mix64(seed * 131 + j);
        v[j] = static_cast<float>(static_cast<std::int64_t>(h % 2000001) - 1000000) / 7919.0f;
    }
    if (seed % 17 == 0) {
        v[1] = -0.0f;
    }
    if (seed % 19 == 0) {
        v[2] = 1e-40f;
    }
    return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b)
{
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Point i's id: mostly "p<i>", and some ids that start with '~', 'A' or a byte above 0x7f, so
// that byte order differs from signed-char order and ids of one length are not all adjacent.
std::string id_of(std::size_t i)
{
    switch (i % 50) {
    case 7:
        return "\xc3\xa9" + std::to_string(i);
    case 9:
        return "~" + std::to_string(i);
    case 13:
        return "A" + std::to_string(i);
    default:
        return "p" + std::to_string(i);
    }
}

// Point i's payload after `rewrite` rewrites: none for one point in eleven when first written.
std::string payload_of(std::size_t i, int rewrite)
{
    if (i % 11 == 0 && rewrite == 0) {
        return "";
    }
    std::string p = "{\"i\":" + std::to_string(i) + ",\"g\":\"g" + std::to_string(i % 5) +
                    "\",\"even\":" + (i % 2 == 0 ? "true" : "false");
    if (rewrite > 0) {
        p += ",\"r\":" + std::to_string(rewrite);
    }
    return p + "}";
}

// What the collection must hold. std::string orders by bytes (char_traits<char> compares as
// unsigned char), as scroll pages do.
struct model_point {
    std::vector<float> vector;
    std::string payload;
    std::size_t i = 0;  // the payload's "i" when it has fields
};
using model = std::map<std::string, model_point>;

struct state {
    model live;
    std::uint64_t writes = 0;
};

struct new_point {
    std::string id;
    std::string payload;
    std::size_t i = 0;
};

// A batch of these points with new vectors, recorded in s as if applied.
point_batch batch_of(state& s, const std::vector<new_point>& points)
{
    point_batch b;
    b.dimension = dim;
    for (const auto& p : points) {
        auto v = vector_for(++s.writes);
        b.ids.push_back(p.id);
        b.vectors.insert(b.vectors.end(), v.begin(), v.end());
        b.payloads.push_back(p.payload);
        s.live[p.id] = model_point{std::move(v), p.payload, p.i};
    }
    return b;
}

void put(db::database& d, const std::string& name, state& s, const std::vector<new_point>& points)
{
    auto r = test::upsert(d, name, batch_of(s, points));
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
}

void put(db::database& d, const std::string& name, state& s, const std::vector<std::size_t>& is, int rewrite = 0)
{
    std::vector<new_point> points;
    for (std::size_t i : is) {
        points.push_back({id_of(i), payload_of(i, rewrite), i});
    }
    put(d, name, s, points);
}

void remove(db::database& d, const std::string& name, state& s, const std::vector<std::size_t>& is)
{
    std::vector<std::string> ids;
    std::size_t existing = 0;
    for (std::size_t i : is) {
        ids.push_back(id_of(i));
        existing += s.live.erase(id_of(i));
    }
    auto r = test::remove(d, name, ids);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST_REQUIRE(*r == existing);
}

std::vector<std::size_t> indexes(std::size_t first, std::size_t end, const std::function<bool(std::size_t)>& keep)
{
    std::vector<std::size_t> out;
    for (std::size_t i = first; i < end; ++i) {
        if (keep(i)) {
            out.push_back(i);
        }
    }
    return out;
}

bool all_rows(std::size_t)
{
    return true;
}

// The collection of most tests, ~1,900 live points: 0..799 in segment 1 and 800..1399 in
// segment 2, of those every i % 10 == 3 deleted and every i % 10 == 4 replaced (280 tombstones,
// the replacements in staging); 1400..2099 in staging, every i % 13 == 0 deleted there and every
// i % 17 == 0 replaced twice there (deleted ones so written again).
state populate(db::database& d, const std::string& name)
{
    state s;
    BOOST_TEST_REQUIRE(test::create(d, name, dim).has_value());
    put(d, name, s, indexes(0, 800, all_rows));
    BOOST_TEST_REQUIRE(test::flush(d, name).has_value());
    put(d, name, s, indexes(800, 1400, all_rows));
    BOOST_TEST_REQUIRE(test::flush(d, name).has_value());
    remove(d, name, s, indexes(0, 1400, [](std::size_t i) { return i % 10 == 3; }));
    put(d, name, s, indexes(0, 1400, [](std::size_t i) { return i % 10 == 4; }), 1);
    put(d, name, s, indexes(1400, 2100, all_rows));
    remove(d, name, s, indexes(1400, 2100, [](std::size_t i) { return i % 13 == 0; }));
    put(d, name, s, indexes(1400, 2100, [](std::size_t i) { return i % 17 == 0; }), 1);
    put(d, name, s, indexes(1400, 2100, [](std::size_t i) { return i % 17 == 0; }), 2);
    test::wait_settled(d, name);
    std::size_t staged = 0;
    for (const auto& [id, p] : s.live) {
        staged += p.i >= 1400 || p.i % 10 == 4;
    }
    auto st = test::stats(d, name);
    BOOST_TEST_REQUIRE(st.has_value());
    BOOST_TEST_REQUIRE(st->segments == 2u);
    BOOST_TEST_REQUIRE(st->tombstones == 280u);
    BOOST_TEST_REQUIRE(st->staging_vectors == staged);
    BOOST_TEST_REQUIRE(st->info.points == s.live.size());
    BOOST_TEST_REQUIRE(s.live.size() > 1800u);
    return s;
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
index::filter_value boolean(bool b)
{
    return {index::value_kind::boolean, "", 0, b};
}
index::filter eq(std::string field, index::filter_value v)
{
    index::filter f;
    f.op = index::filter_op::eq;
    f.field = std::move(field);
    f.values.push_back(std::move(v));
    return f;
}
// first <= field < end
index::filter between(std::string field, double first, double end)
{
    index::filter f;
    f.op = index::filter_op::range;
    f.field = std::move(field);
    f.lower = {true, true, num(first)};
    f.upper = {true, false, num(end)};
    return f;
}
index::filter exists(std::string field)
{
    index::filter f;
    f.op = index::filter_op::exists;
    f.field = std::move(field);
    return f;
}
index::filter all_of(std::vector<index::filter> children)
{
    index::filter f;
    f.op = index::filter_op::all_of;
    f.children = std::move(children);
    return f;
}
index::filter none_of(index::filter child)
{
    index::filter f;
    f.op = index::filter_op::none_of;
    f.children.push_back(std::move(child));
    return f;
}
filter_ptr share(index::filter f)
{
    return std::make_shared<const index::filter>(std::move(f));
}

std::size_t count_of(db::database& d, const std::string& name, filter_ptr f)
{
    test::waiter<result<std::size_t>> w;
    d.count(name, std::move(f), w.callback());
    auto r = w.get();
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    return *r;
}

std::size_t count_in(const model& m, const std::function<bool(const model_point&)>& pred)
{
    std::size_t n = 0;
    for (const auto& [id, p] : m) {
        n += pred(p);
    }
    return n;
}

bool has_fields(const model_point& p)
{
    return !p.payload.empty();
}

// Every page of a scroll with this limit, checked page by page: ids ascending within and across
// pages; every page but the last full, with next_cursor its last id; the last one not empty
// (unless nothing matches) and without a cursor.
std::vector<query::stored_point> scroll_all(db::database& d, const std::string& name, std::size_t limit,
                                            filter_ptr f = nullptr, bool vectors = false, std::size_t* pages = nullptr)
{
    std::vector<query::stored_point> out;
    std::optional<std::string> after;
    for (std::size_t page = 0;; ++page) {
        query::scroll_request r;
        r.filter = f;
        r.limit = limit;
        r.after = after;
        r.include_payload = true;
        r.include_vector = vectors;
        auto got = test::scroll(d, name, r);
        BOOST_TEST_REQUIRE(got.has_value(), got.error().message());
        BOOST_TEST_REQUIRE(got->points.size() <= limit);
        for (std::size_t k = 0; k < got->points.size(); ++k) {
            const std::string* before = k > 0 ? &got->points[k - 1].id : after ? &*after : nullptr;
            if (before != nullptr) {
                // (parenthesized: Boost.Test's own comparison of two std::string with < is not
                // byte order)
                BOOST_TEST_REQUIRE((*before < got->points[k].id),
                                   "page " << page << " point " << k << ": '" << got->points[k].id << "' after '" << *before << "'");
            }
        }
        bool last = !got->next_cursor.has_value();
        if (!last) {
            BOOST_TEST_REQUIRE(got->points.size() == limit, "page " << page);
            BOOST_TEST_REQUIRE(*got->next_cursor == got->points.back().id, "page " << page);
        } else {
            BOOST_TEST_REQUIRE((!got->points.empty() || page == 0), "an empty last page " << page);
        }
        after = got->next_cursor;
        for (auto& p : got->points) {
            out.push_back(std::move(p));
        }
        if (last) {
            if (pages != nullptr) {
                *pages = page + 1;
            }
            return out;
        }
        BOOST_TEST_REQUIRE(page < 1000000u);
    }
}

// got is exactly the points of m that pred keeps, in byte order of ids, with their payloads, and
// their vectors bit for bit (or none when not asked for).
void expect_points(const std::vector<query::stored_point>& got, const model& m, bool vectors,
                   const std::function<bool(const model_point&)>& pred = [](const model_point&) { return true; })
{
    std::size_t k = 0;
    for (const auto& [id, p] : m) {
        if (!pred(p)) {
            continue;
        }
        BOOST_TEST_REQUIRE(k < got.size(), "the answer ends before " << id);
        BOOST_TEST_REQUIRE(got[k].id == id, "point " << k);
        BOOST_TEST(got[k].payload == p.payload, id);
        if (vectors) {
            BOOST_TEST(same_bits(got[k].vector, p.vector), id);
        } else {
            BOOST_TEST(got[k].vector.empty(), id);
        }
        ++k;
    }
    BOOST_TEST(k == got.size());
}

// The collection holds exactly m: a scroll of everything, with vectors, and the total count.
void expect_collection(db::database& d, const std::string& name, const model& m)
{
    expect_points(scroll_all(d, name, 1000, nullptr, true), m, true);
    BOOST_TEST(count_of(d, name, nullptr) == m.size());
}

// get over every live point of m, shuffled, with duplicates and ids no live point has among
// them: checked with vectors and payloads, without vectors, and without payloads.
void check_get(db::database& d, const std::string& name, const model& m, std::uint64_t seed)
{
    std::vector<std::string> ask;
    for (const auto& [id, p] : m) {
        ask.push_back(id);
    }
    std::mt19937_64 rng(seed);
    std::shuffle(ask.begin(), ask.end(), rng);
    // Deleted ids (from segments and from staging), never written ones, a prefix of live ids.
    const std::vector<std::string> absent = {id_of(3), id_of(13), id_of(1404), "p", "P5", "nope", "p99999",
                                             id_of(7) + "x", std::string("\xff")};
    for (const auto& id : absent) {
        BOOST_TEST_REQUIRE(m.count(id) == 0u, id);
    }
    std::size_t live_asked = ask.size();
    for (const auto& id : absent) {
        ask.insert(ask.begin() + static_cast<std::ptrdiff_t>(rng() % (ask.size() + 1)), id);
    }
    ask.insert(ask.begin() + static_cast<std::ptrdiff_t>(rng() % (ask.size() + 1)), "nope");  // missing twice
    for (std::size_t k = 0; k < live_asked / 10; ++k) {
        std::string again = ask[rng() % ask.size()];
        ask.insert(ask.begin() + static_cast<std::ptrdiff_t>(rng() % (ask.size() + 1)), again);
    }
    ask.push_back(ask.front());
    std::vector<std::string> found;
    std::vector<std::string> missing;
    std::set<std::string> seen;
    for (const auto& id : ask) {
        if (seen.insert(id).second) {
            (m.count(id) != 0 ? found : missing).push_back(id);
        }
    }
    BOOST_TEST_REQUIRE(found.size() == m.size());
    BOOST_TEST_REQUIRE(missing.size() == absent.size());
    BOOST_TEST_REQUIRE(ask.size() <= query::get_ids_max);
    auto check = [&](bool payloads, bool vectors, const char* what) {
        auto r = test::get(d, name, ask, payloads, vectors);
        BOOST_TEST_REQUIRE(r.has_value(), what << ": " << r.error().message());
        BOOST_TEST_REQUIRE(r->points.size() == found.size(), what);
        for (std::size_t k = 0; k < found.size(); ++k) {
            const model_point& p = m.at(found[k]);
            BOOST_TEST_REQUIRE(r->points[k].id == found[k], what << ": point " << k);
            BOOST_TEST(r->points[k].payload == (payloads ? p.payload : std::string()), what << ": " << found[k]);
            if (vectors) {
                BOOST_TEST(same_bits(r->points[k].vector, p.vector), what << ": " << found[k]);
            } else {
                BOOST_TEST(r->points[k].vector.empty(), what << ": " << found[k]);
            }
        }
        BOOST_TEST(r->missing == missing, what);
    };
    test::clear_caches(d);
    check(true, true, "cold");
    check(true, true, "warm");
    check(true, false, "without vectors");
    test::clear_caches(d);
    check(false, true, "without payloads");
    // One point at a time, from a segment and from staging, and one id alone that is missing.
    for (const auto& id : {found.front(), found.back(), id_of(0), id_of(14), id_of(2099)}) {
        if (m.count(id) == 0) {
            continue;
        }
        auto one = test::get(d, name, {id});
        BOOST_TEST_REQUIRE(one.has_value());
        BOOST_TEST_REQUIRE(one->points.size() == 1u);
        BOOST_TEST(one->points[0].id == id);
        BOOST_TEST(one->points[0].payload == m.at(id).payload);
        BOOST_TEST(same_bits(one->points[0].vector, m.at(id).vector), id);
        BOOST_TEST(one->missing.empty());
    }
    auto none = test::get(d, name, {"nope", "nope"});
    BOOST_TEST_REQUIRE(none.has_value());
    BOOST_TEST(none->points.empty());
    BOOST_TEST(none->missing == (std::vector<std::string>{"nope"}));
}

// The get test in one I/O configuration: the loaded collection, after a restart (staging back
// from the log), after a compaction into one segment, and after the staged rows are flushed.
void get_in(collection::io_mode mode, bool uring)
{
    test::temp_dir dir;
    auto o = options_for(dir.path(), mode, uring);
    auto d = open_db(o);
    if (mode == collection::io_mode::direct) {
        BOOST_TEST(d->io().segment_reads == "O_DIRECT");
        if (!uring) {
            BOOST_TEST(d->io().ring == "sync ring");
        } else if (d->io().ring != "io_uring") {
            BOOST_TEST(!test::in_ci(), "io_uring unavailable under CI: " << d->io().ring);
            BOOST_TEST_MESSAGE("io_uring unavailable here (" << d->io().ring << "): its reads are not covered");
        }
    } else {
        BOOST_TEST(d->io().segment_reads == "buffered (mmap)");
    }
    state s = populate(*d, "g");
    check_get(*d, "g", s.live, 1);

    d.reset();
    o.collection.segments_max = 1;
    d = open_db(o);
    check_get(*d, "g", s.live, 2);
    BOOST_TEST_REQUIRE(test::compact(*d, "g").has_value());
    test::wait_settled(*d, "g");
    auto st = test::stats(*d, "g");
    BOOST_TEST_REQUIRE(st.has_value());
    BOOST_TEST(st->segments == 1u);
    BOOST_TEST(st->tombstones == 0u);
    BOOST_TEST(st->compactions >= 1u);
    BOOST_TEST(st->staging_vectors > 0u);
    check_get(*d, "g", s.live, 3);
    BOOST_TEST_REQUIRE(test::flush(*d, "g").has_value());
    test::wait_settled(*d, "g");
    st = test::stats(*d, "g");
    BOOST_TEST(st->staging_vectors == 0u);
    BOOST_TEST(st->segments == 1u);
    check_get(*d, "g", s.live, 4);
    expect_collection(*d, "g", s.live);
}

// The payload text of p after a merge that appends fields (text: `"k":v,...`) to its payload.
std::string merged(const std::string& payload, const std::string& fields)
{
    if (payload.empty()) {
        return "{" + fields + "}";
    }
    return payload.substr(0, payload.size() - 1) + "," + fields + "}";
}

result<std::size_t> patch(db::database& d, const std::string& name, std::vector<std::string> ids, filter_ptr f,
                          std::string payload, index::patch_mode mode)
{
    patch_request p;
    p.ids = std::move(ids);
    p.filter = std::move(f);
    p.payload = std::move(payload);
    p.mode = mode;
    return test::patch(d, name, std::move(p));
}

// Holds the next open of a segment file for writing (a flush's or a compaction's build, its
// rows gathered) until released; every later one passes.
class build_gate final : public test::forwarding_env {
public:
    using forwarding_env::forwarding_env;

    void hold_next()
    {
        std::lock_guard lock(mutex_);
        open_ = false;
        holds_ = 1;
        held_ = false;
    }
    void release()
    {
        std::lock_guard lock(mutex_);
        open_ = true;
        changed_.notify_all();
    }
    bool wait_until_held(std::chrono::seconds limit)
    {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, limit, [this] { return held_; });
    }

    result<std::unique_ptr<io::file>> open(const std::string& path, io::open_mode mode) override
    {
        if (mode != io::open_mode::read && mode != io::open_mode::read_direct && path.ends_with(".seg")) {
            std::unique_lock lock(mutex_);
            if (holds_ > 0) {
                --holds_;
                held_ = true;
                changed_.notify_all();
                changed_.wait(lock, [this] { return open_; });
            }
        }
        return base_.open(path, mode);
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    bool open_ = true;
    bool held_ = false;
    int holds_ = 0;
};

struct release_at_exit {
    build_gate& gate;
    ~release_at_exit() { gate.release(); }
};

// A ring that hands back each fdatasync's completion only `delay` after the base ring did: every
// logged write stays logged and not yet applied that long, so writes issued right after it are
// sure to arrive while it is pending.
class slow_sync_ring final : public io::ring {
public:
    slow_sync_ring(std::unique_ptr<io::ring> base, std::chrono::milliseconds delay)
        : base_(std::move(base)), delay_(delay)
    {
    }

    void submit_read(int fd, std::uint64_t offset, std::span<std::byte> buffer, std::uint64_t tag) override
    {
        base_->submit_read(fd, offset, buffer, tag);
    }
    void submit_write(int fd, std::uint64_t offset, std::span<const std::byte> data, std::uint64_t tag) override
    {
        base_->submit_write(fd, offset, data, tag);
    }
    void submit_fdatasync(int fd, std::uint64_t tag) override
    {
        syncs_.insert(tag);
        base_->submit_fdatasync(fd, tag);
    }
    bool register_buffers(std::span<const std::span<std::byte>> regions) override
    {
        return base_->register_buffers(regions);
    }
    void submit() override { base_->submit(); }

    std::size_t reap(std::span<io::completion> out, bool wait) override
    {
        for (;;) {
            std::size_t n = 0;
            auto now = std::chrono::steady_clock::now();
            while (n < out.size() && !held_.empty() && held_.front().first <= now) {
                out[n++] = held_.front().second;
                held_.pop_front();
            }
            std::size_t got = 0;
            if (n < out.size()) {
                io::completion buffer[64];
                std::size_t room = std::min<std::size_t>(64, out.size() - n);
                got = base_->reap(std::span<io::completion>(buffer, room), wait && n == 0 && held_.empty());
                for (std::size_t i = 0; i < got; ++i) {
                    if (syncs_.erase(buffer[i].tag) != 0) {
                        held_.emplace_back(now + delay_, buffer[i]);
                    } else {
                        out[n++] = buffer[i];
                    }
                }
            }
            if (n > 0 || !wait || woken_.exchange(false)) {
                return n;
            }
            if (held_.empty() && got == 0) {
                return 0;  // the base ring was woken
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }

    void wake() override
    {
        woken_.store(true);
        base_->wake();
    }
    std::size_t inflight() const override { return base_->inflight() + held_.size(); }
    const char* name() const override { return "slow-sync"; }
    io::ring_counters counters() const override { return base_->counters(); }

private:
    std::unique_ptr<io::ring> base_;
    std::chrono::milliseconds delay_;
    std::set<std::uint64_t> syncs_;
    std::deque<std::pair<std::chrono::steady_clock::time_point, io::completion>> held_;
    std::atomic<bool> woken_{false};
};

// Options whose shards log through slow_sync_ring.
db::database_options slow_sync_options(const std::string& dir)
{
    auto o = options_for(dir);
    o.make_ring = [](std::size_t) {
        return std::make_unique<slow_sync_ring>(io::make_sync_ring(), std::chrono::milliseconds(15));
    };
    return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(read_api_suite)

BOOST_AUTO_TEST_CASE(get_answers_points_exactly_in_direct_mode_with_io_uring)
{
    get_in(collection::io_mode::direct, true);
}

BOOST_AUTO_TEST_CASE(get_answers_points_exactly_in_direct_mode_with_the_sync_ring)
{
    get_in(collection::io_mode::direct, false);
}

BOOST_AUTO_TEST_CASE(get_answers_points_exactly_in_mmap_mode)
{
    get_in(collection::io_mode::mmap, true);
}

BOOST_AUTO_TEST_CASE(get_refuses_no_ids_and_too_many)
{
    test::temp_dir dir;
    auto d = open_db(options_for(dir.path()));
    BOOST_TEST_REQUIRE(test::create(*d, "g", dim).has_value());
    auto none = test::get(*d, "g", {});
    BOOST_TEST_REQUIRE(!none.has_value());
    BOOST_TEST(is(none.error(), errc::invalid_argument));
    std::vector<std::string> many(query::get_ids_max + 1, "a");
    auto over = test::get(*d, "g", many);
    BOOST_TEST_REQUIRE(!over.has_value());
    BOOST_TEST(is(over.error(), errc::invalid_argument));
    std::vector<std::string> most(query::get_ids_max, "a");
    auto at = test::get(*d, "g", most);
    BOOST_TEST_REQUIRE(at.has_value(), at.error().message());
    BOOST_TEST(at->points.empty());
    BOOST_TEST(at->missing == (std::vector<std::string>{"a"}));
    auto unknown = test::get(*d, "nosuch", {"a"});
    BOOST_TEST_REQUIRE(!unknown.has_value());
    BOOST_TEST(is(unknown.error(), errc::not_found));
}

// get with a budget: the payloads and vectors of the points found (an id asked twice counts
// once, a missing one not at all) may total bytes_max; one byte less is invalid_argument.
BOOST_AUTO_TEST_CASE(get_answers_within_its_byte_budget)
{
    test::temp_dir dir;
    auto d = open_db(options_for(dir.path()));
    BOOST_TEST_REQUIRE(test::create(*d, "b", dim).has_value());
    state s;
    put(*d, "b", s, indexes(0, 40, all_rows));
    BOOST_TEST_REQUIRE(test::flush(*d, "b").has_value());
    put(*d, "b", s, indexes(40, 60, all_rows));
    const std::vector<std::string> ids = {id_of(3), id_of(44), id_of(3), "nope", id_of(11), id_of(59)};
    std::size_t payload_bytes = 0;
    for (const auto& id : {id_of(3), id_of(44), id_of(11), id_of(59)}) {
        payload_bytes += s.live.at(id).payload.size();
    }
    const std::size_t vector_bytes = 4 * dim * 24;  // counted as JSON text: 24 bytes a value
    auto ask = [&](bool payloads, bool vectors, std::size_t bytes_max) {
        test::waiter<result<query::get_response>> w;
        d->get_points("b", ids, payloads, vectors, bytes_max, w.callback());
        return w.get();
    };
    struct budget {
        bool payloads;
        bool vectors;
        std::size_t bytes;
    };
    for (const auto& b : {budget{true, true, payload_bytes + vector_bytes}, budget{true, false, payload_bytes},
                          budget{false, true, vector_bytes}}) {
        BOOST_TEST_CONTEXT("payloads " << b.payloads << " vectors " << b.vectors)
        {
            auto fits = ask(b.payloads, b.vectors, b.bytes);
            BOOST_TEST_REQUIRE(fits.has_value(), fits.error().message());
            BOOST_TEST(fits->points.size() == 4u);
            BOOST_TEST(fits->missing == (std::vector<std::string>{"nope"}));
            auto over = ask(b.payloads, b.vectors, b.bytes - 1);
            BOOST_TEST_REQUIRE(!over.has_value());
            BOOST_TEST(is(over.error(), errc::invalid_argument), over.error().message());
            auto unbounded = ask(b.payloads, b.vectors, 0);
            BOOST_TEST_REQUIRE(unbounded.has_value());
            BOOST_TEST(unbounded->points.size() == 4u);
        }
    }
    BOOST_TEST_REQUIRE(s.live.at(id_of(11)).payload.empty());  // no payload: no bytes
}

// An empty collection: scroll answers one empty page, get lists every id missing, a delete by
// filter and a patch change nothing. A batch without payloads reads back without them.
BOOST_AUTO_TEST_CASE(an_empty_collection_and_points_without_payloads)
{
    test::temp_dir dir;
    auto d = open_db(options_for(dir.path()));
    BOOST_TEST_REQUIRE(test::create(*d, "e", dim).has_value());
    query::scroll_request r;
    auto page = test::scroll(*d, "e", r);
    BOOST_TEST_REQUIRE(page.has_value(), page.error().message());
    BOOST_TEST(page->points.empty());
    BOOST_TEST(!page->next_cursor.has_value());
    auto got = test::get(*d, "e", {"a", "b"});
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->points.empty());
    BOOST_TEST(got->missing == (std::vector<std::string>{"a", "b"}));
    auto removed = test::remove_matching(*d, "e", share(exists("x")));
    BOOST_TEST_REQUIRE(removed.has_value());
    BOOST_TEST(*removed == 0u);
    auto patched = patch(*d, "e", {}, share(exists("x")), R"({"y":1})", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(patched.has_value());
    BOOST_TEST(*patched == 0u);
    BOOST_TEST(count_of(*d, "e", nullptr) == 0u);

    // No payloads in the batch: none read back, from staging and from a segment; a merge gives
    // them the patch's fields.
    state s;
    point_batch b = batch_of(s, {{"a", ""}, {"b", ""}, {"c", ""}});
    b.payloads.clear();
    BOOST_TEST_REQUIRE(test::upsert(*d, "e", std::move(b)).has_value());
    for (int round = 0; round < 2; ++round) {
        got = test::get(*d, "e", {"c", "a", "b"});
        BOOST_TEST_REQUIRE(got.has_value());
        BOOST_TEST_REQUIRE(got->points.size() == 3u);
        for (const auto& p : got->points) {
            BOOST_TEST(p.payload.empty());
            BOOST_TEST(same_bits(p.vector, s.live.at(p.id).vector), p.id);
        }
        BOOST_TEST(count_of(*d, "e", share(exists("x"))) == 0u);
        BOOST_TEST_REQUIRE(test::flush(*d, "e").has_value());
    }
    patched = patch(*d, "e", {"b"}, nullptr, R"({"x":"y"})", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(patched.has_value(), patched.error().message());
    BOOST_TEST(*patched == 1u);
    s.live.at("b").payload = R"({"x":"y"})";
    expect_collection(*d, "e", s.live);
    BOOST_TEST(count_of(*d, "e", share(exists("x"))) == 1u);
}

BOOST_AUTO_TEST_CASE(scroll_pages_give_every_live_point_once_in_byte_order)
{
    test::temp_dir dir;
    auto d = open_db(options_for(dir.path()));
    state s = populate(*d, "s");
    const std::size_t n = s.live.size();
    for (std::size_t limit : {1u, 7u, 1000u}) {
        BOOST_TEST_CONTEXT("limit " << limit)
        {
            std::size_t pages = 0;
            bool vectors = limit != 1;
            auto got = scroll_all(*d, "s", limit, nullptr, vectors, &pages);
            expect_points(got, s.live, vectors);
            BOOST_TEST(pages == (n + limit - 1) / limit);
        }
    }
    // Byte order: ids starting with a byte above 0x7f come last.
    auto all = scroll_all(*d, "s", 1000);
    BOOST_TEST_REQUIRE(all.size() == n);
    BOOST_TEST(all.front().id.rfind("A", 0) == 0u);
    BOOST_TEST(all.back().id.rfind("\xc3\xa9", 0) == 0u);

    // A cursor need not be an id: the page starts after it.
    for (const std::string& after : {std::string("p15x"), id_of(3), std::string("A"), std::string("")}) {
        query::scroll_request r;
        r.limit = 5;
        r.after = after;
        auto page = test::scroll(*d, "s", r);
        BOOST_TEST_REQUIRE(page.has_value());
        auto it = s.live.upper_bound(after);
        BOOST_TEST_REQUIRE(page->points.size() == 5u);
        for (const auto& p : page->points) {
            BOOST_TEST_REQUIRE((it != s.live.end()));
            BOOST_TEST(p.id == it->first, "after '" << after << "'");
            BOOST_TEST(p.payload == it->second.payload);
            BOOST_TEST(p.vector.empty());
            ++it;
        }
        BOOST_TEST((page->next_cursor == std::optional<std::string>(page->points.back().id)));
    }
    query::scroll_request past;
    past.after = std::string("\xff");
    auto end = test::scroll(*d, "s", past);
    BOOST_TEST_REQUIRE(end.has_value());
    BOOST_TEST(end->points.empty());
    BOOST_TEST(!end->next_cursor.has_value());

    // A bound on bytes smaller than any point still answers one point per page.
    query::scroll_request small;
    small.limit = 50;
    small.bytes_max = 1;
    auto one = test::scroll(*d, "s", small);
    BOOST_TEST_REQUIRE(one.has_value());
    BOOST_TEST_REQUIRE(one->points.size() == 1u);
    BOOST_TEST(one->points[0].id == s.live.begin()->first);
    BOOST_TEST((one->next_cursor == std::optional<std::string>(s.live.begin()->first)));

    for (std::size_t bad : {std::size_t{0}, query::scroll_limit_max + 1}) {
        query::scroll_request r;
        r.limit = bad;
        auto refused = test::scroll(*d, "s", r);
        BOOST_TEST_REQUIRE(!refused.has_value(), "limit " << bad);
        BOOST_TEST(is(refused.error(), errc::invalid_argument));
    }
    query::scroll_request most;
    most.limit = query::scroll_limit_max;
    auto whole = test::scroll(*d, "s", most);
    BOOST_TEST_REQUIRE(whole.has_value());
    BOOST_TEST(whole->points.size() == n);
    BOOST_TEST(!whole->next_cursor.has_value());
    expect_points(whole->points, s.live, false);
    // Vectors without payloads.
    most.include_payload = false;
    most.include_vector = true;
    whole = test::scroll(*d, "s", most);
    BOOST_TEST_REQUIRE(whole.has_value());
    BOOST_TEST_REQUIRE(whole->points.size() == n);
    auto it = s.live.begin();
    for (const auto& p : whole->points) {
        BOOST_TEST_REQUIRE(p.id == it->first);
        BOOST_TEST(p.payload.empty(), p.id);
        BOOST_TEST(same_bits(p.vector, it->second.vector), p.id);
        ++it;
    }
}

BOOST_AUTO_TEST_CASE(a_filtered_scroll_gives_the_matching_points_once_in_byte_order)
{
    test::temp_dir dir;
    auto d = open_db(options_for(dir.path()));
    state s = populate(*d, "s");
    // Over both segments and staging.
    auto g2 = share(all_of({eq("g", str("g2")), between("i", 300, 1700)}));
    auto in_g2 = [](const model_point& p) { return has_fields(p) && p.i % 5 == 2 && p.i >= 300 && p.i < 1700; };
    auto even = share(eq("even", boolean(true)));
    auto is_even = [](const model_point& p) { return has_fields(p) && p.i % 2 == 0; };
    auto bare = share(none_of(exists("i")));
    auto no_fields = [](const model_point& p) { return !has_fields(p); };
    auto rewritten = share(exists("r"));
    auto is_rewritten = [](const model_point& p) { return p.payload.find("\"r\":") != std::string::npos; };
    struct one_filter {
        const char* what;
        filter_ptr f;
        std::function<bool(const model_point&)> pred;
    };
    for (const auto& c : {one_filter{"g2", g2, in_g2}, one_filter{"even", even, is_even},
                          one_filter{"no payload", bare, no_fields}, one_filter{"rewritten", rewritten, is_rewritten}}) {
        BOOST_TEST_CONTEXT(c.what)
        {
            std::size_t expected = count_in(s.live, c.pred);
            BOOST_TEST_REQUIRE(expected > 0u);
            BOOST_TEST(count_of(*d, "s", c.f) == expected);
            for (std::size_t limit : {7u, 1000u}) {
                std::size_t pages = 0;
                auto got = scroll_all(*d, "s", limit, c.f, true, &pages);
                expect_points(got, s.live, true, c.pred);
                BOOST_TEST(pages == (expected + limit - 1) / limit);
            }
        }
    }
    // Nothing matches: one empty page.
    std::size_t pages = 0;
    auto got = scroll_all(*d, "s", 7, share(eq("g", str("nothing"))), false, &pages);
    BOOST_TEST(got.empty());
    BOOST_TEST(pages == 1u);
}

// A scroll of pages with deletes, replacements and new points between them, flushes (with
// segments_max 2, each merges) and compactions: every point live for the whole scroll appears
// exactly once with its content, no id twice, no id deleted before the scroll.
void scroll_through_writes(collection::io_mode mode)
{
    test::temp_dir dir;
    auto o = options_for(dir.path(), mode);
    o.collection.segments_max = 2;  // every flush past two segments merges
    auto d = open_db(o);
    state s = populate(*d, "c");
    // Dead before the scroll and never written again.
    std::set<std::string> dead;
    for (std::size_t i = 0; i < 2100; ++i) {
        if (s.live.count(id_of(i)) == 0) {
            dead.insert(id_of(i));
        }
    }
    BOOST_TEST_REQUIRE(dead.size() > 100u);
    // One live point in three is deleted or replaced during the scroll; the others are stable.
    std::vector<std::string> churn;
    std::set<std::string> stable;
    std::set<std::string> ever;
    std::size_t k = 0;
    for (const auto& [id, p] : s.live) {
        ever.insert(id);
        if (k++ % 3 == 0) {
            churn.push_back(id);
        } else {
            stable.insert(id);
        }
    }
    std::mt19937_64 rng(7);
    std::shuffle(churn.begin(), churn.end(), rng);
    const model before = s.live;
    std::size_t next_churn = 0;
    std::size_t next_new = 10000;
    std::map<std::string, int> seen;
    std::optional<std::string> after;
    std::size_t pages = 0;
    for (;; ++pages) {
        BOOST_TEST_REQUIRE(pages < 1000u);
        query::scroll_request r;
        r.limit = 37;
        r.after = after;
        r.include_vector = true;
        auto page = test::scroll(*d, "c", r);
        BOOST_TEST_REQUIRE(page.has_value(), page.error().message());
        for (const auto& p : page->points) {
            if (after) {
                BOOST_TEST_REQUIRE((*after < p.id), "page " << pages << ": '" << p.id << "' after '" << *after << "'");
            }
            after = p.id;
            ++seen[p.id];
            BOOST_TEST(ever.count(p.id) == 1u, "a point never written: " << p.id);
            BOOST_TEST(dead.count(p.id) == 0u, "a point deleted before the scroll: " << p.id);
            if (stable.count(p.id) != 0) {
                BOOST_TEST(p.payload == before.at(p.id).payload, p.id);
                BOOST_TEST(same_bits(p.vector, before.at(p.id).vector), p.id);
            }
        }
        if (!page->next_cursor) {
            break;
        }
        BOOST_TEST_REQUIRE(*page->next_cursor == page->points.back().id);
        // Between pages: deletes and replacements of churn points, new points, flushes, compactions.
        std::vector<std::string> doomed;
        std::vector<new_point> written;
        for (int q = 0; q < 3 && next_churn < churn.size(); ++q) {
            doomed.push_back(churn[next_churn]);
            s.live.erase(churn[next_churn++]);
        }
        for (int q = 0; q < 3 && next_churn < churn.size(); ++q) {
            const std::string& id = churn[next_churn++];
            written.push_back({id, "{\"moved\":" + std::to_string(pages) + "}", 0});
        }
        for (int q = 0; q < 5; ++q) {
            std::size_t i = next_new++;
            written.push_back({id_of(i), payload_of(i, 0), i});
            ever.insert(id_of(i));
        }
        if (!doomed.empty()) {
            auto removed = test::remove(*d, "c", doomed);
            BOOST_TEST_REQUIRE(removed.has_value());
            BOOST_TEST_REQUIRE(*removed == doomed.size());
        }
        put(*d, "c", s, written);
        if (pages % 4 == 3) {
            BOOST_TEST_REQUIRE(test::flush(*d, "c").has_value());
        }
        if (pages % 9 == 8) {
            BOOST_TEST_REQUIRE(test::compact(*d, "c").has_value());
        }
    }
    for (const auto& id : stable) {
        BOOST_TEST(seen[id] == 1, id);
    }
    for (const auto& [id, times] : seen) {
        BOOST_TEST(times == 1, id);
    }
    BOOST_TEST(pages > 40u);
    test::wait_settled(*d, "c");
    auto st = test::stats(*d, "c");
    BOOST_TEST_REQUIRE(st.has_value());
    BOOST_TEST(st->flushes >= 10u);
    BOOST_TEST(st->compactions >= 1u);
    BOOST_TEST(st->segments <= 2u);
    expect_collection(*d, "c", s.live);
}

BOOST_AUTO_TEST_CASE(a_scroll_through_writes_flushes_and_compactions_gives_every_stable_point_once)
{
    scroll_through_writes(collection::io_mode::direct);
}

BOOST_AUTO_TEST_CASE(a_scroll_through_writes_flushes_and_compactions_in_mmap_mode)
{
    scroll_through_writes(collection::io_mode::mmap);
}

BOOST_AUTO_TEST_CASE(delete_by_filter_removes_what_the_count_counted_and_lasts)
{
    test::temp_dir dir;
    auto o = options_for(dir.path());
    auto d = open_db(o);
    state s = populate(*d, "r");
    // Over segment 1, segment 2, the replacements in staging and new rows in staging.
    auto f = share(all_of({eq("even", boolean(true)), between("i", 700, 1600)}));
    auto matches = [](const model_point& p) { return has_fields(p) && p.i % 2 == 0 && p.i >= 700 && p.i < 1600; };
    const std::size_t total = s.live.size();
    std::size_t n = count_of(*d, "r", f);
    BOOST_TEST_REQUIRE(n == count_in(s.live, matches));
    BOOST_TEST_REQUIRE(n > 300u);
    std::vector<std::string> doomed;
    for (const auto& [id, p] : s.live) {
        if (matches(p)) {
            doomed.push_back(id);
        }
    }
    auto removed = test::remove_matching(*d, "r", f);
    BOOST_TEST_REQUIRE(removed.has_value(), removed.error().message());
    BOOST_TEST(*removed == n);
    for (const auto& id : doomed) {
        s.live.erase(id);
    }
    BOOST_TEST(count_of(*d, "r", f) == 0u);
    BOOST_TEST(count_of(*d, "r", nullptr) == total - n);
    auto gone = test::get(*d, "r", doomed);
    BOOST_TEST_REQUIRE(gone.has_value());
    BOOST_TEST(gone->points.empty());
    BOOST_TEST(gone->missing == doomed);
    expect_collection(*d, "r", s.live);
    // Again: nothing left to delete.
    auto again = test::remove_matching(*d, "r", f);
    BOOST_TEST_REQUIRE(again.has_value());
    BOOST_TEST(*again == 0u);
    // By id: one from each segment and from staging, and one that is gone already.
    index::filter by_id;
    by_id.op = index::filter_op::in;
    by_id.field = "id";
    std::vector<std::string> picked;
    for (std::size_t i : {1u, 901u, 1403u, 3u}) {
        by_id.values.push_back(str(id_of(i)));
        if (s.live.erase(id_of(i)) != 0) {
            picked.push_back(id_of(i));
        }
    }
    BOOST_TEST_REQUIRE(picked.size() == 3u);
    auto by_ids = test::remove_matching(*d, "r", share(by_id));
    BOOST_TEST_REQUIRE(by_ids.has_value(), by_ids.error().message());
    BOOST_TEST(*by_ids == 3u);
    n += 3;  // deleted since the count
    gone = test::get(*d, "r", picked);
    BOOST_TEST_REQUIRE(gone.has_value());
    BOOST_TEST(gone->points.empty());
    auto nothing = test::remove_matching(*d, "r", share(eq("g", str("nothing"))));
    BOOST_TEST_REQUIRE(nothing.has_value());
    BOOST_TEST(*nothing == 0u);
    BOOST_TEST(count_of(*d, "r", nullptr) == total - n);
    // A point that matches, written after the delete: a replay must not delete it.
    put(*d, "r", s, {new_point{"late", payload_of(1000, 0), 1000}});
    BOOST_TEST(count_of(*d, "r", f) == 1u);

    // Restart: the log replays the delete of the ids it chose.
    d.reset();
    d = open_db(o);
    BOOST_TEST(count_of(*d, "r", f) == 1u);
    BOOST_TEST(count_of(*d, "r", nullptr) == total - n + 1);
    expect_collection(*d, "r", s.live);
    gone = test::get(*d, "r", doomed);
    BOOST_TEST_REQUIRE(gone.has_value());
    BOOST_TEST(gone->points.empty());

    // Deleted again, flushed (the tombstones go into the MANIFEST), restarted.
    removed = test::remove_matching(*d, "r", f);
    BOOST_TEST_REQUIRE(removed.has_value());
    BOOST_TEST(*removed == 1u);
    s.live.erase("late");
    BOOST_TEST_REQUIRE(test::flush(*d, "r").has_value());
    test::wait_settled(*d, "r");
    d.reset();
    d = open_db(o);
    BOOST_TEST(count_of(*d, "r", f) == 0u);
    BOOST_TEST(count_of(*d, "r", nullptr) == total - n);
    expect_collection(*d, "r", s.live);
}

// Writes issued one after another without waiting run in that order: a delete by filter sees
// the upserts before it (a new point that matches, a point changed to match) and not the one
// after it; an upsert that makes a matching point stop matching saves it from the delete that
// follows; a payload patch by filter is ordered the same way. A restart replays the same outcome.
void ordering(bool slow_syncs)
{
    test::temp_dir dir;
    auto o = slow_syncs ? slow_sync_options(dir.path()) : options_for(dir.path());
    auto d = open_db(o);
    BOOST_TEST_REQUIRE(test::create(*d, "o", dim).has_value());
    state s;
    const std::size_t rounds = 24;
    auto tag = [](const std::string& t) { return "{\"tag\":\"" + t + "\"}"; };
    auto base = [&](std::size_t k) {
        std::string n = std::to_string(k);
        return std::vector<new_point>{{"m" + n, tag("t" + n)}, {"x" + n, tag("x")}, {"s" + n, tag("u" + n)},
                                      {"o" + n, tag("u" + n)}, {"w" + n, tag("w")}};
    };
    // Even rounds' points in a segment, odd rounds' in staging.
    std::vector<new_point> points;
    for (std::size_t k = 0; k < rounds; k += 2) {
        auto b = base(k);
        points.insert(points.end(), b.begin(), b.end());
    }
    put(*d, "o", s, points);
    BOOST_TEST_REQUIRE(test::flush(*d, "o").has_value());
    points.clear();
    for (std::size_t k = 1; k < rounds; k += 2) {
        auto b = base(k);
        points.insert(points.end(), b.begin(), b.end());
    }
    put(*d, "o", s, points);
    BOOST_TEST(test::stats(*d, "o")->segments == 1u);

    for (std::size_t k = 0; k < rounds; ++k) {
        BOOST_TEST_CONTEXT("round " << k)
        {
            const std::string n = std::to_string(k);
            auto t = share(eq("tag", str("t" + n)));
            auto u = share(eq("tag", str("u" + n)));
            // 1. Before the delete: a new point that matches, a point changed to match; after it:
            // another new point that matches.
            test::waiter<status> w1;
            test::waiter<status> w2;
            test::waiter<result<std::size_t>> w3;
            test::waiter<status> w4;
            d->upsert("o", batch_of(s, {{"n" + n, tag("t" + n)}}), w1.callback());
            d->upsert("o", batch_of(s, {{"x" + n, tag("t" + n)}}), w2.callback());
            d->remove_matching("o", t, w3.callback());
            d->upsert("o", batch_of(s, {{"late" + n, tag("t" + n)}}), w4.callback());
            BOOST_TEST_REQUIRE(w1.get().has_value());
            BOOST_TEST_REQUIRE(w2.get().has_value());
            auto removed = w3.get();
            BOOST_TEST_REQUIRE(w4.get().has_value());
            BOOST_TEST_REQUIRE(removed.has_value(), removed.error().message());
            BOOST_TEST(*removed == 3u);  // m, n and x; not late
            for (const char* gone : {"m", "n", "x"}) {
                s.live.erase(gone + n);
            }
            auto got = test::get(*d, "o", {"m" + n, "n" + n, "x" + n, "late" + n});
            BOOST_TEST_REQUIRE(got.has_value());
            BOOST_TEST_REQUIRE(got->points.size() == 1u);
            BOOST_TEST(got->points[0].id == "late" + n);
            BOOST_TEST(got->missing == (std::vector<std::string>{"m" + n, "n" + n, "x" + n}));
            BOOST_TEST(count_of(*d, "o", t) == 1u);

            // 2. A replacement that no longer matches, then the delete: it survives.
            test::waiter<status> w5;
            test::waiter<result<std::size_t>> w6;
            d->upsert("o", batch_of(s, {{"s" + n, tag("moved")}}), w5.callback());
            d->remove_matching("o", u, w6.callback());
            BOOST_TEST_REQUIRE(w5.get().has_value());
            removed = w6.get();
            BOOST_TEST_REQUIRE(removed.has_value(), removed.error().message());
            BOOST_TEST(*removed == 1u);  // o only
            s.live.erase("o" + n);
            got = test::get(*d, "o", {"s" + n, "o" + n});
            BOOST_TEST_REQUIRE(got.has_value());
            BOOST_TEST_REQUIRE(got->points.size() == 1u);
            BOOST_TEST(got->points[0].id == "s" + n);
            BOOST_TEST(got->points[0].payload == tag("moved"));
            BOOST_TEST(same_bits(got->points[0].vector, s.live.at("s" + n).vector));
            BOOST_TEST(got->missing == (std::vector<std::string>{"o" + n}));
            BOOST_TEST(count_of(*d, "o", u) == 0u);

            // 3. A patch by filter sees the upsert before it and is overwritten by the one after.
            auto wf = share(eq("tag", str("w")));
            test::waiter<status> w7;
            test::waiter<result<std::size_t>> w8;
            test::waiter<status> w9;
            d->upsert("o", batch_of(s, {{"q" + n, tag("w")}}), w7.callback());
            patch_request p;
            p.filter = wf;
            p.payload = "{\"round\":" + n + "}";
            d->patch_payloads("o", std::move(p), w8.callback());
            d->upsert("o", batch_of(s, {{"w" + n, tag("after")}}), w9.callback());
            BOOST_TEST_REQUIRE(w7.get().has_value());
            auto patched = w8.get();
            BOOST_TEST_REQUIRE(w9.get().has_value());
            BOOST_TEST_REQUIRE(patched.has_value(), patched.error().message());
            // Every point tagged "w" then: the w of this round and the later ones, the q of this
            // round and the earlier ones.
            BOOST_TEST(*patched == rounds + 1);
            for (auto& [id, mp] : s.live) {
                if (mp.payload.rfind("{\"tag\":\"w\"", 0) == 0 && id != "w" + n) {
                    mp.payload = "{\"tag\":\"w\",\"round\":" + n + "}";
                }
            }
            got = test::get(*d, "o", {"q" + n, "w" + n});
            BOOST_TEST_REQUIRE(got.has_value());
            BOOST_TEST_REQUIRE(got->points.size() == 2u);
            BOOST_TEST(got->points[0].payload == "{\"tag\":\"w\",\"round\":" + n + "}");
            BOOST_TEST(got->points[1].payload == tag("after"));
            BOOST_TEST(same_bits(got->points[1].vector, s.live.at("w" + n).vector));
            if (k % 6 == 5) {
                BOOST_TEST_REQUIRE(test::flush(*d, "o").has_value());
            }
        }
    }
    expect_collection(*d, "o", s.live);
    d.reset();
    d = open_db(o);
    expect_collection(*d, "o", s.live);
    for (std::size_t k = 0; k < rounds; ++k) {
        const std::string n = std::to_string(k);
        BOOST_TEST(count_of(*d, "o", share(eq("tag", str("t" + n)))) == 1u);
        BOOST_TEST(count_of(*d, "o", share(eq("tag", str("u" + n)))) == 0u);
    }
    BOOST_TEST(count_of(*d, "o", share(eq("tag", str("moved")))) == rounds);
    BOOST_TEST(count_of(*d, "o", share(eq("tag", str("after")))) == rounds);
    BOOST_TEST(count_of(*d, "o", share(exists("round"))) == rounds);
}

BOOST_AUTO_TEST_CASE(writes_that_read_see_every_write_before_them_and_none_after)
{
    ordering(false);
}

// The same with every log sync held 15 ms: each write issued after an upsert finds it pending.
BOOST_AUTO_TEST_CASE(writes_that_read_see_every_write_before_them_and_none_after_with_slow_syncs)
{
    ordering(true);
}

// Patches by ids and by filter, merge and replace, over segment and staging rows: the answer
// counts the points changed, payloads are as patched and vectors as they were, filters see the
// new fields, and all of it lasts across restarts and a flush.
void patch_in(collection::io_mode mode)
{
    test::temp_dir dir;
    auto o = options_for(dir.path(), mode);
    auto d = open_db(o);
    state s = populate(*d, "pp");
    model& m = s.live;
    const std::size_t total = m.size();

    // By ids: segment points (one without a payload), replacements in staging, staging points
    // (one without a payload), a duplicate, and ids no live point has.
    const std::vector<std::size_t> chosen = {5, 17, 11, 801, 14, 804, 1401, 1500, 1408};
    std::vector<std::string> ids;
    for (std::size_t i : chosen) {
        BOOST_TEST_REQUIRE(m.count(id_of(i)) == 1u, i);
        ids.push_back(id_of(i));
    }
    BOOST_TEST_REQUIRE(m.at(id_of(11)).payload.empty());
    BOOST_TEST_REQUIRE(m.at(id_of(1408)).payload.empty());
    ids.push_back(id_of(5));
    ids.push_back(id_of(3));  // deleted
    ids.push_back("nope");
    auto r = patch(*d, "pp", ids, nullptr, R"({"color":"red","n":7})", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == chosen.size());
    for (std::size_t i : chosen) {
        m.at(id_of(i)).payload = merged(m.at(id_of(i)).payload, R"("color":"red","n":7)");
    }
    BOOST_TEST(m.at(id_of(5)).payload == R"({"i":5,"g":"g0","even":false,"color":"red","n":7})");
    BOOST_TEST(m.at(id_of(11)).payload == R"({"color":"red","n":7})");
    expect_collection(*d, "pp", m);
    BOOST_TEST(count_of(*d, "pp", share(eq("color", str("red")))) == chosen.size());
    BOOST_TEST(count_of(*d, "pp", share(eq("n", num(7)))) == chosen.size());
    BOOST_TEST(count_of(*d, "pp", nullptr) == total);

    // A null removes the field.
    r = patch(*d, "pp", {id_of(5), id_of(1401)}, nullptr, R"({"n":null})", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == 2u);
    m.at(id_of(5)).payload = R"({"i":5,"g":"g0","even":false,"color":"red"})";
    m.at(id_of(1401)).payload = merged(payload_of(1401, 0), R"("color":"red")");
    BOOST_TEST(count_of(*d, "pp", share(eq("n", num(7)))) == chosen.size() - 2);
    expect_collection(*d, "pp", m);

    // Replace by ids: only the patch is left; an empty patch leaves no payload.
    r = patch(*d, "pp", {id_of(17), id_of(804)}, nullptr, R"({"only":true})", index::patch_mode::replace);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == 2u);
    m.at(id_of(17)).payload = R"({"only":true})";
    m.at(id_of(804)).payload = R"({"only":true})";
    r = patch(*d, "pp", {id_of(1500)}, nullptr, "{}", index::patch_mode::replace);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == 1u);
    m.at(id_of(1500)).payload.clear();
    expect_collection(*d, "pp", m);
    BOOST_TEST(count_of(*d, "pp", share(eq("only", boolean(true)))) == 2u);
    BOOST_TEST(count_of(*d, "pp", share(eq("color", str("red")))) == chosen.size() - 3);
    BOOST_TEST(count_of(*d, "pp", share(none_of(exists("i")))) ==
               count_in(m, [](const model_point& p) { return p.payload.find("\"i\":") == std::string::npos; }));

    // Merge by filter, over both segments and staging.
    auto g1 = share(all_of({eq("g", str("g1")), between("i", 0, 1700)}));
    std::vector<std::string> in_g1;
    for (const auto& [id, p] : m) {
        if (p.payload.find("\"g\":\"g1\"") != std::string::npos && p.i < 1700) {
            in_g1.push_back(id);
        }
    }
    BOOST_TEST_REQUIRE(in_g1.size() > 200u);
    BOOST_TEST_REQUIRE(count_of(*d, "pp", g1) == in_g1.size());
    r = patch(*d, "pp", {}, g1, R"({"tier":"gold"})", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == in_g1.size());
    for (const auto& id : in_g1) {
        m.at(id).payload = merged(m.at(id).payload, R"("tier":"gold")");
    }
    BOOST_TEST(count_of(*d, "pp", share(eq("tier", str("gold")))) == in_g1.size());
    BOOST_TEST(count_of(*d, "pp", g1) == in_g1.size());
    expect_collection(*d, "pp", m);

    // Replace by filter: the old fields are gone, filters on them no longer see the points.
    auto gold_mid = share(all_of({eq("tier", str("gold")), between("i", 600, 1500)}));
    std::vector<std::string> mid;
    for (const auto& id : in_g1) {
        if (m.at(id).i >= 600 && m.at(id).i < 1500) {
            mid.push_back(id);
        }
    }
    BOOST_TEST_REQUIRE(mid.size() > 50u);
    r = patch(*d, "pp", {}, gold_mid, R"({"tier":"silver","k":2})", index::patch_mode::replace);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == mid.size());
    for (const auto& id : mid) {
        m.at(id).payload = R"({"tier":"silver","k":2})";
    }
    BOOST_TEST(count_of(*d, "pp", share(eq("tier", str("gold")))) == in_g1.size() - mid.size());
    BOOST_TEST(count_of(*d, "pp", share(eq("tier", str("silver")))) == mid.size());
    BOOST_TEST(count_of(*d, "pp", share(all_of({eq("tier", str("silver")), exists("i")}))) == 0u);
    BOOST_TEST(count_of(*d, "pp", g1) == in_g1.size() - mid.size());
    expect_collection(*d, "pp", m);

    // A patch of the field its filter selects on: the points leave the filter.
    auto g2 = share(eq("g", str("g2")));
    std::vector<std::string> in_g2;
    for (const auto& [id, p] : m) {
        if (p.payload.find("\"g\":\"g2\"") != std::string::npos) {
            in_g2.push_back(id);
        }
    }
    r = patch(*d, "pp", {}, g2, R"({"g":"g9"})", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == in_g2.size());
    for (const auto& id : in_g2) {
        std::string& text = m.at(id).payload;
        text.replace(text.find("\"g\":\"g2\""), 8, "\"g\":\"g9\"");
    }
    BOOST_TEST(count_of(*d, "pp", g2) == 0u);
    BOOST_TEST(count_of(*d, "pp", share(eq("g", str("g9")))) == in_g2.size());
    expect_collection(*d, "pp", m);

    // A point the patch leaves as it was is neither rewritten (no log record, no tombstone, no
    // staged row) nor counted: the same merge again, the same replace again, and ids of which
    // one point holds the value already.
    auto quiet = test::stats(*d, "pp");
    BOOST_TEST_REQUIRE(quiet.has_value());
    r = patch(*d, "pp", {}, share(eq("tier", str("gold"))), R"({"tier":"gold"})", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == 0u);
    r = patch(*d, "pp", {}, share(eq("tier", str("silver"))), R"({"tier":"silver","k":2})", index::patch_mode::replace);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == 0u);
    auto still = test::stats(*d, "pp");
    BOOST_TEST_REQUIRE(still.has_value());
    BOOST_TEST(still->wal_records == quiet->wal_records);
    BOOST_TEST(still->tombstones == quiet->tombstones);
    BOOST_TEST(still->staging_vectors == quiet->staging_vectors);
    // p10 has not been patched yet: its row is still in segment 1.
    BOOST_TEST_REQUIRE(m.at(id_of(10)).payload == payload_of(10, 0));
    r = patch(*d, "pp", {id_of(5), id_of(10)}, nullptr, R"({"color":"red"})", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == 1u);  // p5 is red already
    m.at(id_of(10)).payload = merged(m.at(id_of(10)).payload, R"("color":"red")");
    still = test::stats(*d, "pp");
    BOOST_TEST(still->wal_records == quiet->wal_records + 1);
    BOOST_TEST(still->tombstones == quiet->tombstones + 1);  // p10's segment row, not p5's
    expect_collection(*d, "pp", m);

    // Nothing to change: a filter that matches nothing, ids no point has.
    r = patch(*d, "pp", {}, share(eq("g", str("nothing"))), R"({"zzz":1})", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == 0u);
    r = patch(*d, "pp", {"nope", id_of(3)}, nullptr, R"({"zzz":1})", index::patch_mode::replace);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == 0u);
    BOOST_TEST(count_of(*d, "pp", share(exists("zzz"))) == 0u);
    // Refused: a patch that is not an object, a patch without ids or filter.
    r = patch(*d, "pp", {id_of(5)}, nullptr, "[1]", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(is(r.error(), errc::invalid_argument));
    r = patch(*d, "pp", {}, nullptr, R"({"a":1})", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(is(r.error(), errc::invalid_argument));
    expect_collection(*d, "pp", m);

    // Restart (the patches replay from the log), flush (the payloads go into a segment and its
    // attribute index), restart again.
    d.reset();
    d = open_db(o);
    expect_collection(*d, "pp", m);
    BOOST_TEST(count_of(*d, "pp", share(eq("tier", str("silver")))) == mid.size());
    BOOST_TEST(count_of(*d, "pp", share(eq("g", str("g9")))) == in_g2.size());
    const std::size_t red = count_in(m, [](const model_point& p) { return p.payload.find("\"color\":\"red\"") != std::string::npos; });
    BOOST_TEST(red == chosen.size() - 4);  // 801 and 1401 were in the replaced range; p10 joined
    BOOST_TEST(count_of(*d, "pp", share(eq("color", str("red")))) == red);
    BOOST_TEST_REQUIRE(test::flush(*d, "pp").has_value());
    test::wait_settled(*d, "pp");
    BOOST_TEST(test::stats(*d, "pp")->staging_vectors == 0u);
    expect_collection(*d, "pp", m);
    BOOST_TEST(count_of(*d, "pp", share(eq("tier", str("silver")))) == mid.size());
    BOOST_TEST(count_of(*d, "pp", share(eq("tier", str("gold")))) == in_g1.size() - mid.size());
    BOOST_TEST(count_of(*d, "pp", share(eq("g", str("g9")))) == in_g2.size());
    BOOST_TEST(count_of(*d, "pp", g2) == 0u);
    BOOST_TEST(count_of(*d, "pp", share(eq("color", str("red")))) == red);
    // Patching segment rows of the flushed collection.
    r = patch(*d, "pp", {}, share(eq("tier", str("silver"))), R"({"tier":"bronze"})", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == mid.size());
    for (const auto& id : mid) {
        m.at(id).payload = R"({"tier":"bronze","k":2})";
    }
    d.reset();
    d = open_db(o);
    expect_collection(*d, "pp", m);
    BOOST_TEST(count_of(*d, "pp", share(eq("tier", str("bronze")))) == mid.size());
    BOOST_TEST(count_of(*d, "pp", share(eq("tier", str("silver")))) == 0u);
    BOOST_TEST(count_of(*d, "pp", share(eq("color", str("red")))) == red);
    BOOST_TEST(count_of(*d, "pp", nullptr) == total);
}

// Reading writes issued in a row without waiting (their reads of segment rows are asynchronous
// in direct mode) each see the one before: a patch by filter, a patch by the field it set, a
// delete by the field that one set; an upsert issued between them is seen by those after it
// only. A reading write that fails does not hold up the writes behind it.
void reading_writes_in_a_row(bool slow_syncs)
{
    test::temp_dir dir;
    auto o = slow_syncs ? slow_sync_options(dir.path()) : options_for(dir.path());
    auto d = open_db(o);
    state s = populate(*d, "w");
    auto g1 = share(eq("g", str("g1")));
    std::vector<std::string> in_g1;
    for (const auto& [id, p] : s.live) {
        if (p.payload.find("\"g\":\"g1\"") != std::string::npos) {
            in_g1.push_back(id);
        }
    }
    BOOST_TEST_REQUIRE(in_g1.size() > 300u);
    test::waiter<result<std::size_t>> p1;
    test::waiter<status> u;
    test::waiter<result<std::size_t>> p2;
    test::waiter<result<std::size_t>> r3;
    patch_request first;
    first.filter = g1;
    first.payload = R"({"step":1})";
    patch_request second;
    second.filter = share(eq("step", num(1)));
    second.payload = R"({"step":2})";
    d->patch_payloads("w", std::move(first), p1.callback());
    d->upsert("w", batch_of(s, {{"newcomer", R"({"g":"g1"})"}}), u.callback());
    d->patch_payloads("w", std::move(second), p2.callback());
    d->remove_matching("w", share(eq("step", num(2))), r3.callback());
    auto a1 = p1.get();
    BOOST_TEST_REQUIRE(u.get().has_value());
    auto a2 = p2.get();
    auto a3 = r3.get();
    BOOST_TEST_REQUIRE(a1.has_value(), a1.error().message());
    BOOST_TEST_REQUIRE(a2.has_value(), a2.error().message());
    BOOST_TEST_REQUIRE(a3.has_value(), a3.error().message());
    BOOST_TEST(*a1 == in_g1.size());
    BOOST_TEST(*a2 == in_g1.size());
    BOOST_TEST(*a3 == in_g1.size());
    for (const auto& id : in_g1) {
        s.live.erase(id);
    }
    BOOST_TEST(count_of(*d, "w", g1) == 1u);  // the newcomer
    BOOST_TEST(count_of(*d, "w", share(exists("step"))) == 0u);
    expect_collection(*d, "w", s.live);

    // A patch that fails (a stored payload that is not JSON) between writes: they all answer.
    put(*d, "w", s, {new_point{"raw", "not json"}});
    test::waiter<result<std::size_t>> bad;
    test::waiter<status> after1;
    test::waiter<result<std::size_t>> after2;
    test::waiter<result<std::size_t>> after3;
    patch_request broken;
    broken.ids = {id_of(5), "raw", id_of(1402)};
    broken.payload = R"({"x":1})";
    d->patch_payloads("w", std::move(broken), bad.callback());
    d->upsert("w", batch_of(s, {{"after", R"({"g":"g4"})"}}), after1.callback());
    patch_request fine;
    fine.ids = {id_of(5), "after"};
    fine.payload = R"({"x":2})";
    d->patch_payloads("w", std::move(fine), after2.callback());
    d->remove_matching("w", share(eq("x", num(2))), after3.callback());
    auto failed = bad.get();
    BOOST_TEST_REQUIRE(!failed.has_value());
    BOOST_TEST(is(failed.error(), errc::corruption), failed.error().message());
    BOOST_TEST_REQUIRE(after1.get().has_value());
    auto ok2 = after2.get();
    BOOST_TEST_REQUIRE(ok2.has_value(), ok2.error().message());
    BOOST_TEST(*ok2 == 2u);
    auto ok3 = after3.get();
    BOOST_TEST_REQUIRE(ok3.has_value(), ok3.error().message());
    BOOST_TEST(*ok3 == 2u);
    s.live.erase(id_of(5));
    s.live.erase("after");
    expect_collection(*d, "w", s.live);
    d.reset();
    d = open_db(o);
    expect_collection(*d, "w", s.live);
}

BOOST_AUTO_TEST_CASE(reading_writes_in_a_row_see_each_other)
{
    reading_writes_in_a_row(false);
}

BOOST_AUTO_TEST_CASE(reading_writes_in_a_row_see_each_other_with_slow_syncs)
{
    reading_writes_in_a_row(true);
}

BOOST_AUTO_TEST_CASE(payload_patches_by_ids_and_by_filter)
{
    patch_in(collection::io_mode::direct);
}

BOOST_AUTO_TEST_CASE(payload_patches_by_ids_and_by_filter_in_mmap_mode)
{
    patch_in(collection::io_mode::mmap);
}

// A patch is one write: if the payload of any chosen point cannot be patched (it would pass the
// size limit, or the stored payload is not a JSON object), it fails whole and no point changes.
BOOST_AUTO_TEST_CASE(a_patch_that_cannot_apply_to_one_point_changes_none)
{
    test::temp_dir dir;
    auto o = options_for(dir.path());
    auto d = open_db(o);
    BOOST_TEST_REQUIRE(test::create(*d, "x", dim).has_value());
    state s;
    const std::string half(payload_size_bytes_max / 2, 'a');
    put(*d, "x", s, {new_point{"big", "{\"t\":\"" + half + "\"}"}, new_point{"small", "{\"t\":1}"},
                     new_point{"raw", "not json"}, new_point{"list", "[1,2]"}, new_point{"none", ""}});
    BOOST_TEST_REQUIRE(test::flush(*d, "x").has_value());
    put(*d, "x", s, {new_point{"small2", "{\"t\":2}"}});
    const std::string patch_text = "{\"u\":\"" + half + "\"}";
    auto r = patch(*d, "x", {"small", "small2", "none", "big"}, nullptr, patch_text, index::patch_mode::merge);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(is(r.error(), errc::invalid_argument), r.error().message());
    BOOST_TEST(r.error().message().find("big") != std::string::npos, r.error().message());
    expect_collection(*d, "x", s.live);
    for (const char* bad : {"raw", "list"}) {
        r = patch(*d, "x", {"small", bad, "small2"}, nullptr, R"({"u":1})", index::patch_mode::merge);
        BOOST_TEST_REQUIRE(!r.has_value(), bad);
        BOOST_TEST(is(r.error(), errc::corruption), r.error().message());
        BOOST_TEST(r.error().message().find(bad) != std::string::npos, r.error().message());
        expect_collection(*d, "x", s.live);
    }
    // Without them, the same patch applies.
    r = patch(*d, "x", {"small", "small2", "none"}, nullptr, R"({"u":1})", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == 3u);
    s.live.at("small").payload = R"({"t":1,"u":1})";
    s.live.at("small2").payload = R"({"t":2,"u":1})";
    s.live.at("none").payload = R"({"u":1})";
    expect_collection(*d, "x", s.live);
    d.reset();
    d = open_db(o);
    expect_collection(*d, "x", s.live);
}

// A patch keeps the stored vector as it is: a cosine collection's vectors (normalized when
// upserted) come back from get with the same bits after a patch, from staging and segments.
BOOST_AUTO_TEST_CASE(a_patch_keeps_the_stored_vectors_of_a_cosine_collection)
{
    test::temp_dir dir;
    auto o = options_for(dir.path());
    auto d = open_db(o);
    BOOST_TEST_REQUIRE(test::create(*d, "cos", dim, metric::cosine).has_value());
    state s;
    put(*d, "cos", s, indexes(0, 300, all_rows));
    BOOST_TEST_REQUIRE(test::flush(*d, "cos").has_value());
    put(*d, "cos", s, indexes(300, 400, all_rows));
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < 400; ++i) {
        ids.push_back(id_of(i));
    }
    auto before = test::get(*d, "cos", ids);
    BOOST_TEST_REQUIRE(before.has_value());
    BOOST_TEST_REQUIRE(before->points.size() == 400u);
    auto r = patch(*d, "cos", ids, nullptr, R"({"p":1})", index::patch_mode::merge);
    BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
    BOOST_TEST(*r == 400u);
    for (int round = 0; round < 2; ++round) {
        auto after = test::get(*d, "cos", ids);
        BOOST_TEST_REQUIRE(after.has_value());
        BOOST_TEST_REQUIRE(after->points.size() == 400u);
        for (std::size_t k = 0; k < 400; ++k) {
            BOOST_TEST(same_bits(after->points[k].vector, before->points[k].vector), ids[k]);
            BOOST_TEST(after->points[k].payload == merged(before->points[k].payload, R"("p":1)"), ids[k]);
        }
        d.reset();
        d = open_db(o);
    }
}

// While a flush's build is held, its rows are frozen staging: get and scroll read them, a patch
// and a delete by filter change them; once the segment is installed the patched and deleted
// rows stay as the writes left them (not as the build gathered them), and so after a restart.
// The same while a compaction's build is held over segment rows.
BOOST_AUTO_TEST_CASE(reads_and_reading_writes_while_a_build_is_held)
{
    test::temp_dir dir;
    build_gate gate(io::posix_env());
    auto o = options_for(dir.path());
    o.env = &gate;
    auto d = open_db(o);
    state s = populate(*d, "h");
    release_at_exit releaser{gate};

    for (int phase = 0; phase < 2; ++phase) {
        BOOST_TEST_CONTEXT((phase == 0 ? "flush" : "compaction"))
        {
            const std::string n = std::to_string(phase);
            gate.hold_next();
            auto built = std::make_shared<std::promise<status>>();
            auto built_result = built->get_future();
            if (phase == 0) {
                d->flush("h", [built](status st) { built->set_value(std::move(st)); });
            } else {
                d->compact("h", [built](status st) { built->set_value(std::move(st)); });
            }
            BOOST_TEST_REQUIRE(gate.wait_until_held(std::chrono::seconds(20)));
            auto st = test::stats(*d, "h");
            BOOST_TEST_REQUIRE(st.has_value());
            if (phase == 0) {
                BOOST_TEST_REQUIRE(st->frozen_vectors > 0u);
            } else {
                BOOST_TEST_REQUIRE(st->compacting);
            }
            // Read while held.
            check_get(*d, "h", s.live, 10 + static_cast<std::uint64_t>(phase));
            expect_collection(*d, "h", s.live);
            // Patch by ids and by filter, delete by filter, rows the build holds among them.
            std::vector<std::string> ids;
            for (std::size_t i : {2u, 801u, 1402u, 1999u, 14u}) {
                if (s.live.count(id_of(i)) != 0) {
                    ids.push_back(id_of(i));
                }
            }
            const std::string key = "held" + n;  // a new field in each phase
            auto r = patch(*d, "h", ids, nullptr, "{\"" + key + "\":" + n + "}", index::patch_mode::merge);
            BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
            BOOST_TEST(*r == ids.size());
            for (const auto& id : ids) {
                s.live.at(id).payload = merged(s.live.at(id).payload, "\"" + key + "\":" + n);
            }
            auto g3 = share(eq("g", str("g3")));
            std::vector<std::string> in_g3;
            for (const auto& [id, p] : s.live) {
                if (p.payload.find("\"g\":\"g3\"") != std::string::npos) {
                    in_g3.push_back(id);
                }
            }
            BOOST_TEST_REQUIRE(!in_g3.empty());
            r = patch(*d, "h", {}, g3, "{\"g\":\"g3\",\"mark\":" + n + "}", index::patch_mode::replace);
            BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
            BOOST_TEST(*r == in_g3.size());
            for (const auto& id : in_g3) {
                s.live.at(id).payload = "{\"g\":\"g3\",\"mark\":" + n + "}";
            }
            auto odd = share(all_of({eq("even", boolean(false)), between("i", 100 + 500 * phase, 400 + 500 * phase)}));
            std::vector<std::string> doomed;
            for (const auto& [id, p] : s.live) {
                bool is_odd = p.payload.find("\"even\":false") != std::string::npos;
                if (is_odd && p.i >= 100u + 500u * phase && p.i < 400u + 500u * phase) {
                    doomed.push_back(id);
                }
            }
            BOOST_TEST_REQUIRE(doomed.size() > 20u);
            auto removed = test::remove_matching(*d, "h", odd);
            BOOST_TEST_REQUIRE(removed.has_value(), removed.error().message());
            BOOST_TEST(*removed == doomed.size());
            for (const auto& id : doomed) {
                s.live.erase(id);
            }
            put(*d, "h", s, indexes(3000 + 100 * phase, 3050 + 100 * phase, all_rows));
            expect_points(scroll_all(*d, "h", 7, g3, true), s.live, true, [](const model_point& p) {
                return p.payload.find("\"g\":\"g3\"") != std::string::npos;
            });
            auto with_text = [&s](const std::string& text) {
                return count_in(s.live, [&text](const model_point& p) { return p.payload.find(text) != std::string::npos; });
            };
            const std::size_t held = with_text("\"" + key + "\":");
            const std::size_t marked = with_text("\"mark\":" + n);
            BOOST_TEST_REQUIRE(held > 0u);
            BOOST_TEST_REQUIRE(marked > 0u);
            expect_collection(*d, "h", s.live);
            BOOST_TEST(count_of(*d, "h", share(eq(key, num(phase)))) == held);
            BOOST_TEST(count_of(*d, "h", share(eq("mark", num(phase)))) == marked);
            BOOST_TEST(count_of(*d, "h", odd) == 0u);

            gate.release();
            BOOST_TEST_REQUIRE((built_result.wait_for(std::chrono::seconds(20)) == std::future_status::ready));
            auto done = built_result.get();
            BOOST_TEST_REQUIRE(done.has_value(), done.error().message());
            test::wait_settled(*d, "h");
            st = test::stats(*d, "h");
            BOOST_TEST_REQUIRE(st.has_value());
            BOOST_TEST(st->frozen_vectors == 0u);
            BOOST_TEST(st->info.points == s.live.size());
            if (phase == 1) {
                BOOST_TEST(st->compactions >= 1u);
            }
            check_get(*d, "h", s.live, 20 + static_cast<std::uint64_t>(phase));
            expect_collection(*d, "h", s.live);
            BOOST_TEST(count_of(*d, "h", share(eq(key, num(phase)))) == held);
            BOOST_TEST(count_of(*d, "h", share(eq("mark", num(phase)))) == marked);
            BOOST_TEST(count_of(*d, "h", odd) == 0u);
            if (phase == 0) {
                // The next phase compacts: every segment is merged.
                d.reset();
                o.collection.segments_max = 1;
                d = open_db(o);
                expect_collection(*d, "h", s.live);
            }
        }
    }
    d.reset();
    d = open_db(o);
    expect_collection(*d, "h", s.live);
    check_get(*d, "h", s.live, 30);
}

BOOST_AUTO_TEST_SUITE_END()
