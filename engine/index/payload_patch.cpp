#include "engine/index/payload_patch.hpp"

#include "engine/index/json_parse.hpp"

#include <boost/json.hpp>

namespace puffer::index {
namespace json = boost::json;

namespace {

result<json::object> parse_object(std::string_view text, const char* what, errc code)
{
    // Numbers exactly from their text: the fields a patch leaves alone keep their values.
    auto parsed = parse_json(text, payload_depth_max, number_mode::doubles);
    if (!parsed) {
        return make_error(code, std::string(what) + " is not valid JSON: " + parsed.error().context);
    }
    json::value v = std::move(*parsed);
    if (!v.is_object()) {
        return make_error(code, std::string(what) + " must be a JSON object");
    }
    return std::move(v.as_object());
}

}  // namespace

status check_payload_patch(std::string_view patch)
{
    auto o = parse_object(patch, "payload", errc::invalid_argument);
    if (!o) {
        return o.error();
    }
    return ok();
}

struct payload_patcher::parsed {
    json::object patch;
    patch_mode mode = patch_mode::merge;
};

payload_patcher::payload_patcher(std::unique_ptr<parsed> p) : parsed_(std::move(p)) {}
payload_patcher::~payload_patcher() = default;
payload_patcher::payload_patcher(payload_patcher&&) noexcept = default;
payload_patcher& payload_patcher::operator=(payload_patcher&&) noexcept = default;

result<payload_patcher> payload_patcher::make(std::string_view patch, patch_mode mode)
{
    auto p = parse_object(patch, "payload", errc::invalid_argument);
    if (!p) {
        return p.error();
    }
    auto state = std::make_unique<parsed>();
    state->patch = std::move(*p);
    state->mode = mode;
    return payload_patcher(std::move(state));
}

result<std::string> payload_patcher::apply(std::string_view stored) const
{
    json::object out;
    if (parsed_->mode == patch_mode::merge && !stored.empty()) {
        auto s = parse_object(stored, "a stored payload", errc::corruption);
        if (!s) {
            return s.error();
        }
        out = std::move(*s);
    }
    for (const auto& [key, value] : parsed_->patch) {
        if (value.is_null()) {
            out.stable_erase(key);  // the other fields keep their order
        } else {
            out[key] = value;
        }
    }
    if (out.empty()) {
        return std::string();
    }
    return json::serialize(out);
}

result<std::string> apply_payload_patch(std::string_view stored, std::string_view patch, patch_mode mode)
{
    PUFFER_TRY_ASSIGN(payload_patcher p, payload_patcher::make(patch, mode));
    return p.apply(stored);
}

}  // namespace puffer::index
