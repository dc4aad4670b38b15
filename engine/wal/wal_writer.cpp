#include "engine/wal/wal_writer.hpp"

#include "engine/core/assert.hpp"
#include "engine/core/log.hpp"
#include "engine/wal/wal_format.hpp"

#include <cstring>

namespace puffer::wal {

void wal_writer::open(std::unique_ptr<io::file> f, std::uint64_t number, std::uint64_t size_bytes)
{
    file_ = std::move(f);
    number_ = number;
    durable_size_ = size_bytes;
}

void wal_writer::append(std::string_view record, done_fn done)
{
    if (state_ == state::failed) {
        done(*failure_);
        return;
    }
    // Replay takes a record body over record_body_size_bytes_max for a torn tail, so such a
    // record is refused here, before it is written (only a --max-body-mb far above the default
    // lets a batch that large through the server).
    if (record.size() > record_header_size_bytes + record_body_size_bytes_max) {
        done(make_error(errc::too_large,
                        strprintf("the batch takes %zu bytes in the write-ahead log; at most %zu per request: split it",
                                  record.size() - record_header_size_bytes, record_body_size_bytes_max)));
        return;
    }
    pending_.append(record);
    pending_done_.push_back(std::move(done));
    if (state_ == state::idle && !rotate_to_) {
        start_group();
    }
}

void wal_writer::rotate(std::unique_ptr<io::file> next, std::uint64_t number, unique_function<void()> on_switched)
{
    PUFFER_ASSERT(!rotate_to_);
    rotate_to_ = std::move(next);
    rotate_number_ = number;
    on_rotated_ = std::move(on_switched);
    if ((state_ == state::idle || state_ == state::failed) && !delivering_) {
        finish_rotation();
    }
}

void wal_writer::finish_rotation()
{
    previous_number_ = number_;
    previous_size_ = durable_size_;
    file_ = std::move(rotate_to_);
    number_ = rotate_number_;
    durable_size_ = 0;
    if (file_) {
        auto size = file_->size();
        durable_size_ = size ? *size : 0;
    }
    auto cb = std::move(on_rotated_);
    on_rotated_ = nullptr;
    cb();
    if (state_ == state::idle && !pending_.empty()) {
        start_group();
    }
}

void wal_writer::start_group()
{
    PUFFER_ASSERT(state_ == state::idle);
    if (rotate_to_) {
        finish_rotation();
        return;
    }
    if (pending_.empty()) {
        return;
    }
    PUFFER_ASSERT(file_ != nullptr);
    PUFFER_ASSERT(ring_ != nullptr);
    inflight_.swap(pending_);
    pending_.clear();
    inflight_done_.swap(pending_done_);
    pending_done_.clear();
    state_ = state::writing;
    ring_->submit_write(file_->fd(), durable_size_,
                        std::as_bytes(std::span(inflight_.data(), inflight_.size())), io::tag_of(&write_op_));
}

void wal_writer::on_written(std::int64_t result)
{
    PUFFER_ASSERT(state_ == state::writing);
    if (result < 0 || static_cast<std::size_t>(result) != inflight_.size()) {
        int e = result < 0 ? static_cast<int>(-result) : EIO;
        fail_group(make_system_error(e, strprintf("%s: WAL write of %zu bytes at offset %llu",
                                                  file_->path().c_str(), inflight_.size(),
                                                  static_cast<unsigned long long>(durable_size_))));
        return;
    }
    state_ = state::syncing;
    sync_started_ = std::chrono::steady_clock::now();
    ring_->submit_fdatasync(file_->fd(), io::tag_of(&sync_op_));
}

void wal_writer::on_synced(std::int64_t result)
{
    PUFFER_ASSERT(state_ == state::syncing);
    if (result < 0) {
        fail_group(make_system_error(static_cast<int>(-result), file_->path() + ": WAL fdatasync"));
        return;
    }
    durable_size_ += inflight_.size();
    ++groups_;
    records_ += inflight_done_.size();
    sync_latency_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - sync_started_).count());
    state_ = state::idle;
    inflight_.clear();
    std::vector<done_fn> done;
    done.swap(inflight_done_);
    delivering_ = true;
    for (auto& d : done) {
        d(ok());
    }
    delivering_ = false;
    if (state_ == state::idle) {
        start_group();
    }
}

void wal_writer::fail_group(const error& e)
{
    PUFFER_LOG(warn, "%s", e.message().c_str());
    state_ = state::repairing;
    inflight_.clear();
    std::vector<done_fn> done;
    done.swap(inflight_done_);
    for (auto& d : done) {
        d(e);
    }
    PUFFER_ASSERT(repair_);
    repair_(*file_, durable_size_);
}

void wal_writer::repaired(status s)
{
    PUFFER_ASSERT(state_ == state::repairing);
    if (!s) {
        PUFFER_LOG(error, "WAL cannot be repaired, the collection no longer takes writes: %s",
                   s.error().message().c_str());
        state_ = state::failed;
        failure_ = make_error(errc::failed, "the write-ahead log failed and could not be repaired (" +
                                                s.error().message() + "); restart the server");
        std::vector<done_fn> done;
        done.swap(pending_done_);
        pending_.clear();
        for (auto& d : done) {
            d(*failure_);
        }
        if (rotate_to_) {
            finish_rotation();
        }
        return;
    }
    state_ = state::idle;
    start_group();
}

}  // namespace puffer::wal
