#pragma once
// A batch of points in flat form: the unit of an insert, of a WAL record and of a staging append.
// Vectors are contiguous (count * dimension floats), so appends and scans are memcpy and SIMD.

#include <cstddef>
#include <string>
#include <vector>

namespace puffer {

struct point_batch {
    std::size_t dimension = 0;
    std::vector<std::string> ids;
    std::vector<float> vectors;         // ids.size() * dimension
    std::vector<std::string> payloads;  // empty, or one per id (an empty string: no payload)

    std::size_t size() const { return ids.size(); }
    const float* vector(std::size_t i) const { return vectors.data() + i * dimension; }
    float* vector(std::size_t i) { return vectors.data() + i * dimension; }
    bool has_payloads() const { return !payloads.empty(); }
};

// Limits every layer enforces (the HTTP edge reports them as 400).
inline constexpr std::size_t id_size_bytes_max = 256;
inline constexpr std::size_t payload_size_bytes_max = 1 << 20;
inline constexpr std::size_t dimension_max = 65536;
inline constexpr std::size_t batch_points_max = 100000;

}  // namespace puffer
