#pragma once
// Changing stored payloads without sending vectors again (POST .../points/payload): a patch is a
// JSON object; merged into a payload it sets each of its top-level fields (a field whose value is
// null is removed), or it replaces the payload whole. Pure functions of the JSON text.

#include "engine/core/result.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace puffer::index {

enum class patch_mode { merge, replace };

// Checks that patch is one JSON object. errc::invalid_argument otherwise.
[[nodiscard]] status check_payload_patch(std::string_view patch);

// A patch parsed once, applied to many payloads.
class payload_patcher {
public:
    // errc::invalid_argument unless patch is one JSON object.
    [[nodiscard]] static result<payload_patcher> make(std::string_view patch, patch_mode mode);
    ~payload_patcher();
    payload_patcher(payload_patcher&&) noexcept;
    payload_patcher& operator=(payload_patcher&&) noexcept;

    // The payload that stored (a JSON object's text, or empty: no payload) becomes; serialized
    // compactly, empty when no field is left. A stored payload that is not an object is
    // errc::corruption.
    [[nodiscard]] result<std::string> apply(std::string_view stored) const;

private:
    struct parsed;
    explicit payload_patcher(std::unique_ptr<parsed> p);
    std::unique_ptr<parsed> parsed_;
};

// The same for one payload.
[[nodiscard]] result<std::string> apply_payload_patch(std::string_view stored, std::string_view patch, patch_mode mode);

}  // namespace puffer::index
