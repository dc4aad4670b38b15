// The S3 client: path-style requests to an S3-compatible endpoint through libcurl, which signs
// them with AWS SigV4 (CURLOPT_AWS_SIGV4). Bodies are not hashed: requests say
// "x-amz-content-sha256: UNSIGNED-PAYLOAD", and segment data carries its own crc32c.
// libcurl signs the query string as written, so every query here is built with its parameters
// sorted by name and each as "name=value" (the canonical form SigV4 hashes).

#include "engine/storage/object_store.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <strings.h>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace puffer::storage {
namespace {

// Keeps the characters SigV4 leaves alone (and '/' in paths); escapes the rest as %XX.
std::string uri_encode(std::string_view s, bool keep_slash)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                     c == '_' || c == '.' || c == '~' || (keep_slash && c == '/');
        if (plain) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

// "a=1&b=2" with names sorted (std::map) and values escaped.
std::string query_string(const std::map<std::string, std::string>& params)
{
    std::string q;
    for (const auto& [name, value] : params) {
        if (!q.empty()) {
            q.push_back('&');
        }
        q += uri_encode(name, false);
        q.push_back('=');
        q += uri_encode(value, false);
    }
    return q;
}

std::string xml_unescape(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '&') {
            out.push_back(s[i]);
            continue;
        }
        static constexpr std::pair<std::string_view, char> entities[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool matched = false;
        for (auto [name, c] : entities) {
            if (s.substr(i, name.size()) == name) {
                out.push_back(c);
                i += name.size() - 1;
                matched = true;
                break;
            }
        }
        if (!matched) {
            out.push_back('&');
        }
    }
    return out;
}

// The text of every <tag>...</tag> in body, in order (S3's answers are flat enough for this).
std::vector<std::string> xml_values(std::string_view body, std::string_view tag)
{
    std::vector<std::string> values;
    std::string open = "<" + std::string(tag) + ">";
    std::string close = "</" + std::string(tag) + ">";
    std::size_t at = 0;
    while ((at = body.find(open, at)) != std::string_view::npos) {
        std::size_t start = at + open.size();
        std::size_t end = body.find(close, start);
        if (end == std::string_view::npos) {
            break;
        }
        values.push_back(xml_unescape(body.substr(start, end - start)));
        at = end + close.size();
    }
    return values;
}

std::string xml_value(std::string_view body, std::string_view tag)
{
    auto values = xml_values(body, tag);
    return values.empty() ? std::string() : std::move(values.front());
}

std::string trim(std::string_view s)
{
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
        s.remove_suffix(1);
    }
    return std::string(s);
}

struct request {
    const char* method = "GET";  // GET, HEAD, PUT, POST, DELETE
    std::string key;             // relative to the store's prefix; empty: the bucket itself
    std::map<std::string, std::string> query;
    std::vector<std::string> headers;
    std::span<const std::byte> body;  // PUT and POST
    std::uint64_t reserve = 0;        // expected response size
};

struct response {
    long status = 0;
    std::vector<std::byte> body;
    std::string etag;
    std::uint64_t content_length = 0;

    std::string_view text() const { return {reinterpret_cast<const char*>(body.data()), body.size()}; }
};

struct upload_cursor {
    std::span<const std::byte> data;
    std::size_t at = 0;
};

std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* user)
{
    auto* cursor = static_cast<upload_cursor*>(user);
    std::size_t n = std::min(size * count, cursor->data.size() - cursor->at);
    std::memcpy(buffer, cursor->data.data() + cursor->at, n);
    cursor->at += n;
    return n;
}

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user)
{
    auto* out = static_cast<response*>(user);
    const auto* bytes = reinterpret_cast<const std::byte*>(data);
    out->body.insert(out->body.end(), bytes, bytes + size * count);
    return size * count;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user)
{
    auto* out = static_cast<response*>(user);
    std::string_view line(data, size * count);
    constexpr std::string_view etag = "etag:";
    if (line.size() > etag.size() && ::strncasecmp(line.data(), etag.data(), etag.size()) == 0) {
        out->etag = trim(line.substr(etag.size()));
    }
    return size * count;
}

bool retryable(CURLcode code)
{
    switch (code) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
            return true;
        default:
            return false;
    }
}

bool retryable(long http_status)
{
    return http_status >= 500 || http_status == 429;
}

class s3_store final : public object_store {
public:
    explicit s3_store(s3_config config) : config_(std::move(config))
    {
        sigv4_ = "aws:amz:" + config_.region + ":s3";
        userpwd_ = config_.access_key + ":" + config_.secret_key;
    }

    ~s3_store() override
    {
        for (CURL* h : idle_) {
            curl_easy_cleanup(h);
        }
    }

    status put(const std::string& key, std::span<const std::byte> data, put_mode mode) override
    {
        request req;
        req.method = "PUT";
        req.key = key;
        req.body = data;
        if (mode == put_mode::if_absent) {
            req.headers.push_back("If-None-Match: *");
        }
        PUFFER_TRY_ASSIGN(auto res, perform(req));
        return expect_ok(res, "put", key);
    }

    status put_file(const std::string& key, io::file& f, put_mode mode) override
    {
        PUFFER_TRY_ASSIGN(std::uint64_t file_size, f.size());
        std::uint64_t part = std::clamp(config_.part_size_bytes, s3_part_size_min_bytes, s3_part_size_max_bytes);
        if (file_size <= part) {
            std::vector<std::byte> data(static_cast<std::size_t>(file_size));
            PUFFER_TRY(read_exactly(f, 0, data));
            return put(key, data, mode);
        }
        if (mode == put_mode::if_absent) {
            // Multipart completion is not conditional on every store: check first (keys that
            // must never be overwritten are unique to their writer, so this is not a race).
            auto existing = size(key);
            if (existing) {
                return make_error(errc::already_exists, "object store: " + key + " exists");
            }
            if (!is(existing.error(), errc::not_found)) {
                return existing.error();
            }
        }
        return put_multipart(key, f, file_size, part);
    }

    result<std::vector<std::byte>> get(const std::string& key, std::uint64_t offset, std::uint64_t length) override
    {
        if (length == 0) {
            return std::vector<std::byte>();
        }
        request req;
        req.key = key;
        req.headers.push_back("Range: bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1));
        req.reserve = length;
        PUFFER_TRY_ASSIGN(auto res, perform(req));
        if (res.status == 416) {
            return make_error(errc::invalid_argument, "object store: range " + std::to_string(offset) + "+" +
                                                          std::to_string(length) + " is past the end of " + key);
        }
        PUFFER_TRY(expect_ok(res, "get", key));
        if (res.status == 200) {
            // A store that ignores Range sends the whole object.
            if (offset >= res.body.size()) {
                return make_error(errc::invalid_argument, "object store: range past the end of " + key);
            }
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(length, res.body.size() - offset));
            return std::vector<std::byte>(res.body.begin() + static_cast<std::ptrdiff_t>(offset),
                                          res.body.begin() + static_cast<std::ptrdiff_t>(offset + n));
        }
        if (res.body.size() > length) {
            return make_error(errc::io, "object store: get " + key + " answered " + std::to_string(res.body.size()) +
                                            " bytes for a range of " + std::to_string(length));
        }
        return std::move(res.body);
    }

    result<std::vector<std::byte>> get_all(const std::string& key) override
    {
        request req;
        req.key = key;
        PUFFER_TRY_ASSIGN(auto res, perform(req));
        PUFFER_TRY(expect_ok(res, "get", key));
        return std::move(res.body);
    }

    result<std::uint64_t> size(const std::string& key) override
    {
        request req;
        req.method = "HEAD";
        req.key = key;
        PUFFER_TRY_ASSIGN(auto res, perform(req));
        PUFFER_TRY(expect_ok(res, "head", key));
        return res.content_length;
    }

    status remove(const std::string& key) override
    {
        request req;
        req.method = "DELETE";
        req.key = key;
        PUFFER_TRY_ASSIGN(auto res, perform(req));
        if (res.status == 404) {
            return ok();
        }
        return expect_ok(res, "delete", key);
    }

    result<std::vector<object_info>> list(const std::string& prefix) override
    {
        std::vector<object_info> out;
        std::string token;
        std::string strip = config_.prefix.empty() ? std::string() : config_.prefix + "/";
        for (;;) {
            request req;
            req.query["list-type"] = "2";
            req.query["max-keys"] = std::to_string(config_.list_page_keys);
            req.query["prefix"] = full_key(prefix);
            if (!token.empty()) {
                req.query["continuation-token"] = token;
            }
            PUFFER_TRY_ASSIGN(auto res, perform(req));
            PUFFER_TRY(expect_ok(res, "list", prefix));
            auto body = res.text();
            auto keys = xml_values(body, "Key");
            auto sizes = xml_values(body, "Size");
            if (keys.size() != sizes.size()) {
                return make_error(errc::io, "object store: a listing of " + prefix + " could not be read");
            }
            for (std::size_t i = 0; i < keys.size(); ++i) {
                if (keys[i].compare(0, strip.size(), strip) != 0) {
                    continue;
                }
                out.push_back({keys[i].substr(strip.size()), std::strtoull(sizes[i].c_str(), nullptr, 10)});
            }
            if (xml_value(body, "IsTruncated") != "true") {
                break;
            }
            token = xml_value(body, "NextContinuationToken");
            if (token.empty()) {
                return make_error(errc::io, "object store: a truncated listing of " + prefix + " has no continuation");
            }
        }
        return out;
    }

    std::string describe() const override
    {
        return "s3://" + config_.bucket + (config_.prefix.empty() ? "" : "/" + config_.prefix);
    }

    // The bucket itself: created when missing.
    status ensure_bucket()
    {
        request head;
        head.method = "HEAD";
        PUFFER_TRY_ASSIGN(auto found, perform(head));
        if (found.status == 200) {
            return ok();
        }
        request req;
        req.method = "PUT";
        PUFFER_TRY_ASSIGN(auto res, perform(req));
        if (res.status == 409) {  // created meanwhile (BucketAlreadyOwnedByYou)
            return ok();
        }
        return expect_ok(res, "create bucket", "");
    }

private:
    // All of out from f at offset: a file that ends first is an error (it changed under us).
    static status read_exactly(io::file& f, std::uint64_t offset, std::span<std::byte> out)
    {
        PUFFER_TRY_ASSIGN(std::size_t n, f.read_at(offset, out));
        if (n != out.size()) {
            return make_error(errc::io, "object store: " + f.path() + " ended at " + std::to_string(offset + n) +
                                            " while it was uploaded");
        }
        return ok();
    }

    // For messages: the store and the key (relative to the prefix; none for the bucket).
    std::string where(const std::string& key) const { return key.empty() ? describe() : describe() + "/" + key; }

    std::string full_key(const std::string& key) const
    {
        return config_.prefix.empty() ? key : config_.prefix + "/" + key;
    }

    status put_multipart(const std::string& key, io::file& f, std::uint64_t file_size, std::uint64_t part)
    {
        request start;
        start.method = "POST";
        start.key = key;
        start.query["uploads"] = "";
        PUFFER_TRY_ASSIGN(auto started, perform(start));
        PUFFER_TRY(expect_ok(started, "start multipart upload of", key));
        std::string upload_id = xml_value(started.text(), "UploadId");
        if (upload_id.empty()) {
            return make_error(errc::io, "object store: no upload id for " + key);
        }
        auto abort = [&] {
            request req;
            req.method = "DELETE";
            req.key = key;
            req.query["uploadId"] = upload_id;
            (void)perform(req);
        };

        std::string complete = "<CompleteMultipartUpload>";
        std::vector<std::byte> buffer(static_cast<std::size_t>(part));
        std::uint64_t done = 0;
        for (int number = 1; done < file_size; ++number) {
            std::size_t n = static_cast<std::size_t>(std::min(part, file_size - done));
            if (status read = read_exactly(f, done, std::span(buffer.data(), n)); !read) {
                abort();
                return read;
            }
            request req;
            req.method = "PUT";
            req.key = key;
            req.query["partNumber"] = std::to_string(number);
            req.query["uploadId"] = upload_id;
            req.body = std::span<const std::byte>(buffer.data(), n);
            auto res = perform(req);
            status st = res ? expect_ok(*res, "upload part of", key) : status(res.error());
            if (!st) {
                abort();
                return st;
            }
            complete += "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" + res->etag +
                        "</ETag></Part>";
            done += n;
        }
        complete += "</CompleteMultipartUpload>";

        request finish;
        finish.method = "POST";
        finish.key = key;
        finish.query["uploadId"] = upload_id;
        finish.body = std::as_bytes(std::span<const char>(complete.data(), complete.size()));
        auto res = perform(finish);
        status st = res ? expect_ok(*res, "complete multipart upload of", key) : status(res.error());
        // S3 may answer 200 with an error in the body.
        if (st && res->text().find("<Error>") != std::string_view::npos) {
            st = make_error(errc::io, "object store: completing the upload of " + key + " failed: " +
                                          xml_value(res->text(), "Code"));
        }
        if (!st) {
            abort();
        }
        return st;
    }

    status expect_ok(const response& res, const char* what, const std::string& key) const
    {
        if (res.status >= 200 && res.status < 300) {
            return ok();
        }
        std::string code = xml_value(res.text(), "Code");
        std::string context = std::string("object store: ") + what + " " + where(key) + ": HTTP " +
                              std::to_string(res.status) + (code.empty() ? "" : " " + code);
        switch (res.status) {
            case 404:
                return make_error(errc::not_found, context);
            case 412:
                return make_error(errc::already_exists, context);
            case 401:
            case 403:
                return make_error(errc::refused, context);
            default:
                return make_error(errc::io, context);
        }
    }

    // One request, retried on transport errors and 5xx with doubling backoff.
    result<response> perform(const request& req)
    {
        std::string url = config_.endpoint + "/" + uri_encode(config_.bucket, false);
        if (!req.key.empty()) {
            url += "/" + uri_encode(full_key(req.key), true);
        }
        if (!req.query.empty()) {
            url += "?" + query_string(req.query);
        }
        auto backoff = config_.first_backoff;
        std::string last;
        for (int attempt = 1;; ++attempt) {
            response res;
            CURLcode code = perform_once(req, url, res);
            bool again = false;
            if (code != CURLE_OK) {
                last = std::string(curl_easy_strerror(code));
                again = retryable(code);
            } else if (retryable(res.status)) {
                last = "HTTP " + std::to_string(res.status);
                std::string s3_code = xml_value(res.text(), "Code");
                if (!s3_code.empty()) {
                    last += " " + s3_code;
                }
                again = true;
            } else {
                return res;
            }
            if (!again || attempt >= config_.attempts) {
                return make_error(errc::unavailable, std::string("object store: ") + req.method + " " +
                                                         where(req.key) + " failed after " + std::to_string(attempt) +
                                                (attempt == 1 ? " attempt: " : " attempts: ") + last);
            }
            std::this_thread::sleep_for(backoff);
            backoff *= 2;
        }
    }

    CURLcode perform_once(const request& req, const std::string& url, response& res)
    {
        CURL* h = take_handle();
        if (h == nullptr) {
            return CURLE_FAILED_INIT;
        }
        curl_slist* headers = nullptr;
        headers = curl_slist_append(headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
        for (const auto& header : req.headers) {
            headers = curl_slist_append(headers, header.c_str());
        }
        upload_cursor cursor{req.body, 0};
        res.body.reserve(static_cast<std::size_t>(req.reserve));

        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4_.c_str());
        curl_easy_setopt(h, CURLOPT_USERPWD, userpwd_.c_str());
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
        // libcurl signs every header it is given, even the empty "Expect:" that would turn off
        // 100-continue (the store then refuses the signature): wait for the 100 briefly instead.
        curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 50L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.request_timeout.count()));
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.connect_timeout.count()));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &res);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &res);
        std::string_view method = req.method;
        if (method == "HEAD") {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (method == "PUT") {
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(h, CURLOPT_READDATA, &cursor);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
        } else if (method == "POST") {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, reinterpret_cast<const char*>(req.body.data()));
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
        } else if (method == "DELETE") {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
        }
        CURLcode code = curl_easy_perform(h);
        if (code == CURLE_OK) {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res.status);
            curl_off_t length = 0;
            if (curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK && length > 0) {
                res.content_length = static_cast<std::uint64_t>(length);
            }
        }
        curl_slist_free_all(headers);
        give_back(h);
        return code;
    }

    // Handles are reused so that connections stay alive; one per concurrent caller.
    CURL* take_handle()
    {
        {
            std::lock_guard lock(mutex_);
            if (!idle_.empty()) {
                CURL* h = idle_.back();
                idle_.pop_back();
                curl_easy_reset(h);
                return h;
            }
        }
        return curl_easy_init();
    }

    void give_back(CURL* h)
    {
        std::lock_guard lock(mutex_);
        idle_.push_back(h);
    }

    s3_config config_;
    std::string sigv4_;
    std::string userpwd_;
    std::mutex mutex_;
    std::vector<CURL*> idle_;
};

void init_curl_once()
{
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool valid_bucket(std::string_view b)
{
    if (b.size() < 3 || b.size() > 63) {
        return false;
    }
    for (char c : b) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) {
            return false;
        }
    }
    return b.front() != '-' && b.front() != '.' && b.back() != '-' && b.back() != '.';
}

std::string env_or_empty(const char* name)
{
    const char* v = std::getenv(name);
    return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

status parse_object_store_url(const std::string& url, s3_config& config)
{
    constexpr std::string_view scheme = "s3://";
    if (url.compare(0, scheme.size(), scheme) != 0) {
        return make_error(errc::invalid_argument, "object store '" + url + "' is not an s3://bucket[/prefix] URL");
    }
    std::string rest = url.substr(scheme.size());
    while (!rest.empty() && rest.back() == '/') {
        rest.pop_back();
    }
    std::size_t slash = rest.find('/');
    std::string bucket = rest.substr(0, slash);
    std::string prefix = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
    if (!valid_bucket(bucket)) {
        return make_error(errc::invalid_argument, "object store '" + url + "': bucket '" + bucket +
                                                      "' is not a valid name (3 to 63 of a-z, 0-9, '.', '-')");
    }
    if (prefix.find("//") != std::string::npos) {
        return make_error(errc::invalid_argument, "object store '" + url + "': the prefix has an empty path segment");
    }
    config.bucket = std::move(bucket);
    config.prefix = std::move(prefix);
    return ok();
}

status load_s3_credentials(s3_config& config, const std::string& credentials_file)
{
    std::string access = env_or_empty("PUFFER_S3_ACCESS_KEY");
    std::string secret = env_or_empty("PUFFER_S3_SECRET_KEY");
    if (access.empty() || secret.empty()) {
        access = env_or_empty("AWS_ACCESS_KEY_ID");
        secret = env_or_empty("AWS_SECRET_ACCESS_KEY");
    }
    if ((access.empty() || secret.empty()) && !credentials_file.empty()) {
        auto text = io::read_file(io::posix_env(), credentials_file);
        if (!text) {
            return make_error(errc::invalid_argument, "cannot read the credentials file " + credentials_file + ": " +
                                                          text.error().text());
        }
        std::string_view rest = *text;
        while (!rest.empty()) {
            std::string_view line = rest.substr(0, rest.find('\n'));
            rest.remove_prefix(std::min(rest.size(), line.size() + 1));
            auto eq = line.find('=');
            if (eq == std::string::npos || trim(line).starts_with('#')) {
                continue;
            }
            std::string name = trim(line.substr(0, eq));
            std::string value = trim(line.substr(eq + 1));
            if (name == "access_key" || name == "aws_access_key_id") {
                access = value;
            } else if (name == "secret_key" || name == "aws_secret_access_key") {
                secret = value;
            }
        }
    }
    if (access.empty() || secret.empty()) {
        return make_error(errc::invalid_argument,
                          "no object-store credentials: set PUFFER_S3_ACCESS_KEY and PUFFER_S3_SECRET_KEY (or "
                          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or name a credentials file");
    }
    if (config.region.empty()) {
        config.region = env_or_empty("AWS_REGION");
    }
    config.access_key = std::move(access);
    config.secret_key = std::move(secret);
    return ok();
}

result<std::unique_ptr<object_store>> make_s3_store(const s3_config& config)
{
    if (config.endpoint.empty()) {
        return make_error(errc::invalid_argument, "the object store needs an endpoint URL");
    }
    if (!valid_bucket(config.bucket)) {
        return make_error(errc::invalid_argument, "object store bucket '" + config.bucket + "' is not a valid name");
    }
    init_curl_once();
    s3_config c = config;
    while (!c.endpoint.empty() && c.endpoint.back() == '/') {
        c.endpoint.pop_back();
    }
    if (c.region.empty()) {
        c.region = "us-east-1";
    }
    return std::unique_ptr<object_store>(new s3_store(std::move(c)));
}

status ensure_s3_bucket(const s3_config& config)
{
    PUFFER_TRY_ASSIGN(auto store, make_s3_store(config));
    return static_cast<s3_store&>(*store).ensure_bucket();
}

}  // namespace puffer::storage
