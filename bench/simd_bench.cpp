// Throughput of the bulk layer (items/s and bytes/s): encode (convert float -> fp8, saturating),
// quantize (fused scale, a correctly rounded division), decode (convert fp8 -> float),
// dequantize, fake_quantize and bf16 -> fp8, for e4m3fn, e5m2 and e3m4fn at 4 Ki (L1), 64 Ki
// (L2), 1 Mi (L3) and 64 Mi (memory) elements; the dispatched kernel and the scalar path.
// In the same binary, the baselines of PERF.md: a trivial float -> uint8 cast, uint8 -> float
// widen, float * s, bf16 -> uint8 narrowing and memcpy, written with AVX-512 intrinsics when the
// CPU has them (so the baselines run at full width in this -march-free build), else plain loops.
// bench/run.sh turns the output into bench/RESULTS.md.
//
// Names: BM_<op>_<format>_<path>, path = dispatch (best kernel) or scalar; baselines are
// BM_<op>_baseline. Data: fresh normal samples with mixed signs covering the format's range.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fp8kit/bulk.hpp"
#include "fp8kit/simd/cpu.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define BENCH_AVX512 1
#else
#define BENCH_AVX512 0
#endif

namespace {

using fp8kit::bfloat16;
using fp8kit::saturation;
namespace simd = fp8kit::simd;

constexpr float quant_scale = 0.37f;  // not a power of two: quantize really divides

/// n floats, roughly normal (sum of four uniforms) with mixed signs and sigma a quarter of
/// max_finite * quant_scale, so some values saturate. A fast generator: 64 Mi values in ~0.2 s.
std::vector<float> make_floats(std::size_t n, double max_finite, unsigned seed) {
  std::uint64_t state = 0x9E3779B97F4A7C15u * (seed + 1);
  const auto next = [&state] {  // xorshift64*
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return static_cast<std::uint32_t>((state * 0x2545F4914F6CDD1Du) >> 32);
  };
  // Four uniforms in [0, 1): mean 2, variance 1/3.
  const float k = static_cast<float>(max_finite / 4 * quant_scale * 1.7320508 / 4294967296.0);
  std::vector<float> v(n);
  for (auto& x : v) {
    const double sum = double(next()) + double(next()) + double(next()) + double(next());
    x = static_cast<float>(sum - 2 * 4294967296.0) * k;
  }
  return v;
}

template <class F>
std::vector<F> make_codes(std::size_t n) {
  const std::vector<float> x = make_floats(n, F::traits::max_finite, 7);
  std::vector<F> q(n);
  fp8kit::quantize(x.data(), q.data(), n, quant_scale);
  return q;
}

/// Chooses the kernel for one benchmark and restores the default afterwards.
class path_scope {
 public:
  explicit path_scope(bool scalar) {
    if (scalar) simd::force_isa(simd::isa::scalar);
  }
  ~path_scope() { simd::reset_isa(); }
  path_scope(const path_scope&) = delete;
  path_scope& operator=(const path_scope&) = delete;
};

void finish(benchmark::State& state, std::size_t n, std::size_t bytes_per_item) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(n));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(n * bytes_per_item));
  state.counters["isa"] = static_cast<double>(simd::active_isa());
}

// ---- fp8kit operations ---------------------------------------------------------------------

template <class F, bool Scalar>
void BM_encode(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<float> x = make_floats(n, F::traits::max_finite / quant_scale, 1);
  std::vector<F> q(n);
  path_scope path(Scalar);
  for (auto _ : state) {
    fp8kit::convert(x.data(), q.data(), n, saturation::finite);
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  finish(state, n, 5);
}

template <class F, bool Scalar>
void BM_quantize(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<float> x = make_floats(n, F::traits::max_finite, 2);
  std::vector<F> q(n);
  path_scope path(Scalar);
  for (auto _ : state) {
    fp8kit::quantize(x.data(), q.data(), n, quant_scale, saturation::finite);
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  finish(state, n, 5);
}

template <class F, bool Scalar>
void BM_decode(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<F> q = make_codes<F>(n);
  std::vector<float> y(n);
  path_scope path(Scalar);
  for (auto _ : state) {
    fp8kit::convert(q.data(), y.data(), n);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  finish(state, n, 5);
}

template <class F, bool Scalar>
void BM_dequantize(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<F> q = make_codes<F>(n);
  std::vector<float> y(n);
  path_scope path(Scalar);
  for (auto _ : state) {
    fp8kit::dequantize(q.data(), y.data(), n, quant_scale);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  finish(state, n, 5);
}

template <class F, bool Scalar>
void BM_fake_quantize(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<float> x = make_floats(n, F::traits::max_finite, 3);
  std::vector<float> y(n);
  path_scope path(Scalar);
  for (auto _ : state) {
    fp8kit::fake_quantize<F>(x.data(), y.data(), n, quant_scale, saturation::finite);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  finish(state, n, 8);
}

template <class F, bool Scalar>
void BM_bf16_to(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<float> x = make_floats(n, F::traits::max_finite / quant_scale, 4);
  std::vector<bfloat16> b(n);
  fp8kit::convert(x.data(), b.data(), n);
  std::vector<F> q(n);
  path_scope path(Scalar);
  for (auto _ : state) {
    fp8kit::convert(b.data(), q.data(), n, saturation::finite);
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  finish(state, n, 3);
}

// ---- Baselines (PERF.md) ---------------------------------------------------------------------

#if BENCH_AVX512
// GCC 12.2 warns about the intrinsics' own _mm512_undefined_*() (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define BENCH_AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
BENCH_AVX512_FN void cast_avx512(const float* x, std::uint8_t* q, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i),
                     _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(_mm512_loadu_ps(x + i))));
  }
  for (; i < n; ++i) q[i] = static_cast<std::uint8_t>(static_cast<int>(x[i]));
}
BENCH_AVX512_FN void widen_avx512(const std::uint8_t* q, float* y, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i c =
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i)));
    _mm512_storeu_ps(y + i, _mm512_cvtepi32_ps(c));
  }
  for (; i < n; ++i) y[i] = float(q[i]);
}
BENCH_AVX512_FN void scale_avx512(const float* x, float* y, std::size_t n, float s) {
  const __m512 vs = _mm512_set1_ps(s);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), vs));
  for (; i < n; ++i) y[i] = x[i] * s;
}
BENCH_AVX512_FN void narrow16_avx512(const std::uint16_t* b, std::uint8_t* q, std::size_t n) {
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i v = _mm512_loadu_si512(b + i);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i),
                        _mm512_cvtepi16_epi8(_mm512_srli_epi16(v, 8)));
  }
  for (; i < n; ++i) q[i] = static_cast<std::uint8_t>(b[i] >> 8);
}
#undef BENCH_AVX512_FN
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

bool baseline_avx512() {
#if BENCH_AVX512
  return simd::cpu().avx512;
#else
  return false;
#endif
}

void cast_baseline(const float* x, std::uint8_t* q, std::size_t n) {
#if BENCH_AVX512
  if (baseline_avx512()) return cast_avx512(x, q, n);
#endif
  for (std::size_t i = 0; i < n; ++i) q[i] = static_cast<std::uint8_t>(static_cast<int>(x[i]));
}
void widen_baseline(const std::uint8_t* q, float* y, std::size_t n) {
#if BENCH_AVX512
  if (baseline_avx512()) return widen_avx512(q, y, n);
#endif
  for (std::size_t i = 0; i < n; ++i) y[i] = float(q[i]);
}
void scale_baseline(const float* x, float* y, std::size_t n, float s) {
#if BENCH_AVX512
  if (baseline_avx512()) return scale_avx512(x, y, n, s);
#endif
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * s;
}
void narrow16_baseline(const std::uint16_t* b, std::uint8_t* q, std::size_t n) {
#if BENCH_AVX512
  if (baseline_avx512()) return narrow16_avx512(b, q, n);
#endif
  for (std::size_t i = 0; i < n; ++i) q[i] = static_cast<std::uint8_t>(b[i] >> 8);
}

void BM_cast_f32_u8_baseline(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<float> x = make_floats(n, 448.0, 1);
  std::vector<std::uint8_t> q(n);
  for (auto _ : state) {
    cast_baseline(x.data(), q.data(), n);
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  finish(state, n, 5);
}

void BM_widen_u8_f32_baseline(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> q(n);
  for (std::size_t i = 0; i < n; ++i) q[i] = static_cast<std::uint8_t>(i * 2654435761u >> 24);
  std::vector<float> y(n);
  for (auto _ : state) {
    widen_baseline(q.data(), y.data(), n);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  finish(state, n, 5);
}

void BM_scale_f32_baseline(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<float> x = make_floats(n, 448.0, 3);
  std::vector<float> y(n);
  for (auto _ : state) {
    scale_baseline(x.data(), y.data(), n, quant_scale);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  finish(state, n, 8);
}

void BM_narrow_bf16_u8_baseline(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<float> x = make_floats(n, 448.0, 4);
  std::vector<std::uint16_t> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = fp8kit::bfloat16(x[i]).bits();
  std::vector<std::uint8_t> q(n);
  for (auto _ : state) {
    narrow16_baseline(b.data(), q.data(), n);
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  finish(state, n, 3);
}

void BM_memcpy_f32_baseline(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<float> x = make_floats(n, 448.0, 5);
  std::vector<float> y(n);
  for (auto _ : state) {
    std::memcpy(y.data(), x.data(), n * sizeof(float));
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  finish(state, n, 8);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (const std::int64_t n : {std::int64_t{4} << 10, std::int64_t{64} << 10, std::int64_t{1} << 20,
                               std::int64_t{64} << 20}) {
    b->Arg(n);
  }
  b->Unit(benchmark::kMicrosecond);
}

#define BENCH_FORMAT(op, F)                                                                        \
  BENCHMARK_TEMPLATE(BM_##op, fp8kit::F, false)->Name("BM_" #op "_" #F "_dispatch")->Apply(sizes); \
  BENCHMARK_TEMPLATE(BM_##op, fp8kit::F, true)->Name("BM_" #op "_" #F "_scalar")->Apply(sizes);

#define BENCH_OP(op)       \
  BENCH_FORMAT(op, e4m3fn) \
  BENCH_FORMAT(op, e5m2)   \
  BENCH_FORMAT(op, e3m4fn)

BENCHMARK(BM_cast_f32_u8_baseline)->Apply(sizes);
BENCHMARK(BM_widen_u8_f32_baseline)->Apply(sizes);
BENCHMARK(BM_scale_f32_baseline)->Apply(sizes);
BENCHMARK(BM_narrow_bf16_u8_baseline)->Apply(sizes);
BENCHMARK(BM_memcpy_f32_baseline)->Apply(sizes);
BENCH_OP(encode)
BENCH_OP(quantize)
BENCH_OP(decode)
BENCH_OP(dequantize)
BENCH_OP(fake_quantize)
BENCH_OP(bf16_to)

}  // namespace

BENCHMARK_MAIN();
