#pragma once
// Changing stored payloads without sending vectors again (POST .../points/payload): a patch is a
// JSON object; merged into a payload it sets each of its top-level fields (a field whose value is
// null is removed), or it replaces the payload whole. Pure functions of the JSON text.

#include "engine/core/result.hpp"

#include <string>
#include <string_view>

namespace puffer::index {

enum class patch_mode { merge, replace };

// Checks that patch is one JSON object. errc::invalid_argument otherwise.
[[nodiscard]] status check_payload_patch(std::string_view patch);

// The payload that stored (a JSON object's text, or empty: no payload) becomes under patch (a
// checked object); serialized compactly, empty when no field is left. A stored payload that is
// not an object is errc::corruption.
[[nodiscard]] result<std::string> apply_payload_patch(std::string_view stored, std::string_view patch, patch_mode mode);

}  // namespace puffer::index
