#include "net/filter_decoding.hpp"

#include "engine/core/log.hpp"

#include <boost/json.hpp>

#include <cmath>
#include <optional>

namespace json = boost::json;

namespace puffer::net {
namespace {

using index::filter;
using index::filter_op;
using index::filter_value;
using index::value_kind;

constexpr std::size_t field_size_max = 256;

error invalid(const std::string& where, const std::string& what)
{
    return make_error(errc::invalid_argument, where + ": " + what);
}

class decoder {
public:
    result<filter> node(const json::value& v, const std::string& where, std::size_t depth)
    {
        if (depth > index::filter_depth_max) {
            return invalid(where, strprintf("filters nest at most %zu levels deep", index::filter_depth_max));
        }
        if (++nodes_ > index::filter_nodes_max) {
            return invalid(where, strprintf("a filter holds at most %zu expressions", index::filter_nodes_max));
        }
        const json::object* o = v.if_object();
        if (o == nullptr) {
            return invalid(where, "an expression must be an object with one operator, such as {\"eq\": [\"field\", "
                                  "\"value\"]}");
        }
        if (o->size() != 1) {
            std::string keys;
            for (const auto& kv : *o) {
                keys += keys.empty() ? "" : ", ";
                keys += "'" + std::string(kv.key()) + "'";
            }
            return invalid(where, strprintf("an expression holds exactly one operator, not %zu%s%s", o->size(),
                                            keys.empty() ? "" : ": ", keys.c_str()));
        }
        const auto& kv = *o->begin();
        std::string_view name(kv.key().data(), kv.key().size());
        std::optional<filter_op> op;
        std::string names;
        for (std::size_t i = 0; i < index::filter_op_count; ++i) {
            auto candidate = static_cast<filter_op>(i);
            names += names.empty() ? "" : ", ";
            names += index::op_name(candidate);
            if (name == index::op_name(candidate)) {
                op = candidate;
            }
        }
        if (!op) {
            return invalid(where, strprintf("unknown operator '%.*s' (operators: %s)", static_cast<int>(name.size()),
                                            name.data(), names.c_str()));
        }
        const std::string here = where + "." + std::string(name);
        const json::value& arg = kv.value();
        filter f;
        f.op = *op;
        switch (*op) {
        case filter_op::all_of:
        case filter_op::any_of: {
            const json::array* a = arg.if_array();
            if (a == nullptr || a->empty()) {
                return invalid(here, "must be a non-empty array of expressions");
            }
            for (std::size_t i = 0; i < a->size(); ++i) {
                PUFFER_TRY_ASSIGN(filter child, node((*a)[i], strprintf("%s[%zu]", here.c_str(), i), depth + 1));
                f.children.push_back(std::move(child));
            }
            return f;
        }
        case filter_op::none_of: {
            PUFFER_TRY_ASSIGN(filter child, node(arg, here, depth + 1));
            f.children.push_back(std::move(child));
            return f;
        }
        case filter_op::exists: {
            PUFFER_TRY_ASSIGN(f.field, field_of(arg, here));
            return f;
        }
        default:
            break;
        }
        const json::array* a = arg.if_array();
        if (a == nullptr || a->size() != 2) {
            const char* shape = *op == filter_op::range ? "[field, {\"gte\": 1, \"lt\": 2}]"
                                : (*op == filter_op::in || *op == filter_op::nin ||
                                   *op == filter_op::contains_any)
                                    ? "[field, [value, ...]]"
                                    : "[field, value]";
            return invalid(here, strprintf("must be an array of two: %s", shape));
        }
        PUFFER_TRY_ASSIGN(f.field, field_of((*a)[0], here + "[0]"));
        const json::value& second = (*a)[1];
        const std::string second_where = here + "[1]";
        switch (*op) {
        case filter_op::eq:
        case filter_op::ne:
        case filter_op::contains: {
            PUFFER_TRY_ASSIGN(filter_value value, value_of(second, second_where));
            f.values.push_back(std::move(value));
            return f;
        }
        case filter_op::in:
        case filter_op::nin:
        case filter_op::contains_any: {
            const json::array* values = second.if_array();
            if (values == nullptr || values->empty() || values->size() > index::filter_values_max) {
                return invalid(second_where,
                               strprintf("must be an array of 1 to %zu values", index::filter_values_max));
            }
            for (std::size_t i = 0; i < values->size(); ++i) {
                PUFFER_TRY_ASSIGN(filter_value value, value_of((*values)[i], strprintf("%s[%zu]", second_where.c_str(), i)));
                f.values.push_back(std::move(value));
            }
            return f;
        }
        case filter_op::range: {
            PUFFER_TRY(bounds_of(second, second_where, f));
            return f;
        }
        default:
            break;
        }
        return invalid(here, "unsupported operator");
    }

private:
    static result<std::string> field_of(const json::value& v, const std::string& where)
    {
        const json::string* s = v.if_string();
        if (s == nullptr || s->empty() || s->size() > field_size_max) {
            return invalid(where, strprintf("the field must be a non-empty string of at most %zu bytes (a payload key, "
                                            "a dotted path such as \"meta.lang\", or \"id\")",
                                            field_size_max));
        }
        return std::string(s->data(), s->size());
    }

    static result<filter_value> value_of(const json::value& v, const std::string& where)
    {
        filter_value out;
        if (const json::string* s = v.if_string()) {
            out.kind = value_kind::string;
            out.text.assign(s->data(), s->size());
        } else if (v.is_bool()) {
            out.kind = value_kind::boolean;
            out.boolean = v.get_bool();
        } else if (v.is_number()) {
            out.kind = value_kind::number;
            out.number = v.to_number<double>();
            if (!std::isfinite(out.number)) {
                return invalid(where, "the number is beyond the range of a double");
            }
        } else {
            return invalid(where, "a value must be a string, a number or a boolean");
        }
        return out;
    }

    static status bounds_of(const json::value& v, const std::string& where, filter& f)
    {
        const json::object* o = v.if_object();
        if (o == nullptr || o->empty()) {
            return invalid(where, "must be an object of bounds: \"gt\" or \"gte\", \"lt\" or \"lte\"");
        }
        for (const auto& kv : *o) {
            std::string_view key(kv.key().data(), kv.key().size());
            const std::string here = where + "." + std::string(key);
            bool lower = key == "gt" || key == "gte";
            bool upper = key == "lt" || key == "lte";
            if (!lower && !upper) {
                return invalid(here, "unknown bound (bounds: gt, gte, lt, lte)");
            }
            index::filter_bound& b = lower ? f.lower : f.upper;
            if (b.set) {
                return invalid(here, lower ? "give one lower bound: \"gt\" or \"gte\"" : "give one upper bound: \"lt\" or \"lte\"");
            }
            PUFFER_TRY_ASSIGN(b.value, value_of(kv.value(), here));
            if (b.value.kind == value_kind::boolean) {
                return invalid(here, "a bound must be a number or a string");
            }
            b.set = true;
            b.inclusive = key == "gte" || key == "lte";
        }
        if (f.lower.set && f.upper.set && f.lower.value.kind != f.upper.value.kind) {
            return invalid(where, "both bounds must be numbers or both strings");
        }
        return ok();
    }

    std::size_t nodes_ = 0;
};

}  // namespace

result<std::shared_ptr<const index::filter>> parse_filter(const json::value& v, const std::string& where)
{
    if (v.is_null()) {
        return std::shared_ptr<const index::filter>();
    }
    decoder d;
    PUFFER_TRY_ASSIGN(index::filter f, d.node(v, where, 1));
    return std::shared_ptr<const index::filter>(std::make_shared<index::filter>(std::move(f)));
}

}  // namespace puffer::net
