#pragma once
// A stream of bytes read front to back: an archive being restored (from a request body in
// memory or from a file) or being produced (a snapshot download). Blocking, like env.

#include "engine/core/result.hpp"
#include "engine/io/env.hpp"

#include <cstddef>
#include <memory>
#include <span>
#include <string>

namespace puffer::io {

class byte_source {
public:
    virtual ~byte_source() = default;
    // Fills up to out.size() bytes; 0 only at the end of the stream.
    [[nodiscard]] virtual result<std::size_t> read(std::span<std::byte> out) = 0;
};

// The bytes of s.
std::unique_ptr<byte_source> memory_source(std::string s);
// The file at path, from its start.
[[nodiscard]] result<std::unique_ptr<byte_source>> file_source(env& e, const std::string& path);

}  // namespace puffer::io
