#pragma once
// Builds small segments for the format tests.

#include "engine/format/segment_writer.hpp"
#include "engine/io/env.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace puffer::test {

// The tiny segment pinned by the golden test: d = 2, l2, 3 rows in 2 clusters, segment id 7.
//   rows: "a" (1,2); "bb" (3,4) payload {"x":1}; "c" (5,6)
//   clusters: 0 = {row 0}, centroid (1,2); 1 = {rows 1, 2}, centroid (4,5)
inline format::segment_file_info write_tiny_segment(const std::string& path)
{
    static const float vectors[] = {1, 2, 3, 4, 5, 6};
    static const std::vector<std::string_view> ids = {"a", "bb", "c"};
    static const std::vector<std::string_view> payloads = {"", "{\"x\":1}", ""};
    static const index::ivf_layout layout = [] {
        index::ivf_layout l;
        l.dimension = 2;
        l.cluster_count = 2;
        l.centroids = {1, 2, 4, 5};
        l.cluster_offsets = {0, 1, 3};
        l.order = {0, 1, 2};
        return l;
    }();
    format::segment_input input;
    input.segment_id = 7;
    input.distance_metric = metric::l2;
    input.dimension = 2;
    input.vectors = vectors;
    input.ids = ids;
    input.payloads = payloads;
    input.layout = &layout;
    auto info = format::write_segment(io::posix_env(), path, input);
    if (!info) {
        throw std::runtime_error(info.error().message());
    }
    return *info;
}

}  // namespace puffer::test
