#pragma once
// Engine results -> JSON response bodies (docs/api.md, docs/openapi.yaml). Built on the
// connection's thread, never on a shard.

#include "engine/collection/types.hpp"
#include "engine/db/database.hpp"
#include "engine/core/result.hpp"
#include "engine/query/request.hpp"
#include "net/request_decoding.hpp"

#include <string>
#include <vector>

namespace puffer::net {

std::string info_json(const collection::collection_info& info);
std::string list_json(const std::vector<collection::collection_info>& infos);
// io: how the server reads segments (db::database::io()).
std::string stats_json(const collection::collection_stats& stats, const db::io_report& io);
// errc::corruption when a stored payload no longer parses: damaged data is an error, not null.
[[nodiscard]] result<std::string> search_json(const query::search_response& response, const payload_selection& payload);
// {"results": [[hits of search 0], ...], "stats": {...}}; payloads as each search asked.
[[nodiscard]] result<std::string> batch_json(const query::batch_response& response,
                                             const std::vector<payload_selection>& payload);
// {"points": [{"id", "payload"?, "vector"?}, ...], "missing": [ids]}.
[[nodiscard]] result<std::string> get_json(const query::get_response& response, const payload_selection& payload,
                                           bool include_vector);
// One point object: {"id", "payload"?, "vector"?}.
[[nodiscard]] result<std::string> point_json(const query::stored_point& point, const payload_selection& payload,
                                             bool include_vector);
// {"points": [...], "next_cursor": id | null}.
[[nodiscard]] result<std::string> scroll_json(const query::scroll_response& response,
                                              const payload_selection& payload, bool include_vector);
std::string recall_json(const query::recall_response& response);
// {"id", "created_unix_ms", "points", "bytes", "files"}, and {"snapshots": [...]}.
std::string snapshot_json(const db::snapshot_info& info);
std::string snapshot_list_json(const std::vector<db::snapshot_info>& infos);

}  // namespace puffer::net
