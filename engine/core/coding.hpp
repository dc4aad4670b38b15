#pragma once
// Little-endian fixed-width encoding for every on-disk format. Formats are written field by
// field with these helpers, never by memcpy of a packed struct, so layout is explicit.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

static_assert(std::endian::native == std::endian::little, "OpenPuffer assumes a little-endian host");

namespace puffer {

inline void put_fixed8(std::byte* out, std::uint8_t v)
{
    out[0] = static_cast<std::byte>(v);
}
inline void put_fixed16_le(std::byte* out, std::uint16_t v)
{
    std::memcpy(out, &v, sizeof v);
}
inline void put_fixed32_le(std::byte* out, std::uint32_t v)
{
    std::memcpy(out, &v, sizeof v);
}
inline void put_fixed64_le(std::byte* out, std::uint64_t v)
{
    std::memcpy(out, &v, sizeof v);
}
inline void put_float32_le(std::byte* out, float v)
{
    std::memcpy(out, &v, sizeof v);
}

inline std::uint8_t get_fixed8(const std::byte* in)
{
    return static_cast<std::uint8_t>(in[0]);
}
inline std::uint16_t get_fixed16_le(const std::byte* in)
{
    std::uint16_t v;
    std::memcpy(&v, in, sizeof v);
    return v;
}
inline std::uint32_t get_fixed32_le(const std::byte* in)
{
    std::uint32_t v;
    std::memcpy(&v, in, sizeof v);
    return v;
}
inline std::uint64_t get_fixed64_le(const std::byte* in)
{
    std::uint64_t v;
    std::memcpy(&v, in, sizeof v);
    return v;
}
inline float get_float32_le(const std::byte* in)
{
    float v;
    std::memcpy(&v, in, sizeof v);
    return v;
}

// Appending encoder over a std::string buffer (used for WAL records and the MANIFEST).
class encoder {
public:
    explicit encoder(std::string& out) : out_(out) {}

    void put_u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void put_u16(std::uint16_t v) { append(&v, sizeof v); }
    void put_u32(std::uint32_t v) { append(&v, sizeof v); }
    void put_u64(std::uint64_t v) { append(&v, sizeof v); }
    void put_f32(float v) { append(&v, sizeof v); }
    void put_bytes(const void* data, std::size_t size) { append(data, size); }
    // u32 length, then the bytes.
    void put_string32(std::string_view s)
    {
        put_u32(static_cast<std::uint32_t>(s.size()));
        append(s.data(), s.size());
    }
    std::size_t size() const { return out_.size(); }

private:
    void append(const void* data, std::size_t size)
    {
        out_.append(static_cast<const char*>(data), size);
    }
    std::string& out_;
};

// Bounds-checked decoder: every get fails (returns false) instead of reading past the end, so a
// truncated or corrupt record can never cause an out-of-bounds read.
class decoder {
public:
    decoder(const void* data, std::size_t size)
        : data_(static_cast<const std::byte*>(data)), size_(size)
    {
    }
    explicit decoder(std::string_view s) : decoder(s.data(), s.size()) {}

    std::size_t remaining() const { return size_ - position_; }
    std::size_t position() const { return position_; }
    bool done() const { return position_ == size_; }

    [[nodiscard]] bool get_u8(std::uint8_t& v) { return get(&v, sizeof v); }
    [[nodiscard]] bool get_u16(std::uint16_t& v) { return get(&v, sizeof v); }
    [[nodiscard]] bool get_u32(std::uint32_t& v) { return get(&v, sizeof v); }
    [[nodiscard]] bool get_u64(std::uint64_t& v) { return get(&v, sizeof v); }
    [[nodiscard]] bool get_f32(float& v) { return get(&v, sizeof v); }
    [[nodiscard]] bool get_bytes(void* out, std::size_t size) { return get(out, size); }
    // View of the next size bytes (no copy).
    [[nodiscard]] bool get_view(std::string_view& out, std::size_t size)
    {
        if (remaining() < size) {
            return false;
        }
        out = std::string_view(reinterpret_cast<const char*>(data_ + position_), size);
        position_ += size;
        return true;
    }
    [[nodiscard]] bool get_string32(std::string_view& out, std::size_t size_max)
    {
        std::uint32_t size = 0;
        if (!get_u32(size) || size > size_max) {
            return false;
        }
        return get_view(out, size);
    }

private:
    bool get(void* out, std::size_t size)
    {
        if (remaining() < size) {
            return false;
        }
        std::memcpy(out, data_ + position_, size);
        position_ += size;
        return true;
    }

    const std::byte* data_;
    std::size_t size_;
    std::size_t position_ = 0;
};

}  // namespace puffer
