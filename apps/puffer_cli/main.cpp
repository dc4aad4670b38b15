// puffer-cli: command-line client of puffer-server (and an inspector of its files).
//   puffer-cli [--server URL] [--api-key K] COMMAND [options]
//   (PUFFER_SERVER and PUFFER_API_KEY set the defaults)
#include "apps/puffer_cli/commands.hpp"
#include "engine/core/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

using namespace puffer;

namespace {

const char* usage =
    "usage: puffer-cli [--server URL] [--api-key K] [--ca-file F] COMMAND [options]\n"
    "\n"
    "Server: --server URL, or PUFFER_SERVER (default http://127.0.0.1:8080; https://host:port for TLS).\n"
    "Key: --api-key K, or PUFFER_API_KEY (sent as Authorization: Bearer K).\n"
    "TLS: --ca-file F, or PUFFER_CA_FILE: trust the certificates in this PEM file (a self-signed one).\n"
    "\n"
    "Commands (each takes --help):\n"
    "  create-collection --name N --dimension D [--metric l2|cosine|ip] [--unindexed-fields a,b]\n"
    "                    [--quantization none|sq8|rabitq]\n"
    "  list-collections\n"
    "  delete-collection --name N\n"
    "  stats --collection N\n"
    "  flush --collection N\n"
    "  compact --collection N\n"
    "  describe --collection N\n"
    "  load-random --collection N --count C --dimension D [--batch-size B] [--concurrency K]\n"
    "  search-random --collection N --dimension D --num-queries Q [--top-k K] [--nprobe P] [--concurrency K]\n"
    "  search --collection N --vector '[...]' [--top-k K] [--nprobe P | --recall-target R] [--include-payload]\n"
    "         [--refine R]\n"
    "  delete-points --collection N (--ids a,b,c | --filter F)\n"
    "  get --collection N --ids a,b,c [--include-vector]\n"
    "  count --collection N [--filter F]\n"
    "  patch --collection N (--ids a,b,c | --filter F) --payload '{...}' [--replace]\n"
    "  export --collection N [--filter F] [--page-size 1000] [--no-vectors] > points.jsonl\n"
    "  import --collection N --file F (.fvecs, .npy float32, or .jsonl points) [--batch-size B]\n"
    "  bench --collection N --queries Q.fvecs --groundtruth G.ivecs [--top-k 10] [--nprobe P | --recall-target R] [--concurrency C]\n"
    "  recall --collection N [--num-queries 25] [--top-k 10] [--nprobe P | --recall-target R]\n"
    "  inspect FILE (a .seg segment, a .log WAL file or a MANIFEST)\n"
    "  snapshot --collection N                  (a point-in-time snapshot, kept by the server)\n"
    "  list-snapshots --collection N\n"
    "  download-snapshot --collection N --id ID [--output F.tar]\n"
    "  delete-snapshot --collection N --id ID\n"
    "  restore --collection N --file F.tar      (creates N from a downloaded snapshot)\n";

}  // namespace

int main(int argc, char** argv)
{
    log::set_level(log::level::warn);
    cli::common c;
    const char* env = std::getenv("PUFFER_SERVER");
    c.server = env != nullptr && *env != '\0' ? env : "http://127.0.0.1:8080";
    if (const char* key = std::getenv("PUFFER_API_KEY"); key != nullptr) {
        c.api_key = key;
    }
    if (const char* ca = std::getenv("PUFFER_CA_FILE"); ca != nullptr) {
        c.ca_file = ca;
    }
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--server" && i + 1 < argc) {
            c.server = argv[++i];
        } else if (a.rfind("--server=", 0) == 0) {
            c.server = a.substr(9);
        } else if (a == "--api-key" && i + 1 < argc) {
            c.api_key = argv[++i];
        } else if (a.rfind("--api-key=", 0) == 0) {
            c.api_key = a.substr(10);
        } else if (a == "--ca-file" && i + 1 < argc) {
            c.ca_file = argv[++i];
        } else if (a.rfind("--ca-file=", 0) == 0) {
            c.ca_file = a.substr(10);
        } else if (a == "--help" || a == "-h") {
            std::fputs(usage, stdout);
            return 0;
        } else {
            break;
        }
    }
    if (i >= argc) {
        std::fputs(usage, stderr);
        return 2;
    }
    std::string command = argv[i];
    std::vector<std::string> args(argv + i + 1, argv + argc);
    // --server, --api-key and --ca-file may also follow the command.
    for (std::size_t j = 0; j < args.size();) {
        std::string* into = args[j] == "--server"    ? &c.server
                            : args[j] == "--api-key" ? &c.api_key
                            : args[j] == "--ca-file" ? &c.ca_file
                                                     : nullptr;
        if (into != nullptr && j + 1 < args.size()) {
            *into = args[j + 1];
            args.erase(args.begin() + static_cast<std::ptrdiff_t>(j), args.begin() + static_cast<std::ptrdiff_t>(j) + 2);
            continue;
        }
        ++j;
    }
    static const std::map<std::string, std::function<int(const cli::common&, const std::vector<std::string>&)>> commands = {
        {"create-collection", cli::create_collection},
        {"list-collections", cli::list_collections},
        {"delete-collection", cli::delete_collection},
        {"stats", cli::stats},
        {"flush", cli::flush},
        {"compact", cli::compact},
        {"describe", cli::describe},
        {"load-random", cli::load_random},
        {"search-random", cli::search_random},
        {"search", cli::search},
        {"delete-points", cli::delete_points},
        {"get", cli::get_points},
        {"count", cli::count_points},
        {"patch", cli::patch_payloads},
        {"export", cli::export_points},
        {"import", cli::import_file},
        {"bench", cli::bench},
        {"recall", cli::recall},
        {"inspect", cli::inspect},
        {"snapshot", cli::create_snapshot},
        {"list-snapshots", cli::list_snapshots},
        {"delete-snapshot", cli::delete_snapshot},
        {"download-snapshot", cli::download_snapshot},
        {"restore", cli::restore_snapshot},
    };
    auto it = commands.find(command);
    if (it == commands.end()) {
        std::fprintf(stderr, "puffer-cli: unknown command '%s'\n\n%s", command.c_str(), usage);
        return 2;
    }
    return it->second(c, args);
}
