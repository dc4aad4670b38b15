// The only translation unit (with the CLI's client) that includes Beast: it is slow to compile.
#include "net/server.hpp"

#include "engine/core/assert.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/log.hpp"
#include "net/http_text.hpp"
#include "net/routes.hpp"
#include "engine/io/env.hpp"

#include <boost/asio.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <ctime>
#include <mutex>
#include <unordered_map>
#include <pthread.h>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace puffer::net {

namespace {

// What the server keeps of a connection, whichever stream it speaks (plain TCP or TLS): enough
// for a stop to reach it on its strand.
class session_base : public std::enable_shared_from_this<session_base> {
public:
    virtual ~session_base() = default;
    virtual asio::any_io_executor executor() = 0;
    virtual void on_server_stop() = 0;
};

}  // namespace

struct server::impl {
    impl(db::database& d, server_options o)
        : options(std::move(o)), routes(d, router_options{options.answer_bytes_max, options.auth, options.slow_query_ms, options.console_dir}),
          ioc(static_cast<int>(options.net_threads))
    {
    }

    server_options options;
    router routes;
    asio::io_context ioc;
    tcp::acceptor acceptor{ioc};
    // Every use of the acceptor (accepting, pausing, closing at stop) runs on this strand: an
    // accept completing on one net thread while another closes the acceptor would be a race.
    asio::strand<asio::io_context::executor_type> accept_strand{asio::make_strand(ioc)};
    std::atomic<std::size_t> inflight{0};
    std::atomic<bool> stopping{false};
    std::uint16_t port = 0;
    // Bytes of answers being written, every connection together (answers_inflight_bytes_max).
    std::atomic<std::size_t> answer_bytes{0};

    // Live sessions, so that a stop reaches the ones still receiving a request. A session adds
    // itself when it starts and removes itself when it is destroyed.
    std::mutex sessions_mutex;
    std::unordered_map<session_base*, std::weak_ptr<session_base>> sessions;
    // Sessions in a lingering close (reading what a client still sends after its answer).
    std::atomic<std::size_t> lingering{0};
    // Sessions the stop has been posted to that have not run it yet.
    std::atomic<std::size_t> stop_notices_pending{0};
    // With --tls-cert and --tls-key: every connection speaks TLS (set up by listen()).
    std::optional<asio::ssl::context> tls;

    void accept();
    void begin_stop();
    void wait_drained(std::shared_ptr<asio::steady_timer> timer, std::chrono::steady_clock::time_point deadline);
};

namespace {

// The header section, and separately the trailer section of a chunked body, may be at most this.
constexpr std::size_t header_bytes_max = 64 * 1024;

// A body read from a byte source as it is sent (a snapshot archive): a chunk at a time, so an
// archive of any size costs one chunk of memory. The reads block the net thread briefly (page
// cache or one disk read per chunk).
struct source_body {
    struct value_type {
        std::shared_ptr<io::byte_source> source;
        std::uint64_t size = 0;
    };
    static std::uint64_t size(const value_type& v) { return v.size; }

    class writer {
    public:
        using const_buffers_type = asio::const_buffer;
        template <bool isRequest, class Fields>
        writer(const http::header<isRequest, Fields>&, const value_type& v) : value_(v)
        {
        }
        void init(beast::error_code& ec) { ec = {}; }
        boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& ec)
        {
            ec = {};
            if (sent_ == value_.size) {
                return boost::none;
            }
            chunk_.resize(chunk_bytes);
            auto want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_.size(), value_.size - sent_));
            auto n = value_.source->read(std::span(chunk_).first(want));
            if (!n || *n == 0) {
                PUFFER_LOG(warn, "streamed answer cut short at byte %llu: %s", static_cast<unsigned long long>(sent_),
                           n ? "the source ended early" : n.error().message().c_str());
                ec = make_error_code(boost::system::errc::io_error);
                return boost::none;
            }
            sent_ += *n;
            return std::make_pair(asio::const_buffer(chunk_.data(), *n), sent_ < value_.size);
        }

    private:
        static constexpr std::size_t chunk_bytes = std::size_t{1} << 20;
        const value_type& value_;
        std::vector<std::byte> chunk_;
        std::uint64_t sent_ = 0;
    };
};

// The stream a connection speaks: Stream is beast::tcp_stream or an ssl_stream over one.
template <class Stream>
class session final : public session_base {
    static constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;

public:
    // The read buffer holds at most one header or trailer section: a trailer that does not fit
    // ends the read with buffer_overflow (400), so it can neither grow without bound nor reach
    // the field container's own 64 KiB limit on one value (which throws).
    // Its whole capacity is reserved at once: the parser's reads are sized by the free capacity,
    // and a buffer grown on demand reads a large body a few hundred bytes at a time.
    session(tcp::socket&& socket, server::impl& s) requires(!is_tls)
        : stream_(std::move(socket)), server_(s), buffer_(header_bytes_max)
    {
        buffer_.reserve(header_bytes_max);
    }
    session(tcp::socket&& socket, server::impl& s, asio::ssl::context& tls) requires(is_tls)
        : stream_(std::move(socket), tls), server_(s), buffer_(header_bytes_max)
    {
        buffer_.reserve(header_bytes_max);
    }

    ~session()
    {
        {
            std::lock_guard lock(server_.sessions_mutex);
            server_.sessions.erase(this);
        }
        release_answer_bytes();
        end_linger();
        if (!upload_guard_.empty()) {
            (void)io::posix_env().remove(upload_guard_);
        }
        if (!upload_path_.empty()) {
            (void)io::posix_env().remove(upload_path_);
        }
        if (counted_) {
            server_.inflight.fetch_sub(1);
        }
    }

    void start()
    {
        peer_is_loopback_ = peer_is_loopback();  // the peer of a connection never changes
        {
            std::lock_guard lock(server_.sessions_mutex);
            server_.sessions.emplace(this, weak_from_this());
        }
        // A stop that began before this session was listed did not reach it: read_request
        // then closes the connection at once.
        if constexpr (is_tls) {
            asio::dispatch(stream_.get_executor(), [self = self_ptr()] { self->detect_tls(); });
        } else {
            asio::dispatch(stream_.get_executor(), [self = self_ptr()] { self->read_request(); });
        }
    }

    asio::any_io_executor executor() override { return stream_.get_executor(); }

    // On the session's strand, once the server stops: a request still being received gets
    // 503 shutting_down at once (the client may be sending a long body and should learn why the
    // connection ends); a request being handled is answered, and keep-alive ends with it. A
    // connection idle between requests stays open until the drain ends, and a request it sends
    // meanwhile gets 503 shutting_down from the router, as health checks expect.
    void on_server_stop() override
    {
        stop_seen_ = true;
        if (reading_ && ((parser_ && parser_->got_some()) || upload_parser_)) {
            beast::error_code ignored;
            lowest().socket().cancel(ignored);  // the read ends with operation_aborted
        }
    }

private:
    std::shared_ptr<session> self_ptr() { return std::static_pointer_cast<session>(shared_from_this()); }
    auto& lowest() { return beast::get_lowest_layer(stream_); }

    // TLS: a client that speaks plain HTTP to this port gets a plain-text answer saying so, not a
    // silent close; a TLS client goes on to the handshake, within the request deadline.
    void detect_tls()
    {
        lowest().expires_after(server_.options.request_timeout);
        beast::async_detect_ssl(lowest(), buffer_, [self = self_ptr()](beast::error_code ec, bool tls) {
            if (ec) {
                self->close();
                return;
            }
            if (!tls) {
                self->refuse_plain_http();
                return;
            }
            self->stream_.async_handshake(asio::ssl::stream_base::server, self->buffer_.data(),
                                          // The default argument satisfies Beast 1.81's constraint, which
                                          // names the unbuffered handshake's signature by mistake.
                                          [self](beast::error_code ec, std::size_t used = 0) {
                                              if (ec) {
                                                  PUFFER_LOG(debug, "TLS handshake failed: %s", ec.message().c_str());
                                                  self->close();
                                                  return;
                                              }
                                              self->buffer_.consume(used);
                                              self->read_request();
                                          });
        });
    }

    void refuse_plain_http()
    {
        static constexpr std::string_view body =
            R"({"error":{"code":"bad_request","message":"this port speaks HTTPS (TLS): use an https:// URL"}})";
        plain_refusal_ = strprintf("HTTP/1.1 400 Bad Request\r\nServer: openpuffer\r\nContent-Type: application/json\r\n"
                                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%.*s",
                                   body.size(), static_cast<int>(body.size()), body.data());
        asio::async_write(lowest(), asio::buffer(plain_refusal_), [self = self_ptr()](beast::error_code, std::size_t) {
            beast::error_code ignored;
            self->lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
            self->lowest().close();
        });
    }
    void read_request()
    {
        parser_.emplace();
        // No limit while the header is read: its Content-Length is checked in on_header against
        // the limit of what it is (an upload may be far larger than any other body).
        parser_->body_limit(boost::none);
        parser_->header_limit(header_bytes_max);
        lowest().expires_after(first_ ? server_.options.request_timeout : server_.options.idle_timeout);
        first_ = false;
        reading_ = true;
        http::async_read_header(stream_, buffer_, *parser_,
                                [self = self_ptr()](beast::error_code ec, std::size_t) { self->on_header(ec); });
    }

    // The header is in: an upload's body goes to a file (if its key may write), any other body
    // to memory.
    void on_header(beast::error_code ec)
    {
        if (ec) {
            on_read(ec);
            return;
        }
        auto& req = parser_->get();
        if (!server_.routes.is_upload(req.method_string(), req.target())) {
            if (auto length = parser_->content_length(); length && *length > server_.options.max_body_bytes) {
                reading_ = false;
                respond_error(413, "payload_too_large",
                              strprintf("request body over the %zu-byte limit (--max-body-mb)",
                                        server_.options.max_body_bytes),
                              false);
                return;
            }
            parser_->body_limit(server_.options.max_body_bytes);  // a chunked body, as it comes
            http::async_read(stream_, buffer_, *parser_,
                             [self = self_ptr()](beast::error_code ec, std::size_t) { self->on_read(ec); });
            return;
        }
        credentials who;
        who.authorization = req[http::field::authorization];
        who.api_key = req["api-key"];
        who.peer_is_loopback = peer_is_loopback_;
        if (auto refused = server_.routes.refuse_upload(who)) {
            reading_ = false;
            count_inflight();
            keep_alive_ = false;
            method_ = std::string(req.method_string());
            target_ = std::string(req.target());
            started_ = std::chrono::steady_clock::now();
            write(std::move(*refused));
            return;
        }
        if (auto length = parser_->content_length(); length && *length > server_.options.max_upload_bytes) {
            reading_ = false;
            respond_error(413, "payload_too_large", upload_too_large(), false);
            return;
        }
        upload_path_ = server_.routes.upload_path();
        upload_parser_.emplace(std::move(*parser_));
        parser_.reset();
        upload_parser_->body_limit(server_.options.max_upload_bytes);
        beast::error_code open_ec;
        upload_parser_->get().body().open(upload_path_.c_str(), beast::file_mode::write, open_ec);
        if (open_ec) {
            reading_ = false;
            upload_parser_.reset();
            upload_path_.clear();
            respond_error(507, "insufficient_storage", "cannot store the upload: " + open_ec.message(), false);
            return;
        }
        // An upload may take long: its deadline grows with its announced size (8 MiB/s at least).
        auto length = upload_parser_->content_length();
        lowest().expires_after(server_.options.request_timeout + std::chrono::seconds(length ? *length >> 23 : 3600));
        http::async_read(stream_, buffer_, *upload_parser_,
                         [self = self_ptr()](beast::error_code ec, std::size_t) { self->on_upload_read(ec); });
    }

    void on_upload_read(beast::error_code ec)
    {
        reading_ = false;
        auto& req = upload_parser_->get();
        req.body().close();
        if (ec) {
            (void)io::posix_env().remove(upload_path_);
            upload_path_.clear();
            if (ec == http::error::body_limit) {
                respond_error(413, "payload_too_large", upload_too_large(), false);
                return;
            }
            if (ec == asio::error::operation_aborted && stop_seen_) {
                respond_error(503, "shutting_down", "the server is shutting down; the upload was not read", false);
                return;
            }
            if (connection_ended(ec)) {
                close();
                return;
            }
            // The file could not be written: the client is still connected and should learn why.
            if (ec == boost::system::errc::no_space_on_device || ec == boost::system::errc::file_too_large) {
                respond_error(507, "insufficient_storage",
                              "the disk is full: the upload could not be stored (" + ec.message() + ")", false);
                return;
            }
            respond_error(500, "internal", "the upload could not be stored: " + ec.message(), false);
            return;
        }
        handle(req, std::string(), std::exchange(upload_path_, std::string()));
    }

    std::string upload_too_large() const
    {
        return strprintf("upload over the %llu-byte limit (--max-upload-gb)",
                         static_cast<unsigned long long>(server_.options.max_upload_bytes));
    }

    // The connection ended or broke while a body was read (not a failure of the file it went to).
    static bool connection_ended(const beast::error_code& ec)
    {
        return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
               ec == beast::error::timeout || ec == asio::error::connection_reset ||
               ec == asio::error::broken_pipe || ec == asio::error::operation_aborted ||
               ec.category() == asio::error::get_ssl_category() || ec == asio::ssl::error::stream_truncated;
    }

    void on_read(beast::error_code ec)
    {
        reading_ = false;
        if (ec == asio::error::operation_aborted && stop_seen_ && parser_ && parser_->got_some()) {
            respond_error(503, "shutting_down", "the server is shutting down; the request was not read", false);
            return;
        }
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
        if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
            respond_error(400, "bad_request",
                          strprintf("malformed HTTP request: the header or trailer section is over %zu bytes",
                                    header_bytes_max),
                          false);
            return;
        }
        if (ec) {
            respond_error(400, "bad_request", "malformed HTTP request: " + ec.message(), false);
            return;
        }
        auto& req = parser_->get();
        handle(req, std::move(req.body()), std::string());
    }

    template <class Request>
    void handle(Request& req, std::string body, std::string upload_file)
    {
        if (!upload_file.empty()) {
            // Removed by the router once the call is answered; here if it never reaches it.
            upload_guard_ = upload_file;
        }
        // RFC 9112 6.3: a Transfer-Encoding that does not end in chunked leaves the body's length
        // unknown (read as empty, its bytes would be taken for the next request). Only chunked
        // alone is understood; other codings before it are not implemented.
        if (auto te = req.find(http::field::transfer_encoding); te != req.end()) {
            if (!req.chunked()) {
                respond_error(400, "bad_request",
                              "malformed HTTP request: Transfer-Encoding must end in chunked (RFC 9112 section 6.3)",
                              false);
                return;
            }
            if (!beast::iequals(trim_blanks(te->value()), "chunked")) {
                respond_error(501, "not_implemented",
                              "transfer coding '" + std::string(te->value().substr(0, 80)) +
                                  "' is not implemented; send the body with chunked alone or with Content-Length",
                              false);
                return;
            }
        }
        keep_alive_ = req.keep_alive() && !server_.stopping.load();
        started_ = std::chrono::steady_clock::now();
        method_ = std::string(req.method_string());
        target_ = std::string(req.target());
        count_inflight();
        // The body must be read within the request deadline; the handler may take longer.
        lowest().expires_never();
        upload_guard_.clear();
        http_request r{method_, target_, std::move(body), {}, std::move(upload_file)};
        // Views into the request's headers: the router reads them before handle returns.
        r.who.authorization = req[http::field::authorization];
        r.who.api_key = req["api-key"];
        r.who.peer_is_loopback = peer_is_loopback_;
        // One answer per request: if handling throws (out of memory for a huge body, say), the
        // client gets a JSON 500 rather than the process ending, and any later answer is dropped.
        auto answered = std::make_shared<std::atomic<bool>>(false);
        route_ = "none";  // until the router says which route this is
        try {
            route_ = server_.routes.handle(std::move(r), [self = self_ptr(), answered](make_response_fn make) mutable {
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

    bool peer_is_loopback()
    {
        beast::error_code ec;
        auto peer = lowest().socket().remote_endpoint(ec);
        if (ec) {
            return false;
        }
        auto a = peer.address();
        if (a.is_v6() && a.to_v6().is_v4_mapped()) {
            return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
        }
        return a.is_loopback();
    }

    // A request from its whole arrival (or its refusal) until its answer is written: the drain
    // at stop waits for these.
    void count_inflight()
    {
        PUFFER_ASSERT(!counted_);
        server_.inflight.fetch_add(1);
        counted_ = true;
    }

    void respond_error(unsigned status, std::string_view code, std::string message, bool keep_alive)
    {
        count_inflight();
        route_ = "none";
        keep_alive_ = keep_alive;
        method_ = parser_ && parser_->is_header_done() ? std::string(parser_->get().method_string()) : "-";
        target_ = parser_ && parser_->is_header_done() ? std::string(parser_->get().target()) : "-";
        started_ = std::chrono::steady_clock::now();
        http_response r = error_response(status, code, message);
        r.retry_after = status == 503;
        write(std::move(r));
    }

    void write(http_response r)
    {
        // The answer takes its bytes from the budget for answers being sent, or becomes a 503.
        PUFFER_ASSERT(answer_bytes_ == 0);
        std::size_t size = r.body.size();
        if (server_.answer_bytes.fetch_add(size) + size > server_.options.answers_inflight_bytes_max) {
            server_.answer_bytes.fetch_sub(size);
            PUFFER_LOG(warn, "%s %s: answer of %zu bytes refused: answers being sent hold over %zu bytes",
                       method_.c_str(), target_.substr(0, 200).c_str(), size,
                       server_.options.answers_inflight_bytes_max);
            r = error_response(503, "busy",
                               strprintf("the server is sending %zu MiB of answers to slow readers; retry",
                                         server_.options.answers_inflight_bytes_max >> 20));
            r.retry_after = true;
        } else {
            answer_bytes_ = size;
        }
        if (r.stream) {
            write_streamed(std::move(r));
            return;
        }
        response_ = {};
        response_.version(11);
        response_.result(r.status);
        response_.set(http::field::server, "openpuffer");
        response_.set(http::field::content_type, r.content_type);
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
        lowest().expires_after(server_.options.request_timeout);
        http::async_write(stream_, response_, [self = self_ptr()](beast::error_code ec, std::size_t) {
            self->on_write(ec);
        });
    }

    void write_streamed(http_response r)
    {
        streamed_.emplace();
        auto& res = *streamed_;
        res.version(11);
        res.result(r.status);
        res.set(http::field::server, "openpuffer");
        res.set(http::field::content_type, r.content_type);
        if (!r.attachment.empty()) {
            res.set(http::field::content_disposition, "attachment; filename=\"" + r.attachment + "\"");
        }
        res.keep_alive(keep_alive_);
        res.body().source = std::move(r.stream);
        res.body().size = r.stream_bytes;
        res.prepare_payload();
        status_ = r.status;
        // A long answer: the deadline grows with its size (8 MiB/s at least).
        lowest().expires_after(server_.options.request_timeout + std::chrono::seconds(r.stream_bytes >> 23));
        http::async_write(stream_, res, [self = self_ptr()](beast::error_code ec, std::size_t) {
            self->streamed_.reset();
            self->on_write(ec);
        });
    }

    void release_answer_bytes()
    {
        if (answer_bytes_ > 0) {
            server_.answer_bytes.fetch_sub(answer_bytes_);
            answer_bytes_ = 0;
        }
    }

    void on_write(beast::error_code ec)
    {
        // The body is sent (or never will be): free it now, not at the next request.
        response_.body() = std::string();
        release_answer_bytes();
        double ms = ms_since(started_);
        unsigned result = status_ != 0 ? status_ : response_.result_int();
        status_ = 0;
        server_.routes.request_metrics().observe(route_, result, ms / 1000.0);
        if (log::enabled(log::level::info)) {
            PUFFER_LOG(info, "%s %s %u %.3fms", method_.c_str(), target_.substr(0, 200).c_str(), result, ms);
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
        lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
        lowest().close();
    }

    // Lingering close: stop sending, then read and discard what the client still sends (the
    // rest of a refused body) for up to 2 s, so it can finish sending and read our answer
    // instead of meeting a reset.
    void linger()
    {
        lingering_ = true;
        server_.lingering.fetch_add(1);
        lowest().expires_after(std::chrono::seconds(2));
        if constexpr (is_tls) {
            // TLS: close_notify, then wait for the client's (or its close, or the 2 s).
            stream_.async_shutdown([self = self_ptr()](beast::error_code) {
                self->lowest().close();
                self->end_linger();
            });
            return;
        }
        beast::error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
        drain_.resize(64 * 1024);
        discard();
    }

    void discard()
    {
        stream_.async_read_some(asio::buffer(drain_), [self = self_ptr()](beast::error_code ec, std::size_t) {
            if (ec) {
                self->lowest().close();
                self->end_linger();
                return;
            }
            self->discard();
        });
    }

    void end_linger()
    {
        if (lingering_) {
            lingering_ = false;
            server_.lingering.fetch_sub(1);
        }
    }

    Stream stream_;
    server::impl& server_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::optional<http::request_parser<http::file_body>> upload_parser_;
    std::string upload_path_;   // the file an upload is being received into
    std::string upload_guard_;  // an upload not yet handed to the router: removed with the session
    http::response<http::string_body> response_;
    std::optional<http::response<source_body>> streamed_;
    unsigned status_ = 0;  // of a streamed answer
    bool keep_alive_ = true;
    bool first_ = true;
    bool counted_ = false;
    bool peer_is_loopback_ = false;
    // Strand-local: a read is in progress; the close is lingering; the server's stop reached this.
    bool reading_ = false;
    bool lingering_ = false;
    bool stop_seen_ = false;
    std::size_t answer_bytes_ = 0;  // taken from server_.answer_bytes for the answer being written
    std::string method_;
    std::string target_;
    std::string_view route_ = "none";  // the route pattern of the request being answered (static)
    std::chrono::steady_clock::time_point started_;
    std::vector<char> drain_;
    std::string plain_refusal_;  // TLS: the answer to a plain HTTP request
};

using plain_session = session<beast::tcp_stream>;
using tls_session = session<beast::ssl_stream<beast::tcp_stream>>;

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
    acceptor.async_accept(asio::make_strand(ioc), asio::bind_executor(accept_strand, [this](beast::error_code ec,
                                                                                             tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
            return;
        }
        if (!ec) {
            if (tls) {
                std::make_shared<tls_session>(std::move(socket), *this, *tls)->start();
            } else {
                std::make_shared<plain_session>(std::move(socket), *this)->start();
            }
        } else if (ec == asio::error::no_descriptors) {
            PUFFER_LOG(warn, "accept: out of file descriptors; pausing accepts for 100 ms");
            auto timer = std::make_shared<asio::steady_timer>(ioc, std::chrono::milliseconds(100));
            timer->async_wait(asio::bind_executor(accept_strand, [this, timer](beast::error_code) { accept(); }));
            return;
        }
        accept();
    }));
}

void server::impl::begin_stop()
{
    if (stopping.exchange(true)) {
        return;
    }
    PUFFER_LOG(info, "stopping: refusing new requests, waiting for %zu in flight", inflight.load());
    routes.set_shutting_down();
    asio::post(accept_strand, [this] {
        beast::error_code ignored;
        acceptor.close(ignored);
        std::vector<std::weak_ptr<session_base>> live;
        {
            std::lock_guard lock(sessions_mutex);
            for (auto& [ptr, weak] : sessions) {
                live.push_back(weak);
            }
        }
        // On each session's strand, like everything else it does; the drain starts counting once
        // every session has seen the stop (a request it cuts short becomes a request in flight).
        stop_notices_pending.store(live.size());
        for (auto& weak : live) {
            if (auto s = weak.lock()) {
                auto executor = s->executor();
                asio::post(executor, [this, s = std::move(s)] {
                    s->on_server_stop();
                    stop_notices_pending.fetch_sub(1);
                });
            } else {
                stop_notices_pending.fetch_sub(1);
            }
        }
        auto timer = std::make_shared<asio::steady_timer>(ioc);
        wait_drained(timer, std::chrono::steady_clock::now() + options.drain_timeout);
    });
}

void server::impl::wait_drained(std::shared_ptr<asio::steady_timer> timer, std::chrono::steady_clock::time_point deadline)
{
    // Requests being answered (the 503s to requests cut short by the stop among them), and the
    // lingering closes after them (up to 2 s each), so their clients read the answer.
    bool drained = stop_notices_pending.load() == 0 && inflight.load() == 0 && lingering.load() == 0;
    if (drained || std::chrono::steady_clock::now() >= deadline) {
        if (!drained) {
            PUFFER_LOG(warn, "stopping with %zu requests in flight and %zu closes lingering after the drain timeout",
                       inflight.load(), lingering.load());
        }
        ioc.stop();
        return;
    }
    timer->expires_after(std::chrono::milliseconds(10));
    timer->async_wait([this, timer, deadline](beast::error_code) { wait_drained(timer, deadline); });
}

server::server(db::database& db, server_options options) : impl_(std::make_unique<impl>(db, std::move(options))) {}

server::~server() = default;

namespace {

std::string openssl_error()
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        return "unknown error";
    }
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    ERR_clear_error();
    return text;
}

std::string asn1_time_text(const ASN1_TIME* t)
{
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return "an unreadable date";
    }
    char text[64];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return text;
}

// TLS 1.2 and 1.3 with the certificate chain and key given; refuses a key that does not match
// the certificate, and a certificate that is expired or not yet valid (every client would
// refuse it: better a server that says so at start-up than one that fails each handshake).
result<std::unique_ptr<asio::ssl::context>> make_tls_context(const server_options& o)
{
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    beast::error_code ec;
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                     ec);
    ctx->use_certificate_chain_file(o.tls_cert_file, ec);
    if (ec) {
        return make_error(errc::invalid_argument,
                          "cannot use the TLS certificate '" + o.tls_cert_file + "' (--tls-cert): " + ec.message());
    }
    ctx->use_private_key_file(o.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) {
        return make_error(errc::invalid_argument,
                          "cannot use the TLS key '" + o.tls_key_file + "' (--tls-key): " + ec.message());
    }
    SSL_CTX* native = ctx->native_handle();
    if (SSL_CTX_check_private_key(native) != 1) {
        return make_error(errc::invalid_argument, "the TLS key '" + o.tls_key_file +
                                                      "' does not belong to the certificate '" + o.tls_cert_file +
                                                      "': " + openssl_error());
    }
    X509* cert = SSL_CTX_get0_certificate(native);
    if (cert == nullptr) {
        return make_error(errc::invalid_argument, "the TLS certificate '" + o.tls_cert_file + "' holds no certificate");
    }
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
        return make_error(errc::invalid_argument, "the TLS certificate '" + o.tls_cert_file + "' expired on " +
                                                      asn1_time_text(X509_get0_notAfter(cert)) +
                                                      "; clients would refuse it: renew it");
    }
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
        return make_error(errc::invalid_argument, "the TLS certificate '" + o.tls_cert_file +
                                                      "' is not valid before " +
                                                      asn1_time_text(X509_get0_notBefore(cert)));
    }
    PUFFER_LOG(info, "TLS: certificate %s valid until %s", o.tls_cert_file.c_str(),
               asn1_time_text(X509_get0_notAfter(cert)).c_str());
    return ctx;
}

}  // namespace

status server::listen()
{
    if (impl_->options.tls_cert_file.empty() != impl_->options.tls_key_file.empty()) {
        return make_error(errc::invalid_argument, "TLS needs both --tls-cert and --tls-key");
    }
    if (!impl_->options.tls_cert_file.empty()) {
        PUFFER_TRY_ASSIGN(auto ctx, make_tls_context(impl_->options));
        impl_->tls.emplace(std::move(*ctx));
    }
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
    // An exception out of a handler (Beast's parser throws from inside a read, for example) ends
    // run() on that thread: log it and run again. The handler that threw is destroyed on the
    // way out, and with it the connection it served; every other connection goes on.
    auto run_guarded = [this] {
        pthread_setname_np(pthread_self(), "net");
        for (;;) {
            try {
                impl_->ioc.run();
                return;
            } catch (const std::exception& e) {
                PUFFER_LOG(error, "a connection failed and was closed: %s", e.what());
            }
        }
    };
    for (std::size_t i = 1; i < impl_->options.net_threads; ++i) {
        threads.emplace_back(run_guarded);
    }
    run_guarded();
    for (auto& t : threads) {
        t.join();
    }
}

void server::stop()
{
    impl_->begin_stop();
}

}  // namespace puffer::net
