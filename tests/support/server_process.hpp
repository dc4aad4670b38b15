#pragma once
// Runs the real puffer-server binary for integration tests: on 127.0.0.1 with a free port (read
// from --port-file), on a given data directory, stopped with SIGTERM (graceful) or SIGKILL. A
// server still running when its server_process goes away is stopped gracefully and must exit
// with status 0: under ASan, UBSan and TSan the reports at exit (leaks, races in shutdown) turn
// into a non-zero status, and the process aborts with the server's log rather than let them
// pass unseen. (During a test failure's unwinding the server is killed instead.)

#include "net/http_client.hpp"

#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace puffer::test {

std::string server_binary();
std::string cli_binary();

class server_process {
public:
    // Starts and waits until /healthz answers. Throws std::runtime_error on failure. The
    // defaults (--bind-addr 127.0.0.1:0, --log-level warn, --shards 2, --net-threads 2,
    // --cache-mb 64) give way to the same flags in extra_args; env entries ("NAME=value") are
    // added to the server's environment.
    server_process(const std::string& data_dir, std::vector<std::string> extra_args = {},
                   std::vector<std::string> env = {});
    ~server_process();
    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;

    std::uint16_t port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    net::http_client client(std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;

    // SIGTERM and wait (SIGKILL after 60 s); returns the exit status (0 for a clean stop,
    // 128 + signal for a signal, -1 if it had to be killed or was not running).
    int stop();
    // Waits for the server to exit by itself (after a signal sent elsewhere); the exit status.
    int wait_exit();
    // SIGKILL and wait.
    void kill();
    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    const std::string& log_path() const { return log_path_; }
    // The server's start-up line on the I/O in use ("io: io_uring, segment reads O_DIRECT"),
    // or "" when the log has none (it is at info level: start with --log-level info).
    std::string io_line() const;

private:
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    std::string log_path_;
};

// Starts the server on data_dir and SIGKILLs it after delay, whether it is serving yet or not (a
// crash during start-up and recovery). Returns false if it had already exited by itself.
bool start_and_kill(const std::string& data_dir, const std::vector<std::string>& extra_args,
                    std::chrono::microseconds delay);

// Runs a command (argv[0] is the binary), capturing stdout+stderr; returns the exit code.
int run_command(const std::vector<std::string>& argv, std::string& output,
                const std::vector<std::string>& env = {});

}  // namespace puffer::test
