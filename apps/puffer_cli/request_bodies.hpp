#pragma once
// The JSON bodies puffer-cli sends, all built here (docs/api.md has their shapes). Numbers are
// written by hand for speed where a body holds many of them (a 1,000-point batch at d = 768 is
// 768,000 values); everything else through Boost.JSON.

#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace puffer::cli {

struct search_options {
    std::size_t top_k = 10;
    std::size_t nprobe = 0;      // 0: the server's default
    double recall_target = 0;    // instead of nprobe when set
    bool include_payload = false;
    std::string filter;          // JSON text of a filter expression; empty: none
    std::size_t refine = 0;      // a quantized collection's re-scored candidates per result; 0: default
};

// unindexed_fields: payload fields left out of the attribute index (none: every field indexed);
// quantization: "none", "sq8", "rabitq" (empty: the server's default, none).
std::string create_body(const std::string& name, std::size_t dimension, const std::string& metric,
                        const std::vector<std::string>& unindexed_fields = {}, const std::string& quantization = {});
// {"points":[{"id":...,"vector":[...]}, ...]} for ids.size() rows of vectors (rows * d).
std::string points_body(const std::vector<std::string>& ids, const float* vectors, std::size_t d);
// The same for the random grid of load-random: values k / 10000, ids "vec-<first_id + i>".
std::string grid_points_body(const std::int16_t* grid, std::size_t rows, std::size_t d, std::size_t first_id);
// {"points":[<line>, ...]}: lines already point objects (an import of JSON lines).
std::string points_body_of_lines(const std::vector<std::string>& lines, std::size_t first, std::size_t count);
std::string search_body(const float* v, std::size_t d, const search_options& o);
// A search whose vector is JSON text given by the user.
std::string search_body(std::string_view vector_json, const search_options& o);
std::string delete_body(const std::vector<std::string>& ids);
// The bodies below take JSON text given by the user (a filter, a payload) and fail with a
// message when it does not parse.
std::string delete_by_filter_body(const std::string& filter);
// {"ids"|"filter", "payload", "mode"}; filter used when ids is empty.
std::string patch_body(const std::vector<std::string>& ids, const std::string& filter, const std::string& payload,
                       bool replace);
std::string get_body(const std::vector<std::string>& ids, bool include_vector);
// {"filter": ...}, or {} for every point.
std::string count_body(const std::string& filter);
// A page of a scroll: cursor empty for the first.
std::string scroll_body(const std::string& filter, std::size_t limit, const std::string& cursor, bool include_vector);
// The JSON text parses (a filter or a payload from the command line); else the parser's message.
bool valid_json(const std::string& text, std::string& message);
// JSON text with numbers read exactly from their text, as the server reads them (an export
// writes back the doubles it was given); throws std::runtime_error when malformed.
boost::json::value parse_exact(std::string_view text);
std::string recall_body(std::size_t num_queries, const search_options& o);

}  // namespace puffer::cli
