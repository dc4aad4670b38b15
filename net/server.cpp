// The only translation unit (with the CLI's client) that includes Beast: it is slow to compile.
#include "net/server.hpp"

#include "engine/core/log.hpp"
#include "net/routes.hpp"

#include <boost/asio.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <pthread.h>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace puffer::net {

struct server::impl {
    impl(db::database& d, server_options o) : options(std::move(o)), routes(d), ioc(static_cast<int>(options.net_threads)) {}

    server_options options;
    router routes;
    asio::io_context ioc;
    tcp::acceptor acceptor{ioc};
    std::atomic<std::size_t> inflight{0};
    std::atomic<bool> stopping{false};
    std::uint16_t port = 0;

    void accept();
    void begin_stop();
    void wait_drained(std::shared_ptr<asio::steady_timer> timer, std::chrono::steady_clock::time_point deadline);
};

namespace {

class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket&& socket, server::impl& s) : stream_(std::move(socket)), server_(s) {}

    void start()
    {
        asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_request(); });
    }

private:
    void read_request()
    {
        parser_.emplace();
        parser_->body_limit(server_.options.max_body_bytes);
        parser_->header_limit(64 * 1024);
        stream_.expires_after(first_ ? server_.options.request_timeout : server_.options.idle_timeout);
        first_ = false;
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec)
    {
        if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
            ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
            close();
            return;
        }
        if (ec == http::error::body_limit) {
            respond_error(413, "payload_too_large",
                          strprintf("request body over the %zu-byte limit (--max-body-mb)", server_.options.max_body_bytes),
                          false);
            return;
        }
        if (ec) {
            respond_error(400, "bad_request", "malformed HTTP request: " + ec.message(), false);
            return;
        }
        auto& req = parser_->get();
        keep_alive_ = req.keep_alive() && !server_.stopping.load();
        started_ = std::chrono::steady_clock::now();
        method_ = std::string(req.method_string());
        target_ = std::string(req.target());
        server_.inflight.fetch_add(1);
        counted_ = true;
        // The body must be read within the request deadline; the handler may take longer.
        stream_.expires_never();
        http_request r{method_, target_, std::move(req.body())};
        // One answer per request: if handling throws (out of memory for a huge body, say), the
        // client gets a JSON 500 rather than the process ending, and any later answer is dropped.
        auto answered = std::make_shared<std::atomic<bool>>(false);
        try {
            server_.routes.handle(std::move(r), [self = shared_from_this(), answered](make_response_fn make) mutable {
                if (answered->exchange(true)) {
                    return;
                }
                auto* s = self.get();
                asio::post(s->stream_.get_executor(), [self = std::move(self), make = std::move(make)]() mutable {
                    self->write(make());
                });
            });
        } catch (const std::exception& e) {
            PUFFER_LOG(error, "%s %s: %s", method_.c_str(), target_.c_str(), e.what());
            if (!answered->exchange(true)) {
                keep_alive_ = false;
                write(error_response(500, "internal", std::string("the request could not be handled: ") + e.what()));
            }
        }
    }

    void respond_error(unsigned status, std::string_view code, std::string message, bool keep_alive)
    {
        keep_alive_ = keep_alive;
        method_ = parser_ && parser_->is_header_done() ? std::string(parser_->get().method_string()) : "-";
        target_ = parser_ && parser_->is_header_done() ? std::string(parser_->get().target()) : "-";
        started_ = std::chrono::steady_clock::now();
        write(error_response(status, code, message));
    }

    void write(http_response r)
    {
        response_ = {};
        response_.version(11);
        response_.result(r.status);
        response_.set(http::field::server, "openpuffer");
        response_.set(http::field::content_type, "application/json");
        if (!r.allow.empty()) {
            response_.set(http::field::allow, r.allow);
        }
        if (r.retry_after) {
            response_.set(http::field::retry_after, "1");
        }
        response_.keep_alive(keep_alive_);
        response_.body() = std::move(r.body);
        response_.prepare_payload();
        if (method_ == "HEAD") {
            response_.body().clear();  // HEAD: the headers GET would have, no body
        }
        stream_.expires_after(server_.options.request_timeout);
        http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->on_write(ec);
        });
    }

    void on_write(beast::error_code ec)
    {
        if (log::enabled(log::level::info)) {
            double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
            PUFFER_LOG(info, "%s %s %u %.3fms", method_.c_str(), target_.substr(0, 200).c_str(),
                       response_.result_int(), ms);
        }
        if (counted_) {
            counted_ = false;
            server_.inflight.fetch_sub(1);
        }
        if (ec) {
            close();
            return;
        }
        if (!keep_alive_) {
            linger();
            return;
        }
        read_request();
    }

    void close()
    {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.close();
    }

    // Lingering close: stop sending, then read and discard what the client still sends (the
    // rest of a refused body) for up to 2 s, so it can finish sending and read our answer
    // instead of meeting a reset.
    void linger()
    {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.expires_after(std::chrono::seconds(2));
        drain_.resize(64 * 1024);
        discard();
    }

    void discard()
    {
        stream_.async_read_some(asio::buffer(drain_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) {
                self->stream_.close();
                return;
            }
            self->discard();
        });
    }

    beast::tcp_stream stream_;
    server::impl& server_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> response_;
    bool keep_alive_ = true;
    bool first_ = true;
    bool counted_ = false;
    std::string method_;
    std::string target_;
    std::chrono::steady_clock::time_point started_;
    std::vector<char> drain_;
};

result<tcp::endpoint> parse_endpoint(const std::string& bind_addr)
{
    std::string host;
    std::string port;
    if (!bind_addr.empty() && bind_addr.front() == '[') {
        auto close = bind_addr.find(']');
        if (close == std::string::npos || close + 1 >= bind_addr.size() || bind_addr[close + 1] != ':') {
            return make_error(errc::invalid_argument, "bad --bind-addr '" + bind_addr + "': expected [ipv6]:port");
        }
        host = bind_addr.substr(1, close - 1);
        port = bind_addr.substr(close + 2);
    } else {
        auto colon = bind_addr.rfind(':');
        if (colon == std::string::npos) {
            return make_error(errc::invalid_argument, "bad --bind-addr '" + bind_addr + "': expected host:port");
        }
        host = bind_addr.substr(0, colon);
        port = bind_addr.substr(colon + 1);
    }
    if (host == "localhost") {
        host = "127.0.0.1";
    }
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    char* end = nullptr;
    unsigned long p = std::strtoul(port.c_str(), &end, 10);
    if (ec || port.empty() || *end != '\0' || p > 65535) {
        return make_error(errc::invalid_argument, "bad --bind-addr '" + bind_addr + "': expected an IP address and a port");
    }
    return tcp::endpoint(address, static_cast<std::uint16_t>(p));
}

}  // namespace

void server::impl::accept()
{
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
            return;
        }
        if (!ec) {
            std::make_shared<session>(std::move(socket), *this)->start();
        } else if (ec == asio::error::no_descriptors) {
            PUFFER_LOG(warn, "accept: out of file descriptors; pausing accepts for 100 ms");
            auto timer = std::make_shared<asio::steady_timer>(ioc, std::chrono::milliseconds(100));
            timer->async_wait([this, timer](beast::error_code) { accept(); });
            return;
        }
        accept();
    });
}

void server::impl::begin_stop()
{
    if (stopping.exchange(true)) {
        return;
    }
    PUFFER_LOG(info, "stopping: refusing new requests, waiting for %zu in flight", inflight.load());
    routes.set_shutting_down();
    asio::post(ioc, [this] {
        beast::error_code ignored;
        acceptor.close(ignored);
        auto timer = std::make_shared<asio::steady_timer>(ioc);
        wait_drained(timer, std::chrono::steady_clock::now() + options.drain_timeout);
    });
}

void server::impl::wait_drained(std::shared_ptr<asio::steady_timer> timer, std::chrono::steady_clock::time_point deadline)
{
    if (inflight.load() == 0 || std::chrono::steady_clock::now() >= deadline) {
        if (inflight.load() != 0) {
            PUFFER_LOG(warn, "stopping with %zu requests still in flight after the drain timeout", inflight.load());
        }
        ioc.stop();
        return;
    }
    timer->expires_after(std::chrono::milliseconds(10));
    timer->async_wait([this, timer, deadline](beast::error_code) { wait_drained(timer, deadline); });
}

server::server(db::database& db, server_options options) : impl_(std::make_unique<impl>(db, std::move(options))) {}

server::~server() = default;

status server::listen()
{
    PUFFER_TRY_ASSIGN(tcp::endpoint endpoint, parse_endpoint(impl_->options.bind_addr));
    beast::error_code ec;
    impl_->acceptor.open(endpoint.protocol(), ec);
    if (!ec) {
        impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
        impl_->acceptor.bind(endpoint, ec);
    }
    if (!ec) {
        impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        return make_error(errc::io, "cannot listen on " + impl_->options.bind_addr + ": " + ec.message());
    }
    impl_->port = impl_->acceptor.local_endpoint().port();
    return ok();
}

std::uint16_t server::port() const
{
    return impl_->port;
}

void server::run(bool handle_signals)
{
    std::optional<asio::signal_set> signals;
    if (handle_signals) {
        signals.emplace(impl_->ioc, SIGINT, SIGTERM);
        signals->async_wait([this](beast::error_code ec, int signo) {
            if (!ec) {
                PUFFER_LOG(info, "received signal %d", signo);
                impl_->begin_stop();
            }
        });
    }
    impl_->accept();
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < impl_->options.net_threads; ++i) {
        threads.emplace_back([this] {
            pthread_setname_np(pthread_self(), "net");
            impl_->ioc.run();
        });
    }
    pthread_setname_np(pthread_self(), "net");
    impl_->ioc.run();
    for (auto& t : threads) {
        t.join();
    }
}

void server::stop()
{
    impl_->begin_stop();
}

}  // namespace puffer::net
