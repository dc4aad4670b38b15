#pragma once
// The .fvecs / .ivecs formats of the standard ANN benchmarks: per vector an int32 dimension,
// then that many float32 (fvecs) or int32 (ivecs) values, little-endian.

#include "engine/core/result.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace puffer::format {

template <class T>
struct matrix {
    std::size_t rows = 0;
    std::size_t dimension = 0;
    std::vector<T> data;  // rows * dimension

    const T* row(std::size_t i) const { return data.data() + i * dimension; }
};

// Reads at most limit rows (0: all). Every row must have the first row's dimension.
[[nodiscard]] result<matrix<float>> read_fvecs(const std::string& path, std::size_t limit = 0);
[[nodiscard]] result<matrix<std::int32_t>> read_ivecs(const std::string& path, std::size_t limit = 0);
[[nodiscard]] status write_fvecs(const std::string& path, const matrix<float>& m);
[[nodiscard]] status write_ivecs(const std::string& path, const matrix<std::int32_t>& m);

}  // namespace puffer::format
