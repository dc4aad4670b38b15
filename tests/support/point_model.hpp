#pragma once
// What collections must hold after writes whose outcome is known (acknowledged, refused) or not
// (no answer: in flight at a crash), for the crash tests and the kill -9 harness.
//
// Every write of a point gets a new version number; the vector and payload of (id, version) are
// derived from both, so a point read back names the version it holds. Vectors are small
// integers, so scores are exact in float32 whatever order a kernel sums in: a listing of the
// collection (a full scan with two probe queries) pins each point's vector through its two
// scores and its payload through its text.
//
// A payload patch writes a new version too: its payload is the one the patch made (given by the
// caller), its vector the one of the version it patched, so a patched point is still pinned by
// (id, version).
//
// A batch without an answer stays pending until a check of a definite state (after a restart)
// resolves it: every point of it must show the new state, or every point the old one. An id may
// be in at most one pending batch (writers that lost their answer stop writing).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::test {

inline std::uint64_t mix64(std::uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

inline std::uint64_t hash_text(std::string_view s)
{
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

// The content of version `version` (>= 1) of point `id`: values in -8..8, and a payload (compact
// JSON as Boost.JSON writes it) of 20 to ~1500 bytes, or none for one version in six.
struct point_content {
    std::vector<float> vector;
    std::string payload;  // empty: no payload
};

inline point_content content_of(std::string_view id, std::uint64_t version, std::size_t dimension)
{
    point_content c;
    std::uint64_t h = mix64(hash_text(id) ^ mix64(version));
    c.vector.resize(dimension);
    for (std::size_t j = 0; j < dimension; ++j) {
        c.vector[j] = static_cast<float>(static_cast<int>(mix64(h + j) % 17) - 8);
    }
    if (h % 6 != 0) {
        std::size_t pad = h % 11 == 0 ? 600 + h % 900 : h % 97;
        c.payload = "{\"id\":\"" + std::string(id) + "\",\"v\":" + std::to_string(version) + ",\"pad\":\"" +
                    std::string(pad, static_cast<char>('a' + h % 26)) + "\"}";
    }
    return c;
}

// Score of vector x for query q as the server reports it: squared L2 for l2, the dot product
// for ip (exact: small integers).
inline float model_score(bool inner_product, const std::vector<float>& q, const std::vector<float>& x)
{
    float s = 0;
    for (std::size_t j = 0; j < q.size(); ++j) {
        s += inner_product ? q[j] * x[j] : (q[j] - x[j]) * (q[j] - x[j]);
    }
    return s;
}

// One point of a listing: its scores for the model's probe queries, in order, and its payload.
struct observed_point {
    std::string id;
    std::vector<float> scores;
    std::string payload;
};

struct check_report {
    std::size_t present_checked = 0;  // ids expected present (definite) and found intact
    std::size_t absent_checked = 0;   // ids deleted (definite) and found absent
    std::size_t lost = 0;             // an acknowledged write missing (point absent or older)
    std::size_t resurrected = 0;      // an acknowledged delete undone
    std::size_t wrong = 0;            // a point whose vector or payload is no version it had
    std::size_t duplicates = 0;       // an id listed twice
    std::size_t torn_batches = 0;     // a batch partly applied
    std::size_t batches_applied = 0;  // pending batches found applied
    std::size_t batches_dropped = 0;  // pending batches found not applied
    std::vector<std::string> problems;

    bool clean() const { return problems.empty(); }
    void add(const check_report& o)
    {
        present_checked += o.present_checked;
        absent_checked += o.absent_checked;
        lost += o.lost;
        resurrected += o.resurrected;
        wrong += o.wrong;
        duplicates += o.duplicates;
        torn_batches += o.torn_batches;
        batches_applied += o.batches_applied;
        batches_dropped += o.batches_dropped;
        problems.insert(problems.end(), o.problems.begin(), o.problems.end());
    }
};

class point_model {
public:
    struct write {
        std::string id;
        std::uint64_t version = 0;  // 0: delete
    };
    struct batch {
        std::string collection;
        std::vector<write> writes;
        bool is_delete = false;
    };

    point_model(std::size_t dimension, std::uint64_t seed) : dimension_(dimension)
    {
        for (std::size_t q = 0; q < 2; ++q) {
            std::vector<float> v(dimension);
            for (std::size_t j = 0; j < dimension; ++j) {
                v[j] = static_cast<float>(static_cast<int>(mix64(seed * 31 + q * 1000003 + j) % 17) - 8);
            }
            queries_.push_back(std::move(v));
        }
    }

    std::size_t dimension() const { return dimension_; }
    const std::vector<std::vector<float>>& queries() const { return queries_; }

    void add_collection(const std::string& name, bool inner_product)
    {
        collections_[name].inner_product = inner_product;
    }
    // Forgets a collection (dropped, or a creation that did not survive).
    void remove_collection(const std::string& name)
    {
        collections_.erase(name);
        std::erase_if(pending_, [&](const auto& p) { return p.second.collection == name; });
    }
    bool has_collection(const std::string& name) const { return collections_.count(name) != 0; }
    bool inner_product(const std::string& name) const { return collections_.at(name).inner_product; }

    // New batches; versions are assigned here. REQUIRES: ids distinct.
    batch make_upsert(const std::string& collection, const std::vector<std::string>& ids)
    {
        batch b{collection, {}, false};
        for (const auto& id : ids) {
            b.writes.push_back({id, ++last_version_});
        }
        return b;
    }
    batch make_delete(const std::string& collection, const std::vector<std::string>& ids)
    {
        batch b{collection, {}, true};
        for (const auto& id : ids) {
            b.writes.push_back({id, 0});
        }
        return b;
    }
    // A patch of live points (REQUIRES: each id's committed version is not 0): new versions whose
    // vectors are those of the versions they patch and whose payloads are payloads[i].
    batch make_patch(const std::string& collection, const std::vector<std::string>& ids,
                     const std::vector<std::string>& payloads)
    {
        batch b{collection, {}, false};
        for (std::size_t i = 0; i < ids.size(); ++i) {
            std::uint64_t base = committed(collection, ids[i]);
            b.writes.push_back({ids[i], ++last_version_});
            vector_base_[last_version_] = base;
            payload_of_[last_version_] = payloads[i];
        }
        return b;
    }
    point_content content(const write& w) const { return content_for(w.id, w.version); }
    // The vector and payload of (id, version), patches followed to the vector they kept.
    point_content content_for(std::string_view id, std::uint64_t version) const
    {
        point_content pc = content_of(id, version, dimension_);
        if (auto p = payload_of_.find(version); p != payload_of_.end()) {
            pc.payload = p->second;
        }
        std::uint64_t v = version;
        for (auto it = vector_base_.find(v); it != vector_base_.end(); it = vector_base_.find(v)) {
            v = it->second;
        }
        if (v != version) {
            pc.vector = content_of(id, v, dimension_).vector;
        }
        return pc;
    }

    // The answers.
    void acknowledged(const batch& b)
    {
        auto& c = collections_.at(b.collection);
        for (const auto& w : b.writes) {
            commit(c.points[w.id], w.version);
        }
        (b.is_delete ? acked_deletes_ : acked_upserts_) += b.writes.size();
    }
    void refused(const batch& b)
    {
        auto& c = collections_.at(b.collection);
        for (const auto& w : b.writes) {
            c.points.try_emplace(w.id);
        }
        ++refused_;
    }
    // No answer. Returns false (and records nothing) if an id already has a pending write.
    bool unanswered(const batch& b)
    {
        auto& c = collections_.at(b.collection);
        for (const auto& w : b.writes) {
            if (c.points[w.id].pending != 0) {
                return false;
            }
        }
        std::uint64_t token = ++last_token_;
        for (const auto& w : b.writes) {
            auto& p = c.points[w.id];
            p.pending = token;
            p.pending_version = w.version;
        }
        pending_[token] = b;
        return true;
    }

    bool definite(const std::string& collection, const std::string& id) const
    {
        const auto& c = collections_.at(collection);
        auto it = c.points.find(id);
        return it == c.points.end() || it->second.pending == 0;
    }
    // The acknowledged version of id (0: absent).
    std::uint64_t committed(const std::string& collection, const std::string& id) const
    {
        const auto& c = collections_.at(collection);
        auto it = c.points.find(id);
        return it == c.points.end() ? 0 : it->second.committed;
    }
    // Points that may be live (acknowledged or pending): an upper bound on the listing's size.
    std::size_t live_bound(const std::string& collection) const
    {
        std::size_t n = 0;
        for (const auto& [id, p] : collections_.at(collection).points) {
            n += (p.committed != 0 || p.pending_version != 0) ? 1 : 0;
        }
        return n;
    }
    std::size_t pending_batches() const { return pending_.size(); }
    std::uint64_t acked_upserts() const { return acked_upserts_; }
    std::uint64_t acked_deletes() const { return acked_deletes_; }

    // Compares a complete listing of a collection with the model. only_ids (when set) limits
    // the check to those ids (a live check while other writers are busy). With resolve, pending
    // batches of the collection are settled by what the listing shows (the state is definite:
    // after a restart).
    check_report check(const std::string& collection, const std::vector<observed_point>& listing, bool resolve,
                       const std::set<std::string>* only_ids = nullptr)
    {
        check_report r;
        auto& c = collections_.at(collection);
        std::map<std::string, std::uint64_t> found;  // id -> version seen
        std::set<std::string> listed;
        for (const auto& o : listing) {
            if (!listed.insert(o.id).second) {
                ++r.duplicates;
                r.problems.push_back(where(collection, o.id) + ": returned twice in one search");
                continue;
            }
            if (only_ids != nullptr && only_ids->count(o.id) == 0) {
                continue;
            }
            auto it = c.points.find(o.id);
            std::vector<std::uint64_t> candidates;
            if (it != c.points.end()) {
                if (it->second.committed != 0) {
                    candidates.push_back(it->second.committed);
                }
                if (it->second.pending != 0 && it->second.pending_version != 0) {
                    candidates.push_back(it->second.pending_version);
                }
            }
            std::uint64_t seen = 0;
            for (std::uint64_t v : candidates) {
                if (matches(c, o, v)) {
                    seen = v;
                }
            }
            if (seen == 0 && it != c.points.end()) {
                // An older version than the acknowledged one: that write was lost.
                for (std::uint64_t v : it->second.history) {
                    if (v != 0 && matches(c, o, v)) {
                        seen = v;
                    }
                }
            }
            if (seen == 0) {
                ++r.wrong;
                std::string expected = "no such point";
                if (!candidates.empty()) {
                    expected = "version " + std::to_string(candidates.front()) + " " +
                               describe(c, o.id, candidates.front());
                    if (candidates.size() > 1) {
                        expected += " or version " + std::to_string(candidates.back()) + " " +
                                    describe(c, o.id, candidates.back());
                    }
                }
                r.problems.push_back(where(collection, o.id) + ": expected " + expected + "; found " +
                                     describe_observed(o));
                found[o.id] = ~std::uint64_t{0};
                continue;
            }
            found[o.id] = seen;
        }

        struct votes {
            std::size_t applied = 0;
            std::size_t not_applied = 0;
        };
        std::map<std::uint64_t, votes> batch_votes;
        for (auto& [id, p] : c.points) {
            if (only_ids != nullptr && only_ids->count(id) == 0) {
                continue;
            }
            auto f = found.find(id);
            std::uint64_t seen = f == found.end() ? 0 : f->second;
            if (seen == ~std::uint64_t{0}) {
                continue;  // reported above
            }
            if (p.pending == 0) {
                if (seen == p.committed) {
                    (seen != 0 ? r.present_checked : r.absent_checked) += 1;
                } else if (p.committed != 0) {
                    ++r.lost;
                    r.problems.push_back(where(collection, id) + ": acknowledged version " +
                                         std::to_string(p.committed) + " " + describe(c, id, p.committed) +
                                         (seen == 0 ? std::string(" is missing")
                                                    : " replaced by older version " + std::to_string(seen)));
                } else {
                    ++r.resurrected;
                    r.problems.push_back(where(collection, id) + ": deleted (acknowledged) but found version " +
                                         std::to_string(seen));
                }
                continue;
            }
            if (seen != p.committed && seen != p.pending_version) {
                ++r.lost;
                r.problems.push_back(where(collection, id) + ": expected version " + std::to_string(p.committed) +
                                     " or (unanswered batch) " + std::to_string(p.pending_version) + ", found " +
                                     (seen == 0 ? std::string("nothing") : "version " + std::to_string(seen)));
                continue;
            }
            if (p.committed != p.pending_version) {
                (seen == p.pending_version ? batch_votes[p.pending].applied : batch_votes[p.pending].not_applied) += 1;
            }
        }
        for (const auto& [token, v] : batch_votes) {
            if (v.applied != 0 && v.not_applied != 0) {
                ++r.torn_batches;
                const batch& b = pending_.at(token);
                r.problems.push_back("collection '" + collection + "': unanswered " +
                                     (b.is_delete ? "delete" : "upsert") + " batch of " +
                                     std::to_string(b.writes.size()) + " points (first id '" + b.writes.front().id +
                                     "') is partly applied: " + std::to_string(v.applied) + " points new, " +
                                     std::to_string(v.not_applied) + " old");
            }
        }
        if (resolve && only_ids == nullptr) {
            for (auto it = pending_.begin(); it != pending_.end();) {
                if (it->second.collection != collection) {
                    ++it;
                    continue;
                }
                const votes& v = batch_votes[it->first];
                bool applied = v.applied > v.not_applied;
                (applied ? r.batches_applied : r.batches_dropped) += 1;
                for (const auto& w : it->second.writes) {
                    auto& p = c.points[w.id];
                    if (applied) {
                        commit(p, w.version);
                    }
                    p.pending = 0;
                    p.pending_version = 0;
                }
                it = pending_.erase(it);
            }
        }
        return r;
    }

private:
    struct point_state {
        std::uint64_t committed = 0;        // acknowledged version, 0: absent
        std::uint64_t pending = 0;          // token of an unanswered batch, 0: none
        std::uint64_t pending_version = 0;  // what that batch writes (0: delete)
        std::vector<std::uint64_t> history;  // versions committed before, oldest first
    };

    static void commit(point_state& p, std::uint64_t version)
    {
        if (p.committed != 0) {
            p.history.push_back(p.committed);
        }
        p.committed = version;
    }
    std::map<std::uint64_t, std::uint64_t> vector_base_;  // patch version -> the version it patched
    std::map<std::uint64_t, std::string> payload_of_;      // patch version -> its payload
    struct collection_state {
        bool inner_product = false;
        std::map<std::string, point_state> points;
    };

    bool matches(const collection_state& c, const observed_point& o, std::uint64_t version) const
    {
        point_content pc = content_for(o.id, version);
        if (pc.payload != o.payload || o.scores.size() != queries_.size()) {
            return false;
        }
        for (std::size_t q = 0; q < queries_.size(); ++q) {
            if (model_score(c.inner_product, queries_[q], pc.vector) != o.scores[q]) {
                return false;
            }
        }
        return true;
    }

    static std::string where(const std::string& collection, const std::string& id)
    {
        return "collection '" + collection + "', id '" + id + "'";
    }

    std::string describe(const collection_state& c, const std::string& id, std::uint64_t version) const
    {
        point_content pc = content_for(id, version);
        std::ostringstream out;
        out << "(vector [";
        for (std::size_t j = 0; j < pc.vector.size(); ++j) {
            out << (j ? "," : "") << pc.vector[j];
        }
        out << "], scores";
        for (const auto& q : queries_) {
            out << " " << model_score(c.inner_product, q, pc.vector);
        }
        out << ", payload " << (pc.payload.empty() ? "none" : clip(pc.payload)) << ")";
        return out.str();
    }

    static std::string describe_observed(const observed_point& o)
    {
        std::ostringstream out;
        out << "(scores";
        for (float s : o.scores) {
            out << " " << s;
        }
        out << ", payload " << (o.payload.empty() ? "none" : clip(o.payload)) << ")";
        return out.str();
    }

    static std::string clip(const std::string& s)
    {
        return s.size() <= 60 ? s : s.substr(0, 60) + "...(" + std::to_string(s.size()) + " bytes)";
    }

    std::size_t dimension_;
    std::vector<std::vector<float>> queries_;
    std::map<std::string, collection_state> collections_;
    std::map<std::uint64_t, batch> pending_;
    std::uint64_t last_version_ = 0;
    std::uint64_t last_token_ = 0;
    std::uint64_t acked_upserts_ = 0;
    std::uint64_t acked_deletes_ = 0;
    std::uint64_t refused_ = 0;
};

}  // namespace puffer::test
