#include "engine/db/database.hpp"

#include "engine/collection/collection.hpp"
#include "engine/core/log.hpp"
#include "engine/index/rabitq.hpp"
#include "engine/query/filtering.hpp"
#include "engine/shard/shard.hpp"

#include <algorithm>
#include <fcntl.h>
#include <pthread.h>
#include <random>
#include <set>
#include <sys/resource.h>
#include <thread>
#include <unordered_set>

namespace puffer::db {
namespace {

std::string collections_dir(const std::string& data_dir)
{
    return collections_dir_of(data_dir);
}

// FNV-1a: stable across runs and platforms, so a collection always maps to the same shard.
std::uint64_t stable_hash(std::string_view s)
{
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

error shutting_down_error()
{
    return make_error(errc::shutting_down, "the server is shutting down");
}

error bad_name_error(std::string_view name)
{
    return make_error(errc::invalid_argument,
                      "invalid collection name '" + std::string(name.substr(0, 80)) +
                          "': use 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'");
}

error not_found_error(const std::string& name)
{
    return make_error(errc::not_found, "collection '" + name + "' does not exist");
}

// Raises the open-file limit to the hard limit: every collection holds WAL and segment files.
void raise_file_limit()
{
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

// Direct mode reads every segment with O_DIRECT. A data directory whose file system refuses it
// fails the start here, once and clearly, rather than every collection with segments later (or,
// as before, reads that silently went through the page cache). The LOCK file exists by now and
// is opened exactly as segments are.
status check_direct_io(io::env& e, const std::string& data_dir)
{
    const std::string probe = io::join_path(data_dir, "LOCK");
    auto f = e.open(probe, io::open_mode::read_direct);
    std::string why;
    if (!f) {
        why = f.error().message();
    } else if (int flags = ::fcntl((*f)->fd(), F_GETFL); flags < 0 || (flags & O_DIRECT) == 0) {
        why = probe + ": opened, but O_DIRECT is not in effect";
    }
    if (why.empty()) {
        return ok();
    }
    return make_error(errc::invalid_argument,
                      "--io-mode direct needs O_DIRECT reads, which " + data_dir +
                          " does not give (" + why +
                          "); use --io-mode mmap, or a data directory on a file system with "
                          "direct I/O");
}

// "io_uring" when every shard has it, "sync ring" when none has, else shard by shard.
std::string describe_rings(const std::vector<std::string>& names)
{
    auto label = [](const std::string& n) { return n == "sync" ? std::string("sync ring") : n; };
    bool same = std::all_of(names.begin(), names.end(),
                            [&](const std::string& n) { return n == names.front(); });
    if (names.empty() || same) {
        return names.empty() ? "none" : label(names.front());
    }
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        out += (i == 0 ? "" : ", ") + strprintf("shard %zu ", i) + label(names[i]);
    }
    return out;
}

}  // namespace

bool valid_collection_name(std::string_view name)
{
    if (name.empty() || name.size() > 64) {
        return false;
    }
    for (char c : name) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

database::database(database_options options) : options_(std::move(options)) {}

database::~database()
{
    shutdown();
}

result<std::unique_ptr<database>> database::open(database_options options)
{
    std::unique_ptr<database> db(new database(std::move(options)));
    PUFFER_TRY(db->start());
    return db;
}

status database::start()
{
    env_ = options_.env != nullptr ? options_.env : &io::posix_env();
    std::size_t cores = std::max<unsigned>(1, std::thread::hardware_concurrency());
    std::size_t shard_count = options_.shards != 0 ? options_.shards : cores;
    std::size_t background = options_.background_threads != 0 ? options_.background_threads : cores;
    raise_file_limit();

    PUFFER_TRY(env_->make_dirs(collections_dir(options_.data_dir)));
    PUFFER_TRY_ASSIGN(lock_, env_->lock(io::join_path(options_.data_dir, "LOCK")));
    if (options_.collection.mode == collection::io_mode::direct) {
        PUFFER_TRY(check_direct_io(*env_, options_.data_dir));
    }
    options_.collection.cancel = &shutting_down_;
    options_.collection.dma_alignment_bytes =
        std::max(options_.collection.dma_alignment_bytes, io::dma_alignment(options_.data_dir));

    // Segment builds and compaction run at nice 10: under load, requests get the CPU first.
    pool_ = std::make_unique<thread_pool>(background, 10);
    std::vector<std::string> ring_names;
    for (std::size_t i = 0; i < shard_count; ++i) {
        std::unique_ptr<io::ring> ring;
        if (options_.make_ring) {
            ring = options_.make_ring(i);
        } else if (options_.use_uring) {
            io::uring_options uo;
            auto made = io::make_uring_ring(uo);
            if (made) {
                ring = std::move(*made);
            } else {
                PUFFER_LOG(warn, "io_uring unavailable (%s); shard %zu uses synchronous reads",
                           made.error().message().c_str(), i);
            }
        }
        if (!ring) {
            ring = io::make_sync_ring();
        }
        shard::shard_options so;
        so.index = i;
        so.cache_bytes = options_.cache_bytes / shard_count;
        so.cpu = options_.pin_shards && shard_count <= cores ? static_cast<int>(i % cores) : -1;
        so.executor = options_.executor;
        so.executor.dma_alignment_bytes = options_.collection.dma_alignment_bytes;
        ring_names.push_back(ring->name());
        shards_.push_back(std::make_unique<shard::shard>(so, std::move(ring), *pool_, *env_));
    }
    io_.ring = describe_rings(ring_names);
    io_.segment_reads =
        options_.collection.mode == collection::io_mode::direct ? "O_DIRECT" : "buffered (mmap)";

    PUFFER_TRY(remove_snapshot_leftovers(*env_, options_.data_dir));
    if (!options_.restore_file.empty()) {
        PUFFER_TRY(restore_offline());
    }

    // Recovery: every collection directory, in parallel on the pool, before the shards run.
    std::string dir = collections_dir(options_.data_dir);
    PUFFER_TRY_ASSIGN(auto names, env_->list(dir));
    std::vector<std::string> to_open;
    for (const auto& name : names) {
        if (name.rfind(".tmp-", 0) == 0 || name.rfind(".trash-", 0) == 0) {
            PUFFER_LOG(info, "removing leftover %s", name.c_str());
            PUFFER_TRY(env_->remove_all(io::join_path(dir, name)));
            continue;
        }
        if (!valid_collection_name(name)) {
            PUFFER_LOG(warn, "ignoring %s/%s: not a valid collection name", dir.c_str(), name.c_str());
            continue;
        }
        to_open.push_back(name);
    }
    std::vector<std::shared_ptr<collection::collection>> opened(to_open.size());
    pool_->parallel_for(to_open.size(), [&](std::size_t i) {
        opened[i] = collection::collection::open(*env_, io::join_path(dir, to_open[i]), to_open[i], options_.collection);
    });
    for (auto& c : opened) {
        shards_[shard_of(c->name())]->collections().emplace(c->name(), c);
    }
    std::vector<shard::shard*> peers;
    for (auto& s : shards_) {
        peers.push_back(s.get());
    }
    for (auto& s : shards_) {
        s->set_peers(peers);
    }
    for (auto& s : shards_) {
        s->start();
        shard::shard* sp = s.get();
        bool posted = s->post([sp] {
            for (auto& [name, c] : sp->collections()) {
                c->attach(*sp);
            }
        });
        PUFFER_ASSERT(posted);
    }
    if (options_.collection.idle_flush_ms != 0) {
        ticker_ = std::thread([this] { run_ticker(); });
    }
    PUFFER_LOG(info, "opened %s: %zu collections, %zu shards (%s), %zu background threads, cache %zu MiB",
               options_.data_dir.c_str(), opened.size(), shard_count, io_backend(), background,
               options_.cache_bytes >> 20);
    return ok();
}

void database::shutdown()
{
    if (shutting_down_.exchange(true)) {
        return;
    }
    if (ticker_.joinable()) {
        {
            std::lock_guard lock(ticker_mutex_);
            ticker_stop_ = true;
        }
        ticker_wake_.notify_all();
        ticker_.join();
    }
    // Every shard first refuses new calls, then each finishes what it has: a shard ends only
    // when no search of its own waits for a part from another.
    for (auto& s : shards_) {
        s->stop_accepting();
    }
    for (auto& s : shards_) {
        s->stop();
    }
    if (pool_) {
        pool_->shutdown(/*discard_queued=*/true);
    }
    shards_.clear();
    lock_.reset();
}

void database::wait_background()
{
    if (pool_) {
        pool_->wait_idle();
    }
}

void database::run_ticker()
{
    pthread_setname_np(pthread_self(), "ticker");
    constexpr auto tick_interval = std::chrono::milliseconds(250);
    std::unique_lock lock(ticker_mutex_);
    while (!ticker_wake_.wait_for(lock, tick_interval, [this] { return ticker_stop_; })) {
        for (auto& s : shards_) {
            shard::shard* sp = s.get();
            // A shard whose inbox is full skips this tick.
            (void)sp->post([sp] {
                auto now = std::chrono::steady_clock::now();
                for (auto& [name, c] : sp->collections()) {
                    c->tick(now);
                }
            });
        }
    }
}

std::size_t database::shard_of(std::string_view name) const
{
    return static_cast<std::size_t>(stable_hash(name) % shards_.size());
}

const char* database::io_backend() const
{
    return shards_.empty() ? "none" : shards_.front()->io_backend();
}

template <class Done, class Fn>
void database::on_owner(std::string name, Done done, Fn fn)
{
    if (!valid_collection_name(name)) {
        done(bad_name_error(name));
        return;
    }
    if (shutting_down_.load()) {
        done(shutting_down_error());
        return;
    }
    shard::shard* s = shards_[shard_of(name)].get();
    // The call (its name, done and fn) lives in one shared holder: if the post is refused the
    // task is destroyed unrun and done is answered from here; and the posted task, a pointer or
    // two, fits in unique_function's inline storage, so routing a call allocates once.
    struct call {
        std::string name;
        Done done;
        Fn fn;
    };
    auto holder = std::make_shared<call>(call{std::move(name), std::move(done), std::move(fn)});
    bool posted = s->post([s, holder]() mutable { holder->fn(*s, holder->name, std::move(holder->done)); });
    if (!posted) {
        holder->done(shutting_down_.load() ? shutting_down_error()
                                           : make_error(errc::busy, "the server is overloaded; retry"));
    }
}

template <class Done, class Fn>
void database::route(std::string name, Done done, Fn fn)
{
    on_owner(std::move(name), std::move(done), [fn = std::move(fn)](shard::shard& s, const std::string& n, Done d) mutable {
        auto it = s.collections().find(n);
        if (it == s.collections().end()) {
            d(not_found_error(n));
            return;
        }
        fn(*it->second, std::move(d));
    });
}

template <class Done, class Fn>
void database::route_open(std::string name, Done done, Fn fn)
{
    on_owner(std::move(name), std::move(done), [fn = std::move(fn)](shard::shard& s, const std::string& n, Done d) mutable {
        auto it = s.collections().find(n);
        if (it == s.collections().end()) {
            d(not_found_error(n));
            return;
        }
        if (it->second->failed()) {
            d(it->second->failed_error());
            return;
        }
        fn(s, *it->second, std::move(d));
    });
}

void database::create_collection(std::string name, std::size_t dimension, metric m, unique_function<void(status)> done)
{
    create_collection(std::move(name), dimension, m, collection::create_settings{}, std::move(done));
}

void database::create_collection(std::string name, std::size_t dimension, metric m,
                                 std::vector<std::string> unindexed_fields, unique_function<void(status)> done)
{
    collection::create_settings settings;
    settings.unindexed_fields = std::move(unindexed_fields);
    create_collection(std::move(name), dimension, m, std::move(settings), std::move(done));
}

void database::create_collection(std::string name, std::size_t dimension, metric m, collection::create_settings settings,
                                 unique_function<void(status)> done)
{
    std::vector<std::string>& unindexed_fields = settings.unindexed_fields;
    const index::quantization quantization = settings.quantization;
    if (dimension < 1 || dimension > dimension_max) {
        done(make_error(errc::invalid_argument, strprintf("dimension must be 1 to %zu", dimension_max)));
        return;
    }
    if (quantization == index::quantization::rabitq && dimension > index::rabitq_dimension_max) {
        done(make_error(errc::invalid_argument,
                        strprintf("quantization rabitq is offered up to dimension %zu (this collection has %zu); "
                                  "use sq8 or none",
                                  index::rabitq_dimension_max, dimension)));
        return;
    }
    if (unindexed_fields.size() > format::unindexed_fields_max) {
        done(make_error(errc::invalid_argument,
                        strprintf("at most %zu unindexed_fields", format::unindexed_fields_max)));
        return;
    }
    for (const auto& f : unindexed_fields) {
        bool empty_part = f.empty() || f.front() == '.' || f.back() == '.' || f.find("..") != std::string::npos;
        if (empty_part || f.size() > format::unindexed_field_bytes_max || f == "id") {
            done(make_error(errc::invalid_argument,
                            strprintf("unindexed_fields: '%s' must be a payload field or dotted path of 1 to %zu "
                                      "bytes without empty parts (and not \"id\")",
                                      f.substr(0, 300).c_str(), format::unindexed_field_bytes_max)));
            return;
        }
    }
    std::sort(unindexed_fields.begin(), unindexed_fields.end());
    unindexed_fields.erase(std::unique(unindexed_fields.begin(), unindexed_fields.end()), unindexed_fields.end());
    std::string dir = io::join_path(collections_dir(options_.data_dir), name);
    io::env* e = env_;
    collection::options copts = options_.collection;
    on_owner(std::move(name), std::move(done),
             [dimension, m, dir, e, copts, quantization, unindexed = std::move(unindexed_fields)](
                 shard::shard& s, const std::string& name, unique_function<void(status)> d) mutable {
        if (s.collections().count(name) != 0 || s.names_creating().count(name) != 0) {
            d(make_error(errc::already_exists, "collection '" + name + "' already exists"));
            return;
        }
        if (s.is_leaving(name)) {
            d(make_error(errc::busy, "collection '" + name + "' is being deleted; retry"));
            return;
        }
        s.names_creating().insert(name);
        auto holder = std::make_shared<unique_function<void(status)>>(std::move(d));
        shard::shard* sp = &s;
        s.background([sp, name, dimension, m, holder, dir, e, copts, quantization,
                      unindexed = std::move(unindexed)]() mutable {
            status created =
                collection::collection::create_on_disk(*e, dir, name, dimension, m, unindexed, quantization);
            std::shared_ptr<collection::collection> c;
            if (created) {
                c = collection::collection::open(*e, dir, name, copts);
                if (c->failed()) {
                    created = make_error(errc::io, "created but could not open: " + c->stats().failure);
                    // The answer says the creation failed: take the directory back, or it would
                    // appear at the next start (and block creating the name until then).
                    std::random_device rd;
                    std::string trash = io::join_path(io::parent_dir(dir),
                                                      strprintf(".trash-%s-%08x", name.c_str(), rd()));
                    if (e->rename(dir, trash) && e->sync_dir(io::parent_dir(dir))) {
                        (void)e->remove_all(trash);
                    }
                }
            }
            bool posted_back = sp->post([sp, name, holder, c, created = std::move(created)]() mutable {
                sp->names_creating().erase(name);
                if (created) {
                    c->attach(*sp);
                    sp->collections().emplace(name, c);
                }
                (*holder)(std::move(created));
            });
            if (!posted_back) {
                (*holder)(shutting_down_error());
            }
        });
    });
}

void database::drop_collection(std::string name, unique_function<void(status)> done)
{
    std::string parent = collections_dir(options_.data_dir);
    io::env* e = env_;
    on_owner(std::move(name), std::move(done),
             [parent, e](shard::shard& s, const std::string& name, unique_function<void(status)> d) {
        auto it = s.collections().find(name);
        if (it == s.collections().end()) {
            d(not_found_error(name));
            return;
        }
        if (s.is_leaving(name)) {
            d(make_error(errc::busy, "collection '" + name + "' is being deleted"));
            return;
        }
        // The collection is served until its directory has been renamed away: if the rename fails
        // (or its directory sync does, and the rename can be taken back), the answer is an error
        // and the collection is still there, as the answer says.
        std::erase_if(s.names_leaving(), [](const auto& entry) { return entry.second.expired(); });
        s.names_leaving()[name] = it->second;
        it->second->set_dropping(true);
        auto holder = std::make_shared<unique_function<void(status)>>(std::move(d));
        shard::shard* sp = &s;
        s.background([sp, name, holder, parent, e]() mutable {
            std::string dir = io::join_path(parent, name);
            std::random_device rd;
            std::string trash = io::join_path(parent, strprintf(".trash-%s-%08x", name.c_str(), rd()));
            status st = e->rename(dir, trash);
            bool renamed = st.has_value();
            if (st) {
                st = e->sync_dir(parent);
                if (!st && e->rename(trash, dir)) {
                    (void)e->sync_dir(parent);
                    renamed = false;
                }
            }
            if (st) {
                if (auto removed = e->remove_all(trash); !removed) {
                    PUFFER_LOG(warn, "%s (removed at next start)", removed.error().message().c_str());
                }
            }
            bool posted_back = sp->post([sp, name, holder, renamed, st = std::move(st)]() mutable {
                auto found = sp->collections().find(name);
                if (found != sp->collections().end()) {
                    auto c = found->second;
                    c->set_dropping(false);
                    if (renamed) {
                        sp->collections().erase(found);
                        c->drop();  // names_leaving keeps the name until c's work has ended
                    } else {
                        sp->names_leaving().erase(name);
                    }
                }
                (*holder)(std::move(st));
            });
            if (!posted_back) {
                (*holder)(shutting_down_error());
            }
        });
    });
}

template <class T, class Part>
void database::gather_shards(Part part, unique_function<void(result<std::vector<T>>)> done)
{
    struct gather {
        std::mutex mutex;
        std::vector<T> items;
        std::optional<error> failure;
        std::size_t remaining;
        unique_function<void(result<std::vector<T>>)> done;
    };
    if (shutting_down_.load() || shards_.empty()) {
        done(shutting_down_error());
        return;
    }
    auto g = std::make_shared<gather>();
    g->remaining = shards_.size();
    g->done = std::move(done);
    auto arrive = [g](result<std::vector<T>> items) {
        bool last = false;
        {
            std::lock_guard lock(g->mutex);
            if (items) {
                g->items.insert(g->items.end(), std::make_move_iterator(items->begin()),
                                std::make_move_iterator(items->end()));
            } else if (!g->failure) {
                g->failure = items.error();
            }
            last = --g->remaining == 0;
        }
        if (!last) {
            return;
        }
        if (g->failure) {
            g->done(*g->failure);
            return;
        }
        g->done(std::move(g->items));
    };
    for (auto& sp : shards_) {
        shard::shard* s = sp.get();
        if (shutting_down_.load()) {
            arrive(shutting_down_error());
        } else if (!s->post([s, arrive, part] { arrive(part(*s)); })) {
            arrive(shutting_down_.load() ? shutting_down_error() : make_error(errc::busy, "the server is overloaded; retry"));
        }
    }
}

template <class T, class Of>
void database::gather_collections(Of of, unique_function<void(result<std::vector<T>>)> done)
{
    gather_shards<T>(
        [of](shard::shard& s) {
            std::vector<T> part;
            part.reserve(s.collections().size());
            for (const auto& [name, c] : s.collections()) {
                part.push_back(of(*c));
            }
            return part;
        },
        std::move(done));
}

void database::list_collections(unique_function<void(result<std::vector<collection::collection_info>>)> done)
{
    gather_collections<collection::collection_info>(
        [](collection::collection& c) { return c.info(); },
        [done = std::move(done)](result<std::vector<collection::collection_info>> infos) mutable {
            if (infos) {
                std::sort(infos->begin(), infos->end(), [](const auto& a, const auto& b) { return a.name < b.name; });
            }
            done(std::move(infos));
        });
}

void database::all_stats(unique_function<void(result<std::vector<collection::collection_stats>>)> done)
{
    gather_collections<collection::collection_stats>(
        [](collection::collection& c) { return c.stats(); },
        [done = std::move(done)](result<std::vector<collection::collection_stats>> all) mutable {
            if (all) {
                std::sort(all->begin(), all->end(),
                          [](const auto& a, const auto& b) { return a.info.name < b.info.name; });
            }
            done(std::move(all));
        });
}

void database::shard_reports(unique_function<void(result<std::vector<shard::shard_report>>)> done)
{
    gather_shards<shard::shard_report>(
        [](shard::shard& s) { return std::vector<shard::shard_report>{s.make_report()}; },
        [done = std::move(done)](result<std::vector<shard::shard_report>> reports) mutable {
            if (reports) {
                std::sort(reports->begin(), reports->end(),
                          [](const auto& a, const auto& b) { return a.index < b.index; });
            }
            done(std::move(reports));
        });
}

void database::upsert(std::string name, point_batch batch, unique_function<void(status)> done)
{
    route(std::move(name), std::move(done),
          [batch = std::move(batch)](collection::collection& c, unique_function<void(status)> d) mutable {
              c.upsert(std::move(batch), std::move(d));
          });
}

void database::remove(std::string name, std::vector<std::string> ids, unique_function<void(result<std::size_t>)> done)
{
    route(std::move(name), std::move(done),
          [ids = std::move(ids)](collection::collection& c, unique_function<void(result<std::size_t>)> d) mutable {
              c.remove(std::move(ids), std::move(d));
          });
}

void database::search(std::string name, query::search_request request,
                      unique_function<void(result<query::search_response>)> done)
{
    route_open(std::move(name), std::move(done),
               [request = std::move(request)](shard::shard& s, collection::collection& c,
                   unique_function<void(result<query::search_response>)> d) mutable {
        s.executor().search(c.view(), std::move(request), std::move(d));
    });
}

void database::count(std::string name, std::shared_ptr<const index::filter> filter,
                     unique_function<void(result<std::size_t>)> done)
{
    route_open(std::move(name), std::move(done),
               [filter = std::move(filter)](shard::shard&, collection::collection& c,
                                            unique_function<void(result<std::size_t>)> d) {
        auto v = c.view();
        if (filter) {
            if (auto s = query::check_filter(*v, *filter); !s) {
                d(s.error());
                return;
            }
        }
        d(query::count_matches(*v, filter.get()));
    });
}

void database::remove_matching(std::string name, std::shared_ptr<const index::filter> filter,
                               unique_function<void(result<std::size_t>)> done)
{
    if (!filter) {
        done(make_error(errc::invalid_argument, "a delete by filter needs a filter"));
        return;
    }
    route(std::move(name), std::move(done),
          [filter = std::move(filter)](collection::collection& c, unique_function<void(result<std::size_t>)> d) mutable {
              c.remove_matching(std::move(filter), std::move(d));
          });
}

void database::patch_payloads(std::string name, collection::collection::payload_patch patch,
                              unique_function<void(result<std::size_t>)> done)
{
    route_open(std::move(name), std::move(done),
               [patch = std::move(patch)](shard::shard& s, collection::collection& c,
                   unique_function<void(result<std::size_t>)> d) mutable {
        c.patch_payloads(std::move(patch), s.executor(), std::move(d));
    });
}

void database::get_points(std::string name, std::vector<std::string> ids, bool include_payload, bool include_vector,
                          std::size_t bytes_max, unique_function<void(result<query::get_response>)> done)
{
    if (ids.empty() || ids.size() > query::get_ids_max) {
        done(make_error(errc::invalid_argument, strprintf("ask for 1 to %zu ids", query::get_ids_max)));
        return;
    }
    route_open(std::move(name), std::move(done),
               [ids = std::move(ids), include_payload, include_vector, bytes_max](
                   shard::shard& s, collection::collection& c, unique_function<void(result<query::get_response>)> d) mutable {
        auto found = c.locate(ids);
        query::fetch_request f;
        f.rows = std::move(found.rows);
        f.include_payload = include_payload;
        f.include_vector = include_vector;
        f.bytes_max = bytes_max;
        s.executor().fetch(std::move(found.view), std::move(f),
                           [missing = std::move(found.missing), d = std::move(d)](
                               result<std::vector<query::stored_point>> r) mutable {
            if (!r) {
                d(r.error());
                return;
            }
            d(query::get_response{std::move(*r), std::move(missing)});
        });
    });
}

void database::scroll(std::string name, query::scroll_request request,
                      unique_function<void(result<query::scroll_response>)> done)
{
    route_open(std::move(name), std::move(done),
               [request = std::move(request)](shard::shard& s, collection::collection& c,
                   unique_function<void(result<query::scroll_response>)> d) mutable {
        s.executor().scroll(c.view(), std::move(request), std::move(d));
    });
}

void database::search_batch(std::string name, std::vector<query::search_request> requests,
                            unique_function<void(result<query::batch_response>)> done)
{
    route_open(std::move(name), std::move(done),
               [requests = std::move(requests)](shard::shard& s, collection::collection& c,
                   unique_function<void(result<query::batch_response>)> d) mutable {
        s.executor().search_batch(c.view(), std::move(requests), std::move(d));
    });
}

void database::recall(std::string name, query::recall_request request,
                      unique_function<void(result<query::recall_response>)> done)
{
    route_open(std::move(name), std::move(done),
               [request = std::move(request)](shard::shard& s, collection::collection& c,
                   unique_function<void(result<query::recall_response>)> d) mutable {
        s.executor().measure_recall(c.view(), std::move(request), std::move(d));
    });
}

void database::flush(std::string name, unique_function<void(status)> done)
{
    route(std::move(name), std::move(done), [](collection::collection& c, unique_function<void(status)> d) {
        c.flush(std::move(d));
    });
}

status database::restore_offline()
{
    // The archive's own collection name, unless another is asked: read from its descriptor.
    std::string name = options_.restore_as;
    if (name.empty()) {
        PUFFER_TRY_ASSIGN(auto peek, io::file_source(*env_, options_.restore_file));
        auto d = read_snapshot_descriptor(*peek);
        if (!d) {
            return make_error(errc::invalid_argument, options_.restore_file + ": " + d.error().message());
        }
        name = d->collection;
    }
    if (!valid_collection_name(name)) {
        return bad_name_error(name);
    }
    PUFFER_TRY_ASSIGN(auto archive, io::file_source(*env_, options_.restore_file));
    status s = db::restore_collection(*env_, options_.data_dir, name, *archive, options_.collection);
    if (!s) {
        return error{s.error().code, options_.restore_file + ": " + s.error().message()};
    }
    PUFFER_LOG(info, "restored collection '%s' from %s", name.c_str(), options_.restore_file.c_str());
    return ok();
}

void database::create_snapshot(std::string name, unique_function<void(result<snapshot_info>)> done)
{
    std::string data_dir = options_.data_dir;
    io::env* e = env_;
    route_open(std::move(name), std::move(done),
               [data_dir, e](shard::shard& s, collection::collection& c,
                             unique_function<void(result<snapshot_info>)> d) {
        // The moment: on the shard, between two of its tasks, so every write acknowledged before
        // the call is in and nothing of a later one. Links only here; the rest off the shard.
        std::uint64_t now_ms = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count());
        std::string parent = snapshots_dir(data_dir, c.name());
        std::string id = snapshot_id_for(now_ms);
        for (int n = 2;; ++n) {
            auto taken = e->exists(io::join_path(parent, id));
            auto making = e->exists(io::join_path(parent, ".tmp-" + id));
            if (!taken || !making) {
                d(!taken ? taken.error() : making.error());
                return;
            }
            if (!*taken && !*making) {
                break;
            }
            id = snapshot_id_for(now_ms) + strprintf("-%d", n);
        }
        std::string tmp = io::join_path(parent, ".tmp-" + id);
        auto parts = c.link_snapshot(tmp);
        if (!parts) {
            (void)e->remove_all(tmp);
            d(parts.error());
            return;
        }
        parts->descriptor.id = id;
        parts->descriptor.created_unix_ms = now_ms;
        auto holder = std::make_shared<unique_function<void(result<snapshot_info>)>>(std::move(d));
        shard::shard* sp = &s;
        s.background([sp, e, tmp, dir = io::join_path(parent, id), parts = std::move(*parts), holder]() mutable {
            status st = finish_snapshot(*e, tmp, dir, parts);
            if (!st) {
                (void)e->remove_all(tmp);
            }
            snapshot_info info;
            info.id = parts.descriptor.id;
            info.created_unix_ms = parts.descriptor.created_unix_ms;
            info.points = parts.descriptor.points;
            info.files = parts.descriptor.files.size();
            for (const auto& f : parts.descriptor.files) {
                info.bytes += f.size;
            }
            result<snapshot_info> r = st ? result<snapshot_info>(std::move(info)) : result<snapshot_info>(st.error());
            if (!sp->post([holder, r]() mutable { (*holder)(std::move(r)); })) {
                (*holder)(shutting_down_error());
            }
        });
    });
}

void database::list_snapshots(std::string name, unique_function<void(result<std::vector<snapshot_info>>)> done)
{
    std::string data_dir = options_.data_dir;
    io::env* e = env_;
    on_owner(std::move(name), std::move(done),
             [data_dir, e](shard::shard& s, const std::string& name,
                           unique_function<void(result<std::vector<snapshot_info>>)> d) {
        bool exists = s.collections().count(name) != 0;
        auto holder = std::make_shared<unique_function<void(result<std::vector<snapshot_info>>)>>(std::move(d));
        s.background([e, data_dir, name, exists, holder] {
            auto listed = db::list_snapshots(*e, data_dir, name);
            if (listed && listed->empty() && !exists) {
                (*holder)(not_found_error(name));
                return;
            }
            (*holder)(std::move(listed));
        });
    });
}

void database::open_snapshot(std::string name, std::string id,
                             unique_function<void(result<std::unique_ptr<snapshot_archive>>)> done)
{
    if (!valid_collection_name(name)) {
        done(bad_name_error(name));
        return;
    }
    if (shutting_down_.load()) {
        done(shutting_down_error());
        return;
    }
    io::env* e = env_;
    pool_->submit([e, data_dir = options_.data_dir, name = std::move(name), id = std::move(id),
                   done = std::move(done)]() mutable { done(open_snapshot_archive(*e, data_dir, name, id)); });
}

void database::delete_snapshot(std::string name, std::string id, unique_function<void(status)> done)
{
    if (!valid_collection_name(name)) {
        done(bad_name_error(name));
        return;
    }
    if (shutting_down_.load()) {
        done(shutting_down_error());
        return;
    }
    io::env* e = env_;
    pool_->submit([e, data_dir = options_.data_dir, name = std::move(name), id = std::move(id),
                   done = std::move(done)]() mutable { done(db::delete_snapshot(*e, data_dir, name, id)); });
}

void database::restore_collection(std::string name, std::unique_ptr<io::byte_source> archive,
                                  unique_function<void(status)> done)
{
    std::string data_dir = options_.data_dir;
    io::env* e = env_;
    collection::options copts = options_.collection;
    std::shared_ptr<io::byte_source> source = std::move(archive);
    on_owner(std::move(name), std::move(done),
             [data_dir, e, copts, source](shard::shard& s, const std::string& name, unique_function<void(status)> d) {
        if (s.collections().count(name) != 0 || s.names_creating().count(name) != 0) {
            d(make_error(errc::already_exists,
                         "collection '" + name + "' already exists; delete it first or restore under another name"));
            return;
        }
        if (s.is_leaving(name)) {
            d(make_error(errc::busy, "collection '" + name + "' is being deleted; retry"));
            return;
        }
        s.names_creating().insert(name);
        auto holder = std::make_shared<unique_function<void(status)>>(std::move(d));
        shard::shard* sp = &s;
        s.background([sp, name, holder, data_dir, e, copts, source]() mutable {
            status restored = db::restore_collection(*e, data_dir, name, *source, copts);
            std::shared_ptr<collection::collection> c;
            if (restored) {
                c = collection::collection::open(*e, io::join_path(collections_dir(data_dir), name), name, copts);
            }
            bool posted_back = sp->post([sp, name, holder, c, restored = std::move(restored)]() mutable {
                sp->names_creating().erase(name);
                if (restored) {
                    c->attach(*sp);
                    sp->collections().emplace(name, c);
                }
                (*holder)(std::move(restored));
            });
            if (!posted_back) {
                (*holder)(shutting_down_error());
            }
        });
    });
}

void database::compact(std::string name, unique_function<void(status)> done)
{
    route(std::move(name), std::move(done), [](collection::collection& c, unique_function<void(status)> d) {
        c.compact(std::move(d));
    });
}

void database::stats(std::string name, unique_function<void(result<collection::collection_stats>)> done)
{
    route(std::move(name), std::move(done),
          [](collection::collection& c, unique_function<void(result<collection::collection_stats>)> d) {
              d(c.stats());
          });
}

void database::clear_caches(unique_function<void()> done)
{
    struct gather {
        std::atomic<std::size_t> remaining;
        unique_function<void()> done;
    };
    if (shards_.empty()) {
        done();  // shut down: there is no cache left
        return;
    }
    auto g = std::make_shared<gather>();
    g->remaining = shards_.size();
    g->done = std::move(done);
    for (auto& sp : shards_) {
        shard::shard* s = sp.get();
        auto arrive = [g] {
            if (g->remaining.fetch_sub(1) == 1) {
                g->done();
            }
        };
        if (!s->post([s, arrive] {
                s->cache().clear();
                arrive();
            })) {
            arrive();
        }
    }
}

}  // namespace puffer::db
