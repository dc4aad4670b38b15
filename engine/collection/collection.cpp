#include "engine/collection/collection.hpp"

#include "engine/collection/layout.hpp"
#include "engine/core/assert.hpp"
#include "engine/core/log.hpp"
#include "engine/query/filtering.hpp"
#include "engine/wal/wal_format.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace puffer::collection {

// ---------------------------------------------------------------------------------------------
// Creation (blocking, before the shard owns the collection)

status collection::create_on_disk(io::env& e, const std::string& dir, const std::string& name,
                                  std::size_t dimension, metric m, const std::vector<std::string>& unindexed_fields,
                                  index::quantization quantization)
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
        mf.unindexed_fields = unindexed_fields;
        mf.quantization = quantization;
        PUFFER_TRY(io::write_file_atomic(e, io::join_path(tmp, manifest_file_name), format::encode_manifest(mf)));
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
    // failed read could have misled (see the WAL check in replay_wal()).
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

void collection::attach(context& ctx)
{
    ctx_ = &ctx;
    wal_.attach(&ctx.ring(), [this](io::file& f, std::uint64_t durable_size) { repair_wal(f, durable_size); });
    // Rows replayed from the log are indexed like the tail of a load: at the threshold, or
    // once the collection has been quiet for a while.
    after_write();
}

std::shared_ptr<staging> collection::new_staging(std::uint64_t first_wal)
{
    return std::make_shared<staging>(staging_container_bit | next_staging_id_++, first_wal, dimension_, unindexed_);
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
    i.unindexed_fields = *unindexed_;
    i.quantization = options_.quantization;
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
    std::vector<std::uint64_t> quantizers;
    for (const auto& rec : segments_) {
        s.tombstones += rec.tombstones->count();
        s.segment_bytes += rec.seg->reader().file_size_bytes();
        if (std::find(quantizers.begin(), quantizers.end(), rec.quantizer) == quantizers.end()) {
            quantizers.push_back(rec.quantizer);
        }
    }
    s.centroid_tables = quantizers.size();
    if (auto table = current_table()) {
        s.clusters = table->cluster_count();
    }
    for (const auto& [number, size] : wal_sizes_) {
        s.wal_bytes += size;
    }
    s.wal_bytes += wal_.size_bytes();
    s.disk_bytes = s.segment_bytes + s.wal_bytes;
    s.cache_hits = counters_->cache_hits;
    s.cache_misses = counters_->cache_misses;
    s.bytes_read = counters_->bytes_read;
    s.recall_samples = counters_->recall_samples;
    s.recall_estimate = counters_->recall_estimate();
    s.flushes = flushes_;
    s.compactions = compactions_;
    s.retrains = retrains_;
    s.wal_groups = wal_.groups_committed();
    s.wal_records = wal_.records_committed();
    s.wal_sync = wal_.sync_latency();
    s.flushing = flush_lane_.running.has_value();
    s.compacting = compact_lane_.running.has_value();
    return s;
}

// ---------------------------------------------------------------------------------------------
// The read view: rebuilt on the first search after a change, shared until the next change.

std::shared_ptr<const query::read_view> collection::view()
{
    PUFFER_ASSERT(!failure_);
    if (view_) {
        return view_;
    }
    auto v = std::make_shared<query::read_view>();
    v->collection = name_;
    v->counters = counters_;
    v->distance_metric = metric_;
    v->dimension = dimension_;
    v->live_points = ids_.size();
    v->unindexed_fields = unindexed_;
    v->segments.reserve(segments_.size());
    for (const auto& rec : segments_) {
        auto index = static_cast<std::uint32_t>(v->segments.size());
        std::uint32_t group = 0;
        while (group < v->groups.size() && segments_[v->groups[group].segments.front()].quantizer != rec.quantizer) {
            ++group;
        }
        if (group == v->groups.size()) {
            v->groups.emplace_back();
            v->groups.back().representative = index;
        }
        query::quantizer_group& g = v->groups[group];
        g.segments.push_back(index);
        g.rows += rec.seg->vector_count();
        if (rec.seg->vector_count() > segments_[g.representative].seg->vector_count()) {
            g.representative = index;
        }
        v->segments.push_back(query::view_segment{rec.seg, rec.tombstones->empty() ? nullptr : rec.tombstones, group});
    }
    auto add_staging = [this, &v](const std::shared_ptr<staging>& st) {
        query::view_staging vs{st->rows, st->size(), st->dead->empty() ? nullptr : st->dead, nullptr, 0};
        // Probed through its clusters only while the table it was assigned to has a group here
        // (a retraining compaction may have replaced it meanwhile).
        for (std::uint32_t g = 0; st->clusters && g < v->groups.size(); ++g) {
            const query::quantizer_group& group = v->groups[g];
            if (segments_[group.segments.front()].quantizer == st->clusters_quantizer &&
                segments_[group.representative].seg->cluster_count() == st->clusters->cluster_count()) {
                vs.clusters = st->clusters;
                vs.group = g;
            }
        }
        v->staging.push_back(std::move(vs));
    };
    for (const auto& f : frozen_) {
        add_staging(f);
    }
    add_staging(active_);
    view_ = std::move(v);
    return view_;
}

status collection::check_filter(const index::filter& f) const
{
    return query::check_filter(name_, *unindexed_, f);
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
    // A batch that could never fit in staging, even empty, would get busy forever.
    if (batch.size() > options_.staging_vectors_max) {
        done(make_error(errc::invalid_argument,
                        strprintf("a batch of %zu points is over collection '%s''s staging bound of %zu rows "
                                  "(--staging-max-vectors); send it in smaller batches",
                                  batch.size(), name_.c_str(), options_.staging_vectors_max)));
        return;
    }
    submit_write(false, [self = shared_from_this(), batch = std::move(batch), done = std::move(done)](status run) mutable {
        if (!run) {
            done(run.error());
            return;
        }
        self->log_upsert(std::move(batch), std::move(done));
    });
}

void collection::log_upsert(point_batch batch, unique_function<void(status)> done)
{
    // Every staged row takes memory and is scanned by searches, replaced and deleted ones too,
    // until a flush drops them: the bound counts rows, not live points.
    std::size_t staged = staged_rows();
    if (staged + batch.size() > options_.staging_vectors_max) {
        done(make_error(errc::busy, strprintf("collection '%s' has %zu vectors waiting to be indexed; "
                                              "retry when the flush in progress has finished",
                                              name_.c_str(), staged)));
        return;
    }
    std::string record;
    wal::append_upsert_record(record, batch);
    auto self = shared_from_this();
    ++writes_pending_;
    wal_.append(record, [self, batch = std::move(batch), done = std::move(done)](status s) mutable {
        --self->writes_pending_;
        if (s && !self->dropped_) {
            self->apply_upsert(batch);
            self->after_write();
        }
        done(std::move(s));
        self->run_queued_writes();
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
    submit_write(false, [self = shared_from_this(), ids = std::move(ids), done = std::move(done)](status run) mutable {
        if (!run) {
            done(run.error());
            return;
        }
        self->log_remove(std::move(ids), std::move(done));
    });
}

void collection::log_remove(std::vector<std::string> ids, unique_function<void(result<std::size_t>)> done)
{
    std::string record;
    wal::append_remove_record(record, ids);
    auto self = shared_from_this();
    ++writes_pending_;
    wal_.append(record, [self, ids = std::move(ids), done = std::move(done)](status s) mutable {
        --self->writes_pending_;
        if (!s) {
            done(s.error());
        } else if (self->dropped_) {
            done(0);
        } else {
            std::size_t removed = self->apply_remove(ids);
            self->after_write();
            done(removed);
        }
        self->run_queued_writes();
    });
}

std::size_t collection::staged_rows() const
{
    std::size_t staged = active_->size();
    for (const auto& f : frozen_) {
        staged += f->size();
    }
    return staged;
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
    changed();
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
    if (removed > 0) {
        changed();
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
    segment_record* rec = find_segment(where.container);
    PUFFER_ASSERT(rec != nullptr);
    rec->kill(where.row);
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

segment_record* collection::find_segment(std::uint64_t id)
{
    auto it = std::lower_bound(segments_.begin(), segments_.end(), id,
                               [](const segment_record& s, std::uint64_t v) { return s.id() < v; });
    if (it != segments_.end() && it->id() == id) {
        return &*it;
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

void collection::retire(const segment_record& rec)
{
    rec.seg->retire();
    if (ctx_ != nullptr) {
        ctx_->forget_segment(rec.seg->uid());
    }
}

void collection::drop()
{
    dropped_ = true;
    // Writes waiting for their turn are told now; one choosing its points finds dropped_.
    auto waiting = std::move(write_queue_);
    write_queue_.clear();
    for (auto& w : waiting) {
        w.start(make_error(errc::not_found, "collection '" + name_ + "' was deleted"));
    }
    stop_builds_.store(true);  // a build in progress stops at its next check
    for (const auto& rec : segments_) {
        retire(rec);
    }
    // Waiters of the jobs in progress too: their background work sees dropped_ and stops there.
    std::vector<job> jobs;
    for (lane* l : {&flush_lane_, &compact_lane_}) {
        if (l->running) {
            jobs.push_back(std::move(*l->running));
            l->running.reset();
        }
        if (l->queued) {
            jobs.push_back(std::move(*l->queued));
            l->queued.reset();
        }
    }
    for (auto& j : jobs) {
        for (auto& d : j.done) {
            if (d) {
                d(make_error(errc::not_found, "collection '" + name_ + "' was deleted"));
            }
        }
    }
}

}  // namespace puffer::collection
