#include "engine/index/attributes.hpp"

#include "engine/core/assert.hpp"
#include "engine/core/coding.hpp"
#include "engine/core/log.hpp"
#include "engine/index/json_parse.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace puffer::index {
namespace json = boost::json;
namespace {

// Postings holding at least rows / dense_divisor rows keep a bitset: a word-wise copy then
// beats setting their bits one by one (bitset: rows / 8 bytes; list: 4 bytes a row).
constexpr std::size_t dense_divisor = 32;

void seal_postings(postings& p, std::size_t rows)
{
    if (rows != 0 && p.rows.size() * dense_divisor >= rows) {
        auto b = std::make_shared<bitmap>(rows);
        for (std::uint32_t r : p.rows) {
            b->set(r);
        }
        p.dense = std::move(b);
    } else {
        p.dense.reset();
    }
}

double as_number(const json::value& v)
{
    switch (v.kind()) {
    case json::kind::int64:
        return static_cast<double>(v.get_int64());
    case json::kind::uint64:
        return static_cast<double>(v.get_uint64());
    default:
        return v.get_double();
    }
}

bool is_number(const json::value& v)
{
    return v.is_int64() || v.is_uint64() || v.is_double();
}

// Postings of many rows are stored as a bitset of the segment's rows (rows / 8 bytes) instead
// of a list (4 bytes a row): when they hold at least 1/32 of the rows, and at least 1024.
bool stored_as_bitset(std::size_t count, std::size_t rows)
{
    return count >= 1024 && count * 32 >= rows;
}

}  // namespace

void keyword_key_into(std::string& key, value_kind kind, std::string_view text, double number, bool boolean)
{
    key.clear();
    switch (kind) {
    case value_kind::string:
        key.push_back('s');
        key.append(text);
        break;
    case value_kind::boolean:
        key = boolean ? "b1" : "b0";
        break;
    case value_kind::number: {
        if (number == 0) {
            number = 0;  // -0 and 0 are one value
        }
        std::uint64_t bits = 0;
        std::memcpy(&bits, &number, 8);
        key.resize(9);
        key[0] = 'n';
        put_fixed64_le(reinterpret_cast<std::byte*>(key.data() + 1), bits);
        break;
    }
    }
}

std::string keyword_key(value_kind kind, std::string_view text, double number, bool boolean)
{
    std::string key;
    keyword_key_into(key, kind, text, number, boolean);
    return key;
}

attribute_field* attribute_index::field_for(const std::string& path)
{
    auto it = fields_.find(path);
    if (it != fields_.end()) {
        return &it->second;
    }
    if (fields_.size() >= attribute_fields_max) {
        return nullptr;
    }
    return &fields_.emplace(path, attribute_field{}).first->second;
}

void attribute_index::add(std::uint32_t row, std::string_view payload)
{
    PUFFER_ASSERT(!sealed_);
    if (payload.empty()) {
        return;
    }
    // One arena per thread, reset per payload: parsing allocates nothing once it has grown.
    thread_local unsigned char arena[16384];
    json::monotonic_resource mr(arena, sizeof arena);
    // Numbers read exactly from their text, as filters' values are: an eq on a stored value
    // must find it.
    auto parsed = parse_json(payload, payload_depth_max, number_mode::doubles, json::storage_ptr(&mr));
    if (!parsed || !parsed->is_object()) {
        return;
    }
    const json::value& v = *parsed;
    thread_local std::string key;
    // The postings of a keyword, found without building a key string when it exists already.
    auto postings_of = [](std::map<std::string, postings, std::less<>>& m, value_kind kind, std::string_view text,
                          double number, bool boolean) -> postings& {
        keyword_key_into(key, kind, text, number, boolean);
        auto it = m.find(std::string_view(key));
        if (it == m.end()) {
            it = m.emplace(key, postings{}).first;
        }
        return it->second;
    };
    // Depth-first over the object, paths joined by '.'.
    auto visit = [&](auto& self, const json::object& obj, const std::string& prefix, std::size_t depth) -> void {
        for (const auto& kv : obj) {
            const json::value& x = kv.value();
            if (x.is_null()) {
                continue;
            }
            std::string path = prefix;
            path.append(kv.key().data(), kv.key().size());
            if (excluded_ && path_excluded(path, *excluded_)) {
                continue;
            }
            attribute_field* f = field_for(path);
            if (f == nullptr) {
                continue;
            }
            f->present.add(row);
            if (x.is_string()) {
                f->kinds[static_cast<std::size_t>(value_kind::string)].add(row);
                postings_of(f->scalars, value_kind::string, std::string_view(x.get_string().data(), x.get_string().size()),
                            0, false)
                    .add(row);
            } else if (x.is_bool()) {
                f->kinds[static_cast<std::size_t>(value_kind::boolean)].add(row);
                postings_of(f->scalars, value_kind::boolean, {}, 0, x.get_bool()).add(row);
            } else if (is_number(x)) {
                // A number beyond double range (parsed as infinity) is not indexed: the server
                // refuses such payloads, and a section must hold finite numbers only.
                if (double v = as_number(x); std::isfinite(v)) {
                    f->kinds[static_cast<std::size_t>(value_kind::number)].add(row);
                    f->numbers.push_back(v);
                    f->number_rows.push_back(row);
                }
            } else if (x.is_array()) {
                for (const json::value& e : x.get_array()) {
                    if (e.is_string()) {
                        postings_of(f->elements, value_kind::string,
                                    std::string_view(e.get_string().data(), e.get_string().size()), 0, false)
                            .add(row);
                    } else if (e.is_bool()) {
                        postings_of(f->elements, value_kind::boolean, {}, 0, e.get_bool()).add(row);
                    } else if (is_number(e) && std::isfinite(as_number(e))) {
                        postings_of(f->elements, value_kind::number, {}, as_number(e), false).add(row);
                    }
                }
            } else if (x.is_object() && depth + 1 < attribute_depth_max) {
                self(self, x.get_object(), path + ".", depth + 1);
            }
        }
    };
    visit(visit, v.get_object(), std::string(), 0);
}

void attribute_index::seal(std::size_t rows_total)
{
    PUFFER_ASSERT(!sealed_);
    rows_ = rows_total;
    for (auto& [path, f] : fields_) {
        seal_postings(f.present, rows_);
        for (auto& k : f.kinds) {
            seal_postings(k, rows_);
        }
        for (auto& [key, p] : f.scalars) {
            seal_postings(p, rows_);
        }
        for (auto& [key, p] : f.elements) {
            seal_postings(p, rows_);
        }
        std::vector<std::pair<double, std::uint32_t>> sorted(f.numbers.size());
        for (std::size_t i = 0; i < sorted.size(); ++i) {
            sorted[i] = {f.numbers[i], f.number_rows[i]};
        }
        std::sort(sorted.begin(), sorted.end());
        for (std::size_t i = 0; i < sorted.size(); ++i) {
            f.numbers[i] = sorted[i].first;
            f.number_rows[i] = sorted[i].second;
        }
        f.prefix.clear();
        // Prefix bitsets stand for sets of entries only when no row holds two entries (one path
        // can be reached twice in a row: a key "x.y" beside an object "x" holding "y").
        bool rows_unique = true;
        if (f.numbers.size() >= number_prefix_min) {
            bitmap seen(rows_);
            for (std::uint32_t r : f.number_rows) {
                rows_unique = seen.set(r) && rows_unique;
            }
        }
        if (f.numbers.size() >= number_prefix_min && rows_unique) {
            bitmap running(rows_);
            std::size_t entry = 0;
            for (std::size_t i = 1; i < attribute_field::number_buckets; ++i) {
                for (; entry < f.prefix_entry(i); ++entry) {
                    running.set(f.number_rows[entry]);
                }
                f.prefix.push_back(std::make_shared<const bitmap>(running));
            }
        }
    }
    sealed_ = true;
}

attribute_index attribute_index::remap(const std::vector<const attribute_index*>& sources,
                                       const std::vector<std::vector<std::int64_t>>& positions, std::size_t rows)
{
    PUFFER_ASSERT(sources.size() == positions.size());
    attribute_index out;
    // Postings are gathered unordered, then put in order: through a bitset when they are many,
    // by sorting when they are few.
    auto move_rows = [](const postings& from, const std::vector<std::int64_t>& pos, postings& to) {
        for (std::uint32_t r : from.rows) {
            if (r < pos.size() && pos[r] >= 0) {
                to.rows.push_back(static_cast<std::uint32_t>(pos[r]));
            }
        }
    };
    for (std::size_t i = 0; i < sources.size(); ++i) {
        if (sources[i] == nullptr) {
            continue;
        }
        const std::vector<std::int64_t>& pos = positions[i];
        for (const auto& [path, f] : sources[i]->fields_) {
            attribute_field* g = out.field_for(path);
            if (g == nullptr) {
                continue;
            }
            move_rows(f.present, pos, g->present);
            for (std::size_t k = 0; k < value_kinds; ++k) {
                move_rows(f.kinds[k], pos, g->kinds[k]);
            }
            for (const auto& [key, p] : f.scalars) {
                move_rows(p, pos, g->scalars[key]);
            }
            for (const auto& [key, p] : f.elements) {
                move_rows(p, pos, g->elements[key]);
            }
            for (std::size_t j = 0; j < f.numbers.size(); ++j) {
                std::uint32_t r = f.number_rows[j];
                if (r < pos.size() && pos[r] >= 0) {
                    g->numbers.push_back(f.numbers[j]);
                    g->number_rows.push_back(static_cast<std::uint32_t>(pos[r]));
                }
            }
        }
    }
    bitmap scratch(rows);
    auto order = [&](postings& p) {
        if (p.rows.size() * dense_divisor >= rows) {
            for (std::uint32_t r : p.rows) {
                scratch.set(r);
            }
            p.rows.clear();
            for (std::size_t w = 0; w < scratch.word_count(); ++w) {
                std::uint64_t& bits = scratch.mutable_words()[w];
                for (; bits != 0; bits &= bits - 1) {
                    p.rows.push_back(static_cast<std::uint32_t>(w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits))));
                }
            }
            scratch.recount();
        } else {
            std::sort(p.rows.begin(), p.rows.end());
        }
        p.rows.erase(std::unique(p.rows.begin(), p.rows.end()), p.rows.end());
    };
    for (auto& [path, f] : out.fields_) {
        order(f.present);
        for (auto& k : f.kinds) {
            order(k);
        }
        for (auto& [key, p] : f.scalars) {
            order(p);
        }
        for (auto& [key, p] : f.elements) {
            order(p);
        }
    }
    out.seal(rows);
    return out;
}

const attribute_field* attribute_index::field(std::string_view path) const
{
    auto it = fields_.find(path);
    return it == fields_.end() ? nullptr : &it->second;
}

// Section layout (docs/format.md): u32 field count, then per field, in ascending path order:
// string32 path; presence postings; three kind postings (string, number, boolean); u32 scalar
// count and per scalar string32 key + postings; the same for elements; u32 number count, then
// that many f64 values and that many u32 rows. Postings are u32 count, then that many u32 rows,
// or, when stored_as_bitset(count, rows), the rows as ceil(rows / 64) u64 words.
std::string attribute_index::encode() const
{
    PUFFER_ASSERT(sealed_);
    std::string out;
    encoder e(out);
    auto put_postings = [&](const postings& p) {
        e.put_u32(static_cast<std::uint32_t>(p.rows.size()));
        if (stored_as_bitset(p.rows.size(), rows_)) {
            std::vector<std::uint64_t> words((rows_ + 63) / 64, 0);
            for (std::uint32_t r : p.rows) {
                words[r / 64] |= std::uint64_t{1} << (r % 64);
            }
            for (std::uint64_t w : words) {
                e.put_u64(w);
            }
            return;
        }
        for (std::uint32_t r : p.rows) {
            e.put_u32(r);
        }
    };
    auto put_map = [&](const std::map<std::string, postings, std::less<>>& m) {
        e.put_u32(static_cast<std::uint32_t>(m.size()));
        for (const auto& [key, p] : m) {
            e.put_string32(key);
            put_postings(p);
        }
    };
    e.put_u32(static_cast<std::uint32_t>(fields_.size()));
    for (const auto& [path, f] : fields_) {
        e.put_string32(path);
        put_postings(f.present);
        for (const auto& k : f.kinds) {
            put_postings(k);
        }
        put_map(f.scalars);
        put_map(f.elements);
        e.put_u32(static_cast<std::uint32_t>(f.numbers.size()));
        for (double v : f.numbers) {
            std::uint64_t bits = 0;
            std::memcpy(&bits, &v, 8);
            e.put_u64(bits);
        }
        for (std::uint32_t r : f.number_rows) {
            e.put_u32(r);
        }
    }
    return out;
}

result<attribute_index> attribute_index::decode(std::string_view bytes, std::size_t rows, const std::string& path,
                                                std::uint64_t offset)
{
    std::size_t at = 0;
    auto corrupt = [&](const char* what) {
        return make_error(errc::corruption, strprintf("%s: offset %llu: attribute index: %s", path.c_str(),
                                                      static_cast<unsigned long long>(offset + at), what));
    };
    auto get_u32 = [&](std::uint32_t& v) {
        if (bytes.size() - at < 4) {
            return false;
        }
        v = get_fixed32_le(reinterpret_cast<const std::byte*>(bytes.data() + at));
        at += 4;
        return true;
    };
    auto get_string = [&](std::string& s) {
        std::uint32_t n = 0;
        if (!get_u32(n) || bytes.size() - at < n) {
            return false;
        }
        s.assign(bytes.substr(at, n));
        at += n;
        return true;
    };
    // Postings of at most `rows` rows, each below rows, strictly ascending.
    auto get_postings = [&](postings& p) -> status {
        std::uint32_t n = 0;
        if (!get_u32(n) || n > rows) {
            return corrupt("postings run past the section or hold more rows than the segment");
        }
        if (stored_as_bitset(n, rows)) {
            const std::size_t words = (rows + 63) / 64;
            if ((bytes.size() - at) / 8 < words) {
                return corrupt("postings bitset runs past the section");
            }
            p.rows.clear();
            p.rows.reserve(n);
            for (std::size_t w = 0; w < words; ++w) {
                std::uint64_t bits = get_fixed64_le(reinterpret_cast<const std::byte*>(bytes.data() + at));
                at += 8;
                for (; bits != 0; bits &= bits - 1) {
                    std::size_t r = w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits));
                    if (r >= rows) {
                        return corrupt("postings bitset has a bit beyond the segment's rows");
                    }
                    p.rows.push_back(static_cast<std::uint32_t>(r));
                }
            }
            if (p.rows.size() != n) {
                return corrupt("postings bitset holds another number of rows than its count");
            }
            return ok();
        }
        if ((bytes.size() - at) / 4 < n) {
            return corrupt("postings run past the section or hold more rows than the segment");
        }
        p.rows.resize(n);
        for (std::uint32_t i = 0; i < n; ++i) {
            get_u32(p.rows[i]);
            if (p.rows[i] >= rows || (i > 0 && p.rows[i] <= p.rows[i - 1])) {
                return corrupt("postings rows out of range or not strictly ascending");
            }
        }
        return ok();
    };
    auto get_map = [&](std::map<std::string, postings, std::less<>>& m) -> status {
        std::uint32_t n = 0;
        if (!get_u32(n) || n > bytes.size()) {
            return corrupt("keyword count runs past the section");
        }
        std::string key;
        std::string previous;
        for (std::uint32_t i = 0; i < n; ++i) {
            if (!get_string(key) || key.empty()) {
                return corrupt("keyword key runs past the section or is empty");
            }
            if (key[0] != 's' && key[0] != 'b' && key[0] != 'n') {
                return corrupt("keyword key of an unknown kind");
            }
            if (i > 0 && !(previous < key)) {
                return corrupt("keyword keys not strictly ascending");
            }
            postings p;
            PUFFER_TRY(get_postings(p));
            previous = key;
            m.emplace_hint(m.end(), key, std::move(p));
        }
        return ok();
    };

    attribute_index index;
    std::uint32_t field_count = 0;
    if (!get_u32(field_count) || field_count > attribute_fields_max) {
        return corrupt("field count missing or above the limit");
    }
    std::string previous_path;
    for (std::uint32_t i = 0; i < field_count; ++i) {
        std::string field_path;
        if (!get_string(field_path) || field_path.empty()) {
            return corrupt("field path runs past the section or is empty");
        }
        if (i > 0 && !(previous_path < field_path)) {
            return corrupt("field paths not strictly ascending");
        }
        attribute_field f;
        PUFFER_TRY(get_postings(f.present));
        for (auto& k : f.kinds) {
            PUFFER_TRY(get_postings(k));
        }
        PUFFER_TRY(get_map(f.scalars));
        PUFFER_TRY(get_map(f.elements));
        std::uint32_t numbers = 0;
        if (!get_u32(numbers) || numbers > rows || (bytes.size() - at) / 12 < numbers) {
            return corrupt("number column runs past the section or holds more rows than the segment");
        }
        f.numbers.resize(numbers);
        f.number_rows.resize(numbers);
        for (std::uint32_t j = 0; j < numbers; ++j) {
            std::uint64_t bits = get_fixed64_le(reinterpret_cast<const std::byte*>(bytes.data() + at));
            at += 8;
            std::memcpy(&f.numbers[j], &bits, 8);
            if (!std::isfinite(f.numbers[j]) || (j > 0 && f.numbers[j] < f.numbers[j - 1])) {
                return corrupt("number column not finite or not sorted");
            }
        }
        for (std::uint32_t j = 0; j < numbers; ++j) {
            get_u32(f.number_rows[j]);
            if (f.number_rows[j] >= rows) {
                return corrupt("number column row out of range");
            }
        }
        previous_path = field_path;
        index.fields_.emplace_hint(index.fields_.end(), std::move(field_path), std::move(f));
    }
    if (at != bytes.size()) {
        return corrupt("bytes after the last field");
    }
    // seal() sorts what is sorted already and builds the bitsets.
    index.seal(rows);
    return index;
}

}  // namespace puffer::index
