#pragma once
// An env that passes every call to another: a test derives from it and overrides only the
// operations it wants to hold up or fail.

#include "engine/io/env.hpp"

namespace puffer::test {

class forwarding_env : public io::env {
public:
    explicit forwarding_env(io::env& base) : base_(base) {}

    result<std::unique_ptr<io::file>> open(const std::string& path, io::open_mode mode) override
    {
        return base_.open(path, mode);
    }
    status rename(const std::string& from, const std::string& to) override { return base_.rename(from, to); }
    status remove(const std::string& path) override { return base_.remove(path); }
    status link(const std::string& from, const std::string& to) override { return base_.link(from, to); }
    status remove_all(const std::string& path) override { return base_.remove_all(path); }
    status make_dirs(const std::string& path) override { return base_.make_dirs(path); }
    status sync_dir(const std::string& path) override { return base_.sync_dir(path); }
    result<std::vector<std::string>> list(const std::string& path) override { return base_.list(path); }
    result<bool> exists(const std::string& path) override { return base_.exists(path); }
    result<std::unique_ptr<io::file_lock>> lock(const std::string& path) override { return base_.lock(path); }
    result<std::unique_ptr<io::mapping>> map(io::file& f, std::uint64_t size) override { return base_.map(f, size); }

protected:
    io::env& base_;
};

}  // namespace puffer::test
