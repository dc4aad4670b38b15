// WAL records: round trip of upsert and remove batches; replay keeps exactly the whole records
// before a cut at every byte of the last record and exactly the records before the one holding a
// flipped bit (compared by content), and refuses an unknown version; the writer commits
// concurrent appends in groups and fails a group whose write fails, asking for repair, after
// which appends resume.
#include "engine/core/crc32c.hpp"
#include "engine/io/env.hpp"
#include "engine/io/fault_env.hpp"
#include "engine/wal/wal_format.hpp"
#include "engine/wal/wal_writer.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <sys/mman.h>

#include <cerrno>

using namespace puffer;

namespace {

point_batch sample_batch(std::size_t n, std::size_t first = 0)
{
    point_batch b;
    b.dimension = 3;
    for (std::size_t i = 0; i < n; ++i) {
        b.ids.push_back("id" + std::to_string(first + i));
        b.payloads.push_back(i % 2 == 0 ? "{\"k\":" + std::to_string(i) + "}" : "");
        for (int j = 0; j < 3; ++j) {
            b.vectors.push_back(static_cast<float>(first + i) + 0.25f * static_cast<float>(j));
        }
    }
    return b;
}

std::size_t replayed_records(const std::string& log)
{
    auto r = wal::replay(log, [](wal::record_type, std::string_view) -> status { return ok(); });
    BOOST_TEST_REQUIRE(r.has_value());
    return r->records;
}

void drain(io::ring& r)
{
    io::completion c[8];
    while (r.inflight() > 0) {
        std::size_t n = r.reap(c, true);
        for (std::size_t i = 0; i < n; ++i) {
            io::request_of(c[i].tag)->on_complete(c[i].result);
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wal_suite)

BOOST_AUTO_TEST_CASE(records_round_trip)
{
    std::string log = wal::encode_file_header();
    wal::append_upsert_record(log, sample_batch(5));
    wal::append_remove_record(log, {"id1", "id3"});
    std::vector<std::string> seen;
    auto r = wal::replay(log, [&](wal::record_type type, std::string_view body) -> status {
        if (type == wal::record_type::upsert) {
            point_batch b;
            PUFFER_TRY(wal::decode_upsert(body, b));
            BOOST_TEST(b.ids == sample_batch(5).ids);
            BOOST_TEST(b.vectors == sample_batch(5).vectors);
            BOOST_TEST(b.payloads == sample_batch(5).payloads);
            seen.push_back("upsert");
        } else {
            std::vector<std::string> ids;
            PUFFER_TRY(wal::decode_remove(body, ids));
            BOOST_TEST(ids == (std::vector<std::string>{"id1", "id3"}));
            seen.push_back("remove");
        }
        return ok();
    });
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->clean);
    BOOST_TEST(r->valid_size_bytes == log.size());
    BOOST_TEST(seen == (std::vector<std::string>{"upsert", "remove"}));
}

BOOST_AUTO_TEST_CASE(torn_tail_at_every_byte_keeps_whole_records_only)
{
    std::string log = wal::encode_file_header();
    wal::append_upsert_record(log, sample_batch(3));
    std::size_t first_end = log.size();
    wal::append_upsert_record(log, sample_batch(4, 10));
    for (std::size_t cut = first_end; cut < log.size(); ++cut) {
        auto r = wal::replay(log.substr(0, cut), [](wal::record_type, std::string_view) -> status { return ok(); });
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->records == 1u, "cut at " << cut);
        BOOST_TEST(r->valid_size_bytes == first_end);
        BOOST_TEST(r->clean == (cut == first_end));
    }
    BOOST_TEST(replayed_records(log) == 2u);
}

// A flipped bit anywhere in record r (its length, crc, type or body) ends the log there: replay
// hands over exactly records 0..r-1, unchanged, and the valid size is where record r starts.
BOOST_AUTO_TEST_CASE(flipped_bit_ends_the_log_there)
{
    std::string log = wal::encode_file_header();
    std::vector<std::size_t> starts;  // where each record begins, then the end of the log
    starts.push_back(log.size());
    wal::append_upsert_record(log, sample_batch(3));
    starts.push_back(log.size());
    wal::append_remove_record(log, {"x"});
    starts.push_back(log.size());
    wal::append_upsert_record(log, sample_batch(2, 20));
    starts.push_back(log.size());
    // The records as replay must hand them over: type and decoded content.
    const std::vector<std::string> expected = {"upsert id0 id1 id2", "remove x",
                                               "upsert id20 id21"};
    auto describe = [](wal::record_type type, std::string_view body) {
        std::string out;
        if (type == wal::record_type::upsert) {
            point_batch b;
            BOOST_TEST_REQUIRE(wal::decode_upsert(body, b).has_value());
            out = "upsert";
            for (std::size_t i = 0; i < b.ids.size(); ++i) {
                out += " " + b.ids[i];
            }
            BOOST_TEST(b.vectors ==
                       sample_batch(b.ids.size(), b.ids[0] == "id20" ? 20 : 0).vectors);
        } else {
            std::vector<std::string> ids;
            BOOST_TEST_REQUIRE(wal::decode_remove(body, ids).has_value());
            out = "remove";
            for (const auto& id : ids) {
                out += " " + id;
            }
        }
        return out;
    };
    for (std::size_t at = starts[0]; at < log.size(); ++at) {
        for (int bit : {0, 5}) {
            std::string bad = log;
            bad[at] = static_cast<char>(bad[at] ^ (1 << bit));
            std::size_t hit = 0;  // the record holding the flipped byte
            while (at >= starts[hit + 1]) {
                ++hit;
            }
            std::vector<std::string> kept;
            auto r = wal::replay(bad, [&](wal::record_type type, std::string_view body) -> status {
                kept.push_back(describe(type, body));
                return ok();
            });
            BOOST_TEST_REQUIRE(r.has_value());
            std::vector<std::string> want(expected.begin(),
                                          expected.begin() + static_cast<std::ptrdiff_t>(hit));
            BOOST_TEST(kept == want,
                       "flip of bit " << bit << " at " << at << " (record " << hit << ")");
            BOOST_TEST(r->records == hit);
            BOOST_TEST(r->valid_size_bytes == starts[hit], "flip at " << at);
            BOOST_TEST(!r->clean);
            BOOST_TEST(!r->reason.empty());
        }
    }
    std::string wrong_version = log;
    wrong_version[8] = 9;
    auto r = wal::replay(wrong_version, [](wal::record_type, std::string_view) -> status { return ok(); });
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(is(r.error(), errc::unsupported_version), r.error().message());
    std::string no_header = "garbage";
    auto g = wal::replay(no_header, [](wal::record_type, std::string_view) -> status { return ok(); });
    BOOST_TEST_REQUIRE(g.has_value());
    BOOST_TEST(g->records == 0u);
    BOOST_TEST(!g->clean);
}

BOOST_AUTO_TEST_CASE(decoders_refuse_lying_counts)
{
    std::string body(8, '\0');
    body[0] = 3;               // dimension 3
    body[4] = static_cast<char>(0xFF);  // count 255 with no points
    point_batch b;
    BOOST_TEST(!wal::decode_upsert(body, b).has_value());
    std::vector<std::string> ids;
    BOOST_TEST(!wal::decode_remove(std::string("\xff\xff\xff\x7f", 4), ids).has_value());
}

BOOST_AUTO_TEST_CASE(writer_groups_concurrent_appends_and_repairs_after_a_failure)
{
    test::temp_dir dir;
    io::fault_env fe(io::posix_env());
    auto ring = fe.wrap(io::make_sync_ring());
    auto f = fe.open(dir.file("000001.log"), io::open_mode::read_write);
    BOOST_TEST_REQUIRE(f.has_value());
    std::string header = wal::encode_file_header();
    BOOST_TEST_REQUIRE((*f)->write_at(0, std::as_bytes(std::span(header))).has_value());
    BOOST_TEST_REQUIRE((*f)->sync().has_value());
    wal::wal_writer writer;
    int repairs = 0;
    writer.attach(ring.get(), [&](io::file& file, std::uint64_t durable) {
        ++repairs;
        status s = file.truncate(durable);
        writer.repaired(s);
    });
    writer.open(std::move(*f), 1, header.size());

    std::vector<int> results;
    for (int i = 0; i < 10; ++i) {
        std::string rec;
        wal::append_upsert_record(rec, sample_batch(2, static_cast<std::size_t>(i) * 10));
        writer.append(rec, [&results](status s) { results.push_back(s ? 1 : 0); });
    }
    drain(*ring);
    BOOST_TEST(results == std::vector<int>(10, 1));
    BOOST_TEST(writer.groups_committed() == 2u);  // the first record alone, then the nine queued behind it
    BOOST_TEST(replayed_records(test::slurp(dir.file("000001.log"))) == 10u);

    // The next write fails with ENOSPC: its record is refused, the file is cut back, and the
    // following append succeeds.
    fe.fail_op(1, ENOSPC);
    std::string rec;
    wal::append_remove_record(rec, {"id1"});
    std::optional<status> failed;
    writer.append(rec, [&](status s) { failed = s; });
    drain(*ring);
    BOOST_TEST_REQUIRE(failed.has_value());
    BOOST_TEST_REQUIRE(!failed->has_value());
    BOOST_TEST(is(failed->error(), errc::no_space));
    BOOST_TEST(repairs == 1);
    std::optional<status> after;
    writer.append(rec, [&](status s) { after = s; });
    drain(*ring);
    BOOST_TEST_REQUIRE(after.has_value());
    BOOST_TEST(after->has_value());
    BOOST_TEST(replayed_records(test::slurp(dir.file("000001.log"))) == 11u);
}

// Replay would take a record over the body limit for a torn tail, so the writer refuses one
// before writing anything. The oversized record is address space only: its pages are never read.
BOOST_AUTO_TEST_CASE(writer_refuses_a_record_replay_would_cut)
{
    test::temp_dir dir;
    auto ring = io::make_sync_ring();
    auto f = io::posix_env().open(dir.file("000001.log"), io::open_mode::read_write);
    BOOST_TEST_REQUIRE(f.has_value());
    std::string header = wal::encode_file_header();
    BOOST_TEST_REQUIRE((*f)->write_at(0, std::as_bytes(std::span(header))).has_value());
    wal::wal_writer writer;
    writer.attach(ring.get(), [&](io::file&, std::uint64_t) { writer.repaired(ok()); });
    writer.open(std::move(*f), 1, header.size());

    std::size_t size = wal::record_header_size_bytes + wal::record_body_size_bytes_max + 1;
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    BOOST_TEST_REQUIRE(p != MAP_FAILED);
    std::optional<status> refused;
    writer.append(std::string_view(static_cast<const char*>(p), size), [&](status s) { refused = s; });
    ::munmap(p, size);
    BOOST_TEST_REQUIRE(refused.has_value());  // answered at once, nothing in flight
    BOOST_TEST_REQUIRE(!refused->has_value());
    BOOST_TEST(is(refused->error(), errc::too_large));

    // The writer goes on: the next record is written.
    std::string rec;
    wal::append_remove_record(rec, {"id1"});
    std::optional<status> after;
    writer.append(rec, [&](status s) { after = s; });
    drain(*ring);
    BOOST_TEST_REQUIRE(after.has_value());
    BOOST_TEST(after->has_value());
    BOOST_TEST(replayed_records(test::slurp(dir.file("000001.log"))) == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
