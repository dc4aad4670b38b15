#include "engine/collection/segment_builder.hpp"

#include "engine/core/assert.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/log.hpp"
#include "engine/format/segment_format.hpp"
#include "engine/format/segment_writer.hpp"
#include "engine/index/attributes.hpp"
#include "engine/index/ivf.hpp"
#include "engine/index/recall_curve.hpp"

#include <chrono>

namespace puffer::collection {
namespace {

// Rows a build samples as queries for its recall curve, and the k of its recall@k. 200 queries
// put the curve within about +-0.005 of the exact value at recall 0.95 (2,000 neighbours).
constexpr std::size_t recall_curve_queries = 200;
constexpr std::size_t recall_curve_top_k = 10;

}  // namespace

result<built_segment> build_segment(io::env& e, const std::string& segments_dir, std::uint64_t id, metric m,
                                    const build_rows& rows, const build_table& table, const options& o,
                                    thread_pool* pool, const std::atomic<bool>* stop, const assigned_fn& on_assigned)
{
    const std::size_t n = rows.ids.size();
    PUFFER_ASSERT(n >= 1);
    using clock = std::chrono::steady_clock;
    auto started = clock::now();
    index::ivf_layout layout;
    if (table.centroids != nullptr) {
        PUFFER_ASSERT(table.cluster_count >= 1);
        layout = index::assign_ivf_layout(rows.vectors.data(), n, rows.dimension, table.centroids, table.cluster_count,
                                          pool);
        if (on_assigned) {
            on_assigned(layout);
        }
    } else {
        index::ivf_options io;
        io.cluster_count = o.cluster_count != 0 ? o.cluster_count : table.cluster_count;
        io.kmeans.seed = o.kmeans_seed + id;
        io.kmeans.cancel = o.cancel;
        io.kmeans.cancel_also = stop;
        layout = index::build_ivf_layout(rows.vectors.data(), n, rows.dimension, io, pool);
    }
    if (layout.cancelled || (stop != nullptr && stop->load()) || (o.cancel != nullptr && o.cancel->load())) {
        if (stop != nullptr && stop->load()) {
            return make_error(errc::not_found, "segment build cancelled: the collection was deleted");
        }
        return make_error(errc::shutting_down, "segment build cancelled: the server is shutting down");
    }

    double layout_ms = ms_since(started);
    auto curve_started = clock::now();
    format::segment_input input;
    input.segment_id = id;
    input.distance_metric = m;
    input.dimension = rows.dimension;
    input.vectors = rows.vectors.data();
    input.ids = rows.ids;
    bool any_payload = false;
    for (auto p : rows.payloads) {
        any_payload = any_payload || !p.empty();
    }
    if (any_payload) {
        input.payloads = rows.payloads;
    }
    input.layout = &layout;
    // The recall curve the planner uses for recall targets (the sample's seed follows the id, so
    // a rebuild measures the same).
    if (n > 2 * recall_curve_top_k + index::recall_neighbours_skipped) {
        index::recall_curve curve = index::measure_recall_curve(
            m, rows.vectors.data(), n, rows.dimension, layout, recall_curve_queries, recall_curve_top_k,
            index::recall_neighbours_skipped, o.kmeans_seed ^ (id * 0x9E3779B97F4A7C15ull), pool);
        input.sections.push_back({format::section_kind::recall_curve, 0, format::encode_recall_curve(curve)});
    }
    double curve_ms = ms_since(curve_started);
    // The payloads' attribute index, by position (docs/format.md).
    auto attributes_started = clock::now();
    if (any_payload) {
        index::attribute_index attrs;
        if (!rows.source_attributes.empty()) {
            // The sources' indexes, their rows renumbered to positions.
            std::vector<std::vector<std::int64_t>> positions(rows.source_attributes.size());
            for (std::size_t p = 0; p < n; ++p) {
                const build_rows::source& s = rows.sources[layout.order[p]];
                auto& pos = positions[s.container_index];
                if (pos.size() <= s.row) {
                    pos.resize(s.row + 1, -1);
                }
                pos[s.row] = static_cast<std::int64_t>(p);
            }
            attrs = index::attribute_index::remap(rows.source_attributes, positions, n);
        } else {
            for (std::size_t p = 0; p < n; ++p) {
                attrs.add(static_cast<std::uint32_t>(p), rows.payloads[layout.order[p]]);
            }
            attrs.seal(n);
        }
        if (!attrs.empty()) {
            input.sections.push_back({format::section_kind::attribute_index, 0, attrs.encode()});
        }
    }
    double attributes_ms = ms_since(attributes_started);
    // Every row's vector gets a checksum of its own (re-ranking reads single rows); a quantized
    // collection's segments get their codes.
    auto codes_started = clock::now();
    input.sections.push_back(
        {format::section_kind::row_checksums, 0, format::encode_row_checksums(id, rows.vectors.data(), layout)});
    if (o.quantization == index::quantization::sq8) {
        // Residual codes (of each row less its centroid): tighter ranges than the rows' own.
        index::sq8_params params = index::train_sq8(rows.vectors.data(), layout, /*residual=*/true);
        format::code_sections codes = format::encode_sq8_sections(id, params, rows.vectors.data(), layout);
        input.sections.push_back({format::section_kind::sq8_params, 0, std::move(codes.params)});
        input.sections.push_back({format::section_kind::sq8_codes, 0, std::move(codes.codes)});
    } else if (o.quantization == index::quantization::rabitq) {
        const index::rabitq_params& params = index::rabitq_rotation(layout.dimension);
        format::code_sections codes = format::encode_rabitq_sections(id, params, rows.vectors.data(), layout);
        input.sections.push_back({format::section_kind::rabitq_params, 0, std::move(codes.params)});
        input.sections.push_back({format::section_kind::rabitq_codes, 0, std::move(codes.codes)});
    }
    double codes_ms = ms_since(codes_started);
    auto write_started = clock::now();
    std::string path = io::join_path(segments_dir, format::segment_file_name(id));
    PUFFER_TRY(format::write_segment(e, path, input));
    PUFFER_TRY(e.sync_dir(segments_dir));
    PUFFER_LOG(debug,
               "segment %llu: %zu rows, %zu clusters: %s %.0f ms, recall curve %.0f ms, attributes %.0f ms, codes "
               "%.0f ms, written in %.0f ms",
               static_cast<unsigned long long>(id), n, layout.cluster_count,
               table.centroids != nullptr ? "assigned" : "trained", layout_ms, curve_ms, attributes_ms, codes_ms,
               ms_since(write_started));

    built_segment out;
    PUFFER_TRY_ASSIGN(out.seg, storage::segment::open(e, path, id, o.mode));
    out.position_source.assign(layout.order.begin(), layout.order.end());
    return out;
}

}  // namespace puffer::collection
