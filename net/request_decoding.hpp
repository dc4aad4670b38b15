#pragma once
// JSON request bodies -> engine requests, validated: types, ranges, finite float32 values, ids,
// payload objects, unknown fields. The shapes are documented in docs/api.md and
// docs/openapi.yaml. Every rejection is errc::invalid_argument with a message that names the
// field (and the point or search index, for batches).

#include "engine/collection/types.hpp"
#include "engine/core/point_batch.hpp"
#include "engine/core/result.hpp"
#include "engine/query/request.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::net {

inline constexpr std::size_t top_k_max = 1000;
inline constexpr double recall_target_min = 0.5;
inline constexpr double recall_target_max = 0.999;

struct create_request {
    std::string name;
    std::size_t dimension = 0;
    metric distance_metric = metric::l2;
    // Payload fields (dotted paths) left out of the attribute index: stored and answered, never
    // filtered on. The engine checks their form.
    std::vector<std::string> unindexed_fields;
    // Codes stored beside the float vectors: "none" (default) or "sq8".
    index::quantization quantization = index::quantization::none;
};

[[nodiscard]] result<create_request> parse_create(std::string_view body);
// Vectors keep the batch's own dimension (the first point's); the engine checks it against the
// collection's.
[[nodiscard]] result<point_batch> parse_points(std::string_view body);
[[nodiscard]] result<query::search_request> parse_search(std::string_view body);
// {"searches": [<search body>, ...]}, 1 to query::batch_searches_max of them.
[[nodiscard]] result<std::vector<query::search_request>> parse_search_batch(std::string_view body);
[[nodiscard]] result<query::recall_request> parse_recall(std::string_view body);
// {"ids": [...]} or {"filter": <filter>}: exactly one.
struct delete_request {
    std::vector<std::string> ids;
    std::shared_ptr<const index::filter> filter;  // set when the points are chosen by filter
};
[[nodiscard]] result<delete_request> parse_delete(std::string_view body);

// "include_payload": true, false, or a list of top-level payload fields to answer (the others
// are left out of each payload).
struct payload_selection {
    bool include = false;
    std::optional<std::vector<std::string>> fields;  // none: the whole payload
};

// {"ids": [...], "include_payload"?, "include_vector"?} (payloads by default, no vectors).
struct get_request {
    std::vector<std::string> ids;
    payload_selection payload{true, {}};
    bool include_vector = false;
};
[[nodiscard]] result<get_request> parse_get(std::string_view body);

// {"filter"?, "limit"?, "cursor"?, "include_payload"?, "include_vector"?}.
struct scroll_body {
    query::scroll_request request;
    payload_selection payload{true, {}};
};
[[nodiscard]] result<scroll_body> parse_scroll(std::string_view body);

// {"ids": [...]} or {"filter": ...}, with "payload": {...} and "mode"?: "merge" | "replace".
struct patch_request {
    std::vector<std::string> ids;
    std::shared_ptr<const index::filter> filter;
    std::string payload;  // compact JSON object text
    bool replace = false;
};
[[nodiscard]] result<patch_request> parse_patch(std::string_view body);
// {"filter"?: <filter>}, or an empty body: the filter of a count (null: every point).
[[nodiscard]] result<std::shared_ptr<const index::filter>> parse_count(std::string_view body);

namespace detail {
// The general (DOM) path of parse_points alone; parse_points uses a faster scanner first. Tests
// check that the two agree.
[[nodiscard]] result<point_batch> parse_points_dom(std::string_view body);
}  // namespace detail

}  // namespace puffer::net
