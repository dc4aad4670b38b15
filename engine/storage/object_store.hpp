#pragma once
// Objects by key in an S3-compatible store (the source of truth for segments in object-store
// mode): whole-object and multipart puts, conditional puts, ranged gets, listing by prefix.
// Every call blocks until the store answers (with retries and timeouts inside), so none runs on a
// shard thread: callers issue them from a worker and post the outcome back. Implementations are
// safe for concurrent use.
//
// Errors: a key that does not exist is errc::not_found; a conditional put whose condition fails
// (the key exists) is errc::already_exists; a store that cannot be reached, or answers 5xx after
// the retries, is errc::unavailable; refused credentials or permissions (401, 403) are
// errc::refused; any other answer is errc::io. Each context names the store, the key and the
// HTTP status with the store's error code.

#include "engine/core/result.hpp"
#include "engine/io/env.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace puffer::storage {

enum class put_mode {
    overwrite,  // the key is replaced if it exists
    if_absent,  // fails with errc::already_exists if the key exists (If-None-Match: *)
};

struct object_info {
    std::string key;  // relative to the store's prefix
    std::uint64_t size = 0;
};

class object_store {
public:
    virtual ~object_store() = default;

    // Stores data under key.
    [[nodiscard]] virtual status put(const std::string& key, std::span<const std::byte> data, put_mode mode) = 0;
    // Stores the contents of f (opened through an io::env, so fault injection reaches it) under
    // key, in parts of the store's part size when it is larger (the object appears whole or not
    // at all).
    [[nodiscard]] virtual status put_file(const std::string& key, io::file& f, put_mode mode) = 0;
    // length bytes of key from offset. Fewer bytes come back only when the object ends first;
    // an offset at or past the end is errc::invalid_argument.
    [[nodiscard]] virtual result<std::vector<std::byte>> get(const std::string& key, std::uint64_t offset,
                                                             std::uint64_t length) = 0;
    // The whole object.
    [[nodiscard]] virtual result<std::vector<std::byte>> get_all(const std::string& key) = 0;
    // The object's size.
    [[nodiscard]] virtual result<std::uint64_t> size(const std::string& key) = 0;
    // Removes key; removing a key that does not exist succeeds (as S3 does).
    [[nodiscard]] virtual status remove(const std::string& key) = 0;
    // Every key under prefix, in key order.
    [[nodiscard]] virtual result<std::vector<object_info>> list(const std::string& prefix) = 0;
    // For messages: "s3://bucket/prefix".
    virtual std::string describe() const = 0;
};

struct s3_config {
    std::string endpoint;  // "http://127.0.0.1:7480": path-style requests to it
    std::string region;  // empty: AWS_REGION, else "us-east-1"
    std::string bucket;
    std::string prefix;  // keys are stored as prefix + "/" + key when not empty
    std::string access_key;
    std::string secret_key;
    std::uint64_t part_size_bytes = 64ull << 20;  // put_file: multipart above this
    std::chrono::milliseconds request_timeout{30'000};
    std::chrono::milliseconds connect_timeout{3'000};
    std::uint32_t list_page_keys = 1000;  // keys per listing request (S3's maximum)
    int attempts = 4;  // per request, for transport errors and 5xx, with doubling backoff
    std::chrono::milliseconds first_backoff{50};
};

// Largest part put_file sends (S3 allows 5 GiB; we keep them in memory while they travel).
inline constexpr std::uint64_t s3_part_size_max_bytes = 512ull << 20;
// S3's floor for every part but the last.
inline constexpr std::uint64_t s3_part_size_min_bytes = 5ull << 20;

// Parses "s3://bucket" or "s3://bucket/prefix/path" into config's bucket and prefix (trailing
// slashes dropped). Bucket names follow S3's rules (3..63 of [a-z0-9.-]).
[[nodiscard]] status parse_object_store_url(const std::string& url, s3_config& config);

// Fills access_key and secret_key from PUFFER_S3_ACCESS_KEY / PUFFER_S3_SECRET_KEY, else
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else from credentials_file (lines
// "access_key = ..." and "secret_key = ...", or the AWS names) when it is not empty; the region
// from AWS_REGION when set and config's region was not given. Fails when no keys are found.
[[nodiscard]] status load_s3_credentials(s3_config& config, const std::string& credentials_file);

// An S3 client for config (libcurl; requests signed with AWS SigV4). Does not contact the store.
[[nodiscard]] result<std::unique_ptr<object_store>> make_s3_store(const s3_config& config);

// Creates config's bucket if it does not exist (tests and first start).
[[nodiscard]] status ensure_s3_bucket(const s3_config& config);

}  // namespace puffer::storage
