#include "engine/core/distance.hpp"

#include "engine/core/distance_kernels.hpp"

#include <atomic>
#include <cmath>
#include <cstdlib>

namespace puffer {

std::string_view to_string(metric m)
{
    switch (m) {
    case metric::l2: return "l2";
    case metric::cosine: return "cosine";
    case metric::inner_product: return "ip";
    }
    return "unknown";
}

std::optional<metric> parse_metric(std::string_view name)
{
    if (name == "l2" || name == "euclidean") {
        return metric::l2;
    }
    if (name == "cosine") {
        return metric::cosine;
    }
    if (name == "ip" || name == "dot" || name == "inner_product") {
        return metric::inner_product;
    }
    return std::nullopt;
}

bool metric_from_code(std::uint8_t code, metric& out)
{
    if (code > static_cast<std::uint8_t>(metric::inner_product)) {
        return false;
    }
    out = static_cast<metric>(code);
    return true;
}

bool normalize(float* x, std::size_t d)
{
    double sum = 0;
    for (std::size_t j = 0; j < d; ++j) {
        sum += static_cast<double>(x[j]) * x[j];
    }
    if (!(sum > 0) || !std::isfinite(sum)) {
        return false;
    }
    // Scaled in double: for a vector of subnormal values 1 / norm is past the float32 range.
    double inverse = 1.0 / std::sqrt(sum);
    for (std::size_t j = 0; j < d; ++j) {
        x[j] = static_cast<float>(x[j] * inverse);
    }
    return true;
}

void distance_rows(metric m, const float* q, const float* x, std::size_t n, std::size_t d,
                   float* out)
{
    const auto& k = simd::active();
    if (m == metric::l2) {
        k.l2_sqr_rows(q, x, n, d, out);
        return;
    }
    k.dot_rows(q, x, n, d, out);
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = -out[i];
    }
}

void distance_gather(metric m, const float* q, const float* const* rows, std::size_t n, std::size_t d,
                     float* out)
{
    const auto& k = simd::active();
    if (m == metric::l2) {
        k.l2_sqr_gather(q, rows, n, d, out);
        return;
    }
    k.dot_gather(q, rows, n, d, out);
    for (std::size_t i = 0; i < n; ++i) {
        out[i] = -out[i];
    }
}

namespace simd {
namespace {

bool cpu_has(level l)
{
    __builtin_cpu_init();
    switch (l) {
    case level::scalar: return true;
    case level::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case level::avx512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    }
    return false;
}

const kernel_table* initial_table()
{
    if (const char* forced = std::getenv("PUFFER_SIMD"); forced != nullptr && *forced != '\0') {
        if (auto l = parse_level(forced); l && cpu_has(*l)) {
            return table_for(*l);
        }
    }
    return table_for(best_supported_level());
}

std::atomic<const kernel_table*>& active_table()
{
    static std::atomic<const kernel_table*> table{initial_table()};
    return table;
}

}  // namespace

std::string_view to_string(level l)
{
    switch (l) {
    case level::scalar: return "scalar";
    case level::avx2: return "avx2";
    case level::avx512: return "avx512";
    }
    return "unknown";
}

std::optional<level> parse_level(std::string_view name)
{
    if (name == "scalar") {
        return level::scalar;
    }
    if (name == "avx2") {
        return level::avx2;
    }
    if (name == "avx512") {
        return level::avx512;
    }
    return std::nullopt;
}

level best_supported_level()
{
    if (cpu_has(level::avx512)) {
        return level::avx512;
    }
    if (cpu_has(level::avx2)) {
        return level::avx2;
    }
    return level::scalar;
}

const kernel_table* table_for(level l)
{
    if (!cpu_has(l)) {
        return nullptr;
    }
    switch (l) {
    case level::scalar: return &detail::scalar_table;
    case level::avx2: return &detail::avx2_table;
    case level::avx512: return &detail::avx512_table;
    }
    return nullptr;
}

const kernel_table& active()
{
    return *active_table().load(std::memory_order_relaxed);
}

bool force_level(level l)
{
    const kernel_table* table = table_for(l);
    if (table == nullptr) {
        return false;
    }
    active_table().store(table, std::memory_order_relaxed);
    return true;
}

}  // namespace simd
}  // namespace puffer
