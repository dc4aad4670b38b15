#pragma once
// puffer-cli subcommands. Each returns the process exit code: 0 success, 1 a failed request or
// server error (message printed), 2 bad usage.

#include <string>
#include <vector>

namespace puffer::cli {

struct common {
    std::string server;   // http://host:port
    std::string api_key;  // sent as a Bearer token when set
    std::string ca_file;  // https://: the certificates to trust (empty: the system's)
};

int create_collection(const common& c, const std::vector<std::string>& args);
int list_collections(const common& c, const std::vector<std::string>& args);
int delete_collection(const common& c, const std::vector<std::string>& args);
int stats(const common& c, const std::vector<std::string>& args);
int flush(const common& c, const std::vector<std::string>& args);
int compact(const common& c, const std::vector<std::string>& args);
int describe(const common& c, const std::vector<std::string>& args);
int load_random(const common& c, const std::vector<std::string>& args);
int search_random(const common& c, const std::vector<std::string>& args);
int search(const common& c, const std::vector<std::string>& args);
int delete_points(const common& c, const std::vector<std::string>& args);
int get_points(const common& c, const std::vector<std::string>& args);
int count_points(const common& c, const std::vector<std::string>& args);
int patch_payloads(const common& c, const std::vector<std::string>& args);
int export_points(const common& c, const std::vector<std::string>& args);
int import_file(const common& c, const std::vector<std::string>& args);
int bench(const common& c, const std::vector<std::string>& args);
int recall(const common& c, const std::vector<std::string>& args);
int inspect(const common& c, const std::vector<std::string>& args);
int create_snapshot(const common& c, const std::vector<std::string>& args);
int list_snapshots(const common& c, const std::vector<std::string>& args);
int delete_snapshot(const common& c, const std::vector<std::string>& args);
int download_snapshot(const common& c, const std::vector<std::string>& args);
int restore_snapshot(const common& c, const std::vector<std::string>& args);

}  // namespace puffer::cli
