// Fault injection at every step of compaction (a segment rewritten, segments merged, deletes and
// replacements landing meanwhile), of MANIFEST-only replacements, of collection create and drop,
// and of flush again, through fault_env. For each n, the n-th file-system operation from the
// start of the operation under test fails, in four modes:
//   crash:      operation n and all after it fail (the machine is gone); unsynced data is dropped;
//   torn:       the same, but whole 4 KiB sectors of unsynced data survive (torn last sector);
//   ENOSPC:     operation n alone fails with ENOSPC; the process restarts (no power cut);
//   EIO:        operation n alone fails with EIO; then a power cut (torn sectors).
// Every outcome is checked against a model of what was acknowledged (tests/support/point_model):
// after a single fault the live database first; then a reopened database: it opens, every
// collection that must exist is there and healthy, each point holds its acknowledged version
// (vector through exact scores, payload byte for byte), deletes stay deleted, an unanswered batch
// is all there or not at all, a refused create or drop left the old state, no leftover temporary
// directories or MANIFEST.tmp, and the database still takes writes, flushes and compactions.
// The operation and file of every injected fault are collected and printed (the list of fault
// points in docs/reliability.md; PUFFER_FAULT_POINTS_FILE=path writes it to a file).
#include "engine/core/log.hpp"
#include "engine/db/database.hpp"
#include "engine/io/fault_env.hpp"
#include "tests/support/point_model.hpp"
#include "tests/support/sync_db.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

using namespace puffer;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t dim = 8;
constexpr std::uint64_t steps_max = 400;

enum class presence { absent, present, maybe };

struct fault_mode {
    const char* name;
    bool crash;        // crash_after(n), else fail_op(n, err)
    int err;
    bool power_cut;    // simulate_crash before reopening
    io::crash_mode cut;
};

const fault_mode all_modes[] = {
    {"crash", true, EIO, true, io::crash_mode::drop_unsynced},
    {"torn", true, EIO, true, io::crash_mode::torn_last_sector},
    {"ENOSPC", false, ENOSPC, false, io::crash_mode::drop_unsynced},
    {"EIO", false, EIO, true, io::crash_mode::torn_last_sector},
};

std::string id_of(const std::string& prefix, std::size_t i)
{
    return prefix + std::to_string(i);
}

std::vector<std::string> ids(const std::string& prefix, std::size_t first, std::size_t n)
{
    std::vector<std::string> out;
    for (std::size_t i = first; i < first + n; ++i) {
        out.push_back(id_of(prefix, i));
    }
    return out;
}

db::database_options options_for(const std::string& dir, io::fault_env* fe, const collection::options& co)
{
    db::database_options o;
    o.data_dir = dir;
    o.shards = 1;
    o.background_threads = 2;
    o.pin_shards = false;
    o.cache_bytes = 4u << 20;
    o.collection = co;
    if (fe != nullptr) {
        // Durability is fault_env's emulation: no need to wait for the device.
        fe->set_sync_through(false);
        o.env = fe;
        o.make_ring = [fe](std::size_t) { return fe->wrap(io::make_sync_ring()); };
    }
    return o;
}

collection::options base_collection_options()
{
    collection::options co;
    co.flush_threshold_vectors = 1u << 30;  // flushes only when asked
    co.idle_flush_ms = 0;
    co.segments_max = 3;
    // Fixed tables of 4 clusters: each scenario below steps through one kind of compaction, which
    // a table retrained as the collection grows would otherwise pre-empt.
    co.cluster_count = 4;
    return co;
}

// A database, the model of what it must hold, and which collections must exist. Operations
// record their answers: acknowledged, refused (single fault: nothing happened) or unanswered
// (crash: may or may not have happened).
// The first problem found, for a test message (evaluated even when the check passes).
std::string first_problem(const std::vector<std::string>& problems)
{
    return problems.empty() ? std::string() : problems.front();
}

struct session {
    test::point_model model{dim, 7};
    std::map<std::string, presence> collections;
    std::unique_ptr<db::database> d;
    bool crash = false;  // failures are unanswered rather than refused
    std::string data_dir;
    std::vector<std::string> problems;

    void expect(bool condition, const std::string& what)
    {
        if (!condition) {
            problems.push_back(what);
        }
    }

    bool create(const std::string& name, bool inner_product)
    {
        status s = test::create(*d, name, dim, inner_product ? metric::inner_product : metric::l2);
        if (s || crash) {
            collections[name] = s ? presence::present : presence::maybe;
            if (!model.has_collection(name)) {
                model.add_collection(name, inner_product);
            }
        } else {
            collections.try_emplace(name, presence::absent);  // refused: must not exist
        }
        return s.has_value();
    }

    bool drop(const std::string& name)
    {
        status s = test::drop(*d, name);
        if (s) {
            collections[name] = presence::absent;
            model.remove_collection(name);
        } else if (crash) {
            collections[name] = presence::maybe;
        }
        return s.has_value();
    }

    void answer(const test::point_model::batch& b, bool acknowledged)
    {
        if (acknowledged) {
            model.acknowledged(b);
        } else if (crash) {
            BOOST_TEST_REQUIRE(model.unanswered(b), "test bug: two unanswered writes of one id");
        } else {
            model.refused(b);
        }
    }

    point_batch batch_of(const test::point_model::batch& b)
    {
        point_batch pb;
        pb.dimension = dim;
        bool any_payload = false;
        for (const auto& w : b.writes) {
            test::point_content c = model.content(w);
            pb.ids.push_back(w.id);
            pb.vectors.insert(pb.vectors.end(), c.vector.begin(), c.vector.end());
            pb.payloads.push_back(c.payload);
            any_payload = any_payload || !c.payload.empty();
        }
        if (!any_payload) {
            pb.payloads.clear();
        }
        return pb;
    }

    bool upsert(const std::string& name, const std::vector<std::string>& point_ids)
    {
        auto b = model.make_upsert(name, point_ids);
        status s = test::upsert(*d, name, batch_of(b));
        answer(b, s.has_value());
        return s.has_value();
    }

    bool remove(const std::string& name, const std::vector<std::string>& point_ids)
    {
        auto b = model.make_delete(name, point_ids);
        auto s = test::remove(*d, name, point_ids);
        answer(b, s.has_value());
        return s.has_value();
    }

    // An upsert or delete sent while a flush or compaction started just before is running.
    template <class Op>
    status during(Op&& op, const std::function<void(unique_function<void(status)>)>& start)
    {
        test::waiter<status> w;
        start(w.callback());
        op();
        return w.get();
    }

    // Full listing of a collection, checked against the model.
    void check(const std::string& name, bool resolve, const std::string& label)
    {
        std::vector<test::observed_point> listing;
        std::map<std::string, std::size_t> index;
        for (std::size_t q = 0; q < model.queries().size(); ++q) {
            // Payloads from the first listing (a payload read per point), scores from both.
            auto r = test::search(*d, name, model.queries()[q], 100000, 1u << 30, q == 0);
            if (!r) {
                problems.push_back(label + ": search of '" + name + "' failed: " + r.error().message());
                return;
            }
            std::set<std::string> seen;
            for (const auto& h : r->hits) {
                if (!seen.insert(h.id).second) {
                    problems.push_back(label + ": collection '" + name + "', id '" + h.id + "' returned twice");
                    continue;
                }
                if (q == 0) {
                    index[h.id] = listing.size();
                    listing.push_back({h.id, {h.score}, h.payload});
                } else if (auto it = index.find(h.id); it != index.end()) {
                    listing[it->second].scores.push_back(h.score);
                } else {
                    problems.push_back(label + ": collection '" + name + "', id '" + h.id +
                                       "' found by one query and not by the other");
                }
            }
            if (q > 0 && seen.size() != listing.size()) {
                problems.push_back(label + ": collection '" + name + "': the two listings differ in size");
                return;
            }
        }
        auto report = model.check(name, listing, resolve);
        for (const auto& p : report.problems) {
            problems.push_back(label + ": " + p);
        }
        auto st = test::stats(*d, name);
        if (st) {
            expect(st->info.points == listing.size(),
                   label + ": collection '" + name + "' counts " + std::to_string(st->info.points) +
                       " points, lists " + std::to_string(listing.size()));
        }
    }

    // Every collection: there when it must be, healthy, and holding what the model says.
    void check_all(bool resolve, const std::string& label)
    {
        auto listed = test::list(*d);
        BOOST_TEST_REQUIRE(listed.has_value(), label << ": " << listed.error().message());
        std::map<std::string, bool> found;  // name -> failed
        for (const auto& info : *listed) {
            found[info.name] = info.failed;
        }
        for (auto& [name, p] : collections) {
            auto it = found.find(name);
            if (it == found.end()) {
                expect(p != presence::present, label + ": collection '" + name + "' is missing");
                // Not served, so not on disk either (else its name could not be created again).
                expect(!fs::exists(data_dir + "/collections/" + name),
                       label + ": collection '" + name + "' is not served but its directory exists");
                if (p == presence::maybe && resolve) {
                    p = presence::absent;
                    model.remove_collection(name);
                }
                continue;
            }
            if (p == presence::absent) {
                problems.push_back(label + ": collection '" + name + "' exists but must not");
                continue;
            }
            if (it->second) {
                auto st = test::stats(*d, name);
                problems.push_back(label + ": collection '" + name + "' failed: " + (st ? st->failure : ""));
                continue;
            }
            if (resolve) {
                p = presence::present;
            }
            check(name, resolve, label);
        }
        for (const auto& [name, failed] : found) {
            expect(collections.count(name) != 0, label + ": unexpected collection '" + name + "'");
        }
    }

    // After recovery: every collection takes writes, flushes and compacts; a name that is absent
    // can be created (no half-created or half-dropped leftover blocks it).
    void keeps_working(const std::string& label)
    {
        for (auto& [name, p] : collections) {
            if (p == presence::absent) {
                expect(create(name, false), label + ": cannot create '" + name + "' again");
            }
            expect(upsert(name, ids("after", 0, 6)), label + ": upsert into '" + name + "' after recovery");
            expect(test::flush(*d, name).has_value(), label + ": flush of '" + name + "' after recovery");
            expect(remove(name, ids("after", 0, 2)), label + ": delete in '" + name + "' after recovery");
            expect(test::compact(*d, name).has_value(), label + ": compaction of '" + name + "' after recovery");
            check(name, false, label + " (after recovery)");
        }
    }
};

// No interrupted creation or deletion, and no MANIFEST.tmp, is left once a database has opened.
void expect_no_leftovers(const std::string& data_dir, session& s, const std::string& label)
{
    for (const auto& e : fs::directory_iterator(data_dir + "/collections")) {
        std::string name = e.path().filename().string();
        s.expect(name.rfind(".tmp-", 0) != 0 && name.rfind(".trash-", 0) != 0,
                 label + ": leftover " + name + " after open");
        s.expect(!fs::exists(e.path() / "MANIFEST.tmp"), label + ": leftover " + name + "/MANIFEST.tmp");
    }
}

// "fdatasync /tmp/puffer-test-x/collections/c/wal/000003.log" -> "fdatasync c/wal/N.log".
std::string fault_point(const std::string& op, const std::string& data_dir)
{
    std::string s = op;
    for (std::size_t at; (at = s.find(data_dir + "/collections/")) != std::string::npos;) {
        s.erase(at, data_dir.size() + 13);
    }
    for (std::size_t at; (at = s.find(data_dir + "/collections")) != std::string::npos;) {
        s.replace(at, data_dir.size() + 12, "collections/");
    }
    // "-<8 hex digits>" before '/', ' ' or the end -> "-X"; runs of 6+ digits -> "N". (By hand:
    // GCC 12 warns falsely inside <regex> at -O2 with -Werror.)
    auto is_hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        if (s[i] == '-' && i + 9 <= s.size() && (i + 9 == s.size() || s[i + 9] == '/' || s[i + 9] == ' ')) {
            bool hex = true;
            for (std::size_t k = i + 1; k < i + 9; ++k) {
                hex = hex && is_hex(s[k]);
            }
            if (hex) {
                out += "-X";
                i += 9;
                continue;
            }
        }
        std::size_t j = i;
        while (j < s.size() && s[j] >= '0' && s[j] <= '9') {
            ++j;
        }
        if (j - i >= 6) {
            out += "N";
            i = j;
            continue;
        }
        if (j > i) {
            out.append(s, i, j - i);
            i = j;
            continue;
        }
        out += s[i++];
    }
    return out;
}

std::map<std::string, std::set<std::string>>& fault_points()
{
    static std::map<std::string, std::set<std::string>> points;
    return points;
}

void report_fault_points(const std::string& scenario)
{
    const auto& points = fault_points()[scenario];
    std::string text = scenario + ": " + std::to_string(points.size()) + " distinct fault points";
    for (const auto& p : points) {
        text += "\n    " + p;
    }
    BOOST_TEST_MESSAGE(text);
    if (const char* path = std::getenv("PUFFER_FAULT_POINTS_FILE"); path != nullptr && *path != '\0') {
        std::ofstream out(path, std::ios::app);
        out << "### " << scenario << "\n\n";
        for (const auto& p : points) {
            out << "- `" << p << "`\n";
        }
        out << "\n";
    }
}

struct scenario {
    std::string name;
    // Fault points the scenario must reach (as fault_point() names them; the lists of
    // docs/reliability.md): a code path whose writes moved, or a run that stopped early, would
    // otherwise leave steps untested while every run passed.
    std::vector<std::string> expected_points;
    collection::options options = base_collection_options();
    // Builds the acknowledged starting state (no faults).
    std::function<void(session&)> prepare;
    // The operations under fault.
    std::function<void(session&)> run;
};

// Runs a scenario at every step in every mode.
void run_every_step(const scenario& sc)
{
    log::set_level(log::level::off);
    // The starting state is built once and copied for each step.
    test::temp_dir base;
    session start;
    start.data_dir = base.path();
    {
        io::fault_env quiet(io::posix_env());
        auto d = db::database::open(options_for(base.path(), &quiet, sc.options));
        BOOST_TEST_REQUIRE(d.has_value());
        start.d = std::move(*d);
        sc.prepare(start);
        BOOST_TEST_REQUIRE(start.problems.empty(), first_problem(start.problems));
        start.check_all(false, sc.name + " (prepared)");
        BOOST_TEST_REQUIRE(start.problems.empty(), first_problem(start.problems));
        start.d.reset();
    }
    std::size_t iterations = 0;
    // One faulted run from the starting state: arm sets the fault; returns the faults injected.
    // Stops the test at the first run that leaves the collection inconsistent.
    auto run_once = [&](const fault_mode& mode, const std::string& label,
                        const std::function<void(io::fault_env&, const std::string&)>& arm)
        -> std::vector<std::string> {
        test::temp_dir dir;
        fs::copy(base.path(), dir.path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
        fs::remove(dir.path() + "/LOCK");
        io::fault_env fe(io::posix_env());
        session s;
        s.model = start.model;
        s.collections = start.collections;
        s.crash = mode.crash;
        s.data_dir = dir.path();
        auto d = db::database::open(options_for(dir.path(), &fe, sc.options));
        BOOST_TEST_REQUIRE(d.has_value(), label);
        s.d = std::move(*d);
        arm(fe, dir.path());
        sc.run(s);
        // A finished compaction removes the files it retired on a background thread: wait for
        // it, so that the faults injected there are counted with this run.
        s.d->wait_background();
        auto injected = fe.injected_ops();
        if (!injected.empty()) {
            fault_points()[sc.name].insert(fault_point(injected.front(), dir.path()));
        }
        if (!mode.crash) {
            // Still running after one fault: already consistent, refused operations undone.
            s.check_all(true, label + " (live)");
        }
        s.d.reset();
        if (mode.power_cut) {
            BOOST_TEST_REQUIRE(fe.simulate_crash(mode.cut).has_value());
        }
        io::fault_env quiet(io::posix_env());  // no faults; syncs emulated
        auto reopened = db::database::open(options_for(dir.path(), &quiet, sc.options));
        BOOST_TEST_REQUIRE(reopened.has_value(), label << ": reopen failed: " << reopened.error().message());
        s.d = std::move(*reopened);
        expect_no_leftovers(dir.path(), s, label);
        s.check_all(true, label + " (reopened)");
        BOOST_TEST(s.model.pending_batches() == 0u, label);
        s.keeps_working(label);
        for (const auto& p : s.problems) {
            BOOST_ERROR(p);
        }
        BOOST_TEST_REQUIRE(s.problems.empty(), label << ": stopping at the first failing step");
        s.d.reset();
        ++iterations;
        return injected;
    };
    for (const fault_mode& mode : all_modes) {
        std::uint64_t step = 1;
        for (; step <= steps_max; ++step) {
            std::string label = sc.name + ", " + mode.name + " at step " + std::to_string(step);
            auto injected = run_once(mode, label, [&](io::fault_env& fe, const std::string&) {
                if (mode.crash) {
                    fe.crash_after(step);
                } else {
                    fe.fail_op(step, mode.err);
                }
            });
            if (injected.empty()) {
                break;  // the fault lies past the last operation: every step is covered
            }
        }
        BOOST_TEST(step <= steps_max, sc.name << ", " << mode.name << ": more than " << steps_max << " steps");
    }
    // Operations on background threads and on the shard's ring interleave differently from run
    // to run, so the n-th operation is not always the same one and a sweep by position can pass
    // over an operation that every run performs. Each expected point the sweep missed is failed
    // by name once (EIO), and must then be reached.
    for (const auto& p : sc.expected_points) {
        if (fault_points()[sc.name].count(p) != 0) {
            continue;
        }
        const fault_mode& eio = all_modes[3];
        BOOST_TEST_REQUIRE(std::string(eio.name) == "EIO");
        run_once(eio, sc.name + ", EIO at the first '" + p + "'", [&](io::fault_env& fe, const std::string& dir) {
            fe.fail_first_matching([p, dir](const std::string& op) { return fault_point(op, dir) == p; }, EIO);
        });
    }
    BOOST_TEST_MESSAGE(sc.name << ": " << iterations << " faulted runs");
    report_fault_points(sc.name);
    BOOST_TEST(!sc.expected_points.empty(), sc.name << ": the scenario names no fault points");
    const auto& reached = fault_points()[sc.name];
    for (const auto& p : sc.expected_points) {
        BOOST_TEST(reached.count(p) == 1u, sc.name << ": fault point '" << p << "' never reached");
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fault_steps_suite)

BOOST_AUTO_TEST_CASE(flush_with_writes_at_every_step)
{
    scenario sc;
    sc.name = "flush";
    sc.expected_points = {
        "fdatasync c/MANIFEST.tmp",
        "fdatasync c/segments/N.seg",
        "fdatasync c/wal/N.log",
        "fsync directory c",
        "fsync directory c/segments",
        "fsync directory c/wal",
        "ftruncate c/wal/N.log",
        "open (create) c/wal/N.log",
        "open (create, truncate) c/MANIFEST.tmp",
        "open (create, truncate) c/segments/N.seg",
        "rename c/MANIFEST.tmp -> c/MANIFEST",
        "ring fdatasync c/wal/N.log",
        "ring write c/wal/N.log",
        "unlink c/wal/N.log",
        "write c/MANIFEST.tmp",
        "write c/segments/N.seg",
        "write c/wal/N.log",
    };
    sc.prepare = [](session& s) {
        s.create("c", false);
        s.upsert("c", ids("a", 0, 120));
        s.expect(test::flush(*s.d, "c").has_value(), "flush");
        s.remove("c", ids("a", 0, 15));
        s.upsert("c", ids("b", 0, 40));
    };
    sc.run = [](session& s) {
        s.during([&] { s.remove("c", ids("a", 15, 10)); },
                 [&](unique_function<void(status)> done) { s.d->flush("c", std::move(done)); });
        s.upsert("c", ids("c", 0, 20));
        s.remove("c", ids("b", 0, 5));
    };
    run_every_step(sc);
}

BOOST_AUTO_TEST_CASE(compaction_rewriting_a_segment_while_deletes_land)
{
    // Three segments of 60 rows; 40 % of the first deleted, so compaction rewrites it. While it
    // runs: deletes in the segment being rewritten and in another, replacements of its rows.
    scenario sc;
    sc.name = "compaction (rewrite)";
    sc.expected_points = {
        "fdatasync c/MANIFEST.tmp",
        "fdatasync c/segments/N.seg",
        "fsync directory c",
        "fsync directory c/segments",
        "open (create, truncate) c/MANIFEST.tmp",
        "open (create, truncate) c/segments/N.seg",
        "rename c/MANIFEST.tmp -> c/MANIFEST",
        "ring fdatasync c/wal/N.log",
        "ring write c/wal/N.log",
        "unlink c/segments/N.seg",
        "write c/MANIFEST.tmp",
        "write c/segments/N.seg",
    };
    sc.prepare = [](session& s) {
        s.create("c", false);
        for (std::size_t k = 0; k < 3; ++k) {
            s.upsert("c", ids("s" + std::to_string(k) + "_", 0, 60));
            s.expect(test::flush(*s.d, "c").has_value(), "flush");
        }
        s.remove("c", ids("s0_", 0, 24));
        s.upsert("c", ids("t", 0, 20));
    };
    sc.run = [](session& s) {
        s.during(
            [&] {
                s.remove("c", ids("s0_", 40, 6));
                s.upsert("c", ids("s0_", 30, 5));
                s.remove("c", ids("s1_", 0, 10));
            },
            [&](unique_function<void(status)> done) { s.d->compact("c", std::move(done)); });
        s.remove("c", ids("s0_", 50, 3));
        s.upsert("c", ids("u", 0, 10));
    };
    run_every_step(sc);
}

BOOST_AUTO_TEST_CASE(compaction_merging_segments_after_a_flush)
{
    // A fourth segment passes segments_max (3): the flush is followed by a compaction that merges
    // every segment, while deletes and replacements land.
    scenario sc;
    sc.name = "compaction (merge)";
    sc.expected_points = {
        "fdatasync c/MANIFEST.tmp",
        "fdatasync c/segments/N.seg",
        "fdatasync c/wal/N.log",
        "fsync directory c",
        "fsync directory c/segments",
        "fsync directory c/wal",
        "ftruncate c/wal/N.log",
        "open (create) c/wal/N.log",
        "open (create, truncate) c/MANIFEST.tmp",
        "open (create, truncate) c/segments/N.seg",
        "rename c/MANIFEST.tmp -> c/MANIFEST",
        "ring fdatasync c/wal/N.log",
        "ring write c/wal/N.log",
        "unlink c/segments/N.seg",
        "unlink c/wal/N.log",
        "write c/MANIFEST.tmp",
        "write c/segments/N.seg",
        "write c/wal/N.log",
    };
    sc.prepare = [](session& s) {
        s.create("c", true);
        for (std::size_t k = 0; k < 3; ++k) {
            s.upsert("c", ids("s" + std::to_string(k) + "_", 0, 40));
            s.expect(test::flush(*s.d, "c").has_value(), "flush");
        }
        s.upsert("c", ids("t", 0, 30));
    };
    sc.run = [](session& s) {
        s.during(
            [&] {
                s.remove("c", ids("s1_", 0, 10));
                s.upsert("c", ids("s2_", 0, 5));
            },
            [&](unique_function<void(status)> done) { s.d->flush("c", std::move(done)); });
        s.during([&] { s.remove("c", ids("s0_", 0, 5)); },
                 [&](unique_function<void(status)> done) { s.d->compact("c", std::move(done)); });
        s.upsert("c", ids("u", 0, 10));
    };
    run_every_step(sc);
}

BOOST_AUTO_TEST_CASE(compaction_retraining_the_table_after_a_flush)
{
    // Tables sized for the rows (no fixed cluster count): a first segment of 64 rows trains a
    // table of 4 clusters; a flush of 200 more goes into it, which leaves it too coarse for 264
    // rows, and the compaction that follows trains a new one over every row, while deletes and
    // replacements land.
    scenario sc;
    sc.name = "compaction (retrain)";
    sc.options.cluster_count = 0;
    sc.options.segments_max = 8;
    sc.expected_points = {
        "fdatasync c/MANIFEST.tmp",
        "fdatasync c/segments/N.seg",
        "fsync directory c",
        "fsync directory c/segments",
        "open (create, truncate) c/MANIFEST.tmp",
        "open (create, truncate) c/segments/N.seg",
        "rename c/MANIFEST.tmp -> c/MANIFEST",
        "ring fdatasync c/wal/N.log",
        "ring write c/wal/N.log",
        "unlink c/segments/N.seg",
        "write c/MANIFEST.tmp",
        "write c/segments/N.seg",
    };
    sc.prepare = [](session& s) {
        s.create("c", false);
        s.upsert("c", ids("s0_", 0, 64));
        s.expect(test::flush(*s.d, "c").has_value(), "flush");
        s.upsert("c", ids("s1_", 0, 200));
    };
    sc.run = [](session& s) {
        s.during([&] { s.remove("c", ids("s0_", 0, 10)); },
                 [&](unique_function<void(status)> done) { s.d->flush("c", std::move(done)); });
        s.during(
            [&] {
                s.remove("c", ids("s1_", 0, 10));
                s.upsert("c", ids("s0_", 20, 5));
            },
            [&](unique_function<void(status)> done) { s.d->compact("c", std::move(done)); });
        s.upsert("c", ids("u", 0, 10));
    };
    run_every_step(sc);
}

BOOST_AUTO_TEST_CASE(manifest_only_flush_at_every_step)
{
    // Staging holds only deleted rows: the flush writes no segment, only a MANIFEST that moves
    // the WAL start.
    scenario sc;
    sc.name = "MANIFEST replacement (flush of deleted rows)";
    sc.expected_points = {
        "fdatasync c/MANIFEST.tmp",
        "fdatasync c/wal/N.log",
        "fsync directory c",
        "fsync directory c/wal",
        "ftruncate c/wal/N.log",
        "open (create) c/wal/N.log",
        "open (create, truncate) c/MANIFEST.tmp",
        "rename c/MANIFEST.tmp -> c/MANIFEST",
        "ring fdatasync c/wal/N.log",
        "ring write c/wal/N.log",
        "unlink c/wal/N.log",
        "write c/MANIFEST.tmp",
        "write c/wal/N.log",
    };
    sc.prepare = [](session& s) {
        s.create("c", false);
        s.upsert("c", ids("a", 0, 60));
        s.expect(test::flush(*s.d, "c").has_value(), "flush");
        s.upsert("c", ids("b", 0, 20));
        s.remove("c", ids("b", 0, 20));
    };
    sc.run = [](session& s) {
        (void)test::flush(*s.d, "c");
        s.upsert("c", ids("c", 0, 10));
        s.remove("c", ids("a", 0, 5));
    };
    run_every_step(sc);
}

BOOST_AUTO_TEST_CASE(manifest_only_compaction_at_every_step)
{
    // Every row of a segment is deleted: compaction drops it with a MANIFEST alone.
    scenario sc;
    sc.name = "MANIFEST replacement (compaction of a dead segment)";
    sc.expected_points = {
        "fdatasync c/MANIFEST.tmp",
        "fsync directory c",
        "open (create, truncate) c/MANIFEST.tmp",
        "rename c/MANIFEST.tmp -> c/MANIFEST",
        "ring fdatasync c/wal/N.log",
        "ring write c/wal/N.log",
        "unlink c/segments/N.seg",
        "write c/MANIFEST.tmp",
    };
    sc.prepare = [](session& s) {
        s.create("c", false);
        s.upsert("c", ids("a", 0, 40));
        s.expect(test::flush(*s.d, "c").has_value(), "flush");
        s.upsert("c", ids("b", 0, 40));
        s.expect(test::flush(*s.d, "c").has_value(), "flush");
        s.remove("c", ids("a", 0, 40));
    };
    sc.run = [](session& s) {
        (void)test::compact(*s.d, "c");
        s.upsert("c", ids("c", 0, 10));
        s.remove("c", ids("b", 0, 5));
    };
    run_every_step(sc);
}

BOOST_AUTO_TEST_CASE(create_collection_at_every_step)
{
    scenario sc;
    sc.name = "create collection";
    sc.expected_points = {
        "fdatasync .tmp-fresh-X/MANIFEST.tmp",
        "fdatasync .tmp-fresh-X/wal/N.log",
        "fsync directory .tmp-fresh-X",
        "fsync directory .tmp-fresh-X/segments",
        "fsync directory .tmp-fresh-X/wal",
        "fsync directory collections/",
        "ftruncate .tmp-fresh-X/wal/N.log",
        "mkdir .tmp-fresh-X/segments",
        "mkdir .tmp-fresh-X/wal",
        "open (create) .tmp-fresh-X/wal/N.log",
        "open (create) fresh/wal/N.log",
        "open (create, truncate) .tmp-fresh-X/MANIFEST.tmp",
        "rename .tmp-fresh-X -> fresh",
        "rename .tmp-fresh-X/MANIFEST.tmp -> .tmp-fresh-X/MANIFEST",
        "ring fdatasync fresh/wal/N.log",
        "ring fdatasync keep/wal/N.log",
        "ring write fresh/wal/N.log",
        "ring write keep/wal/N.log",
        "unlink fresh/MANIFEST.tmp",
        "write .tmp-fresh-X/MANIFEST.tmp",
        "write .tmp-fresh-X/wal/N.log",
    };
    sc.prepare = [](session& s) {
        s.create("keep", false);
        s.upsert("keep", ids("k", 0, 60));
        s.expect(test::flush(*s.d, "keep").has_value(), "flush");
        s.upsert("keep", ids("k", 60, 20));
    };
    sc.run = [](session& s) {
        if (s.create("fresh", true)) {
            s.upsert("fresh", ids("f", 0, 20));
        }
        s.upsert("keep", ids("k", 80, 10));
    };
    run_every_step(sc);
}

BOOST_AUTO_TEST_CASE(drop_collection_at_every_step)
{
    scenario sc;
    sc.name = "drop collection";
    sc.expected_points = {
        "fsync directory collections/",     "remove tree .trash-doomed-X",
        "rename doomed -> .trash-doomed-X", "ring fdatasync keep/wal/N.log",
        "ring write keep/wal/N.log",
    };
    sc.prepare = [](session& s) {
        for (const char* name : {"keep", "doomed"}) {
            s.create(name, false);
            s.upsert(name, ids("p", 0, 50));
            s.expect(test::flush(*s.d, name).has_value(), "flush");
            s.upsert(name, ids("p", 50, 20));
        }
    };
    sc.run = [](session& s) {
        s.drop("doomed");
        s.upsert("keep", ids("p", 70, 10));
    };
    run_every_step(sc);
}

BOOST_AUTO_TEST_SUITE_END()
