#pragma once
// Fault injection for tests, wrapping a real env and ring (as LevelDB's FaultInjectionTestEnv
// wraps Env). Every mutating operation — open for write, write, sync, truncate, rename, remove,
// sync_dir, and ring writes and fdatasyncs — is counted; a plan makes chosen operations fail:
//   fail_op(n, errno): the n-th counted operation from now fails once with errno (EIO, ENOSPC).
//   crash_after(n):    from the n-th operation on, everything fails with EIO: the machine is gone.
//   random(seed, one_in, errno): each operation fails with probability 1/one_in.
//   flip_reads(seed, one_in): each read (file or ring) gets one random bit flipped with
//     probability 1/one_in.
// simulate_crash() then drops what a power cut would: file data past the last sync, files whose
// directory entry was never synced, and renames and removes not followed by a directory sync
// (the old contents come back). Safe for concurrent use.

#include "engine/io/env.hpp"
#include "engine/io/ring.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <unordered_map>

namespace puffer::io {

class fault_env final : public env {
public:
    explicit fault_env(env& base) : base_(base) {}

    void fail_op(std::uint64_t n, int errno_value);
    void crash_after(std::uint64_t n);
    void random(std::uint64_t seed, std::uint64_t one_in, int errno_value);
    void flip_reads(std::uint64_t seed, std::uint64_t one_in);
    void clear_faults();

    std::uint64_t ops() const { return ops_.load(); }
    bool crashed() const { return crashed_.load(); }
    std::uint64_t injected() const { return injected_.load(); }

    // Drops everything not durable, then forgets all tracking state. Call with no files open
    // for writing (the database shut down).
    [[nodiscard]] status simulate_crash();

    // Wraps a ring so its writes and syncs are counted and tracked like file writes.
    std::unique_ptr<ring> wrap(std::unique_ptr<ring> base);

    result<std::unique_ptr<file>> open(const std::string& path, open_mode mode) override;
    status rename(const std::string& from, const std::string& to) override;
    status remove(const std::string& path) override;
    status remove_all(const std::string& path) override { return base_.remove_all(path); }
    status make_dirs(const std::string& path) override { return base_.make_dirs(path); }
    status sync_dir(const std::string& path) override;
    result<std::vector<std::string>> list(const std::string& path) override { return base_.list(path); }
    result<bool> exists(const std::string& path) override { return base_.exists(path); }
    result<std::unique_ptr<file_lock>> lock(const std::string& path) override { return base_.lock(path); }

    // Used by the wrappers: counts an operation and says whether (and how) it fails.
    [[nodiscard]] int before_op();
    void note_sync(int fd);
    void note_synced_path(const std::string& path, std::uint64_t size);
    void maybe_flip(std::span<std::byte> data);
    void forget_fd(int fd);

private:
    struct file_state {
        std::uint64_t synced_size = 0;
        bool entry_synced = true;  // false: created/renamed here since the last sync_dir
    };

    env& base_;
    std::atomic<std::uint64_t> ops_{0};
    std::atomic<std::uint64_t> injected_{0};
    std::atomic<bool> crashed_{false};

    std::mutex mutex_;
    std::uint64_t fail_at_ = 0;  // absolute op number, 0: none
    int fail_errno_ = 0;
    std::uint64_t crash_at_ = 0;
    std::uint64_t random_one_in_ = 0;
    int random_errno_ = 0;
    std::mt19937_64 rng_{1};
    std::uint64_t flip_one_in_ = 0;
    std::map<std::string, file_state> files_;
    std::unordered_map<int, std::string> fd_paths_;
    std::map<std::string, std::string> restore_;  // path -> durable contents to bring back
};

}  // namespace puffer::io
