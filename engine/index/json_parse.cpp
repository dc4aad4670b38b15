#include "engine/index/json_parse.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>
#include <vector>

namespace json = boost::json;

namespace puffer::index {
namespace {

// strtof / strtod need a terminated string; numbers are short, long ones take the slow path.
template <class T>
T from_text_slow(std::string_view text)
{
    std::string copy(text);
    if constexpr (std::is_same_v<T, float>) {
        return std::strtof(copy.c_str(), nullptr);
    } else {
        return std::strtod(copy.c_str(), nullptr);
    }
}

// from_chars (libstdc++ 12: correctly rounded) for the common case. It reports both overflow
// and underflow as out of range without a value; glibc's strtof / strtod, also correctly
// rounded, give +-HUGE_VAL (infinity) and +-0 for those, in the "C" locale the server runs in.
template <class T>
T number_from_text(std::string_view text)
{
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && end == text.data() + text.size()) {
        return value;
    }
    return from_text_slow<T>(text);
}

// Builds the value like Boost.JSON's own handler, but converts numbers from their text.
class exact_number_handler {
public:
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    explicit exact_number_handler(number_mode mode) : mode_(mode) {}

    json::value_stack& stack() { return stack_; }

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }

    bool on_object_begin(json::error_code&)
    {
        containers_.push_back(container{false, false});
        return true;
    }
    bool on_object_end(std::size_t n, json::error_code&)
    {
        stack_.push_object(n);
        containers_.pop_back();
        return true;
    }
    bool on_array_begin(json::error_code&)
    {
        // A request's vector: the value of "vector" in the body's object (a search) or in an
        // object that is an element of one of the body's arrays (a point, a batch item).
        // Not the "vector" of any other object at depth 2 ({"payload": {"vector": ...}} of a
        // payload patch holds doubles).
        bool floats = mode_ == number_mode::float_vectors && key_is_vector_ && !containers_.empty() &&
                      !containers_.back().is_array &&
                      (containers_.size() == 1 || (containers_.size() == 3 && containers_[1].is_array));
        containers_.push_back(container{true, floats});
        return true;
    }
    bool on_array_end(std::size_t n, json::error_code&)
    {
        stack_.push_array(n);
        containers_.pop_back();
        return true;
    }

    bool on_key_part(json::string_view s, std::size_t, json::error_code&)
    {
        stack_.push_chars(s);
        key_.append(s.data(), s.size());
        return true;
    }
    bool on_key(json::string_view s, std::size_t, json::error_code&)
    {
        stack_.push_key(s);
        key_.append(s.data(), s.size());
        key_is_vector_ = key_ == "vector";
        key_.clear();
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, json::error_code&)
    {
        stack_.push_chars(s);
        return true;
    }
    bool on_string(json::string_view s, std::size_t, json::error_code&)
    {
        stack_.push_string(s);
        return true;
    }

    bool on_number_part(json::string_view s, json::error_code&)
    {
        number_.append(s.data(), s.size());
        return true;
    }
    bool on_int64(std::int64_t i, json::string_view s, json::error_code&)
    {
        if (in_vector()) {
            stack_.push_double(float_from_text(take_number(s)));
        } else {
            stack_.push_int64(i);
        }
        number_.clear();
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view s, json::error_code&)
    {
        if (in_vector()) {
            stack_.push_double(float_from_text(take_number(s)));
        } else {
            stack_.push_uint64(u);
        }
        number_.clear();
        return true;
    }
    bool on_double(double, json::string_view s, json::error_code&)
    {
        std::string_view text = take_number(s);
        if (in_vector()) {
            stack_.push_double(float_from_text(text));
        } else {
            stack_.push_double(number_from_text<double>(text));
        }
        number_.clear();
        return true;
    }

    bool on_bool(bool b, json::error_code&)
    {
        stack_.push_bool(b);
        return true;
    }
    bool on_null(json::error_code&)
    {
        stack_.push_null();
        return true;
    }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }

private:
    struct container {
        bool is_array;
        bool floats;  // an array of a request vector's numbers
    };

    bool in_vector() const { return !containers_.empty() && containers_.back().floats; }

    // The whole text of the number that ends with s.
    std::string_view take_number(json::string_view s)
    {
        if (number_.empty()) {
            return std::string_view(s.data(), s.size());
        }
        number_.append(s.data(), s.size());
        return number_;
    }

    number_mode mode_;
    json::value_stack stack_;
    std::vector<container> containers_;
    bool key_is_vector_ = false;
    std::string key_;
    std::string number_;
};

}  // namespace

// Clinger's fast path, for float32: a decimal of at most 7 significant digits is an exact float
// mantissa (< 2^24), and 10^e for |e| <= 10 is an exact float, so one IEEE multiplication or
// division of the two is the correctly rounded float32, as a full conversion would give.
// Vectors are mostly such numbers ("-0.1234"); anything else takes from_chars.
bool fast_float_from_text(std::string_view text, float& out)
{
    static constexpr float powers[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
    const char* p = text.data();
    const char* end = p + text.size();
    bool negative = p < end && *p == '-';
    p += negative ? 1 : 0;
    std::uint32_t mantissa = 0;
    int digits = 0;  // significant ones
    int exponent = 0;
    // Appends a run of digits to the mantissa (each one after the point lowers the exponent);
    // false past 7 significant digits.
    auto take_digits = [&](int exponent_step) {
        for (; p < end && *p >= '0' && *p <= '9'; ++p) {
            digits += digits > 0 || *p != '0' ? 1 : 0;
            mantissa = mantissa * 10 + static_cast<std::uint32_t>(*p - '0');
            exponent += exponent_step;
            if (digits > 7) {
                return false;
            }
        }
        return true;
    };
    if (!take_digits(0)) {
        return false;
    }
    if (p < end && *p == '.') {
        ++p;
        if (!take_digits(-1)) {
            return false;
        }
    }
    if (p != end || exponent < -10) {
        return false;  // an exponent part, too many digits, or too small a power: from_chars
    }
    float m = static_cast<float>(mantissa);
    out = exponent == 0 ? m : m / powers[-exponent];
    if (negative) {
        out = -out;
    }
    return true;
}

float float_from_text(std::string_view text)
{
    float fast = 0;
    if (fast_float_from_text(text, fast)) {
        return fast;
    }
    return number_from_text<float>(text);
}

double double_from_text(std::string_view text)
{
    return number_from_text<double>(text);
}

result<json::value> parse_json(std::string_view text, std::size_t depth_max, number_mode mode, json::storage_ptr sp)
{
    json::parse_options options;
    options.max_depth = depth_max;
    json::basic_parser<exact_number_handler> parser(options, mode);
    parser.handler().stack().reset(std::move(sp));
    json::error_code ec;
    std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
    if (!ec && used < text.size()) {
        ec = json::error::extra_data;
    }
    if (ec) {
        return make_error(errc::invalid_argument, "not valid JSON: " + ec.message());
    }
    return parser.handler().stack().release();
}

result<json::value> parse_payload(std::string_view text)
{
    return parse_json(text, payload_depth_max, number_mode::doubles);
}

std::optional<std::string> find_non_finite(const json::value& v)
{
    // Depth-first with an explicit stack (payloads nest up to 61 levels); paths are built only
    // for the containers on the way down.
    struct item {
        const json::value* value;
        std::string path;
    };
    std::vector<item> todo;
    todo.push_back({&v, ""});
    while (!todo.empty()) {
        item it = std::move(todo.back());
        todo.pop_back();
        if (it.value->is_double()) {
            if (!std::isfinite(it.value->get_double())) {
                return it.path;
            }
        } else if (const json::object* o = it.value->if_object()) {
            // Pushed last to first, so that they are visited in document order.
            for (auto kv = o->end(); kv != o->begin();) {
                --kv;
                std::string key(kv->key());
                todo.push_back({&kv->value(), it.path.empty() ? key : it.path + "." + key});
            }
        } else if (const json::array* a = it.value->if_array()) {
            for (std::size_t i = a->size(); i > 0; --i) {
                todo.push_back({&(*a)[i - 1], it.path + "[" + std::to_string(i - 1) + "]"});
            }
        }
    }
    return std::nullopt;
}

}  // namespace puffer::index
