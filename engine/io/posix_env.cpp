#include "engine/io/env.hpp"

#include "engine/core/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace puffer::io {
namespace {

error errno_error(int e, const std::string& context)
{
    return make_system_error(e, context);
}

class posix_file final : public file {
public:
    posix_file(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
    ~posix_file() override { ::close(fd_); }

    result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override
    {
        std::size_t done = 0;
        while (done < out.size()) {
            ssize_t n = ::pread(fd_, out.data() + done, out.size() - done,
                                static_cast<off_t>(offset + done));
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return errno_error(errno, strprintf("%s: read of %zu bytes at offset %llu",
                                                    path_.c_str(), out.size(),
                                                    static_cast<unsigned long long>(offset)));
            }
            if (n == 0) {
                break;
            }
            done += static_cast<std::size_t>(n);
        }
        return done;
    }

    status write_at(std::uint64_t offset, std::span<const std::byte> data) override
    {
        std::size_t done = 0;
        while (done < data.size()) {
            ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done,
                                 static_cast<off_t>(offset + done));
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return errno_error(errno, strprintf("%s: write of %zu bytes at offset %llu",
                                                    path_.c_str(), data.size(),
                                                    static_cast<unsigned long long>(offset)));
            }
            done += static_cast<std::size_t>(n);
        }
        return ok();
    }

    status sync() override
    {
        if (::fdatasync(fd_) != 0) {
            return errno_error(errno, path_ + ": fdatasync");
        }
        return ok();
    }

    status truncate(std::uint64_t size) override
    {
        if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
            return errno_error(errno, path_ + ": ftruncate");
        }
        return ok();
    }

    result<std::uint64_t> size() override
    {
        struct stat st{};
        if (::fstat(fd_, &st) != 0) {
            return errno_error(errno, path_ + ": fstat");
        }
        return static_cast<std::uint64_t>(st.st_size);
    }

    int fd() const override { return fd_; }
    const std::string& path() const override { return path_; }

private:
    int fd_;
    std::string path_;
};

class posix_lock final : public file_lock {
public:
    explicit posix_lock(int fd) : fd_(fd) {}
    ~posix_lock() override
    {
        ::flock(fd_, LOCK_UN);
        ::close(fd_);
    }

private:
    int fd_;
};

class posix_mapping final : public mapping {
public:
    posix_mapping(const std::byte* data, std::size_t size) : data_(data), size_(size) {}
    ~posix_mapping() override { ::munmap(const_cast<std::byte*>(data_), size_); }
    const std::byte* data() const override { return data_; }
    std::size_t size() const override { return size_; }

private:
    const std::byte* data_;
    std::size_t size_;
};

class posix_env_impl final : public env {
public:
    result<std::unique_ptr<file>> open(const std::string& path, open_mode mode) override
    {
        int flags = O_CLOEXEC;
        switch (mode) {
        case open_mode::read: flags |= O_RDONLY; break;
        case open_mode::read_direct: flags |= O_RDONLY | O_DIRECT; break;
        case open_mode::create_trunc: flags |= O_WRONLY | O_CREAT | O_TRUNC; break;
        case open_mode::read_write: flags |= O_RDWR | O_CREAT; break;
        }
        int fd = ::open(path.c_str(), flags, 0644);
        if (fd < 0) {
            int e = errno;
            if (e == ENOENT) {
                return make_error(errc::not_found, path + ": no such file");
            }
            if (e == EINVAL && mode == open_mode::read_direct) {
                // No buffered fallback: a caller that asked for direct I/O gets it or an error,
                // never page-cache reads that look the same until the cache is measured.
                return errno_error(e, path + ": open with O_DIRECT (the file system does not "
                                             "support direct I/O)");
            }
            return errno_error(e, path + ": open");
        }
        return std::unique_ptr<file>(std::make_unique<posix_file>(fd, path));
    }

    status rename(const std::string& from, const std::string& to) override
    {
        if (::rename(from.c_str(), to.c_str()) != 0) {
            return errno_error(errno, "rename " + from + " -> " + to);
        }
        return ok();
    }

    status link(const std::string& from, const std::string& to) override
    {
        if (::link(from.c_str(), to.c_str()) != 0) {
            return errno_error(errno, "link " + from + " -> " + to);
        }
        return ok();
    }

    status remove(const std::string& path) override
    {
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            return errno_error(errno, path + ": unlink");
        }
        return ok();
    }

    status remove_all(const std::string& path) override
    {
        struct stat st{};
        if (::lstat(path.c_str(), &st) != 0) {
            if (errno == ENOENT) {
                return ok();
            }
            return errno_error(errno, path + ": lstat");
        }
        if (!S_ISDIR(st.st_mode)) {
            return remove(path);
        }
        PUFFER_TRY_ASSIGN(auto names, list(path));
        for (const auto& name : names) {
            PUFFER_TRY(remove_all(join_path(path, name)));
        }
        if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
            return errno_error(errno, path + ": rmdir");
        }
        return ok();
    }

    status make_dirs(const std::string& path) override
    {
        if (path.empty()) {
            return ok();
        }
        std::size_t pos = 0;
        while (true) {
            pos = path.find('/', pos + 1);
            std::string prefix = path.substr(0, pos);
            if (!prefix.empty() && ::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
                return errno_error(errno, prefix + ": mkdir");
            }
            if (pos == std::string::npos) {
                return ok();
            }
        }
    }

    status sync_dir(const std::string& path) override
    {
        int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            return errno_error(errno, path + ": open directory");
        }
        int rc = ::fsync(fd);
        int e = errno;
        ::close(fd);
        if (rc != 0) {
            return errno_error(e, path + ": fsync directory");
        }
        return ok();
    }

    result<std::vector<std::string>> list(const std::string& path) override
    {
        DIR* dir = ::opendir(path.c_str());
        if (dir == nullptr) {
            if (errno == ENOENT) {
                return make_error(errc::not_found, path + ": no such directory");
            }
            return errno_error(errno, path + ": opendir");
        }
        std::vector<std::string> names;
        while (dirent* entry = ::readdir(dir)) {
            std::string name = entry->d_name;
            if (name != "." && name != "..") {
                names.push_back(std::move(name));
            }
        }
        ::closedir(dir);
        std::sort(names.begin(), names.end());
        return names;
    }

    result<bool> exists(const std::string& path) override
    {
        struct stat st{};
        if (::stat(path.c_str(), &st) == 0) {
            return true;
        }
        if (errno == ENOENT) {
            return false;
        }
        return errno_error(errno, path + ": stat");
    }

    result<std::unique_ptr<mapping>> map(file& f, std::uint64_t size) override
    {
        void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, f.fd(), 0);
        if (p == MAP_FAILED) {
            return errno_error(errno, f.path() + ": mmap");
        }
        return std::unique_ptr<mapping>(std::make_unique<posix_mapping>(static_cast<const std::byte*>(p), size));
    }

    result<std::unique_ptr<file_lock>> lock(const std::string& path) override
    {
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            return errno_error(errno, path + ": open lock file");
        }
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            ::close(fd);
            if (e == EWOULDBLOCK) {
                return make_error(errc::busy,
                                  path + ": held by another process (is a server already running "
                                         "on this data directory?)");
            }
            return errno_error(e, path + ": flock");
        }
        return std::unique_ptr<file_lock>(std::make_unique<posix_lock>(fd));
    }
};

}  // namespace

env& posix_env()
{
    static posix_env_impl instance;
    return instance;
}

result<std::string> read_file(env& e, const std::string& path)
{
    PUFFER_TRY_ASSIGN(auto f, e.open(path, open_mode::read));
    PUFFER_TRY_ASSIGN(std::uint64_t size, f->size());
    std::string data(size, '\0');
    PUFFER_TRY_ASSIGN(std::size_t n,
                      f->read_at(0, std::as_writable_bytes(std::span<char>(data.data(), data.size()))));
    data.resize(n);
    return data;
}

status write_file_atomic(env& e, const std::string& path, std::string_view data)
{
    std::string tmp = path + ".tmp";
    {
        PUFFER_TRY_ASSIGN(auto f, e.open(tmp, open_mode::create_trunc));
        PUFFER_TRY(f->write_at(0, std::as_bytes(std::span<const char>(data.data(), data.size()))));
        PUFFER_TRY(f->sync());
    }
    PUFFER_TRY(e.rename(tmp, path));
    return e.sync_dir(parent_dir(path));
}

std::string parent_dir(const std::string& path)
{
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos) {
        return ".";
    }
    if (slash == 0) {
        return "/";
    }
    return path.substr(0, slash);
}

std::string join_path(const std::string& dir, const std::string& name)
{
    if (dir.empty()) {
        return name;
    }
    if (dir.back() == '/') {
        return dir + name;
    }
    return dir + "/" + name;
}

std::size_t dma_alignment(const std::string& path)
{
    constexpr std::size_t fallback = 4096;
#ifdef STATX_DIOALIGN
    struct statx sx{};
    if (::statx(AT_FDCWD, path.c_str(), 0, STATX_DIOALIGN, &sx) == 0 &&
        (sx.stx_mask & STATX_DIOALIGN) != 0 && sx.stx_dio_offset_align != 0) {
        return std::max<std::size_t>(sx.stx_dio_offset_align, sx.stx_dio_mem_align);
    }
#else
    (void)path;
#endif
    return fallback;
}

}  // namespace puffer::io
