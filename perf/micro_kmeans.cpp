// k-means build time (train + assign) and the assignment kernel, on synthetic clustered data of
// SIFT's shape (d = 128, integer values); real-data build times come from puffer-bench.
#include "engine/core/distance.hpp"
#include "engine/core/thread_pool.hpp"
#include "engine/index/ivf.hpp"

#include <benchmark/benchmark.h>

#include <random>
#include <thread>

using namespace puffer;

namespace {

std::vector<float> clustered(std::size_t n, std::size_t d)
{
    std::mt19937 rng(5);
    std::vector<float> centers(256 * d);
    for (auto& v : centers) {
        v = static_cast<float>(rng() % 200);
    }
    std::vector<float> x(n * d);
    std::normal_distribution<float> noise(0, 12);
    for (std::size_t i = 0; i < n; ++i) {
        const float* c = centers.data() + (rng() % 256) * d;
        for (std::size_t j = 0; j < d; ++j) {
            x[i * d + j] = std::max(0.0f, std::round(c[j] + noise(rng)));
        }
    }
    return x;
}

void bm_ivf_build(benchmark::State& state)
{
    const auto n = static_cast<std::size_t>(state.range(0));
    const std::size_t d = 128;
    auto x = clustered(n, d);
    thread_pool pool(std::thread::hardware_concurrency() - 1);
    for (auto _ : state) {
        auto layout = index::build_ivf_layout(x.data(), n, d, index::ivf_options{}, &pool);
        benchmark::DoNotOptimize(layout.order.data());
    }
}

void bm_dot_matrix(benchmark::State& state)
{
    const std::size_t nx = 256;
    const std::size_t ny = 512;
    const std::size_t d = 128;
    auto x = clustered(nx, d);
    auto y = clustered(ny, d);
    std::vector<float> out(nx * ny);
    for (auto _ : state) {
        simd::active().dot_matrix(x.data(), nx, y.data(), ny, d, out.data());
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["GFLOPS"] = benchmark::Counter(static_cast<double>(state.iterations()) * 2.0 * nx * ny * d / 1e9,
                                                  benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(bm_ivf_build)->Arg(50000)->Arg(200000)->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK(bm_dot_matrix)->Unit(benchmark::kMicrosecond);
