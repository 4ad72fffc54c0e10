// PTQ toolkit costs: calibrator observe throughput, selection latency, INT8 vs FP8 fake-quant
// throughput (the FP8 path is the bulk kernel of the running CPU), and the metrics.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <fp8kit/ptq.hpp>
#include <vector>

namespace {

namespace ptq = fp8kit::ptq;

// Fresh, mixed-sign data (a cheap xorshift + Box-Muller), so no branch predictor is flattered.
std::vector<float> gaussian(std::size_t n) {
  std::vector<float> x(n);
  std::uint64_t s = 0x9E3779B97F4A7C15u;
  auto uniform = [&s] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (double(s >> 11) + 0.5) * 0x1.0p-53;
  };
  for (auto& v : x) {
    v = float(std::sqrt(-2 * std::log(uniform())) * std::cos(6.283185307179586 * uniform()));
  }
  return x;
}

void set_items(benchmark::State& state, std::size_t n) {
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(n));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n * sizeof(float)));
}

void BM_observe_max(benchmark::State& state) {
  const auto x = gaussian(std::size_t(state.range(0)));
  for (auto _ : state) {
    ptq::max_calibrator c;
    c.observe(x.data(), x.size());
    benchmark::DoNotOptimize(c.amax());
  }
  set_items(state, x.size());
}
BENCHMARK(BM_observe_max)->Arg(1 << 12)->Arg(1 << 20);

void BM_observe_histogram(benchmark::State& state) {
  const auto x = gaussian(std::size_t(state.range(0)));
  ptq::histogram_calibrator c;
  for (auto _ : state) {
    c.observe(x.data(), x.size());
    benchmark::DoNotOptimize(c.counts().data());
  }
  set_items(state, x.size());
}
BENCHMARK(BM_observe_histogram)->Arg(1 << 12)->Arg(1 << 20);

template <class F>
void BM_mse_amax(benchmark::State& state) {
  const auto x = gaussian(1 << 20);
  ptq::histogram_calibrator c;
  c.observe(x.data(), x.size());
  for (auto _ : state) benchmark::DoNotOptimize(c.mse_amax<F>());
}
BENCHMARK_TEMPLATE(BM_mse_amax, fp8kit::e4m3fn)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_mse_amax, ptq::int8)->Unit(benchmark::kMillisecond);

void BM_entropy_amax(benchmark::State& state) {
  const auto x = gaussian(1 << 20);
  ptq::histogram_calibrator c;
  c.observe(x.data(), x.size());
  for (auto _ : state) benchmark::DoNotOptimize(c.entropy_amax());
}
BENCHMARK(BM_entropy_amax)->Unit(benchmark::kMillisecond);

template <class F>
void BM_fake_quantize(benchmark::State& state) {
  const auto x = gaussian(std::size_t(state.range(0)));
  std::vector<float> y(x.size());
  const float s = ptq::scale_for<F>(5.0f);
  for (auto _ : state) {
    ptq::fake_quantize_tensor<F>(x.data(), y.data(), x.size(), s);
    benchmark::DoNotOptimize(y.data());
  }
  set_items(state, x.size());
}
BENCHMARK_TEMPLATE(BM_fake_quantize, ptq::int8)->Arg(1 << 12)->Arg(1 << 20);
BENCHMARK_TEMPLATE(BM_fake_quantize, fp8kit::e4m3fn)->Arg(1 << 12)->Arg(1 << 20);

void BM_sqnr_db(benchmark::State& state) {
  const auto x = gaussian(std::size_t(state.range(0)));
  std::vector<float> y(x.size());
  ptq::fake_quantize_tensor<fp8kit::e4m3fn>(x.data(), y.data(), x.size(), 5.0f / 448);
  for (auto _ : state) benchmark::DoNotOptimize(ptq::sqnr_db(x.data(), y.data(), x.size()));
  set_items(state, x.size());
}
BENCHMARK(BM_sqnr_db)->Arg(1 << 12)->Arg(1 << 20);

}  // namespace

BENCHMARK_MAIN();
