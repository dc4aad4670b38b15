#include "engine/io/fault_env.hpp"

#include "engine/core/log.hpp"

#include <algorithm>
#include <cerrno>
#include <deque>
#include <limits>
#include <unordered_map>

namespace puffer::io {
namespace {

error injected_error(int e, const std::string& what)
{
    return make_system_error(e, what + " (injected fault)");
}

class fault_file final : public file {
public:
    fault_file(fault_env& env, std::unique_ptr<file> base) : env_(env), base_(std::move(base)) {}
    ~fault_file() override { env_.forget_fd(base_->fd()); }

    result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override
    {
        PUFFER_TRY_ASSIGN(std::size_t n, base_->read_at(offset, out));
        env_.maybe_flip(out.subspan(0, n));
        return n;
    }
    status write_at(std::uint64_t offset, std::span<const std::byte> data) override
    {
        if (int e = env_.before_op("write", base_->path()); e != 0) {
            // A failing write may still leave a torn prefix behind.
            if (data.size() > 1) {
                (void)base_->write_at(offset, data.subspan(0, data.size() / 2));
            }
            return injected_error(e, base_->path() + ": write");
        }
        return base_->write_at(offset, data);
    }
    status sync() override
    {
        if (int e = env_.before_op("fdatasync", base_->path()); e != 0) {
            return injected_error(e, base_->path() + ": fdatasync");
        }
        if (env_.sync_through()) {
            PUFFER_TRY(base_->sync());
        }
        PUFFER_TRY_ASSIGN(std::uint64_t size, base_->size());
        env_.note_synced_path(base_->path(), size);
        return ok();
    }
    status truncate(std::uint64_t size) override
    {
        if (int e = env_.before_op("ftruncate", base_->path()); e != 0) {
            return injected_error(e, base_->path() + ": ftruncate");
        }
        return base_->truncate(size);
    }
    result<std::uint64_t> size() override { return base_->size(); }
    int fd() const override { return base_->fd(); }
    const std::string& path() const override { return base_->path(); }

private:
    fault_env& env_;
    std::unique_ptr<file> base_;
};

class fault_ring final : public ring {
public:
    fault_ring(fault_env& env, std::unique_ptr<ring> base) : env_(env), base_(std::move(base)) {}

    void submit_read(int fd, std::uint64_t offset, std::span<std::byte> buffer, std::uint64_t tag) override
    {
        std::uint64_t inner = next_++;
        pending_[inner] = {tag, kind::read, fd, buffer};
        base_->submit_read(fd, offset, buffer, inner);
    }
    void submit_write(int fd, std::uint64_t offset, std::span<const std::byte> data, std::uint64_t tag) override
    {
        if (int e = env_.before_op("ring write", env_.path_of(fd)); e != 0) {
            injected_.push_back({tag, -e});
            return;
        }
        std::uint64_t inner = next_++;
        pending_[inner] = {tag, kind::write, fd, {}};
        base_->submit_write(fd, offset, data, inner);
    }
    void submit_fdatasync(int fd, std::uint64_t tag) override
    {
        if (int e = env_.before_op("ring fdatasync", env_.path_of(fd)); e != 0) {
            injected_.push_back({tag, -e});
            return;
        }
        if (!env_.sync_through()) {
            env_.note_sync(fd);  // the write before it has completed: the log writes one at a time
            injected_.push_back({tag, 0});
            return;
        }
        std::uint64_t inner = next_++;
        pending_[inner] = {tag, kind::sync, fd, {}};
        base_->submit_fdatasync(fd, inner);
    }
    std::size_t reap(std::span<completion> out, bool wait) override
    {
        std::size_t n = 0;
        while (n < out.size() && !injected_.empty()) {
            out[n++] = injected_.front();
            injected_.pop_front();
        }
        if (n > 0) {
            wait = false;
        }
        std::size_t got = base_->reap(out.subspan(n), wait);
        for (std::size_t i = n; i < n + got; ++i) {
            auto it = pending_.find(out[i].tag);
            if (it == pending_.end()) {
                continue;
            }
            const op& o = it->second;
            if (o.k == kind::sync && out[i].result == 0) {
                env_.note_sync(o.fd);
            }
            if (o.k == kind::read && out[i].result > 0) {
                env_.maybe_flip(o.buffer.subspan(0, static_cast<std::size_t>(out[i].result)));
            }
            out[i].tag = o.tag;
            pending_.erase(it);
        }
        return n + got;
    }
    void submit() override { base_->submit(); }
    bool register_buffers(std::span<const std::span<std::byte>> regions) override
    {
        return base_->register_buffers(regions);
    }
    void wake() override { base_->wake(); }
    std::size_t inflight() const override { return base_->inflight() + injected_.size(); }
    const char* name() const override { return "fault"; }
    ring_counters counters() const override { return base_->counters(); }

private:
    enum class kind { read, write, sync };
    struct op {
        std::uint64_t tag;
        kind k;
        int fd;
        std::span<std::byte> buffer;
    };
    fault_env& env_;
    std::unique_ptr<ring> base_;
    std::uint64_t next_ = 1;
    std::unordered_map<std::uint64_t, op> pending_;
    std::deque<completion> injected_;
};

}  // namespace

void fault_env::fail_op(std::uint64_t n, int errno_value)
{
    std::lock_guard lock(mutex_);
    fail_at_ = ops_.load() + n;
    fail_errno_ = errno_value;
}

void fault_env::crash_after(std::uint64_t n)
{
    std::lock_guard lock(mutex_);
    crash_at_ = ops_.load() + n;
}

void fault_env::random(std::uint64_t seed, std::uint64_t one_in, int errno_value)
{
    std::lock_guard lock(mutex_);
    rng_.seed(seed);
    random_one_in_ = one_in;
    random_errno_ = errno_value;
}

void fault_env::flip_reads(std::uint64_t seed, std::uint64_t one_in)
{
    std::lock_guard lock(mutex_);
    rng_.seed(seed);
    flip_one_in_ = one_in;
}

void fault_env::fail_first_matching(std::function<bool(const std::string&)> match, int errno_value)
{
    std::lock_guard lock(mutex_);
    match_ = std::move(match);
    match_errno_ = errno_value;
}

void fault_env::clear_faults()
{
    std::lock_guard lock(mutex_);
    match_ = nullptr;
    fail_at_ = 0;
    crash_at_ = 0;
    random_one_in_ = 0;
    flip_one_in_ = 0;
    crashed_ = false;
}

int fault_env::before_op(std::string_view operation, const std::string& path)
{
    std::uint64_t n = ops_.fetch_add(1) + 1;
    std::lock_guard lock(mutex_);
    int e = 0;
    if (crash_at_ != 0 && n >= crash_at_) {
        crashed_ = true;
        e = EIO;
    } else if (fail_at_ != 0 && n == fail_at_) {
        e = fail_errno_;
    } else if (random_one_in_ != 0 && rng_() % random_one_in_ == 0) {
        e = random_errno_;
    } else if (match_ && match_(std::string(operation) + " " + path)) {
        e = match_errno_;
        match_ = nullptr;
    }
    if (e != 0) {
        ++injected_;
        injected_ops_.push_back(std::string(operation) + " " + path);
    }
    return e;
}

std::vector<std::string> fault_env::injected_ops()
{
    std::lock_guard lock(mutex_);
    return injected_ops_;
}

std::string fault_env::path_of(int fd)
{
    std::lock_guard lock(mutex_);
    auto it = fd_paths_.find(fd);
    return it != fd_paths_.end() ? it->second : "fd " + std::to_string(fd);
}

void fault_env::maybe_flip(std::span<std::byte> data)
{
    std::lock_guard lock(mutex_);
    if (flip_one_in_ == 0 || data.empty() || rng_() % flip_one_in_ != 0) {
        return;
    }
    std::size_t at = rng_() % data.size();
    data[at] ^= static_cast<std::byte>(1u << (rng_() % 8));
    ++injected_;
}

void fault_env::note_sync(int fd)
{
    std::string path;
    {
        std::lock_guard lock(mutex_);
        auto it = fd_paths_.find(fd);
        if (it == fd_paths_.end()) {
            return;
        }
        path = it->second;
    }
    auto f = base_.open(path, open_mode::read);
    if (f) {
        auto size = (*f)->size();
        if (size) {
            note_synced_path(path, *size);
        }
    }
}

void fault_env::note_synced_path(const std::string& path, std::uint64_t size)
{
    std::lock_guard lock(mutex_);
    files_[path].synced_size = size;
}

void fault_env::forget_fd(int fd)
{
    std::lock_guard lock(mutex_);
    fd_paths_.erase(fd);
}

result<std::unique_ptr<file>> fault_env::open(const std::string& path, open_mode mode)
{
    bool writes = mode == open_mode::create_trunc || mode == open_mode::read_write;
    bool existed = true;
    if (writes) {
        if (int e = before_op(mode == open_mode::create_trunc ? "open (create, truncate)" : "open (create)", path);
            e != 0) {
            return injected_error(e, path + ": open");
        }
        auto ex = base_.exists(path);
        existed = ex && *ex;
    }
    PUFFER_TRY_ASSIGN(auto f, base_.open(path, mode));
    std::lock_guard lock(mutex_);
    if (writes) {
        auto [it, inserted] = files_.try_emplace(path);
        if (inserted) {
            // A file met for the first time: what is on disk now counts as durable, unless this
            // open created it.
            auto size = f->size();
            it->second.synced_size = existed && size ? *size : 0;
            it->second.entry_synced = existed;
        }
        if (mode == open_mode::create_trunc) {
            it->second.synced_size = 0;
        }
        fd_paths_[f->fd()] = path;
    }
    return std::unique_ptr<file>(std::make_unique<fault_file>(*this, std::move(f)));
}

status fault_env::rename(const std::string& from, const std::string& to)
{
    if (int e = before_op("rename", from + " -> " + to); e != 0) {
        return injected_error(e, "rename " + from + " -> " + to);
    }
    {
        std::lock_guard lock(mutex_);
        auto target = files_.find(to);
        bool target_durable = target == files_.end() || target->second.entry_synced;
        if (restore_.count(to) == 0 && target_durable) {
            auto old = read_file(base_, to);
            if (old) {
                restore_[to] = std::move(*old);
            }
        }
    }
    bool directory = base_.list(from).has_value();
    PUFFER_TRY(base_.rename(from, to));
    std::lock_guard lock(mutex_);
    if (directory) {
        // The tree moves with its durable state; the move itself is undone by a crash until the
        // parent directory is synced.
        move_tree(from, to);
        dir_renames_.push_back({from, to});
        return ok();
    }
    file_state moved = files_.count(from) ? files_[from] : file_state{};
    files_.erase(from);
    moved.entry_synced = false;
    files_[to] = moved;
    return ok();
}

void fault_env::move_tree(const std::string& from, const std::string& to)
{
    auto moved = [&](const std::string& path, std::string& out) {
        if (path.size() > from.size() && path.compare(0, from.size(), from) == 0 && path[from.size()] == '/') {
            out = to + path.substr(from.size());
            return true;
        }
        return false;
    };
    std::string renamed;
    for (auto it = files_.begin(); it != files_.end();) {
        if (moved(it->first, renamed)) {
            file_state st = it->second;
            it = files_.erase(it);
            files_[renamed] = st;
        } else {
            ++it;
        }
    }
    for (auto it = restore_.begin(); it != restore_.end();) {
        if (moved(it->first, renamed)) {
            std::string contents = std::move(it->second);
            it = restore_.erase(it);
            restore_[renamed] = std::move(contents);
        } else {
            ++it;
        }
    }
    for (auto& [fd, path] : fd_paths_) {
        if (moved(path, renamed)) {
            path = renamed;
        }
    }
}

status fault_env::remove(const std::string& path)
{
    if (int e = before_op("unlink", path); e != 0) {
        return injected_error(e, path + ": unlink");
    }
    {
        std::lock_guard lock(mutex_);
        auto it = files_.find(path);
        bool durable = it == files_.end() || it->second.entry_synced;
        if (durable && restore_.count(path) == 0) {
            auto old = read_file(base_, path);
            if (old) {
                std::string contents = std::move(*old);
                if (it != files_.end()) {
                    contents.resize(std::min<std::size_t>(contents.size(), it->second.synced_size));
                }
                restore_[path] = std::move(contents);
            }
        }
        files_.erase(path);
    }
    return base_.remove(path);
}

status fault_env::link(const std::string& from, const std::string& to)
{
    if (int e = before_op("link", from + " -> " + to); e != 0) {
        return injected_error(e, "link " + from + " -> " + to);
    }
    PUFFER_TRY(base_.link(from, to));
    std::lock_guard lock(mutex_);
    // The new name shares the data: the old name's state says which bytes a crash drops, for
    // both names; the new name itself is not durable until its directory is synced.
    file_state st;
    st.synced_size = std::numeric_limits<std::uint64_t>::max();
    st.entry_synced = false;
    files_[to] = st;
    return ok();
}

status fault_env::remove_all(const std::string& path)
{
    if (int e = before_op("remove tree", path); e != 0) {
        return injected_error(e, path + ": remove tree");
    }
    return base_.remove_all(path);
}

status fault_env::make_dirs(const std::string& path)
{
    if (int e = before_op("mkdir", path); e != 0) {
        return injected_error(e, path + ": mkdir");
    }
    return base_.make_dirs(path);
}

result<std::unique_ptr<mapping>> fault_env::map(file& f, std::uint64_t size)
{
    if (int e = before_op("mmap", f.path()); e != 0) {
        return injected_error(e, f.path() + ": mmap");
    }
    return base_.map(f, size);
}

status fault_env::sync_dir(const std::string& path)
{
    if (int e = before_op("fsync directory", path); e != 0) {
        return injected_error(e, path + ": fsync directory");
    }
    if (sync_through_) {
        PUFFER_TRY(base_.sync_dir(path));
    }
    std::lock_guard lock(mutex_);
    for (auto& [p, st] : files_) {
        if (parent_dir(p) == path) {
            st.entry_synced = true;
        }
    }
    for (auto it = restore_.begin(); it != restore_.end();) {
        it = parent_dir(it->first) == path ? restore_.erase(it) : std::next(it);
    }
    std::erase_if(dir_renames_, [&](const dir_rename& r) { return parent_dir(r.to) == path; });
    return ok();
}

status fault_env::simulate_crash(crash_mode mode)
{
    std::lock_guard lock(mutex_);
    // Directory renames whose parent was never synced did not happen.
    for (auto it = dir_renames_.rbegin(); it != dir_renames_.rend(); ++it) {
        auto back_exists = base_.exists(it->from);
        auto here = base_.list(it->to);
        if (here && back_exists && !*back_exists) {
            PUFFER_TRY(base_.rename(it->to, it->from));
            move_tree(it->to, it->from);
        }
    }
    for (const auto& [path, st] : files_) {
        if (restore_.count(path) != 0) {
            continue;
        }
        if (!st.entry_synced) {
            auto exists = base_.exists(path);
            if (exists && *exists) {
                PUFFER_TRY(base_.remove(path));
            }
            continue;
        }
        auto f = base_.open(path, open_mode::read_write);
        if (!f) {
            continue;  // removed meanwhile
        }
        auto size = (*f)->size();
        if (!size || *size <= st.synced_size) {
            continue;
        }
        std::uint64_t keep = st.synced_size;
        if (mode == crash_mode::torn_last_sector) {
            // The sectors written back before the power failed: every whole one of the tail.
            keep = std::max(keep, *size / torn_sector_size_bytes * torn_sector_size_bytes);
        }
        if (keep < *size) {
            PUFFER_TRY((*f)->truncate(keep));
        }
    }
    for (const auto& [path, contents] : restore_) {
        auto parent = base_.exists(parent_dir(path));
        if (!parent || !*parent) {
            continue;  // its whole directory was removed since (a dropped collection)
        }
        PUFFER_TRY_ASSIGN(auto f, base_.open(path, open_mode::create_trunc));
        PUFFER_TRY(f->write_at(0, std::as_bytes(std::span(contents.data(), contents.size()))));
        PUFFER_TRY(f->sync());
    }
    files_.clear();
    fd_paths_.clear();
    restore_.clear();
    dir_renames_.clear();
    injected_ops_.clear();
    fail_at_ = 0;
    crash_at_ = 0;
    random_one_in_ = 0;
    flip_one_in_ = 0;
    crashed_ = false;
    return ok();
}

std::unique_ptr<ring> fault_env::wrap(std::unique_ptr<ring> base)
{
    return std::make_unique<fault_ring>(*this, std::move(base));
}

}  // namespace puffer::io
