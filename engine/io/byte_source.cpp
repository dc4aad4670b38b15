#include "engine/io/byte_source.hpp"

#include <algorithm>
#include <cstring>

namespace puffer::io {

namespace {

class memory_byte_source final : public byte_source {
public:
    explicit memory_byte_source(std::string s) : bytes_(std::move(s)) {}

    result<std::size_t> read(std::span<std::byte> out) override
    {
        std::size_t n = std::min(out.size(), bytes_.size() - at_);
        std::memcpy(out.data(), bytes_.data() + at_, n);
        at_ += n;
        return n;
    }

private:
    std::string bytes_;
    std::size_t at_ = 0;
};

class file_byte_source final : public byte_source {
public:
    explicit file_byte_source(std::unique_ptr<file> f) : file_(std::move(f)) {}

    result<std::size_t> read(std::span<std::byte> out) override
    {
        PUFFER_TRY_ASSIGN(std::size_t n, file_->read_at(at_, out));
        at_ += n;
        return n;
    }

private:
    std::unique_ptr<file> file_;
    std::uint64_t at_ = 0;
};

}  // namespace

std::unique_ptr<byte_source> memory_source(std::string s)
{
    return std::make_unique<memory_byte_source>(std::move(s));
}

result<std::unique_ptr<byte_source>> file_source(env& e, const std::string& path)
{
    PUFFER_TRY_ASSIGN(auto f, e.open(path, open_mode::read));
    return std::unique_ptr<byte_source>(std::make_unique<file_byte_source>(std::move(f)));
}

}  // namespace puffer::io
