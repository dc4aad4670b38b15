#pragma once
// How a collection's segments store codes beside their float vectors (chosen at create): none,
// 8-bit scalar codes (sq8.hpp) or 1-bit RaBitQ codes (rabitq.hpp).

#include <cstdint>
#include <optional>
#include <string_view>

namespace puffer::index {

enum class quantization : std::uint8_t { none = 0, sq8 = 1, rabitq = 2 };
inline constexpr quantization quantization_last = quantization::rabitq;

std::string_view to_string(quantization q);
std::optional<quantization> parse_quantization(std::string_view name);  // "none", "sq8", "rabitq"

}  // namespace puffer::index
