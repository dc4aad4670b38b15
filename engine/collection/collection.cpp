#include "engine/collection/collection.hpp"

#include "engine/collection/internal.hpp"
#include "engine/core/assert.hpp"
#include "engine/core/log.hpp"
#include "engine/format/segment_format.hpp"
#include "engine/wal/wal_format.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

namespace puffer::collection {
namespace {

constexpr const char* manifest_file = "MANIFEST";

std::string wal_dir_of(const std::string& dir)
{
    return io::join_path(dir, "wal");
}
std::string segments_dir_of(const std::string& dir)
{
    return io::join_path(dir, "segments");
}

// Creates WAL file `path` holding only the file header, synced, with its directory entry synced.
result<std::unique_ptr<io::file>> create_wal_file(io::env& e, const std::string& path)
{
    PUFFER_TRY_ASSIGN(auto f, e.open(path, io::open_mode::read_write));
    std::string header = wal::encode_file_header();
    status s = f->truncate(0);
    s = s ? f->write_at(0, std::as_bytes(std::span(header.data(), header.size()))) : s;
    s = s ? f->sync() : s;
    s = s ? e.sync_dir(io::parent_dir(path)) : s;
    if (!s) {
        f.reset();
        (void)e.remove(path);  // best effort: start-up also skips an empty or headerless file
        return s.error();
    }
    return f;
}

// The MANIFEST entry of a segment; dead(p) says which positions are tombstoned.
template <class Dead>
format::manifest_segment manifest_entry(const segment& seg, Dead dead)
{
    format::manifest_segment e;
    e.id = seg.id();
    e.vector_count = static_cast<std::uint32_t>(seg.reader.vector_count());
    e.cluster_count = static_cast<std::uint32_t>(seg.reader.cluster_count());
    e.file_size_bytes = seg.reader.file_size_bytes();
    for (std::size_t p = 0; p < seg.reader.vector_count(); ++p) {
        if (dead(p)) {
            e.tombstones.push_back(static_cast<std::uint32_t>(p));
        }
    }
    return e;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Creation and recovery (blocking, before the shard owns the collection)

status collection::create_on_disk(io::env& e, const std::string& dir, const std::string& name,
                                  std::size_t dimension, metric m)
{
    PUFFER_TRY_ASSIGN(bool exists, e.exists(dir));
    if (exists) {
        return make_error(errc::already_exists, "collection '" + name + "' already exists");
    }
    std::string parent = io::parent_dir(dir);
    std::random_device rd;
    std::string tmp = io::join_path(parent, strprintf(".tmp-%s-%08x", name.c_str(), rd()));
    auto build = [&]() -> status {
        PUFFER_TRY(e.make_dirs(wal_dir_of(tmp)));
        PUFFER_TRY(e.make_dirs(segments_dir_of(tmp)));
        format::manifest mf;
        mf.name = name;
        mf.dimension = static_cast<std::uint32_t>(dimension);
        mf.distance_metric = m;
        mf.next_segment_id = 1;
        mf.wal_start = 1;
        PUFFER_TRY(io::write_file_atomic(e, io::join_path(tmp, manifest_file), format::encode_manifest(mf)));
        PUFFER_TRY(create_wal_file(e, io::join_path(wal_dir_of(tmp), wal::file_name(1))));
        PUFFER_TRY(e.sync_dir(segments_dir_of(tmp)));
        PUFFER_TRY(e.sync_dir(tmp));
        return e.rename(tmp, dir);
    };
    if (auto built = build(); !built) {
        (void)e.remove_all(tmp);  // else removed at the next start
        return built.error();
    }
    if (auto synced = e.sync_dir(parent); !synced) {
        // The caller is told the creation failed, so the directory must not stay under its name: it
        // would be a collection no one serves and whose name cannot be created again.
        std::string back = io::join_path(parent, strprintf(".tmp-%s-%08x", name.c_str(), rd()));
        if (e.rename(dir, back)) {
            (void)e.sync_dir(parent);
            (void)e.remove_all(back);
        }
        return synced.error();
    }
    return ok();
}

collection::collection(io::env& e, std::string dir, std::string name, const options& o)
    : env_(e), dir_(std::move(dir)), name_(std::move(name)), options_(o)
{
}

collection::~collection() = default;

std::shared_ptr<collection> collection::open(io::env& e, const std::string& dir, const std::string& name,
                                             const options& o)
{
    // A read that fails verification may be a transient error (a bit flipped on the way from
    // the device): recovery starts over, from a fresh object, before the collection is declared
    // failed. A damaged file fails every attempt. Recovery changes nothing on disk that a
    // failed read could have misled (see the WAL check in recover()).
    constexpr int attempts_max = 3;
    for (int attempt = 1;; ++attempt) {
        std::shared_ptr<collection> c(new collection(e, dir, name, o));
        auto s = c->recover();
        if (s) {
            return c;
        }
        if (attempt < attempts_max) {
            PUFFER_LOG(warn, "collection '%s': %s; reading it again", name.c_str(), s.error().message().c_str());
            continue;
        }
        PUFFER_LOG(error, "collection '%s' failed to open: %s", name.c_str(), s.error().message().c_str());
        c->failure_ = s.error();
        c->segments_.clear();
        c->frozen_.clear();
        c->ids_.clear();
        return c;
    }
}

status collection::recover()
{
    const std::string manifest_path = io::join_path(dir_, manifest_file);
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

    // Segments and their tombstones; ids of live rows (a later segment wins a duplicate).
    std::set<std::string> referenced;
    for (const auto& entry : mf.segments) {
        std::string file = format::segment_file_name(entry.id);
        referenced.insert(file);
        PUFFER_TRY_ASSIGN(auto seg, segment::open(env_, io::join_path(segments_dir_of(dir_), file), entry.id,
                                                  options_.mode));
        if (seg->reader.vector_count() != entry.vector_count || seg->reader.cluster_count() != entry.cluster_count ||
            seg->reader.file_size_bytes() != entry.file_size_bytes || seg->reader.dimension() != dimension_ ||
            seg->reader.distance_metric() != metric_) {
            return make_error(errc::corruption,
                              strprintf("%s: does not match the MANIFEST (vectors %zu/%u, clusters %zu/%u, bytes "
                                        "%llu/%llu, dimension %zu/%zu)",
                                        seg->path.c_str(), seg->reader.vector_count(), entry.vector_count,
                                        seg->reader.cluster_count(), entry.cluster_count,
                                        static_cast<unsigned long long>(seg->reader.file_size_bytes()),
                                        static_cast<unsigned long long>(entry.file_size_bytes), seg->reader.dimension(),
                                        dimension_));
        }
        for (std::uint32_t p : entry.tombstones) {
            seg->kill(p);
        }
        for (std::size_t p = 0; p < seg->reader.vector_count(); ++p) {
            if (seg->is_dead(p)) {
                continue;
            }
            auto [it, inserted] = ids_.try_emplace(std::string(seg->reader.id(p)),
                                                   location{seg->id(), static_cast<std::uint32_t>(p)});
            if (!inserted) {
                kill(it->second);
                it->second = location{seg->id(), static_cast<std::uint32_t>(p)};
            }
        }
        segments_.push_back(std::move(seg));
    }

    active_ = std::make_shared<staging>();
    active_->container = staging_container_bit | next_staging_id_++;
    active_->dimension = dimension_;
    active_->first_wal = wal_start_;

    // WAL replay, oldest first; a torn or corrupt tail is cut at the last whole record.
    const std::string wal_dir = wal_dir_of(dir_);
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
    }
    std::uint64_t last = numbers.back();
    PUFFER_TRY_ASSIGN(auto wal_file, env_.open(io::join_path(wal_dir, wal::file_name(last)), io::open_mode::read_write));
    wal_sizes_.erase(last);
    wal_.open(std::move(wal_file), last, numbers.empty() ? 0 : [&] {
        auto size = env_.open(io::join_path(wal_dir, wal::file_name(last)), io::open_mode::read);
        if (!size) {
            return std::uint64_t{0};
        }
        auto s = (*size)->size();
        return s ? *s : std::uint64_t{0};
    }());
    next_wal_number_ = last + 1;

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

void collection::attach(context& ctx)
{
    ctx_ = &ctx;
    wal_.attach(&ctx.ring(), [this](io::file& f, std::uint64_t durable_size) { repair_wal(f, durable_size); });
    maybe_auto_flush();
}

// ---------------------------------------------------------------------------------------------
// Introspection

error collection::failed_error() const
{
    return make_error(errc::failed, "collection '" + name_ + "' is unavailable: " + failure_->message());
}

collection_info collection::info() const
{
    collection_info i;
    i.name = name_;
    i.dimension = dimension_;
    i.distance_metric = metric_;
    i.points = ids_.size();
    i.failed = failed();
    return i;
}

collection_stats collection::stats() const
{
    collection_stats s;
    s.info = info();
    if (failure_) {
        s.failure = failure_->message();
    }
    s.segments = segments_.size();
    if (active_) {
        s.staging_vectors = active_->live;
    }
    for (const auto& f : frozen_) {
        s.frozen_vectors += f->live;
    }
    s.staging_vectors += s.frozen_vectors;
    for (const auto& seg : segments_) {
        s.tombstones += seg->tombstone_count;
        s.segment_bytes += seg->reader.file_size_bytes();
    }
    for (const auto& [number, size] : wal_sizes_) {
        s.wal_bytes += size;
    }
    s.wal_bytes += wal_.size_bytes();
    s.disk_bytes = s.segment_bytes + s.wal_bytes;
    s.cache_hits = cache_hits_;
    s.cache_misses = cache_misses_;
    s.bytes_read = bytes_read_;
    s.flushes = flushes_;
    s.compactions = compactions_;
    s.wal_groups = wal_.groups_committed();
    if (current_job_) {
        s.flushing = current_job_->kind == job_kind::flush;
        s.compacting = current_job_->kind == job_kind::compact;
    }
    return s;
}

// ---------------------------------------------------------------------------------------------
// Writes

status collection::validate(point_batch& batch) const
{
    if (batch.size() == 0) {
        return make_error(errc::invalid_argument, "no points in the batch");
    }
    if (batch.size() > batch_points_max) {
        return make_error(errc::invalid_argument,
                          strprintf("%zu points in one batch; at most %zu", batch.size(), batch_points_max));
    }
    if (batch.dimension != dimension_ || batch.vectors.size() != batch.size() * dimension_) {
        return make_error(errc::invalid_argument,
                          strprintf("vectors have dimension %zu; collection '%s' has dimension %zu",
                                    batch.dimension, name_.c_str(), dimension_));
    }
    if (batch.has_payloads() && batch.payloads.size() != batch.size()) {
        return make_error(errc::invalid_argument, "payloads do not match the points");
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const std::string& id = batch.ids[i];
        if (id.empty() || id.size() > id_size_bytes_max) {
            return make_error(errc::invalid_argument,
                              strprintf("point %zu: id must be 1 to %zu bytes", i, id_size_bytes_max));
        }
        if (batch.has_payloads() && batch.payloads[i].size() > payload_size_bytes_max) {
            return make_error(errc::invalid_argument,
                              strprintf("point %zu: payload over %zu bytes", i, payload_size_bytes_max));
        }
        float* v = batch.vector(i);
        for (std::size_t j = 0; j < dimension_; ++j) {
            if (!std::isfinite(v[j])) {
                return make_error(errc::invalid_argument,
                                  strprintf("point %zu ('%s'): vector[%zu] is not a finite number", i, id.c_str(), j));
            }
        }
        if (metric_ == metric::cosine && !normalize(v, dimension_)) {
            return make_error(errc::invalid_argument,
                              strprintf("point %zu ('%s'): a zero vector has no cosine direction", i, id.c_str()));
        }
    }
    return ok();
}

void collection::upsert(point_batch batch, unique_function<void(status)> done)
{
    if (failure_) {
        done(failed_error());
        return;
    }
    if (auto s = validate(batch); !s) {
        done(s.error());
        return;
    }
    // Every staged row takes memory and is scanned by searches, replaced and deleted ones too,
    // until a flush drops them: the bound counts rows, not live points.
    std::size_t staged = active_->rows();
    for (const auto& f : frozen_) {
        staged += f->rows();
    }
    if (staged + batch.size() > options_.staging_vectors_max) {
        done(make_error(errc::busy, strprintf("collection '%s' has %zu vectors waiting to be indexed; "
                                              "retry when the flush in progress has finished",
                                              name_.c_str(), staged)));
        return;
    }
    std::string record;
    wal::append_upsert_record(record, batch);
    auto self = shared_from_this();
    wal_.append(record, [self, batch = std::move(batch), done = std::move(done)](status s) mutable {
        if (s && !self->dropped_) {
            self->apply_upsert(batch);
            self->maybe_auto_flush();
        }
        done(std::move(s));
    });
}

void collection::remove(std::vector<std::string> ids, unique_function<void(result<std::size_t>)> done)
{
    if (failure_) {
        done(failed_error());
        return;
    }
    if (ids.empty()) {
        done(make_error(errc::invalid_argument, "no ids to delete"));
        return;
    }
    for (const auto& id : ids) {
        if (id.empty() || id.size() > id_size_bytes_max) {
            done(make_error(errc::invalid_argument, strprintf("ids must be 1 to %zu bytes", id_size_bytes_max)));
            return;
        }
    }
    std::string record;
    wal::append_remove_record(record, ids);
    auto self = shared_from_this();
    wal_.append(record, [self, ids = std::move(ids), done = std::move(done)](status s) mutable {
        if (!s) {
            done(s.error());
            return;
        }
        if (self->dropped_) {
            done(0);
            return;
        }
        std::size_t removed = self->apply_remove(ids);
        self->maybe_auto_flush();
        done(removed);
    });
}

void collection::apply_upsert(const point_batch& batch)
{
    for (std::size_t i = 0; i < batch.size(); ++i) {
        auto [it, inserted] = ids_.try_emplace(batch.ids[i]);
        if (!inserted) {
            kill(it->second);
        }
        std::uint32_t row = active_->append(batch.ids[i], batch.vector(i),
                                            batch.has_payloads() ? batch.payloads[i] : std::string());
        it->second = location{active_->container, row};
    }
}

std::size_t collection::apply_remove(const std::vector<std::string>& ids)
{
    std::size_t removed = 0;
    for (const auto& id : ids) {
        auto it = ids_.find(id);
        if (it == ids_.end()) {
            continue;
        }
        kill(it->second);
        ids_.erase(it);
        ++removed;
    }
    return removed;
}

void collection::kill(const location& where)
{
    if ((where.container & staging_container_bit) != 0) {
        staging* s = find_staging(where.container);
        PUFFER_ASSERT(s != nullptr);
        s->kill(where.row);
        return;
    }
    segment* seg = find_segment(where.container);
    PUFFER_ASSERT(seg != nullptr);
    seg->kill(where.row);
}

staging* collection::find_staging(std::uint64_t container)
{
    if (active_ && active_->container == container) {
        return active_.get();
    }
    for (auto& f : frozen_) {
        if (f->container == container) {
            return f.get();
        }
    }
    return nullptr;
}

segment* collection::find_segment(std::uint64_t id)
{
    auto p = segment_ptr(id);
    return p.get();
}

std::shared_ptr<segment> collection::segment_ptr(std::uint64_t id)
{
    auto it = std::lower_bound(segments_.begin(), segments_.end(), id,
                               [](const std::shared_ptr<segment>& s, std::uint64_t v) { return s->id() < v; });
    if (it != segments_.end() && (*it)->id() == id) {
        return *it;
    }
    return nullptr;
}

void collection::repair_wal(io::file& f, std::uint64_t durable_size)
{
    auto self = shared_from_this();
    ctx_->background([self, &f, durable_size] {
        status s = f.truncate(durable_size);
        if (s) {
            s = f.sync();
        }
        self->ctx_->post([self, s = std::move(s)]() mutable { self->wal_.repaired(std::move(s)); });
    });
}

void collection::drop()
{
    dropped_ = true;
    stop_builds_.store(true);  // a build in progress stops at its next check
    if (ctx_ != nullptr) {
        for (const auto& seg : segments_) {
            ctx_->cache().erase_segment(seg->uid);
        }
    }
    // Waiters of the job in progress too: its background work sees dropped_ and stops there.
    std::deque<job> jobs;
    jobs.swap(jobs_);
    if (current_job_) {
        jobs.push_front(std::move(*current_job_));
        current_job_.reset();
    }
    for (auto& j : jobs) {
        for (auto& d : j.done) {
            if (d) {
                d(make_error(errc::not_found, "collection '" + name_ + "' was deleted"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Flush and compaction: one job at a time per collection, in order.

void collection::flush(unique_function<void(status)> done)
{
    if (failure_) {
        done(failed_error());
        return;
    }
    enqueue_job(job_kind::flush, std::move(done));
}

void collection::compact(unique_function<void(status)> done)
{
    if (failure_) {
        done(failed_error());
        return;
    }
    enqueue_job(job_kind::compact, std::move(done));
}

void collection::maybe_auto_flush()
{
    // Rows rather than live points, so that overwriting the same ids cannot grow staging without
    // end; and the log's size, so that deletes of indexed points (which add no rows) cannot grow
    // the WAL without end.
    if (ctx_ == nullptr || failure_ || dropped_ ||
        (active_->rows() < options_.flush_threshold_vectors && wal_.size_bytes() < options_.wal_flush_bytes)) {
        return;
    }
    bool flush_coming = false;
    if (current_job_ && current_job_->kind == job_kind::flush && frozen_.empty()) {
        flush_coming = true;  // a flush that has not frozen staging yet will take these rows
    }
    for (const auto& j : jobs_) {
        flush_coming = flush_coming || j.kind == job_kind::flush;
    }
    if (!flush_coming) {
        enqueue_job(job_kind::flush, nullptr);
    }
}

void collection::enqueue_job(job_kind kind, unique_function<void(status)> done)
{
    for (auto& queued : jobs_) {
        if (queued.kind == kind) {
            queued.done.push_back(std::move(done));
            return;
        }
    }
    jobs_.push_back(job{kind, {}});
    jobs_.back().done.push_back(std::move(done));
    if (!job_running_) {
        run_next_job();
    }
}

void collection::run_next_job()
{
    if (jobs_.empty() || dropped_) {
        return;
    }
    job_running_ = true;
    current_job_ = std::move(jobs_.front());
    jobs_.pop_front();
    if (current_job_->kind == job_kind::flush) {
        start_flush();
    } else {
        start_compaction();
    }
}

void collection::finish_job(status s)
{
    PUFFER_ASSERT(current_job_.has_value());
    job finished = std::move(*current_job_);
    current_job_.reset();
    job_running_ = false;
    if (!s && dropping_) {
        s = make_error(errc::not_found, "collection '" + name_ + "' was deleted");
    }
    if (!s) {
        PUFFER_LOG(warn, "collection '%s': %s failed: %s", name_.c_str(),
                   finished.kind == job_kind::flush ? "flush" : "compaction", s.error().message().c_str());
    }
    for (auto& d : finished.done) {
        if (d) {
            d(s);
        }
    }
    if (s && finished.kind == job_kind::flush && compaction_wanted()) {
        bool queued = false;
        for (const auto& j : jobs_) {
            queued = queued || j.kind == job_kind::compact;
        }
        if (!queued) {
            jobs_.push_back(job{job_kind::compact, {}});
        }
    }
    // A failed flush is not retried from here (that would spin while the disk is full): the
    // next write that reaches the threshold asks again.
    if (s || finished.kind != job_kind::flush) {
        maybe_auto_flush();
    }
    if (!job_running_) {
        run_next_job();
    }
}

void collection::write_manifest(format::manifest m, unique_function<void(status)> then)
{
    auto self = shared_from_this();
    std::string path = io::join_path(dir_, manifest_file);
    ctx_->background([self, path, bytes = format::encode_manifest(m), then = std::move(then)]() mutable {
        status s = io::write_file_atomic(self->env_, path, bytes);
        self->ctx_->post([s = std::move(s), then = std::move(then)]() mutable { then(std::move(s)); });
    });
}

format::manifest collection::manifest_now() const
{
    format::manifest m;
    m.name = name_;
    m.dimension = static_cast<std::uint32_t>(dimension_);
    m.distance_metric = metric_;
    m.next_segment_id = next_segment_id_;
    m.wal_start = wal_start_;
    for (const auto& seg : segments_) {
        m.segments.push_back(manifest_entry(*seg, [&seg](std::size_t p) { return seg->is_dead(p); }));
    }
    return m;
}

void collection::adopt(segment& seg, const unique_function<source_row(std::size_t)>& source_of)
{
    for (std::size_t p = 0; p < seg.reader.vector_count(); ++p) {
        source_row src = source_of(p);
        if (src.dead) {
            seg.kill(p);
            continue;
        }
        auto it = ids_.find(std::string(src.id));
        PUFFER_ASSERT(it != ids_.end());
        PUFFER_ASSERT(it->second.container == src.container);
        PUFFER_ASSERT(it->second.row == src.row);
        it->second = location{seg.id(), static_cast<std::uint32_t>(p)};
    }
}

void collection::install_manifest(format::manifest m, std::shared_ptr<built_segment> built,
                                  unique_function<void()> commit)
{
    auto self = shared_from_this();
    write_manifest(std::move(m), [self, built, commit = std::move(commit)](status s) mutable {
        if (self->dropped_) {
            return;
        }
        if (!s) {
            // The job fails and its rows stay where they were (staging and WAL, or the old
            // segments). The new segment's file stays until a later MANIFEST is durable: this
            // write may have failed after its rename, so the MANIFEST on disk may name it.
            if (built) {
                self->keep_until_next_manifest(built->seg->path);
            }
            self->finish_job(s);
            return;
        }
        commit();
    });
}

void collection::keep_until_next_manifest(std::string segment_path)
{
    // The MANIFEST write failed, but possibly after its rename (a failed directory sync): the
    // MANIFEST on disk may name this segment, so it stays until a later MANIFEST, written from
    // the state in memory (which does not name it), is durable.
    unreferenced_segments_.push_back(std::move(segment_path));
}

void collection::take_unreferenced_segments(std::vector<std::string>& out)
{
    out.insert(out.end(), unreferenced_segments_.begin(), unreferenced_segments_.end());
    unreferenced_segments_.clear();
}

void collection::remove_files_in_background(std::vector<std::string> paths)
{
    if (paths.empty()) {
        return;
    }
    auto self = shared_from_this();
    ctx_->background([self, paths = std::move(paths)] {
        for (const auto& p : paths) {
            if (auto s = self->env_.remove(p); !s) {
                PUFFER_LOG(warn, "%s", s.error().message().c_str());
            }
        }
    });
}

void collection::start_flush()
{
    if (failure_) {
        finish_job(failed_error());
        return;
    }
    if (active_->rows() == 0 && frozen_.empty() && wal_.size_bytes() <= wal::file_header_size_bytes) {
        finish_job(ok());  // nothing to index and no log to retire
        return;
    }
    std::uint64_t number = next_wal_number_++;
    std::string path = io::join_path(wal_dir_of(dir_), wal::file_name(number));
    auto self = shared_from_this();
    ctx_->background([self, path, number] {
        auto created = create_wal_file(self->env_, path);
        self->ctx_->post([self, number, created = std::move(created)]() mutable {
            if (self->dropped_) {
                return;
            }
            if (!created) {
                self->finish_job(created.error());
                return;
            }
            self->wal_.rotate(std::move(*created), number, [self] { self->flush_after_rotation(); });
        });
    });
}

void collection::flush_after_rotation()
{
    // The WAL has switched: every record of the old files is applied, later ones go to the new
    // file and to a new staging.
    wal_sizes_[wal_.previous_number()] = wal_.previous_size_bytes();
    if (!frozen_.empty() || active_->rows() > 0) {
        frozen_.push_back(active_);
    }
    active_ = std::make_shared<staging>();
    active_->container = staging_container_bit | next_staging_id_++;
    active_->dimension = dimension_;
    active_->first_wal = wal_.number();

    // Which frozen rows are live now; the rows themselves are gathered off the shard (frozen
    // staging is append-closed, so its rows are immutable).
    std::vector<std::shared_ptr<staging>> sources = frozen_;
    auto dead_snapshot = std::make_shared<std::vector<std::vector<std::uint64_t>>>();
    std::size_t live_rows = 0;
    for (const auto& st : sources) {
        dead_snapshot->push_back(st->dead);
        live_rows += st->live;
    }
    auto rows = std::make_shared<build_rows>();
    rows->dimension = dimension_;
    auto self = shared_from_this();
    std::uint64_t new_wal_start = active_->first_wal;

    // Where each position of the new segment came from, as the shard sees it now.
    auto source_of = [sources, rows](const built_segment& built, std::size_t p) {
        const auto& src = rows->sources[built.position_source[p]];
        const staging& st = *sources[src.container_index];
        return source_row{st.is_dead(src.row), st.ids[src.row], st.container, src.row};
    };

    // Commit on the shard once the MANIFEST naming the new state is durable.
    auto commit = [self, source_of, new_wal_start](std::shared_ptr<built_segment> built) {
        std::vector<std::string> obsolete;
        if (built) {
            self->adopt(*built->seg, [&](std::size_t p) { return source_of(*built, p); });
            self->segments_.push_back(built->seg);
        }
        for (auto it = self->wal_sizes_.begin(); it != self->wal_sizes_.end();) {
            if (it->first < new_wal_start) {
                obsolete.push_back(io::join_path(wal_dir_of(self->dir_), wal::file_name(it->first)));
                it = self->wal_sizes_.erase(it);
            } else {
                ++it;
            }
        }
        self->wal_start_ = new_wal_start;
        self->frozen_.clear();
        ++self->flushes_;
        self->take_unreferenced_segments(obsolete);
        self->remove_files_in_background(std::move(obsolete));
        self->finish_job(ok());
    };

    // Writes the MANIFEST for the new state (tombstones as of now; later deletes are in the WAL).
    auto install = [self, source_of, new_wal_start, commit](std::shared_ptr<built_segment> built) mutable {
        format::manifest m = self->manifest_now();
        m.wal_start = new_wal_start;
        if (built) {
            m.segments.push_back(manifest_entry(*built->seg, [&](std::size_t p) { return source_of(*built, p).dead; }));
        }
        self->install_manifest(std::move(m), built, [commit, built]() mutable { commit(built); });
    };

    if (live_rows == 0) {
        install(nullptr);
        return;
    }
    std::uint64_t id = next_segment_id_++;
    ctx_->background([self, rows, sources, dead_snapshot, id, install = std::move(install)]() mutable {
        std::size_t d = self->dimension_;
        for (std::size_t fi = 0; fi < sources.size(); ++fi) {
            const staging& st = *sources[fi];
            const auto& dead = (*dead_snapshot)[fi];
            for (std::size_t row = 0; row < st.rows(); ++row) {
                if (bit_is_set(dead, row)) {
                    continue;
                }
                rows->vectors.insert(rows->vectors.end(), st.vectors.data() + row * d, st.vectors.data() + (row + 1) * d);
                rows->ids.emplace_back(st.ids[row]);
                rows->payloads.emplace_back(st.payloads[row]);
                rows->sources.push_back({static_cast<std::uint32_t>(fi), static_cast<std::uint32_t>(row)});
            }
        }
        auto built = build_segment(self->env_, segments_dir_of(self->dir_), id, self->metric_, *rows,
                                   self->options_, self->ctx_->pool(), &self->stop_builds_);
        self->ctx_->post([self, id, built = std::move(built), install = std::move(install)]() mutable {
            if (self->dropped_) {
                return;
            }
            if (!built) {
                // Whatever was written of the file is no MANIFEST's: free the space now.
                self->remove_files_in_background(
                    {io::join_path(segments_dir_of(self->dir_), format::segment_file_name(id))});
                self->finish_job(built.error());
                return;
            }
            install(std::make_shared<built_segment>(std::move(*built)));
        });
    });
}

bool collection::compaction_wanted() const
{
    if (segments_.size() > options_.segments_max) {
        return true;
    }
    for (const auto& seg : segments_) {
        if (seg->tombstone_count > 0 &&
            static_cast<double>(seg->tombstone_count) >=
                options_.tombstone_ratio_max * static_cast<double>(seg->reader.vector_count())) {
            return true;
        }
    }
    return false;
}

void collection::start_compaction()
{
    if (failure_) {
        finish_job(failed_error());
        return;
    }
    // Choose: every segment past the tombstone ratio, and, while there are too many segments,
    // the smallest ones (down to half the bound, so merges are not redone on every flush).
    std::vector<std::shared_ptr<segment>> chosen;
    std::vector<std::shared_ptr<segment>> by_size = segments_;
    std::sort(by_size.begin(), by_size.end(), [](const auto& a, const auto& b) {
        return a->live() != b->live() ? a->live() < b->live() : a->id() < b->id();
    });
    std::size_t merge_count = 0;
    if (segments_.size() > options_.segments_max) {
        merge_count = segments_.size() - std::max<std::size_t>(1, options_.segments_max / 2) + 1;
    }
    for (std::size_t i = 0; i < by_size.size(); ++i) {
        const auto& seg = by_size[i];
        bool too_dead = seg->tombstone_count > 0 &&
                        static_cast<double>(seg->tombstone_count) >=
                            options_.tombstone_ratio_max * static_cast<double>(seg->reader.vector_count());
        if (i < merge_count || too_dead) {
            chosen.push_back(seg);
        }
    }
    if (chosen.empty()) {
        finish_job(ok());
        return;
    }
    std::sort(chosen.begin(), chosen.end(), [](const auto& a, const auto& b) { return a->id() < b->id(); });

    // Snapshot of which rows are live now; rows that die later are tombstoned at commit.
    auto live = std::make_shared<std::vector<std::vector<std::uint64_t>>>();
    for (const auto& seg : chosen) {
        live->push_back(seg->tombstones);
    }
    std::size_t live_rows = 0;
    for (const auto& seg : chosen) {
        live_rows += seg->live();
    }
    auto self = shared_from_this();
    std::uint64_t id = live_rows > 0 ? next_segment_id_++ : 0;

    auto finish = [self, chosen](std::shared_ptr<build_rows> rows, std::shared_ptr<built_segment> built) {
        auto source_of = [chosen, rows](const built_segment& b, std::size_t p) {
            const auto& src = rows->sources[b.position_source[p]];
            const segment& old = *chosen[src.container_index];
            return source_row{old.is_dead(src.row), old.reader.id(src.row), old.id(), src.row};
        };
        format::manifest m = self->manifest_now();
        std::set<std::uint64_t> replaced;
        for (const auto& seg : chosen) {
            replaced.insert(seg->id());
        }
        std::erase_if(m.segments, [&](const format::manifest_segment& e) { return replaced.count(e.id) > 0; });
        if (built) {
            m.segments.push_back(manifest_entry(*built->seg, [&](std::size_t p) { return source_of(*built, p).dead; }));
            std::sort(m.segments.begin(), m.segments.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
        }
        self->install_manifest(std::move(m), built, [self, chosen, built, replaced, source_of]() mutable {
            if (built) {
                self->adopt(*built->seg, [&](std::size_t p) { return source_of(*built, p); });
            }
            std::vector<std::string> obsolete;
            std::erase_if(self->segments_, [&](const std::shared_ptr<segment>& seg) {
                if (replaced.count(seg->id()) == 0) {
                    return false;
                }
                self->ctx_->cache().erase_segment(seg->uid);
                obsolete.push_back(seg->path);
                return true;
            });
            if (built) {
                self->segments_.push_back(built->seg);
                std::sort(self->segments_.begin(), self->segments_.end(),
                          [](const auto& a, const auto& b) { return a->id() < b->id(); });
            }
            ++self->compactions_;
            self->take_unreferenced_segments(obsolete);
            self->remove_files_in_background(std::move(obsolete));
            self->finish_job(ok());
        });
    };

    if (live_rows == 0) {
        finish(std::make_shared<build_rows>(), nullptr);
        return;
    }
    ctx_->background([self, chosen, live, id, finish = std::move(finish)]() mutable {
        auto rows = std::make_shared<build_rows>();
        rows->dimension = self->dimension_;
        status read_status = ok();
        std::vector<float> cluster;
        for (std::size_t si = 0; si < chosen.size() && read_status; ++si) {
            const segment& seg = *chosen[si];
            auto f = self->env_.open(seg.path, io::open_mode::read);
            if (!f) {
                read_status = f.error();
                break;
            }
            for (std::size_t c = 0; c < seg.reader.cluster_count(); ++c) {
                if (auto s = seg.reader.read_cluster(**f, c, cluster); !s) {
                    read_status = s;
                    break;
                }
                for (std::size_t i = 0; i < seg.reader.cluster_length(c); ++i) {
                    std::size_t p = seg.reader.cluster_start(c) + i;
                    if (bit_is_set((*live)[si], p)) {
                        continue;
                    }
                    rows->vectors.insert(rows->vectors.end(), cluster.begin() + static_cast<std::ptrdiff_t>(i * self->dimension_),
                                         cluster.begin() + static_cast<std::ptrdiff_t>((i + 1) * self->dimension_));
                    rows->owned.emplace_back(seg.reader.id(p));
                    auto payload = seg.reader.read_payload(**f, p);
                    if (!payload) {
                        read_status = payload.error();
                        break;
                    }
                    rows->owned.push_back(std::move(*payload));
                    rows->sources.push_back({static_cast<std::uint32_t>(si), static_cast<std::uint32_t>(p)});
                }
            }
        }
        for (std::size_t i = 0; i < rows->sources.size() && read_status; ++i) {
            rows->ids.emplace_back(rows->owned[2 * i]);
            rows->payloads.emplace_back(rows->owned[2 * i + 1]);
        }
        result<built_segment> built = read_status ? build_segment(self->env_, segments_dir_of(self->dir_), id,
                                                                  self->metric_, *rows, self->options_, self->ctx_->pool(),
                                                                  &self->stop_builds_)
                                                  : result<built_segment>(read_status.error());
        self->ctx_->post([self, id, rows, built = std::move(built), finish = std::move(finish)]() mutable {
            if (self->dropped_) {
                return;
            }
            if (!built) {
                self->remove_files_in_background(
                    {io::join_path(segments_dir_of(self->dir_), format::segment_file_name(id))});
                self->finish_job(built.error());
                return;
            }
            finish(rows, std::make_shared<built_segment>(std::move(*built)));
        });
    });
}

}  // namespace puffer::collection
