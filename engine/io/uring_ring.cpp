// The io_uring ring. The only file that includes liburing.h.
//
// Every operation lives in a slot until it is complete: a short transfer is resubmitted for the
// rest (as io_uring-cp does), -EAGAIN and -EINTR are resubmitted, any other error completes the
// operation with -errno. Submissions that find the SQ full wait in a backlog, so callers never
// block. Wake-ups arrive as a read on an eventfd that stays armed in the ring.
#include "engine/core/assert.hpp"
#include "engine/core/log.hpp"
#include "engine/io/ring.hpp"

#include <liburing.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <deque>
#include <sys/uio.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <vector>

namespace puffer::io {
namespace {

enum class op_kind : std::uint8_t { read, write, fdatasync };

struct op {
    op_kind kind = op_kind::read;
    int fd = -1;
    std::uint64_t offset = 0;
    std::byte* buffer = nullptr;
    std::size_t size = 0;
    std::size_t done = 0;
    std::uint64_t tag = 0;
};

constexpr std::uint64_t wake_user_data = ~std::uint64_t{0};

class uring_ring final : public ring {
public:
    uring_ring() = default;
    ~uring_ring() override
    {
        if (initialized_) {
            io_uring_queue_exit(&ring_);
        }
        if (event_fd_ >= 0) {
            ::close(event_fd_);
        }
    }

    status init(const uring_options& options)
    {
        options_ = options;
        io_uring_params params{};
        int rc = io_uring_queue_init_params(options.queue_depth, &ring_, &params);
        if (rc < 0) {
            return make_system_error(-rc, strprintf("io_uring_queue_init (%u entries)", options.queue_depth));
        }
        initialized_ = true;
        event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (event_fd_ < 0) {
            return make_system_error(errno, "eventfd");
        }
        arm_wake();
        return ok();
    }

    void submit_read(int fd, std::uint64_t offset, std::span<std::byte> buffer, std::uint64_t tag) override
    {
        start(op{op_kind::read, fd, offset, buffer.data(), buffer.size(), 0, tag});
    }

    void submit_write(int fd, std::uint64_t offset, std::span<const std::byte> data, std::uint64_t tag) override
    {
        start(op{op_kind::write, fd, offset, const_cast<std::byte*>(data.data()), data.size(), 0, tag});
    }

    void submit_fdatasync(int fd, std::uint64_t tag) override
    {
        start(op{op_kind::fdatasync, fd, 0, nullptr, 0, 0, tag});
    }

    std::size_t reap(std::span<completion> out, bool wait) override
    {
        std::size_t produced = drain_ready(out);
        if (produced == 0 && wait) {
            flush_backlog();
            io_uring_cqe* cqe = nullptr;
            int rc = io_uring_submit_and_wait(&ring_, 1);
            (void)rc;  // -EINTR and friends: the loop below simply finds nothing
            if (io_uring_peek_cqe(&ring_, &cqe) == 0) {
                produced = process_cqes(out);
            }
        } else {
            flush_backlog();
            io_uring_submit(&ring_);
            if (produced < out.size()) {
                produced += process_cqes(out.subspan(produced));
            }
        }
        return produced;
    }

    bool register_buffers(std::span<const std::span<std::byte>> regions) override
    {
        PUFFER_ASSERT(live_ops_ == 0);
        if (!regions_.empty()) {
            io_uring_unregister_buffers(&ring_);
            regions_.clear();
        }
        std::vector<iovec> iovecs;
        for (const auto& r : regions) {
            iovecs.push_back(iovec{r.data(), r.size()});
        }
        if (iovecs.empty() || io_uring_register_buffers(&ring_, iovecs.data(), static_cast<unsigned>(iovecs.size())) != 0) {
            return false;
        }
        for (std::size_t i = 0; i < regions.size(); ++i) {
            regions_.push_back(region{regions[i].data(), regions[i].size(), static_cast<int>(i)});
        }
        std::sort(regions_.begin(), regions_.end(), [](const region& a, const region& b) { return a.base < b.base; });
        return true;
    }

    void submit() override
    {
        flush_backlog();
        io_uring_submit(&ring_);
    }

    void wake() override
    {
        std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(event_fd_, &one, sizeof one);
    }

    std::size_t inflight() const override { return live_ops_; }
    const char* name() const override { return "io_uring"; }
    ring_counters counters() const override { return counters_; }

private:
    void arm_wake()
    {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) {
            io_uring_submit(&ring_);
            sqe = io_uring_get_sqe(&ring_);
        }
        PUFFER_ASSERT(sqe != nullptr);
        io_uring_prep_read(sqe, event_fd_, &wake_value_, sizeof wake_value_, 0);
        io_uring_sqe_set_data64(sqe, wake_user_data);
    }

    std::size_t allocate_slot()
    {
        if (free_slots_.empty()) {
            slots_.emplace_back();
            return slots_.size() - 1;
        }
        std::size_t s = free_slots_.back();
        free_slots_.pop_back();
        return s;
    }

    void start(const op& o)
    {
        std::size_t slot = allocate_slot();
        slots_[slot] = o;
        ++live_ops_;
        if (!backlog_.empty() || !prepare(slot)) {
            backlog_.push_back(slot);
        }
    }

    // Queues the remaining part of slot's operation as an SQE; false when the SQ is full.
    bool prepare(std::size_t slot)
    {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) {
            return false;
        }
        op& o = slots_[slot];
        std::size_t remaining = o.size - o.done;
        if (options_.transfer_cap_bytes != 0 && remaining > options_.transfer_cap_bytes) {
            remaining = options_.transfer_cap_bytes;
        }
        switch (o.kind) {
        case op_kind::read:
            if (int index = registered_index(o.buffer + o.done, remaining); index >= 0) {
                io_uring_prep_read_fixed(sqe, o.fd, o.buffer + o.done, static_cast<unsigned>(remaining),
                                         o.offset + o.done, index);
            } else {
                io_uring_prep_read(sqe, o.fd, o.buffer + o.done, static_cast<unsigned>(remaining), o.offset + o.done);
            }
            break;
        case op_kind::write:
            io_uring_prep_write(sqe, o.fd, o.buffer + o.done, static_cast<unsigned>(remaining), o.offset + o.done);
            break;
        case op_kind::fdatasync:
            io_uring_prep_fsync(sqe, o.fd, IORING_FSYNC_DATASYNC);
            break;
        }
        io_uring_sqe_set_data64(sqe, slot);
        count_prepared(*sqe);
        return true;
    }

    // Counted from the SQE itself, not from the op kind, so a prep call that submits something
    // other than it should (a no-op for the fdatasync) shows in counters().
    void count_prepared(const io_uring_sqe& sqe)
    {
        switch (sqe.opcode) {
        case IORING_OP_READ:
        case IORING_OP_READ_FIXED:
            ++counters_.reads;
            break;
        case IORING_OP_WRITE:
            ++counters_.writes;
            break;
        case IORING_OP_FSYNC:
            if ((sqe.fsync_flags & IORING_FSYNC_DATASYNC) != 0) {
                ++counters_.fdatasyncs;
            } else {
                ++counters_.fsyncs;
            }
            break;
        default:
            break;
        }
    }

    // The registered region holding [p, p + size), or -1.
    int registered_index(const std::byte* p, std::size_t size) const
    {
        if (regions_.empty()) {
            return -1;
        }
        auto it = std::upper_bound(regions_.begin(), regions_.end(), p,
                                   [](const std::byte* v, const region& r) { return v < r.base; });
        if (it == regions_.begin()) {
            return -1;
        }
        --it;
        return p + size <= it->base + it->size ? it->index : -1;
    }

    void flush_backlog()
    {
        while (!backlog_.empty()) {
            if (!prepare(backlog_.front())) {
                io_uring_submit(&ring_);
                if (!prepare(backlog_.front())) {
                    return;  // SQ still full: the kernel has not consumed; try on the next reap
                }
            }
            backlog_.pop_front();
        }
    }

    std::size_t drain_ready(std::span<completion> out)
    {
        std::size_t n = 0;
        while (n < out.size() && !ready_.empty()) {
            out[n++] = ready_.front();
            ready_.pop_front();
        }
        return n;
    }

    void finish(std::size_t slot, std::int64_t result)
    {
        ready_.push_back(completion{slots_[slot].tag, result});
        free_slots_.push_back(slot);
        --live_ops_;
    }

    std::size_t process_cqes(std::span<completion> out)
    {
        io_uring_cqe* cqe = nullptr;
        unsigned head = 0;
        unsigned seen = 0;
        bool rearm = false;
        io_uring_for_each_cqe(&ring_, head, cqe)
        {
            ++seen;
            std::uint64_t data = io_uring_cqe_get_data64(cqe);
            int res = cqe->res;
            if (data == wake_user_data) {
                rearm = true;
                continue;
            }
            auto slot = static_cast<std::size_t>(data);
            op& o = slots_[slot];
            if (res == -EAGAIN || res == -EINTR) {
                backlog_.push_back(slot);
                continue;
            }
            if (res < 0) {
                finish(slot, res);
                continue;
            }
            if (o.kind == op_kind::fdatasync) {
                finish(slot, 0);
                continue;
            }
            o.done += static_cast<std::size_t>(res);
            if (o.done == o.size) {
                finish(slot, static_cast<std::int64_t>(o.done));
            } else if (res == 0) {
                // End of file: a read completes short; a write that makes no progress is an error.
                finish(slot, o.kind == op_kind::read ? static_cast<std::int64_t>(o.done) : -EIO);
            } else {
                backlog_.push_back(slot);  // short transfer: resubmit the rest
            }
        }
        io_uring_cq_advance(&ring_, seen);
        if (rearm) {
            arm_wake();
        }
        if (!backlog_.empty()) {
            flush_backlog();
            io_uring_submit(&ring_);
        }
        return drain_ready(out);
    }

    io_uring ring_{};
    bool initialized_ = false;
    uring_options options_;
    int event_fd_ = -1;
    std::uint64_t wake_value_ = 0;
    struct region {
        std::byte* base;
        std::size_t size;
        int index;
    };
    std::vector<region> regions_;  // sorted by base
    std::vector<op> slots_;
    std::vector<std::size_t> free_slots_;
    std::deque<std::size_t> backlog_;
    std::deque<completion> ready_;
    std::size_t live_ops_ = 0;
    ring_counters counters_;
};

}  // namespace

result<std::unique_ptr<ring>> make_uring_ring(const uring_options& options)
{
    auto r = std::make_unique<uring_ring>();
    PUFFER_TRY(r->init(options));
    return std::unique_ptr<ring>(std::move(r));
}

}  // namespace puffer::io
