// Flushes and compactions: each in its own lane, one job at a time per lane, both lanes at once;
// their MANIFEST installs one at a time, each made from the state when its turn comes. Builds
// run on the background pool; everything that touches the collection's state runs on the shard.
#include "engine/collection/collection.hpp"

#include "engine/collection/layout.hpp"
#include "engine/collection/segment_builder.hpp"
#include "engine/core/assert.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/log.hpp"
#include "engine/format/segment_format.hpp"
#include "engine/wal/wal_format.hpp"

#include <algorithm>
#include <chrono>
#include <set>

namespace puffer::collection {
namespace {

// The clusters of each source staging's rows, from the layout of a build over them. Within a
// cluster the rows stay in source order, which is ascending: assignment keeps that order.
std::vector<std::shared_ptr<const query::staged_clusters>> staged_clusters_of(const index::ivf_layout& layout,
                                                                              const build_rows& rows,
                                                                              std::size_t stagings)
{
    const std::size_t k = layout.cluster_count;
    std::vector<std::shared_ptr<query::staged_clusters>> out(stagings);
    for (auto& sc : out) {
        sc = std::make_shared<query::staged_clusters>();
        sc->offsets.assign(k + 1, 0);
    }
    for (std::size_t c = 0; c < k; ++c) {
        for (std::uint32_t p = layout.cluster_offsets[c]; p < layout.cluster_offsets[c + 1]; ++p) {
            ++out[rows.sources[layout.order[p]].container_index]->offsets[c + 1];
        }
    }
    for (auto& sc : out) {
        for (std::size_t c = 0; c < k; ++c) {
            sc->offsets[c + 1] += sc->offsets[c];
        }
        sc->rows.resize(sc->offsets[k]);
    }
    std::vector<std::vector<std::uint32_t>> fill(stagings);
    for (std::size_t i = 0; i < stagings; ++i) {
        fill[i].assign(out[i]->offsets.begin(), out[i]->offsets.end() - 1);
    }
    for (std::size_t c = 0; c < k; ++c) {
        for (std::uint32_t p = layout.cluster_offsets[c]; p < layout.cluster_offsets[c + 1]; ++p) {
            const auto& src = rows.sources[layout.order[p]];
            out[src.container_index]->rows[fill[src.container_index][c]++] = src.row;
        }
    }
    return {out.begin(), out.end()};
}

}  // namespace

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
        (active_->size() < options_.flush_threshold_vectors && wal_.size_bytes() < options_.wal_flush_bytes)) {
        return;
    }
    // A flush that has not frozen staging yet will take these rows.
    bool flush_coming = flush_lane_.queued.has_value() || (flush_lane_.running.has_value() && frozen_.empty());
    if (!flush_coming) {
        enqueue_job(job_kind::flush, nullptr);
    }
}

void collection::after_write()
{
    last_write_ = std::chrono::steady_clock::now();
    idle_flush_asked_ = false;
    maybe_auto_flush();
}

void collection::tick(std::chrono::steady_clock::time_point now)
{
    if (ctx_ == nullptr || failure_ || dropped_ || options_.idle_flush_ms == 0 || idle_flush_asked_ ||
        active_->size() == 0 || now - last_write_ < std::chrono::milliseconds(options_.idle_flush_ms)) {
        return;
    }
    // A flush that has not frozen staging yet takes these rows; one running now leaves them, so
    // this waits for it (the next tick asks again).
    if (flush_lane_.queued.has_value() || flush_lane_.running.has_value()) {
        return;
    }
    idle_flush_asked_ = true;
    enqueue_job(job_kind::flush, nullptr);
}

void collection::enqueue_job(job_kind kind, unique_function<void(status)> done)
{
    lane& l = lane_of(kind);
    if (l.queued) {
        l.queued->done.push_back(std::move(done));
        return;
    }
    job j{kind, {}};
    j.done.push_back(std::move(done));
    if (l.running || dropped_) {
        l.queued = std::move(j);
        return;
    }
    l.running = std::move(j);
    start_job(kind);
}

void collection::start_job(job_kind kind)
{
    if (kind == job_kind::flush) {
        start_flush();
    } else {
        start_compaction();
    }
}

void collection::finish_job(job_kind kind, status s)
{
    lane& l = lane_of(kind);
    PUFFER_ASSERT(l.running.has_value());
    job finished = std::move(*l.running);
    l.running.reset();
    if (!s && dropping_) {
        s = make_error(errc::not_found, "collection '" + name_ + "' was deleted");
    }
    if (!s) {
        PUFFER_LOG(warn, "collection '%s': %s failed: %s", name_.c_str(), kind == job_kind::flush ? "flush" : "compaction",
                   s.error().message().c_str());
    }
    for (auto& d : finished.done) {
        if (d) {
            d(s);
        }
    }
    if (dropped_) {
        return;
    }
    if (l.queued) {
        l.running = std::move(l.queued);
        l.queued.reset();
        start_job(kind);
    }
    // After a flush or a compaction the policy may want another compaction (too many segments,
    // a table grown too coarse, segments of an older table).
    if (s && compaction_wanted() && !compact_lane_.queued && !compact_lane_.running) {
        enqueue_job(job_kind::compact, nullptr);
    }
    // A failed flush is not retried from here (that would spin while the disk is full): the
    // next write that reaches the threshold asks again.
    if (s || kind != job_kind::flush) {
        maybe_auto_flush();
    }
}

// ---------------------------------------------------------------------------------------------
// The policy's inputs

policy_options collection::policy() const
{
    policy_options p;
    p.segments_max = options_.segments_max;
    p.tombstone_ratio_max = options_.tombstone_ratio_max;
    p.fixed_cluster_count = options_.cluster_count;
    return p;
}

std::vector<segment_summary> collection::summaries() const
{
    std::vector<segment_summary> out;
    out.reserve(segments_.size());
    for (const auto& rec : segments_) {
        out.push_back(segment_summary{rec.id(), rec.seg->vector_count(), rec.live(), rec.seg->cluster_count(),
                                      rec.quantizer});
    }
    return out;
}

std::shared_ptr<const storage::segment> collection::current_table() const
{
    if (segments_.empty()) {
        return nullptr;
    }
    std::uint64_t current = current_quantizer(summaries());
    const segment_record* best = nullptr;
    for (const auto& rec : segments_) {
        if (rec.quantizer == current && (best == nullptr || rec.seg->vector_count() > best->seg->vector_count())) {
            best = &rec;
        }
    }
    return best->seg;
}

bool collection::compaction_wanted() const
{
    return choose_compaction(summaries(), policy()).what != compaction_choice::kind::none;
}

// ---------------------------------------------------------------------------------------------
// MANIFEST installs

void collection::write_manifest(format::manifest m, unique_function<void(status)> then)
{
    auto self = shared_from_this();
    std::string path = io::join_path(dir_, manifest_file_name);
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
    m.unindexed_fields = *unindexed_;
    m.quantization = options_.quantization;
    for (const auto& rec : segments_) {
        m.segments.push_back(manifest_entry(*rec.seg, [&rec](std::size_t p) { return rec.is_dead(p); }));
    }
    return m;
}

void collection::install_manifest(install request)
{
    installs_.push_back(std::move(request));
    if (!installing_) {
        next_install();
    }
}

void collection::next_install()
{
    if (installs_.empty() || dropped_) {
        installing_ = false;
        return;
    }
    installing_ = true;
    install request = std::move(installs_.front());
    installs_.pop_front();
    auto self = shared_from_this();
    write_manifest(request.make(), [self, then = std::move(request.then)](status s) mutable {
        if (self->dropped_) {
            return;
        }
        then(std::move(s));
        self->next_install();
    });
}

void collection::install_built(job_kind kind, unique_function<format::manifest()> make,
                               std::shared_ptr<built_segment> built, unique_function<void()> commit)
{
    auto self = shared_from_this();
    install_manifest(install{std::move(make), [self, kind, built, commit = std::move(commit)](status s) mutable {
                                 if (!s) {
                                     // The job fails and its rows stay where they were (staging and
                                     // WAL, or the old segments). The new segment's file stays until a
                                     // later MANIFEST is durable: this write may have failed after its
                                     // rename, so the MANIFEST on disk may name it.
                                     if (built) {
                                         self->keep_until_next_manifest(built->seg->path());
                                     }
                                     self->finish_job(kind, s);
                                     return;
                                 }
                                 commit();
                             }});
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

void collection::insert_segment(segment_record rec)
{
    // Ascending id, which find_segment relies on. A flush and a compaction run side by side, so
    // a flush's segment (its id taken when it started) may land after a newer compaction's.
    auto at = std::lower_bound(segments_.begin(), segments_.end(), rec.id(),
                               [](const segment_record& s, std::uint64_t v) { return s.id() < v; });
    segments_.insert(at, std::move(rec));
}

void collection::adopt(segment_record& rec, const unique_function<source_row(std::size_t)>& source_of)
{
    for (std::size_t p = 0; p < rec.seg->vector_count(); ++p) {
        source_row src = source_of(p);
        if (src.dead) {
            rec.kill(p);
            continue;
        }
        auto it = ids_.find(std::string(src.id));
        PUFFER_ASSERT(it != ids_.end());
        PUFFER_ASSERT(it->second.container == src.container);
        PUFFER_ASSERT(it->second.row == src.row);
        it->second = location{rec.id(), static_cast<std::uint32_t>(p)};
    }
}

// ---------------------------------------------------------------------------------------------
// Flush

void collection::start_flush()
{
    if (failure_) {
        finish_job(job_kind::flush, failed_error());
        return;
    }
    if (active_->size() == 0 && frozen_.empty() && wal_.size_bytes() <= wal::file_header_size_bytes) {
        finish_job(job_kind::flush, ok());  // nothing to index and no log to retire
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
                self->finish_job(job_kind::flush, created.error());
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
    if (!frozen_.empty() || active_->size() > 0) {
        frozen_.push_back(active_);
    }
    active_ = new_staging(wal_.number());
    changed();

    // Which frozen rows are live now (the dead bitmaps as of now: later deaths copy them); the
    // rows themselves are gathered off the shard (frozen staging is append-closed, so immutable).
    std::vector<std::shared_ptr<staging>> sources = frozen_;
    std::vector<std::shared_ptr<const bitmap>> dead_now;
    std::size_t live_rows = 0;
    for (const auto& st : sources) {
        dead_now.push_back(st->dead);
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
        return source_row{st.is_dead(src.row), st.rows->id(src.row), st.container, src.row};
    };

    // Commit on the shard once the MANIFEST naming the new state is durable.
    auto started = std::chrono::steady_clock::now();
    bool trains = current_table() == nullptr;
    auto commit = [self, source_of, new_wal_start, started, trains](std::shared_ptr<built_segment> built,
                                                                     std::uint64_t quantizer) {
        std::vector<std::string> obsolete;
        if (built) {
            PUFFER_LOG(info, "collection '%s': flushed %zu rows to segment %llu (%zu clusters, %s) in %.0f ms",
                       self->name_.c_str(), built->seg->vector_count(),
                       static_cast<unsigned long long>(built->seg->id()), built->seg->cluster_count(),
                       trains ? "a new table" : "the current table", ms_since(started));
            segment_record rec{built->seg, std::make_shared<bitmap>(built->seg->vector_count()), quantizer};
            self->adopt(rec, [&](std::size_t p) { return source_of(*built, p); });
            self->insert_segment(std::move(rec));
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
        self->changed();
        self->take_unreferenced_segments(obsolete);
        self->remove_files_in_background(std::move(obsolete));
        self->finish_job(job_kind::flush, ok());
    };

    // The MANIFEST for the new state: made when its turn comes, with the tombstones then (later
    // deletes are in the WAL).
    auto install = [self, source_of, new_wal_start, commit](std::shared_ptr<built_segment> built,
                                                            std::uint64_t quantizer) mutable {
        auto make = [self, source_of, new_wal_start, built] {
            format::manifest m = self->manifest_now();
            m.wal_start = new_wal_start;
            if (built) {
                add_manifest_entry(m, manifest_entry(*built->seg, [&](std::size_t p) { return source_of(*built, p).dead; }));
            }
            return m;
        };
        self->install_built(job_kind::flush, std::move(make), built,
                            [commit, built, quantizer]() mutable { commit(built, quantizer); });
    };

    if (live_rows == 0) {
        install(nullptr, 0);
        return;
    }
    // New rows go to the collection's current centroid table, without training; the first
    // segment trains one. The table's segment stays alive (held here) for the build.
    std::shared_ptr<const storage::segment> table_segment = current_table();
    std::uint64_t quantizer = 0;
    build_table table;
    if (table_segment) {
        table.centroids = table_segment->reader().centroids();
        table.cluster_count = table_segment->cluster_count();
        quantizer = find_segment(table_segment->id())->quantizer;
    } else {
        table.cluster_count = first_table_cluster_count(live_rows, dimension_, policy());
    }
    std::uint64_t id = next_segment_id_++;
    if (!table_segment) {
        quantizer = id;
    }
    ctx_->background([self, rows, sources, dead_now, id, table, table_segment, quantizer,
                      install = std::move(install)]() mutable {
        std::size_t d = self->dimension_;
        for (std::size_t fi = 0; fi < sources.size(); ++fi) {
            const query::staged_rows& st = *sources[fi]->rows;
            const bitmap& dead = *dead_now[fi];
            for (std::size_t row = 0; row < st.size(); ++row) {
                if (row < dead.size() && dead.test(row)) {
                    continue;
                }
                rows->vectors.insert(rows->vectors.end(), st.vector(row), st.vector(row) + d);
                rows->ids.emplace_back(st.id(row));
                rows->payloads.emplace_back(st.payload(row));
                rows->sources.push_back({static_cast<std::uint32_t>(fi), static_cast<std::uint32_t>(row)});
            }
            // Frozen: nothing appends to it any more, so its index may be read here.
            rows->source_attributes.push_back(&st.attributes());
        }
        // Once assigned to the current table, the frozen rows are searched through its clusters
        // while the segment is written and synced, instead of all of them by every search.
        assigned_fn publish = [self, rows, sources, quantizer](const index::ivf_layout& layout) {
            auto lists = staged_clusters_of(layout, *rows, sources.size());
            self->ctx_->post([self, sources, quantizer, lists = std::move(lists)] {
                bool published = false;
                for (std::size_t fi = 0; fi < sources.size() && !self->dropped_; ++fi) {
                    if (std::find(self->frozen_.begin(), self->frozen_.end(), sources[fi]) != self->frozen_.end()) {
                        sources[fi]->clusters = lists[fi];
                        sources[fi]->clusters_quantizer = quantizer;
                        published = true;
                    }
                }
                if (published) {
                    self->changed();
                }
            });
        };
        auto built = build_segment(self->env_, segments_dir_of(self->dir_), id, self->metric_, *rows, table,
                                   self->options_, self->ctx_->pool(), &self->stop_builds_, publish);
        table_segment.reset();
        self->ctx_->post([self, id, quantizer, built = std::move(built), install = std::move(install)]() mutable {
            if (self->dropped_) {
                return;
            }
            if (!built) {
                // Whatever was written of the file is no MANIFEST's: free the space now.
                self->remove_files_in_background(
                    {io::join_path(segments_dir_of(self->dir_), format::segment_file_name(id))});
                self->finish_job(job_kind::flush, built.error());
                return;
            }
            install(std::make_shared<built_segment>(std::move(*built)), quantizer);
        });
    });
}

// ---------------------------------------------------------------------------------------------
// Compaction

void collection::start_compaction()
{
    if (failure_) {
        finish_job(job_kind::compact, failed_error());
        return;
    }
    compaction_choice choice = choose_compaction(summaries(), policy());
    if (choice.what == compaction_choice::kind::none) {
        finish_job(job_kind::compact, ok());
        return;
    }
    // The chosen segments and which of their rows are live now (tombstone bitmaps as of now:
    // rows that die later are tombstoned at commit).
    std::vector<std::shared_ptr<const storage::segment>> chosen;
    std::vector<std::shared_ptr<const bitmap>> dead_now;
    std::size_t live_rows = 0;
    for (std::uint64_t sid : choice.segments) {
        segment_record* rec = find_segment(sid);
        PUFFER_ASSERT(rec != nullptr);
        chosen.push_back(rec->seg);
        dead_now.push_back(rec->tombstones);
        live_rows += rec->live();
    }
    bool retrain = choice.what == compaction_choice::kind::retrain;
    std::shared_ptr<const storage::segment> table_segment = retrain ? nullptr : current_table();
    build_table table;
    std::uint64_t quantizer = 0;
    if (table_segment) {
        table.centroids = table_segment->reader().centroids();
        table.cluster_count = table_segment->cluster_count();
        quantizer = find_segment(table_segment->id())->quantizer;
    } else {
        table.cluster_count = choice.cluster_count;
    }
    auto self = shared_from_this();
    std::uint64_t id = live_rows > 0 ? next_segment_id_++ : 0;
    if (!table_segment) {
        quantizer = id;
    }

    auto started = std::chrono::steady_clock::now();
    auto finish = [self, chosen, retrain, quantizer, started](std::shared_ptr<build_rows> rows,
                                                               std::shared_ptr<built_segment> built) {
        std::string replaced_ids;
        for (const auto& seg : chosen) {
            replaced_ids += (replaced_ids.empty() ? "" : ",") + std::to_string(seg->id());
        }
        if (built) {
            PUFFER_LOG(info, "collection '%s': compaction (%s) of segments %s: %zu rows in segment %llu (%zu clusters) in %.0f ms",
                       self->name_.c_str(), retrain ? "a new table" : "merge", replaced_ids.c_str(),
                       built->seg->vector_count(), static_cast<unsigned long long>(built->seg->id()),
                       built->seg->cluster_count(), ms_since(started));
        } else {
            PUFFER_LOG(info, "collection '%s': compaction of segments %s: no live rows left (%.0f ms)",
                       self->name_.c_str(), replaced_ids.c_str(), ms_since(started));
        }
        auto source_of = [self, chosen, rows](const built_segment& b, std::size_t p) {
            const auto& src = rows->sources[b.position_source[p]];
            const storage::segment& old = *chosen[src.container_index];
            const segment_record* rec = self->find_segment(old.id());
            PUFFER_ASSERT(rec != nullptr);
            return source_row{rec->is_dead(src.row), old.reader().id(src.row), old.id(), src.row};
        };
        std::set<std::uint64_t> replaced;
        for (const auto& seg : chosen) {
            replaced.insert(seg->id());
        }
        auto make = [self, built, replaced, source_of] {
            format::manifest m = self->manifest_now();
            std::erase_if(m.segments, [&](const format::manifest_segment& e) { return replaced.count(e.id) > 0; });
            if (built) {
                add_manifest_entry(m, manifest_entry(*built->seg, [&](std::size_t p) { return source_of(*built, p).dead; }));
            }
            return m;
        };
        self->install_built(job_kind::compact, std::move(make), built,
                            [self, built, replaced, source_of, retrain, quantizer]() mutable {
            std::optional<segment_record> added;
            if (built) {
                added = segment_record{built->seg, std::make_shared<bitmap>(built->seg->vector_count()), quantizer};
                self->adopt(*added, [&](std::size_t p) { return source_of(*built, p); });
            }
            std::vector<std::string> obsolete;
            std::erase_if(self->segments_, [&](const segment_record& rec) {
                if (replaced.count(rec.id()) == 0) {
                    return false;
                }
                self->retire(rec);
                obsolete.push_back(rec.seg->path());
                return true;
            });
            if (added) {
                self->insert_segment(std::move(*added));
            }
            ++self->compactions_;
            if (retrain) {
                ++self->retrains_;
            }
            self->changed();
            self->take_unreferenced_segments(obsolete);
            self->remove_files_in_background(std::move(obsolete));
            self->finish_job(job_kind::compact, ok());
        });
    };

    if (live_rows == 0) {
        finish(std::make_shared<build_rows>(), nullptr);
        return;
    }
    ctx_->background([self, chosen, dead_now, id, table, table_segment, finish = std::move(finish)]() mutable {
        auto rows = std::make_shared<build_rows>();
        rows->dimension = self->dimension_;
        status read_status = ok();
        std::vector<float> cluster;
        for (std::size_t si = 0; si < chosen.size() && read_status; ++si) {
            const storage::segment& seg = *chosen[si];
            const bitmap& dead = *dead_now[si];
            auto f = self->env_.open(seg.path(), io::open_mode::read);
            if (!f) {
                read_status = f.error();
                break;
            }
            // Immutable, and held by `chosen` for the build: renumbered into the new segment's.
            rows->source_attributes.push_back(seg.reader().attributes().get());
            for (std::size_t c = 0; c < seg.cluster_count() && read_status; ++c) {
                if (auto s = seg.reader().read_cluster(**f, c, cluster); !s) {
                    read_status = s;
                    break;
                }
                for (std::size_t i = 0; i < seg.reader().cluster_length(c); ++i) {
                    std::size_t p = seg.reader().cluster_start(c) + i;
                    if (dead.test(p)) {
                        continue;
                    }
                    rows->vectors.insert(rows->vectors.end(),
                                         cluster.begin() + static_cast<std::ptrdiff_t>(i * self->dimension_),
                                         cluster.begin() + static_cast<std::ptrdiff_t>((i + 1) * self->dimension_));
                    rows->owned.emplace_back(seg.reader().id(p));
                    auto payload = seg.reader().read_payload(**f, p);
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
                                                                  self->metric_, *rows, table, self->options_,
                                                                  self->ctx_->pool(), &self->stop_builds_)
                                                  : result<built_segment>(read_status.error());
        table_segment.reset();
        self->ctx_->post([self, id, rows, built = std::move(built), finish = std::move(finish)]() mutable {
            if (self->dropped_) {
                return;
            }
            if (!built) {
                self->remove_files_in_background(
                    {io::join_path(segments_dir_of(self->dir_), format::segment_file_name(id))});
                self->finish_job(job_kind::compact, built.error());
                return;
            }
            finish(rows, std::make_shared<built_segment>(std::move(*built)));
        });
    });
}

}  // namespace puffer::collection
