// Writes the on-disk compatibility fixtures of tests/data/compat/ (tests/data/README.md) with
// the engine's own write path: a database (one shard, io_uring when the kernel has it) gets a
// collection, two flushes and more writes; the tool then copies segment 1, the MANIFEST and the
// live WAL file, cutting the WAL's last record in half the way a power cut in the middle of an
// append leaves it. unit_format's compat_suite reads the files in every build and compares them
// with literal values; after a format change, add new fixtures beside these rather than
// rewriting them, so that the files of older builds keep being read.
//
//   puffer-make-compat-fixtures OUT_DIR
#include "engine/db/database.hpp"
#include "engine/format/segment_format.hpp"
#include "tests/support/sync_db.hpp"
#include "tests/support/temp_dir.hpp"

#include <cstdio>
#include <filesystem>
#include <string>

using namespace puffer;
namespace fs = std::filesystem;

namespace {

// Points with small integer vectors (exact in every kernel) and optional payloads.
point_batch batch(const std::vector<std::string>& ids,
                  const std::vector<std::vector<float>>& vectors,
                  const std::vector<std::string>& payloads)
{
    point_batch b;
    b.dimension = 4;
    b.ids = ids;
    for (const auto& v : vectors) {
        b.vectors.insert(b.vectors.end(), v.begin(), v.end());
    }
    b.payloads = payloads;
    return b;
}

bool check(const status& s, const char* what)
{
    if (!s) {
        std::fprintf(stderr, "make_compat_fixtures: %s: %s\n", what, s.error().message().c_str());
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: puffer-make-compat-fixtures OUT_DIR\n");
        return 2;
    }
    const std::string out = argv[1];
    test::temp_dir dir;
    db::database_options o;
    o.data_dir = dir.path();
    o.shards = 1;
    o.background_threads = 1;
    o.pin_shards = false;
    o.cache_bytes = 4u << 20;
    o.collection.flush_threshold_vectors = 1u << 30;  // flushes only when asked
    o.collection.idle_flush_ms = 0;
    o.collection.cluster_count = 2;
    {
        auto d = db::database::open(o);
        if (!d) {
            std::fprintf(stderr, "make_compat_fixtures: %s\n", d.error().message().c_str());
            return 1;
        }
        db::database& db = **d;
        bool ok =
            check(test::create(db, "compat", 4, metric::l2), "create") &&
            check(test::upsert(
                      db, "compat",
                      batch({"p0", "p1", "p2", "p3", "p4", "p5"},
                            {{1, 0, 0, 0},
                             {2, 0, 0, 0},
                             {3, 1, 0, 0},
                             {0, 0, 9, 9},
                             {0, 1, 9, 8},
                             {1, 0, 8, 9}},
                            {"{\"n\":0}", "", "{\"n\":2,\"s\":\"two\"}", "", "{\"n\":4}", ""})),
                  "upsert p0-p5") &&
            check(test::flush(db, "compat"), "flush 1");
        // Segment 2 with p6 and p7; p2 deleted in segment 1 (a tombstone in the MANIFEST).
        auto removed = test::remove(db, "compat", {"p2"});
        ok = ok && removed.has_value() &&
             check(test::upsert(
                       db, "compat",
                       batch({"p6", "p7"}, {{5, 5, 5, 5}, {-1, -2, -3, -4}}, {"{\"n\":6}", ""})),
                   "upsert p6 p7") &&
             check(test::flush(db, "compat"), "flush 2");
        // The live WAL: two records that stay, and a third that the cut tears.
        ok = ok && check(test::upsert(db, "compat",
                                      batch({"q0", "q1"}, {{7, 0, 0, 7}, {0.5f, 0.25f, -0.125f, 3}},
                                            {"{\"q\":[1,2]}", ""})),
                         "upsert q0 q1");
        if (ok) {
            auto r = test::remove(db, "compat", {"p0"});
            ok = r.has_value();
        }
        ok = ok &&
             check(test::upsert(db, "compat", batch({"q2"}, {{9, 9, 9, 9}}, {"{\"torn\":true}"})),
                   "upsert q2");
        if (!ok) {
            return 1;
        }
    }
    const std::string collection = dir.path() + "/collections/compat";
    fs::create_directories(out);
    fs::copy_file(collection + "/segments/" + format::segment_file_name(1), out + "/000001.seg",
                  fs::copy_options::overwrite_existing);
    fs::copy_file(collection + "/MANIFEST", out + "/MANIFEST",
                  fs::copy_options::overwrite_existing);
    // Cut the last record (q2) in half: the header and the first two records stay whole. The
    // record is 9 bytes of framing, dimension and count, id "q2", payload {"torn":true} (13
    // bytes) and 4 floats.
    std::string wal = test::slurp(collection + "/wal/000003.log");
    const std::size_t last_record_bytes = 9 + 4 + 4 + (4 + 2) + (4 + 13) + 16;
    if (wal.size() < 16 + last_record_bytes) {
        std::fprintf(stderr, "make_compat_fixtures: the WAL is %zu bytes, too short\n", wal.size());
        return 1;
    }
    const std::size_t torn_size = wal.size() - last_record_bytes / 2;
    test::spit(out + "/000003.log", wal.substr(0, torn_size));
    std::printf(
        "wrote %s: 000001.seg (%zu bytes), MANIFEST (%zu bytes), 000003.log (%zu of %zu bytes, "
        "whole records end at %zu)\n",
        out.c_str(), static_cast<std::size_t>(fs::file_size(out + "/000001.seg")),
        static_cast<std::size_t>(fs::file_size(out + "/MANIFEST")), torn_size, wal.size(),
        wal.size() - last_record_bytes);
    return 0;
}
