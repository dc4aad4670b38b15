#pragma once
// Fault injection for the object store, in the manner of io::fault_env: a wrapper around a real
// store whose plan makes chosen calls misbehave. Each call is "<operation> <key>" (operations:
// put, put_file, get, get_all, size, remove, list); a fault applies to the calls its match
// accepts (every call when match is empty), the next `times` of them (0: every one from now on).
//   fail:     the call fails with errc::io, as a store that is down would after the retries.
//   delay:    the call waits first (a slow store, a query that times out behind it).
//   truncate: a get returns only its first half (a connection cut short).
//   corrupt:  a get returns its bytes with one bit flipped (silent corruption in the store).
// Counts every call and the bytes gets returned. Safe for concurrent use.

#include "engine/storage/object_store.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <vector>

namespace puffer::storage {

enum class object_fault { fail, delay, truncate, corrupt };

class fault_object_store final : public object_store {
public:
    explicit fault_object_store(object_store& base) : base_(base) {}

    using matcher = std::function<bool(const std::string& call)>;
    void add_fault(object_fault kind, matcher match, std::uint64_t times = 0,
                   std::chrono::milliseconds delay = std::chrono::milliseconds(0));
    void clear_faults();

    std::uint64_t calls() const { return calls_.load(); }
    std::uint64_t gets() const { return gets_.load(); }
    std::uint64_t get_bytes() const { return get_bytes_.load(); }
    std::uint64_t injected() const { return injected_.load(); }

    status put(const std::string& key, std::span<const std::byte> data, put_mode mode) override;
    status put_file(const std::string& key, io::file& f, put_mode mode) override;
    result<std::vector<std::byte>> get(const std::string& key, std::uint64_t offset, std::uint64_t length) override;
    result<std::vector<std::byte>> get_all(const std::string& key) override;
    result<std::uint64_t> size(const std::string& key) override;
    status remove(const std::string& key) override;
    result<std::vector<object_info>> list(const std::string& prefix) override;
    std::string describe() const override { return base_.describe(); }

private:
    struct fault {
        object_fault kind;
        matcher match;
        std::uint64_t remaining;  // 0: unlimited
        std::chrono::milliseconds delay;
    };
    // The faults that apply to call, each consumed once; delays are served here.
    std::vector<object_fault> faults_for(const std::string& call);
    // fail -> the error to return, else ok; truncate/corrupt applied to data.
    status apply(const std::string& call, std::vector<std::byte>* data);

    object_store& base_;
    std::mutex mutex_;
    std::vector<fault> faults_;
    std::atomic<std::uint64_t> calls_{0};
    std::atomic<std::uint64_t> gets_{0};
    std::atomic<std::uint64_t> get_bytes_{0};
    std::atomic<std::uint64_t> injected_{0};
};

}  // namespace puffer::storage
