// Writes that choose their points by reading the collection (delete by filter, payload patch),
// the order that lets them see every write before them, and reading points back by id.
//
// A write is logged first and applied when its group is durable, so at any moment writes may be
// logged but not yet applied. A write that chose its points from the applied state then could
// miss one of them (or delete a point whose replacement no longer matches) and log a choice no
// order of the writes explains. So writes start in arrival order: a reading write starts once
// no write is pending, chooses its points from the view of that moment, logs plain ids (a
// remove record, or an upsert of the changed points with their vectors), and the writes that
// arrived meanwhile start after its record. Replay applies the same records in the same order:
// the same outcome.
#include "engine/collection/collection.hpp"

#include "engine/core/assert.hpp"
#include "engine/core/log.hpp"
#include "engine/query/filtering.hpp"

#include <algorithm>
#include <unordered_set>

namespace puffer::collection {

void collection::submit_write(bool reads, unique_function<void(status run)> start)
{
    if (write_queue_.empty() && !reading_write_ && (!reads || writes_pending_ == 0)) {
        reading_write_ = reads;
        start(ok());
        return;
    }
    if (write_queue_.size() >= write_queue_max) {
        start(make_error(errc::busy, strprintf("collection '%s' has %zu writes waiting for their turn; retry",
                                               name_.c_str(), write_queue_.size())));
        return;
    }
    write_queue_.push_back({reads, std::move(start)});
}

void collection::end_reading_write()
{
    PUFFER_ASSERT(reading_write_);
    reading_write_ = false;
    run_queued_writes();
}

void collection::run_queued_writes()
{
    // A write that starts may answer at once (a failed log) and land here again: the outer call
    // goes on, so the stack does not grow with the queue.
    if (draining_writes_) {
        return;
    }
    draining_writes_ = true;
    while (!write_queue_.empty() && !reading_write_) {
        if (write_queue_.front().reads && writes_pending_ > 0) {
            break;  // the last pending write's completion comes back here
        }
        queued_write w = std::move(write_queue_.front());
        write_queue_.pop_front();
        reading_write_ = w.reads;
        w.start(ok());
    }
    draining_writes_ = false;
}

std::uint32_t collection::view_container(const location& where) const
{
    if ((where.container & staging_container_bit) != 0) {
        for (std::size_t i = 0; i < frozen_.size(); ++i) {
            if (frozen_[i]->container == where.container) {
                return static_cast<std::uint32_t>(segments_.size() + i);
            }
        }
        PUFFER_ASSERT(active_->container == where.container);
        return static_cast<std::uint32_t>(segments_.size() + frozen_.size());
    }
    auto it = std::lower_bound(segments_.begin(), segments_.end(), where.container,
                               [](const segment_record& s, std::uint64_t v) { return s.id() < v; });
    PUFFER_ASSERT(it != segments_.end() && it->id() == where.container);
    return static_cast<std::uint32_t>(it - segments_.begin());
}

collection::located collection::locate(const std::vector<std::string>& ids)
{
    located out;
    out.view = view();
    std::unordered_set<std::string_view> seen;
    for (const auto& id : ids) {
        if (!seen.insert(id).second) {
            continue;
        }
        auto it = ids_.find(id);
        if (it == ids_.end()) {
            out.missing.push_back(id);
            continue;
        }
        out.rows.push_back({view_container(it->second), it->second.row});
    }
    return out;
}

namespace {

// The rows of view that f matches, as references.
std::vector<query::row_ref> matching_rows(const query::read_view& v, const index::filter& f)
{
    query::filtered_rows m;
    query::match_rows(v, f, m);
    std::vector<query::row_ref> rows;
    rows.reserve(m.total());
    auto add = [&rows](const bitmap& b, std::size_t container) {
        for (std::uint32_t row : b.list()) {
            rows.push_back({static_cast<std::uint32_t>(container), row});
        }
    };
    for (std::size_t s = 0; s < m.segments.size(); ++s) {
        add(m.segments[s], s);
    }
    for (std::size_t s = 0; s < m.staging.size(); ++s) {
        add(m.staging[s], v.segments.size() + s);
    }
    return rows;
}

}  // namespace

void collection::remove_matching(std::shared_ptr<const index::filter> f,
                                 unique_function<void(result<std::size_t>)> done)
{
    if (failure_) {
        done(failed_error());
        return;
    }
    PUFFER_ASSERT(f != nullptr);
    if (auto s = check_filter(*f); !s) {
        done(s.error());
        return;
    }
    submit_write(true, [self = shared_from_this(), f = std::move(f), done = std::move(done)](status run) mutable {
        if (!run) {
            done(run.error());
            return;
        }
        if (self->dropped_) {
            self->end_reading_write();
            done(make_error(errc::not_found, "collection '" + self->name_ + "' was deleted"));
            return;
        }
        auto v = self->view();
        std::vector<std::string> ids;
        for (query::row_ref r : matching_rows(*v, *f)) {
            ids.emplace_back(v->id(r.container, r.row));
        }
        if (ids.empty()) {
            self->end_reading_write();
            done(0);
            return;
        }
        self->log_remove(std::move(ids), std::move(done));
        self->end_reading_write();
    });
}

void collection::patch_payloads(payload_patch patch, query::executor& reader,
                                unique_function<void(result<std::size_t>)> done)
{
    if (failure_) {
        done(failed_error());
        return;
    }
    if (auto s = index::check_payload_patch(patch.payload); !s) {
        done(s.error());
        return;
    }
    if (patch.ids.empty() && !patch.filter) {
        done(make_error(errc::invalid_argument, "a payload patch needs ids or a filter"));
        return;
    }
    if (patch.filter) {
        if (auto s = check_filter(*patch.filter); !s) {
            done(s.error());
            return;
        }
    }
    if (patch.ids.size() > batch_points_max) {
        done(make_error(errc::invalid_argument, strprintf("at most %zu ids in one patch", batch_points_max)));
        return;
    }
    auto self = shared_from_this();
    submit_write(true, [self, patch = std::move(patch), &reader, done = std::move(done)](status run) mutable {
        if (!run) {
            done(run.error());
            return;
        }
        auto fail = [&self, &done](error e) {
            self->end_reading_write();
            done(std::move(e));
        };
        if (self->dropped_) {
            fail(make_error(errc::not_found, "collection '" + self->name_ + "' was deleted"));
            return;
        }
        query::fetch_request f;
        f.include_payload = true;
        f.include_vector = true;
        f.bytes_max = patch_bytes_max;
        f.vector_value_bytes = sizeof(float);  // held as floats, not answered as text
        std::shared_ptr<const query::read_view> v;
        if (!patch.ids.empty()) {
            located l = self->locate(patch.ids);
            v = std::move(l.view);
            f.rows = std::move(l.rows);
        } else {
            v = self->view();
            f.rows = matching_rows(*v, *patch.filter);
        }
        if (f.rows.size() > batch_points_max) {
            fail(make_error(errc::invalid_argument,
                            strprintf("the filter matches %zu points; one patch changes at most %zu: narrow the filter",
                                      f.rows.size(), batch_points_max)));
            return;
        }
        if (f.rows.empty()) {
            self->end_reading_write();
            done(0);
            return;
        }
        const std::size_t d = self->dimension_;
        reader.fetch(std::move(v), std::move(f),
                     [self, payload = std::move(patch.payload), mode = patch.mode, d,
                      done = std::move(done)](result<std::vector<query::stored_point>> got) mutable {
            auto fail = [&self, &done](error e) {
                self->end_reading_write();
                done(std::move(e));
            };
            if (!got) {
                fail(got.error());
                return;
            }
            if (self->dropped_) {
                fail(make_error(errc::not_found, "collection '" + self->name_ + "' was deleted"));
                return;
            }
            auto patcher = index::payload_patcher::make(payload, mode);
            if (!patcher) {
                fail(patcher.error());
                return;
            }
            point_batch batch;
            batch.dimension = d;
            // What the record will hold, bounded as it grows: a patch of many points with a large
            // payload each would otherwise build it whole before the log refused it.
            std::size_t record_bytes = 0;
            batch.ids.reserve(got->size());
            batch.payloads.reserve(got->size());
            batch.vectors.reserve(got->size() * d);
            for (auto& p : *got) {
                auto changed = patcher->apply(p.payload);
                if (changed && *changed == p.payload) {
                    continue;  // unchanged: not rewritten, not counted
                }
                if (!changed) {
                    error e = changed.error();
                    e.context = "point '" + p.id + "': " + e.context;
                    fail(std::move(e));
                    return;
                }
                if (changed->size() > payload_size_bytes_max) {
                    fail(make_error(errc::invalid_argument, strprintf("point '%s': the patched payload is over %zu bytes",
                                                                      p.id.c_str(), payload_size_bytes_max)));
                    return;
                }
                PUFFER_ASSERT(p.vector.size() == d);
                record_bytes += p.id.size() + changed->size() + d * sizeof(float) + 16;
                if (record_bytes > patch_bytes_max) {
                    fail(make_error(errc::too_large,
                                    strprintf("the patched points would take over %zu bytes to log; a patch "
                                              "rewrites at most that much at once: narrow the filter or the ids",
                                              patch_bytes_max)));
                    return;
                }
                batch.ids.push_back(std::move(p.id));
                batch.payloads.push_back(std::move(*changed));
                batch.vectors.insert(batch.vectors.end(), p.vector.begin(), p.vector.end());
            }
            std::size_t n = batch.size();
            if (n == 0) {
                self->end_reading_write();
                done(0);
                return;
            }
            self->log_upsert(std::move(batch), [n, done = std::move(done)](status s) mutable {
                if (!s) {
                    done(s.error());
                    return;
                }
                done(n);
            });
            self->end_reading_write();
        });
    });
}

}  // namespace puffer::collection
