// kill -9 crash harness for the real puffer-server. Each round starts the server on the same data
// directory with settings that make flushes and compactions frequent (--flush-threshold 300
// --segments-max 3, two shards), runs concurrent writers (one connection each: upsert batches
// with payloads, deletes by ids and by filter, payload patches by ids and by filter, full
// listings that check every id appears once and that the writer's own points are exactly as
// acknowledged; a delete or patch by filter must count exactly the writer's points it matched)
// and a maintenance client (flush, compact, create and drop a scratch collection), then SIGKILLs the server at a random moment. After the restart
// every collection is listed in full and compared with a model of what was acknowledged
// (tests/support/point_model.hpp): each acknowledged upsert is there with its exact vector (two
// exact scores) and payload, each acknowledged delete stays deleted, each request that got no
// answer is all there or not at all, no id is listed twice, and the server starts every time.
// Some rounds also kill the server during its start-up (recovery) first.
//
//   crash_harness [--rounds N] [--seed S] [--writers W] [--keep]
//
// The seed (printed; default: from the clock, or PUFFER_TEST_SEED) decides every request and kill
// time; thread timing makes a run not bit-for-bit repeatable. Exit status 0 (pass), 1 (a check
// failed: the data directory is kept and its path printed; or puffer-server is missing), 2 (bad
// usage), 77 (the server gets no io_uring here: skipped at a desk, 1 under CI=true).
#include "net/http_client.hpp"
#include "tests/support/point_model.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/skip.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace json = boost::json;
namespace fs = std::filesystem;
using namespace puffer;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::size_t dimension = 12;
constexpr std::size_t ids_per_collection = 600;  // listings use top_k 1000: always complete
constexpr std::size_t shard_count = 2;           // what server_process starts the server with
const std::vector<std::string> server_settings = {"--flush-threshold", "300", "--segments-max", "3",
                                                  "--background-threads", "2"};

struct harness_options {
    std::uint64_t seed = 0;
    std::size_t rounds = 6;
    std::size_t writers = 4;
    bool keep = false;
};

double seconds_since(clock_type::time_point t)
{
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

std::uint64_t fnv1a(std::string_view s)
{
    return test::hash_text(s);  // the server's shard hash: FNV-1a
}

struct collection_def {
    std::string name;
    bool inner_product = false;
};

// Two collections per shard (names hashed as the server does), one l2 and one ip on each.
std::vector<collection_def> choose_collections()
{
    std::vector<collection_def> out;
    std::vector<std::size_t> per_shard(shard_count, 0);
    for (std::size_t i = 0; out.size() < 2 * shard_count; ++i) {
        std::string name = "crash_" + std::to_string(i);
        std::size_t shard = fnv1a(name) % shard_count;
        if (per_shard[shard] < 2) {
            out.push_back({name, per_shard[shard] == 1});
            ++per_shard[shard];
        }
    }
    return out;
}

std::string vector_json(const std::vector<float>& v)
{
    std::string s = "[";
    for (std::size_t j = 0; j < v.size(); ++j) {
        s += (j ? "," : "") + std::to_string(static_cast<int>(v[j]));
    }
    return s + "]";
}

struct hit {
    std::string id;
    float score = 0;
    std::string payload;
};

// The outcome of one request: answered (with the status) or not.
struct answer {
    bool answered = false;
    unsigned status = 0;
    std::string body;
    std::string transport_error;
};

answer send(net::http_client& c, std::string_view method, const std::string& target, std::string_view body = {})
{
    auto r = c.request(method, target, body);
    answer a;
    if (!r) {
        a.transport_error = r.error().message();
        return a;
    }
    a.answered = true;
    a.status = r->status;
    a.body = std::move(r->body);
    return a;
}

struct totals {
    std::atomic<std::uint64_t> upsert_requests{0};
    std::atomic<std::uint64_t> delete_requests{0};
    std::atomic<std::uint64_t> filtered_delete_requests{0};
    std::atomic<std::uint64_t> patch_requests{0};
    std::atomic<std::uint64_t> refused{0};
    std::atomic<std::uint64_t> unanswered{0};
    std::atomic<std::uint64_t> live_listings{0};
    std::atomic<std::uint64_t> flushes{0};
    std::atomic<std::uint64_t> compactions{0};
    std::atomic<std::uint64_t> scratch_cycles{0};
    std::uint64_t startup_kills = 0;
    std::uint64_t failed_restarts = 0;
    test::check_report checks;
};

class harness {
public:
    harness(const harness_options& o, std::string base)
        : options_(o), base_(std::move(base)), data_dir_(base_ + "/data"), model_(dimension, o.seed),
          collections_(choose_collections())
    {
        for (const auto& c : collections_) {
            model_.add_collection(c.name, c.inner_product);
        }
    }

    // Runs every round; false on the first failed check.
    bool run()
    {
        std::mt19937_64 rng(options_.seed);
        auto started = clock_type::now();
        for (std::size_t round = 1; round <= options_.rounds + 1; ++round) {
            bool last = round == options_.rounds + 1;  // only restart and check
            auto round_started = clock_type::now();
            if (round > 1 && rng() % 6 == 0) {
                // A kill while the server starts: recovery interrupted at a random point.
                auto delay = std::chrono::microseconds(rng() % 60000);
                test::start_and_kill(data_dir_, server_settings, delay);
                ++totals_.startup_kills;
            }
            std::unique_ptr<test::server_process> server;
            try {
                server = std::make_unique<test::server_process>(data_dir_, server_settings);
            } catch (const std::exception& e) {
                ++totals_.failed_restarts;
                fail(round, std::string("the server did not start: ") + e.what());
                return false;
            }
            if (round == 1) {
                create_collections(*server);
            }
            if (!check_after_restart(*server, round) || !problems_.empty()) {
                fail(round, "");
                return false;
            }
            if (last) {
                // A graceful stop at the end: exit status 0, so sanitizer reports at exit count.
                if (int status = server->stop(); status != 0) {
                    fail(round, "the server exited with status " + std::to_string(status) +
                                    " at a graceful stop");
                    return false;
                }
                break;
            }
            auto kill_after = std::chrono::milliseconds(100 + rng() % 2400);
            std::uint64_t acked_before = model_.acked_upserts() + model_.acked_deletes();
            workload(*server, rng(), kill_after);
            if (!problems_.empty()) {
                fail(round, "");
                return false;
            }
            std::printf("round %zu: killed after %lld ms, %llu point writes acknowledged, %zu batches unanswered, "
                        "%.1f s\n",
                        round, static_cast<long long>(kill_after.count()),
                        static_cast<unsigned long long>(model_.acked_upserts() + model_.acked_deletes() - acked_before),
                        model_.pending_batches(), seconds_since(round_started));
            std::fflush(stdout);
        }
        summary(seconds_since(started));
        return true;
    }

    const std::string& base() const { return base_; }

private:
    void create_collections(test::server_process& server)
    {
        auto c = server.client();
        for (const auto& def : collections_) {
            std::string body = "{\"name\":\"" + def.name + "\",\"dimension\":" + std::to_string(dimension) +
                               ",\"metric\":\"" + (def.inner_product ? "ip" : "l2") + "\"}";
            answer a = send(c, "POST", "/v1/collections", body);
            if (!a.answered || a.status != 201) {
                problems_.push_back("creating '" + def.name + "': " + (a.answered ? a.body : a.transport_error));
            }
        }
    }

    // Full listing with the probe query q; payloads when asked.
    bool list(net::http_client& c, const std::string& name, std::size_t q, bool payloads, std::vector<hit>& out,
              std::string& error)
    {
        std::string body = "{\"vector\":" + vector_json(model_.queries()[q]) +
                           ",\"top_k\":1000,\"nprobe\":1073741824,\"include_payload\":" +
                           (payloads ? "true" : "false") + "}";
        answer a = send(c, "POST", "/v1/collections/" + name + "/search", body);
        if (!a.answered || a.status != 200) {
            error = "search of '" + name + "': " +
                    (a.answered ? std::to_string(a.status) + " " + a.body : a.transport_error);
            return false;
        }
        boost::system::error_code ec;
        json::value v = json::parse(a.body, ec);
        if (ec || !v.is_object() || !v.as_object().contains("results")) {
            error = "search of '" + name + "': unreadable answer " + a.body.substr(0, 200);
            return false;
        }
        out.clear();
        for (const auto& r : v.at("results").as_array()) {
            hit h;
            h.id = std::string(r.at("id").as_string());
            h.score = static_cast<float>(r.at("score").to_number<double>());
            if (payloads) {
                const json::value& p = r.at("payload");
                if (!p.is_null()) {
                    h.payload = json::serialize(p);
                }
            }
            out.push_back(std::move(h));
        }
        return true;
    }

    // Both listings of a collection joined by id (only ids passing keep). Reports ids listed twice.
    bool observe(net::http_client& c, const std::string& name, const std::set<std::string>* keep,
                 std::vector<test::observed_point>& out, std::vector<std::string>& problems, std::size_t& listed)
    {
        std::vector<hit> first;
        std::vector<hit> second;
        std::string error;
        if (!list(c, name, 0, true, first, error) || !list(c, name, 1, false, second, error)) {
            problems.push_back(error);
            return false;
        }
        listed = first.size();
        std::map<std::string, float> second_scores;
        for (const auto* hits : {&first, &second}) {
            std::set<std::string> seen;
            for (const auto& h : *hits) {
                if (!seen.insert(h.id).second) {
                    problems.push_back("collection '" + name + "', id '" + h.id + "' returned twice in one search");
                }
            }
        }
        for (const auto& h : second) {
            second_scores.emplace(h.id, h.score);
        }
        out.clear();
        for (const auto& h : first) {
            if (keep != nullptr && keep->count(h.id) == 0) {
                continue;
            }
            auto it = second_scores.find(h.id);
            if (it == second_scores.end()) {
                problems.push_back("collection '" + name + "', id '" + h.id + "' listed by one query, not the other");
                continue;
            }
            out.push_back({h.id, {h.score, it->second}, h.payload});
        }
        return true;
    }

    // After a restart the state is definite: every collection is compared with the model and the
    // unanswered batches are settled.
    bool check_after_restart(test::server_process& server, std::size_t round)
    {
        auto c = server.client();
        answer listed = send(c, "GET", "/v1/collections");
        if (!listed.answered || listed.status != 200) {
            problems_.push_back("listing collections failed: " +
                                (listed.answered ? listed.body : listed.transport_error));
            return false;
        }
        json::value all = json::parse(listed.body);
        std::set<std::string> present;
        for (const auto& info : all.at("collections").as_array()) {
            std::string name(info.at("name").as_string());
            present.insert(name);
            if (info.at("status").as_string() != "ok") {
                answer st = send(c, "GET", "/v1/collections/" + name + "/stats");
                problems_.push_back("collection '" + name + "' failed to open: " + st.body);
            }
            if (name.rfind("scratch", 0) == 0) {
                answer d = send(c, "DELETE", "/v1/collections/" + name);  // may or may not have survived
                if (!d.answered || d.status != 200) {
                    problems_.push_back("deleting '" + name + "': " + (d.answered ? d.body : d.transport_error));
                }
            }
        }
        for (const auto& def : collections_) {
            if (present.count(def.name) == 0) {
                problems_.push_back("collection '" + def.name + "' is missing");
                continue;
            }
            std::vector<test::observed_point> points;
            std::size_t count = 0;
            if (!observe(c, def.name, nullptr, points, problems_, count)) {
                continue;
            }
            test::check_report r = model_.check(def.name, points, true);
            for (auto& p : r.problems) {
                problems_.push_back("after restart " + std::to_string(round - 1) + ": " + p);
            }
            totals_.checks.add(r);
            answer st = send(c, "GET", "/v1/collections/" + def.name + "/stats");
            if (st.answered && st.status == 200) {
                auto n = static_cast<std::size_t>(json::parse(st.body).at("points").to_number<double>());
                if (n != count) {
                    problems_.push_back("collection '" + def.name + "' counts " + std::to_string(n) +
                                        " points, lists " + std::to_string(count));
                }
            }
        }
        return problems_.empty();
    }

    void writer(test::server_process& server, std::size_t w, std::uint64_t seed, const std::atomic<bool>& stop)
    {
        std::mt19937_64 rng(seed);
        auto c = server.client(std::chrono::seconds(30));
        std::vector<std::string> own;
        for (std::size_t i = w; i < ids_per_collection; i += options_.writers) {
            own.push_back("p" + std::to_string(i));
        }
        std::set<std::string> own_set(own.begin(), own.end());
        auto pick_ids = [&](std::size_t n) {
            std::vector<std::string> out;
            std::set<std::size_t> chosen;
            while (chosen.size() < std::min(n, own.size())) {
                chosen.insert(rng() % own.size());
            }
            for (std::size_t i : chosen) {
                out.push_back(own[i]);
            }
            std::shuffle(out.begin(), out.end(), rng);
            return out;
        };
        while (!stop.load()) {
            const collection_def& def = collections_[rng() % collections_.size()];
            std::uint64_t dice = rng() % 100;
            if (dice < 12) {
                std::vector<test::observed_point> points;
                std::vector<std::string> problems;
                std::size_t count = 0;
                if (!observe(c, def.name, &own_set, points, problems, count)) {
                    return;  // the server is gone
                }
                std::lock_guard lock(mutex_);
                test::check_report r = model_.check(def.name, points, false, &own_set);
                for (auto& p : problems) {
                    problems_.push_back("live listing: " + p);
                }
                for (auto& p : r.problems) {
                    problems_.push_back("live listing by writer " + std::to_string(w) + ": " + p);
                }
                ++totals_.live_listings;
                continue;
            }
            // 12-64 upsert, 65-79 delete by ids, 80-89 delete by filter, 90-99 payload patch (by ids
            // or by filter). The writes that choose points by filter choose among this writer's own
            // points only, so the writer knows which ones match (it has nothing unanswered: it
            // stops at its first unanswered request) and checks the count the server answers.
            enum class kind { upsert, remove, remove_matching, patch } k =
                dice < 65 ? kind::upsert : dice < 80 ? kind::remove : dice < 90 ? kind::remove_matching : kind::patch;
            std::vector<std::string> ids = pick_ids(k == kind::upsert ? 1 + rng() % 25 : 1 + rng() % 10);
            test::point_model::batch b;
            std::string body;
            std::string target = "/v1/collections/" + def.name + "/points";
            std::size_t expect_count = 0;  // what the answer must count (filtered writes and patches)
            auto id_list = [](const std::vector<std::string>& list) {
                std::string out = "[";
                for (std::size_t i = 0; i < list.size(); ++i) {
                    out += (i ? ",\"" : "\"") + list[i] + "\"";
                }
                return out + "]";
            };
            {
                std::lock_guard lock(mutex_);
                if (k == kind::upsert) {
                    b = model_.make_upsert(def.name, ids);
                } else if (k == kind::remove) {
                    b = model_.make_delete(def.name, ids);
                } else {
                    // The live points of ids, and the "v" of their payloads (-1: no payload).
                    std::vector<std::string> live;
                    std::vector<std::string> payloads;
                    std::vector<double> vs;
                    for (const auto& id : ids) {
                        std::uint64_t v = model_.committed(def.name, id);
                        if (v == 0) {
                            continue;
                        }
                        live.push_back(id);
                        payloads.push_back(model_.content({id, v}).payload);
                        // The parsed payload lives while its field is read.
                        json::value parsed = payloads.back().empty() ? json::value() : json::parse(payloads.back());
                        const json::value* v_field = parsed.is_object() ? parsed.as_object().if_contains("v") : nullptr;
                        vs.push_back(v_field != nullptr ? v_field->to_number<double>() : -1.0);
                    }
                    double threshold = vs.empty() ? 1 : vs[rng() % vs.size()] + static_cast<double>(rng() % 2);
                    const bool by_filter = k == kind::remove_matching || rng() % 2 == 0;
                    const std::string filter = "{\"and\":[{\"in\":[\"id\"," + id_list(ids) + "]},{\"range\":[\"v\",{\"lt\":" +
                                               std::to_string(threshold) + "}]}]}";
                    std::vector<std::string> chosen;
                    std::vector<std::string> patched;
                    // The patch: a merge that sets "patch" and removes "pad" (or a replace by it).
                    const bool replace = rng() % 4 == 0;
                    json::object patch_object;
                    // A value no patch has set before: every chosen point changes, so every one counts.
                    patch_object["patch"] = patch_serial_.fetch_add(1) + 1;
                    patch_object["pad"] = nullptr;
                    for (std::size_t i = 0; i < live.size(); ++i) {
                        if (by_filter && !(vs[i] >= 0 && vs[i] < threshold)) {
                            continue;
                        }
                        chosen.push_back(live[i]);
                        // What the patched payload must be: computed here, independently.
                        json::object merged;
                        if (!replace && !payloads[i].empty()) {
                            merged = json::parse(payloads[i]).as_object();
                        }
                        for (const auto& kv : patch_object) {
                            if (kv.value().is_null()) {
                                merged.stable_erase(kv.key());
                            } else {
                                merged[kv.key()] = kv.value();
                            }
                        }
                        patched.push_back(merged.empty() ? std::string() : json::serialize(merged));
                    }
                    if (chosen.empty()) {
                        continue;  // nothing would change: no request
                    }
                    expect_count = chosen.size();
                    const std::string which = by_filter ? "\"filter\":" + filter : "\"ids\":" + id_list(ids);
                    if (k == kind::remove_matching) {
                        b = model_.make_delete(def.name, chosen);
                        body = "{" + which + "}";
                        target += "/delete";
                    } else {
                        b = model_.make_patch(def.name, chosen, patched);
                        body = "{" + which + ",\"payload\":" + json::serialize(patch_object) + ",\"mode\":\"" +
                               (replace ? "replace" : "merge") + "\"}";
                        target += "/payload";
                    }
                }
            }
            if (k == kind::remove) {
                body = "{\"ids\":" + id_list(ids) + "}";
                target += "/delete";
            } else if (k == kind::upsert) {
                body = "{\"points\":[";
                for (std::size_t i = 0; i < b.writes.size(); ++i) {
                    test::point_content pc = model_.content(b.writes[i]);
                    body += (i ? "," : "");
                    body += "{\"id\":\"" + b.writes[i].id + "\",\"vector\":" + vector_json(pc.vector);
                    if (!pc.payload.empty()) {
                        body += ",\"payload\":" + pc.payload;
                    }
                    body += "}";
                }
                body += "]}";
            }
            answer a = send(c, "POST", target, body);
            ++(k == kind::upsert ? totals_.upsert_requests
               : k == kind::patch ? totals_.patch_requests
               : k == kind::remove_matching ? totals_.filtered_delete_requests
                                            : totals_.delete_requests);
            std::lock_guard lock(mutex_);
            if (!a.answered) {
                // In flight at the kill: applied or not, settled after the restart.
                if (!model_.unanswered(b)) {
                    problems_.push_back("harness bug: two unanswered writes of one id");
                }
                ++totals_.unanswered;
                return;
            }
            if (a.status == 200) {
                if (k == kind::remove_matching || k == kind::patch) {
                    auto n = static_cast<std::size_t>(
                        json::parse(a.body).at(k == kind::patch ? "updated" : "deleted").to_number<double>());
                    if (n != expect_count) {
                        problems_.push_back("writer " + std::to_string(w) + ": " + body + " answered " + a.body +
                                            ", expected " + std::to_string(expect_count));
                    }
                }
                model_.acknowledged(b);
            } else if (a.status == 503 || a.status == 507) {
                model_.refused(b);  // nothing is stored on an error answer
                ++totals_.refused;
            } else {
                problems_.push_back("writer " + std::to_string(w) + ": unexpected answer " + std::to_string(a.status) +
                                    " " + a.body.substr(0, 200));
                return;
            }
        }
    }

    void maintenance(test::server_process& server, std::uint64_t seed, const std::atomic<bool>& stop)
    {
        std::mt19937_64 rng(seed);
        auto c = server.client(std::chrono::seconds(30));
        while (!stop.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 80));
            const collection_def& def = collections_[rng() % collections_.size()];
            std::uint64_t dice = rng() % 10;
            answer a;
            if (dice < 4) {
                a = send(c, "POST", "/v1/collections/" + def.name + "/flush", "{}");
                ++totals_.flushes;
            } else if (dice < 8) {
                a = send(c, "POST", "/v1/collections/" + def.name + "/compact", "{}");
                ++totals_.compactions;
            } else {
                // A collection created, written and dropped: kills land in create and drop too.
                a = send(c, "POST", "/v1/collections", "{\"name\":\"scratch\",\"dimension\":4}");
                if (a.answered) {
                    a = send(c, "POST", "/v1/collections/scratch/points",
                             R"({"points":[{"id":1,"vector":[1,2,3,4]},{"id":2,"vector":[4,3,2,1]}]})");
                }
                if (a.answered) {
                    a = send(c, "DELETE", "/v1/collections/scratch");
                }
                ++totals_.scratch_cycles;
            }
            if (!a.answered) {
                return;
            }
            if (a.status != 200 && a.status != 201 && a.status != 404 && a.status != 409 && a.status != 503) {
                std::lock_guard lock(mutex_);
                problems_.push_back("maintenance: unexpected answer " + std::to_string(a.status) + " " +
                                    a.body.substr(0, 200));
                return;
            }
        }
    }

    void workload(test::server_process& server, std::uint64_t seed, std::chrono::milliseconds kill_after)
    {
        std::atomic<bool> stop{false};
        std::vector<std::thread> threads;
        for (std::size_t w = 0; w < options_.writers; ++w) {
            threads.emplace_back([&, w] { writer(server, w, test::mix64(seed + w), stop); });
        }
        threads.emplace_back([&] { maintenance(server, test::mix64(seed + 1000), stop); });
        std::this_thread::sleep_for(kill_after);
        server.kill();
        stop = true;
        for (auto& t : threads) {
            t.join();
        }
    }

    void fail(std::size_t round, const std::string& why)
    {
        std::fprintf(stderr, "\ncrash harness FAILED in round %zu (seed %llu)\n", round,
                     static_cast<unsigned long long>(options_.seed));
        if (!why.empty()) {
            std::fprintf(stderr, "  %s\n", why.c_str());
        }
        std::size_t shown = 0;
        for (const auto& p : problems_) {
            if (++shown > 25) {
                std::fprintf(stderr, "  ... %zu more\n", problems_.size() - 25);
                break;
            }
            std::fprintf(stderr, "  %s\n", p.c_str());
        }
        std::fprintf(stderr, "  data directory kept: %s\n  server log: %s.log\n", data_dir_.c_str(), data_dir_.c_str());
        std::fprintf(stderr, "  reproduce with: --seed %llu --rounds %zu\n",
                     static_cast<unsigned long long>(options_.seed), options_.rounds);
    }

    void summary(double seconds)
    {
        const auto& k = totals_.checks;
        std::printf("crash harness: %zu rounds, %llu acknowledged upserts and %llu deletes checked, %zu lost, "
                    "%zu resurrected, %llu failed restarts\n",
                    options_.rounds, static_cast<unsigned long long>(model_.acked_upserts()),
                    static_cast<unsigned long long>(model_.acked_deletes()), k.lost, k.resurrected,
                    static_cast<unsigned long long>(totals_.failed_restarts));
        std::printf("  seed %llu; %.1f s (%.2f s per round); %llu upsert, %llu delete, %llu delete-by-filter and %llu "
                    "payload patch requests, %llu unanswered "
                    "(%zu found applied, %zu not), %llu refused; point checks after restarts: %zu present, %zu "
                    "absent; %zu torn batches, %zu wrong points, %zu duplicate ids; %llu live listings; %llu "
                    "flush and %llu compact calls, %llu scratch create/drop cycles; %llu kills during start-up\n",
                    static_cast<unsigned long long>(options_.seed), seconds,
                    seconds / static_cast<double>(options_.rounds),
                    static_cast<unsigned long long>(totals_.upsert_requests.load()),
                    static_cast<unsigned long long>(totals_.delete_requests.load()),
                    static_cast<unsigned long long>(totals_.filtered_delete_requests.load()),
                    static_cast<unsigned long long>(totals_.patch_requests.load()),
                    static_cast<unsigned long long>(totals_.unanswered.load()), k.batches_applied, k.batches_dropped,
                    static_cast<unsigned long long>(totals_.refused.load()), k.present_checked, k.absent_checked,
                    k.torn_batches, k.wrong, k.duplicates,
                    static_cast<unsigned long long>(totals_.live_listings.load()),
                    static_cast<unsigned long long>(totals_.flushes.load()),
                    static_cast<unsigned long long>(totals_.compactions.load()),
                    static_cast<unsigned long long>(totals_.scratch_cycles.load()),
                    static_cast<unsigned long long>(totals_.startup_kills));
    }

    harness_options options_;
    std::string base_;
    std::string data_dir_;
    std::mutex mutex_;  // guards model_ and problems_ while the workload runs
    std::atomic<std::uint64_t> patch_serial_{0};
    test::point_model model_;
    std::vector<collection_def> collections_;
    std::vector<std::string> problems_;
    totals totals_;
};

int usage()
{
    std::fprintf(stderr, "usage: crash_harness [--rounds N] [--seed S] [--writers W] [--keep]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv)
{
    harness_options o;
    bool seeded = false;
    if (const char* s = std::getenv("PUFFER_TEST_SEED"); s != nullptr && *s != '\0') {
        o.seed = std::strtoull(s, nullptr, 0);
        seeded = true;
    }
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        std::string inline_value;  // --rounds=N
        if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            inline_value = arg.substr(eq + 1);
            arg.resize(eq);
        }
        bool has_inline = !inline_value.empty();
        auto value = [&]() -> const char* {
            if (has_inline) {
                return inline_value.c_str();
            }
            return i + 1 < argc ? argv[++i] : nullptr;
        };
        if (arg == "--rounds" || arg == "--seed" || arg == "--writers") {
            const char* v = value();
            if (v == nullptr) {
                return usage();
            }
            char* end = nullptr;
            std::uint64_t n = std::strtoull(v, &end, 0);
            if (*end != '\0') {
                return usage();
            }
            if (arg == "--rounds") {
                o.rounds = n;
            } else if (arg == "--seed") {
                o.seed = n;
                seeded = true;
            } else {
                o.writers = n;
            }
        } else if (arg == "--keep" && !has_inline) {
            o.keep = true;
        } else {
            return usage();
        }
    }
    if (o.rounds == 0 || o.writers == 0 || o.writers > 64) {
        return usage();
    }
    if (!seeded) {
        o.seed = std::random_device()() ^ static_cast<std::uint64_t>(clock_type::now().time_since_epoch().count());
        o.seed %= 1000000007ull;
    }
    if (!fs::exists(test::server_binary())) {
        // Never a skip: a harness that cannot find what it tests has tested nothing.
        std::fprintf(stderr, "crash harness: FAILED: %s is missing; build puffer-server first\n",
                     test::server_binary().c_str());
        return 1;
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/puffer-crash-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    // The harness crashes the server on its production I/O path. Where the kernel refuses
    // io_uring the server falls back to the synchronous ring, which is not that path: a skip at a
    // desk, a failure under CI (tests/support/skip.hpp). The server's own start-up line says
    // which ring it got.
    {
        std::string line;
        int status = 0;
        try {
            test::server_process probe(pattern + "/io-probe", {"--log-level", "info"});
            line = probe.io_line();
            status = probe.stop();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "crash harness: FAILED: the server did not start: %s\n", e.what());
            return 1;
        }
        if (line.empty() || status != 0) {
            std::fprintf(
                stderr,
                "crash harness: FAILED: the server logged no \"io:\" line at start (exit %d)\n",
                status);
            return 1;
        }
        std::printf("crash harness: server %s\n", line.c_str());
        std::error_code ec;
        fs::remove_all(pattern + "/io-probe", ec);
        if (line.rfind("io: io_uring,", 0) != 0) {
            fs::remove_all(pattern, ec);
            return test::skip_or_fail_code(
                "crash harness", "the server does not run on io_uring here (" + line + ")");
        }
    }
    std::printf("crash harness: seed %llu, %zu rounds, %zu writers, data in %s\n",
                static_cast<unsigned long long>(o.seed), o.rounds, o.writers, pattern.c_str());
    std::fflush(stdout);
    harness h(o, pattern);
    if (!h.run()) {
        return 1;
    }
    if (!o.keep) {
        std::error_code ec;
        fs::remove_all(pattern, ec);
    }
    return 0;
}
