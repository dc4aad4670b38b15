#pragma once
// The exact JSON reader (engine/index/json_parse.hpp), under the names net/ uses.

#include "engine/index/json_parse.hpp"

namespace puffer::net {

using index::body_depth_max;
using index::double_from_text;
using index::find_non_finite;
using index::float_from_text;
using index::number_mode;
using index::parse_json;
using index::parse_payload;
using index::payload_depth_max;

}  // namespace puffer::net
