#pragma once
// A raw TCP connection to the server on loopback, for tests that send bytes no well-behaved
// client would (broken framing, huge trailers, half a body) and read exactly what comes back.

#include <arpa/inet.h>
#include <chrono>
#include <cstdint>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>

namespace puffer::test {

class raw_connection {
public:
    explicit raw_connection(std::uint16_t port)
    {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~raw_connection()
    {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    raw_connection(const raw_connection&) = delete;
    raw_connection& operator=(const raw_connection&) = delete;

    bool connected() const { return fd_ >= 0; }
    int fd() const { return fd_; }

    // Sends all of data; false if the server closed or reset the connection first.
    bool send(std::string_view data)
    {
        while (!data.empty()) {
            ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                return false;
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // Everything received until the server closes the connection or timeout passes; closed() says
    // which it was.
    std::string read_until_closed(std::chrono::milliseconds timeout)
    {
        std::string out;
        auto deadline = std::chrono::steady_clock::now() + timeout;
        char buffer[65536];
        closed_ = false;
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) {
                continue;
            }
            ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0) {
                closed_ = true;
                break;
            }
            out.append(buffer, static_cast<std::size_t>(n));
        }
        return out;
    }
    bool closed() const { return closed_; }

private:
    int fd_ = -1;
    bool closed_ = false;
};

// The status code of the first response in raw (0 when raw does not start with one).
inline unsigned first_status(std::string_view raw)
{
    if (raw.substr(0, 9) != "HTTP/1.1 " || raw.size() < 12) {
        return 0;
    }
    return static_cast<unsigned>(std::stoul(std::string(raw.substr(9, 3))));
}

// How many responses raw holds.
inline std::size_t response_count(std::string_view raw)
{
    std::size_t count = 0;
    for (std::size_t at = raw.find("HTTP/1.1 "); at != std::string_view::npos; at = raw.find("HTTP/1.1 ", at + 1)) {
        ++count;
    }
    return count;
}

}  // namespace puffer::test
