#include "net/http_client.hpp"

#include "engine/core/log.hpp"

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
    if (url.rfind("http://", 0) == 0) {
        url.remove_prefix(7);
    } else if (url.find("://") != std::string_view::npos) {
        return make_error(errc::invalid_argument, "only http:// servers are supported: " + std::string(url));
    }
    if (auto slash = url.find('/'); slash != std::string_view::npos) {
        url = url.substr(0, slash);
    }
    endpoint_address a;
    auto colon = url.rfind(':');
    if (colon == std::string_view::npos) {
        a.host = std::string(url);
        a.port = 80;
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
}

http_client::http_client(http_client&& other) noexcept
    : address_(std::move(other.address_)), timeout_(other.timeout_), fd_(other.fd_), buffer_(std::move(other.buffer_)),
      api_key_(std::move(other.api_key_))
{
    other.fd_ = -1;
}

void http_client::close()
{
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
        ssize_t n = ::send(fd_, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
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
            ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
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
