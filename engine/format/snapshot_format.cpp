#include "engine/format/snapshot_format.hpp"

#include "engine/core/assert.hpp"
#include "engine/core/log.hpp"

#include <charconv>
#include <cstring>

namespace puffer::format {

namespace {

// ustar header fields: offset and width.
constexpr std::size_t name_at = 0;
constexpr std::size_t mode_at = 100;
constexpr std::size_t uid_at = 108;
constexpr std::size_t gid_at = 116;
constexpr std::size_t size_at = 124;
constexpr std::size_t size_width = 12;
constexpr std::size_t mtime_at = 136;
constexpr std::size_t checksum_at = 148;
constexpr std::size_t checksum_width = 8;
constexpr std::size_t type_at = 156;
constexpr std::size_t magic_at = 257;
constexpr std::size_t prefix_at = 345;
constexpr std::size_t prefix_width = 155;

void put_octal(std::byte* field, std::size_t width, std::uint64_t value)
{
    // width - 1 zero-padded octal digits and a NUL.
    for (std::size_t i = width - 1; i-- > 0;) {
        field[i] = static_cast<std::byte>('0' + (value & 7));
        value >>= 3;
    }
    field[width - 1] = std::byte{0};
}

std::uint32_t header_sum(std::span<const std::byte, tar_block_bytes> block)
{
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < tar_block_bytes; ++i) {
        bool in_checksum = i >= checksum_at && i < checksum_at + checksum_width;
        sum += in_checksum ? static_cast<std::uint32_t>(' ') : static_cast<std::uint32_t>(block[i]);
    }
    return sum;
}

// An octal field: optional leading blanks, digits, then NUL or blank to the end.
std::optional<std::uint64_t> get_octal(const std::byte* field, std::size_t width)
{
    std::size_t i = 0;
    while (i < width && static_cast<char>(field[i]) == ' ') {
        ++i;
    }
    std::uint64_t v = 0;
    std::size_t digits = 0;
    for (; i < width; ++i) {
        char c = static_cast<char>(field[i]);
        if (c < '0' || c > '7') {
            break;
        }
        if (v >> 61 != 0) {
            return std::nullopt;
        }
        v = v * 8 + static_cast<std::uint64_t>(c - '0');
        ++digits;
    }
    for (; i < width; ++i) {
        char c = static_cast<char>(field[i]);
        if (c != '\0' && c != ' ') {
            return std::nullopt;
        }
    }
    if (digits == 0) {
        return std::nullopt;
    }
    return v;
}

std::string field_string(const std::byte* field, std::size_t width)
{
    const char* p = reinterpret_cast<const char*>(field);
    return std::string(p, strnlen(p, width));
}

bool valid_relative_path(std::string_view p)
{
    if (p.empty() || p.size() > tar_name_bytes_max || p.front() == '/' || p.back() == '/') {
        return false;
    }
    for (char c : p) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-' || c == '/';
        if (!ok) {
            return false;
        }
    }
    std::size_t start = 0;
    while (start <= p.size()) {
        std::size_t end = p.find('/', start);
        if (end == std::string_view::npos) {
            end = p.size();
        }
        std::string_view part = p.substr(start, end - start);
        if (part.empty() || part == "." || part == "..") {
            return false;
        }
        start = end + 1;
    }
    return true;
}

// Splits text into lines; false if it does not end in a newline.
bool split_lines(std::string_view text, std::vector<std::string_view>& lines)
{
    if (text.empty() || text.back() != '\n') {
        return false;
    }
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return true;
}

bool parse_u64(std::string_view s, std::uint64_t& out)
{
    if (s.empty() || (s.size() > 1 && s[0] == '0')) {
        return false;
    }
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

// "key value" with exactly one space; value may hold spaces only where allowed (none here).
bool split_field(std::string_view line, std::string_view key, std::string_view& value)
{
    if (line.size() <= key.size() + 1 || line.substr(0, key.size()) != key || line[key.size()] != ' ') {
        return false;
    }
    value = line.substr(key.size() + 1);
    return value.find(' ') == std::string_view::npos;
}

const char* descriptor_magic = "openpuffer snapshot";
const char* checksums_magic = "openpuffer checksums";

}  // namespace

std::array<std::byte, tar_block_bytes> encode_tar_header(std::string_view name, std::uint64_t size,
                                                         std::uint64_t mtime_seconds)
{
    PUFFER_ASSERT(!name.empty() && name.size() <= tar_name_bytes_max);
    std::array<std::byte, tar_block_bytes> b{};
    std::memcpy(b.data() + name_at, name.data(), name.size());
    put_octal(b.data() + mode_at, 8, 0644);
    put_octal(b.data() + uid_at, 8, 0);
    put_octal(b.data() + gid_at, 8, 0);
    if (size < (std::uint64_t{1} << 33)) {
        put_octal(b.data() + size_at, size_width, size);
    } else {
        b[size_at] = std::byte{0x80};
        // Big-endian in the last eight bytes; the three bytes after the marker stay zero.
        for (std::size_t i = 0; i < sizeof(size); ++i) {
            b[size_at + size_width - 1 - i] = static_cast<std::byte>((size >> (8 * i)) & 0xff);
        }
    }
    put_octal(b.data() + mtime_at, 12, mtime_seconds & ((std::uint64_t{1} << 33) - 1));
    b[type_at] = std::byte{'0'};
    std::memcpy(b.data() + magic_at, "ustar\0" "00", 8);
    std::uint32_t sum = header_sum(b);
    put_octal(b.data() + checksum_at, 7, sum);  // six digits and a NUL
    b[checksum_at + 7] = std::byte{' '};
    return b;
}

result<std::optional<tar_member>> decode_tar_header(std::span<const std::byte, tar_block_bytes> block,
                                                    std::uint64_t offset)
{
    bool zero = true;
    for (std::byte c : block) {
        if (c != std::byte{0}) {
            zero = false;
            break;
        }
    }
    if (zero) {
        return std::optional<tar_member>{};
    }
    auto bad = [offset](const std::string& what) {
        return make_error(errc::corruption,
                          strprintf("snapshot archive: the header at byte %llu %s",
                                    static_cast<unsigned long long>(offset), what.c_str()));
    };
    auto stored = get_octal(block.data() + checksum_at, checksum_width);
    if (!stored || *stored != header_sum(block)) {
        return bad("fails its checksum (not a tar archive, or damaged)");
    }
    if (std::memcmp(block.data() + magic_at, "ustar", 5) != 0) {
        return bad("has no ustar magic");
    }
    char type = static_cast<char>(block[type_at]);
    if (type != '0' && type != '\0') {
        return bad(strprintf("is of type '%c'; a snapshot holds regular files only", type));
    }
    tar_member m;
    std::uint64_t size = 0;
    if ((static_cast<unsigned>(block[size_at]) & 0x80) != 0) {
        if (block[size_at] != std::byte{0x80}) {
            return bad("has a negative or oversized base-256 size");
        }
        for (std::size_t i = 1; i < size_width; ++i) {
            if (size >> 56 != 0) {
                return bad("has an oversized base-256 size");
            }
            size = (size << 8) | static_cast<std::uint64_t>(block[size_at + i]);
        }
    } else {
        auto v = get_octal(block.data() + size_at, size_width);
        if (!v) {
            return bad("has a malformed size");
        }
        size = *v;
    }
    m.size = size;
    std::string prefix = field_string(block.data() + prefix_at, prefix_width);
    m.name = field_string(block.data() + name_at, tar_name_bytes_max);
    if (!prefix.empty()) {
        m.name = prefix + "/" + m.name;
    }
    return std::optional<tar_member>{std::move(m)};
}

std::string encode_snapshot_descriptor(const snapshot_descriptor& d)
{
    std::string out = strprintf("%s %u\n", descriptor_magic, snapshot_format_version);
    out += "collection " + d.collection + "\n";
    out += "id " + d.id + "\n";
    out += strprintf("created_unix_ms %llu\n", static_cast<unsigned long long>(d.created_unix_ms));
    out += strprintf("dimension %u\n", d.dimension);
    out += "metric " + std::string(to_string(d.distance_metric)) + "\n";
    out += strprintf("points %llu\n", static_cast<unsigned long long>(d.points));
    for (const auto& f : d.files) {
        out += strprintf("file %s %llu\n", f.path.c_str(), static_cast<unsigned long long>(f.size));
    }
    out += "end\n";
    return out;
}

result<snapshot_descriptor> decode_snapshot_descriptor(std::string_view text, const std::string& where)
{
    auto bad = [&where](const std::string& what) {
        return make_error(errc::corruption, where + ": " + what);
    };
    std::vector<std::string_view> lines;
    if (text.size() > snapshot_text_bytes_max || !split_lines(text, lines) || lines.size() < 8) {
        return bad("not a whole snapshot descriptor");
    }
    std::string magic = strprintf("%s ", descriptor_magic);
    std::uint64_t version = 0;
    if (lines[0].substr(0, magic.size()) != magic || !parse_u64(lines[0].substr(magic.size()), version)) {
        return bad("not a snapshot descriptor");
    }
    if (version != snapshot_format_version) {
        return bad(strprintf("snapshot format version %llu; this build reads version %u",
                             static_cast<unsigned long long>(version), snapshot_format_version));
    }
    snapshot_descriptor d;
    std::string_view v;
    std::uint64_t n = 0;
    if (!split_field(lines[1], "collection", v)) {
        return bad("line 2 must be 'collection NAME'");
    }
    d.collection = std::string(v);
    if (!split_field(lines[2], "id", v)) {
        return bad("line 3 must be 'id ID'");
    }
    d.id = std::string(v);
    if (!split_field(lines[3], "created_unix_ms", v) || !parse_u64(v, d.created_unix_ms)) {
        return bad("line 4 must be 'created_unix_ms N'");
    }
    if (!split_field(lines[4], "dimension", v) || !parse_u64(v, n) || n == 0 || n > 65536) {
        return bad("line 5 must be 'dimension N'");
    }
    d.dimension = static_cast<std::uint32_t>(n);
    std::optional<metric> m;
    if (!split_field(lines[5], "metric", v) || !(m = parse_metric(v))) {
        return bad("line 6 must be 'metric l2|cosine|ip'");
    }
    d.distance_metric = *m;
    if (!split_field(lines[6], "points", v) || !parse_u64(v, d.points)) {
        return bad("line 7 must be 'points N'");
    }
    if (lines.back() != "end") {
        return bad("does not end with 'end' (cut short)");
    }
    for (std::size_t i = 7; i + 1 < lines.size(); ++i) {
        std::string_view line = lines[i];
        std::size_t sp = line.rfind(' ');
        snapshot_file f;
        if (line.substr(0, 5) != "file " || sp == std::string_view::npos || sp < 5 ||
            !parse_u64(line.substr(sp + 1), f.size)) {
            return bad(strprintf("line %zu must be 'file PATH BYTES'", i + 1));
        }
        f.path = std::string(line.substr(5, sp - 5));
        if (!valid_relative_path(f.path) || f.path == snapshot_descriptor_name || f.path == snapshot_checksums_name) {
            return bad(strprintf("line %zu names a path a snapshot cannot hold: '%s'", i + 1,
                                 f.path.substr(0, 120).c_str()));
        }
        for (const auto& earlier : d.files) {
            if (earlier.path == f.path) {
                return bad("lists '" + f.path + "' twice");
            }
        }
        if (d.files.size() == snapshot_files_max) {
            return bad(strprintf("lists more than %zu files", snapshot_files_max));
        }
        d.files.push_back(std::move(f));
    }
    return d;
}

std::string encode_snapshot_checksums(const std::vector<member_checksum>& sums)
{
    std::string out = strprintf("%s %u\n", checksums_magic, snapshot_format_version);
    for (const auto& s : sums) {
        out += strprintf("%s %08x\n", s.path.c_str(), s.crc32c);
    }
    out += "end\n";
    return out;
}

std::size_t snapshot_checksums_size(const std::vector<std::string>& paths)
{
    std::size_t size = std::strlen(checksums_magic) + 1 + std::to_string(snapshot_format_version).size() + 1;
    for (const auto& p : paths) {
        size += p.size() + 1 + 8 + 1;
    }
    return size + 4;
}

result<std::vector<member_checksum>> decode_snapshot_checksums(std::string_view text, const std::string& where)
{
    auto bad = [&where](const std::string& what) {
        return make_error(errc::corruption, where + ": " + what);
    };
    std::vector<std::string_view> lines;
    std::string magic = strprintf("%s %u", checksums_magic, snapshot_format_version);
    if (text.size() > snapshot_text_bytes_max || !split_lines(text, lines) || lines.size() < 2 ||
        lines[0] != magic || lines.back() != "end") {
        return bad("not a whole checksum list");
    }
    std::vector<member_checksum> sums;
    for (std::size_t i = 1; i + 1 < lines.size(); ++i) {
        std::string_view line = lines[i];
        std::size_t sp = line.rfind(' ');
        member_checksum s;
        if (sp == std::string_view::npos || line.size() - sp - 1 != 8) {
            return bad(strprintf("line %zu must be 'PATH CRC32C'", i + 1));
        }
        auto hex = line.substr(sp + 1);
        auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), s.crc32c, 16);
        if (ec != std::errc() || p != hex.data() + hex.size()) {
            return bad(strprintf("line %zu has a malformed checksum", i + 1));
        }
        s.path = std::string(line.substr(0, sp));
        sums.push_back(std::move(s));
    }
    return sums;
}

}  // namespace puffer::format
