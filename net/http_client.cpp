#include "net/http_client.hpp"

#include "engine/core/log.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace puffer::net {

result<endpoint_address> parse_server_url(std::string_view url)
{
    endpoint_address a;
    if (url.rfind("http://", 0) == 0) {
        url.remove_prefix(7);
    } else if (url.rfind("https://", 0) == 0) {
        url.remove_prefix(8);
        a.tls = true;
    } else if (url.find("://") != std::string_view::npos) {
        return make_error(errc::invalid_argument, "only http:// and https:// servers are supported: " + std::string(url));
    }
    if (auto slash = url.find('/'); slash != std::string_view::npos) {
        url = url.substr(0, slash);
    }
    auto colon = url.rfind(':');
    if (url.size() > 0 && url.front() == '[' && url.back() == ']') {
        colon = std::string_view::npos;  // [::1] without a port
    }
    if (colon == std::string_view::npos) {
        a.host = std::string(url);
        a.port = a.tls ? 443 : 80;
    } else {
        a.host = std::string(url.substr(0, colon));
        std::string port(url.substr(colon + 1));
        char* end = nullptr;
        unsigned long p = std::strtoul(port.c_str(), &end, 10);
        if (port.empty() || *end != '\0' || p == 0 || p > 65535) {
            return make_error(errc::invalid_argument, "bad port in server URL: " + std::string(url));
        }
        a.port = static_cast<std::uint16_t>(p);
    }
    if (a.host.empty()) {
        return make_error(errc::invalid_argument, "no host in server URL");
    }
    if (a.host.front() == '[' && a.host.back() == ']') {
        a.host = a.host.substr(1, a.host.size() - 2);
    }
    return a;
}

std::string client_response::header(std::string_view name) const
{
    for (const auto& [k, v] : headers) {
        if (k == name) {
            return v;
        }
    }
    return {};
}

http_client::~http_client()
{
    close();
    SSL_CTX_free(tls_context_);
}

http_client::http_client(http_client&& other) noexcept
    : address_(std::move(other.address_)), timeout_(other.timeout_), fd_(other.fd_),
      ca_file_(std::move(other.ca_file_)), tls_context_(other.tls_context_), tls_(other.tls_),
      buffer_(std::move(other.buffer_)), api_key_(std::move(other.api_key_))
{
    other.fd_ = -1;
    other.tls_context_ = nullptr;
    other.tls_ = nullptr;
}

namespace {

std::string openssl_errors()
{
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char text[256];
        ERR_error_string_n(e, text, sizeof text);
        out += out.empty() ? "" : "; ";
        out += text;
    }
    return out.empty() ? "no reason given" : out;
}

}  // namespace

// TLS 1.2 or later; the server's certificate must chain to a trusted one (ca_file_ or the
// system's) and name the host (a DNS name or an IP address in its subjectAltName).
status http_client::start_tls()
{
    if (tls_context_ == nullptr) {
        tls_context_ = SSL_CTX_new(TLS_client_method());
        if (tls_context_ == nullptr) {
            return make_error(errc::io, "TLS: " + openssl_errors());
        }
        SSL_CTX_set_min_proto_version(tls_context_, TLS1_2_VERSION);
        SSL_CTX_set_verify(tls_context_, SSL_VERIFY_PEER, nullptr);
        int loaded = ca_file_.empty() ? SSL_CTX_set_default_verify_paths(tls_context_)
                                      : SSL_CTX_load_verify_locations(tls_context_, ca_file_.c_str(), nullptr);
        if (loaded != 1) {
            std::string why = openssl_errors();
            SSL_CTX_free(tls_context_);
            tls_context_ = nullptr;
            return make_error(errc::invalid_argument,
                              "TLS: cannot read the trusted certificates" +
                                  (ca_file_.empty() ? std::string() : " in '" + ca_file_ + "'") + ": " + why);
        }
    }
    tls_ = SSL_new(tls_context_);
    if (tls_ == nullptr) {
        return make_error(errc::io, "TLS: " + openssl_errors());
    }
    SSL_set_fd(tls_, fd_);
    in6_addr ip6{};
    in_addr ip4{};
    bool is_ip = ::inet_pton(AF_INET, address_.host.c_str(), &ip4) == 1 ||
                 ::inet_pton(AF_INET6, address_.host.c_str(), &ip6) == 1;
    X509_VERIFY_PARAM* param = SSL_get0_param(tls_);
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(param, address_.host.c_str());
    } else {
        SSL_set_tlsext_host_name(tls_, address_.host.c_str());
        X509_VERIFY_PARAM_set1_host(param, address_.host.c_str(), 0);
    }
    if (SSL_connect(tls_) != 1) {
        long verified = SSL_get_verify_result(tls_);
        std::string why = verified != X509_V_OK ? std::string("certificate verify failed: ") +
                                                      X509_verify_cert_error_string(verified) +
                                                      (ca_file_.empty() ? " (trust it with --ca-file)" : "")
                                                : openssl_errors();
        close();
        return make_error(errc::io, strprintf("TLS handshake with %s:%u failed: %s", address_.host.c_str(),
                                              address_.port, why.c_str()));
    }
    return ok();
}

long http_client::send_some(const char* data, std::size_t size)
{
    if (tls_ == nullptr) {
        return static_cast<long>(::send(fd_, data, size, MSG_NOSIGNAL));
    }
    errno = 0;
    int n = SSL_write(tls_, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
    if (n > 0) {
        return n;
    }
    if (SSL_get_error(tls_, n) != SSL_ERROR_SYSCALL || errno == 0) {
        errno = EPIPE;
    }
    return -1;
}

long http_client::receive_some(char* data, std::size_t size)
{
    if (tls_ == nullptr) {
        return static_cast<long>(::recv(fd_, data, size, 0));
    }
    int n = SSL_read(tls_, data, static_cast<int>(size));
    if (n > 0) {
        return n;
    }
    int e = SSL_get_error(tls_, n);
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) {
        return 0;  // close_notify, or the connection closed without one
    }
    if (e != SSL_ERROR_SYSCALL) {
        errno = EIO;
    }
    return -1;
}

void http_client::close()
{
    if (tls_ != nullptr) {
        SSL_free(tls_);
        tls_ = nullptr;
    }
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    buffer_.clear();
}

status http_client::connect()
{
    close();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::string port = std::to_string(address_.port);
    if (int rc = ::getaddrinfo(address_.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
        return make_error(errc::io, "cannot resolve " + address_.host + ": " + gai_strerror(rc));
    }
    int last_errno = 0;
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            timeval tv{};
            tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
            tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            fd_ = fd;
            break;
        }
        last_errno = errno;
        ::close(fd);
    }
    ::freeaddrinfo(found);
    if (fd_ < 0) {
        return make_error(errc::io, strprintf("cannot connect to %s:%u: %s (is puffer-server running?)",
                                              address_.host.c_str(), address_.port, std::strerror(last_errno)));
    }
    if (address_.tls) {
        return start_tls();
    }
    return ok();
}

result<client_response> http_client::request(std::string_view method, std::string_view target, std::string_view body)
{
    std::string wire;
    wire.reserve(body.size() + 256);
    wire.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
    wire.append(address_.host).append(":").append(std::to_string(address_.port));
    wire.append("\r\nUser-Agent: puffer-cli\r\nAccept: application/json\r\n");
    if (!api_key_.empty()) {
        wire.append("Authorization: Bearer ").append(api_key_).append("\r\n");
    }
    if (!body.empty() || method == "POST" || method == "PUT") {
        wire.append("Content-Type: application/json\r\nContent-Length: ").append(std::to_string(body.size())).append("\r\n");
    }
    wire.append("\r\n").append(body);
    bool fresh = fd_ < 0;
    if (fresh) {
        PUFFER_TRY(connect());
    }
    bool nothing_received = false;
    auto r = exchange(wire, nothing_received);
    if (!r && nothing_received && !fresh) {
        // The server closed the idle connection between requests: reconnect and send again.
        PUFFER_TRY(connect());
        r = exchange(wire, nothing_received);
    }
    if (!r) {
        close();
    }
    return r;
}

result<client_response> http_client::exchange(const std::string& wire, bool& nothing_received)
{
    nothing_received = true;
    std::size_t sent = 0;
    while (sent < wire.size()) {
        long n = send_some(wire.data() + sent, wire.size() - sent);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EPIPE || errno == ECONNRESET) {
                break;  // the server stopped reading; it may still have answered (413)
            }
            return make_error(errc::io, std::string("send failed: ") + std::strerror(errno));
        }
        sent += static_cast<std::size_t>(n);
    }
    auto fill = [this, &nothing_received]() -> status {
        char chunk[65536];
        for (;;) {
            errno = 0;
            long n = receive_some(chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                return make_error(errc::io, std::string("receive failed: ") +
                                                (errno == EAGAIN ? "timed out" : std::strerror(errno)));
            }
            if (n == 0) {
                return make_error(errc::io, "the server closed the connection");
            }
            nothing_received = false;
            buffer_.append(chunk, static_cast<std::size_t>(n));
            return ok();
        }
    };
    std::size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
        PUFFER_TRY(fill());
    }
    client_response r;
    std::string_view head(buffer_.data(), header_end);
    auto line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") {
        return make_error(errc::io, "malformed HTTP response");
    }
    r.status = static_cast<unsigned>(std::atoi(std::string(status_line.substr(9, 3)).c_str()));
    std::size_t content_length = 0;
    bool close_after = false;
    std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
        auto e = head.find("\r\n", pos);
        std::string_view line = head.substr(pos, e == std::string_view::npos ? head.size() - pos : e - pos);
        pos = e == std::string_view::npos ? head.size() : e + 2;
        auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        std::string name(line.substr(0, colon));
        for (auto& c : name) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') {
            value.remove_prefix(1);
        }
        if (name == "content-length") {
            content_length = std::strtoull(std::string(value).c_str(), nullptr, 10);
        } else if (name == "connection" && value == "close") {
            close_after = true;
        }
        r.headers.emplace_back(std::move(name), std::string(value));
    }
    std::size_t body_start = header_end + 4;
    while (buffer_.size() < body_start + content_length) {
        PUFFER_TRY(fill());
    }
    r.body = buffer_.substr(body_start, content_length);
    buffer_.erase(0, body_start + content_length);
    if (close_after) {
        close();
    }
    return r;
}

}  // namespace puffer::net
