// Snapshots and restore through the database's C++ API (docs/operations.md, "Backups"): a
// snapshot of a collection with segments, tombstones, patched payloads and staging rows, read
// as an archive and restored under another name, answers every get bit for bit and every
// search with the same ids and scores; one taken while a writer streams batches holds every
// batch acknowledged before the call and no part of any batch; it survives the collection's
// drop and a restart. Archives cut at any block, with a bit flipped anywhere, or not archives
// at all, are refused with invalid_argument and leave the data directory exactly as it was.
// A crash at every file-system step of creating or restoring a snapshot leaves, after reopening,
// a whole snapshot or none and a whole collection or none, never a half state.
#include "engine/core/log.hpp"
#include "engine/db/database.hpp"
#include "engine/io/fault_env.hpp"
#include "tests/support/point_model.hpp"
#include "tests/support/sync_db.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace puffer;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t dim = 8;

db::database_options options_for(const std::string& dir, io::fault_env* fe = nullptr)
{
    db::database_options o;
    o.data_dir = dir;
    o.shards = 2;
    o.background_threads = 2;
    o.pin_shards = false;
    o.cache_bytes = 4u << 20;
    o.collection.flush_threshold_vectors = 1u << 30;  // flushes only when asked
    o.collection.idle_flush_ms = 0;
    o.collection.cluster_count = 4;
    if (fe != nullptr) {
        fe->set_sync_through(false);
        o.env = fe;
        o.make_ring = [fe](std::size_t) { return fe->wrap(io::make_sync_ring()); };
    }
    return o;
}

std::unique_ptr<db::database> open_db(const db::database_options& o)
{
    auto d = db::database::open(o);
    BOOST_TEST_REQUIRE(d.has_value(), (d ? "" : d.error().message()));
    return std::move(*d);
}

float value(std::size_t i, std::size_t j)
{
    return static_cast<float>(static_cast<std::int64_t>(test::mix64(i * 131 + j) % 20001) - 10000) / 97.0f;
}

result<db::snapshot_info> snapshot(db::database& d, const std::string& name)
{
    test::waiter<result<db::snapshot_info>> w;
    d.create_snapshot(name, w.callback());
    return w.get();
}

result<std::vector<db::snapshot_info>> list_snapshots(db::database& d, const std::string& name)
{
    test::waiter<result<std::vector<db::snapshot_info>>> w;
    d.list_snapshots(name, w.callback());
    return w.get();
}

status delete_snapshot(db::database& d, const std::string& name, const std::string& id)
{
    test::waiter<status> w;
    d.delete_snapshot(name, id, w.callback());
    return w.get();
}

// The whole archive of a snapshot, read in odd-sized pieces.
result<std::string> archive_of(db::database& d, const std::string& name, const std::string& id)
{
    test::waiter<result<std::unique_ptr<db::snapshot_archive>>> w;
    d.open_snapshot(name, id, w.callback());
    auto a = w.get();
    if (!a) {
        return a.error();
    }
    std::string out;
    std::vector<std::byte> buf(1237);
    for (;;) {
        auto n = (*a)->read(buf);
        if (!n) {
            return n.error();
        }
        if (*n == 0) {
            break;
        }
        out.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
    BOOST_TEST(out.size() == (*a)->size());
    return out;
}

status restore(db::database& d, const std::string& name, std::string archive)
{
    test::waiter<status> w;
    d.restore_collection(name, io::memory_source(std::move(archive)), w.callback());
    return w.get();
}

std::vector<std::string> ids_of(const std::string& prefix, std::size_t first, std::size_t n)
{
    std::vector<std::string> out;
    for (std::size_t i = first; i < first + n; ++i) {
        out.push_back(prefix + std::to_string(i));
    }
    return out;
}

// Everything a client could read of points prefix[0, n): id, payload, vector bits; "-" for a
// missing point.
std::vector<std::string> contents(db::database& d, const std::string& name, const std::string& prefix,
                                  std::size_t n)
{
    auto got = test::get(d, name, ids_of(prefix, 0, n));
    BOOST_TEST_REQUIRE(got.has_value(), got.error().message());
    std::set<std::string> missing(got->missing.begin(), got->missing.end());
    std::vector<std::string> out;
    std::size_t at = 0;
    for (const auto& id : ids_of(prefix, 0, n)) {
        if (missing.count(id) != 0) {
            out.push_back(id + " -");
            continue;
        }
        BOOST_TEST_REQUIRE(at < got->points.size());
        const auto& p = got->points[at++];
        BOOST_TEST_REQUIRE(p.id == id);
        std::string bits(reinterpret_cast<const char*>(p.vector.data()), p.vector.size() * sizeof(float));
        out.push_back(id + " " + p.payload + " " + bits);
    }
    return out;
}

// The answers (ids and exact scores) of a fixed set of searches, exhaustive and at a small probe.
std::vector<std::string> answers(db::database& d, const std::string& name)
{
    std::vector<std::string> out;
    for (std::size_t q = 0; q < 12; ++q) {
        std::vector<float> v(dim);
        for (std::size_t j = 0; j < dim; ++j) {
            v[j] = value(900000 + q, j);
        }
        for (std::size_t nprobe : {1u, 1000u}) {
            auto r = test::search(d, name, v, 10, nprobe, true);
            BOOST_TEST_REQUIRE(r.has_value(), r.error().message());
            std::string line;
            for (const auto& h : r->hits) {
                char score[32];
                std::memcpy(score, &h.score, sizeof h.score);
                line += h.id + ":" + std::string(score, sizeof h.score) + ":" + h.payload + ";";
            }
            out.push_back(line);
        }
    }
    return out;
}

// A collection in every state a snapshot must carry: two segments, tombstones in them, patched
// payloads, replaced points, and rows still in staging.
void fill(db::database& d, const std::string& name)
{
    BOOST_TEST_REQUIRE(test::create(d, name, dim).has_value());
    BOOST_TEST_REQUIRE(test::upsert(d, name, test::make_batch("p", 0, 400, dim, value, true)).has_value());
    BOOST_TEST_REQUIRE(test::flush(d, name).has_value());
    BOOST_TEST_REQUIRE(test::upsert(d, name, test::make_batch("p", 400, 300, dim, value, true)).has_value());
    BOOST_TEST_REQUIRE(test::flush(d, name).has_value());
    BOOST_TEST_REQUIRE(test::remove(d, name, ids_of("p", 10, 30)).has_value());
    collection::collection::payload_patch patch;
    patch.ids = ids_of("p", 100, 20);
    patch.payload = "{\"patched\":true}";
    BOOST_TEST_REQUIRE(test::patch(d, name, patch).has_value());
    // Replacements of segment rows and new rows, in staging.
    BOOST_TEST_REQUIRE(
        test::upsert(d, name, test::make_batch("p", 650, 100, dim, [](std::size_t i, std::size_t j) {
                         return value(i + 7, j);
                     })).has_value());
}

std::set<std::string> entries(const std::string& dir)
{
    std::set<std::string> out;
    if (fs::exists(dir)) {
        for (const auto& e : fs::recursive_directory_iterator(dir)) {
            out.insert(e.path().string().substr(dir.size()));
        }
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(snapshots)

BOOST_AUTO_TEST_CASE(restored_collection_answers_as_the_original)
{
    test::temp_dir dir;
    auto d = open_db(options_for(dir.path()));
    fill(*d, "c");
    const auto before = contents(*d, "c", "p", 760);
    const auto searched = answers(*d, "c");

    auto info = snapshot(*d, "c");
    BOOST_TEST_REQUIRE(info.has_value(), info.error().message());
    BOOST_TEST(db::valid_snapshot_id(info->id));
    BOOST_TEST(info->points == 720u);  // 750 written, 30 deleted
    BOOST_TEST(info->files >= 4u);     // MANIFEST, two segments, the log

    // Writes after the snapshot are not in it.
    BOOST_TEST_REQUIRE(test::upsert(*d, "c", test::make_batch("p", 0, 5, dim, [](std::size_t, std::size_t) {
                           return 1.0f;
                       })).has_value());
    BOOST_TEST_REQUIRE(test::remove(*d, "c", ids_of("p", 300, 50)).has_value());
    BOOST_TEST_REQUIRE(test::compact(*d, "c").has_value());

    auto archive = archive_of(*d, "c", info->id);
    BOOST_TEST_REQUIRE(archive.has_value(), archive.error().message());
    BOOST_TEST(archive->size() % format::tar_block_bytes == 0u);
    BOOST_TEST_REQUIRE(restore(*d, "r", *archive).has_value());
    BOOST_TEST((contents(*d, "r", "p", 760) == before));
    BOOST_TEST((answers(*d, "r") == searched));
    auto st = test::stats(*d, "r");
    BOOST_TEST_REQUIRE(st.has_value());
    BOOST_TEST(st->info.points == 720u);

    // A restored collection is a collection like any other: it takes writes and flushes, and
    // the original's writes after the snapshot never reach it.
    BOOST_TEST_REQUIRE(test::upsert(*d, "r", test::make_batch("q", 0, 10, dim, value)).has_value());
    BOOST_TEST_REQUIRE(test::flush(*d, "r").has_value());
    auto got = test::get(*d, "r", {"q3", "p0"});
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST_REQUIRE(got->points.size() == 2u);
    BOOST_TEST(got->points[1].vector[0] == value(0, 0));

    // Restoring over an existing name is refused and changes nothing.
    auto again = restore(*d, "c", *archive);
    BOOST_TEST_REQUIRE(!again.has_value());
    BOOST_TEST(is(again.error(), errc::already_exists));

    // The snapshot outlives its collection, and restores under its own name after a restart.
    BOOST_TEST_REQUIRE(test::drop(*d, "c").has_value());
    d.reset();
    d = open_db(options_for(dir.path()));
    auto listed = list_snapshots(*d, "c");
    BOOST_TEST_REQUIRE(listed.has_value());
    BOOST_TEST_REQUIRE(listed->size() == 1u);
    BOOST_TEST((*listed)[0].id == info->id);
    auto archive2 = archive_of(*d, "c", info->id);
    BOOST_TEST_REQUIRE(archive2.has_value());
    BOOST_TEST((*archive2 == *archive));
    BOOST_TEST_REQUIRE(restore(*d, "c", *archive2).has_value());
    BOOST_TEST((contents(*d, "c", "p", 760) == before));
    d.reset();
    d = open_db(options_for(dir.path()));
    BOOST_TEST((contents(*d, "c", "p", 760) == before));
    BOOST_TEST((answers(*d, "c") == searched));
}

BOOST_AUTO_TEST_CASE(list_and_delete)
{
    test::temp_dir dir;
    auto d = open_db(options_for(dir.path()));
    auto none = list_snapshots(*d, "c");
    BOOST_TEST_REQUIRE(!none.has_value());
    BOOST_TEST(is(none.error(), errc::not_found));
    BOOST_TEST_REQUIRE(test::create(*d, "c", dim).has_value());
    auto empty = list_snapshots(*d, "c");
    BOOST_TEST_REQUIRE(empty.has_value());
    BOOST_TEST(empty->empty());
    auto missing = snapshot(*d, "nope");
    BOOST_TEST_REQUIRE(!missing.has_value());
    BOOST_TEST(is(missing.error(), errc::not_found));

    // Two in one millisecond get distinct ids; listed oldest first.
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        BOOST_TEST_REQUIRE(test::upsert(*d, "c", test::make_batch("p", i * 10, 10, dim, value)).has_value());
        auto s = snapshot(*d, "c");
        BOOST_TEST_REQUIRE(s.has_value());
        BOOST_TEST(s->points == (i + 1) * 10u);
        ids.push_back(s->id);
    }
    auto listed = list_snapshots(*d, "c");
    BOOST_TEST_REQUIRE(listed.has_value());
    BOOST_TEST_REQUIRE(listed->size() == 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        BOOST_TEST((*listed)[i].id == ids[i]);
        BOOST_TEST((*listed)[i].points == (i + 1) * 10u);
    }
    BOOST_TEST(std::set<std::string>(ids.begin(), ids.end()).size() == 3u);

    // An archive opened before a delete is read whole after it.
    test::waiter<result<std::unique_ptr<db::snapshot_archive>>> w;
    d->open_snapshot("c", ids[1], w.callback());
    auto open = w.get();
    BOOST_TEST_REQUIRE(open.has_value());
    BOOST_TEST_REQUIRE(delete_snapshot(*d, "c", ids[1]).has_value());
    std::string bytes;
    std::vector<std::byte> buf(4096);
    for (;;) {
        auto n = (*open)->read(buf);
        BOOST_TEST_REQUIRE(n.has_value());
        if (*n == 0) {
            break;
        }
        bytes.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
    BOOST_TEST(bytes.size() == (*open)->size());
    BOOST_TEST_REQUIRE(restore(*d, "r", bytes).has_value());
    BOOST_TEST(test::stats(*d, "r")->info.points == 20u);

    auto gone = delete_snapshot(*d, "c", ids[1]);
    BOOST_TEST_REQUIRE(!gone.has_value());
    BOOST_TEST(is(gone.error(), errc::not_found));
    auto unknown = archive_of(*d, "c", "20990101-000000-000");
    BOOST_TEST_REQUIRE(!unknown.has_value());
    BOOST_TEST(is(unknown.error(), errc::not_found));
    listed = list_snapshots(*d, "c");
    BOOST_TEST_REQUIRE(listed->size() == 2u);
    BOOST_TEST((*listed)[1].id == ids[2]);
}

// A writer streams batches of 20 points (one WAL record each) while snapshots are taken: each
// holds every batch acknowledged before its call and, of every batch, all points or none.
BOOST_AUTO_TEST_CASE(snapshot_under_writes_holds_every_acknowledged_batch_whole)
{
    test::temp_dir dir;
    auto o = options_for(dir.path());
    o.collection.flush_threshold_vectors = 600;  // flushes happen during the test
    auto d = open_db(o);
    BOOST_TEST_REQUIRE(test::create(*d, "c", dim).has_value());
    constexpr std::size_t batch = 20;
    std::atomic<std::size_t> acknowledged{0};
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        for (std::size_t b = 0; !stop.load() && b < 400; ++b) {
            if (!test::upsert(*d, "c", test::make_batch("p", b * batch, batch, dim, value)).has_value()) {
                return;
            }
            acknowledged.store(b + 1);
        }
    });
    struct taken {
        std::size_t acknowledged_before;
        std::string id;
    };
    std::vector<taken> snaps;
    for (int i = 0; i < 6; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(15));
        std::size_t before = acknowledged.load();
        auto s = snapshot(*d, "c");
        BOOST_TEST_REQUIRE(s.has_value(), s.error().message());
        snaps.push_back({before, s->id});
    }
    stop.store(true);
    writer.join();
    for (std::size_t i = 0; i < snaps.size(); ++i) {
        auto archive = archive_of(*d, "c", snaps[i].id);
        BOOST_TEST_REQUIRE(archive.has_value());
        std::string name = "r" + std::to_string(i);
        BOOST_TEST_REQUIRE(restore(*d, name, *archive).has_value());
        std::size_t batches = 400;
        auto got = test::get(*d, name, ids_of("p", 0, batches * batch), false, false);
        BOOST_TEST_REQUIRE(got.has_value());
        std::set<std::string> present;
        for (const auto& p : got->points) {
            present.insert(p.id);
        }
        std::size_t whole = 0;
        for (std::size_t b = 0; b < batches; ++b) {
            std::size_t in = 0;
            for (std::size_t k = 0; k < batch; ++k) {
                in += present.count("p" + std::to_string(b * batch + k));
            }
            BOOST_TEST((in == 0 || in == batch), "snapshot " << i << ": batch " << b << " has " << in << " points");
            whole += in == batch ? 1 : 0;
            if (b < snaps[i].acknowledged_before) {
                BOOST_TEST(in == batch, "snapshot " << i << ": acknowledged batch " << b << " missing");
            }
        }
        // Batches are acknowledged in order: what the snapshot holds is a prefix.
        BOOST_TEST(present.size() == whole * batch);
        BOOST_TEST(whole >= snaps[i].acknowledged_before);
    }
}

BOOST_AUTO_TEST_CASE(damaged_archives_are_refused_and_change_nothing)
{
    test::temp_dir dir;
    auto d = open_db(options_for(dir.path()));
    BOOST_TEST_REQUIRE(test::create(*d, "c", dim).has_value());
    BOOST_TEST_REQUIRE(test::upsert(*d, "c", test::make_batch("p", 0, 300, dim, value, true)).has_value());
    BOOST_TEST_REQUIRE(test::flush(*d, "c").has_value());
    BOOST_TEST_REQUIRE(test::upsert(*d, "c", test::make_batch("p", 300, 40, dim, value, true)).has_value());
    auto info = snapshot(*d, "c");
    BOOST_TEST_REQUIRE(info.has_value());
    auto archive = archive_of(*d, "c", info->id);
    BOOST_TEST_REQUIRE(archive.has_value());
    const std::string collections = dir.path() + "/collections";
    const auto before = entries(collections);

    auto refused = [&](const std::string& bytes, const std::string& what) {
        auto s = restore(*d, "r", bytes);
        BOOST_TEST_REQUIRE(!s.has_value(), what << ": accepted");
        BOOST_TEST(is(s.error(), errc::invalid_argument), what << ": " << s.error().message());
        BOOST_TEST(s.error().message().find("snapshot archive") != std::string::npos, s.error().message());
        BOOST_TEST((entries(collections) == before), what << ": the data directory changed");
        return s.error().message();
    };
    refused("", "empty");
    refused("not a tar archive at all", "text");
    refused(std::string(1024, '\0'), "an empty tar");
    // Cut at every block boundary and inside blocks.
    for (std::size_t n = 0; n < archive->size(); n += n < 4096 ? 256 : 4093) {
        std::string message = refused(archive->substr(0, n), "cut at " + std::to_string(n));
        if (n > 0 && n % format::tar_block_bytes == 0 && n < archive->size() - 1024) {
            BOOST_TEST(!message.empty());
        }
    }
    // The end blocks missing or not zero, and bytes after them.
    refused(archive->substr(0, archive->size() - 512), "one end block");
    std::string tail = *archive;
    tail[tail.size() - 3] = '\x01';
    refused(tail, "a non-zero end block");
    refused(*archive + std::string(512, 'x'), "bytes after the end");
    // A bit flipped anywhere: in a header, a member, the checksums or the end blocks.
    for (std::size_t at = 0; at < archive->size(); at += 1 + test::mix64(at) % 2039) {
        std::string flipped = *archive;
        flipped[at] = static_cast<char>(flipped[at] ^ (1 << (at % 8)));
        refused(flipped, "bit flipped at byte " + std::to_string(at));
    }
    // And a good one still restores.
    BOOST_TEST_REQUIRE(restore(*d, "r", *archive).has_value());
    BOOST_TEST(test::stats(*d, "r")->info.points == 340u);
}

// A crash at every file-system step of taking a snapshot, then of restoring one: after the
// power cut and a reopen, the snapshot is whole (listed, downloads, restores to the same
// points) or absent, no .tmp- directory is left, and the collection is untouched.
BOOST_AUTO_TEST_CASE(crash_at_every_step_leaves_no_half_state)
{
    log::set_level(log::level::off);
    test::temp_dir base;
    std::string archive;
    std::vector<std::string> expected;
    {
        auto d = open_db(options_for(base.path()));
        BOOST_TEST_REQUIRE(test::create(*d, "c", dim).has_value());
        BOOST_TEST_REQUIRE(test::upsert(*d, "c", test::make_batch("p", 0, 200, dim, value, true)).has_value());
        BOOST_TEST_REQUIRE(test::flush(*d, "c").has_value());
        BOOST_TEST_REQUIRE(test::upsert(*d, "c", test::make_batch("p", 200, 30, dim, value, true)).has_value());
        expected = contents(*d, "c", "p", 240);
        auto s = snapshot(*d, "c");
        BOOST_TEST_REQUIRE(s.has_value());
        auto a = archive_of(*d, "c", s->id);
        BOOST_TEST_REQUIRE(a.has_value());
        archive = *a;
        BOOST_TEST_REQUIRE(delete_snapshot(*d, "c", s->id).has_value());
    }
    auto no_leftovers = [](const std::string& data, const std::string& label) {
        for (const auto& e : fs::recursive_directory_iterator(data)) {
            std::string name = e.path().filename().string();
            BOOST_TEST(name.rfind(".tmp-", 0) != 0, label << ": leftover " << e.path());
        }
    };
    enum class step { create, restore };
    for (step which : {step::create, step::restore}) {
        const std::string what = which == step::create ? "create" : "restore";
        bool reached_end = false;
        for (std::uint64_t n = 0; !reached_end && n < 200; ++n) {
            const std::string label = what + ", crash at op " + std::to_string(n);
            test::temp_dir dir;
            fs::copy(base.path(), dir.path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
            fs::remove(dir.path() + "/LOCK");
            io::fault_env fe(io::posix_env());
            {
                auto d = open_db(options_for(dir.path(), &fe));
                fe.crash_after(n);
                if (which == step::create) {
                    auto s = snapshot(*d, "c");
                    reached_end = s.has_value() && !fe.crashed();
                } else {
                    auto s = restore(*d, "r", archive);
                    reached_end = s.has_value() && !fe.crashed();
                }
                d->wait_background();
                fe.clear_faults();
            }
            BOOST_TEST_REQUIRE(fe.simulate_crash().has_value(), label);
            io::fault_env quiet(io::posix_env());
            auto d = open_db(options_for(dir.path(), &quiet));
            no_leftovers(dir.path(), label);
            BOOST_TEST((contents(*d, "c", "p", 240) == expected), label << ": the collection changed");
            if (which == step::create) {
                auto listed = list_snapshots(*d, "c");
                BOOST_TEST_REQUIRE(listed.has_value(), label);
                BOOST_TEST_REQUIRE(listed->size() <= 1u, label);
                if (listed->size() == 1) {
                    auto a = archive_of(*d, "c", (*listed)[0].id);
                    BOOST_TEST_REQUIRE(a.has_value(), label << ": listed but unreadable: " << a.error().message());
                    BOOST_TEST_REQUIRE(restore(*d, "check", *a).has_value(), label);
                    BOOST_TEST((contents(*d, "check", "p", 240) == expected), label);
                }
                if (reached_end) {
                    BOOST_TEST(listed->size() == 1u, label << ": acknowledged snapshot lost");
                }
            } else {
                auto st = test::stats(*d, "r");
                if (st.has_value()) {
                    BOOST_TEST((contents(*d, "r", "p", 240) == expected), label << ": half a restore");
                } else {
                    BOOST_TEST(is(st.error(), errc::not_found), label);
                    BOOST_TEST(!reached_end, label << ": acknowledged restore lost");
                    BOOST_TEST_REQUIRE(restore(*d, "r", archive).has_value(), label << ": restore after the crash");
                }
            }
        }
        BOOST_TEST(reached_end, what << ": never finished within 200 operations");
    }
}

BOOST_AUTO_TEST_SUITE_END()
