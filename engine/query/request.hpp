#pragma once
// A search as the engine's C++ API takes it and answers it (net/ decodes JSON into these).

#include "engine/index/filter.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace puffer::query {

struct search_request {
    std::vector<float> vector;
    std::size_t top_k = 10;
    // The probe budget, as the number of clusters a collection of the same size held in one
    // segment would probe (default_nprobe of that segment's cluster count when 0). It is spread
    // over the collection's segments in proportion to their rows.
    std::size_t nprobe = 0;
    // Instead of nprobe (0 when unset): the smallest budget whose measured recall@10 reaches this,
    // from the recall curves the segments measured when they were built.
    double recall_target = 0;
    // Only points matching this are answered (null: every point). Shared: a batch may hold one
    // filter for many searches.
    std::shared_ptr<const index::filter> filter;
    bool include_payload = false;
    // With include_payload: the top-level payload fields to answer (none: all of them). net/
    // projects the payloads as it encodes the answer; the engine reads them whole.
    std::optional<std::vector<std::string>> payload_fields;
    // The payloads of the answer may total at most this many bytes (0: no bound); past it the
    // search fails with invalid_argument before any payload is read.
    std::size_t payload_bytes_max = 0;
    // Segments with codes (a quantized collection): the best top_k * refine rows by their codes
    // are re-scored with their float vectors (0: default_refine).
    std::size_t refine = 0;
    // False: score with the float vectors only, codes or not (the exact re-runs of recall checks).
    bool use_codes = true;
};

// Candidates per result re-scored exactly when a search does not say: the least that lost no
// recall@10 against float scans on SIFT 200k and on word vectors (docs/results.md, "Quantization").
// sq8's estimates are close; rabitq's 1-bit ones need more candidates (40: no loss on SIFT, 0.009
// on word vectors at nprobe 64), of which the error bound re-ranks only those that can still be
// among the nearest.
inline constexpr std::size_t default_refine = 2;
inline constexpr std::size_t default_refine_rabitq = 40;
inline constexpr std::size_t refine_max = 64;

struct search_hit {
    std::string id;
    float score = 0;      // metric's natural value: squared L2 (lower is closer) or dot/cosine
    std::string payload;  // raw JSON object text, empty when none or not asked for
};

struct search_stats {
    std::size_t segments = 0;
    std::size_t clusters_probed = 0;
    std::size_t clusters_read = 0;  // read from disk (cache misses)
    std::size_t vectors_scanned = 0;
    std::uint64_t bytes_read = 0;
    std::size_t cache_hits = 0;
    // The budget the plan used, in the units of search_request::nprobe, and the recall@10 the
    // segments' curves expect of it (negative when no curve was asked or known).
    std::size_t nprobe = 0;
    double expected_recall = -1;
    std::size_t shards = 1;  // shards that scanned clusters for this query
    // Filtered searches: the live points that match (exact), and whether every one of them was
    // scanned (then the answer is exact) or the probe was widened until the budget's worth of
    // matching rows was scanned.
    bool filtered = false;
    std::size_t matches = 0;
    bool exhaustive = false;
    // Scored with codes: the refine factor, and the rows re-scored with their float vectors.
    std::size_t refine = 0;
    std::size_t reranked = 0;
};

struct search_response {
    std::vector<search_hit> hits;
    search_stats stats;
};

// The answers to a batch of searches, in order. Each answer's stats say what was planned for it
// (budget, clusters, rows scanned); reads and cache hits are shared, so they are in totals.
struct batch_response {
    std::vector<search_response> results;
    search_stats totals;
};

// A stored row of a read view: container indexes read_view::segments, then read_view::staging
// (segments.size() + i is staging i).
struct row_ref {
    std::uint32_t container = 0;
    std::uint32_t row = 0;
};

// A point as stored: its id, payload (raw JSON object text, empty when none or not asked for)
// and vector (empty when not asked for).
struct stored_point {
    std::string id;
    std::string payload;
    std::vector<float> vector;
};

// What one vector value takes in an answer, as JSON text ("9.938837289810181E-1,"): answer
// budgets count vectors with it.
inline constexpr std::size_t json_bytes_per_vector_value = 24;

// Rows of a view to read back (get, scroll, patch), answered in the order given.
inline constexpr std::size_t fetch_points_max = 100000;
struct fetch_request {
    std::vector<row_ref> rows;
    bool include_payload = true;
    bool include_vector = false;
    // The payloads and vectors (vector_value_bytes a value) asked for may total at most this
    // many bytes (0: no bound); past it the fetch fails with invalid_argument before anything is
    // read.
    std::size_t bytes_max = 0;
    std::size_t vector_value_bytes = json_bytes_per_vector_value;
};

// A page of a scroll: the live points that match filter (null: all), in byte order of their
// ids, after `after` (the previous page's last id; none for the first page), at most limit, and
// at most about bytes_max of payloads and vectors together (at least one point; 0: no bound).
inline constexpr std::size_t scroll_limit_max = 10000;
struct scroll_request {
    std::shared_ptr<const index::filter> filter;
    std::size_t limit = 100;
    std::optional<std::string> after;
    bool include_payload = true;
    bool include_vector = false;
    std::size_t bytes_max = 0;
};
struct scroll_response {
    std::vector<stored_point> points;
    std::optional<std::string> next_cursor;  // the last id returned, when more may follow
};

// Points read by id: those found in the order asked (duplicates answered once), and the ids not
// found.
inline constexpr std::size_t get_ids_max = 10000;
struct get_response {
    std::vector<stored_point> points;
    std::vector<std::string> missing;
};

// At most this many searches in one batch.
inline constexpr std::size_t batch_searches_max = 1000;

// Recall of the collection's searches, measured now: queries (given, or sampled from its stored
// points) searched as asked (nprobe or recall_target) and exhaustively, the answers compared.
inline constexpr std::size_t recall_queries_max = 1000;
struct recall_request {
    std::size_t num_queries = 25;  // sampled when queries is empty
    std::size_t top_k = 10;
    std::size_t nprobe = 0;
    double recall_target = 0;
    std::vector<std::vector<float>> queries;
    std::uint64_t seed = 0;  // of the sample; 0: a new one each time
};
struct recall_response {
    double recall = 0;  // mean over the queries of |ANN top-k and exact top-k| / |exact top-k|
    std::size_t queries = 0;
    std::size_t top_k = 0;
    std::size_t nprobe = 0;          // the budget the searches used
    double expected_recall = -1;     // what the curves expected of it (recall_target only)
    double vectors_scanned = 0;      // per query, ANN
    double exhaustive_vectors_scanned = 0;
};

}  // namespace puffer::query
