// Recall of a collection's searches, measured on request: queries given by the caller, or stored
// points sampled from the view (their vectors read off the shard, each from its whole cluster so
// the cluster's crc checks it), searched once as asked and once exhaustively (every cluster of
// every segment, and staging), the two answers compared.
#include "engine/core/assert.hpp"
#include "engine/core/log.hpp"
#include "engine/query/executor.hpp"

#include <algorithm>
#include <memory>
#include <random>
#include <set>

namespace puffer::query {

void executor::measure_recall(std::shared_ptr<const read_view> view, recall_request request, recall_done done)
{
    if (request.top_k < 1 || request.top_k > 1000 || request.num_queries < 1 ||
        request.num_queries > recall_queries_max || request.queries.size() > recall_queries_max) {
        done(make_error(errc::invalid_argument,
                        strprintf("a recall measurement takes 1 to %zu queries and top_k from 1 to 1000",
                                  recall_queries_max)));
        return;
    }
    if (!request.queries.empty()) {
        auto queries = std::move(request.queries);
        recall_searches(std::move(view), std::move(request), std::move(queries), std::move(done));
        return;
    }
    // Sample live points: a container by its rows, then a row in it, until enough distinct ones.
    std::vector<std::size_t> sizes;
    std::size_t total = 0;
    for (const auto& s : view->segments) {
        sizes.push_back(s.segment->vector_count());
        total += sizes.back();
    }
    for (const auto& st : view->staging) {
        sizes.push_back(st.row_count);
        total += st.row_count;
    }
    std::size_t live = view->live_points;
    if (live == 0 || total == 0) {
        done(make_error(errc::invalid_argument, "the collection holds no points to sample queries from"));
        return;
    }
    std::size_t wanted = std::min(request.num_queries, live);
    std::mt19937_64 rng(request.seed != 0 ? request.seed : std::random_device{}());
    std::set<std::pair<std::size_t, std::size_t>> chosen;  // (container, row)
    for (std::size_t attempts = 0; chosen.size() < wanted && attempts < wanted * 64 + 1024; ++attempts) {
        std::size_t pick = rng() % total;
        std::size_t c = 0;
        while (pick >= sizes[c]) {
            pick -= sizes[c++];
        }
        bool dead = false;
        if (c < view->segments.size()) {
            const auto& t = view->segments[c].tombstones;
            dead = t && t->test(pick);
        } else {
            const auto& d = view->staging[c - view->segments.size()].dead;
            dead = d && pick < d->size() && d->test(pick);
        }
        if (!dead) {
            chosen.insert({c, pick});
        }
    }
    std::vector<std::vector<float>> queries;
    std::vector<std::pair<std::size_t, std::size_t>> from_segments;
    for (auto [c, row] : chosen) {
        if (c >= view->segments.size()) {
            const staged_rows& rows = *view->staging[c - view->segments.size()].rows;
            queries.emplace_back(rows.vector(row), rows.vector(row) + view->dimension);
        } else {
            from_segments.emplace_back(c, row);
        }
    }
    if (from_segments.empty()) {
        recall_searches(std::move(view), std::move(request), std::move(queries), std::move(done));
        return;
    }
    // Segment rows are read off the shard, each with its whole (crc-checked) cluster.
    ++searches_active_;  // the shard does not end while the reads are out
    auto state = std::make_shared<recall_request>(std::move(request));
    auto got = std::make_shared<std::vector<std::vector<float>>>(std::move(queries));
    auto finish = std::make_shared<recall_done>(std::move(done));
    std::size_t self = host_.shard_index();
    host_.background([this, self, view, from_segments, state, got, finish]() mutable {
        status s = ok();
        std::vector<float> cluster;
        const std::size_t d = view->dimension;
        for (std::size_t i = 0; i < from_segments.size() && s; ++i) {
            const storage::segment& seg = *view->segments[from_segments[i].first].segment;
            auto position = static_cast<std::uint32_t>(from_segments[i].second);
            auto f = host_.env().open(seg.path(), io::open_mode::read);
            if (!f) {
                s = f.error();
                break;
            }
            // The cluster that holds the position: extents tile the positions in order.
            std::size_t lo = 0;
            std::size_t hi = seg.cluster_count();
            while (hi - lo > 1) {
                std::size_t mid = (lo + hi) / 2;
                (seg.reader().cluster_start(mid) <= position ? lo : hi) = mid;
            }
            while (seg.reader().cluster_length(lo) == 0 || seg.reader().cluster_start(lo) > position) {
                --lo;  // empty clusters share their start with the next
            }
            s = seg.reader().read_cluster(**f, lo, cluster);
            if (s) {
                std::size_t at = (position - seg.reader().cluster_start(lo)) * d;
                got->emplace_back(cluster.begin() + static_cast<std::ptrdiff_t>(at),
                                  cluster.begin() + static_cast<std::ptrdiff_t>(at + d));
            }
        }
        struct back {
            std::shared_ptr<const read_view> view;
            std::shared_ptr<recall_request> state;
            std::shared_ptr<std::vector<std::vector<float>>> got;
            std::shared_ptr<recall_done> finish;
            status read;
        };
        auto* b = new back{std::move(view), state, got, finish, std::move(s)};
        bool posted = host_.post_to(
            self,
            [](executor& e, void* arg) {
                std::unique_ptr<back> m(static_cast<back*>(arg));
                --e.searches_active_;
                if (!m->read) {
                    (*m->finish)(m->read.error());
                    return;
                }
                e.recall_searches(std::move(m->view), std::move(*m->state), std::move(*m->got),
                                  std::move(*m->finish));
            },
            b);
        PUFFER_ASSERT(posted);  // the shard waits for this (searches_active_)
    });
}

void executor::recall_searches(std::shared_ptr<const read_view> view, recall_request request,
                               std::vector<std::vector<float>> queries, recall_done done)
{
    std::vector<search_request> ann(queries.size());
    std::vector<search_request> exact(queries.size());
    for (std::size_t i = 0; i < queries.size(); ++i) {
        ann[i].vector = queries[i];
        ann[i].top_k = request.top_k;
        ann[i].nprobe = request.nprobe;
        ann[i].recall_target = request.recall_target;
        exact[i].vector = std::move(queries[i]);
        exact[i].top_k = request.top_k;
        exact[i].nprobe = std::size_t{1} << 30;  // every cluster of every table
        exact[i].use_codes = false;
    }
    search_batch(view, std::move(ann),
                 [this, view, exact = std::move(exact), top_k = request.top_k,
                  done = std::move(done)](result<batch_response> a) mutable {
        if (!a) {
            done(a.error());
            return;
        }
        search_batch(view, std::move(exact),
                     [a = std::move(*a), top_k, done = std::move(done)](result<batch_response> x) mutable {
            if (!x) {
                done(x.error());
                return;
            }
            recall_response r;
            r.queries = a.results.size();
            r.top_k = top_k;
            double sum = 0;
            for (std::size_t i = 0; i < a.results.size(); ++i) {
                std::set<std::string> truth;
                for (const auto& h : x->results[i].hits) {
                    truth.insert(h.id);
                }
                std::size_t found = 0;
                for (const auto& h : a.results[i].hits) {
                    found += truth.count(h.id);
                }
                sum += truth.empty() ? 1.0 : static_cast<double>(found) / static_cast<double>(truth.size());
                r.vectors_scanned += static_cast<double>(a.results[i].stats.vectors_scanned);
                r.exhaustive_vectors_scanned += static_cast<double>(x->results[i].stats.vectors_scanned);
            }
            double n = static_cast<double>(std::max<std::size_t>(1, r.queries));
            r.recall = sum / n;
            r.vectors_scanned /= n;
            r.exhaustive_vectors_scanned /= n;
            if (!a.results.empty()) {
                r.nprobe = a.results[0].stats.nprobe;
                r.expected_recall = a.results[0].stats.expected_recall;
            }
            done(std::move(r));
        });
    });
}

bool executor::sample_this_search()
{
    if (options_.recall_sample <= 0) {
        return false;
    }
    // xorshift64: a share of searches, without a lock or a system call.
    sample_rng_ ^= sample_rng_ << 13;
    sample_rng_ ^= sample_rng_ >> 7;
    sample_rng_ ^= sample_rng_ << 17;
    return static_cast<double>(sample_rng_ >> 11) * 0x1p-53 < options_.recall_sample;
}

void executor::offer_sample(recall_sample sample)
{
    if (samples_.size() >= recall_samples_queued_max) {
        samples_.erase(samples_.begin());  // the re-runs are behind: the oldest goes
    }
    samples_.push_back(std::move(sample));  // run when the shard is idle (run_idle_work)
}

void executor::run_idle_work()
{
    if (!idle_work_waiting()) {
        return;
    }
    sample_running_ = true;
    recall_sample sample = std::move(samples_.front());
    samples_.erase(samples_.begin());
    search_request exact = sample.request;
    exact.nprobe = std::size_t{1} << 30;  // every cluster of every table (a filter: every match)
    exact.recall_target = 0;
    exact.include_payload = false;
    exact.use_codes = false;
    auto view = sample.view;
    const auto started = std::chrono::steady_clock::now();
    search_prepared(std::move(view), std::move(exact),
                    [this, started, sample = std::move(sample)](result<search_response> r) mutable {
        if (r) {
            std::set<std::string> truth;
            for (const auto& h : r->hits) {
                truth.insert(h.id);
            }
            std::size_t found = 0;
            for (const auto& id : sample.ids) {
                found += truth.count(id);
            }
            double recall = truth.empty() ? 1.0 : static_cast<double>(found) / static_cast<double>(truth.size());
            if (search_counters* c = sample.view->counters.get()) {
                c->add_recall_sample(recall);
            }
        }
        // The next one waits for the shard's next idle moment, and for its share of time.
        const auto now = std::chrono::steady_clock::now();
        next_sample_at_ = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    (now - started) * (1.0 / options_.recall_rerun_share - 1.0));
        sample_running_ = false;
    }, /*counted=*/false);
}

}  // namespace puffer::query
