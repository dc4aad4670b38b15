#pragma once
// The HTTP/1.1 server (Boost.Beast over Asio): keep-alive connections served by --net-threads
// threads, each request parsed and answered through net::router. Bounded: request bodies
// (--max-body-mb, 413 beyond), a deadline for reading each request (slow or half-open clients
// are dropped), and a graceful stop that refuses new work, lets requests in flight finish, then
// returns from run().

#include "engine/core/result.hpp"
#include "engine/db/database.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace puffer::net {

struct server_options {
    std::string bind_addr = "127.0.0.1:8080";  // host:port; port 0 picks a free port
    std::size_t net_threads = 2;
    std::size_t max_body_bytes = std::size_t{64} << 20;
    std::chrono::milliseconds request_timeout{30000};  // to read one whole request
    std::chrono::milliseconds idle_timeout{60000};     // keep-alive wait for the next request
    std::chrono::milliseconds drain_timeout{30000};    // graceful stop: wait for requests in flight
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
