// Recovery of a collection at start: MANIFEST, segments (checked) and their tombstones, the
// centroid tables they share, then WAL replay with torn-tail truncation, then the files that
// interrupted flushes and compactions left behind. Blocking, before the shard owns the
// collection; any error fails the collection (collection::open retries a few times first).
#include "engine/collection/collection.hpp"

#include "engine/collection/layout.hpp"
#include "engine/core/log.hpp"
#include "engine/format/segment_format.hpp"
#include "engine/wal/wal_format.hpp"

#include <algorithm>
#include <cstring>
#include <set>

namespace puffer::collection {

status collection::recover()
{
    const std::string manifest_path = io::join_path(dir_, manifest_file_name);
    PUFFER_TRY_ASSIGN(std::string bytes, io::read_file(env_, manifest_path));
    PUFFER_TRY_ASSIGN(format::manifest mf, format::decode_manifest(bytes, manifest_path));
    if (mf.name != name_) {
        return make_error(errc::corruption, strprintf("%s: names collection '%s', found in directory '%s'",
                                                      manifest_path.c_str(), mf.name.c_str(), name_.c_str()));
    }
    dimension_ = mf.dimension;
    metric_ = mf.distance_metric;
    next_segment_id_ = mf.next_segment_id;
    wal_start_ = mf.wal_start;
    unindexed_ = std::make_shared<const std::vector<std::string>>(mf.unindexed_fields);
    options_.quantization = mf.quantization;

    // Segments and their tombstones; ids of live rows (the higher segment id wins a duplicate).
    // In ascending id, which find_segment relies on: earlier builds could write a flush's entry
    // after that of a compaction that installed before it with a higher id.
    std::sort(mf.segments.begin(), mf.segments.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    std::set<std::string> referenced;
    for (const auto& entry : mf.segments) {
        std::string file = format::segment_file_name(entry.id);
        referenced.insert(file);
        std::string path = io::join_path(segments_dir_of(dir_), file);
        PUFFER_TRY_ASSIGN(auto seg, storage::segment::open(env_, path, entry.id, options_.mode));
        const auto& r = seg->reader();
        if (r.vector_count() != entry.vector_count || r.cluster_count() != entry.cluster_count ||
            r.file_size_bytes() != entry.file_size_bytes || r.dimension() != dimension_ ||
            r.distance_metric() != metric_) {
            return make_error(errc::corruption,
                              strprintf("%s: does not match the MANIFEST (vectors %zu/%u, clusters %zu/%u, bytes "
                                        "%llu/%llu, dimension %zu/%zu)",
                                        path.c_str(), r.vector_count(), entry.vector_count, r.cluster_count(),
                                        entry.cluster_count, static_cast<unsigned long long>(r.file_size_bytes()),
                                        static_cast<unsigned long long>(entry.file_size_bytes), r.dimension(),
                                        dimension_));
        }
        segment_record rec{seg, std::make_shared<bitmap>(seg->vector_count()), 0};
        for (std::uint32_t p : entry.tombstones) {
            rec.kill(p);
        }
        segments_.push_back(std::move(rec));
        segment_record& added = segments_.back();
        for (std::size_t p = 0; p < seg->vector_count(); ++p) {
            if (added.is_dead(p)) {
                continue;
            }
            auto [it, inserted] = ids_.try_emplace(std::string(r.id(p)), location{seg->id(), static_cast<std::uint32_t>(p)});
            if (!inserted) {
                kill(it->second);
                it->second = location{seg->id(), static_cast<std::uint32_t>(p)};
            }
        }
    }
    assign_quantizers();

    active_ = new_staging(wal_start_);
    PUFFER_TRY(replay_wal(wal_dir_of(dir_)));

    // Leftovers of interrupted flushes and compactions.
    PUFFER_TRY_ASSIGN(auto segment_files, env_.list(segments_dir_of(dir_)));
    for (const auto& f : segment_files) {
        if (referenced.count(f) == 0) {
            PUFFER_LOG(info, "collection '%s': removing unreferenced %s", name_.c_str(), f.c_str());
            PUFFER_TRY(env_.remove(io::join_path(segments_dir_of(dir_), f)));
        }
    }
    PUFFER_TRY(env_.remove(manifest_path + ".tmp"));
    return ok();
}

void collection::assign_quantizers()
{
    // Segments with bit-identical centroid tables share them (a flush or merge copies the current
    // table into its segment); each table is named by the lowest id of a segment that has it.
    for (std::size_t i = 0; i < segments_.size(); ++i) {
        const auto& ri = segments_[i].seg->reader();
        segments_[i].quantizer = segments_[i].id();
        for (std::size_t j = 0; j < i; ++j) {
            const auto& rj = segments_[j].seg->reader();
            if (rj.cluster_count() == ri.cluster_count() &&
                std::memcmp(rj.centroids(), ri.centroids(), ri.cluster_count() * dimension_ * sizeof(float)) == 0) {
                segments_[i].quantizer = segments_[j].quantizer;
                break;
            }
        }
    }
}

status collection::replay_wal(const std::string& wal_dir)
{
    // WAL replay, oldest first; a torn or corrupt tail is cut at the last whole record.
    PUFFER_TRY_ASSIGN(auto names, env_.list(wal_dir));
    std::vector<std::uint64_t> numbers;
    for (const auto& n : names) {
        std::uint64_t number = 0;
        if (!wal::parse_file_name(n, number)) {
            continue;
        }
        if (number < wal_start_) {
            PUFFER_TRY(env_.remove(io::join_path(wal_dir, n)));  // already in a segment
        } else {
            numbers.push_back(number);
        }
    }
    std::sort(numbers.begin(), numbers.end());
    if (numbers.empty()) {
        PUFFER_TRY(create_wal_file(env_, io::join_path(wal_dir, wal::file_name(wal_start_))));
        numbers.push_back(wal_start_);
    }
    std::uint64_t last_size = 0;
    for (std::uint64_t number : numbers) {
        std::string path = io::join_path(wal_dir, wal::file_name(number));
        PUFFER_TRY_ASSIGN(std::string log, io::read_file(env_, path));
        point_batch batch;
        std::vector<std::string> ids;
        auto replayed_or = wal::replay(log, [&](wal::record_type type, std::string_view body) -> status {
            if (type == wal::record_type::upsert) {
                PUFFER_TRY(wal::decode_upsert(body, batch));
                if (batch.dimension != dimension_) {
                    return make_error(errc::corruption, path + ": record dimension differs");
                }
                apply_upsert(batch);
            } else {
                PUFFER_TRY(wal::decode_remove(body, ids));
                apply_remove(ids);
            }
            return ok();
        });
        if (!replayed_or || !replayed_or->clean || replayed_or->valid_size_bytes < wal::file_header_size_bytes) {
            // About to cut the log or fail the collection: first make sure the bytes are really
            // on disk, not a transient read error, which would lose acknowledged records.
            PUFFER_TRY_ASSIGN(std::string again, io::read_file(env_, path));
            if (again != log) {
                return make_error(errc::io, path + ": two reads of the log differ (transient read error)");
            }
        }
        PUFFER_TRY_ASSIGN(wal::replay_result replayed, std::move(replayed_or));
        std::uint64_t size = log.size();
        // A file without a whole header (empty: a crash right after creating it) gets one before
        // anything is appended, or its records would be unreadable at the next start.
        if (!replayed.clean || replayed.valid_size_bytes < wal::file_header_size_bytes) {
            if (!replayed.clean) {
                PUFFER_LOG(warn, "%s: %s; truncating the log from %zu to %llu bytes (%zu whole records kept)",
                           path.c_str(), replayed.reason.c_str(), log.size(),
                           static_cast<unsigned long long>(replayed.valid_size_bytes), replayed.records);
            }
            PUFFER_TRY_ASSIGN(auto f, env_.open(path, io::open_mode::read_write));
            if (replayed.valid_size_bytes < wal::file_header_size_bytes) {
                std::string header = wal::encode_file_header();
                PUFFER_TRY(f->truncate(0));
                PUFFER_TRY(f->write_at(0, std::as_bytes(std::span(header.data(), header.size()))));
                size = header.size();
            } else {
                PUFFER_TRY(f->truncate(replayed.valid_size_bytes));
                size = replayed.valid_size_bytes;
            }
            PUFFER_TRY(f->sync());
        }
        wal_sizes_[number] = size;
        last_size = size;
    }
    // The last file takes the next appends, from the end replay established. Its size comes
    // from the replay itself: asking the file again could fail and must never be taken for 0,
    // which would overwrite the header and the acknowledged records after it.
    std::uint64_t last = numbers.back();
    PUFFER_TRY_ASSIGN(auto wal_file, env_.open(io::join_path(wal_dir, wal::file_name(last)), io::open_mode::read_write));
    wal_sizes_.erase(last);
    wal_.open(std::move(wal_file), last, last_size);
    next_wal_number_ = last + 1;
    return ok();
}

}  // namespace puffer::collection
