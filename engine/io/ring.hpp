#pragma once
// Asynchronous I/O for one shard: reads, writes and fdatasync submitted with a tag and reaped as
// completions. uring_ring (io_uring) is the real one; sync_ring (pread/pwrite) is the fallback
// and the test reference; tests wrap either in a fault-injecting ring.
//
// Shard-local: one ring per shard thread, never shared, except wake(), which any thread may call
// to interrupt a blocking reap (the shard's inbox uses it).

#include "engine/core/result.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace puffer::io {

// An operation in flight on a ring, for owners that dispatch completions by object: the tag is
// the object's address, so it must stay alive until its completion has been delivered.
class request {
public:
    virtual void on_complete(std::int64_t result) = 0;

protected:
    ~request() = default;
};

inline std::uint64_t tag_of(request* r)
{
    return reinterpret_cast<std::uint64_t>(r);
}

inline request* request_of(std::uint64_t tag)
{
    return reinterpret_cast<request*>(tag);
}

struct completion {
    std::uint64_t tag;
    // Bytes transferred (reads: fewer than asked only at end of file; writes: all of them), 0 for
    // a successful fdatasync, or -errno.
    std::int64_t result;
};

// Operations a ring has handed to the kernel, by what was really submitted: for io_uring the
// opcode of each SQE as prepared (a resubmitted short transfer counts again), for the sync ring
// each system call. Lets tests check that an fdatasync goes out as one, not merely that a
// completion of 0 came back.
struct ring_counters {
    std::uint64_t reads = 0;
    std::uint64_t writes = 0;
    std::uint64_t fdatasyncs = 0;  // IORING_OP_FSYNC with IORING_FSYNC_DATASYNC, or fdatasync(2)
    std::uint64_t fsyncs = 0;      // IORING_OP_FSYNC without it (the engine submits none)
};

class ring {
public:
    virtual ~ring() = default;

    // REQUIRES for O_DIRECT files: offset, buffer address and size aligned to dma_alignment().
    virtual void submit_read(int fd, std::uint64_t offset, std::span<std::byte> buffer,
                             std::uint64_t tag) = 0;
    virtual void submit_write(int fd, std::uint64_t offset, std::span<const std::byte> data,
                              std::uint64_t tag) = 0;
    virtual void submit_fdatasync(int fd, std::uint64_t tag) = 0;

    // Registers memory regions for fixed-buffer I/O: later reads whose buffer lies inside a
    // registered region skip the kernel's per-I/O page pinning. Returns false (nothing
    // registered) when the ring cannot; I/O works either way. Replaces earlier registrations.
    // REQUIRES: no operation in flight.
    virtual bool register_buffers(std::span<const std::span<std::byte>> regions) = 0;

    // Hands what is queued to the kernel now (reap does too); lets a caller start new reads
    // before it spends time on completed ones.
    virtual void submit() = 0;

    // Submits what is queued and copies up to out.size() completions into out. With wait, blocks
    // until at least one completion exists or wake() is called (then may return 0).
    virtual std::size_t reap(std::span<completion> out, bool wait) = 0;

    // Safe from any thread: makes a blocked reap return.
    virtual void wake() = 0;

    // Operations submitted and not yet reaped.
    virtual std::size_t inflight() const = 0;

    virtual const char* name() const = 0;

    virtual ring_counters counters() const = 0;
};

struct uring_options {
    unsigned queue_depth = 256;
    // Test hook: cap every transfer at this many bytes (0: no cap), so a large read comes back
    // in pieces and the short-transfer path runs against the real kernel.
    std::size_t transfer_cap_bytes = 0;
};

// errc::io with the reason when io_uring is unavailable (old kernel, seccomp, RLIMIT_MEMLOCK).
[[nodiscard]] result<std::unique_ptr<ring>> make_uring_ring(const uring_options& options);
std::unique_ptr<ring> make_sync_ring();

}  // namespace puffer::io
