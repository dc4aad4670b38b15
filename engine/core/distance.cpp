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
    case level::avx2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("popcnt");
    case level::avx512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("popcnt");
    }
    return false;
}

bool cpu_has_vnni()
{
    __builtin_cpu_init();
    return cpu_has(level::avx512) && __builtin_cpu_supports("avx512vnni");
}

bool cpu_has_vpopcnt()
{
    __builtin_cpu_init();
    return cpu_has(level::avx512) && __builtin_cpu_supports("avx512vpopcntdq");
}

// The AVX-512 table with VNNI's 8-bit kernel and VPOPCNTDQ's 1-bit kernel where the CPU has
// them; built on first use (no order of static initialization between translation units to
// depend on).
const kernel_table* avx512_extended_table()
{
    static const kernel_table table = [] {
        kernel_table t = detail::avx512_table;
        if (cpu_has_vnni()) {
            t.dot_u8s8_rows = detail::dot_u8s8_rows_vnni;
            t.u8s8_name = "avx512vnni";
        }
        if (cpu_has_vpopcnt()) {
            t.bits_dot_rows = detail::bits_dot_rows_vpopcnt;
            t.bits_name = "avx512vpopcntdq";
        }
        return t;
    }();
    return &table;
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
    case level::avx512: return avx512_extended_table();
    }
    return nullptr;
}

std::size_t u8s8_kernels(u8s8_kernel* out, std::size_t capacity)
{
    std::size_t count = 0;
    auto add = [&](const char* name, decltype(u8s8_kernel::rows) rows) {
        if (count < capacity) {
            out[count++] = u8s8_kernel{name, rows};
        }
    };
    add(detail::scalar_table.u8s8_name, detail::scalar_table.dot_u8s8_rows);
    if (cpu_has(level::avx2)) {
        add(detail::avx2_table.u8s8_name, detail::avx2_table.dot_u8s8_rows);
    }
    if (cpu_has(level::avx512)) {
        add(detail::avx512_table.u8s8_name, detail::avx512_table.dot_u8s8_rows);
    }
    if (cpu_has_vnni()) {
        add("avx512vnni", detail::dot_u8s8_rows_vnni);
    }
    return count;
}

std::size_t bits_kernels(bits_kernel* out, std::size_t capacity)
{
    std::size_t count = 0;
    auto add = [&](const char* name, decltype(bits_kernel::rows) rows) {
        if (count < capacity) {
            out[count++] = bits_kernel{name, rows};
        }
    };
    add(detail::scalar_table.bits_name, detail::scalar_table.bits_dot_rows);
    if (cpu_has(level::avx2)) {
        add(detail::avx2_table.bits_name, detail::avx2_table.bits_dot_rows);
    }
    if (cpu_has_vpopcnt()) {
        add("avx512vpopcntdq", detail::bits_dot_rows_vpopcnt);
    }
    return count;
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
