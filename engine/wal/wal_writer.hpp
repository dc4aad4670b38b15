#pragma once
// Appends WAL records through the shard's ring with group commit: while one group is being
// written and fdatasync'd, new records collect in the next group, so one sync covers every batch
// that arrived meanwhile. A record's callback runs only after the sync that covers it (success),
// or after its write or sync failed (error; nothing of the group is acknowledged).
//
// After a failure the file may hold a partial group; the owner's repair handler truncates it
// back to the last durable size (blocking, off the shard) and calls repaired(). Records that
// arrived meanwhile wait and are then written. Shard-local.

#include "engine/core/histogram.hpp"
#include "engine/core/result.hpp"
#include "engine/core/unique_function.hpp"
#include "engine/io/env.hpp"
#include "engine/io/ring.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::wal {

class wal_writer {
public:
    using done_fn = unique_function<void(status)>;
    // Called on failure with the file and its last durable size; must lead to repaired().
    using repair_fn = unique_function<void(io::file&, std::uint64_t durable_size_bytes)>;

    wal_writer() : write_op_(*this, false), sync_op_(*this, true) {}
    wal_writer(const wal_writer&) = delete;
    wal_writer& operator=(const wal_writer&) = delete;

    void attach(io::ring* ring, repair_fn repair)
    {
        ring_ = ring;
        repair_ = std::move(repair);
    }

    // Starts appending to f (WAL number `number`) at size_bytes, its current valid end.
    void open(std::unique_ptr<io::file> f, std::uint64_t number, std::uint64_t size_bytes);

    // Queues a framed record (copied) and starts a group if none is in flight. A record whose
    // body is over record_body_size_bytes_max is refused at once (errc::too_large).
    void append(std::string_view record, done_fn done);

    // Once the group in flight (if any) is durable and its callbacks have run, switches to the
    // file `next` and calls on_switched before any later record is written.
    void rotate(std::unique_ptr<io::file> next, std::uint64_t number, unique_function<void()> on_switched);

    // The repair handler's verdict: ok resumes appends, an error fails the log for good.
    void repaired(status s);

    bool idle() const { return state_ == state::idle && pending_.empty(); }
    bool failed() const { return state_ == state::failed; }
    const std::optional<error>& failure() const { return failure_; }
    std::uint64_t number() const { return number_; }
    std::uint64_t size_bytes() const { return durable_size_; }
    std::uint64_t groups_committed() const { return groups_; }
    std::uint64_t records_committed() const { return records_; }
    // Each committed group's fdatasync, from its submission to its completion.
    const latency_histogram& sync_latency() const { return sync_latency_; }
    // The file the last rotation switched away from, and its final size.
    std::uint64_t previous_number() const { return previous_number_; }
    std::uint64_t previous_size_bytes() const { return previous_size_; }

private:
    enum class state { idle, writing, syncing, repairing, failed };

    struct op final : io::request {
        op(wal_writer& w, bool sync) : writer(w), is_sync(sync) {}
        void on_complete(std::int64_t result) override
        {
            if (is_sync) {
                writer.on_synced(result);
            } else {
                writer.on_written(result);
            }
        }
        wal_writer& writer;
        bool is_sync;
    };

    void start_group();
    void on_written(std::int64_t result);
    void on_synced(std::int64_t result);
    void fail_group(const error& e);
    void finish_rotation();

    io::ring* ring_ = nullptr;
    repair_fn repair_;
    std::unique_ptr<io::file> file_;
    std::uint64_t number_ = 0;
    std::uint64_t durable_size_ = 0;
    std::uint64_t previous_number_ = 0;
    std::uint64_t previous_size_ = 0;
    state state_ = state::idle;
    std::optional<error> failure_;
    std::uint64_t groups_ = 0;
    std::uint64_t records_ = 0;
    latency_histogram sync_latency_;
    std::chrono::steady_clock::time_point sync_started_;
    bool delivering_ = false;  // running a group's callbacks

    std::string pending_;
    std::vector<done_fn> pending_done_;
    std::string inflight_;
    std::vector<done_fn> inflight_done_;

    std::unique_ptr<io::file> rotate_to_;
    std::uint64_t rotate_number_ = 0;
    unique_function<void()> on_rotated_;

    op write_op_;
    op sync_op_;
};

}  // namespace puffer::wal
