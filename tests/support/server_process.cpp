#include "tests/support/server_process.hpp"

#include "tests/support/temp_dir.hpp"

#include <algorithm>
#include <cerrno>
#include <exception>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace puffer::test {

std::string server_binary()
{
    return PUFFER_SERVER_BINARY;
}

std::string cli_binary()
{
    return PUFFER_CLI_BINARY;
}

namespace {

std::vector<char*> to_argv(std::vector<std::string>& args)
{
    std::vector<char*> out;
    for (auto& a : args) {
        out.push_back(a.data());
    }
    out.push_back(nullptr);
    return out;
}

std::vector<std::string> server_args(const std::string& data_dir, const std::vector<std::string>& extra_args)
{
    std::vector<std::string> args = {server_binary(), "--data-dir", data_dir, "--port-file", data_dir + ".port"};
    // A flag given twice is an error for the server, so a default yields to the caller's.
    const std::pair<const char*, const char*> defaults[] = {{"--bind-addr", "127.0.0.1:0"},
                                                            {"--log-level", "warn"},
                                                            {"--shards", "2"},
                                                            {"--net-threads", "2"},
                                                            {"--cache-mb", "64"}};
    for (const auto& [flag, value] : defaults) {
        if (std::find(extra_args.begin(), extra_args.end(), flag) == extra_args.end()) {
            args.push_back(flag);
            args.push_back(value);
        }
    }
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    return args;
}

// Forks and execs the server with its output appended to log_path and env added to its
// environment.
pid_t spawn(std::vector<std::string> args, const std::string& log_path,
            std::vector<std::string> env = {})
{
    pid_t pid = ::fork();
    if (pid < 0) {
        throw std::runtime_error("fork failed");
    }
    if (pid == 0) {
        int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ::dup2(fd, STDOUT_FILENO);
            ::dup2(fd, STDERR_FILENO);
        }
        for (auto& e : env) {
            ::putenv(e.data());
        }
        auto argv = to_argv(args);
        ::execv(argv[0], argv.data());
        std::_Exit(127);
    }
    return pid;
}

}  // namespace

bool start_and_kill(const std::string& data_dir, const std::vector<std::string>& extra_args,
                    std::chrono::microseconds delay)
{
    pid_t pid = spawn(server_args(data_dir, extra_args), data_dir + ".log");
    std::this_thread::sleep_for(delay);
    int st = 0;
    bool exited = ::waitpid(pid, &st, WNOHANG) == pid;
    if (!exited) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
    }
    return !exited;
}

server_process::server_process(const std::string& data_dir, std::vector<std::string> extra_args,
                               std::vector<std::string> env)
{
    std::string port_file = data_dir + ".port";
    log_path_ = data_dir + ".log";
    std::remove(port_file.c_str());
    const bool tls = std::find(extra_args.begin(), extra_args.end(), "--tls-cert") != extra_args.end();
    pid_ = spawn(server_args(data_dir, extra_args), log_path_, std::move(env));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            throw std::runtime_error("puffer-server exited at start with status " +
                                     std::to_string(status) + ": " + slurp(log_path_));
        }
        std::ifstream in(port_file);
        unsigned port = 0;
        if (in >> port && port != 0) {
            port_ = static_cast<std::uint16_t>(port);
            auto c = client(std::chrono::seconds(5));
            auto r = c.request("GET", "/healthz");
            // A TLS server answers plain HTTP with a 400 that says so: it is up.
            if (r && (r->status == 200 || (tls && r->status == 400))) {
                return;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill();
    throw std::runtime_error("puffer-server did not start: " + slurp(log_path_));
}

server_process::~server_process()
{
    if (pid_ <= 0) {
        return;
    }
    if (std::uncaught_exceptions() > 0) {
        kill();  // a failed test is unwinding: its own report is the one that matters
        return;
    }
    int status = stop();
    if (status != 0) {
        std::fprintf(
            stderr,
            "puffer-server (log %s) exited with status %d at a graceful stop; its log:\n%s\n",
            log_path_.c_str(), status, slurp(log_path_).c_str());
        std::fflush(stderr);
        std::abort();
    }
}

std::string server_process::io_line() const
{
    // Log lines are "<UTC time> <LEVEL> <message>"; the one wanted has the message "io: ...".
    std::istringstream log(slurp(log_path_));
    for (std::string line; std::getline(log, line);) {
        std::size_t time_end = line.find(' ');
        std::size_t level_end =
            time_end == std::string::npos ? time_end : line.find(' ', time_end + 1);
        std::size_t message =
            level_end == std::string::npos ? level_end : line.find_first_not_of(' ', level_end);
        if (message != std::string::npos && line.compare(message, 4, "io: ") == 0) {
            return line.substr(message);
        }
    }
    return {};
}

net::http_client server_process::client(std::chrono::milliseconds timeout) const
{
    return net::http_client(net::endpoint_address{"127.0.0.1", port_}, timeout);
}

int server_process::stop()
{
    if (pid_ <= 0) {
        return -1;
    }
    ::kill(pid_, SIGTERM);
    int st = 0;
    // A graceful stop drains requests in flight (30 s at most); past 60 s the server is stuck.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (::waitpid(pid_, &st, WNOHANG) != pid_) {
        if (std::chrono::steady_clock::now() > deadline) {
            std::fprintf(stderr,
                         "puffer-server (log %s) still running 60 s after SIGTERM: killed\n",
                         log_path_.c_str());
            kill();
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int server_process::wait_exit()
{
    if (pid_ <= 0) {
        return -1;
    }
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void server_process::kill()
{
    if (pid_ <= 0) {
        return;
    }
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
}

int run_command(const std::vector<std::string>& argv_in, std::string& output, const std::vector<std::string>& env)
{
    std::string out_path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/puffer-cmd-" +
                           std::to_string(::getpid()) + "-" + std::to_string(std::rand()) + ".out";
    pid_t pid = ::fork();
    if (pid == 0) {
        int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        for (const auto& e : env) {
            ::putenv(const_cast<char*>(e.c_str()));
        }
        std::vector<std::string> args = argv_in;
        auto argv = to_argv(args);
        ::execv(argv[0], argv.data());
        std::_Exit(127);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    output = slurp(out_path);
    std::remove(out_path.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace puffer::test
