#pragma once
// The HTTP/1.1 server (Boost.Beast over Asio): keep-alive connections served by --net-threads
// threads, each request parsed and answered through net::router. Bounded: request bodies
// (--max-body-mb, 413 beyond), the header and trailer sections (64 KiB each), a deadline for
// reading each request (slow or half-open clients are dropped), the bytes of answers being sent
// (503 past the budget), and a graceful stop that refuses new work, answers requests still being
// received with 503, lets requests in flight finish, then returns from run(). No exception from
// one connection ends the process: it is logged and that connection is closed.

#include "engine/core/result.hpp"
#include "engine/db/database.hpp"
#include "net/auth.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace puffer::net {

struct server_options {
    std::string bind_addr = "127.0.0.1:8080";  // host:port; port 0 picks a free port
    std::size_t net_threads = 2;
    std::size_t max_body_bytes = std::size_t{64} << 20;
    // A snapshot restore's upload goes to a file in the data directory, and may be this large.
    std::uint64_t max_upload_bytes = std::uint64_t{1} << 40;
    std::chrono::milliseconds request_timeout{30000};  // to read one whole request
    std::chrono::milliseconds idle_timeout{60000};     // keep-alive wait for the next request
    std::chrono::milliseconds drain_timeout{30000};    // graceful stop: wait for requests in flight
    // The payloads of one search answer may total at most this (400 beyond): top_k 1000 of
    // 1 MiB payloads would otherwise be a 1 GB answer.
    std::size_t answer_bytes_max = std::size_t{32} << 20;
    // Answers being sent, all connections together, may hold at most this; an answer that would
    // pass it gets 503 busy instead. Clients that never read their answers pin them until the
    // write deadline, so this bounds the memory they can hold.
    std::size_t answers_inflight_bytes_max = std::size_t{256} << 20;
    // API keys, and whether a server without one answers other hosts than loopback (auth.hpp).
    auth_options auth;
    // Searches slower than this are logged with their plan (0: none).
    std::uint32_t slow_query_ms = 1000;
    // TLS: the certificate chain and private key (PEM files); both empty: plain HTTP.
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string console_dir;  // the web console's files from here instead of built in (empty: built in)
};

class server {
public:
    server(db::database& db, server_options options);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds and listens. errc::invalid_argument for a bad address, the system error otherwise.
    [[nodiscard]] status listen();
    std::uint16_t port() const;

    // Serves until stop() has drained the requests in flight (or SIGINT/SIGTERM when
    // handle_signals was asked for). Runs the net threads; returns when they have all ended.
    void run(bool handle_signals);

    // Thread-safe: stop accepting, answer new requests 503, finish requests in flight.
    void stop();

    struct impl;  // server.cpp only

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace puffer::net
