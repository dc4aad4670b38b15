#pragma once
// The attribute index of a set of rows (a segment, or a staging buffer): every payload field,
// by its dotted path ("meta.lang"), with the rows that hold it. Built from the payloads' JSON
// text as rows arrive (rows in ascending order), so filters (filter.hpp) are answered from
// postings, never by parsing payloads at search time:
//   - presence: rows where the path holds any non-null value (objects and arrays included), and
//     per scalar kind (string, number, boolean) the rows holding one;
//   - keywords: for each string and boolean value, its rows (scalars), and for each element of
//     an array of scalars, its rows (elements, for "contains");
//   - numbers: each scalar number with its row, sorted by value once sealed (ranges, eq).
// A segment's index is sealed when it is built and stored as a section of its file
// (docs/format.md); a staging's stays unsealed and grows with it. Not thread-safe while it
// grows; a sealed index is immutable and safe to share.

#include "engine/core/bitmap.hpp"
#include "engine/core/result.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::index {

// Scalar kinds a value may have.
enum class value_kind : std::uint8_t { string = 0, number = 1, boolean = 2 };
inline constexpr std::size_t value_kinds = 3;

// Rows of one value, ascending. Sealed postings of many rows also keep a bitset of them.
struct postings {
    std::vector<std::uint32_t> rows;
    std::shared_ptr<const bitmap> dense;  // set by seal() when rows are many; else null

    void add(std::uint32_t row)
    {
        if (rows.empty() || rows.back() != row) {
            rows.push_back(row);
        }
    }
};

// Keyword keys: a kind byte then the value: 's' + the string's bytes, 'b' + '0' or '1', and for
// numbers inside arrays 'n' + the 8 bytes of the double (little-endian; -0 stored as 0).
std::string keyword_key(value_kind kind, std::string_view text, double number, bool boolean);
// The same into key (its memory reused).
void keyword_key_into(std::string& key, value_kind kind, std::string_view text, double number, bool boolean);
inline std::string string_key(std::string_view s) { return keyword_key(value_kind::string, s, 0, false); }
inline std::string bool_key(bool b) { return keyword_key(value_kind::boolean, {}, 0, b); }
inline std::string number_key(double v) { return keyword_key(value_kind::number, {}, v, false); }

struct attribute_field {
    postings present;                    // any non-null value
    postings kinds[value_kinds];         // a scalar of each kind
    std::map<std::string, postings, std::less<>> scalars;   // strings and booleans
    std::map<std::string, postings, std::less<>> elements;  // array elements, any scalar kind
    // Scalar numbers: values[i] at row number_rows[i]; sorted by (value, row) once sealed.
    std::vector<double> numbers;
    std::vector<std::uint32_t> number_rows;
    // Sealed, for long columns: prefix[i] holds the rows of the sorted entries
    // [0, prefix_entry(i)), i = 1 .. number_buckets - 1, so a range of many entries is two word
    // passes and the rows at its two ends (filter.cpp).
    std::vector<std::shared_ptr<const bitmap>> prefix;
    std::size_t prefix_entry(std::size_t i) const { return i * numbers.size() / number_buckets; }
    static constexpr std::size_t number_buckets = 32;
};

// Number columns of at least this many entries keep prefix bitsets when sealed.
inline constexpr std::size_t number_prefix_min = 4096;

// Whether path is one of excluded or lies beneath one ("meta.secret" excludes "meta.secret.x",
// not "meta" nor "meta.secrets").
inline bool path_excluded(std::string_view path, const std::vector<std::string>& excluded)
{
    for (const auto& e : excluded) {
        if (path.size() >= e.size() && path.compare(0, e.size(), e) == 0 &&
            (path.size() == e.size() || path[e.size()] == '.')) {
            return true;
        }
    }
    return false;
}

// At most this many distinct paths per index, and this depth of nesting: deeper objects and
// further paths are not indexed (a filter on them matches nothing). Documented in docs/api.md.
inline constexpr std::size_t attribute_fields_max = 1024;
inline constexpr std::size_t attribute_depth_max = 8;

class attribute_index {
public:
    attribute_index() = default;

    // Indexes the payload (JSON object text; empty: none) of `row`, which must be above every
    // row added so far. Text that is not a JSON object is indexed as no payload.
    void add(std::uint32_t row, std::string_view payload);
    // Paths add() leaves out, with everything beneath them (a collection's unindexed fields).
    // Set before the first add.
    void exclude(std::shared_ptr<const std::vector<std::string>> paths) { excluded_ = std::move(paths); }
    // Sorts the number columns and builds the bitsets of dense postings, for rows_total rows.
    // Called once, after the last add.
    void seal(std::size_t rows_total);

    bool sealed() const { return sealed_; }
    // Rows the index covers when sealed (the segment's row count).
    std::size_t rows() const { return rows_; }
    const attribute_field* field(std::string_view path) const;
    const std::map<std::string, attribute_field, std::less<>>& fields() const { return fields_; }
    bool empty() const { return fields_.empty(); }

    // The index of rows gathered from other indexed sets (a flush gathers staging rows): row r
    // of sources[i] becomes row positions[i][r] of the result (-1: left out), which holds
    // `rows` rows and is sealed. The same as indexing those rows' payloads again, without
    // parsing them. Sources may be unsealed; they must not change meanwhile.
    static attribute_index remap(const std::vector<const attribute_index*>& sources,
                                 const std::vector<std::vector<std::int64_t>>& positions, std::size_t rows);

    // The section bytes (docs/format.md, attribute index section). REQUIRES: sealed.
    std::string encode() const;
    // The index of a section's bytes for a segment of `rows` rows, checked (sizes exact, rows
    // below `rows` and strictly ascending, keys strictly ascending, numbers finite and sorted),
    // and sealed. errc::corruption naming path and the offset otherwise.
    [[nodiscard]] static result<attribute_index> decode(std::string_view bytes, std::size_t rows,
                                                        const std::string& path, std::uint64_t offset);

private:
    attribute_field* field_for(const std::string& path);

    std::map<std::string, attribute_field, std::less<>> fields_;
    std::size_t rows_ = 0;
    bool sealed_ = false;
    std::shared_ptr<const std::vector<std::string>> excluded_;  // null: none
};

}  // namespace puffer::index
