// Kernel micro-benchmarks over data that does not fit in cache (a 1 GiB array by default; set
// PUFFER_BENCH_ARRAY_MB to change it), reported as bytes scanned per second. "sum" is a plain
// sum over the same array with the same instruction set: the memory read bandwidth one core gets,
// the ceiling a scan can reach.
#include "engine/core/crc32c.hpp"
#include "engine/core/distance.hpp"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

using namespace puffer;

namespace {

std::size_t array_bytes()
{
    const char* mb = std::getenv("PUFFER_BENCH_ARRAY_MB");
    return static_cast<std::size_t>(mb != nullptr ? std::atoll(mb) : 1024) << 20;
}

const std::vector<float>& big_array()
{
    static const std::vector<float> data = [] {
        std::vector<float> v(array_bytes() / sizeof(float));
        std::mt19937 rng(1);
        for (std::size_t i = 0; i < v.size(); i += 97) {
            v[i] = static_cast<float>(rng() % 256);
        }
        return v;
    }();
    return data;
}

void set_level(benchmark::State& state, simd::level l)
{
    if (!simd::force_level(l)) {
        state.SkipWithError("CPU lacks this level");
    }
}

void bm_sum(benchmark::State& state, simd::level l)
{
    set_level(state, l);
    const auto& x = big_array();
    for (auto _ : state) {
        benchmark::DoNotOptimize(simd::active().sum(x.data(), x.size()));
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * x.size() * sizeof(float)));
}

void bm_scan(benchmark::State& state, simd::level l, metric m)
{
    set_level(state, l);
    const auto d = static_cast<std::size_t>(state.range(0));
    const auto& x = big_array();
    std::size_t n = x.size() / d;
    std::vector<float> q(d, 1.0f);
    constexpr std::size_t block = 256;
    std::vector<float> out(block);
    for (auto _ : state) {
        for (std::size_t i = 0; i < n; i += block) {
            std::size_t count = std::min(block, n - i);
            distance_rows(m, q.data(), x.data() + i * d, count, d, out.data());
        }
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * d * sizeof(float)));
}

}  // namespace

// crc32c over blocks of the given size: in cache (the same block each time) and out of cache
// (consecutive blocks of the big array), as a cluster read from disk is verified.
void bm_crc32c(benchmark::State& state, bool in_cache)
{
    const auto block = static_cast<std::size_t>(state.range(0));
    const auto* base = reinterpret_cast<const std::byte*>(big_array().data());
    std::size_t blocks = big_array().size() * sizeof(float) / block;
    std::size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(crc32c::value(base + (in_cache ? 0 : i * block), block));
        i = (i + 1) % blocks;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * block));
}

BENCHMARK_CAPTURE(bm_crc32c, in_cache, true)->Arg(4096)->Arg(21725)->Arg(65536);
BENCHMARK_CAPTURE(bm_crc32c, out_of_cache, false)->Arg(4096)->Arg(21725)->Arg(65536);
BENCHMARK_CAPTURE(bm_sum, scalar, simd::level::scalar)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_sum, avx2, simd::level::avx2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_sum, avx512, simd::level::avx512)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_scan, l2_scalar, simd::level::scalar, metric::l2)->Arg(128)->Arg(768)->Arg(1536)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_scan, l2_avx2, simd::level::avx2, metric::l2)->Arg(128)->Arg(768)->Arg(1536)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_scan, l2_avx512, simd::level::avx512, metric::l2)->Arg(128)->Arg(768)->Arg(1536)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_scan, ip_avx2, simd::level::avx2, metric::inner_product)->Arg(128)->Arg(768)->Arg(1536)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_scan, ip_avx512, simd::level::avx512, metric::inner_product)->Arg(128)->Arg(768)->Arg(1536)->Unit(benchmark::kMillisecond);
