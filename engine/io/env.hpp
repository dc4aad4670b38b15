#pragma once
// File-system access behind a small interface, so tests can swap in a fault-injecting
// implementation (fault_env) that fails, tears or drops unsynced writes. Everything here may
// block: call it from background threads or at start-up, never from a shard loop (shards do
// their data I/O through ring).

#include "engine/core/result.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace puffer::io {

enum class open_mode {
    read,          // existing file, read-only
    read_direct,   // existing file, read-only, O_DIRECT (reads must be aligned)
    create_trunc,  // create or truncate, write-only
    read_write,    // create if missing, read-write, keep contents
};

class file {
public:
    virtual ~file() = default;

    // Reads up to out.size() bytes at offset; fewer only at end of file. Returns bytes read.
    [[nodiscard]] virtual result<std::size_t> read_at(std::uint64_t offset,
                                                      std::span<std::byte> out) = 0;
    // Writes all of data at offset.
    [[nodiscard]] virtual status write_at(std::uint64_t offset, std::span<const std::byte> data) = 0;
    // fdatasync: data and the metadata needed to read it back are durable.
    [[nodiscard]] virtual status sync() = 0;
    [[nodiscard]] virtual status truncate(std::uint64_t size) = 0;
    [[nodiscard]] virtual result<std::uint64_t> size() = 0;
    // The descriptor for ring I/O.
    virtual int fd() const = 0;
    virtual const std::string& path() const = 0;
};

// A read-only mapping of a file, unmapped when destroyed.
class mapping {
public:
    virtual ~mapping() = default;
    virtual const std::byte* data() const = 0;
    virtual std::size_t size() const = 0;
};

// An advisory lock held until destroyed.
class file_lock {
public:
    virtual ~file_lock() = default;
};

class env {
public:
    virtual ~env() = default;

    [[nodiscard]] virtual result<std::unique_ptr<file>> open(const std::string& path,
                                                             open_mode mode) = 0;
    // Atomic replace of to by from (rename(2)); durable only after sync_dir of the parent.
    [[nodiscard]] virtual status rename(const std::string& from, const std::string& to) = 0;
    [[nodiscard]] virtual status remove(const std::string& path) = 0;
    // A second name `to` for the file `from` (link(2)): both name the same data from now on;
    // durable only after sync_dir of to's parent.
    [[nodiscard]] virtual status link(const std::string& from, const std::string& to) = 0;
    // Removes a directory tree; missing is not an error.
    [[nodiscard]] virtual status remove_all(const std::string& path) = 0;
    // Creates the directory (and parents); existing is not an error.
    [[nodiscard]] virtual status make_dirs(const std::string& path) = 0;
    // fsync of a directory: makes creates, renames and removes in it durable.
    [[nodiscard]] virtual status sync_dir(const std::string& path) = 0;
    // Names (not paths) of the entries of a directory, sorted.
    [[nodiscard]] virtual result<std::vector<std::string>> list(const std::string& path) = 0;
    [[nodiscard]] virtual result<bool> exists(const std::string& path) = 0;
    // Maps the first size bytes of f read-only and shared (--io-mode mmap reads segments so).
    [[nodiscard]] virtual result<std::unique_ptr<mapping>> map(file& f, std::uint64_t size) = 0;
    // Non-blocking exclusive flock; errc::busy when another process holds it.
    [[nodiscard]] virtual result<std::unique_ptr<file_lock>> lock(const std::string& path) = 0;
};

// The real file system.
env& posix_env();

// Reads the whole file at path.
[[nodiscard]] result<std::string> read_file(env& e, const std::string& path);
// Writes data to path.tmp, syncs it, renames it over path and syncs the directory.
[[nodiscard]] status write_file_atomic(env& e, const std::string& path, std::string_view data);

// Parent directory of a path ("." when it has none).
std::string parent_dir(const std::string& path);
std::string join_path(const std::string& dir, const std::string& name);

// O_DIRECT alignment for files under path: the device's logical block size when it can be
// probed (statx STATX_DIOALIGN), else 4096.
std::size_t dma_alignment(const std::string& path);

}  // namespace puffer::io
