// Benchmarks of <fp8kit/scaling.hpp> and <fp8kit/mx.hpp>, each against a baseline in the same
// binary (absolute numbers drift on shared machines; ratios are what bench/RESULTS.md records).
//
// - amax (every kernel) vs a plain max-reduction: the same loop shape with `maxps` on the raw
//   floats (no abs, no NaN rule), the fastest a max-reduction can be; plus a plain C++ loop.
// - per-channel / block-wise / MX quantize vs per-tensor quantize of the same matrix.
// Sizes: 4 Ki floats (L1), 256 Ki (L2/L3), 16 Mi (64 MiB, out of cache).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "fp8kit/fp8kit.hpp"

#if FP8KIT_X86_DISPATCH
#include <immintrin.h>
#endif

namespace {

using fp8kit::simd::isa;

// Fresh, realistic data: normal values with mixed signs (amax has no branches, but quantize may).
const std::vector<float>& data(std::size_t n) {
  static std::vector<float> x;
  if (x.size() < n) {
    std::mt19937 gen(42);
    std::normal_distribution<float> dist(0.0f, 3.0f);
    x.resize(n);
    for (float& v : x) v = dist(gen);
  }
  return x;
}

void set_bytes(benchmark::State& state, std::size_t n, std::size_t bytes_per_element) {
  state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(n));
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(n * bytes_per_element));
}

// ---------------------------------------------------------------------------------------------
// amax and its baselines

void amax_kernel(benchmark::State& state, isa which) {
  if (!fp8kit::simd::isa_supported(which)) {
    state.SkipWithError("instruction set not supported");
    return;
  }
  const auto n = static_cast<std::size_t>(state.range(0));
  const float* x = data(n).data();
  const auto kernel = fp8kit::detail::amax_bits_kernel(which);
  for (auto _ : state) benchmark::DoNotOptimize(kernel(x, n));
  set_bytes(state, n, sizeof(float));
}

void BM_amax_dispatch(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const float* x = data(n).data();
  for (auto _ : state) benchmark::DoNotOptimize(fp8kit::amax(x, n));
  set_bytes(state, n, sizeof(float));
}
void BM_amax_avx512(benchmark::State& state) { amax_kernel(state, isa::avx512); }
void BM_amax_avx2(benchmark::State& state) { amax_kernel(state, isa::avx2); }
void BM_amax_sse2(benchmark::State& state) { amax_kernel(state, isa::sse2); }
void BM_amax_scalar(benchmark::State& state) { amax_kernel(state, isa::scalar); }

#if FP8KIT_X86_DISPATCH
// _mm512_max_ps through its all-ones-mask form (the same instruction), avoiding a g++ 12
// false -Wmaybe-uninitialized in the plain intrinsic.
__attribute__((target("avx512f"))) inline __m512 max_ps(__m512 a, __m512 b) {
  return _mm512_maskz_max_ps(static_cast<__mmask16>(0xFFFFu), a, b);
}

// The baseline: max of the raw floats with maxps, 4 accumulators, as wide as amax_avx512.
__attribute__((target("avx512f"))) float max_reduce_avx512(const float* x, std::size_t n) {
  __m512 m0 = _mm512_set1_ps(-1e30f), m1 = m0, m2 = m0, m3 = m0;
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    m0 = max_ps(m0, _mm512_loadu_ps(x + i));
    m1 = max_ps(m1, _mm512_loadu_ps(x + i + 16));
    m2 = max_ps(m2, _mm512_loadu_ps(x + i + 32));
    m3 = max_ps(m3, _mm512_loadu_ps(x + i + 48));
  }
  for (; i + 16 <= n; i += 16) m0 = max_ps(m0, _mm512_loadu_ps(x + i));
  m0 = max_ps(max_ps(m0, m1), max_ps(m2, m3));
  alignas(64) float lane[16];
  _mm512_store_ps(lane, m0);
  float m = *std::max_element(lane, lane + 16);
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

__attribute__((target("avx2"))) float max_reduce_avx2(const float* x, std::size_t n) {
  __m256 m0 = _mm256_set1_ps(-1e30f), m1 = m0, m2 = m0, m3 = m0;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + 8));
    m2 = _mm256_max_ps(m2, _mm256_loadu_ps(x + i + 16));
    m3 = _mm256_max_ps(m3, _mm256_loadu_ps(x + i + 24));
  }
  for (; i + 8 <= n; i += 8) m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
  m0 = _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3));
  alignas(32) float lane[8];
  _mm256_store_ps(lane, m0);
  float m = *std::max_element(lane, lane + 8);
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

void BM_max_reduce_baseline_avx512(benchmark::State& state) {
  if (!fp8kit::simd::isa_supported(isa::avx512)) {
    state.SkipWithError("AVX-512 not supported");
    return;
  }
  const auto n = static_cast<std::size_t>(state.range(0));
  const float* x = data(n).data();
  for (auto _ : state) benchmark::DoNotOptimize(max_reduce_avx512(x, n));
  set_bytes(state, n, sizeof(float));
}

void BM_max_reduce_baseline_avx2(benchmark::State& state) {
  if (!fp8kit::simd::isa_supported(isa::avx2)) {
    state.SkipWithError("AVX2 not supported");
    return;
  }
  const auto n = static_cast<std::size_t>(state.range(0));
  const float* x = data(n).data();
  for (auto _ : state) benchmark::DoNotOptimize(max_reduce_avx2(x, n));
  set_bytes(state, n, sizeof(float));
}
BENCHMARK(BM_max_reduce_baseline_avx512)->Arg(4 << 10)->Arg(256 << 10)->Arg(16 << 20);
BENCHMARK(BM_max_reduce_baseline_avx2)->Arg(4 << 10)->Arg(256 << 10)->Arg(16 << 20);
#endif

// What a user writes first: a plain loop (vectorised only where the compiler may reorder max).
void BM_max_reduce_plain_loop(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const float* x = data(n).data();
  for (auto _ : state) {
    float m = x[0];
    for (std::size_t i = 1; i < n; ++i) m = std::max(m, x[i]);
    benchmark::DoNotOptimize(m);
  }
  set_bytes(state, n, sizeof(float));
}

BENCHMARK(BM_amax_dispatch)->Arg(4 << 10)->Arg(256 << 10)->Arg(16 << 20);
BENCHMARK(BM_amax_avx512)->Arg(4 << 10)->Arg(256 << 10)->Arg(16 << 20);
BENCHMARK(BM_amax_avx2)->Arg(4 << 10)->Arg(256 << 10)->Arg(16 << 20);
BENCHMARK(BM_amax_sse2)->Arg(4 << 10)->Arg(256 << 10)->Arg(16 << 20);
BENCHMARK(BM_amax_scalar)->Arg(4 << 10)->Arg(256 << 10)->Arg(16 << 20);
BENCHMARK(BM_max_reduce_plain_loop)->Arg(4 << 10)->Arg(256 << 10)->Arg(16 << 20);

// ---------------------------------------------------------------------------------------------
// Quantization: per-tensor (the baseline), per-channel, block-wise, MX. Matrices are
// rows x 4096 (args: rows), e4m3fn, saturating. Bytes: 4 read + 1 written per element.

constexpr std::size_t kCols = 4096;

void BM_quantize_per_tensor_e4m3fn(benchmark::State& state) {
  const std::size_t n = std::size_t(state.range(0)) * kCols;
  const float* x = data(n).data();
  std::vector<fp8kit::e4m3fn> q(n);
  for (auto _ : state) {
    fp8kit::quantize(x, q.data(), n, 0.0125f);
    benchmark::ClobberMemory();
  }
  set_bytes(state, n, 5);
}

// The per-tensor pipeline that block-wise replaces: amax, scale, quantize (two passes).
void BM_amax_scale_quantize_per_tensor_e4m3fn(benchmark::State& state) {
  const std::size_t n = std::size_t(state.range(0)) * kCols;
  const float* x = data(n).data();
  std::vector<fp8kit::e4m3fn> q(n);
  for (auto _ : state) {
    const float scale = fp8kit::scale_from_amax<fp8kit::e4m3fn>(fp8kit::amax(x, n));
    fp8kit::quantize(x, q.data(), n, scale);
    benchmark::ClobberMemory();
  }
  set_bytes(state, n, 5);
}

void quantize_per_channel(benchmark::State& state, fp8kit::channel_axis a) {
  const std::size_t rows = std::size_t(state.range(0)), n = rows * kCols;
  const float* x = data(n).data();
  std::vector<fp8kit::e4m3fn> q(n);
  std::vector<float> scales(a == fp8kit::channel_axis::rows ? rows : kCols);
  fp8kit::scales_per_channel<fp8kit::e4m3fn>(x, rows, kCols, a, scales.data());
  for (auto _ : state) {
    fp8kit::quantize_per_channel(x, rows, kCols, a, scales.data(), q.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, n, 5);
}
void BM_quantize_per_channel_rows_e4m3fn(benchmark::State& state) {
  quantize_per_channel(state, fp8kit::channel_axis::rows);
}
void BM_quantize_per_channel_cols_e4m3fn(benchmark::State& state) {
  quantize_per_channel(state, fp8kit::channel_axis::cols);
}

// Block-wise includes computing the block scales (amax per block), as the API does.
void quantize_blockwise(benchmark::State& state, fp8kit::block_shape b) {
  const std::size_t rows = std::size_t(state.range(0)), n = rows * kCols;
  const float* x = data(n).data();
  std::vector<fp8kit::e4m3fn> q(n);
  std::vector<float> scales(fp8kit::block_count(rows, kCols, b));
  for (auto _ : state) {
    fp8kit::quantize_blockwise(x, rows, kCols, b, q.data(), scales.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, n, 5);
}
void BM_quantize_blockwise_128x128_e4m3fn(benchmark::State& state) {
  quantize_blockwise(state, {128, 128});
}
void BM_quantize_blockwise_1x128_e4m3fn(benchmark::State& state) {
  quantize_blockwise(state, {1, 128});
}

void BM_mx_quantize_e4m3fn(benchmark::State& state) {
  const std::size_t n = std::size_t(state.range(0)) * kCols;
  const float* x = data(n).data();
  std::vector<fp8kit::e4m3fn> q(n);
  std::vector<fp8kit::e8m0fnu> scales(fp8kit::mx_scale_count(n));
  for (auto _ : state) {
    fp8kit::mx_quantize(x, n, q.data(), scales.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, n, 5);
}

// 1 row = 4096 floats (16 KiB, L1); 128 rows = 2 MiB (L2/L3); 4096 rows = 64 MiB (out of cache).
void quantize_sizes(benchmark::internal::Benchmark* b) {
  b->Arg(1)->Arg(128)->Arg(4096)->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_quantize_per_tensor_e4m3fn)->Apply(quantize_sizes);
BENCHMARK(BM_amax_scale_quantize_per_tensor_e4m3fn)->Apply(quantize_sizes);
BENCHMARK(BM_quantize_per_channel_rows_e4m3fn)->Apply(quantize_sizes);
BENCHMARK(BM_quantize_per_channel_cols_e4m3fn)->Apply(quantize_sizes);
BENCHMARK(BM_quantize_blockwise_128x128_e4m3fn)->Apply(quantize_sizes);
BENCHMARK(BM_quantize_blockwise_1x128_e4m3fn)->Apply(quantize_sizes);
BENCHMARK(BM_mx_quantize_e4m3fn)->Apply(quantize_sizes);

}  // namespace

BENCHMARK_MAIN();
