#pragma once
// Filters from JSON (docs/api.md, "Filters"): checked completely here, so the engine takes a
// filter as valid. Every refusal is errc::invalid_argument naming the bad node by its path from
// the request's field ("filter.and[1].range: ...").

#include "engine/core/result.hpp"
#include "engine/index/filter.hpp"

#include <boost/json/value.hpp>

#include <memory>
#include <string>

namespace puffer::net {

// Bodies that may hold a filter are parsed with this nesting limit: a filter of
// index::filter_depth_max levels of "and" takes two JSON levels a level, plus a batch's three.
inline constexpr std::size_t filter_body_depth_max = 2 * index::filter_depth_max + 16;

// The filter of v, found at `where` ("filter", "searches[2].filter"); a JSON null is no filter.
[[nodiscard]] result<std::shared_ptr<const index::filter>> parse_filter(const boost::json::value& v,
                                                                        const std::string& where);

}  // namespace puffer::net
