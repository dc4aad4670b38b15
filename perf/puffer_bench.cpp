// puffer-bench: recall@10, QPS, p50/p99 latency and vectors scanned per query, for each nprobe,
// on .fvecs/.ivecs data with exact ground truth.
//
// In memory (default): builds an IVF-Flat index in this process and searches it directly.
// --engine --data-dir D: loads the base set through the engine API (batches, each fdatasync'd),
// flushes it into a segment, then runs the queries cold (cache emptied; O_DIRECT reads through
// io_uring) and warm (clusters cached), also printing bytes read from disk per query and disk MB/s.
// One query per call on one thread unless --threads / --concurrency say otherwise.
#include "engine/core/distance.hpp"
#include "engine/core/log.hpp"
#include "engine/core/stats.hpp"
#include "engine/core/thread_pool.hpp"
#include "engine/db/database.hpp"
#include "engine/query/buffer_arena.hpp"
#include "engine/core/aligned_buffer.hpp"
#include "engine/format/segment_reader.hpp"
#include "engine/format/vecs_file.hpp"
#include "engine/io/ring.hpp"
#include "engine/index/ivf.hpp"
#include "tests/support/sync_db.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>
#include <type_traits>
#include <cstring>
#include <random>

namespace po = boost::program_options;
using namespace puffer;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
    std::string base;
    std::string queries;
    std::string groundtruth;
    std::string metric_name = "l2";
    std::size_t nlist = 0;
    std::string nprobe_list = "1,2,4,8,16,32,64";
    std::size_t threads = 1;
    std::size_t build_threads = 0;
    std::size_t k = 10;
    std::size_t repeat = 1;
    std::size_t limit = 0;
    bool json = false;
    // Engine mode.
    bool engine = false;
    std::string data_dir;
    std::size_t batch = 1000;
    std::size_t write_concurrency = 1;
    std::size_t shards = 1;
    std::size_t cache_mb = 4096;
    std::string io_mode = "direct";
    bool warm_only = false;
    bool cold_only = false;
    // 0: the whole base set is flushed into one segment; else automatic flushes at this many
    // staged rows, as a server with its default --flush-threshold does (20000).
    std::size_t flush_threshold = 0;
    std::size_t staging_max = 0;  // engine mode: writes wait while this many rows are staged
    std::string recall_targets;  // comma-separated: sweep recall targets instead of nprobe
    std::string quantization = "none";  // engine mode: the collection's codes
    std::size_t refine = 0;             // engine mode: candidates per result re-scored (0: default)
    std::size_t query_batch = 0;  // engine mode: also run the warm queries this many per call
    bool reuse = false;
    // Read-path mode.
    std::string read_path;
    std::size_t queue_depth = 32;
    double seconds = 10;
    std::size_t fixed_bs = 0;
};

std::vector<std::size_t> parse_list(const std::string& s)
{
    std::vector<std::size_t> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (!item.empty()) {
            out.push_back(std::stoul(item));
        }
    }
    return out;
}

double seconds_since(clock_type::time_point t)
{
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

struct sweep_row {
    const char* mode = "memory";
    std::size_t nprobe = 0;
    double recall = 0;
    double qps = 0;
    double p50_ms = 0;
    double p99_ms = 0;
    double vectors_scanned = 0;
    double scan_bytes_per_query = 0;  // vectors and centroids touched
    double disk_bytes_per_query = -1;  // engine mode: read from disk
    double disk_mb_per_s = -1;
};

void print_header(bool json, bool engine)
{
    if (json) {
        return;
    }
    if (engine) {
        std::printf("%6s %7s %9s %10s %8s %8s %10s %9s %11s %9s\n", "mode", "nprobe", "recall@10", "QPS", "p50 ms",
                    "p99 ms", "vec/query", "scan GB/s", "disk KB/q", "disk MB/s");
    } else {
        std::printf("%7s %9s %10s %8s %8s %12s %9s\n", "nprobe", "recall@10", "QPS", "p50 ms", "p99 ms", "vec/query",
                    "GB/s");
    }
}

void print_row(const sweep_row& r, bool json, bool engine)
{
    double scan_gbs = r.scan_bytes_per_query * r.qps / 1e9;
    if (json) {
        std::printf("{\"mode\":\"%s\",\"nprobe\":%zu,\"recall_at_10\":%.4f,\"qps\":%.1f,\"p50_ms\":%.4f,"
                    "\"p99_ms\":%.4f,\"vectors_scanned\":%.1f,\"scan_gb_per_s\":%.2f",
                    r.mode, r.nprobe, r.recall, r.qps, r.p50_ms, r.p99_ms, r.vectors_scanned, scan_gbs);
        if (engine) {
            std::printf(",\"disk_bytes_per_query\":%.0f,\"disk_mb_per_s\":%.1f", r.disk_bytes_per_query, r.disk_mb_per_s);
        }
        std::printf("}\n");
    } else if (engine) {
        std::printf("%6s %7zu %9.4f %10.1f %8.3f %8.3f %10.0f %9.2f %11.1f %9.1f\n", r.mode, r.nprobe, r.recall, r.qps,
                    r.p50_ms, r.p99_ms, r.vectors_scanned, scan_gbs, r.disk_bytes_per_query / 1024, r.disk_mb_per_s);
    } else {
        std::printf("%7zu %9.4f %10.1f %8.3f %8.3f %12.0f %9.2f\n", r.nprobe, r.recall, r.qps, r.p50_ms, r.p99_ms,
                    r.vectors_scanned, scan_gbs);
    }
    std::fflush(stdout);
}

struct dataset {
    format::matrix<float> base;
    format::matrix<float> queries;
    format::matrix<std::int32_t> truth;
};

double recall_of(const dataset& data, std::size_t qi, const std::vector<std::int64_t>& found, std::size_t k)
{
    std::set<std::int32_t> want(data.truth.row(qi), data.truth.row(qi) + k);
    std::size_t hits = 0;
    for (auto f : found) {
        hits += want.count(static_cast<std::int32_t>(f));
    }
    return static_cast<double>(hits) / static_cast<double>(k);
}

// Runs every query `repeat` times over `threads` client threads; search(qi, found, scanned, disk)
// answers one query. Fills the timing and recall columns of a row.
// before(): runs ahead of each query, outside its timing (cold runs empty the cache there);
// then QPS is the inverse of the mean query time, since wall time would include it.
template <class Search, class Before = std::nullptr_t>
sweep_row sweep(const dataset& data, const options& o, std::size_t nprobe, Search search, Before before = nullptr)
{
    const std::size_t nq = data.queries.rows;
    const std::size_t total = nq * o.repeat;
    std::vector<double> latencies_ms(total);
    std::vector<double> recalls(nq);
    std::atomic<std::size_t> next{0};
    std::atomic<std::uint64_t> scanned_total{0};
    std::atomic<std::uint64_t> disk_total{0};
    auto worker = [&] {
        std::vector<std::int64_t> found;
        for (;;) {
            std::size_t i = next.fetch_add(1);
            if (i >= total) {
                break;
            }
            std::size_t qi = i % nq;
            std::uint64_t scanned = 0;
            std::uint64_t disk = 0;
            found.clear();
            if constexpr (!std::is_same_v<Before, std::nullptr_t>) {
                before();
            }
            auto t = clock_type::now();
            search(qi, found, scanned, disk);
            latencies_ms[i] = seconds_since(t) * 1e3;
            scanned_total += scanned;
            disk_total += disk;
            if (i < nq) {
                recalls[qi] = recall_of(data, qi, found, o.k);
            }
        }
    };
    auto start = clock_type::now();
    std::vector<std::thread> threads;
    for (std::size_t t = 1; t < o.threads; ++t) {
        threads.emplace_back(worker);
    }
    worker();
    for (auto& t : threads) {
        t.join();
    }
    double wall = seconds_since(start);
    sweep_row row;
    row.nprobe = nprobe;
    for (double r : recalls) {
        row.recall += r;
    }
    row.recall /= static_cast<double>(nq);
    row.qps = static_cast<double>(total) / wall;
    if constexpr (!std::is_same_v<Before, std::nullptr_t>) {
        double busy_ms = 0;
        for (double l : latencies_ms) {
            busy_ms += l;
        }
        row.qps = static_cast<double>(total) * static_cast<double>(o.threads) / (busy_ms / 1e3);
        wall = busy_ms / 1e3 / static_cast<double>(o.threads);
    }
    row.p50_ms = percentile(latencies_ms, 50);
    row.p99_ms = percentile(latencies_ms, 99);
    row.vectors_scanned = static_cast<double>(scanned_total.load()) / static_cast<double>(total);
    row.disk_bytes_per_query = static_cast<double>(disk_total.load()) / static_cast<double>(total);
    row.disk_mb_per_s = static_cast<double>(disk_total.load()) / wall / 1e6;
    return row;
}

int run_memory(const dataset& data, metric m, const options& o)
{
    const std::size_t d = data.base.dimension;
    std::size_t build_threads = o.build_threads != 0 ? o.build_threads : std::thread::hardware_concurrency();
    thread_pool pool(build_threads > 1 ? build_threads - 1 : 0);
    index::ivf_options io;
    io.cluster_count = o.nlist;
    auto t0 = clock_type::now();
    auto idx = index::ivf_index::build(m, data.base.data.data(), data.base.rows, d, io, &pool);
    double build_s = seconds_since(t0);
    std::size_t list_min = data.base.rows;
    std::size_t list_max = 0;
    for (std::size_t c = 0; c < idx.cluster_count(); ++c) {
        std::size_t len = idx.layout().cluster_offsets[c + 1] - idx.layout().cluster_offsets[c];
        list_min = std::min(list_min, len);
        list_max = std::max(list_max, len);
    }
    std::string simd(simd::to_string(simd::active().simd_level));
    if (o.json) {
        std::printf("{\"base\":%zu,\"dimension\":%zu,\"queries\":%zu,\"nlist\":%zu,\"build_s\":%.3f,"
                    "\"build_threads\":%zu,\"simd\":\"%s\",\"list_min\":%zu,\"list_max\":%zu}\n",
                    data.base.rows, d, data.queries.rows, idx.cluster_count(), build_s, build_threads, simd.c_str(),
                    list_min, list_max);
    } else {
        std::printf("base %zux%zu, queries %zu, nlist %zu, simd %s, build (train+assign, %zu threads) %.2f s, "
                    "list sizes min/max %zu/%zu\n",
                    data.base.rows, d, data.queries.rows, idx.cluster_count(), simd.c_str(), build_threads, build_s,
                    list_min, list_max);
    }
    print_header(o.json, false);
    for (std::size_t nprobe : parse_list(o.nprobe_list)) {
        sweep_row row = sweep(data, o, nprobe, [&](std::size_t qi, std::vector<std::int64_t>& found,
                                                   std::uint64_t& scanned, std::uint64_t&) {
            index::ivf_index::search_stats stats;
            for (const auto& r : idx.search(data.queries.row(qi), o.k, nprobe, &stats)) {
                found.push_back(static_cast<std::int64_t>(r.key));
            }
            scanned = stats.vectors_scanned;
        });
        row.scan_bytes_per_query = (row.vectors_scanned + static_cast<double>(idx.cluster_count())) * static_cast<double>(d) * 4;
        print_row(row, o.json, false);
    }
    return 0;
}

// The warm queries o.query_batch per batch search call, one call at a time, o.repeat times over:
// QPS is queries per second of wall time; p50 and p99 are those of one call.
sweep_row batch_sweep(db::database& db, const std::string& name, const dataset& data, const options& o,
                      std::size_t nprobe, double target)
{
    const std::size_t nq = data.queries.rows;
    const std::size_t d = data.queries.dimension;
    std::vector<double> call_ms;
    std::vector<double> recalls(nq);
    std::uint64_t scanned = 0;
    std::size_t budget = 0;
    auto start = clock_type::now();
    for (std::size_t rep = 0; rep < o.repeat; ++rep) {
        for (std::size_t first = 0; first < nq; first += o.query_batch) {
            std::size_t n = std::min(o.query_batch, nq - first);
            std::vector<query::search_request> reqs(n);
            for (std::size_t j = 0; j < n; ++j) {
                reqs[j].vector.assign(data.queries.row(first + j), data.queries.row(first + j) + d);
                reqs[j].top_k = o.k;
                reqs[j].nprobe = nprobe;
                reqs[j].recall_target = target;
                reqs[j].refine = o.refine;
            }
            auto t = clock_type::now();
            auto r = test::search_batch(db, name, std::move(reqs));
            call_ms.push_back(seconds_since(t) * 1e3);
            if (!r) {
                std::fprintf(stderr, "puffer-bench: batch search: %s\n", r.error().text().c_str());
                std::exit(1);
            }
            for (std::size_t j = 0; j < n; ++j) {
                const auto& res = r->results[j];
                scanned += res.stats.vectors_scanned;
                budget = res.stats.nprobe;
                if (rep == 0) {
                    std::vector<std::int64_t> found;
                    for (const auto& h : res.hits) {
                        found.push_back(std::stoll(h.id));
                    }
                    recalls[first + j] = recall_of(data, first + j, found, o.k);
                }
            }
        }
    }
    double wall = seconds_since(start);
    sweep_row row;
    row.mode = "batch";
    row.nprobe = target > 0 ? budget : nprobe;
    for (double r : recalls) {
        row.recall += r;
    }
    row.recall /= static_cast<double>(nq);
    row.qps = static_cast<double>(nq * o.repeat) / wall;
    row.p50_ms = percentile(call_ms, 50);
    row.p99_ms = percentile(call_ms, 99);
    row.vectors_scanned = static_cast<double>(scanned) / static_cast<double>(nq * o.repeat);
    row.scan_bytes_per_query = row.vectors_scanned * static_cast<double>(d) * 4;
    row.disk_bytes_per_query = 0;
    row.disk_mb_per_s = 0;
    return row;
}

int run_engine(const dataset& data, metric m, const options& o)
{
    const std::size_t d = data.base.dimension;
    const std::string name = "bench";
    db::database_options dbo;
    dbo.data_dir = o.data_dir;
    dbo.shards = o.shards;
    dbo.pin_shards = std::getenv("PUFFER_PIN") != nullptr;
    dbo.cache_bytes = o.cache_mb << 20;
    if (o.flush_threshold == 0) {
        dbo.collection.flush_threshold_vectors = data.base.rows + 1;  // one explicit flush
        dbo.collection.idle_flush_ms = 0;
        dbo.collection.staging_vectors_max = data.base.rows + 1;
    } else {
        dbo.collection.flush_threshold_vectors = o.flush_threshold;
        dbo.collection.staging_vectors_max =
            o.staging_max != 0 ? o.staging_max : std::max<std::size_t>(o.flush_threshold * 10, 200000);
    }
    dbo.collection.cluster_count = o.nlist;
    dbo.collection.mode = o.io_mode == "mmap" ? collection::io_mode::mmap : collection::io_mode::direct;
    if (o.build_threads != 0) {
        dbo.background_threads = o.build_threads;
    }
    auto opened = db::database::open(dbo);
    if (!opened) {
        std::fprintf(stderr, "puffer-bench: %s\n", opened.error().text().c_str());
        return 1;
    }
    db::database& db = **opened;
    // --reuse: a collection loaded by an earlier run with the same base set is searched as it is.
    auto existing = o.reuse ? test::stats(db, name) : result<collection::collection_stats>(make_error(errc::not_found, ""));
    bool reused = existing && existing->info.points == data.base.rows && existing->staging_vectors == 0;
    if (!reused) {
        (void)test::drop(db, name);
        collection::create_settings settings;
        settings.quantization = *index::parse_quantization(o.quantization);
        if (auto s = test::create(db, name, d, m, std::move(settings)); !s) {
            std::fprintf(stderr, "puffer-bench: %s\n", s.error().text().c_str());
            return 1;
        }
    }

    // Load: batches of o.batch, write_concurrency batches in flight; each acknowledged only once
    // its WAL group is fdatasync'd.
    auto t0 = clock_type::now();
    std::atomic<std::size_t> next_batch{0};
    std::atomic<bool> load_failed{false};
    std::size_t batches = reused ? 0 : (data.base.rows + o.batch - 1) / o.batch;
    auto loader = [&] {
        for (;;) {
            std::size_t b = next_batch.fetch_add(1);
            if (b >= batches || load_failed.load()) {
                return;
            }
            std::size_t first = b * o.batch;
            std::size_t n = std::min(o.batch, data.base.rows - first);
            point_batch batch;
            batch.dimension = d;
            batch.ids.reserve(n);
            for (std::size_t i = first; i < first + n; ++i) {
                batch.ids.push_back(std::to_string(i));
            }
            batch.vectors.assign(data.base.row(first), data.base.row(first) + n * d);
            for (;;) {
                auto s = test::upsert(db, name, batch);
                if (s) {
                    break;
                }
                if (s.error().code == make_error_code(errc::busy)) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // staging full: wait
                    continue;
                }
                std::fprintf(stderr, "puffer-bench: insert: %s\n", s.error().text().c_str());
                load_failed = true;
                break;
            }
        }
    };
    std::vector<std::thread> writers;
    for (std::size_t w = 1; w < o.write_concurrency; ++w) {
        writers.emplace_back(loader);
    }
    loader();
    for (auto& w : writers) {
        w.join();
    }
    if (load_failed) {
        return 1;
    }
    double load_s = seconds_since(t0);
    auto t1 = clock_type::now();
    if (auto s = test::flush(db, name); !s) {
        std::fprintf(stderr, "puffer-bench: flush: %s\n", s.error().text().c_str());
        return 1;
    }
    // Automatic flushes leave compactions behind them: wait until the collection is settled.
    for (;;) {
        auto st = test::stats(db, name);
        if (!st || (!st->flushing && !st->compacting)) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    double flush_s = seconds_since(t1);
    auto st = test::stats(db, name);
    if (st && !o.json) {
        std::printf("collection: %zu segments, %zu centroid tables, %zu clusters in the current one, %llu flushes, "
                    "%llu compactions (%llu retrains)\n",
                    st->segments, st->centroid_tables, st->clusters, static_cast<unsigned long long>(st->flushes),
                    static_cast<unsigned long long>(st->compactions), static_cast<unsigned long long>(st->retrains));
    }
    std::size_t wal_groups = st ? st->wal_groups : 0;
    if (o.json) {
        std::printf("{\"base\":%zu,\"dimension\":%zu,\"queries\":%zu,\"io\":\"%s\",\"insert_vectors_per_s\":%.0f,"
                    "\"batch\":%zu,\"write_concurrency\":%zu,\"wal_groups\":%zu,\"flush_s\":%.2f,\"segment_bytes\":%llu}\n",
                    data.base.rows, d, data.queries.rows, db.io_backend(), static_cast<double>(data.base.rows) / load_s,
                    o.batch, o.write_concurrency, wal_groups, flush_s,
                    static_cast<unsigned long long>(st ? st->segment_bytes : 0));
    } else {
        std::printf("base %zux%zu, queries %zu, io %s (%s), shards %zu\n", data.base.rows, d, data.queries.rows,
                    db.io_backend(), o.io_mode.c_str(), o.shards);
        std::printf("insert: %.0f vectors/s (batches of %zu, %zu in flight, %zu fdatasync'd WAL groups); "
                    "flush (train+assign+write) %.2f s; segment %.1f MB\n",
                    static_cast<double>(data.base.rows) / load_s, o.batch, o.write_concurrency, wal_groups, flush_s,
                    st ? static_cast<double>(st->segment_bytes) / 1e6 : 0.0);
    }
    print_header(o.json, true);
    // A sweep over nprobe, or over recall targets (then the nprobe column is the budget the
    // planner chose, and "target" rows are printed).
    std::vector<std::pair<std::size_t, double>> points;
    if (!o.recall_targets.empty()) {
        std::stringstream in(o.recall_targets);
        std::string item;
        while (std::getline(in, item, ',')) {
            points.emplace_back(0, std::stod(item));
        }
    } else {
        for (std::size_t nprobe : parse_list(o.nprobe_list)) {
            points.emplace_back(nprobe, 0.0);
        }
    }
    for (auto [nprobe, target] : points) {
        std::atomic<std::size_t> budget{0};
        std::atomic<double> expected{-1};
        auto one = [&, nprobe = nprobe, target = target](std::size_t qi, std::vector<std::int64_t>& found,
                                                         std::uint64_t& scanned, std::uint64_t& disk) {
            query::search_request req;
            req.vector.assign(data.queries.row(qi), data.queries.row(qi) + d);
            req.top_k = o.k;
            req.nprobe = nprobe;
            req.recall_target = target;
            req.refine = o.refine;
            auto r = test::search(db, name, std::move(req));
            if (r) {
                budget = r->stats.nprobe;
                expected = r->stats.expected_recall;
            }
            if (!r) {
                std::fprintf(stderr, "puffer-bench: search: %s\n", r.error().text().c_str());
                std::exit(1);
            }
            for (const auto& h : r->hits) {
                found.push_back(std::stoll(h.id));
            }
            scanned = r->stats.vectors_scanned;
            disk = r->stats.bytes_read;
        };
        if (!o.warm_only) {
            // Cold: the cache is emptied before every query, so each one reads all its clusters
            // from disk (O_DIRECT through io_uring in direct mode).
            sweep_row cold = sweep(data, o, nprobe, one, [&db] { test::clear_caches(db); });
            cold.mode = "cold";
            cold.scan_bytes_per_query = cold.vectors_scanned * static_cast<double>(d) * 4;
            print_row(cold, o.json, true);
        }
        if (!o.cold_only) {
            options warmup = o;
            warmup.repeat = 1;
            (void)sweep(data, warmup, nprobe, one);  // fill the cache
            sweep_row warm = sweep(data, o, nprobe, one);
            warm.mode = "warm";
            if (target > 0) {
                warm.nprobe = budget.load();
                if (!o.json) {
                    std::printf("target %.3f: budget nprobe %zu, expected recall %.4f\n", target, budget.load(),
                                expected.load());
                }
            }
            warm.scan_bytes_per_query = warm.vectors_scanned * static_cast<double>(d) * 4;
            print_row(warm, o.json, true);
            if (o.query_batch > 0) {
                print_row(batch_sweep(db, name, data, o, nprobe, target), o.json, true);
            }
        }
    }
    return 0;
}

// The engine's read path alone, on an existing segment: random clusters read as their aligned
// O_DIRECT extents through the io_uring ring with queue_depth reads in flight, each verified
// against its crc32c, as a search's cluster reads are. Prints MB/s and the extent sizes, for
// scripts/fio/compare.sh to set fio's block size and queue depth.
int run_read_path(const options& o)
{
    auto reader = format::segment_reader::open(io::posix_env(), o.read_path, std::nullopt);
    if (!reader) {
        std::fprintf(stderr, "puffer-bench: %s\n", reader.error().text().c_str());
        return 1;
    }
    auto file = io::posix_env().open(o.read_path, io::open_mode::read_direct);
    auto ring = io::make_uring_ring(io::uring_options{static_cast<unsigned>(std::max<std::size_t>(o.queue_depth * 2, 64)), 0});
    if (!file || !ring) {
        std::fprintf(stderr, "puffer-bench: %s\n", (!file ? file.error() : ring.error()).message().c_str());
        return 1;
    }
    constexpr std::size_t alignment = 4096;
    std::vector<std::size_t> clusters;
    std::vector<std::uint64_t> extents;
    std::uint64_t extent_total = 0;
    for (std::size_t c = 0; c < reader->cluster_count(); ++c) {
        if (reader->cluster_length(c) == 0) {
            continue;
        }
        clusters.push_back(c);
        auto r = reader->cluster_range(c);
        extents.push_back(align_up(r.offset_bytes + r.size_bytes, alignment) - align_down(r.offset_bytes, alignment));
        extent_total += extents.back();
    }
    // The extent sizes as a fio bssplit: 25 equally likely quantiles (4% each), equal sizes merged.
    std::sort(extents.begin(), extents.end());
    std::vector<std::pair<std::uint64_t, int>> split;
    for (int q = 0; q < 25; ++q) {
        std::uint64_t size = extents[std::min(extents.size() - 1, (extents.size() * (2 * static_cast<std::size_t>(q) + 1)) / 50)];
        if (!split.empty() && split.back().first == size) {
            split.back().second += 4;
        } else {
            split.emplace_back(size, 4);
        }
    }
    std::string bssplit;
    for (const auto& [size, percent] : split) {
        bssplit += (bssplit.empty() ? "" : ":") + std::to_string(size) + "/" + std::to_string(percent);
    }
    struct slot {
        std::byte* buffer = nullptr;
        std::size_t cluster = 0;
        std::size_t data_offset = 0;
    };
    // Twice as many buffers as reads in flight: as in the engine, where each cluster read has
    // its own buffer, the next read is on its way before the finished one is verified. Free
    // buffers are reused oldest first, as the cache reuses its least recently used slots.
    std::vector<slot> slots(o.queue_depth * 2);
    std::deque<std::size_t> free_slots;
    for (std::size_t i = o.queue_depth; i < slots.size(); ++i) {
        free_slots.push_back(i);
    }
    std::mt19937_64 rng(1);
    auto submit = [&](std::size_t i) {
        slot& s = slots[i];
        s.cluster = clusters[rng() % clusters.size()];
        auto r = reader->cluster_range(s.cluster);
        std::uint64_t begin = align_down(r.offset_bytes, alignment);
        std::uint64_t end = align_up(r.offset_bytes + r.size_bytes, alignment);
        if (o.fixed_bs != 0) {
            // Calibration: fio's pattern exactly (fixed size, random aligned offset, no verify).
            std::uint64_t vectors_begin = reader->header().offset_of(format::section::vectors);
            std::uint64_t span = (reader->header().offset_of(format::section::id_table) - vectors_begin - o.fixed_bs) / alignment;
            begin = vectors_begin + (rng() % span) * alignment;
            end = begin + o.fixed_bs;
        }
        s.data_offset = r.offset_bytes - begin;
        (*ring)->submit_read((*file)->fd(), begin, std::span(s.buffer, end - begin), i);
    };
    // The buffers come from one arena registered with the ring, as a shard's cluster reads do
    // (huge pages where the kernel gives them, one fixed-buffer region).
    std::size_t slot_bytes = align_up(std::max<std::size_t>(*std::max_element(extents.begin(), extents.end()), o.fixed_bs), alignment);
    query::buffer_arena arena(slot_bytes * slots.size(), alignment);
    for (auto& s : slots) {
        s.buffer = arena.allocate(slot_bytes);
    }
    std::vector<std::span<std::byte>> regions{std::span(arena.base(), arena.capacity_bytes())};
    bool fixed = std::getenv("PUFFER_NO_FIXED") == nullptr && (*ring)->register_buffers(regions);
    for (std::size_t i = 0; i < o.queue_depth; ++i) {
        submit(i);
    }
    std::uint64_t bytes = 0;
    std::uint64_t reads = 0;
    auto start = clock_type::now();
    io::completion done[64];
    while (seconds_since(start) < o.seconds) {
        std::size_t n = (*ring)->reap(done, true);
        for (std::size_t k = 0; k < n; ++k) {
            if (done[k].result < 0) {
                std::fprintf(stderr, "puffer-bench: read failed: %s\n", std::strerror(static_cast<int>(-done[k].result)));
                return 1;
            }
            std::size_t next = free_slots.front();
            free_slots.pop_front();
            submit(next);
        }
        (*ring)->submit();
        for (std::size_t k = 0; k < n; ++k) {
            slot& s = slots[done[k].tag];
            if (o.fixed_bs == 0) {
                if (auto v = reader->verify_cluster(s.cluster, s.buffer + s.data_offset); !v) {
                    std::fprintf(stderr, "puffer-bench: %s\n", v.error().text().c_str());
                    return 1;
                }
            }
            bytes += static_cast<std::uint64_t>(done[k].result);
            ++reads;
            free_slots.push_back(done[k].tag);
        }
    }
    double wall = seconds_since(start);
    double mean_extent = static_cast<double>(extent_total) / static_cast<double>(clusters.size());
    if (o.json) {
        std::printf("{\"file\":\"%s\",\"clusters\":%zu,\"mean_extent_bytes\":%.0f,\"bssplit\":\"%s\",\"queue_depth\":%zu,"
                    "\"reads\":%llu,\"mb_per_s\":%.1f,\"reads_per_s\":%.0f}\n",
                    o.read_path.c_str(), clusters.size(), mean_extent, bssplit.c_str(), o.queue_depth,
                    static_cast<unsigned long long>(reads), static_cast<double>(bytes) / wall / 1e6,
                    static_cast<double>(reads) / wall);
    } else {
        std::printf("engine read path: %s, %zu clusters, mean extent %.0f bytes, queue depth %zu%s: %.1f MB/s "
                    "(%.0f reads/s, crc32c verified)\n",
                    o.read_path.c_str(), clusters.size(), mean_extent, o.queue_depth, fixed ? ", registered buffers" : "",
                    static_cast<double>(bytes) / wall / 1e6, static_cast<double>(reads) / wall);
    }
    return 0;
}

int run(const options& o)
{
    if (!o.read_path.empty()) {
        return run_read_path(o);
    }
    if (o.base.empty() || o.queries.empty() || o.groundtruth.empty()) {
        std::fprintf(stderr, "puffer-bench: --base, --queries and --groundtruth are required\n");
        return 2;
    }
    auto m = parse_metric(o.metric_name);
    if (!m) {
        std::fprintf(stderr, "puffer-bench: unknown metric '%s' (l2, cosine, ip)\n", o.metric_name.c_str());
        return 2;
    }
    auto base = format::read_fvecs(o.base, o.limit);
    auto queries = format::read_fvecs(o.queries);
    auto truth = format::read_ivecs(o.groundtruth);
    for (const error& e : {base.has_error() ? base.error() : error{}, queries.has_error() ? queries.error() : error{},
                           truth.has_error() ? truth.error() : error{}}) {
        if (e.code) {
            std::fprintf(stderr, "puffer-bench: %s\n", e.message().c_str());
            return 1;
        }
    }
    if (base->dimension != queries->dimension || truth->rows < queries->rows || truth->dimension < o.k) {
        std::fprintf(stderr, "puffer-bench: base, queries and ground truth do not match\n");
        return 1;
    }
    dataset data{std::move(*base), std::move(*queries), std::move(*truth)};
    if (o.engine) {
        if (o.data_dir.empty()) {
            std::fprintf(stderr, "puffer-bench: --engine needs --data-dir\n");
            return 2;
        }
        return run_engine(data, *m, o);
    }
    return run_memory(data, *m, o);
}

}  // namespace

int main(int argc, char** argv)
{
    options o;
    po::options_description desc(
        "puffer-bench: IVF-Flat recall@10 / QPS / latency sweep over nprobe on .fvecs/.ivecs data");
    desc.add_options()
        ("help,h", "show this help")
        ("base", po::value(&o.base), "base vectors (.fvecs)")
        ("queries", po::value(&o.queries), "query vectors (.fvecs)")
        ("groundtruth", po::value(&o.groundtruth), "exact neighbours (.ivecs; row numbers of the base)")
        ("metric", po::value(&o.metric_name)->default_value("l2"), "l2 | cosine | ip")
        ("nlist", po::value(&o.nlist)->default_value(0), "clusters (0: round(4*sqrt(n)))")
        ("nprobe", po::value(&o.nprobe_list)->default_value("1,2,4,8,16,32,64"), "comma-separated nprobe values")
        ("threads", po::value(&o.threads)->default_value(1), "query threads (one query per call each)")
        ("build-threads", po::value(&o.build_threads)->default_value(0), "threads for the build (0: all cores)")
        ("k", po::value(&o.k)->default_value(10), "neighbours per query")
        ("repeat", po::value(&o.repeat)->default_value(1), "run the query set this many times per nprobe")
        ("limit", po::value(&o.limit)->default_value(0), "use only the first N base vectors (0: all)")
        ("json", po::bool_switch(&o.json), "one JSON object per line")
        ("engine", po::bool_switch(&o.engine), "go through the storage engine (needs --data-dir)")
        ("data-dir", po::value(&o.data_dir), "engine mode: data directory (collection 'bench' is recreated)")
        ("batch", po::value(&o.batch)->default_value(1000), "engine mode: vectors per insert batch")
        ("write-concurrency", po::value(&o.write_concurrency)->default_value(1), "engine mode: insert batches in flight")
        ("shards", po::value(&o.shards)->default_value(1), "engine mode: shard threads")
        ("cache-mb", po::value(&o.cache_mb)->default_value(4096), "engine mode: cluster cache budget")
        ("io-mode", po::value(&o.io_mode)->default_value("direct"), "engine mode: direct | mmap")
        ("warm-only", po::bool_switch(&o.warm_only), "engine mode: skip the cold runs")
        ("flush-threshold", po::value(&o.flush_threshold)->default_value(0),
         "engine mode: automatic flushes at this many staged rows, as the server does (0: one flush of everything)")
        ("staging-max", po::value(&o.staging_max)->default_value(0),
         "engine mode, with --flush-threshold: inserts wait while this many rows wait to be indexed, as a "
         "stream that indexing keeps up with (0: 10 x the threshold, at least 200000, as the server)")
        ("reuse", po::bool_switch(&o.reuse), "engine mode: search the collection an earlier run loaded into --data-dir")
        ("recall-targets", po::value(&o.recall_targets), "engine mode: comma-separated recall targets to sweep instead of nprobe")
        ("quantization", po::value(&o.quantization)->default_value("none"), "engine mode: none | sq8")
        ("refine", po::value(&o.refine)->default_value(0), "engine mode: candidates per result re-scored with floats (0: default)")
        ("query-batch", po::value(&o.query_batch)->default_value(0),
         "engine mode: after each warm run, the same queries this many per batch search call, on one thread")
        ("cold-only", po::bool_switch(&o.cold_only), "engine mode: skip the warm runs")
        ("read-path", po::value(&o.read_path), "read-path mode: random cluster reads from this segment file")
        ("queue-depth", po::value(&o.queue_depth)->default_value(32), "read-path mode: reads in flight")
        ("seconds", po::value(&o.seconds)->default_value(10), "read-path mode: duration")
        ("fixed-bs", po::value(&o.fixed_bs)->default_value(0), "read-path mode: read this many bytes at random aligned offsets instead of clusters (calibration against fio)");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help")) {
            std::cout << desc << "\n";
            return 0;
        }
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "puffer-bench: " << e.what() << "\n" << desc << "\n";
        return 2;
    }
    if (!index::parse_quantization(o.quantization)) {
        std::cerr << "puffer-bench: --quantization must be none or sq8\n";
        return 2;
    }
    log::set_level(log::level::warn);
    return run(o);
}
