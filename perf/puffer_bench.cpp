// puffer-bench: builds an IVF-Flat index over a base set and sweeps nprobe over the queries,
// printing recall@10, QPS, p50/p99 latency and vectors scanned per query for each nprobe.
// One query per call, single thread unless --threads says otherwise (then QPS is aggregate).
#include "engine/core/distance.hpp"
#include "engine/core/log.hpp"
#include "engine/core/thread_pool.hpp"
#include "engine/format/vecs_file.hpp"
#include "engine/index/ivf.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

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
    bool json = false;
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

double percentile(std::vector<double> v, double p)
{
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

struct sweep_row {
    std::size_t nprobe;
    double recall;
    double qps;
    double p50_ms;
    double p99_ms;
    double vectors_scanned;
    double bytes_per_query;
};

void print_row(const sweep_row& r, bool json)
{
    if (json) {
        std::printf("{\"nprobe\":%zu,\"recall_at_10\":%.4f,\"qps\":%.1f,\"p50_ms\":%.4f,\"p99_ms\":%.4f,"
                    "\"vectors_scanned\":%.1f,\"scan_gb_per_s\":%.2f}\n",
                    r.nprobe, r.recall, r.qps, r.p50_ms, r.p99_ms, r.vectors_scanned,
                    r.bytes_per_query * r.qps / 1e9);
    } else {
        std::printf("%7zu %9.4f %10.1f %8.3f %8.3f %12.0f %9.2f\n", r.nprobe, r.recall, r.qps, r.p50_ms,
                    r.p99_ms, r.vectors_scanned, r.bytes_per_query * r.qps / 1e9);
    }
    std::fflush(stdout);
}

int run(const options& o)
{
    auto m = parse_metric(o.metric_name);
    if (!m) {
        std::fprintf(stderr, "puffer-bench: unknown metric '%s' (l2, cosine, ip)\n", o.metric_name.c_str());
        return 2;
    }
    auto base = format::read_fvecs(o.base);
    auto queries = format::read_fvecs(o.queries);
    auto truth = format::read_ivecs(o.groundtruth);
    for (const error& e : {base.has_error() ? base.error() : error{},
                           queries.has_error() ? queries.error() : error{},
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
    const std::size_t d = base->dimension;
    const std::size_t nq = queries->rows;
    std::size_t build_threads = o.build_threads != 0 ? o.build_threads : std::thread::hardware_concurrency();
    thread_pool pool(build_threads > 1 ? build_threads - 1 : 0);

    index::ivf_options io;
    io.cluster_count = o.nlist;
    auto t0 = clock_type::now();
    auto idx = index::ivf_index::build(*m, base->data.data(), base->rows, d, io, &pool);
    double build_s = seconds_since(t0);
    std::size_t list_min = base->rows;
    std::size_t list_max = 0;
    for (std::size_t c = 0; c < idx.cluster_count(); ++c) {
        std::size_t len = idx.layout().cluster_offsets[c + 1] - idx.layout().cluster_offsets[c];
        list_min = std::min(list_min, len);
        list_max = std::max(list_max, len);
    }
    if (o.json) {
        std::printf("{\"base\":%zu,\"dimension\":%zu,\"queries\":%zu,\"nlist\":%zu,\"build_s\":%.3f,"
                    "\"build_threads\":%zu,\"simd\":\"%s\",\"list_min\":%zu,\"list_max\":%zu}\n",
                    base->rows, d, nq, idx.cluster_count(), build_s, build_threads,
                    std::string(simd::to_string(simd::active().simd_level)).c_str(), list_min, list_max);
    } else {
        std::printf("base %zux%zu, queries %zu, nlist %zu, simd %s, build (train+assign, %zu threads) "
                    "%.2f s, list sizes min/max %zu/%zu\n",
                    base->rows, d, nq, idx.cluster_count(),
                    std::string(simd::to_string(simd::active().simd_level)).c_str(), build_threads,
                    build_s, list_min, list_max);
        std::printf("%7s %9s %10s %8s %8s %12s %9s\n", "nprobe", "recall@10", "QPS", "p50 ms", "p99 ms",
                    "vec/query", "GB/s");
    }

    for (std::size_t nprobe : parse_list(o.nprobe_list)) {
        std::vector<double> latencies_ms(nq * o.repeat);
        std::vector<std::vector<scored<std::uint64_t>>> results(nq);
        std::atomic<std::size_t> scanned_total{0};
        std::atomic<std::size_t> next{0};
        std::size_t total = nq * o.repeat;
        auto worker = [&] {
            std::size_t scanned = 0;
            for (;;) {
                std::size_t i = next.fetch_add(1);
                if (i >= total) {
                    break;
                }
                std::size_t qi = i % nq;
                index::ivf_index::search_stats stats;
                auto t = clock_type::now();
                auto r = idx.search(queries->row(qi), o.k, nprobe, &stats);
                latencies_ms[i] = seconds_since(t) * 1e3;
                scanned += stats.vectors_scanned;
                if (i < nq) {
                    results[qi] = std::move(r);
                }
            }
            scanned_total += scanned;
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
        std::size_t hits = 0;
        for (std::size_t qi = 0; qi < nq; ++qi) {
            std::set<std::int32_t> want(truth->row(qi), truth->row(qi) + o.k);
            for (auto& r : results[qi]) {
                hits += want.count(static_cast<std::int32_t>(r.key));
            }
        }
        sweep_row row;
        row.nprobe = nprobe;
        row.recall = static_cast<double>(hits) / static_cast<double>(nq * o.k);
        row.qps = static_cast<double>(total) / wall;
        row.p50_ms = percentile(latencies_ms, 50);
        row.p99_ms = percentile(latencies_ms, 99);
        row.vectors_scanned = static_cast<double>(scanned_total.load()) / static_cast<double>(total);
        row.bytes_per_query = (row.vectors_scanned + static_cast<double>(idx.cluster_count())) *
                              static_cast<double>(d) * 4;
        print_row(row, o.json);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    options o;
    po::options_description desc(
        "puffer-bench: IVF-Flat recall@10 / QPS / latency sweep over nprobe on .fvecs/.ivecs data");
    desc.add_options()
        ("help,h", "show this help")
        ("base", po::value(&o.base)->required(), "base vectors (.fvecs)")
        ("queries", po::value(&o.queries)->required(), "query vectors (.fvecs)")
        ("groundtruth", po::value(&o.groundtruth)->required(), "exact neighbours (.ivecs)")
        ("metric", po::value(&o.metric_name)->default_value("l2"), "l2 | cosine | ip")
        ("nlist", po::value(&o.nlist)->default_value(0), "clusters (0: round(4*sqrt(n)))")
        ("nprobe", po::value(&o.nprobe_list)->default_value("1,2,4,8,16,32,64"), "comma-separated nprobe values")
        ("threads", po::value(&o.threads)->default_value(1), "query threads (one query per call each)")
        ("build-threads", po::value(&o.build_threads)->default_value(0), "threads for the build (0: all cores)")
        ("k", po::value(&o.k)->default_value(10), "neighbours per query")
        ("repeat", po::value(&o.repeat)->default_value(1), "run the query set this many times per nprobe")
        ("json", po::bool_switch(&o.json), "one JSON object per line");
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
    return run(o);
}
