#pragma once
// A small blocking HTTP/1.1 client over one keep-alive TCP connection, plain or TLS (https://,
// OpenSSL, the peer's certificate and name verified): enough for puffer-cli and the integration
// tests (Content-Length bodies, as puffer-server sends). Not thread-safe: use one per thread.

#include "engine/core/result.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX and SSL, kept out of this header
struct ssl_st;

namespace puffer::net {

struct endpoint_address {
    std::string host;
    std::uint16_t port = 0;
    bool tls = false;  // https://
};

// "http://host:port", "https://host:port" (path ignored) or "host:port".
[[nodiscard]] result<endpoint_address> parse_server_url(std::string_view url);

struct client_response {
    unsigned status = 0;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
    std::string header(std::string_view name) const;
};

class http_client {
public:
    explicit http_client(endpoint_address address, std::chrono::milliseconds timeout = std::chrono::seconds(60))
        : address_(std::move(address)), timeout_(timeout)
    {
    }
    ~http_client();
    http_client(http_client&& other) noexcept;
    http_client& operator=(http_client&&) = delete;
    http_client(const http_client&) = delete;

    // Sends one request and reads the response; connects (or reconnects once, if the server had
    // closed an idle connection) as needed. errc::io with the reason when the server is down.
    [[nodiscard]] result<client_response> request(std::string_view method, std::string_view target,
                                                  std::string_view body = {});

    void close();

    // Sends `Authorization: Bearer key` with every request from now on (empty: none).
    void set_api_key(std::string key) { api_key_ = std::move(key); }
    // https://: trust the certificates in this PEM file instead of the system's (empty: the system's).
    void set_ca_file(std::string path) { ca_file_ = std::move(path); }

private:
    [[nodiscard]] status connect();
    [[nodiscard]] status start_tls();
    [[nodiscard]] result<client_response> exchange(const std::string& wire, bool& nothing_received);
    // send(2) and recv(2), through TLS when it is on: bytes moved, 0 when the peer closed, -1
    // with errno set.
    long send_some(const char* data, std::size_t size);
    long receive_some(char* data, std::size_t size);

    endpoint_address address_;
    std::chrono::milliseconds timeout_;
    int fd_ = -1;
    std::string ca_file_;
    ssl_ctx_st* tls_context_ = nullptr;  // made at the first TLS connection, kept for the next
    ssl_st* tls_ = nullptr;
    std::string buffer_;
    std::string api_key_;
};

}  // namespace puffer::net
