#include "apps/puffer_cli/commands.hpp"

#include "apps/puffer_cli/request_bodies.hpp"
#include "engine/core/log.hpp"
#include "engine/core/stats.hpp"
#include "engine/format/manifest_codec.hpp"
#include "engine/format/segment_reader.hpp"
#include "engine/format/vecs_file.hpp"
#include "engine/io/env.hpp"
#include "engine/wal/wal_format.hpp"
#include "net/http_client.hpp"

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unistd.h>

namespace po = boost::program_options;
namespace json = boost::json;
using clock_type = std::chrono::steady_clock;

namespace puffer::cli {
namespace {

// Parses a command's options; returns false (after printing) on --help or a usage error, with
// exit_code set accordingly.
bool parse(const std::vector<std::string>& args, po::options_description& desc, po::variables_map& vm, int& exit_code,
           const po::positional_options_description* positional = nullptr)
{
    desc.add_options()("help,h", "show this help");
    try {
        auto parser = po::command_line_parser(args).options(desc);
        if (positional != nullptr) {
            parser.positional(*positional);
        }
        po::store(parser.run(), vm);
        if (vm.count("help")) {
            std::cout << desc << "\n";
            exit_code = 0;
            return false;
        }
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "puffer-cli: " << e.what() << "\n" << desc << "\n";
        exit_code = 2;
        return false;
    }
    return true;
}

// timeout: for one answer. Flushes and compactions answer when an index build is done, which
// takes minutes for large collections (and much longer under a sanitizer).
result<net::http_client> client_for(const common& c, std::chrono::milliseconds timeout = std::chrono::seconds(60))
{
    PUFFER_TRY_ASSIGN(auto address, net::parse_server_url(c.server));
    net::http_client client(address, timeout);
    client.set_api_key(c.api_key);
    client.set_ca_file(c.ca_file);
    return client;
}

// Explains a failed call: the server's error envelope, or the transport error.
void report(const result<net::client_response>& r)
{
    if (!r) {
        std::fprintf(stderr, "puffer-cli: %s\n", r.error().text().c_str());
        return;
    }
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    const json::object* e = nullptr;
    if (!ec && v.is_object()) {
        if (const json::value* inner = v.get_object().if_contains("error")) {
            e = inner->if_object();
        }
    }
    if (e != nullptr && e->if_contains("message") != nullptr && (*e).at("message").is_string()) {
        std::string code = e->if_contains("code") && e->at("code").is_string() ? std::string(e->at("code").get_string()) : "error";
        std::fprintf(stderr, "puffer-cli: %s (HTTP %u %s)\n", std::string(e->at("message").get_string()).c_str(),
                     r->status, code.c_str());
    } else {
        std::fprintf(stderr, "puffer-cli: HTTP %u: %s\n", r->status, r->body.substr(0, 500).c_str());
    }
}

bool ok_status(const result<net::client_response>& r)
{
    return r && r->status >= 200 && r->status < 300;
}

// One call; prints the error and returns false on failure.
bool call(net::http_client& client, std::string_view method, std::string_view target, std::string_view body,
          std::string* response_body = nullptr)
{
    auto r = client.request(method, target, body);
    if (!ok_status(r)) {
        report(r);
        return false;
    }
    if (response_body != nullptr) {
        *response_body = std::move(r->body);
    }
    return true;
}

std::string pretty(const json::value& v, int indent = 0)
{
    std::string pad(static_cast<std::size_t>(indent), ' ');
    if (v.is_object()) {
        std::string out = "{\n";
        bool first = true;
        for (const auto& kv : v.get_object()) {
            out += first ? "" : ",\n";
            first = false;
            out += pad + "  " + json::serialize(json::string(kv.key())) + ": " + pretty(kv.value(), indent + 2);
        }
        return out + "\n" + pad + "}";
    }
    return json::serialize(v);
}

std::string collection_path(const std::string& name, std::string_view leaf = {})
{
    std::string p = "/v1/collections/" + name;
    if (!leaf.empty()) {
        p += "/";
        p += leaf;
    }
    return p;
}

std::string with_commas(double value)
{
    auto n = static_cast<long long>(std::llround(value));
    std::string digits = std::to_string(n < 0 ? -n : n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i != 0 && (digits.size() - i) % 3 == 0) {
            out += ',';
        }
        out += digits[i];
    }
    return (n < 0 ? "-" : "") + out;
}

// Progress bar on a terminal (stderr), nothing otherwise.
class progress {
public:
    progress(std::size_t total, const char* unit) : total_(total), unit_(unit), tty_(::isatty(STDERR_FILENO) != 0)
    {
        if (tty_) {
            thread_ = std::thread([this] {
                while (!done_.load()) {
                    draw();
                    std::this_thread::sleep_for(std::chrono::milliseconds(200));
                }
            });
        }
    }
    ~progress() { finish(); }
    void add(std::size_t n) { done_count_ += n; }
    void finish()
    {
        if (done_.exchange(true)) {
            return;
        }
        if (thread_.joinable()) {
            thread_.join();
            draw();
            std::fputc('\n', stderr);
        }
    }

private:
    void draw()
    {
        std::size_t done = done_count_.load();
        double elapsed = std::chrono::duration<double>(clock_type::now() - start_).count();
        double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
        double eta = rate > 0 ? static_cast<double>(total_ - std::min(done, total_)) / rate : 0;
        constexpr int width = 30;
        int filled = total_ > 0 ? static_cast<int>(width * static_cast<double>(done) / static_cast<double>(total_)) : width;
        std::string bar(static_cast<std::size_t>(filled), '=');
        if (filled < width) {
            bar += '>';
            bar += std::string(static_cast<std::size_t>(width - filled - 1), ' ');
        }
        std::fprintf(stderr, "\r[%s] %s/%s %s  %s %s/s  ETA %.0fs   ", bar.c_str(), with_commas(static_cast<double>(done)).c_str(),
                     with_commas(static_cast<double>(total_)).c_str(), unit_,
                     with_commas(rate).c_str(), unit_, eta);
        std::fflush(stderr);
    }

    std::size_t total_;
    const char* unit_;
    bool tty_;
    std::atomic<std::size_t> done_count_{0};
    std::atomic<bool> done_{false};
    clock_type::time_point start_ = clock_type::now();
    std::thread thread_;
};

// Runs `batches` jobs over `concurrency` threads, each with its own connection; job(client, i)
// returns false to stop everyone. Returns false if any job failed.
template <class Job>
bool run_parallel(const common& c, std::size_t batches, std::size_t concurrency, Job job)
{
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    auto worker = [&] {
        auto client = client_for(c);
        if (!client) {
            std::fprintf(stderr, "puffer-cli: %s\n", client.error().text().c_str());
            failed = true;
            return;
        }
        for (;;) {
            std::size_t i = next.fetch_add(1);
            if (i >= batches || failed.load()) {
                return;
            }
            if (!job(*client, i)) {
                failed = true;
                return;
            }
        }
    };
    std::vector<std::thread> threads;
    for (std::size_t t = 1; t < std::max<std::size_t>(1, concurrency); ++t) {
        threads.emplace_back(worker);
    }
    worker();
    for (auto& t : threads) {
        t.join();
    }
    return !failed.load();
}

// How long an upload keeps resending one batch that the server answers 503.
constexpr auto busy_wait_max = std::chrono::minutes(10);

// Sends n points in batches over `concurrency` connections; body(first, count) makes the
// request body for points [first, first + count). Prints "<what> N <unit> ... /s".
template <class Body>
int upload(const common& c, const std::string& collection, std::size_t n, std::size_t batch_size,
           std::size_t concurrency, Body body, const char* what, const std::string& unit)
{
    batch_size = std::max<std::size_t>(1, batch_size);
    std::size_t batches = (n + batch_size - 1) / batch_size;
    std::string target = collection_path(collection, "points");
    progress bar(n, "points");
    auto start = clock_type::now();
    std::atomic<bool> told_busy{false};
    bool ok = run_parallel(c, batches, concurrency, [&](net::http_client& client, std::size_t b) {
        std::size_t first = b * batch_size;
        std::size_t count = std::min(batch_size, n - first);
        std::string request = body(first, count);
        // 503 busy (staging full while flushes catch up, a shard's queue full): wait as long as
        // the server asks (Retry-After), longer each time it asks again, and send the batch again.
        auto backoff = std::chrono::milliseconds(0);
        for (auto waited = std::chrono::milliseconds(0);;) {
            auto r = client.request("POST", target, request);
            if (ok_status(r)) {
                break;
            }
            if (!r || r->status != 503 || waited > busy_wait_max) {
                report(r);
                return false;
            }
            long asked = std::atol(r->header("retry-after").c_str());
            backoff = std::clamp(backoff * 2, std::chrono::milliseconds(std::max(100L, asked * 1000)),
                                 std::chrono::milliseconds(5000));
            if (!told_busy.exchange(true)) {
                std::fprintf(stderr, "puffer-cli: the server is busy indexing; waiting and resending\n");
            }
            std::this_thread::sleep_for(backoff);
            waited += backoff;
        }
        bar.add(count);
        return true;
    });
    bar.finish();
    double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    if (!ok) {
        return 1;
    }
    std::printf("%s %s %s in %.2f s: %s %s/s\n", what, with_commas(static_cast<double>(n)).c_str(), unit.c_str(), seconds,
                with_commas(static_cast<double>(n) / seconds).c_str(), unit.substr(0, unit.find(' ')).c_str());
    return 0;
}

struct latency_report {
    std::size_t queries = 0;
    double seconds = 0;
    std::vector<double> latencies_ms;
};

void print_latency(const latency_report& r)
{
    std::printf("%zu queries in %.2f s: %s QPS; latency p50 %.3f ms, p95 %.3f ms, p99 %.3f ms\n", r.queries, r.seconds,
                with_commas(static_cast<double>(r.queries) / r.seconds).c_str(), percentile(r.latencies_ms, 50),
                percentile(r.latencies_ms, 95), percentile(r.latencies_ms, 99));
}

// .npy: a 2-D little-endian float32 array in C order.
result<format::matrix<float>> read_npy(const std::string& path)
{
    PUFFER_TRY_ASSIGN(std::string bytes, io::read_file(io::posix_env(), path));
    if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
        return make_error(errc::invalid_argument, path + ": not a .npy file");
    }
    std::size_t header_len = 0;
    std::size_t offset = 0;
    if (bytes[6] == 1) {
        header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
        offset = 10;
    } else {
        if (bytes.size() < 12) {
            return make_error(errc::invalid_argument, path + ": truncated .npy header");
        }
        header_len = 0;
        for (int i = 0; i < 4; ++i) {
            header_len |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[8 + static_cast<std::size_t>(i)])) << (8 * i);
        }
        offset = 12;
    }
    if (offset + header_len > bytes.size()) {
        return make_error(errc::invalid_argument, path + ": truncated .npy header");
    }
    std::string header = bytes.substr(offset, header_len);
    if (header.find("'descr': '<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos) {
        return make_error(errc::invalid_argument, path + ": only C-order little-endian float32 (<f4) arrays are supported");
    }
    auto shape_at = header.find("'shape': (");
    if (shape_at == std::string::npos) {
        return make_error(errc::invalid_argument, path + ": no shape in the .npy header");
    }
    std::size_t rows = 0;
    std::size_t cols = 0;
    if (std::sscanf(header.c_str() + shape_at, "'shape': (%zu, %zu)", &rows, &cols) != 2 || cols == 0) {
        return make_error(errc::invalid_argument, path + ": only 2-D arrays (rows, dimension) are supported");
    }
    std::size_t data_at = offset + header_len;
    if (bytes.size() - data_at < rows * cols * 4) {
        return make_error(errc::invalid_argument, path + ": file shorter than its shape");
    }
    format::matrix<float> m;
    m.rows = rows;
    m.dimension = cols;
    m.data.resize(rows * cols);
    std::memcpy(m.data.data(), bytes.data() + data_at, rows * cols * 4);
    return m;
}

bool ends_with(const std::string& s, std::string_view suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

namespace {

// "a,b,c" -> {"a", "b", "c"} (empty parts dropped).
std::vector<std::string> split_ids(const std::string& ids)
{
    std::vector<std::string> list;
    std::size_t i = 0;
    while (i <= ids.size()) {
        std::size_t j = ids.find(',', i);
        if (j == std::string::npos) {
            j = ids.size();
        }
        if (j > i) {
            list.push_back(ids.substr(i, j - i));
        }
        i = j + 1;
    }
    return list;
}

}  // namespace

int create_collection(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::size_t dimension = 0;
    std::string metric_name;
    std::string unindexed;
    std::string quantization;
    po::options_description desc("puffer-cli create-collection");
    desc.add_options()("name", po::value(&name)->required(), "collection name ([A-Za-z0-9_-], 1 to 64)")(
        "dimension", po::value(&dimension)->required(), "vector dimension")(
        "metric", po::value(&metric_name)->default_value("l2"), "l2, cosine or ip")(
        "unindexed-fields", po::value(&unindexed), "comma-separated payload fields not to index for filters")(
        "quantization", po::value(&quantization), "none, sq8 or rabitq (8-bit or 1-bit codes searched, then re-scored exactly)");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    auto client = client_for(c);
    if (!client) {
        std::fprintf(stderr, "puffer-cli: %s\n", client.error().text().c_str());
        return 2;
    }
    if (!call(*client, "POST", "/v1/collections", create_body(name, dimension, metric_name, split_ids(unindexed), quantization))) {
        return 1;
    }
    std::printf("created collection '%s' (dimension %zu, metric %s)\n", name.c_str(), dimension, metric_name.c_str());
    return 0;
}

int list_collections(const common& c, const std::vector<std::string>& args)
{
    po::options_description desc("puffer-cli list-collections");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    auto client = client_for(c);
    if (!client) {
        std::fprintf(stderr, "puffer-cli: %s\n", client.error().text().c_str());
        return 2;
    }
    std::string body;
    if (!call(*client, "GET", "/v1/collections", {}, &body)) {
        return 1;
    }
    json::value v = json::parse(body);
    const auto& list = v.at("collections").as_array();
    std::printf("%-32s %10s %8s %12s %8s\n", "NAME", "DIMENSION", "METRIC", "POINTS", "STATUS");
    for (const auto& e : list) {
        const auto& o = e.as_object();
        std::printf("%-32s %10lld %8s %12lld %8s\n", std::string(o.at("name").as_string()).c_str(),
                    static_cast<long long>(o.at("dimension").to_number<double>()),
                    std::string(o.at("metric").as_string()).c_str(),
                    static_cast<long long>(o.at("points").to_number<double>()),
                    std::string(o.at("status").as_string()).c_str());
    }
    if (list.empty()) {
        std::printf("(no collections)\n");
    }
    return 0;
}

namespace {
int simple_collection_call(const common& c, const std::vector<std::string>& args, const char* title, const char* option,
                           const char* method, std::string_view leaf, bool print_body, const char* done_message)
{
    std::string name;
    po::options_description desc(title);
    desc.add_options()(option, po::value(&name)->required(), "collection name");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    auto client = client_for(c, std::chrono::hours(1));
    if (!client) {
        std::fprintf(stderr, "puffer-cli: %s\n", client.error().text().c_str());
        return 2;
    }
    std::string body;
    std::string_view request_body = std::string_view(method) == "POST" ? std::string_view("{}") : std::string_view();
    if (!call(*client, method, collection_path(name, leaf), request_body, &body)) {
        return 1;
    }
    if (print_body) {
        std::printf("%s\n", pretty(json::parse(body)).c_str());
    } else {
        std::printf(done_message, name.c_str());
        std::printf("\n");
    }
    return 0;
}
}  // namespace

int delete_collection(const common& c, const std::vector<std::string>& args)
{
    return simple_collection_call(c, args, "puffer-cli delete-collection", "name", "DELETE", {}, false,
                                  "deleted collection '%s'");
}

int stats(const common& c, const std::vector<std::string>& args)
{
    return simple_collection_call(c, args, "puffer-cli stats", "collection", "GET", "stats", true, "");
}

int flush(const common& c, const std::vector<std::string>& args)
{
    return simple_collection_call(c, args, "puffer-cli flush", "collection", "POST", "flush", false,
                                  "flushed collection '%s' (staging is now an indexed segment)");
}

int compact(const common& c, const std::vector<std::string>& args)
{
    return simple_collection_call(c, args, "puffer-cli compact", "collection", "POST", "compact", false,
                                  "compacted collection '%s'");
}

int describe(const common& c, const std::vector<std::string>& args)
{
    return simple_collection_call(c, args, "puffer-cli describe", "collection", "GET", {}, true, "");
}

int load_random(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::size_t count = 0;
    std::size_t dimension = 0;
    std::size_t batch_size = 0;
    std::size_t concurrency = 0;
    std::uint64_t seed = 0;
    std::size_t start = 0;
    po::options_description desc("puffer-cli load-random: insert random vectors (uniform in [-1, 1))");
    desc.add_options()("collection", po::value(&name)->required(), "collection name")(
        "count", po::value(&count)->required(), "vectors to insert")(
        "dimension", po::value(&dimension)->required(), "vector dimension (must match the collection)")(
        "batch-size", po::value(&batch_size)->default_value(1000), "vectors per request")(
        "concurrency", po::value(&concurrency)->default_value(4), "requests in flight")(
        "seed", po::value(&seed)->default_value(42), "random seed")(
        "start", po::value(&start)->default_value(0), "first id number (ids are vec-<n>)");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    if (dimension == 0 || count == 0) {
        std::fprintf(stderr, "puffer-cli: --count and --dimension must be at least 1\n");
        return 2;
    }
    // Values k / 10000 for k uniform in [-10000, 10000): the same grid is sent as text.
    std::vector<std::int16_t> grid(count * dimension);
    std::mt19937_64 rng(seed);
    for (auto& k : grid) {
        k = static_cast<std::int16_t>(static_cast<int>(rng() % 20000) - 10000);
    }
    auto body = [&](std::size_t first, std::size_t n) {
        return grid_points_body(grid.data() + first * dimension, n, dimension, start + first);
    };
    return upload(c, name, count, batch_size, concurrency, body, "loaded",
                  "vectors (dimension " + std::to_string(dimension) + ")");
}

int search_random(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::size_t dimension = 0;
    std::size_t queries = 0;
    std::size_t top_k = 0;
    std::size_t nprobe = 0;
    std::size_t concurrency = 0;
    std::uint64_t seed = 0;
    po::options_description desc("puffer-cli search-random: random query vectors, reporting QPS and latency");
    desc.add_options()("collection", po::value(&name)->required(), "collection name")(
        "dimension", po::value(&dimension)->required(), "vector dimension")(
        "num-queries", po::value(&queries)->required(), "queries to run")(
        "top-k", po::value(&top_k)->default_value(10), "neighbours per query")(
        "nprobe", po::value(&nprobe)->default_value(0), "probe budget (0: server default)")(
        "concurrency", po::value(&concurrency)->default_value(1), "queries in flight")(
        "seed", po::value(&seed)->default_value(7), "random seed");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    std::vector<float> vectors(queries * dimension);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& v : vectors) {
        v = u(rng);
    }
    latency_report report;
    report.queries = queries;
    report.latencies_ms.resize(queries);
    std::string target = collection_path(name, "search");
    auto start = clock_type::now();
    bool ok = run_parallel(c, queries, concurrency, [&](net::http_client& client, std::size_t i) {
        std::string body = search_body(vectors.data() + i * dimension, dimension, search_options{top_k, nprobe, 0, false});
        auto t = clock_type::now();
        bool good = call(client, "POST", target, body);
        report.latencies_ms[i] = std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
        return good;
    });
    report.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    if (!ok) {
        return 1;
    }
    print_latency(report);
    return 0;
}

int search(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::string vector;
    std::size_t top_k = 0;
    std::size_t nprobe = 0;
    double recall_target = 0;
    bool include_payload = false;
    std::size_t refine = 0;
    po::options_description desc("puffer-cli search: one query, results as JSON");
    desc.add_options()("collection", po::value(&name)->required(), "collection name")(
        "vector", po::value(&vector)->required(), "query vector as a JSON array")(
        "top-k", po::value(&top_k)->default_value(10), "neighbours")(
        "nprobe", po::value(&nprobe)->default_value(0), "probe budget (0: server default)")(
        "recall-target", po::value(&recall_target)->default_value(0), "instead of --nprobe: the recall to reach (0.5-0.999)")(
        "include-payload", po::bool_switch(&include_payload), "return payloads")(
        "refine", po::value(&refine)->default_value(0),
        "a quantized collection: candidates per result re-scored with float vectors (1-64; 0: server default)");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    auto client = client_for(c);
    if (!client) {
        std::fprintf(stderr, "puffer-cli: %s\n", client.error().text().c_str());
        return 2;
    }
    search_options options{top_k, nprobe, recall_target, include_payload};
    options.refine = refine;
    std::string body = search_body(vector, options);
    std::string response;
    if (!call(*client, "POST", collection_path(name, "search"), body, &response)) {
        return 1;
    }
    std::printf("%s\n", response.c_str());
    return 0;
}

namespace {


// JSON text from the command line: false (message printed) when it does not parse.
bool check_json_option(const char* option, const std::string& text)
{
    std::string message;
    if (!valid_json(text, message)) {
        std::fprintf(stderr, "puffer-cli: --%s is not valid JSON: %s\n", option, message.c_str());
        return false;
    }
    return true;
}

// --ids or --filter, exactly one, and the filter's JSON parses: false (message printed) if not.
bool check_choice(const char* command, const std::string& ids, const std::string& filter)
{
    if (ids.empty() == filter.empty()) {
        std::fprintf(stderr, "puffer-cli %s: give --ids or --filter (one of the two)\n", command);
        return false;
    }
    return filter.empty() || check_json_option("filter", filter);
}

int print_call(const common& c, std::string_view method, const std::string& target, const std::string& body)
{
    auto client = client_for(c);
    if (!client) {
        std::fprintf(stderr, "puffer-cli: %s\n", client.error().text().c_str());
        return 2;
    }
    std::string response;
    if (!call(*client, method, target, body, &response)) {
        return 1;
    }
    std::printf("%s\n", response.c_str());
    return 0;
}

}  // namespace

int delete_points(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::string ids;
    std::string filter;
    po::options_description desc("puffer-cli delete-points: by ids, or every point a filter matches");
    desc.add_options()("collection", po::value(&name)->required(), "collection name")(
        "ids", po::value(&ids), "comma-separated ids")("filter", po::value(&filter), "a filter expression (JSON)");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    if (!check_choice("delete-points", ids, filter)) {
        return 2;
    }
    return print_call(c, "POST", collection_path(name, "points/delete"),
                      filter.empty() ? delete_body(split_ids(ids)) : delete_by_filter_body(filter));
}

int count_points(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::string filter;
    po::options_description desc("puffer-cli count: live points, or those a filter matches (exact)");
    desc.add_options()("collection", po::value(&name)->required(), "collection name")(
        "filter", po::value(&filter), "a filter expression (JSON)");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    if (!filter.empty() && !check_json_option("filter", filter)) {
        return 2;
    }
    return print_call(c, "POST", collection_path(name, "points/count"), count_body(filter));
}

int get_points(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::string ids;
    po::options_description desc("puffer-cli get: points by id");
    desc.add_options()("collection", po::value(&name)->required(), "collection name")(
        "ids", po::value(&ids)->required(), "comma-separated ids")("include-vector", "answer the vectors too");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    return print_call(c, "POST", collection_path(name, "points/get"), get_body(split_ids(ids), vm.count("include-vector") != 0));
}

int patch_payloads(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::string ids;
    std::string filter;
    std::string payload;
    po::options_description desc(
        "puffer-cli patch: set payload fields (null removes one) of points chosen by ids or a filter");
    desc.add_options()("collection", po::value(&name)->required(), "collection name")(
        "ids", po::value(&ids), "comma-separated ids")("filter", po::value(&filter), "a filter expression (JSON)")(
        "payload", po::value(&payload)->required(), "a JSON object")(
        "replace", "the payload becomes the one given, instead of a merge");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    if (!check_choice("patch", ids, filter) || !check_json_option("payload", payload)) {
        return 2;
    }
    return print_call(c, "POST", collection_path(name, "points/payload"),
                      patch_body(split_ids(ids), filter, payload, vm.count("replace") != 0));
}

int export_points(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::string filter;
    std::size_t page = 0;
    po::options_description desc(
        "puffer-cli export: every point (or those a filter matches) as JSON lines on stdout, one point object "
        "per line, in id order; 'import' of the file rebuilds them");
    desc.add_options()("collection", po::value(&name)->required(), "collection name")(
        "filter", po::value(&filter), "a filter expression (JSON)")(
        "page-size", po::value(&page)->default_value(1000), "points per scroll request (1 to 10000)")(
        "no-vectors", "leave the vectors out");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    if (!filter.empty() && !check_json_option("filter", filter)) {
        return 2;
    }
    const bool vectors = vm.count("no-vectors") == 0;
    auto client = client_for(c);
    if (!client) {
        std::fprintf(stderr, "puffer-cli: %s\n", client.error().text().c_str());
        return 2;
    }
    std::string cursor;
    std::size_t exported = 0;
    std::string out;
    for (;;) {
        std::string response;
        if (!call(*client, "POST", collection_path(name, "points/scroll"), scroll_body(filter, page, cursor, vectors),
                  &response)) {
            return 1;
        }
        json::value v = parse_exact(response);  // payload doubles exact: the file holds what was stored
        out.clear();
        for (auto& p : v.at("points").as_array()) {
            json::object& o = p.as_object();
            if (o.contains("payload") && o.at("payload").is_null()) {
                o.erase("payload");
            }
            out += json::serialize(o);
            out += '\n';
            ++exported;
        }
        if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) {
            std::fprintf(stderr, "puffer-cli export: cannot write the output\n");
            return 1;
        }
        const json::value& next = v.at("next_cursor");
        if (next.is_null()) {
            break;
        }
        cursor = std::string(next.as_string());
    }
    if (std::fflush(stdout) != 0) {
        std::fprintf(stderr, "puffer-cli export: cannot write the output\n");
        return 1;
    }
    std::fprintf(stderr, "exported %zu points from '%s'\n", exported, name.c_str());
    return 0;
}

int import_file(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::string file;
    std::size_t batch_size = 0;
    std::size_t concurrency = 0;
    std::size_t limit = 0;
    po::options_description desc(
        "puffer-cli import: .fvecs or .npy (float32, ids are row numbers) or .jsonl (one point object per line)");
    desc.add_options()("collection", po::value(&name)->required(), "collection name")(
        "file", po::value(&file)->required(), "input file")(
        "batch-size", po::value(&batch_size)->default_value(1000), "points per request")(
        "concurrency", po::value(&concurrency)->default_value(4), "requests in flight")(
        "limit", po::value(&limit)->default_value(0), "import at most this many rows (0: all)");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    if (ends_with(file, ".jsonl") || ends_with(file, ".ndjson") || ends_with(file, ".json")) {
        std::ifstream in(file);
        if (!in) {
            std::fprintf(stderr, "puffer-cli: cannot read %s\n", file.c_str());
            return 1;
        }
        std::vector<std::string> lines;
        std::string line;
        while (std::getline(in, line) && (limit == 0 || lines.size() < limit)) {
            if (line.find_first_not_of(" \t\r") != std::string::npos) {
                lines.push_back(std::move(line));
            }
        }
        auto body = [&](std::size_t first, std::size_t n) { return points_body_of_lines(lines, first, n); };
        return upload(c, name, lines.size(), batch_size, concurrency, body, "imported", "points");
    }
    result<format::matrix<float>> m = ends_with(file, ".npy") ? read_npy(file) : format::read_fvecs(file, limit);
    if (!m) {
        std::fprintf(stderr, "puffer-cli: %s\n", m.error().text().c_str());
        return 1;
    }
    std::size_t rows = limit != 0 ? std::min(limit, m->rows) : m->rows;
    auto body = [&](std::size_t first, std::size_t n) {
        std::vector<std::string> ids;
        for (std::size_t i = first; i < first + n; ++i) {
            ids.push_back(std::to_string(i));
        }
        return points_body(ids, m->data.data() + first * m->dimension, m->dimension);
    };
    return upload(c, name, rows, batch_size, concurrency, body, "imported",
                  "vectors (dimension " + std::to_string(m->dimension) + ")");
}

int bench(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::string queries_file;
    std::string truth_file;
    std::size_t top_k = 0;
    std::size_t nprobe = 0;
    double recall_target = 0;
    std::size_t concurrency = 0;
    std::size_t repeat = 0;
    std::string filter;
    std::string filters_file;
    std::string case_name;
    std::string results_file;
    po::options_description desc(
        "puffer-cli bench: recall@k and latency over HTTP (the collection's ids must be base row numbers, as "
        "'import' of a .fvecs file makes them)");
    desc.add_options()("collection", po::value(&name)->required(), "collection name")(
        "queries", po::value(&queries_file)->required(), "query vectors (.fvecs)")(
        "groundtruth", po::value(&truth_file)->required(), "exact neighbours (.ivecs)")(
        "top-k", po::value(&top_k)->default_value(10), "neighbours per query (recall@top-k)")(
        "nprobe", po::value(&nprobe)->default_value(0), "probe budget (0: server default)")(
        "recall-target", po::value(&recall_target)->default_value(0), "instead of --nprobe: the recall to reach")(
        "concurrency", po::value(&concurrency)->default_value(1), "queries in flight")(
        "repeat", po::value(&repeat)->default_value(1), "run the query set this many times")(
        "filter", po::value(&filter), "a filter (JSON) for every query")(
        "filters", po::value(&filters_file),
        "a list of filter cases (JSON: [{\"name\", \"filter\"} or {\"name\", \"filters\": [one per query]}])")(
        "case", po::value(&case_name), "with --filters: the case to run")(
        "results", po::value(&results_file),
        "append each query's ids as JSON lines ({\"filter\": case, \"query\": i, \"ids\": [...]})");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    // Per query: the filter's JSON text (empty: none).
    std::vector<std::string> filters;
    if (!filters_file.empty()) {
        std::ifstream in(filters_file);
        std::stringstream text;
        text << in.rdbuf();
        std::string message;
        json::value cases = valid_json(text.str(), message) ? parse_exact(text.str()) : json::value();
        const json::object* found = nullptr;
        if (cases.is_array()) {
            for (const auto& c2 : cases.as_array()) {
                if (c2.is_object() && c2.as_object().contains("name") && c2.at("name").is_string() &&
                    c2.at("name").as_string() == case_name) {
                    found = &c2.as_object();
                }
            }
        }
        if (found == nullptr) {
            std::fprintf(stderr, "puffer-cli: no case '%s' in %s\n", case_name.c_str(), filters_file.c_str());
            return 1;
        }
        if (const json::value* one = found->if_contains("filter")) {
            filter = json::serialize(*one);
        } else if (const json::value* many = found->if_contains("filters"); many != nullptr && many->is_array()) {
            for (const auto& f : many->as_array()) {
                filters.push_back(json::serialize(f));
            }
        }
    }
    if (case_name.empty()) {
        case_name = filter.empty() ? "_unfiltered" : "filter";
    }
    auto queries = format::read_fvecs(queries_file);
    auto truth = format::read_ivecs(truth_file);
    if (!queries || !truth) {
        std::fprintf(stderr, "puffer-cli: %s\n", (!queries ? queries.error() : truth.error()).text().c_str());
        return 1;
    }
    if (truth->rows < queries->rows || truth->dimension < top_k) {
        std::fprintf(stderr, "puffer-cli: the ground truth does not cover the queries at top-k %zu\n", top_k);
        return 1;
    }
    const std::size_t nq = queries->rows;
    const std::size_t d = queries->dimension;
    std::vector<std::string> bodies(nq);
    if (!filters.empty() && filters.size() < nq) {
        std::fprintf(stderr, "puffer-cli: case '%s' has %zu filters for %zu queries\n", case_name.c_str(),
                     filters.size(), nq);
        return 1;
    }
    for (std::size_t i = 0; i < nq; ++i) {
        bodies[i] = search_body(queries->row(i), d,
                                search_options{top_k, nprobe, recall_target, false, filters.empty() ? filter : filters[i]});
    }
    std::vector<std::string> result_ids(nq);
    std::size_t exhaustive = 0;
    latency_report lat;
    lat.queries = nq * std::max<std::size_t>(1, repeat);
    lat.latencies_ms.resize(lat.queries);
    std::vector<double> recalls(nq);
    std::string target = collection_path(name, "search");
    auto start = clock_type::now();
    bool ok = run_parallel(c, lat.queries, concurrency, [&](net::http_client& client, std::size_t i) {
        std::size_t qi = i % nq;
        auto t = clock_type::now();
        auto r = client.request("POST", target, bodies[qi]);
        lat.latencies_ms[i] = std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
        if (!ok_status(r)) {
            report(r);
            return false;
        }
        if (i < nq) {
            json::value v = json::parse(r->body);
            // The ground truth of a filter is padded with -1 where fewer than top-k rows match.
            std::set<std::int32_t> want;
            for (std::size_t j = 0; j < top_k; ++j) {
                if (truth->row(qi)[j] >= 0) {
                    want.insert(truth->row(qi)[j]);
                }
            }
            std::size_t hits = 0;
            std::string ids;
            for (const auto& h : v.at("results").as_array()) {
                std::string id(h.at("id").as_string());
                hits += want.count(static_cast<std::int32_t>(std::atoll(id.c_str())));
                ids += ids.empty() ? id : "," + id;
            }
            result_ids[qi] = std::move(ids);
            recalls[qi] = want.empty() ? 1.0 : static_cast<double>(hits) / static_cast<double>(want.size());
            if (const json::value* e = v.at("stats").as_object().if_contains("exhaustive"); e && e->as_bool()) {
                ++exhaustive;
            }
        }
        return true;
    });
    lat.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    if (!ok) {
        return 1;
    }
    double recall = 0;
    for (double r : recalls) {
        recall += r;
    }
    std::string budget = recall_target > 0 ? strprintf("recall target %.3f", recall_target)
                         : nprobe != 0     ? strprintf("nprobe %zu", nprobe)
                                           : std::string("nprobe default");
    std::printf("recall@%zu %.4f over %zu queries (%s, concurrency %zu)\n", top_k, recall / static_cast<double>(nq), nq,
                budget.c_str(), concurrency);
    if (!filter.empty() || !filters.empty()) {
        std::printf("filter '%s': %zu of %zu answers exhaustive\n", case_name.c_str(), exhaustive, nq);
    }
    print_latency(lat);
    if (!results_file.empty()) {
        std::ofstream out(results_file, std::ios::app);
        for (std::size_t i = 0; i < nq; ++i) {
            out << "{\"filter\":" << json::serialize(json::value(case_name)) << ",\"query\":" << i << ",\"ids\":["
                << result_ids[i] << "]}\n";
        }
    }
    return 0;
}

int recall(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::size_t num_queries = 0;
    search_options o;
    po::options_description desc(
        "puffer-cli recall: the recall of the collection's searches, measured by the server now (stored points "
        "as queries, searched as asked and exhaustively)");
    desc.add_options()("collection", po::value(&name)->required(), "collection name")(
        "num-queries", po::value(&num_queries)->default_value(25), "stored points sampled as queries (1-1000)")(
        "top-k", po::value(&o.top_k)->default_value(10), "recall@top-k")(
        "nprobe", po::value(&o.nprobe)->default_value(0), "probe budget (0: server default)")(
        "recall-target", po::value(&o.recall_target)->default_value(0), "instead of --nprobe: the recall to reach");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    auto client = client_for(c);
    if (!client) {
        std::fprintf(stderr, "puffer-cli: %s\n", client.error().text().c_str());
        return 2;
    }
    std::string response;
    if (!call(*client, "POST", collection_path(name, "recall"), recall_body(num_queries, o), &response)) {
        return 1;
    }
    json::value v = json::parse(response);
    const auto& r = v.as_object();
    std::printf("recall@%lld %.4f over %lld queries (nprobe %lld", static_cast<long long>(r.at("top_k").to_number<double>()),
                r.at("recall").to_number<double>(), static_cast<long long>(r.at("num_queries").to_number<double>()),
                static_cast<long long>(r.at("nprobe").to_number<double>()));
    if (const json::value* e = r.if_contains("expected_recall")) {
        std::printf(", expected %.4f", e->to_number<double>());
    }
    std::printf("); %.0f vectors scanned per query, %.0f exhaustively\n", r.at("vectors_scanned").to_number<double>(),
                r.at("exhaustive_vectors_scanned").to_number<double>());
    return 0;
}

int inspect(const common&, const std::vector<std::string>& args)
{
    std::string file;
    bool verify = false;
    po::options_description desc("puffer-cli inspect: describe a segment (.seg), WAL file (.log) or MANIFEST");
    desc.add_options()("file", po::value(&file)->required(), "the file")(
        "verify", po::bool_switch(&verify), "segments: read every byte and check every checksum");
    po::positional_options_description positional;
    positional.add("file", 1);
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code, &positional)) {
        return code;
    }
    io::env& e = io::posix_env();
    if (ends_with(file, ".seg")) {
        auto r = format::segment_reader::open(e, file, std::nullopt);
        if (!r) {
            std::fprintf(stderr, "puffer-cli: %s\n", r.error().text().c_str());
            return 1;
        }
        std::size_t min_len = r->vector_count();
        std::size_t max_len = 0;
        std::size_t empty = 0;
        for (std::size_t cl = 0; cl < r->cluster_count(); ++cl) {
            min_len = std::min<std::size_t>(min_len, r->cluster_length(cl));
            max_len = std::max<std::size_t>(max_len, r->cluster_length(cl));
            empty += r->cluster_length(cl) == 0 ? 1 : 0;
        }
        std::printf("segment %s\n  id %llu, version %u, %zu bytes\n  %zu vectors of dimension %zu, metric %s\n"
                    "  %zu clusters (sizes %zu..%zu, %zu empty)\n",
                    file.c_str(), static_cast<unsigned long long>(r->segment_id()), r->header().version,
                    static_cast<std::size_t>(r->file_size_bytes()), r->vector_count(), r->dimension(),
                    std::string(to_string(r->distance_metric())).c_str(), r->cluster_count(), min_len, max_len, empty);
        const char* names[] = {"cluster metadata", "vectors", "id table", "payload offsets", "payload blob"};
        for (std::size_t s = 0; s < format::section_count; ++s) {
            std::printf("  %-17s at offset %llu\n", names[s], static_cast<unsigned long long>(r->header().section_offsets[s]));
        }
        std::printf("  footer at offset %llu\n", static_cast<unsigned long long>(r->trailer().footer_offset));
        for (std::size_t p = 0; p < std::min<std::size_t>(5, r->vector_count()); ++p) {
            std::printf("  position %zu: id '%s'\n", p, std::string(r->id(p)).c_str());
        }
        if (verify) {
            auto v = r->verify_all(e);
            if (!v) {
                std::fprintf(stderr, "puffer-cli: verify failed: %s\n", v.error().text().c_str());
                return 1;
            }
            std::printf("  verified: every checksum matches\n");
        }
        return 0;
    }
    auto bytes = io::read_file(e, file);
    if (!bytes) {
        std::fprintf(stderr, "puffer-cli: %s\n", bytes.error().text().c_str());
        return 1;
    }
    if (ends_with(file, ".log")) {
        std::size_t upserts = 0;
        std::size_t removes = 0;
        std::size_t points = 0;
        auto r = wal::replay(*bytes, [&](wal::record_type t, std::string_view body) -> status {
            if (t == wal::record_type::upsert) {
                ++upserts;
                point_batch b;
                if (wal::decode_upsert(body, b)) {
                    points += b.size();
                }
            } else {
                ++removes;
            }
            return ok();
        });
        if (!r) {
            std::fprintf(stderr, "puffer-cli: %s\n", r.error().text().c_str());
            return 1;
        }
        std::printf("WAL %s\n  %zu bytes, %zu records (%zu upsert batches with %zu points, %zu delete batches)\n",
                    file.c_str(), bytes->size(), r->records, upserts, points, removes);
        if (!r->clean) {
            std::printf("  valid up to byte %llu: %s\n", static_cast<unsigned long long>(r->valid_size_bytes), r->reason.c_str());
        }
        return 0;
    }
    auto m = format::decode_manifest(*bytes, file);
    if (!m) {
        std::fprintf(stderr, "puffer-cli: %s\n", m.error().text().c_str());
        return 1;
    }
    std::printf("MANIFEST of collection '%s': dimension %u, metric %s\n  next segment id %llu, WAL from %llu\n",
                m->name.c_str(), m->dimension, std::string(to_string(m->distance_metric)).c_str(),
                static_cast<unsigned long long>(m->next_segment_id), static_cast<unsigned long long>(m->wal_start));
    for (const auto& s : m->segments) {
        std::printf("  segment %llu: %u vectors, %u clusters, %llu bytes, %zu tombstones\n",
                    static_cast<unsigned long long>(s.id), s.vector_count, s.cluster_count,
                    static_cast<unsigned long long>(s.file_size_bytes), s.tombstones.size());
    }
    return 0;
}

// ---- snapshots: made and kept by the server; downloaded and uploaded here as tar archives
// (held in memory while they travel; curl streams them: docs/operations.md).

int create_snapshot(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    po::options_description desc("puffer-cli snapshot");
    desc.add_options()("collection", po::value(&name)->required(), "collection name");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    auto client = client_for(c, std::chrono::hours(1));
    if (!client) {
        std::fprintf(stderr, "puffer-cli: %s\n", client.error().text().c_str());
        return 2;
    }
    std::string body;
    if (!call(*client, "POST", collection_path(name, "snapshots"), "{}", &body)) {
        return 1;
    }
    std::printf("%s\n", pretty(json::parse(body)).c_str());
    return 0;
}

int list_snapshots(const common& c, const std::vector<std::string>& args)
{
    return simple_collection_call(c, args, "puffer-cli list-snapshots", "collection", "GET", "snapshots", true, "");
}

int delete_snapshot(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::string id;
    po::options_description desc("puffer-cli delete-snapshot");
    desc.add_options()("collection", po::value(&name)->required(), "collection name")(
        "id", po::value(&id)->required(), "snapshot id");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    auto client = client_for(c);
    if (!client) {
        std::fprintf(stderr, "puffer-cli: %s\n", client.error().text().c_str());
        return 2;
    }
    if (!call(*client, "DELETE", collection_path(name, "snapshots/" + id), {})) {
        return 1;
    }
    std::printf("deleted snapshot '%s' of collection '%s'\n", id.c_str(), name.c_str());
    return 0;
}

int download_snapshot(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::string id;
    std::string output;
    po::options_description desc("puffer-cli download-snapshot");
    desc.add_options()("collection", po::value(&name)->required(), "collection name")(
        "id", po::value(&id)->required(), "snapshot id")(
        "output", po::value(&output), "file to write (default COLLECTION-ID.tar)");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    if (output.empty()) {
        output = name + "-" + id + ".tar";
    }
    auto client = client_for(c, std::chrono::hours(1));
    if (!client) {
        std::fprintf(stderr, "puffer-cli: %s\n", client.error().text().c_str());
        return 2;
    }
    std::string archive;
    if (!call(*client, "GET", collection_path(name, "snapshots/" + id), {}, &archive)) {
        return 1;
    }
    // Written under a temporary name and renamed: a failed write leaves no partial archive.
    status s = io::write_file_atomic(io::posix_env(), output, archive);
    if (!s) {
        std::fprintf(stderr, "puffer-cli: %s\n", s.error().text().c_str());
        return 1;
    }
    std::printf("wrote %s (%zu bytes)\n", output.c_str(), archive.size());
    return 0;
}

int restore_snapshot(const common& c, const std::vector<std::string>& args)
{
    std::string name;
    std::string file;
    po::options_description desc("puffer-cli restore");
    desc.add_options()("collection", po::value(&name)->required(), "collection to create from the snapshot")(
        "file", po::value(&file)->required(), "snapshot archive (.tar, from download-snapshot)");
    po::variables_map vm;
    int code = 0;
    if (!parse(args, desc, vm, code)) {
        return code;
    }
    auto archive = io::read_file(io::posix_env(), file);
    if (!archive) {
        std::fprintf(stderr, "puffer-cli: %s\n", archive.error().text().c_str());
        return 2;
    }
    auto client = client_for(c, std::chrono::hours(1));
    if (!client) {
        std::fprintf(stderr, "puffer-cli: %s\n", client.error().text().c_str());
        return 2;
    }
    if (!call(*client, "POST", collection_path(name, "snapshots/restore"), *archive)) {
        return 1;
    }
    std::printf("restored collection '%s' from %s\n", name.c_str(), file.c_str());
    return 0;
}

}  // namespace puffer::cli
