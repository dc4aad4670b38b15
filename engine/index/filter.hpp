#pragma once
// Filters: one expression over a point's payload fields and its id (docs/api.md, "Filters"),
// and its evaluation over a set of rows through their attribute index (attributes.hpp): the
// answer is the bitset of matching rows. net/ decodes JSON into a filter and checks it; the
// engine takes it as checked.
//
// Semantics: a comparison on a missing field, or on a value of another kind, is false; "ne" and
// "nin" hold only where the field holds a scalar of the value's kind; "not" is the complement
// over all rows; "contains" and "contains_any" look at the elements of array fields; "exists" is
// any non-null value. The field "id" is the point's id (a string).

#include "engine/core/bitmap.hpp"
#include "engine/index/attributes.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::index {

// Limits a decoder enforces (errors name the node).
inline constexpr std::size_t filter_depth_max = 32;
inline constexpr std::size_t filter_nodes_max = 1024;
inline constexpr std::size_t filter_values_max = 1024;  // values of one "in" / "nin" / "contains_any"

struct filter_value {
    value_kind kind = value_kind::string;
    std::string text;   // string
    double number = 0;  // number
    bool boolean = false;
};

enum class filter_op : std::uint8_t {
    all_of,  // and
    any_of,  // or
    none_of, // not (one child)
    eq,
    ne,
    in,
    nin,
    range,
    contains,
    contains_any,
    exists,
};

struct filter_bound {
    bool set = false;
    bool inclusive = false;
    filter_value value;
};

struct filter_node {
    filter_op op = filter_op::exists;
    std::string field;                  // leaves
    std::vector<filter_value> values;   // eq, ne, contains: one; in, nin, contains_any: any
    filter_bound lower;                 // range: gt / gte
    filter_bound upper;                 // range: lt / lte
    std::vector<filter_node> children;  // and, or: any; not: one
};

using filter = filter_node;

// The rows a filter is evaluated over: `rows` rows [0, rows) with their attribute index (null:
// no payloads) and their ids.
struct filter_rows {
    std::size_t rows = 0;
    const attribute_index* attributes = nullptr;
    std::function<std::string_view(std::uint32_t)> id;
};

// The matching rows of target, as a bitset of target.rows bits. Postings rows at or above
// target.rows (a staging that grew after the view was taken) are left out.
bitmap evaluate(const filter& f, const filter_rows& target);

// The first field f names (in document order) that path_excluded() finds in excluded, or null.
const std::string* excluded_field(const filter& f, const std::vector<std::string>& excluded);

// The operator's name in the JSON form ("and", "contains_any", ...).
const char* op_name(filter_op op);
inline constexpr std::size_t filter_op_count = static_cast<std::size_t>(filter_op::exists) + 1;

// The filter as compact JSON text, for logs and messages.
std::string describe(const filter& f);

}  // namespace puffer::index
