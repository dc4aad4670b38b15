#include "engine/db/snapshots.hpp"

#include "engine/collection/layout.hpp"
#include "engine/core/crc32c.hpp"
#include "engine/core/log.hpp"
#include "engine/format/manifest_codec.hpp"
#include "engine/wal/wal_format.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <random>

namespace puffer::db {

namespace {

constexpr std::size_t chunk_bytes = std::size_t{1} << 20;

bool all_digits(std::string_view s)
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The members a snapshot may hold besides SNAPSHOT and CHECKSUMS: its MANIFEST, segment files
// and WAL files, by their names in a collection directory.
bool valid_member(std::string_view path)
{
    if (path == collection::manifest_file_name) {
        return true;
    }
    if (path.substr(0, 9) == "segments/") {
        std::string_view f = path.substr(9);
        return f.size() > 4 && f.substr(f.size() - 4) == ".seg" && all_digits(f.substr(0, f.size() - 4));
    }
    std::uint64_t number = 0;
    return path.substr(0, 4) == "wal/" && wal::parse_file_name(path.substr(4), number);
}

std::string descriptor_path(const std::string& dir)
{
    return io::join_path(dir, format::snapshot_descriptor_name);
}

status write_synced(io::env& e, const std::string& path, std::string_view bytes)
{
    PUFFER_TRY_ASSIGN(auto f, e.open(path, io::open_mode::create_trunc));
    PUFFER_TRY(f->write_at(0, std::as_bytes(std::span(bytes.data(), bytes.size()))));
    return f->sync();
}

result<format::snapshot_descriptor> read_descriptor(io::env& e, const std::string& dir)
{
    std::string path = descriptor_path(dir);
    PUFFER_TRY_ASSIGN(std::string text, io::read_file(e, path));
    return format::decode_snapshot_descriptor(text, path);
}

snapshot_info info_of(const format::snapshot_descriptor& d)
{
    snapshot_info info;
    info.id = d.id;
    info.created_unix_ms = d.created_unix_ms;
    info.points = d.points;
    info.files = d.files.size();
    for (const auto& f : d.files) {
        info.bytes += f.size;
    }
    return info;
}

error archive_error(const std::string& what)
{
    return make_error(errc::invalid_argument, "snapshot archive: " + what);
}

// ---- the archive of a snapshot

class archive_impl final : public snapshot_archive {
public:
    static result<std::unique_ptr<snapshot_archive>> open(io::env& e, const std::string& dir)
    {
        auto a = std::unique_ptr<archive_impl>(new archive_impl());
        PUFFER_TRY_ASSIGN(std::string descriptor, io::read_file(e, descriptor_path(dir)));
        PUFFER_TRY_ASSIGN(auto d, format::decode_snapshot_descriptor(descriptor, descriptor_path(dir)));
        a->info_ = info_of(d);
        std::uint64_t mtime = d.created_unix_ms / 1000;
        std::vector<std::string> paths{format::snapshot_descriptor_name};
        a->add_member(format::snapshot_descriptor_name, mtime, std::move(descriptor), nullptr, 0);
        for (const auto& f : d.files) {
            PUFFER_TRY_ASSIGN(auto file, e.open(io::join_path(dir, f.path), io::open_mode::read));
            PUFFER_TRY_ASSIGN(std::uint64_t on_disk, file->size());
            if (on_disk < f.size) {
                return make_error(errc::corruption, strprintf("%s: %llu bytes, the snapshot lists %llu",
                                                              file->path().c_str(),
                                                              static_cast<unsigned long long>(on_disk),
                                                              static_cast<unsigned long long>(f.size)));
            }
            a->add_member(f.path, mtime, {}, std::move(file), f.size);
            paths.push_back(f.path);
        }
        // CHECKSUMS is made once every member before it has been read; its size is known now.
        a->add_member(format::snapshot_checksums_name, mtime, {}, nullptr, format::snapshot_checksums_size(paths));
        a->members_.back().checksums = true;
        a->end_.assign(2 * format::tar_block_bytes, '\0');
        a->size_ += a->end_.size();
        return std::unique_ptr<snapshot_archive>(std::move(a));
    }

    std::uint64_t size() const override { return size_; }
    const snapshot_info& info() const override { return info_; }

    result<std::size_t> read(std::span<std::byte> out) override
    {
        std::size_t filled = 0;
        while (filled < out.size() && next_ < members_.size() + 1) {
            std::span<std::byte> rest = out.subspan(filled);
            if (next_ == members_.size()) {  // the two zero blocks
                std::size_t n = std::min(rest.size(), end_.size() - at_);
                std::memcpy(rest.data(), end_.data() + at_, n);
                at_ += n;
                filled += n;
                if (at_ == end_.size()) {
                    ++next_;
                }
                continue;
            }
            member& m = members_[next_];
            if (at_ == 0 && m.checksums) {
                m.bytes = format::encode_snapshot_checksums(sums_);
                PUFFER_ASSERT(m.bytes.size() == m.size);
            }
            // The member's header, its bytes, then padding, as one run of `total` bytes.
            std::uint64_t total = format::tar_block_bytes + m.size + format::tar_padding(m.size);
            std::size_t n = 0;
            if (at_ < format::tar_block_bytes) {
                n = std::min<std::size_t>(rest.size(), format::tar_block_bytes - at_);
                std::memcpy(rest.data(), m.header.data() + at_, n);
            } else if (at_ < format::tar_block_bytes + m.size) {
                std::uint64_t offset = at_ - format::tar_block_bytes;
                n = static_cast<std::size_t>(std::min<std::uint64_t>(rest.size(), m.size - offset));
                if (m.file) {
                    PUFFER_TRY_ASSIGN(std::size_t got, m.file->read_at(offset, rest.first(n)));
                    if (got == 0) {
                        return make_error(errc::corruption, m.file->path() + ": shorter than the snapshot lists");
                    }
                    n = got;
                } else {
                    std::memcpy(rest.data(), m.bytes.data() + offset, n);
                }
                m.crc = crc32c::extend(m.crc, rest.data(), n);
            } else {
                n = static_cast<std::size_t>(std::min<std::uint64_t>(rest.size(), total - at_));
                std::memset(rest.data(), 0, n);
            }
            at_ += n;
            filled += n;
            if (at_ == total) {
                if (!m.checksums) {
                    sums_.push_back({m.name, m.crc});
                }
                m.file.reset();
                m.bytes = std::string();
                ++next_;
                at_ = 0;
            }
        }
        return filled;
    }

private:
    struct member {
        std::string name;
        std::array<std::byte, format::tar_block_bytes> header;
        std::string bytes;               // the member, when it is made in memory
        std::unique_ptr<io::file> file;  // or its file
        std::uint64_t size = 0;
        std::uint32_t crc = 0;
        bool checksums = false;
    };

    archive_impl() = default;

    void add_member(const std::string& name, std::uint64_t mtime, std::string bytes, std::unique_ptr<io::file> file,
                    std::uint64_t size)
    {
        member m;
        m.name = name;
        m.size = file || size != 0 ? size : bytes.size();
        m.header = format::encode_tar_header(name, m.size, mtime);
        m.bytes = std::move(bytes);
        m.file = std::move(file);
        size_ += format::tar_block_bytes + m.size + format::tar_padding(m.size);
        members_.push_back(std::move(m));
    }

    snapshot_info info_;
    std::vector<member> members_;
    std::string end_;
    std::uint64_t size_ = 0;
    std::size_t next_ = 0;  // the member being read (members_.size(): the end blocks)
    std::uint64_t at_ = 0;  // bytes of it already read
    std::vector<format::member_checksum> sums_;
};

// ---- reading an archive

class archive_reader {
public:
    explicit archive_reader(io::byte_source& src) : src_(src) {}

    // Exactly out.size() bytes, or an error saying the archive ends early.
    status read_exact(std::span<std::byte> out)
    {
        std::size_t filled = 0;
        while (filled < out.size()) {
            PUFFER_TRY_ASSIGN(std::size_t n, src_.read(out.subspan(filled)));
            if (n == 0) {
                return archive_error(strprintf("cut short at byte %llu (truncated download or upload?)",
                                               static_cast<unsigned long long>(offset_ + filled)));
            }
            filled += n;
        }
        offset_ += filled;
        return ok();
    }

    // The rest of the stream holds zero bytes only (tar pads an archive to whole records).
    status rest_is_zero()
    {
        std::array<std::byte, 4096> buffer;
        for (;;) {
            PUFFER_TRY_ASSIGN(std::size_t n, src_.read(buffer));
            if (n == 0) {
                return ok();
            }
            if (std::any_of(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n),
                            [](std::byte b) { return b != std::byte{0}; })) {
                return archive_error(strprintf("holds bytes after its end blocks (at byte %llu); a snapshot ends there",
                                               static_cast<unsigned long long>(offset_)));
            }
            offset_ += n;
        }
    }

    // The next header: a member named `expected` (when not empty) of at most size_max bytes.
    result<format::tar_member> member(std::string_view expected, std::uint64_t size_max)
    {
        std::array<std::byte, format::tar_block_bytes> block;
        std::uint64_t at = offset_;
        PUFFER_TRY(read_exact(block));
        auto decoded = format::decode_tar_header(block, at);
        if (!decoded) {
            return archive_error(decoded.error().message());
        }
        if (!decoded->has_value()) {
            return archive_error(strprintf("ends at byte %llu before '%s'", static_cast<unsigned long long>(at),
                                           std::string(expected).c_str()));
        }
        format::tar_member m = std::move(**decoded);
        if (!expected.empty() && m.name != expected) {
            return archive_error(strprintf("member '%s' at byte %llu where '%s' was expected",
                                           m.name.substr(0, 120).c_str(), static_cast<unsigned long long>(at),
                                           std::string(expected).c_str()));
        }
        if (m.size > size_max) {
            return archive_error(strprintf("member '%s' has %llu bytes; at most %llu expected", m.name.c_str(),
                                           static_cast<unsigned long long>(m.size),
                                           static_cast<unsigned long long>(size_max)));
        }
        return m;
    }

    status skip_padding(std::uint64_t size)
    {
        std::array<std::byte, format::tar_block_bytes> pad;
        return read_exact(std::span(pad).first(static_cast<std::size_t>(format::tar_padding(size))));
    }

    // A small member whole, with its crc32c.
    result<std::string> text(const format::tar_member& m, std::uint32_t& crc)
    {
        std::string s(static_cast<std::size_t>(m.size), '\0');
        PUFFER_TRY(read_exact(std::as_writable_bytes(std::span(s.data(), s.size()))));
        PUFFER_TRY(skip_padding(m.size));
        crc = crc32c::value(s);
        return s;
    }

    std::uint64_t offset() const { return offset_; }

private:
    io::byte_source& src_;
    std::uint64_t offset_ = 0;
};

status unpack(io::env& e, archive_reader& in, const std::string& dir, format::snapshot_descriptor& d)
{
    std::vector<format::member_checksum> sums;
    PUFFER_TRY_ASSIGN(auto head, in.member(format::snapshot_descriptor_name, format::snapshot_text_bytes_max));
    std::uint32_t crc = 0;
    PUFFER_TRY_ASSIGN(std::string descriptor, in.text(head, crc));
    auto decoded = format::decode_snapshot_descriptor(descriptor, format::snapshot_descriptor_name);
    if (!decoded) {
        return archive_error(decoded.error().message());
    }
    d = std::move(*decoded);
    sums.push_back({format::snapshot_descriptor_name, crc});
    bool has_manifest = false;
    for (const auto& f : d.files) {
        if (!valid_member(f.path)) {
            return archive_error("SNAPSHOT lists '" + f.path + "', which is not a collection file");
        }
        has_manifest = has_manifest || f.path == collection::manifest_file_name;
    }
    if (!has_manifest) {
        return archive_error("SNAPSHOT lists no MANIFEST");
    }
    PUFFER_TRY(e.make_dirs(collection::segments_dir_of(dir)));
    PUFFER_TRY(e.make_dirs(collection::wal_dir_of(dir)));
    std::vector<std::byte> buffer(chunk_bytes);
    for (const auto& f : d.files) {
        PUFFER_TRY_ASSIGN(auto m, in.member(f.path, f.size));
        if (m.size != f.size) {
            return archive_error(strprintf("member '%s' has %llu bytes; SNAPSHOT lists %llu", f.path.c_str(),
                                           static_cast<unsigned long long>(m.size),
                                           static_cast<unsigned long long>(f.size)));
        }
        PUFFER_TRY_ASSIGN(auto out, e.open(io::join_path(dir, f.path), io::open_mode::create_trunc));
        std::uint32_t c = 0;
        for (std::uint64_t at = 0; at < f.size;) {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), f.size - at));
            PUFFER_TRY(in.read_exact(std::span(buffer).first(n)));
            c = crc32c::extend(c, buffer.data(), n);
            PUFFER_TRY(out->write_at(at, std::span(buffer).first(n)));
            at += n;
        }
        PUFFER_TRY(out->sync());
        PUFFER_TRY(in.skip_padding(f.size));
        sums.push_back({f.path, c});
    }
    PUFFER_TRY_ASSIGN(auto tail, in.member(format::snapshot_checksums_name, format::snapshot_text_bytes_max));
    PUFFER_TRY_ASSIGN(std::string checksums, in.text(tail, crc));
    auto listed = format::decode_snapshot_checksums(checksums, format::snapshot_checksums_name);
    if (!listed) {
        return archive_error(listed.error().message());
    }
    if (listed->size() != sums.size()) {
        return archive_error(strprintf("CHECKSUMS lists %zu members; the archive holds %zu", listed->size(), sums.size()));
    }
    for (std::size_t i = 0; i < sums.size(); ++i) {
        if ((*listed)[i].path != sums[i].path || (*listed)[i].crc32c != sums[i].crc32c) {
            return archive_error(strprintf("'%s' fails its checksum (damaged in transit or on disk)",
                                           sums[i].path.c_str()));
        }
    }
    std::array<std::byte, 2 * format::tar_block_bytes> end;
    PUFFER_TRY(in.read_exact(end));
    if (std::any_of(end.begin(), end.end(), [](std::byte b) { return b != std::byte{0}; })) {
        return archive_error("holds more after CHECKSUMS; a snapshot ends there");
    }
    PUFFER_TRY(in.rest_is_zero());
    PUFFER_TRY(e.sync_dir(collection::segments_dir_of(dir)));
    PUFFER_TRY(e.sync_dir(collection::wal_dir_of(dir)));
    return ok();
}

}  // namespace

std::string collections_dir_of(const std::string& data_dir)
{
    return io::join_path(data_dir, "collections");
}

std::string snapshots_dir(const std::string& data_dir, const std::string& collection)
{
    return io::join_path(io::join_path(data_dir, "snapshots"), collection);
}

bool valid_snapshot_id(std::string_view id)
{
    if (id.empty() || id.size() > 64) {
        return false;
    }
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

std::string snapshot_id_for(std::uint64_t unix_ms)
{
    std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
    std::tm t{};
    gmtime_r(&seconds, &t);
    return strprintf("%04d%02d%02d-%02d%02d%02d-%03u", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min,
                     t.tm_sec, static_cast<unsigned>(unix_ms % 1000));
}

status finish_snapshot(io::env& e, const std::string& tmp_dir, const std::string& dir,
                       const collection::collection::snapshot_parts& parts)
{
    PUFFER_TRY(write_synced(e, io::join_path(tmp_dir, collection::manifest_file_name), parts.manifest));
    PUFFER_TRY(write_synced(e, descriptor_path(tmp_dir), format::encode_snapshot_descriptor(parts.descriptor)));
    PUFFER_TRY(e.sync_dir(collection::segments_dir_of(tmp_dir)));
    PUFFER_TRY(e.sync_dir(collection::wal_dir_of(tmp_dir)));
    PUFFER_TRY(e.sync_dir(tmp_dir));
    PUFFER_TRY(e.rename(tmp_dir, dir));
    return e.sync_dir(io::parent_dir(dir));
}

result<std::vector<snapshot_info>> list_snapshots(io::env& e, const std::string& data_dir, const std::string& collection)
{
    std::string dir = snapshots_dir(data_dir, collection);
    std::vector<snapshot_info> out;
    PUFFER_TRY_ASSIGN(bool exists, e.exists(dir));
    if (!exists) {
        return out;
    }
    PUFFER_TRY_ASSIGN(auto names, e.list(dir));
    for (const auto& id : names) {
        if (!valid_snapshot_id(id)) {
            continue;  // .tmp-*: one being made, or a crash's leftover
        }
        auto d = read_descriptor(e, io::join_path(dir, id));
        if (!d) {
            PUFFER_LOG(warn, "%s", d.error().message().c_str());
            continue;
        }
        out.push_back(info_of(*d));
    }
    std::sort(out.begin(), out.end(), [](const snapshot_info& a, const snapshot_info& b) {
        return a.created_unix_ms != b.created_unix_ms ? a.created_unix_ms < b.created_unix_ms : a.id < b.id;
    });
    return out;
}

status delete_snapshot(io::env& e, const std::string& data_dir, const std::string& collection, const std::string& id)
{
    std::string parent = snapshots_dir(data_dir, collection);
    std::string dir = io::join_path(parent, id);
    PUFFER_TRY_ASSIGN(bool exists, e.exists(dir));
    if (!valid_snapshot_id(id) || !exists) {
        return make_error(errc::not_found, "collection '" + collection + "' has no snapshot '" + id + "'");
    }
    // Renamed away first, so that it leaves the list at once and a crash midway removes the rest.
    std::random_device rd;
    std::string trash = io::join_path(parent, strprintf(".tmp-deleted-%s-%08x", id.c_str(), rd()));
    PUFFER_TRY(e.rename(dir, trash));
    PUFFER_TRY(e.sync_dir(parent));
    return e.remove_all(trash);
}

result<std::unique_ptr<snapshot_archive>> open_snapshot_archive(io::env& e, const std::string& data_dir,
                                                                const std::string& collection, const std::string& id)
{
    std::string dir = io::join_path(snapshots_dir(data_dir, collection), id);
    PUFFER_TRY_ASSIGN(bool exists, e.exists(dir));
    if (!valid_snapshot_id(id) || !exists) {
        return make_error(errc::not_found, "collection '" + collection + "' has no snapshot '" + id + "'");
    }
    return archive_impl::open(e, dir);
}

status restore_collection(io::env& e, const std::string& data_dir, const std::string& name, io::byte_source& archive,
                          const collection::options& options)
{
    std::string parent = collections_dir_of(data_dir);
    std::string target = io::join_path(parent, name);
    PUFFER_TRY_ASSIGN(bool exists, e.exists(target));
    if (exists) {
        return make_error(errc::already_exists,
                          "collection '" + name + "' already exists; delete it first or restore under another name");
    }
    // Unpacked under a name start-up removes (.tmp-), opened once there, then renamed into place.
    std::random_device rd;
    std::string tmp = io::join_path(parent, strprintf(".tmp-restore-%s-%08x", name.c_str(), rd()));
    auto attempt = [&]() -> status {
        archive_reader in(archive);
        format::snapshot_descriptor d;
        PUFFER_TRY(unpack(e, in, tmp, d));
        std::string manifest_path = io::join_path(tmp, collection::manifest_file_name);
        PUFFER_TRY_ASSIGN(std::string bytes, io::read_file(e, manifest_path));
        auto m = format::decode_manifest(bytes, "the snapshot's MANIFEST");
        if (!m) {
            return archive_error(m.error().message());
        }
        if (m->name != d.collection || m->dimension != d.dimension || m->distance_metric != d.distance_metric) {
            return archive_error("the MANIFEST does not match SNAPSHOT (collection, dimension or metric)");
        }
        if (m->name != name) {
            m->name = name;  // restored under another name
            PUFFER_TRY(io::write_file_atomic(e, manifest_path, format::encode_manifest(*m)));
        }
        PUFFER_TRY(e.sync_dir(tmp));
        {
            auto c = collection::collection::open(e, tmp, name, options);
            if (c->failed()) {
                return archive_error("the collection in it does not open: " + c->stats().failure);
            }
        }
        PUFFER_TRY(e.rename(tmp, target));
        return e.sync_dir(parent);
    };
    status s = attempt();
    if (!s) {
        if (auto removed = e.remove_all(tmp); !removed) {
            PUFFER_LOG(warn, "%s (removed at next start)", removed.error().message().c_str());
        }
    }
    return s;
}

result<format::snapshot_descriptor> read_snapshot_descriptor(io::byte_source& archive)
{
    archive_reader in(archive);
    PUFFER_TRY_ASSIGN(auto head, in.member(format::snapshot_descriptor_name, format::snapshot_text_bytes_max));
    std::uint32_t crc = 0;
    PUFFER_TRY_ASSIGN(std::string descriptor, in.text(head, crc));
    auto decoded = format::decode_snapshot_descriptor(descriptor, format::snapshot_descriptor_name);
    if (!decoded) {
        return archive_error(decoded.error().message());
    }
    return decoded;
}

status remove_snapshot_leftovers(io::env& e, const std::string& data_dir)
{
    std::string root = io::join_path(data_dir, "snapshots");
    PUFFER_TRY_ASSIGN(bool exists, e.exists(root));
    if (!exists) {
        return ok();
    }
    PUFFER_TRY_ASSIGN(auto collections, e.list(root));
    for (const auto& c : collections) {
        std::string dir = io::join_path(root, c);
        auto names = e.list(dir);
        if (!names) {
            continue;  // not a directory
        }
        for (const auto& n : *names) {
            if (n.rfind(".tmp-", 0) == 0) {
                PUFFER_LOG(info, "removing leftover snapshots/%s/%s", c.c_str(), n.c_str());
                PUFFER_TRY(e.remove_all(io::join_path(dir, n)));
            }
        }
    }
    return ok();
}

}  // namespace puffer::db
