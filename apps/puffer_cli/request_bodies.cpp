#include "apps/puffer_cli/request_bodies.hpp"

#include "net/json_parse.hpp"

#include <boost/json.hpp>

#include <stdexcept>

#include <charconv>

namespace json = boost::json;

namespace puffer::cli {
namespace {

// Random vectors are generated on a 1/10000 grid and written as fixed decimals ("-0.1234"):
// seven characters per value and no float formatting, so the client spends its CPU on sending
// rather than printing (the server's parse is what a load test should measure).
void append_grid_value(std::string& out, int k)
{
    char buf[16];
    char* p = buf;
    if (k < 0) {
        *p++ = '-';
        k = -k;
    }
    *p++ = static_cast<char>('0' + k / 10000);
    *p++ = '.';
    int frac = k % 10000;
    p[3] = static_cast<char>('0' + frac % 10);
    frac /= 10;
    p[2] = static_cast<char>('0' + frac % 10);
    frac /= 10;
    p[1] = static_cast<char>('0' + frac % 10);
    frac /= 10;
    p[0] = static_cast<char>('0' + frac);
    p += 4;
    out.append(buf, static_cast<std::size_t>(p - buf));
}

// The shortest text that reads back as the same float32.
void append_float(std::string& out, float v)
{
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;
    out.append(buf, static_cast<std::size_t>(end - buf));
}

void append_json_string(std::string& out, std::string_view s)
{
    out += json::serialize(json::string_view(s.data(), s.size()));
}

void append_vector(std::string& out, const float* v, std::size_t d)
{
    out += '[';
    for (std::size_t j = 0; j < d; ++j) {
        if (j != 0) {
            out += ',';
        }
        append_float(out, v[j]);
    }
    out += ']';
}

void append_search_options(std::string& out, const search_options& o)
{
    out += ",\"top_k\":" + std::to_string(o.top_k);
    if (o.nprobe != 0) {
        out += ",\"nprobe\":" + std::to_string(o.nprobe);
    }
    if (o.recall_target > 0) {
        out += ",\"recall_target\":" + json::serialize(json::value(o.recall_target));
    }
    if (o.include_payload) {
        out += ",\"include_payload\":true";
    }
    if (!o.filter.empty()) {
        out += ",\"filter\":" + o.filter;
    }
    if (o.refine != 0) {
        out += ",\"refine\":" + std::to_string(o.refine);
    }
}

}  // namespace

std::string create_body(const std::string& name, std::size_t dimension, const std::string& metric,
                        const std::vector<std::string>& unindexed_fields, const std::string& quantization)
{
    json::object body;
    body["name"] = name;
    body["dimension"] = dimension;
    body["metric"] = metric;
    if (!unindexed_fields.empty()) {
        json::array fields;
        for (const auto& f : unindexed_fields) {
            fields.emplace_back(f);
        }
        body["unindexed_fields"] = std::move(fields);
    }
    if (!quantization.empty()) {
        body["quantization"] = quantization;
    }
    return json::serialize(body);
}

std::string points_body(const std::vector<std::string>& ids, const float* vectors, std::size_t d)
{
    std::string body;
    body.reserve(ids.size() * (d * 11 + 32) + 16);
    body += "{\"points\":[";
    for (std::size_t i = 0; i < ids.size(); ++i) {
        body += i == 0 ? "{\"id\":" : ",{\"id\":";
        append_json_string(body, ids[i]);
        body += ",\"vector\":";
        append_vector(body, vectors + i * d, d);
        body += '}';
    }
    body += "]}";
    return body;
}

std::string grid_points_body(const std::int16_t* grid, std::size_t rows, std::size_t d, std::size_t first_id)
{
    std::string out;
    out.reserve(rows * (d * 8 + 32) + 16);
    out += "{\"points\":[";
    for (std::size_t i = 0; i < rows; ++i) {
        out += i == 0 ? "{\"id\":\"vec-" : ",{\"id\":\"vec-";
        out += std::to_string(first_id + i);
        out += "\",\"vector\":[";
        const std::int16_t* row = grid + i * d;
        for (std::size_t j = 0; j < d; ++j) {
            if (j != 0) {
                out += ',';
            }
            append_grid_value(out, row[j]);
        }
        out += "]}";
    }
    out += "]}";
    return out;
}

std::string points_body_of_lines(const std::vector<std::string>& lines, std::size_t first, std::size_t count)
{
    std::string out = "{\"points\":[";
    for (std::size_t i = first; i < first + count; ++i) {
        out += i == first ? "" : ",";
        out += lines[i];
    }
    return out + "]}";
}

std::string search_body(const float* v, std::size_t d, const search_options& o)
{
    std::string body = "{\"vector\":";
    append_vector(body, v, d);
    append_search_options(body, o);
    return body + "}";
}

std::string search_body(std::string_view vector_json, const search_options& o)
{
    std::string body = "{\"vector\":";
    body += vector_json;
    append_search_options(body, o);
    return body + "}";
}

std::string delete_body(const std::vector<std::string>& ids)
{
    json::array list;
    for (const auto& id : ids) {
        list.emplace_back(id);
    }
    json::object body;
    body["ids"] = std::move(list);
    return json::serialize(body);
}

boost::json::value parse_exact(std::string_view text)
{
    auto v = net::parse_json(text, net::body_depth_max, net::number_mode::doubles);
    if (!v) {
        throw std::runtime_error(v.error().context);
    }
    return std::move(*v);
}

bool valid_json(const std::string& text, std::string& message)
{
    auto v = net::parse_json(text, net::body_depth_max, net::number_mode::doubles);
    if (!v) {
        message = v.error().context;
        return false;
    }
    return true;
}

std::string delete_by_filter_body(const std::string& filter)
{
    json::object body;
    body["filter"] = parse_exact(filter);
    return json::serialize(body);
}

std::string patch_body(const std::vector<std::string>& ids, const std::string& filter, const std::string& payload,
                       bool replace)
{
    json::object body;
    if (!ids.empty()) {
        json::array list;
        for (const auto& id : ids) {
            list.emplace_back(id);
        }
        body["ids"] = std::move(list);
    } else {
        body["filter"] = parse_exact(filter);
    }
    body["payload"] = parse_exact(payload);
    body["mode"] = replace ? "replace" : "merge";
    return json::serialize(body);
}

std::string count_body(const std::string& filter)
{
    json::object body;
    if (!filter.empty()) {
        body["filter"] = parse_exact(filter);
    }
    return json::serialize(body);
}

std::string get_body(const std::vector<std::string>& ids, bool include_vector)
{
    json::array list;
    for (const auto& id : ids) {
        list.emplace_back(id);
    }
    json::object body;
    body["ids"] = std::move(list);
    body["include_vector"] = include_vector;
    return json::serialize(body);
}

std::string scroll_body(const std::string& filter, std::size_t limit, const std::string& cursor, bool include_vector)
{
    json::object body;
    if (!filter.empty()) {
        body["filter"] = parse_exact(filter);
    }
    body["limit"] = limit;
    if (!cursor.empty()) {
        body["cursor"] = cursor;
    }
    body["include_vector"] = include_vector;
    return json::serialize(body);
}

std::string recall_body(std::size_t num_queries, const search_options& o)
{
    json::object body;
    body["num_queries"] = num_queries;
    body["top_k"] = o.top_k;
    if (o.nprobe != 0) {
        body["nprobe"] = o.nprobe;
    }
    if (o.recall_target > 0) {
        body["recall_target"] = o.recall_target;
    }
    return json::serialize(body);
}

}  // namespace puffer::cli
