#pragma once
// Fault injection for tests, wrapping a real env and ring (as LevelDB's FaultInjectionTestEnv
// wraps Env). Every mutating operation — open for write, write, sync, truncate, rename, remove,
// remove_all, make_dirs, sync_dir, and ring writes and fdatasyncs — is counted; a plan makes
// chosen operations fail:
//   fail_op(n, errno): the n-th counted operation from now fails once with errno (EIO, ENOSPC).
//   crash_after(n):    from the n-th operation on, everything fails with EIO: the machine is gone.
//   random(seed, one_in, errno): each operation fails with probability 1/one_in.
//   flip_reads(seed, one_in): each read (file or ring) gets one random bit flipped with
//     probability 1/one_in.
//   fail_first_matching(match, errno): the first operation from now whose "<operation> <path>"
//     match accepts fails once with errno (a chosen code path, whatever the interleaving).
// simulate_crash() then drops what a power cut would: file data past the last sync, files whose
// directory entry was never synced, and renames (of files and of directories) and removes not
// followed by a sync of their directory (the old contents come back). With
// crash_mode::torn_last_sector the unsynced tail of a file is not dropped whole: its complete
// 4 KiB sectors reach the disk and only the last partial sector is cut, as when the power fails
// in the middle of writing back a long write.
// Every injected fault is recorded as "<operation> <path>" (injected_ops()), so a test can say
// which operation of which code path it failed. Safe for concurrent use.

#include "engine/io/env.hpp"
#include "engine/io/ring.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace puffer::io {

enum class crash_mode {
    drop_unsynced,     // every byte written since the file's last sync is lost
    torn_last_sector,  // whole 4 KiB sectors of the unsynced tail survive; the partial last one is cut
};

inline constexpr std::uint64_t torn_sector_size_bytes = 4096;

class fault_env final : public env {
public:
    explicit fault_env(env& base) : base_(base) {}

    void fail_op(std::uint64_t n, int errno_value);
    void crash_after(std::uint64_t n);
    void random(std::uint64_t seed, std::uint64_t one_in, int errno_value);
    void flip_reads(std::uint64_t seed, std::uint64_t one_in);
    void fail_first_matching(std::function<bool(const std::string&)> match, int errno_value);
    void clear_faults();
    // false: syncs (file, directory, ring) are tracked but not passed to the device. Durability
    // is what simulate_crash() emulates either way; tests that never crash the real machine run
    // at memory speed.
    void set_sync_through(bool through) { sync_through_ = through; }
    bool sync_through() const { return sync_through_.load(); }

    std::uint64_t ops() const { return ops_.load(); }
    bool crashed() const { return crashed_.load(); }
    std::uint64_t injected() const { return injected_.load(); }
    // "<operation> <path>" of every fault injected so far (failed operations, in order; flipped
    // reads are counted by injected() only).
    std::vector<std::string> injected_ops();

    // Drops everything not durable (see crash_mode), then forgets all tracking state. Call with
    // no files open for writing (the database shut down).
    [[nodiscard]] status simulate_crash(crash_mode mode = crash_mode::drop_unsynced);

    // Wraps a ring so its writes and syncs are counted and tracked like file writes.
    std::unique_ptr<ring> wrap(std::unique_ptr<ring> base);

    result<std::unique_ptr<file>> open(const std::string& path, open_mode mode) override;
    status rename(const std::string& from, const std::string& to) override;
    status remove(const std::string& path) override;
    status link(const std::string& from, const std::string& to) override;
    status remove_all(const std::string& path) override;
    status make_dirs(const std::string& path) override;
    status sync_dir(const std::string& path) override;
    result<std::vector<std::string>> list(const std::string& path) override { return base_.list(path); }
    result<bool> exists(const std::string& path) override { return base_.exists(path); }
    result<std::unique_ptr<file_lock>> lock(const std::string& path) override { return base_.lock(path); }
    // Counted and failed like a mutating operation ("mmap <path>"), so mmap mode meets faults too.
    result<std::unique_ptr<mapping>> map(file& f, std::uint64_t size) override;

    // Used by the wrappers: counts an operation ("write", "fdatasync", ...) on path and says
    // whether (and with which errno) it fails.
    [[nodiscard]] int before_op(std::string_view operation, const std::string& path);
    // The path a descriptor opened for writing through this env refers to ("fd N" if unknown).
    std::string path_of(int fd);
    void note_sync(int fd);
    void note_synced_path(const std::string& path, std::uint64_t size);
    void maybe_flip(std::span<std::byte> data);
    void forget_fd(int fd);

private:
    struct dir_rename {
        std::string from;
        std::string to;
    };
    // Re-keys the tracking state of every file under from to the same path under to.
    void move_tree(const std::string& from, const std::string& to);

    struct file_state {
        std::uint64_t synced_size = 0;
        bool entry_synced = true;  // false: created/renamed here since the last sync_dir
    };

    env& base_;
    std::atomic<std::uint64_t> ops_{0};
    std::atomic<std::uint64_t> injected_{0};
    std::atomic<bool> crashed_{false};
    std::atomic<bool> sync_through_{true};

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
    std::vector<dir_rename> dir_renames_;  // directory renames not yet made durable
    std::vector<std::string> injected_ops_;
    std::function<bool(const std::string&)> match_;  // fail_first_matching, until it has matched
    int match_errno_ = 0;
};

}  // namespace puffer::io
