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

result<std::string> apply_payload_patch(std::string_view stored, std::string_view patch, patch_mode mode)
{
    auto p = parse_object(patch, "payload", errc::invalid_argument);
    if (!p) {
        return p.error();
    }
    json::object out;
    if (mode == patch_mode::merge && !stored.empty()) {
        auto s = parse_object(stored, "a stored payload", errc::corruption);
        if (!s) {
            return s.error();
        }
        out = std::move(*s);
    }
    for (auto& [key, value] : *p) {
        if (value.is_null()) {
            out.stable_erase(key);  // the other fields keep their order
        } else {
            out[key] = std::move(value);
        }
    }
    if (out.empty()) {
        return std::string();
    }
    return json::serialize(out);
}

}  // namespace puffer::index
