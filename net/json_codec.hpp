#pragma once
// JSON request bodies -> engine requests (validated: types, ranges, finite float32 values,
// ids, payload objects, unknown fields), and engine results -> JSON response bodies. The shapes
// are documented in docs/api.md and docs/openapi.yaml. Every rejection is errc::invalid_argument
// with a message that names the field (and the point index, for batches).

#include "engine/collection/types.hpp"
#include "engine/query/request.hpp"
#include "engine/core/point_batch.hpp"
#include "engine/core/result.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace puffer::net {

inline constexpr std::size_t top_k_max = 1000;

struct create_request {
    std::string name;
    std::size_t dimension = 0;
    metric distance_metric = metric::l2;
};

[[nodiscard]] result<create_request> parse_create(std::string_view body);
// Vectors keep the batch's own dimension (the first point's); the engine checks it against the
// collection's.
[[nodiscard]] result<point_batch> parse_points(std::string_view body);
[[nodiscard]] result<query::search_request> parse_search(std::string_view body);
[[nodiscard]] result<std::vector<std::string>> parse_delete(std::string_view body);

namespace detail {
// The general (DOM) path of parse_points alone; parse_points uses a faster scanner first. Tests
// check that the two agree.
[[nodiscard]] result<point_batch> parse_points_dom(std::string_view body);
}  // namespace detail

std::string info_json(const collection::collection_info& info);
std::string list_json(const std::vector<collection::collection_info>& infos);
std::string stats_json(const collection::collection_stats& stats);
// errc::corruption when a stored payload no longer parses: damaged data is an error, not null.
[[nodiscard]] result<std::string> search_json(const query::search_response& response, bool include_payload);

}  // namespace puffer::net
