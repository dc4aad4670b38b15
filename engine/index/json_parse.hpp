#pragma once
// JSON text -> Boost.JSON values with numbers read exactly from their text. Boost.JSON 1.81 reads
// doubles with a fast method that is not always correctly rounded, and a double rounded again
// to float32 can land on the other side of a float32 midpoint ("1.9143322110176086" became
// 1.9143322706222534 instead of 1.9143321514129639). Here every number is converted once from
// its decimal text: to the nearest float32 inside request vectors (the "vector" arrays of a
// request body), to the nearest double everywhere else. A number beyond the range of its type
// becomes +-infinity in the value, for the validators to refuse with a message naming the field;
// one too small to represent becomes +-0, as a correctly rounded conversion gives.
//
// The one engine header with JSON types: net/ reads requests with it, and the engine files that
// read stored payloads (attributes.cpp, payload_patch.cpp) read them with it, so a number means
// the same double everywhere (a filter's value, an indexed value, a patched payload).
//
// Safe for concurrent use (no shared state).

#include "engine/core/result.hpp"

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace puffer::index {

// Nesting limits. A points body is object > "points" array > point object > payload, so a
// payload has three levels fewer than the body. The points scanner checks a payload alone with
// the payload's limit, and answers re-read stored payloads with it, so all three agree.
inline constexpr std::size_t body_depth_max = 64;
inline constexpr std::size_t payload_depth_max = body_depth_max - 3;

enum class number_mode {
    // Every number is a double (payloads, stored payloads).
    doubles,
    // Elements of an array under the key "vector" in the body's object or in an object of one of
    // its arrays (a search, a point, an item of a batch) are float32; every other number a double.
    float_vectors,
};

// Parses text as one JSON value (nesting at most depth_max levels), allocating from sp.
// errc::invalid_argument with the parser's reason for malformed text.
[[nodiscard]] result<boost::json::value> parse_json(std::string_view text, std::size_t depth_max, number_mode mode,
                                                    boost::json::storage_ptr sp = {});

// A payload object's text (from a request, or as stored): numbers are doubles.
[[nodiscard]] result<boost::json::value> parse_payload(std::string_view text);

// The nearest float32 / double to a JSON number's text (RFC 8259 grammar, not checked here):
// +-infinity when the text is beyond the type's range, +-0 when below its smallest value.
float float_from_text(std::string_view text);
double double_from_text(std::string_view text);

// The path ("a.b[3]") of the first number in v that is not finite, or nullopt when all are.
std::optional<std::string> find_non_finite(const boost::json::value& v);

}  // namespace puffer::index
