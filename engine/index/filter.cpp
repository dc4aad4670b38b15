#include "engine/index/filter.hpp"

#include "engine/core/assert.hpp"
#include "engine/core/log.hpp"
#include "engine/core/result.hpp"

#include <algorithm>
#include <cmath>

namespace puffer::index {
namespace {

constexpr std::string_view id_field = "id";

// Sets rows of p below `rows` into words (bits beyond rows stay clear).
void set_postings(bitmap& out, const postings& p)
{
    if (p.dense && p.dense->size() == out.size()) {
        const std::uint64_t* src = p.dense->words();
        std::uint64_t* dst = out.mutable_words();
        for (std::size_t w = 0; w < out.word_count(); ++w) {
            dst[w] |= src[w];
        }
        return;
    }
    std::uint64_t* dst = out.mutable_words();
    for (std::uint32_t r : p.rows) {
        if (r >= out.size()) {
            break;  // ascending: the rest are beyond the view
        }
        dst[r / 64] |= std::uint64_t{1} << (r % 64);
    }
}

void set_row(bitmap& out, std::uint32_t r)
{
    out.mutable_words()[r / 64] |= std::uint64_t{1} << (r % 64);
}

std::string key_of(const filter_value& v)
{
    return keyword_key(v.kind, v.text, v.number, v.boolean);
}

bool in_range(double x, const filter_bound& lo, const filter_bound& hi)
{
    if (lo.set && !(lo.inclusive ? x >= lo.value.number : x > lo.value.number)) {
        return false;
    }
    if (hi.set && !(hi.inclusive ? x <= hi.value.number : x < hi.value.number)) {
        return false;
    }
    return true;
}

bool in_range(std::string_view s, const filter_bound& lo, const filter_bound& hi)
{
    if (lo.set && !(lo.inclusive ? s >= lo.value.text : s > lo.value.text)) {
        return false;
    }
    if (hi.set && !(hi.inclusive ? s <= hi.value.text : s < hi.value.text)) {
        return false;
    }
    return true;
}

// Rows of entries [begin, end) of f's number column.
void set_number_run(bitmap& out, const attribute_field& f, std::size_t begin, std::size_t end)
{
    for (std::size_t i = begin; i < end; ++i) {
        if (std::uint32_t r = f.number_rows[i]; r < out.size()) {
            set_row(out, r);
        }
    }
}

// Rows of f's number column whose value satisfies pred (an unsealed column: every entry).
template <class Pred>
void set_numbers_where(bitmap& out, const attribute_field& f, Pred pred)
{
    for (std::size_t i = 0; i < f.numbers.size(); ++i) {
        if (std::uint32_t r = f.number_rows[i]; r < out.size() && pred(f.numbers[i])) {
            set_row(out, r);
        }
    }
}

class evaluator {
public:
    explicit evaluator(const filter_rows& t) : t_(t) {}

    bitmap run(const filter& f)
    {
        bitmap out(t_.rows);
        into(f, out);
        out.recount();
        return out;
    }

private:
    const attribute_field* field(const std::string& path) const
    {
        return t_.attributes != nullptr ? t_.attributes->field(path) : nullptr;
    }
    bool sealed() const { return t_.attributes != nullptr && t_.attributes->sealed(); }

    // ORs the rows matching f into out (out's count is stale until recount()).
    void into(const filter& f, bitmap& out)
    {
        switch (f.op) {
        case filter_op::all_of: {
            bitmap acc(t_.rows);
            acc.set_all();
            for (const auto& c : f.children) {
                bitmap b(t_.rows);
                into(c, b);
                acc.and_with(b);
            }
            out.or_with(acc);
            return;
        }
        case filter_op::any_of:
            for (const auto& c : f.children) {
                into(c, out);
            }
            return;
        case filter_op::none_of: {
            bitmap b(t_.rows);
            into(f.children.at(0), b);
            b.recount();
            b.flip_all();
            out.or_with(b);
            return;
        }
        case filter_op::eq:
        case filter_op::in:
            for (const auto& v : f.values) {
                equal(f.field, v, out);
            }
            return;
        case filter_op::ne:
        case filter_op::nin: {
            bitmap holders(t_.rows);
            bitmap equal_rows(t_.rows);
            for (const auto& v : f.values) {
                of_kind(f.field, v.kind, holders);
                equal(f.field, v, equal_rows);
            }
            holders.recount();
            equal_rows.recount();
            holders.and_not_with(equal_rows);
            out.or_with(holders);
            return;
        }
        case filter_op::range:
            range(f, out);
            return;
        case filter_op::contains:
        case filter_op::contains_any:
            if (const attribute_field* fl = field(f.field); fl != nullptr && f.field != id_field) {
                for (const auto& v : f.values) {
                    if (auto it = fl->elements.find(key_of(v)); it != fl->elements.end()) {
                        set_postings(out, it->second);
                    }
                }
            }
            return;
        case filter_op::exists:
            if (f.field == id_field) {
                out.set_all();
            } else if (const attribute_field* fl = field(f.field)) {
                set_postings(out, fl->present);
            }
            return;
        }
        PUFFER_ASSERT(false);
    }

    // Rows holding a scalar of kind at path.
    void of_kind(const std::string& path, value_kind kind, bitmap& out)
    {
        if (path == id_field) {
            if (kind == value_kind::string) {
                out.set_all();
            }
            return;
        }
        if (const attribute_field* fl = field(path)) {
            set_postings(out, fl->kinds[static_cast<std::size_t>(kind)]);
        }
    }

    void equal(const std::string& path, const filter_value& v, bitmap& out)
    {
        if (path == id_field) {
            if (v.kind == value_kind::string) {
                for (std::uint32_t r = 0; r < t_.rows; ++r) {
                    if (t_.id(r) == v.text) {
                        set_row(out, r);
                    }
                }
            }
            return;
        }
        const attribute_field* fl = field(path);
        if (fl == nullptr) {
            return;
        }
        if (v.kind == value_kind::number) {
            if (sealed()) {
                auto [lo, hi] = std::equal_range(fl->numbers.begin(), fl->numbers.end(), v.number);
                set_entries(out, *fl, static_cast<std::size_t>(lo - fl->numbers.begin()),
                            static_cast<std::size_t>(hi - fl->numbers.begin()));
            } else {
                set_numbers_where(out, *fl, [&](double x) { return x == v.number; });
            }
            return;
        }
        if (auto it = fl->scalars.find(key_of(v)); it != fl->scalars.end()) {
            set_postings(out, it->second);
        }
    }

    void range(const filter& f, bitmap& out)
    {
        const filter_bound& lo = f.lower;
        const filter_bound& hi = f.upper;
        const value_kind kind = lo.set ? lo.value.kind : hi.value.kind;
        if (f.field == id_field) {
            if (kind == value_kind::string) {
                for (std::uint32_t r = 0; r < t_.rows; ++r) {
                    if (in_range(t_.id(r), lo, hi)) {
                        set_row(out, r);
                    }
                }
            }
            return;
        }
        const attribute_field* fl = field(f.field);
        if (fl == nullptr) {
            return;
        }
        if (kind == value_kind::number) {
            if (!sealed()) {
                set_numbers_where(out, *fl, [&](double x) { return in_range(x, lo, hi); });
                return;
            }
            const auto& xs = fl->numbers;
            auto begin = xs.begin();
            auto end = xs.end();
            if (lo.set) {
                begin = lo.inclusive ? std::lower_bound(xs.begin(), xs.end(), lo.value.number)
                                     : std::upper_bound(xs.begin(), xs.end(), lo.value.number);
            }
            if (hi.set) {
                end = hi.inclusive ? std::upper_bound(begin, xs.end(), hi.value.number)
                                   : std::lower_bound(begin, xs.end(), hi.value.number);
            }
            if (begin < end) {
                set_entries(out, *fl, static_cast<std::size_t>(begin - xs.begin()),
                            static_cast<std::size_t>(end - xs.begin()));
            }
            return;
        }
        if (kind == value_kind::string) {
            // String keys are 's' + the string, so byte order of keys is the strings' order.
            auto it = lo.set ? fl->scalars.lower_bound(string_key(lo.value.text)) : fl->scalars.lower_bound("s");
            for (; it != fl->scalars.end() && !it->first.empty() && it->first[0] == 's'; ++it) {
                std::string_view s = std::string_view(it->first).substr(1);
                if (hi.set && (hi.inclusive ? s > hi.value.text : s >= hi.value.text)) {
                    break;
                }
                if (in_range(s, lo, hi)) {
                    set_postings(out, it->second);
                }
            }
        }
    }

    // ORs the rows of sorted entries [begin, end) of f's column into out: one by one, or, for a
    // run long against the buckets, as prefix(end) minus prefix(begin), each prefix a bitset
    // plus the entries past its bucket's start.
    void set_entries(bitmap& out, const attribute_field& f, std::size_t begin, std::size_t end)
    {
        const std::size_t bucket_entries = f.numbers.size() / attribute_field::number_buckets;
        if (f.prefix.empty() || f.prefix.front()->size() != out.size() || end - begin <= 4 * bucket_entries + 64) {
            set_number_run(out, f, begin, end);
            return;
        }
        // The largest bucket boundary at or below x (0: the empty prefix).
        auto bucket_below = [&](std::size_t x) {
            // Boundaries 1 .. number_buckets - 1 have bitsets; the column's end has none.
            std::size_t i = std::min(x * attribute_field::number_buckets / f.numbers.size(),
                                     attribute_field::number_buckets - 1);
            while (i > 0 && f.prefix_entry(i) > x) {
                --i;
            }
            while (i + 1 < attribute_field::number_buckets && f.prefix_entry(i + 1) <= x) {
                ++i;
            }
            return i;
        };
        bitmap run(out.size());
        std::uint64_t* w = run.mutable_words();
        const std::size_t words = run.word_count();
        std::size_t hi = bucket_below(end);
        std::size_t lo = bucket_below(begin);
        PUFFER_ASSERT(hi <= f.prefix.size() && lo <= hi);
        if (hi > 0) {
            const std::uint64_t* p = f.prefix[hi - 1]->words();
            for (std::size_t i = 0; i < words; ++i) {
                w[i] = p[i];
            }
        }
        set_number_run(run, f, f.prefix_entry(hi), end);
        if (lo > 0) {
            const std::uint64_t* p = f.prefix[lo - 1]->words();
            for (std::size_t i = 0; i < words; ++i) {
                w[i] &= ~p[i];
            }
        }
        for (std::size_t e = f.prefix_entry(lo); e < begin; ++e) {
            std::uint32_t r = f.number_rows[e];
            w[r / 64] &= ~(std::uint64_t{1} << (r % 64));
        }
        std::uint64_t* dst = out.mutable_words();
        for (std::size_t i = 0; i < words; ++i) {
            dst[i] |= w[i];
        }
    }

    const filter_rows& t_;
};

void append_json_string(std::string& out, std::string_view s)
{
    out.push_back('"');
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20) {
            out += strprintf("\\u%04x", u);
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
}

void append_value(std::string& out, const filter_value& v)
{
    switch (v.kind) {
    case value_kind::string:
        append_json_string(out, v.text);
        return;
    case value_kind::boolean:
        out += v.boolean ? "true" : "false";
        return;
    case value_kind::number:
        out += strprintf("%.17g", v.number);
        return;
    }
}

void append_filter(std::string& out, const filter& f)
{
    out += "{\"";
    out += op_name(f.op);
    out += "\":";
    switch (f.op) {
    case filter_op::all_of:
    case filter_op::any_of:
        out.push_back('[');
        for (std::size_t i = 0; i < f.children.size(); ++i) {
            out += i == 0 ? "" : ",";
            append_filter(out, f.children[i]);
        }
        out.push_back(']');
        break;
    case filter_op::none_of:
        append_filter(out, f.children.at(0));
        break;
    case filter_op::exists:
        append_json_string(out, f.field);
        break;
    case filter_op::eq:
    case filter_op::ne:
    case filter_op::contains:
        out.push_back('[');
        append_json_string(out, f.field);
        out.push_back(',');
        append_value(out, f.values.at(0));
        out.push_back(']');
        break;
    case filter_op::in:
    case filter_op::nin:
    case filter_op::contains_any:
        out.push_back('[');
        append_json_string(out, f.field);
        out += ",[";
        for (std::size_t i = 0; i < f.values.size(); ++i) {
            out += i == 0 ? "" : ",";
            append_value(out, f.values[i]);
        }
        out += "]]";
        break;
    case filter_op::range: {
        out.push_back('[');
        append_json_string(out, f.field);
        out += ",{";
        bool first = true;
        for (const filter_bound* b : {&f.lower, &f.upper}) {
            if (!b->set) {
                continue;
            }
            out += first ? "" : ",";
            first = false;
            out += b == &f.lower ? (b->inclusive ? "\"gte\":" : "\"gt\":") : (b->inclusive ? "\"lte\":" : "\"lt\":");
            append_value(out, b->value);
        }
        out += "}]";
        break;
    }
    }
    out.push_back('}');
}

}  // namespace

const char* op_name(filter_op op)
{
    switch (op) {
    case filter_op::all_of:
        return "and";
    case filter_op::any_of:
        return "or";
    case filter_op::none_of:
        return "not";
    case filter_op::eq:
        return "eq";
    case filter_op::ne:
        return "ne";
    case filter_op::in:
        return "in";
    case filter_op::nin:
        return "nin";
    case filter_op::range:
        return "range";
    case filter_op::contains:
        return "contains";
    case filter_op::contains_any:
        return "contains_any";
    case filter_op::exists:
        return "exists";
    }
    return "?";
}

bitmap evaluate(const filter& f, const filter_rows& target)
{
    return evaluator(target).run(f);
}

std::string describe(const filter& f)
{
    std::string out;
    append_filter(out, f);
    return out;
}

const std::string* excluded_field(const filter& f, const std::vector<std::string>& excluded)
{
    if (!f.field.empty() && f.field != "id" && path_excluded(f.field, excluded)) {
        return &f.field;
    }
    for (const auto& c : f.children) {
        if (const std::string* found = excluded_field(c, excluded)) {
            return found;
        }
    }
    return nullptr;
}

}  // namespace puffer::index
