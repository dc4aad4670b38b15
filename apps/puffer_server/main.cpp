// puffer-server: the OpenPuffer daemon. Options come from the command line, then PUFFER_*
// environment variables (PUFFER_DATA_DIR for --data-dir, ...), then a --config file of
// "name = value" lines; the first place that sets an option wins.
#include "engine/core/distance.hpp"
#include "engine/core/log.hpp"
#include "engine/db/database.hpp"
#include "net/server.hpp"

#include <boost/program_options.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

namespace po = boost::program_options;
using namespace puffer;

int main(int argc, char** argv)
{
    std::string data_dir;
    std::string bind_addr;
    std::size_t shards = 0;
    std::size_t net_threads = 0;
    std::size_t background_threads = 0;
    std::string io_mode;
    std::size_t cache_mb = 0;
    std::size_t flush_threshold = 0;
    std::size_t staging_max = 0;
    std::uint32_t idle_flush_ms = 0;
    std::size_t segments_max = 0;
    std::size_t max_body_mb = 0;
    std::size_t answer_max_mb = 0;
    std::size_t answers_inflight_mb = 0;
    std::string log_level;
    std::string config;
    std::string port_file;
    std::size_t request_timeout_ms = 0;
    std::size_t idle_timeout_ms = 0;
    std::string api_key;
    std::string read_only_api_key;
    std::string api_key_file;
    std::string read_only_api_key_file;
    bool allow_unauthenticated = false;
    std::uint32_t slow_query_ms = 0;
    double recall_sample = 0.01;
    double recall_rerun_share = 0.05;
    std::string restore_file;
    std::string restore_as;
    std::size_t max_upload_gb = 0;
    std::string console_dir;
    std::string tls_cert;
    std::string tls_key;

    po::options_description desc("puffer-server: the OpenPuffer vector database daemon\n\nOptions");
    desc.add_options()
        ("help,h", "show this help and exit")
        ("data-dir", po::value(&data_dir)->default_value("./data"), "data directory (created if missing; one server per directory)")
        ("bind-addr", po::value(&bind_addr)->default_value("127.0.0.1:8080"), "address and port to listen on (port 0: any free port)")
        ("shards", po::value(&shards)->default_value(0), "shard threads, each owning the collections that hash to it (0: one per core)")
        ("net-threads", po::value(&net_threads)->default_value(0), "HTTP threads (0: one per core)")
        ("background-threads", po::value(&background_threads)->default_value(0), "threads for segment builds and compaction (0: one per core)")
        ("io-mode", po::value(&io_mode)->default_value("direct"), "segment reads: direct (O_DIRECT through io_uring) or mmap")
        ("cache-mb", po::value(&cache_mb)->default_value(1024), "cluster cache budget in MiB, split between shards")
        ("flush-threshold", po::value(&flush_threshold)->default_value(20000), "vectors in staging that trigger an automatic flush to a segment")
        ("idle-flush-ms", po::value(&idle_flush_ms)->default_value(1000), "staging below --flush-threshold is flushed too once a collection has had no write for this long (0: never)")
        ("staging-max-vectors", po::value(&staging_max)->default_value(0), "writes get 503 busy (Retry-After) while this many rows wait to be indexed (0: 10 x --flush-threshold, at least 200000)")
        ("segments-max", po::value(&segments_max)->default_value(8), "compaction keeps each collection at or below this many segments")
        ("max-body-mb", po::value(&max_body_mb)->default_value(64), "largest request body in MiB (413 beyond)")
        ("max-upload-gb", po::value(&max_upload_gb)->default_value(1024), "largest snapshot archive a restore may upload, in GiB (received into the data directory, 413 beyond)")
        ("restore", po::value(&restore_file), "before serving, restore a collection from this snapshot archive (.tar); the server does not start if it exists or the archive is damaged")
        ("restore-as", po::value(&restore_as), "with --restore: the name to restore under (default: the name in the snapshot)")
        ("answer-max-mb", po::value(&answer_max_mb)->default_value(32), "the payloads of one search answer may total this many MiB (400 beyond)")
        ("answers-inflight-mb", po::value(&answers_inflight_mb)->default_value(256), "answers being sent to clients may hold this many MiB together (503 beyond)")
        ("log-level", po::value(&log_level)->default_value("info"), "debug, info (one access-log line per request), warn, error")
        ("config", po::value(&config), "file of option = value lines")
        ("port-file", po::value(&port_file), "write the port listened on to this file once listening")
        ("request-timeout-ms", po::value(&request_timeout_ms)->default_value(30000), "a request must arrive whole within this time (slow and half-open clients are dropped)")
        ("idle-timeout-ms", po::value(&idle_timeout_ms)->default_value(60000), "a keep-alive connection idle this long is closed")
        ("api-key", po::value(&api_key), "key for every call (Authorization: Bearer K or api-key: K); prefer PUFFER_API_KEY or --api-key-file, which other users' ps does not show")
        ("read-only-api-key", po::value(&read_only_api_key), "key for the calls that change nothing (search, stats, list, describe, recall)")
        ("api-key-file", po::value(&api_key_file), "read --api-key from this file (its first line)")
        ("read-only-api-key-file", po::value(&read_only_api_key_file), "read --read-only-api-key from this file (its first line)")
        ("tls-cert", po::value(&tls_cert), "serve HTTPS with this PEM certificate chain (with --tls-key); plain HTTP to the port gets a 400 saying so")
        ("tls-key", po::value(&tls_key), "the PEM private key of --tls-cert")
        ("allow-unauthenticated", po::bool_switch(&allow_unauthenticated), "with no key, answer every client, not only loopback ones")
        ("slow-query-ms", po::value(&slow_query_ms)->default_value(1000), "log searches that take at least this long, with their plan and reads (0: never)")
        ("recall-sample", po::value(&recall_sample)->default_value(0.01, "0.01"), "share of searches re-run exactly when a shard is idle, for the recall estimate in stats and /metrics (0: none)")
        ("console-dir", po::value(&console_dir), "serve the web console (/console) from this directory instead of the copy built into the server (for working on it)")
        ("recall-rerun-share", po::value(&recall_rerun_share)->default_value(0.05, "0.05"), "the share of a shard's time those re-runs may take (0 to 1; 1: no pause between them)");

    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::store(po::parse_environment(desc,
                                        [&desc](const std::string& env) -> std::string {
                                            if (env.rfind("PUFFER_", 0) != 0) {
                                                return {};
                                            }
                                            std::string name = env.substr(7);
                                            for (auto& c : name) {
                                                c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                                            }
                                            return desc.find_nothrow(name, false) != nullptr && name != "help" ? name : std::string();
                                        }),
                  vm);
        if (vm.count("config")) {
            std::ifstream in(vm["config"].as<std::string>());
            if (!in) {
                std::cerr << "puffer-server: cannot read config file " << vm["config"].as<std::string>() << "\n";
                return 2;
            }
            po::store(po::parse_config_file(in, desc), vm);
        }
        if (vm.count("help")) {
            std::cout << desc << "\n";
            return 0;
        }
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "puffer-server: " << e.what() << "\nTry 'puffer-server --help'.\n";
        return 2;
    }

    log::level level;
    if (!log::parse_level(log_level, level)) {
        std::cerr << "puffer-server: --log-level must be debug, info, warn or error\n";
        return 2;
    }
    log::set_level(level);
    if (io_mode != "direct" && io_mode != "mmap") {
        std::cerr << "puffer-server: --io-mode must be direct or mmap\n";
        return 2;
    }
    if (max_body_mb == 0 || flush_threshold == 0 || answer_max_mb == 0 || answers_inflight_mb == 0) {
        std::cerr << "puffer-server: --max-body-mb, --flush-threshold, --answer-max-mb and --answers-inflight-mb "
                     "must be at least 1\n";
        return 2;
    }
    net::auth_options auth;
    auth.allow_unauthenticated = allow_unauthenticated;
    auto key_from = [](const std::string& flag, const std::string& value, const std::string& file,
                       std::string& out) {
        if (!value.empty() && !file.empty()) {
            std::cerr << "puffer-server: give --" << flag << " or --" << flag << "-file, not both\n";
            return false;
        }
        out = value;
        if (!file.empty()) {
            std::ifstream in(file);
            if (!in || !std::getline(in, out)) {
                std::cerr << "puffer-server: cannot read a key from " << file << "\n";
                return false;
            }
            if (!out.empty() && out.back() == '\r') {
                out.pop_back();
            }
        }
        if (!value.empty() || !file.empty()) {
            if (auto why = net::invalid_key_reason(out)) {
                std::cerr << "puffer-server: --" << flag << " is not a usable key: " << *why << "\n";
                return false;
            }
        }
        return true;
    };
    if (!key_from("api-key", api_key, api_key_file, auth.api_key) ||
        !key_from("read-only-api-key", read_only_api_key, read_only_api_key_file, auth.read_only_api_key)) {
        return 2;
    }
    if (!auth.api_key.empty() && auth.api_key == auth.read_only_api_key) {
        std::cerr << "puffer-server: --api-key and --read-only-api-key must differ\n";
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);

    db::database_options dbo;
    dbo.data_dir = data_dir;
    dbo.shards = shards;
    dbo.background_threads = background_threads;
    dbo.cache_bytes = cache_mb << 20;
    if (!(recall_sample >= 0 && recall_sample <= 1)) {
        std::cerr << "puffer-server: --recall-sample must be 0 to 1\n";
        return 2;
    }
    dbo.executor.recall_sample = recall_sample;
    if (!(recall_rerun_share > 0 && recall_rerun_share <= 1)) {
        std::cerr << "puffer-server: --recall-rerun-share must be above 0 and at most 1\n";
        return 2;
    }
    dbo.executor.recall_rerun_share = recall_rerun_share;
    dbo.collection.flush_threshold_vectors = flush_threshold;
    dbo.collection.idle_flush_ms = idle_flush_ms;
    dbo.collection.staging_vectors_max =
        staging_max != 0 ? staging_max : std::max<std::size_t>(flush_threshold * 10, 200000);
    dbo.collection.segments_max = std::max<std::size_t>(segments_max, 2);
    dbo.collection.mode = io_mode == "mmap" ? collection::io_mode::mmap : collection::io_mode::direct;
    dbo.restore_file = restore_file;
    dbo.restore_as = restore_as;
    if (!restore_as.empty() && restore_file.empty()) {
        std::cerr << "puffer-server: --restore-as needs --restore FILE\n";
        return 2;
    }
    auto db = db::database::open(dbo);
    if (!db) {
        std::cerr << "puffer-server: cannot open " << data_dir << ": " << db.error().text() << "\n";
        return 1;
    }
    // The I/O actually in use, in one line: a shard that fell back to the synchronous ring is a
    // warning, because it serves every read with a blocking pread.
    const db::io_report& io = (*db)->io();
    if (io.ring == "io_uring") {
        PUFFER_LOG(info, "io: %s, segment reads %s", io.ring.c_str(), io.segment_reads.c_str());
    } else {
        PUFFER_LOG(warn, "io: %s, segment reads %s (io_uring unavailable)", io.ring.c_str(),
                   io.segment_reads.c_str());
    }

    net::server_options so;
    so.bind_addr = bind_addr;
    so.net_threads = net_threads != 0 ? net_threads : std::max<unsigned>(1, std::thread::hardware_concurrency());
    so.max_body_bytes = max_body_mb << 20;
    so.max_upload_bytes = static_cast<std::uint64_t>(std::max<std::size_t>(max_upload_gb, 1)) << 30;
    so.answer_bytes_max = answer_max_mb << 20;
    so.answers_inflight_bytes_max = answers_inflight_mb << 20;
    so.request_timeout = std::chrono::milliseconds(std::max<std::size_t>(request_timeout_ms, 1));
    so.idle_timeout = std::chrono::milliseconds(std::max<std::size_t>(idle_timeout_ms, 1));
    so.auth = auth;
    so.slow_query_ms = slow_query_ms;
    so.console_dir = console_dir;
    so.tls_cert_file = tls_cert;
    so.tls_key_file = tls_key;
    net::server srv(**db, so);
    if (auto s = srv.listen(); !s) {
        std::cerr << "puffer-server: " << s.error().text() << "\n";
        return 1;
    }
    if (!port_file.empty()) {
        std::string tmp = port_file + ".tmp";
        {
            std::ofstream out(tmp);
            out << srv.port() << "\n";
        }
        std::rename(tmp.c_str(), port_file.c_str());
    }
    PUFFER_LOG(info, "puffer-server listening on %s://%s (port %u), data in %s, simd %s", tls_cert.empty() ? "http" : "https", bind_addr.c_str(), srv.port(),
               data_dir.c_str(), std::string(simd::to_string(simd::active().simd_level)).c_str());
    PUFFER_LOG(info, "%s", net::describe_access(auth).c_str());
    srv.run(/*handle_signals=*/true);
    (*db)->shutdown();
    PUFFER_LOG(info, "puffer-server stopped cleanly");
    return 0;
}
