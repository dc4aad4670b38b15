#pragma once
// Engine results -> JSON response bodies (docs/api.md, docs/openapi.yaml). Built on the
// connection's thread, never on a shard.

#include "engine/collection/types.hpp"
#include "engine/db/database.hpp"
#include "engine/core/result.hpp"
#include "engine/query/request.hpp"

#include <string>
#include <vector>

namespace puffer::net {

std::string info_json(const collection::collection_info& info);
std::string list_json(const std::vector<collection::collection_info>& infos);
// io: how the server reads segments (db::database::io()).
std::string stats_json(const collection::collection_stats& stats, const db::io_report& io);
// errc::corruption when a stored payload no longer parses: damaged data is an error, not null.
[[nodiscard]] result<std::string> search_json(const query::search_response& response, bool include_payload);
// {"results": [[hits of search 0], ...], "stats": {...}}; include_payload per search.
[[nodiscard]] result<std::string> batch_json(const query::batch_response& response,
                                             const std::vector<bool>& include_payload);
std::string recall_json(const query::recall_response& response);

}  // namespace puffer::net
