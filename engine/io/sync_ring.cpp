// The synchronous ring: each operation runs to completion inside submit (pread/pwrite/fdatasync)
// and its completion is queued for reap. A blocking reap with nothing queued waits on an eventfd
// for wake(). Used where io_uring is unavailable and as the reference in tests.
#include "engine/io/ring.hpp"

#include <cerrno>
#include <deque>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace puffer::io {
namespace {

class sync_ring final : public ring {
public:
    sync_ring() : event_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
    ~sync_ring() override { ::close(event_fd_); }

    void submit_read(int fd, std::uint64_t offset, std::span<std::byte> buffer, std::uint64_t tag) override
    {
        std::size_t done = 0;
        while (done < buffer.size()) {
            ++counters_.reads;
            ssize_t n = ::pread(fd, buffer.data() + done, buffer.size() - done, static_cast<off_t>(offset + done));
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    continue;
                }
                ready_.push_back({tag, -errno});
                return;
            }
            if (n == 0) {
                break;
            }
            done += static_cast<std::size_t>(n);
        }
        ready_.push_back({tag, static_cast<std::int64_t>(done)});
    }

    void submit_write(int fd, std::uint64_t offset, std::span<const std::byte> data, std::uint64_t tag) override
    {
        std::size_t done = 0;
        while (done < data.size()) {
            ++counters_.writes;
            ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    continue;
                }
                ready_.push_back({tag, -errno});
                return;
            }
            if (n == 0) {
                ready_.push_back({tag, -EIO});
                return;
            }
            done += static_cast<std::size_t>(n);
        }
        ready_.push_back({tag, static_cast<std::int64_t>(done)});
    }

    void submit_fdatasync(int fd, std::uint64_t tag) override
    {
        ++counters_.fdatasyncs;
        ready_.push_back({tag, ::fdatasync(fd) == 0 ? 0 : -errno});
    }

    std::size_t reap(std::span<completion> out, bool wait) override
    {
        if (ready_.empty() && wait) {
            pollfd p{event_fd_, POLLIN, 0};
            ::poll(&p, 1, -1);
        }
        std::uint64_t value = 0;
        [[maybe_unused]] ssize_t n = ::read(event_fd_, &value, sizeof value);
        std::size_t produced = 0;
        while (produced < out.size() && !ready_.empty()) {
            out[produced++] = ready_.front();
            ready_.pop_front();
        }
        return produced;
    }

    void submit() override {}
    bool register_buffers(std::span<const std::span<std::byte>>) override { return false; }

    void wake() override
    {
        std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(event_fd_, &one, sizeof one);
    }

    std::size_t inflight() const override { return ready_.size(); }
    const char* name() const override { return "sync"; }
    ring_counters counters() const override { return counters_; }

private:
    int event_fd_;
    std::deque<completion> ready_;
    ring_counters counters_;
};

}  // namespace

std::unique_ptr<ring> make_sync_ring()
{
    return std::make_unique<sync_ring>();
}

}  // namespace puffer::io
