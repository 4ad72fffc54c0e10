// Tests of <fp8kit/scaling.hpp>: amax (every SIMD kernel against the scalar loop),
// scale_from_amax, per-channel and block-wise scales and quantization.

#include "fp8kit/scaling.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "fp8kit/convert.hpp"
#include "fp8kit/half.hpp"
#include "fp8kit/mx.hpp"
#include "support/formats.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define SCALING_TEST_HAS_MXCSR 1
#else
#define SCALING_TEST_HAS_MXCSR 0
#endif

namespace {

using fp8kit::simd::isa;
using fp8kit_test::bits_of;
using fp8kit_test::float_from_bits;

constexpr std::uint32_t kInf = 0x7F800000u;
// -0 from its bits: under -ffast-math (no signed zeros) the literal -0.0f may become +0.
const float minus_zero = float_from_bits(0x80000000u);

// The oracle: max over the float bits with the sign cleared (see simd/amax.hpp for why this
// is max |x| with NaN winning), written independently of the library.
std::uint32_t reference_amax_bits(const float* x, std::size_t n) {
  std::uint32_t m = 0;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, bits_of(x[i]) & 0x7FFFFFFFu);
  return m;
}

// The bits of fl(float(e) * s), with the sign of a zero taken from the code: -ffast-math
// (no signed zeros) may drop it from the product in this file.
template <class F>
std::uint32_t product_bits(F e, float s) {
  if (!isnan(e) && (e.bits() & F::traits::magnitude_mask) == 0) {
    return signbit(e) ? 0x80000000u : 0u;
  }
  return bits_of(float(e) * s);
}

std::vector<isa> supported_isas() {
  std::vector<isa> out;
  for (isa i : {isa::scalar, isa::sse2, isa::avx2, isa::avx512, isa::neon}) {
    if (fp8kit::simd::isa_supported(i)) out.push_back(i);
  }
  return out;
}

// Restores the automatic ISA choice when a test ends, even on failure.
struct isa_guard {
  ~isa_guard() { fp8kit::simd::reset_isa(); }
};

// Floats over the whole range: random bits (any exponent, subnormals, both signs), a few exact
// small values, and (with probability `special`) NaN and +-inf.
std::vector<float> random_floats(std::size_t n, std::uint32_t seed, double special = 0.0) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<std::uint32_t> bits(0, 0xFFFFFFFFu);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<float> x(n);
  for (float& v : x) {
    std::uint32_t u = bits(gen);
    if ((u & 0x7F800000u) == kInf) u &= 0xBFFFFFFFu;  // no accidental NaN/inf
    if (unit(gen) < special)
      u = (u & 1) ? (0x7FC00000u | (u & 0x803FFFFFu)) : (kInf | (u & 0x80000000u));
    v = float_from_bits(u);
  }
  return x;
}

// Normal-range data with mixed signs, like activations and weights.
std::vector<float> random_values(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> x(n);
  for (float& v : x) v = dist(gen);
  return x;
}

// ------------------------------------------------------------------------------------------
// amax

TEST(Amax, EmptyInputGivesZero) { EXPECT_EQ(bits_of(fp8kit::amax(nullptr, 0)), 0u); }

TEST(Amax, HandComputedValues) {
  const float a[] = {-3.0f, 2.0f, 0.5f};
  EXPECT_EQ(fp8kit::amax(a, 3), 3.0f);
  const float negative_zero[] = {minus_zero};
  EXPECT_EQ(bits_of(fp8kit::amax(negative_zero, 1)), 0u);  // +0, the sign is cleared
  const float denormals[] = {float_from_bits(1), float_from_bits(0x80000002u)};
  EXPECT_EQ(bits_of(fp8kit::amax(denormals, 2)), 2u);  // never flushed
  const float with_inf[] = {5.0f, -std::numeric_limits<float>::infinity(), 1e30f};
  EXPECT_EQ(bits_of(fp8kit::amax(with_inf, 3)), kInf);
  const float one[] = {-7.25f};
  EXPECT_EQ(fp8kit::amax(one, 1), 7.25f);
}

#if FP8KIT_HAS_SPAN
TEST(Amax, TakesASpan) {
  const std::vector<float> x = {0.5f, -9.0f, 2.0f};
  EXPECT_EQ(fp8kit::amax(std::span<const float>(x)), 9.0f);
}
#endif

TEST(Amax, NaNWithTheLargestPayloadWins) {
  const float x[] = {1.0f, float_from_bits(0x7FC00001u), float_from_bits(0xFFC00005u),
                     std::numeric_limits<float>::infinity()};
  EXPECT_EQ(bits_of(fp8kit::amax(x, 4)), 0x7FC00005u);
}

TEST(Amax, EveryKernelMatchesTheScalarLoop) {
  // Lengths 0 .. 3 x 64 + 7 (past every unrolled loop and tail), every offset mod 16.
  const std::vector<float> data = random_floats(4096, 1, 0.002);
  for (isa i : supported_isas()) {
    const auto kernel = fp8kit::detail::amax_bits_kernel(i);
    for (std::size_t offset = 0; offset < 16; ++offset) {
      for (std::size_t n = 0; n <= 3 * 64 + 7; ++n) {
        const float* x = data.data() + offset + 13 * n;
        ASSERT_EQ(kernel(x, n), reference_amax_bits(x, n))
            << fp8kit::simd::isa_name(i) << " n=" << n << " offset=" << offset;
      }
    }
    for (std::size_t n : {std::size_t{1000}, std::size_t{4096 - 3}}) {
      ASSERT_EQ(kernel(data.data() + 3, n), reference_amax_bits(data.data() + 3, n));
    }
  }
}

TEST(Amax, AnyNaNGivesNaNInEveryKernel) {
  for (isa i : supported_isas()) {
    const auto kernel = fp8kit::detail::amax_bits_kernel(i);
    for (std::size_t n = 1; n <= 150; ++n) {
      std::vector<float> x = random_values(n, std::uint32_t(n), 100.0f);
      x[n / 2] = std::numeric_limits<float>::infinity();
      for (std::size_t at = 0; at < n; ++at) {
        std::vector<float> y = x;
        y[at] = float_from_bits(0xFFC00000u | std::uint32_t(at));  // negative NaN, payload at
        ASSERT_EQ(kernel(y.data(), n), 0x7FC00000u | std::uint32_t(at))
            << fp8kit::simd::isa_name(i) << " n=" << n << " at=" << at;
      }
    }
  }
}

TEST(Amax, AccumulateKernelsMatchTheScalarLoop) {
  const std::vector<float> data = random_floats(2048, 3, 0.01);
  for (isa i : supported_isas()) {
    const auto kernel = fp8kit::detail::amax_accumulate_kernel(i);
    for (std::size_t n = 0; n <= 70; ++n) {
      for (std::size_t offset : {std::size_t{0}, std::size_t{1}, std::size_t{5}}) {
        std::vector<std::uint32_t> acc(n + 1), expected(n + 1);
        for (std::size_t k = 0; k < n; ++k) acc[k] = expected[k] = bits_of(data[1000 + k]) >> 1;
        acc[n] = expected[n] = 0xDEADBEEFu;  // sentinel after the accumulators
        const float* x = data.data() + offset + 7 * n;
        kernel(x, acc.data(), n);
        for (std::size_t k = 0; k < n; ++k) {
          expected[k] = std::max(expected[k], bits_of(x[k]) & 0x7FFFFFFFu);
        }
        ASSERT_EQ(acc, expected) << fp8kit::simd::isa_name(i) << " n=" << n;
      }
    }
  }
}

TEST(Amax, SegmentAndFillKernelsMatchTheirDefinitions) {
  const std::vector<float> data = random_floats(1200, 12, 0.01);
  for (isa i : supported_isas()) {
    const auto segments = fp8kit::detail::amax_segments_kernel(i);
    const auto fill = fp8kit::detail::fill_segments_kernel(i);
    for (std::size_t seg : std::vector<std::size_t>{1, 3, 16, 32, 37, 128}) {
      for (std::size_t n : std::vector<std::size_t>{0, 1, 31, 32, 33, 100, 1000, 1100}) {
        const std::size_t count = (n + seg - 1) / seg;
        std::vector<std::uint32_t> acc(count + 1, 5u), expected(count + 1, 5u);
        acc.back() = expected.back() = 0xDEADBEEFu;  // sentinel
        segments(data.data() + 1, n, seg, acc.data());
        for (std::size_t j = 0; j < count; ++j) {
          const std::size_t len = std::min(seg, n - j * seg);
          expected[j] = std::max(expected[j], reference_amax_bits(data.data() + 1 + j * seg, len));
        }
        ASSERT_EQ(acc, expected) << fp8kit::simd::isa_name(i) << " seg=" << seg << " n=" << n;
        std::vector<float> out(n + 1, -1.0f);
        fill(data.data(), n, seg, out.data());
        for (std::size_t k = 0; k < n; ++k) {
          ASSERT_EQ(bits_of(out[k]), bits_of(data[k / seg])) << fp8kit::simd::isa_name(i);
        }
        ASSERT_EQ(out[n], -1.0f);  // nothing written past the end
      }
    }
  }
}

#if defined(__linux__)
TEST(Amax, KernelsNeverReadPastTheEnd) {
  // The array ends at a page followed by an inaccessible page: a read past the end faults.
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* mem = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* base = static_cast<unsigned char*>(mem);
  ASSERT_EQ(mprotect(base + page, page, PROT_NONE), 0);
  float* end = reinterpret_cast<float*>(base + page);
  for (std::size_t k = 1; k <= 200; ++k) end[-std::ptrdiff_t(k)] = float(k) * 0.5f;
  for (isa i : supported_isas()) {
    const auto kernel = fp8kit::detail::amax_bits_kernel(i);
    const auto accumulate = fp8kit::detail::amax_accumulate_kernel(i);
    std::vector<std::uint32_t> acc(200, 0);
    for (std::size_t n = 0; n <= 200; ++n) {
      const float* x = end - n;
      EXPECT_EQ(kernel(x, n), reference_amax_bits(x, n)) << fp8kit::simd::isa_name(i) << n;
      accumulate(x, acc.data(), n);
    }
    EXPECT_EQ(acc[0], bits_of(100.0f));  // element 0 of the n = 200 run is end[-200]
  }
  munmap(mem, 2 * page);
}
#endif

TEST(Amax, ForcedInstructionSetsAgree) {
  isa_guard guard;
  const std::vector<float> x = random_floats(777, 4, 0.0);
  const std::uint32_t expected = reference_amax_bits(x.data(), x.size());
  for (isa i : supported_isas()) {
    fp8kit::simd::force_isa(i);
    EXPECT_EQ(bits_of(fp8kit::amax(x.data(), x.size())), expected) << fp8kit::simd::isa_name(i);
  }
}

#if SCALING_TEST_HAS_MXCSR
TEST(Amax, IgnoresFlushToZeroAndDenormalsAreZero) {
  const float x[] = {float_from_bits(3), -float_from_bits(0x00000700u), float_from_bits(5)};
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(saved | 0x8040u);  // FTZ and DAZ
  const float a = fp8kit::amax(x, 3);
  _mm_setcsr(saved);
  EXPECT_EQ(bits_of(a), 0x700u);
}
#endif

// ------------------------------------------------------------------------------------------
// scale_from_amax

TEST(ScaleFromAmax, HandComputedValues) {
  using fp8kit::scale_from_amax;
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3fn>(448.0f), 1.0f);
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3fn>(896.0f), 2.0f);
  EXPECT_EQ(bits_of(scale_from_amax<fp8kit::e4m3fn>(2.0f)), 0x3B924925u);  // fl(2 / 448)
  EXPECT_EQ(bits_of(scale_from_amax<fp8kit::e4m3fn>(1.0f)), 0x3B124925u);  // fl(1 / 448)
  EXPECT_EQ(scale_from_amax<fp8kit::e5m2>(57344.0f), 1.0f);
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3fnuz>(480.0f), 2.0f);
  EXPECT_EQ(scale_from_amax<fp8kit::e3m4>(31.0f), 2.0f);
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3b11fnuz>(15.0f), 0.5f);
  EXPECT_EQ(scale_from_amax<fp8kit::half>(65504.0f), 1.0f);
  // backoff: amax maps to backoff * max finite.
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3fn>(224.0f, {0, 0.5f, false}), 1.0f);
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3fn>(336.0f, {0, 0.75f, false}), 1.0f);
  // margin: times 2^margin.
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3fn>(448.0f, {1, 1, false}), 2.0f);
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3fn>(448.0f, {-2, 1, false}), 0.25f);
  EXPECT_EQ(bits_of(scale_from_amax<fp8kit::e4m3fn>(1.0f, {3, 1, false})),
            0x3B124925u + (3u << 23));
  // pow2: rounded up.
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3fn>(448.0f, {0, 1, true}), 1.0f);
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3fn>(449.0f, {0, 1, true}), 2.0f);
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3fn>(447.0f, {0, 1, true}), 1.0f);
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3fn>(2.0f, {0, 1, true}), 0.0078125f);  // 1/224 -> 2^-7
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3fn>(448.0f, {2, 1, true}), 4.0f);
  EXPECT_EQ(scale_from_amax<fp8kit::e4m3fn>(300.0f, {0, 0.5f, true}), 2.0f);  // 300 / 224
}

TEST(ScaleFromAmax, ZeroGivesOne) {
  for (float zero : {0.0f, minus_zero}) {
    EXPECT_EQ(fp8kit::scale_from_amax<fp8kit::e4m3fn>(zero), 1.0f);
    EXPECT_EQ(fp8kit::scale_from_amax<fp8kit::e5m2>(zero, {3, 0.5f, true}), 1.0f);
  }
}

TEST(ScaleFromAmax, RejectsBadAmaxAndOptions) {
  using fp8kit::e4m3fn;
  using fp8kit::scale_from_amax;
  const float inf = std::numeric_limits<float>::infinity();
  for (std::uint32_t bad : {0xBF800000u, 0x80000001u, 0x7FC00000u, 0xFFC00000u, 0x7F800001u,
                            0x7F800000u, 0xFF800000u}) {
    EXPECT_THROW(scale_from_amax<e4m3fn>(float_from_bits(bad)), std::invalid_argument) << bad;
  }
  for (float backoff :
       {0.0f, minus_zero, -0.5f, 1.0000001f, 2.0f, inf, float_from_bits(0x7FC00000u)}) {
    EXPECT_THROW(scale_from_amax<e4m3fn>(1.0f, {0, backoff, false}), std::invalid_argument)
        << backoff;
  }
  for (float margin : {inf, -inf, float_from_bits(0x7FC00000u)}) {
    EXPECT_THROW(scale_from_amax<e4m3fn>(1.0f, {margin, 1, false}), std::invalid_argument);
  }
  try {
    scale_from_amax<e4m3fn>(-2.0f);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("scale_from_amax"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("-2"), std::string::npos) << e.what();
  }
}

TEST(ScaleFromAmax, ResultIsAlwaysFiniteNormalAndPositive) {
  using fp8kit::e4m3fn;
  using fp8kit::scale_from_amax;
  const float min_normal = std::numeric_limits<float>::min();
  const float max = std::numeric_limits<float>::max();
  const float tiny = float_from_bits(1);  // smallest denormal
  EXPECT_EQ(scale_from_amax<e4m3fn>(tiny), min_normal);
  EXPECT_EQ(scale_from_amax<e4m3fn>(tiny, {0, 1, true}), min_normal);
  EXPECT_EQ(scale_from_amax<e4m3fn>(1e-38f), min_normal);  // 1e-38 / 448 would be denormal
  EXPECT_EQ(scale_from_amax<e4m3fn>(max, {200, 1, false}), max);
  EXPECT_EQ(scale_from_amax<e4m3fn>(max, {1e30f, 1, false}), max);
  EXPECT_EQ(scale_from_amax<e4m3fn>(max, {200, 1, true}), 0x1p127f);
  EXPECT_EQ(scale_from_amax<e4m3fn>(1.0f, {-1e30f, 1, false}), min_normal);
  EXPECT_EQ(scale_from_amax<e4m3fn>(1.0f, {-300, 1, true}), min_normal);
  // Largest inputs without clamping: FLT_MAX / 15.5 for e3m4.
  volatile double e3m4_max = 15.5;  // no reciprocal under -ffast-math
  EXPECT_EQ(scale_from_amax<fp8kit::e3m4>(max), float(double(max) / e3m4_max));
  // A denormal amax whose scale is normal thanks to the margin is not flushed.
  EXPECT_EQ(scale_from_amax<e4m3fn>(float_from_bits(448), {149, 1, false}), 1.0f);
}

TEST(ScaleFromAmax, FractionalMarginScalesBySqrtTwo) {
  const float s = fp8kit::scale_from_amax<fp8kit::e4m3fn>(448.0f, {0.5f, 1, false});
  EXPECT_NEAR(s, 1.41421356f, 2e-7f);
  EXPECT_EQ(fp8kit::scale_from_amax<fp8kit::e4m3fn>(448.0f, {0.5f, 1, true}), 2.0f);
  EXPECT_EQ(fp8kit::scale_from_amax<fp8kit::e4m3fn>(448.0f, {-0.5f, 1, true}), 1.0f);
}

#if SCALING_TEST_HAS_MXCSR
TEST(ScaleFromAmax, IgnoresTheFloatingPointEnvironment) {
  const float expected_third = fp8kit::scale_from_amax<fp8kit::e4m3fn>(1.0f);
  const float denormal = float_from_bits(448);
  const float expected_denormal =
      fp8kit::scale_from_amax<fp8kit::e4m3fn>(denormal, {140, 1, false});
  const unsigned saved = _mm_getcsr();
  _mm_setcsr((saved & ~0x6000u) | 0x6000u | 0x8040u);  // round toward zero, FTZ, DAZ
  const float third = fp8kit::scale_from_amax<fp8kit::e4m3fn>(1.0f);
  const float scaled_denormal = fp8kit::scale_from_amax<fp8kit::e4m3fn>(denormal, {140, 1, false});
  const unsigned during = _mm_getcsr();
  _mm_setcsr(saved);
  EXPECT_EQ(bits_of(third), bits_of(expected_third));  // fl(1/448) rounds up, not toward 0
  EXPECT_EQ(bits_of(scaled_denormal), bits_of(expected_denormal));
  EXPECT_EQ(bits_of(expected_denormal), bits_of(0x1p-9f));  // 448 * 2^-149 / 448 * 2^140
  EXPECT_EQ(during & 0xE040u, 0xE040u);                     // the caller's mode is restored
}
#endif

template <class F>
class ScaleFromAmaxTyped : public ::testing::Test {};
TYPED_TEST_SUITE(ScaleFromAmaxTyped, fp8kit_test::all_formats, fp8kit_test::format_names);

TYPED_TEST(ScaleFromAmaxTyped, IsTheCorrectlyRoundedQuotient) {
  using F = TypeParam;
  const double max_finite = F::traits::max_finite;
  const std::vector<float> x = random_floats(20000, 5, 0.0);
  for (float v : x) {
    const float a = std::fabs(v);
    const float s = fp8kit::scale_from_amax<F>(a);
    volatile double divisor = max_finite;  // keeps -ffast-math from using a reciprocal
    const double q = double(a) / divisor;  // double rounding of a quotient of floats is exact
    if (q < double(std::numeric_limits<float>::min()) || a == 0.0f) continue;
    ASSERT_EQ(bits_of(s), bits_of(float(q))) << a;
  }
}

TYPED_TEST(ScaleFromAmaxTyped, Pow2IsTheSmallestPowerOfTwoThatFits) {
  using F = TypeParam;
  const double max_finite = F::traits::max_finite;
  std::vector<float> amaxes;
  for (float v : random_floats(20000, 6, 0.0)) amaxes.push_back(std::fabs(v));
  for (int k = -130; k <= 120; ++k) {  // max finite * 2^k exactly, and its float neighbours
    const double exact = std::ldexp(max_finite, k);
    if (exact > double(std::numeric_limits<float>::max())) continue;
    const float edge = float(exact);
    if (edge == 0.0f) continue;
    amaxes.push_back(edge);
    amaxes.push_back(std::nextafter(edge, 0.0f));
    amaxes.push_back(std::nextafter(edge, std::numeric_limits<float>::infinity()));
  }
  for (float backoff : {1.0f, 0.9f, 0.5f}) {
    const double limit = max_finite * double(backoff);  // exact
    for (float a : amaxes) {
      if (a == 0.0f || std::isinf(a)) continue;
      const float s = fp8kit::scale_from_amax<F>(a, {0, backoff, true});
      ASSERT_EQ(bits_of(s) & 0x807FFFFFu, 0u) << a << " gives " << s;  // positive power of 2
      // a / s <= limit < a / (s / 2), checked exactly: limit * s is exact in double.
      ASSERT_LE(double(a), limit * double(s)) << a;
      if (s > std::numeric_limits<float>::min()) {  // not clamped: the smallest that fits
        ASSERT_GT(double(a), limit * double(s) / 2) << a;
      }
    }
  }
}

// ------------------------------------------------------------------------------------------
// per-channel

TEST(AmaxPerChannel, HandComputedRowsAndColumns) {
  const float x[] = {1.0f, -4.0f, 3.0f,  //
                     2.0f, 0.0f,  -5.0f};
  float rows[2], cols[3];
  fp8kit::amax_per_channel(x, 2, 3, fp8kit::channel_axis::rows, rows);
  fp8kit::amax_per_channel(x, 2, 3, fp8kit::channel_axis::cols, cols);
  EXPECT_EQ(rows[0], 4.0f);
  EXPECT_EQ(rows[1], 5.0f);
  EXPECT_EQ(cols[0], 2.0f);
  EXPECT_EQ(cols[1], 4.0f);
  EXPECT_EQ(cols[2], 5.0f);
}

TEST(AmaxPerChannel, MatchesTheScalarLoopOnEveryInstructionSet) {
  isa_guard guard;
  // 5000 columns exceed the 4096-column accumulator chunk; 1 x n and n x 1 are edge shapes.
  const std::size_t shapes[][2] = {{3, 5000}, {17, 33}, {1, 100}, {100, 1}, {0, 5}, {4, 0}};
  for (isa i : supported_isas()) {
    fp8kit::simd::force_isa(i);
    for (const auto& shape : shapes) {
      const std::size_t rows = shape[0], cols = shape[1];
      const std::vector<float> x = random_floats(rows * cols, std::uint32_t(rows + cols), 0.0005);
      std::vector<float> out_rows(rows + 1, -1.0f), out_cols(cols + 1, -1.0f);
      fp8kit::amax_per_channel(x.data(), rows, cols, fp8kit::channel_axis::rows, out_rows.data());
      fp8kit::amax_per_channel(x.data(), rows, cols, fp8kit::channel_axis::cols, out_cols.data());
      for (std::size_t r = 0; r < rows; ++r) {
        ASSERT_EQ(bits_of(out_rows[r]), reference_amax_bits(x.data() + r * cols, cols)) << r;
      }
      for (std::size_t c = 0; c < cols; ++c) {
        std::uint32_t m = 0;
        for (std::size_t r = 0; r < rows; ++r)
          m = std::max(m, bits_of(x[r * cols + c]) & 0x7FFFFFFFu);
        ASSERT_EQ(bits_of(out_cols[c]), m) << fp8kit::simd::isa_name(i) << " col " << c;
      }
      EXPECT_EQ(out_rows[rows], -1.0f);  // nothing written past the end
      EXPECT_EQ(out_cols[cols], -1.0f);
    }
  }
}

TEST(QuantizePerChannel, HandComputedCodes) {
  const float x[] = {896.0f, 1.0f,  //
                     1.0f, -0.3f};
  const float row_scales[] = {2.0f, 0.5f};
  fp8kit::e4m3fn q[4];
  fp8kit::quantize_per_channel(x, 2, 2, fp8kit::channel_axis::rows, row_scales, q);
  // 448 -> 0x7E; 0.5 -> 0x30; 2 -> 0x40; -0.6 -> -0.625 = -1.25 * 2^-1 -> 0xB2.
  EXPECT_EQ(q[0].bits(), 0x7E);
  EXPECT_EQ(q[1].bits(), 0x30);
  EXPECT_EQ(q[2].bits(), 0x40);
  EXPECT_EQ(q[3].bits(), 0xB2);
  const float col_scales[] = {4.0f, 0.25f};
  fp8kit::quantize_per_channel(x, 2, 2, fp8kit::channel_axis::cols, col_scales, q);
  // 224 -> 0x76 (1.75 * 2^7); 4 -> 0x48; 0.25 -> 0x28; -1.2 -> -1.25 -> 0xBA.
  EXPECT_EQ(q[0].bits(), 0x76);
  EXPECT_EQ(q[1].bits(), 0x48);
  EXPECT_EQ(q[2].bits(), 0x28);
  EXPECT_EQ(q[3].bits(), 0xBA);
  float y[4];
  fp8kit::dequantize_per_channel(q, 2, 2, fp8kit::channel_axis::cols, col_scales, y);
  EXPECT_EQ(y[0], 896.0f);
  EXPECT_EQ(y[1], 1.0f);
  EXPECT_EQ(y[2], 1.0f);
  EXPECT_EQ(y[3], -0.3125f);
}

TEST(QuantizePerChannel, RejectsBadScalesBeforeWritingAnything) {
  const float x[] = {1.0f, 2.0f, 3.0f, 4.0f};
  fp8kit::e4m3fn q[4] = {};
  float y[4] = {7, 7, 7, 7};
  for (std::uint32_t bad : {0x00000000u, 0x80000000u, 0xBF800000u, 0x7F800000u, 0x7FC00000u}) {
    const float scales[] = {1.0f, float_from_bits(bad)};
    using fp8kit::channel_axis;
    EXPECT_THROW(fp8kit::quantize_per_channel(x, 2, 2, channel_axis::rows, scales, q),
                 std::invalid_argument);
    EXPECT_THROW(fp8kit::quantize_per_channel(x, 2, 2, channel_axis::cols, scales, q),
                 std::invalid_argument);
    EXPECT_THROW(fp8kit::dequantize_per_channel(q, 2, 2, channel_axis::rows, scales, y),
                 std::invalid_argument);
    EXPECT_THROW(
        fp8kit::fake_quantize_per_channel<fp8kit::e4m3fn>(x, 2, 2, channel_axis::cols, scales, y),
        std::invalid_argument);
  }
  for (const auto& c : q) EXPECT_EQ(c.bits(), 0);
  for (float v : y) EXPECT_EQ(v, 7.0f);
  const float scales[] = {1.0f, 0.0f};
  try {
    fp8kit::quantize_per_channel(x, 2, 2, fp8kit::channel_axis::rows, scales, q);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("scales[1]"), std::string::npos) << e.what();
  }
}

// The scale check (16 scales per step on AVX-512) finds one bad scale at any position of any
// length, on every kernel, for every kind of bad bits, and passes the extreme good ones.
TEST(QuantizePerChannel, ScaleCheckFindsABadScaleAnywhere) {
  isa_guard guard;
  const std::uint32_t good[] = {0x00000001u, 0x007FFFFFu, 0x00800000u, 0x3F800000u, 0x7F7FFFFFu};
  const std::uint32_t bad[] = {0x00000000u, 0x80000000u, 0x80000001u, 0xBF800000u,
                               0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFFFFFFFu};
  for (isa i : supported_isas()) {
    fp8kit::simd::force_isa(i);
    for (std::size_t n = 1; n <= 40; ++n) {
      std::vector<float> scales(n + 1);
      for (std::size_t k = 0; k <= n; ++k) scales[k] = float_from_bits(good[k % 5]);
      scales[n] = 0.0f;  // past the end: must not be read as part of the n scales
      EXPECT_NO_THROW(fp8kit::detail::check_scales(scales.data(), n, "test"))
          << fp8kit::simd::isa_name(i) << " n " << n;
      for (std::size_t at = 0; at < n; ++at) {
        for (const std::uint32_t b : bad) {
          const float kept = scales[at];
          scales[at] = float_from_bits(b);
          try {
            fp8kit::detail::check_scales(scales.data(), n, "test");
            ADD_FAILURE() << fp8kit::simd::isa_name(i) << " missed 0x" << std::hex << b << " at "
                          << std::dec << at << " of " << n;
          } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find("scales[" + std::to_string(at) + "]"),
                      std::string::npos)
                << e.what();
          }
          scales[at] = kept;
        }
      }
    }
  }
}

TEST(QuantizePerChannel, AllZeroChannelGetsAFiniteScaleAndExactZeros) {
  const float x[] = {0.0f, minus_zero, 0.0f,  //
                     3.0f, -7.0f,      1.0f};
  float scales[2];
  fp8kit::scales_per_channel<fp8kit::e4m3fn>(x, 2, 3, fp8kit::channel_axis::rows, scales);
  EXPECT_EQ(scales[0], 1.0f);
  EXPECT_EQ(scales[1], 0x1p-6f);  // 7 / 448
  float y[6];
  fp8kit::fake_quantize_per_channel<fp8kit::e4m3fn>(x, 2, 3, fp8kit::channel_axis::rows, scales, y);
  EXPECT_EQ(bits_of(y[0]), 0u);
  EXPECT_EQ(bits_of(y[1]), 0x80000000u);
  EXPECT_EQ(bits_of(y[2]), 0u);
  EXPECT_EQ(y[4], -7.0f);  // amax maps to max finite and back
}

TEST(ScalesPerChannel, NonFiniteElementsDoNotSetTheScale) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = float_from_bits(0x7FC00000u);
  const float x[] = {896.0f, inf,  1.0f,  //
                     nan,    nan,  -nan,  //
                     -inf,   0.0f, 44.8f};
  float rows[3], cols[3];
  fp8kit::scales_per_channel<fp8kit::e4m3fn>(x, 3, 3, fp8kit::channel_axis::rows, rows);
  fp8kit::scales_per_channel<fp8kit::e4m3fn>(x, 3, 3, fp8kit::channel_axis::cols, cols);
  EXPECT_EQ(rows[0], 2.0f);
  EXPECT_EQ(rows[1], 1.0f);  // nothing finite: like an all-zero channel
  EXPECT_EQ(bits_of(rows[2]), bits_of(fp8kit::scale_from_amax<fp8kit::e4m3fn>(44.8f)));
  EXPECT_EQ(cols[0], 2.0f);
  EXPECT_EQ(cols[1], 1.0f);
  EXPECT_EQ(bits_of(cols[2]), bits_of(fp8kit::scale_from_amax<fp8kit::e4m3fn>(44.8f)));
  fp8kit::e4m3fn q[9];
  fp8kit::quantize_per_channel(x, 3, 3, fp8kit::channel_axis::rows, rows, q);
  EXPECT_EQ(q[1].bits(), 0x7E);  // inf saturates
  EXPECT_EQ(q[6].bits(), 0xFE);
  EXPECT_TRUE(isnan(q[3]));
}

template <class F>
class PerChannelTyped : public ::testing::Test {};
TYPED_TEST_SUITE(PerChannelTyped, fp8kit_test::all_formats, fp8kit_test::format_names);

TYPED_TEST(PerChannelTyped, MatchesTheElementwiseDefinitionOnBothAxes) {
  using F = TypeParam;
  using fp8kit::channel_axis;
  isa_guard guard;
  // 70 columns: one call with a scale per 70-element segment (axis rows) or per-row calls with
  // element-wise scales (cols); 7 columns: too short for segments, one call per row.
  const std::size_t shapes[][2] = {{37, 70}, {12, 7}, {1, 300}};
  for (isa i : supported_isas()) {
    fp8kit::simd::force_isa(i);
    for (const auto& shape : shapes) {
      const std::size_t rows = shape[0], cols = shape[1];
      std::vector<float> x = random_values(rows * cols, std::uint32_t(7 + rows), 3.0f);
      x[5] = std::numeric_limits<float>::infinity();
      x[100 % x.size()] = float_from_bits(0xFFC00000u);
      const std::size_t zero_row = rows / 2;
      for (std::size_t c = 0; c < cols; ++c) x[zero_row * cols + c] = 0.0f;  // an all-zero row
      for (channel_axis a : {channel_axis::rows, channel_axis::cols}) {
        const std::size_t channels = a == channel_axis::rows ? rows : cols;
        std::vector<float> scales(channels);
        fp8kit::scales_per_channel<F>(x.data(), rows, cols, a, scales.data(), {0, 0.9f, false});
        std::vector<F> q(rows * cols);
        std::vector<float> y(rows * cols), z(x);
        fp8kit::quantize_per_channel<F>(x.data(), rows, cols, a, scales.data(), q.data());
        fp8kit::dequantize_per_channel<F>(q.data(), rows, cols, a, scales.data(), y.data());
        fp8kit::fake_quantize_per_channel<F>(z.data(), rows, cols, a, scales.data(), z.data());
        for (std::size_t r = 0; r < rows; ++r) {
          for (std::size_t c = 0; c < cols; ++c) {
            const std::size_t k = r * cols + c;
            const float s = scales[a == channel_axis::rows ? r : c];
            const F expected =
                fp8kit::convert<F>(x[k] / fp8kit::detail::opaque(s), fp8kit::saturation::finite);
            ASSERT_EQ(q[k].bits(), expected.bits())
                << fp8kit::simd::isa_name(i) << " " << rows << "x" << cols << ": " << r << "," << c;
            const std::uint32_t back = product_bits(expected, s);
            ASSERT_EQ(bits_of(y[k]), back) << r << "," << c;
            ASSERT_EQ(bits_of(z[k]), back) << r << "," << c;  // in place
          }
        }
        if (a == channel_axis::rows) {  // the zero row comes back as zeros, not NaN
          EXPECT_EQ(bits_of(y[zero_row * cols + cols - 1]), 0u);
        }
      }
    }
  }
}

// Operations over >= 32 MiB use non-temporal stores across all their bulk calls: the same bits
// as the per-channel / per-block definition evaluated with small bulk calls (which do not).
TEST(Scaling, LargeMatricesGiveTheSameBits) {
  using F = fp8kit::e4m3fn;
  const std::size_t rows = 2048, cols = 4096, n = rows * cols;  // 32 MiB of floats
  const std::vector<float> x = random_values(n, 99, 5.0f);
  std::vector<F> q(n), want_q(n);
  std::vector<float> y(n), want_y(n);
  // Per channel, both axes.
  std::vector<float> row_scales(rows), col_scales(cols);
  fp8kit::scales_per_channel<F>(x.data(), rows, cols, fp8kit::channel_axis::rows,
                                row_scales.data());
  fp8kit::scales_per_channel<F>(x.data(), rows, cols, fp8kit::channel_axis::cols,
                                col_scales.data());
  fp8kit::quantize_per_channel(x.data(), rows, cols, fp8kit::channel_axis::rows, row_scales.data(),
                               q.data());
  fp8kit::fake_quantize_per_channel<F>(x.data(), rows, cols, fp8kit::channel_axis::rows,
                                       row_scales.data(), y.data());
  for (std::size_t r = 0; r < rows; ++r) {
    fp8kit::quantize(x.data() + r * cols, want_q.data() + r * cols, cols, row_scales[r]);
    fp8kit::fake_quantize<F>(x.data() + r * cols, want_y.data() + r * cols, cols, row_scales[r]);
  }
  EXPECT_TRUE(std::equal(q.begin(), q.end(), want_q.begin(),
                         [](F a, F b) { return a.bits() == b.bits(); }));
  EXPECT_TRUE(std::equal(y.begin(), y.end(), want_y.begin(),
                         [](float a, float b) { return bits_of(a) == bits_of(b); }));
  fp8kit::quantize_per_channel(x.data(), rows, cols, fp8kit::channel_axis::cols, col_scales.data(),
                               q.data());
  fp8kit::dequantize_per_channel(q.data(), rows, cols, fp8kit::channel_axis::cols,
                                 col_scales.data(), y.data());
  for (std::size_t r = 0; r < rows; r += 511) {  // spot rows, element by element
    for (std::size_t c = 0; c < cols; ++c) {
      const F e = fp8kit::convert<F>(x[r * cols + c] / fp8kit::detail::opaque(col_scales[c]),
                                     fp8kit::saturation::finite);
      ASSERT_EQ(q[r * cols + c].bits(), e.bits()) << r << "," << c;
      ASSERT_EQ(bits_of(y[r * cols + c]), product_bits(e, col_scales[c])) << r << "," << c;
    }
  }
  // Block-wise: the same codes as quantizing each block slice by itself with its scale.
  for (const fp8kit::block_shape b : {fp8kit::block_shape{128, 128}, {1, 128}}) {
    std::vector<float> scales(fp8kit::block_count(rows, cols, b));
    fp8kit::quantize_blockwise(x.data(), rows, cols, b, q.data(), scales.data());
    fp8kit::dequantize_blockwise(q.data(), rows, cols, b, scales.data(), y.data());
    const std::size_t nbc = cols / b.cols;
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t j = 0; j < nbc; ++j) {
        const std::size_t at = r * cols + j * b.cols;
        const float s = scales[(r / b.rows) * nbc + j];
        fp8kit::quantize(x.data() + at, want_q.data() + at, b.cols, s);
        fp8kit::dequantize(want_q.data() + at, want_y.data() + at, b.cols, s);
      }
    }
    EXPECT_TRUE(std::equal(q.begin(), q.end(), want_q.begin(),
                           [](F a, F c) { return a.bits() == c.bits(); }))
        << b.rows << "x" << b.cols;
    EXPECT_TRUE(std::equal(y.begin(), y.end(), want_y.begin(),
                           [](float a, float c) { return bits_of(a) == bits_of(c); }))
        << b.rows << "x" << b.cols;
  }
}

#if SCALING_TEST_HAS_MXCSR
// The scaling functions set the default FP environment once for all their bulk calls: a caller's
// FTZ + DAZ + round-toward-zero changes no bit, with subnormal data, scales and results.
TEST(Scaling, IgnoresTheCallersFloatingPointEnvironment) {
  using F = fp8kit::e4m3fn;
  const std::size_t rows = 6, cols = 96, n = rows * cols;
  std::vector<float> x = random_values(n, 3, 1.0f);
  for (std::size_t k = 0; k < n; k += 3) x[k] *= 1e-39f;  // subnormal inputs
  std::vector<float> scales(rows, 1e-40f);                // subnormal scales
  scales[1] = 0.37f;
  const auto run = [&] {
    std::vector<float> out;
    std::vector<F> q(n);
    std::vector<float> y(n), block_scales(fp8kit::block_count(rows, cols, {2, 32}));
    fp8kit::quantize_per_channel(x.data(), rows, cols, fp8kit::channel_axis::rows, scales.data(),
                                 q.data());
    for (F v : q) out.push_back(float(v.bits()));
    fp8kit::dequantize_per_channel(q.data(), rows, cols, fp8kit::channel_axis::rows, scales.data(),
                                   y.data());
    out.insert(out.end(), y.begin(), y.end());
    fp8kit::fake_quantize_blockwise<F>(x.data(), rows, cols, {2, 32}, y.data(),
                                       block_scales.data());
    out.insert(out.end(), y.begin(), y.end());
    out.insert(out.end(), block_scales.begin(), block_scales.end());
    std::vector<fp8kit::e8m0fnu> mx_scales(fp8kit::mx_scale_count(n));
    fp8kit::mx_quantize(x.data(), n, q.data(), mx_scales.data());
    fp8kit::mx_dequantize(q.data(), n, mx_scales.data(), y.data());
    out.insert(out.end(), y.begin(), y.end());
    return out;
  };
  const std::vector<float> want = run();
  const unsigned saved = _mm_getcsr();
  _mm_setcsr((saved & ~0x6000u) | 0x6000u | 0x8040u);  // round toward zero, FTZ, DAZ
  const std::vector<float> got = run();
  _mm_setcsr(saved);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t k = 0; k < got.size(); ++k) ASSERT_EQ(bits_of(got[k]), bits_of(want[k])) << k;
}
#endif

// ------------------------------------------------------------------------------------------
// block-wise

TEST(QuantizeBlockwise, HandComputedOneRow) {
  const float x[] = {896.0f, 1.0f, 0.0f, 0.0f};
  fp8kit::e4m3fn q[4];
  float scales[2];
  fp8kit::quantize_blockwise(x, 1, 4, {1, 2}, q, scales);
  EXPECT_EQ(scales[0], 2.0f);
  EXPECT_EQ(scales[1], 1.0f);
  EXPECT_EQ(q[0].bits(), 0x7E);  // 448
  EXPECT_EQ(q[1].bits(), 0x30);  // 0.5
  EXPECT_EQ(q[2].bits(), 0x00);
  EXPECT_EQ(q[3].bits(), 0x00);
}

TEST(QuantizeBlockwise, HandComputedPartialEdgeBlocks) {
  // 3 x 5 in 2 x 2 blocks: scales are 2 x 3; the last block row and column are partial.
  const float x[] = {1.0f,  -2.0f, 3.0f,  0.0f, 448.0f,   //
                     0.5f,  0.25f, -7.0f, 6.0f, -224.0f,  //
                     56.0f, 0.0f,  0.0f,  0.0f, 1.75f};
  fp8kit::e4m3fn q[15];
  float scales[6];
  fp8kit::quantize_blockwise(x, 3, 5, {2, 2}, q, scales, {0, 1, true});
  // Block amaxes {2, 7, 448; 56, 0, 1.75}, pow2 scales rounded up from amax / 448.
  const float expected[] = {0x1p-7f, 0x1p-6f, 1.0f, 0.125f, 1.0f, 0x1p-8f};
  for (int k = 0; k < 6; ++k) EXPECT_EQ(scales[k], expected[k]) << k;
  EXPECT_EQ(q[1].bits(), 0xF8);   // -2 / 2^-7 = -256
  EXPECT_EQ(q[7].bits(), 0xFE);   // -7 / 2^-6 = -448
  EXPECT_EQ(q[4].bits(), 0x7E);   // 448
  EXPECT_EQ(q[9].bits(), 0xF6);   // -224
  EXPECT_EQ(q[10].bits(), 0x7E);  // 56 / 0.125 = 448
  EXPECT_EQ(q[14].bits(), 0x7E);  // 1.75 / 2^-8 = 448
  float y[15];
  fp8kit::dequantize_blockwise(q, 3, 5, {2, 2}, scales, y);
  for (int k = 0; k < 15; ++k) EXPECT_EQ(y[k], x[k]) << k;  // all exactly representable
}

TEST(QuantizeBlockwise, AllZeroBlockGetsScaleOneAndExactZeros) {
  std::vector<float> x(8 * 8, 0.0f);
  x[3] = minus_zero;
  for (std::size_t k = 32; k < 64; ++k) x[k] = float(k);  // lower half is not zero
  std::vector<fp8kit::e5m2> q(64);
  std::vector<float> scales(4), y(64, 1.0f);
  fp8kit::quantize_blockwise(x.data(), 8, 8, {4, 4}, q.data(), scales.data());
  EXPECT_EQ(scales[0], 1.0f);
  EXPECT_EQ(scales[1], 1.0f);
  fp8kit::dequantize_blockwise(q.data(), 8, 8, {4, 4}, scales.data(), y.data());
  for (std::size_t k = 0; k < 32; ++k) EXPECT_EQ(bits_of(y[k]), k == 3 ? 0x80000000u : 0u) << k;
}

TEST(QuantizeBlockwise, NonFiniteElementsDoNotSetTheScale) {
  const float inf = std::numeric_limits<float>::infinity();
  const float x[] = {896.0f, inf, -inf, float_from_bits(0x7FC00000u)};
  fp8kit::e4m3fn q[4];
  float scales[1];
  fp8kit::quantize_blockwise(x, 2, 2, {2, 2}, q, scales);
  EXPECT_EQ(scales[0], 2.0f);
  EXPECT_EQ(q[0].bits(), 0x7E);
  EXPECT_EQ(q[1].bits(), 0x7E);  // saturated
  EXPECT_EQ(q[2].bits(), 0xFE);
  EXPECT_TRUE(isnan(q[3]));
  float amax[1];
  fp8kit::amax_blockwise(x, 2, 2, {2, 2}, amax);
  EXPECT_EQ(bits_of(amax[0]), 0x7FC00000u);  // amax_blockwise keeps amax's NaN rule
}

// The block-wise pipeline (each tile's conversion scans the next tile for its amaxes; tiles free
// of NaN take NaN-free kernels) on matrices of many tiles, with NaN, inf and all-NaN blocks in
// the first, a middle and the last tile: scales from the finite elements, codes as quantize,
// fake-quantized values in place, on every kernel. Shapes: blocks one row high over rows holding
// whole blocks (one long row in 16 Ki-float tiles), 128 x 128 over three block rows, and narrow
// blocks.
TEST(QuantizeBlockwise, PipelinesOverManyTilesWithNonFiniteElements) {
  using F = fp8kit::e4m3fn;
  isa_guard guard;
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = float_from_bits(0x7FC00000u);
  struct layout {
    std::size_t rows, cols;
    fp8kit::block_shape b;
  };
  const layout layouts[] = {{64, 1024, {1, 128}},
                            {300, 512, {128, 128}},
                            {8, 4096, {1, 32}},
                            {40, 96, {1, 16}},
                            {70, 300, {4, 8}},
                            // Tiles of one block spanning whole rows: 12800, 14 and 20 elements.
                            {300, 100, {128, 128}},
                            {30, 7, {2, 8}},
                            {41, 5, {4, 8}}};
  for (isa i : supported_isas()) {
    fp8kit::simd::force_isa(i);
    for (const layout& l : layouts) {
      const std::size_t n = l.rows * l.cols;
      std::vector<float> x = random_values(n, std::uint32_t(n), 3.0f);
      for (const std::size_t at : {std::size_t{5}, n / 2 + 7, n - 3}) x[at] = nan;
      for (const std::size_t at : {std::size_t{9}, n / 3, n - 40}) x[at] = inf;
      x[n / 2 + 100] = -inf;
      for (std::size_t c = 0; c < l.b.cols && c < l.cols; ++c) x[(l.rows - 1) * l.cols + c] = nan;
      const std::size_t nbc = (l.cols + l.b.cols - 1) / l.b.cols;
      const std::size_t count = fp8kit::block_count(l.rows, l.cols, l.b);
      std::vector<float> scales(count), scales_fake(count), y(x);
      std::vector<F> q(n);
      fp8kit::quantize_blockwise<F>(x.data(), l.rows, l.cols, l.b, q.data(), scales.data());
      fp8kit::fake_quantize_blockwise<F>(y.data(), l.rows, l.cols, l.b, y.data(),
                                         scales_fake.data());
      std::vector<float> m(count, 0.0f);  // finite block amaxes, by a plain loop
      for (std::size_t k = 0; k < n; ++k) {
        const std::size_t block = (k / l.cols / l.b.rows) * nbc + (k % l.cols) / l.b.cols;
        const bool finite = (bits_of(x[k]) & 0x7F800000u) != 0x7F800000u;  // -ffast-math safe
        if (finite) m[block] = std::max(m[block], std::fabs(x[k]));
      }
      for (std::size_t j = 0; j < count; ++j) {
        const float s = fp8kit::scale_from_amax<F>(m[j]);
        ASSERT_EQ(bits_of(scales[j]), bits_of(s)) << fp8kit::simd::isa_name(i) << " block " << j;
        ASSERT_EQ(bits_of(scales_fake[j]), bits_of(s));
      }
      for (std::size_t k = 0; k < n; ++k) {
        const float s = scales[(k / l.cols / l.b.rows) * nbc + (k % l.cols) / l.b.cols];
        const F e =
            fp8kit::convert<F>(x[k] / fp8kit::detail::opaque(s), fp8kit::saturation::finite);
        ASSERT_EQ(q[k].bits(), e.bits())
            << fp8kit::simd::isa_name(i) << " element " << k << " of " << l.rows << "x" << l.cols;
        ASSERT_EQ(bits_of(y[k]), product_bits(e, s))
            << fp8kit::simd::isa_name(i) << " element " << k;
      }
    }
  }
}

TEST(QuantizeBlockwise, RejectsBadArgumentsBeforeWritingAnything) {
  const float x[] = {1.0f, 2.0f, 3.0f, 4.0f};
  fp8kit::e4m3fn q[4] = {};
  float scales[4] = {5, 5, 5, 5};
  EXPECT_THROW(fp8kit::quantize_blockwise(x, 2, 2, {0, 2}, q, scales), std::invalid_argument);
  EXPECT_THROW(fp8kit::quantize_blockwise(x, 2, 2, {2, 0}, q, scales), std::invalid_argument);
  EXPECT_THROW(fp8kit::quantize_blockwise(x, 2, 2, {1, 1}, q, scales, {0, 0, false}),
               std::invalid_argument);
  EXPECT_THROW(fp8kit::block_count(2, 2, {0, 1}), std::invalid_argument);
  for (const auto& c : q) EXPECT_EQ(c.bits(), 0);
  for (float s : scales) EXPECT_EQ(s, 5.0f);
  const float bad[] = {1.0f, float_from_bits(0x7FC00000u)};
  float y[4] = {};
  EXPECT_THROW(fp8kit::dequantize_blockwise(q, 2, 2, {2, 1}, bad, y), std::invalid_argument);
  EXPECT_EQ(fp8kit::block_count(300, 200, {128, 128}), 6u);
  EXPECT_EQ(fp8kit::block_count(1, 300, {1, 128}), 3u);
  EXPECT_EQ(fp8kit::block_count(0, 300, {1, 128}), 0u);
}

TEST(QuantizeBlockwise, TransposeGivesTransposedScalesAndCodes) {
  const std::size_t rows = 300, cols = 200;  // partial blocks on both axes
  const std::vector<float> x = random_values(rows * cols, 8, 10.0f);
  std::vector<float> xt(rows * cols);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) xt[c * rows + r] = x[r * cols + c];
  }
  std::vector<fp8kit::e4m3fn> q(rows * cols), qt(rows * cols);
  std::vector<float> s(6), st(6);
  fp8kit::quantize_blockwise(x.data(), rows, cols, {128, 128}, q.data(), s.data());
  fp8kit::quantize_blockwise(xt.data(), cols, rows, {128, 128}, qt.data(), st.data());
  for (std::size_t i = 0; i < 3; ++i) {  // s is 3 x 2, st is 2 x 3
    for (std::size_t j = 0; j < 2; ++j) EXPECT_EQ(bits_of(s[i * 2 + j]), bits_of(st[j * 3 + i]));
  }
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      ASSERT_EQ(q[r * cols + c].bits(), qt[c * rows + r].bits()) << r << "," << c;
    }
  }
}

template <class F>
class BlockwiseTyped : public ::testing::Test {};
TYPED_TEST_SUITE(BlockwiseTyped, fp8kit_test::all_formats, fp8kit_test::format_names);

TYPED_TEST(BlockwiseTyped, MatchesTheBlockByBlockDefinition) {
  using F = TypeParam;
  isa_guard guard;
  // Paths: blocks >= 16 columns wide get one call per row with a scale per segment; narrower
  // ones ({3, 5}, {1, 1}) expanded element-wise scales; a single block across whole rows one call
  // per block row ({1000, 1000} on 300 columns); {1000, 1000} on 2100 columns splits the block
  // rows into tiles of 1000 columns.
  const std::size_t shapes[][2] = {{130, 260}, {1, 300}, {257, 1}, {5, 7}, {3, 2100}};
  const fp8kit::block_shape blocks[] = {{128, 128}, {1, 128},  {3, 5},
                                        {1, 1},     {2, 1024}, {1000, 1000}};
  for (isa i : supported_isas()) {
    fp8kit::simd::force_isa(i);
    for (const auto& shape : shapes) {
      const std::size_t rows = shape[0], cols = shape[1];
      std::vector<float> x = random_values(rows * cols, std::uint32_t(rows * 31 + cols), 2.0f);
      for (std::size_t k = 0; k < x.size(); k += 97) x[k] *= 1000.0f;  // outliers
      for (const fp8kit::block_shape b : blocks) {
        const std::size_t nbr = (rows + b.rows - 1) / b.rows, nbc = (cols + b.cols - 1) / b.cols;
        std::vector<float> scales(nbr * nbc), y(rows * cols), z(x), back(rows * cols);
        std::vector<float> scales_z(nbr * nbc);
        std::vector<F> q(rows * cols);
        fp8kit::quantize_blockwise<F>(x.data(), rows, cols, b, q.data(), scales.data());
        fp8kit::dequantize_blockwise<F>(q.data(), rows, cols, b, scales.data(), y.data());
        fp8kit::fake_quantize_blockwise<F>(z.data(), rows, cols, b, z.data(), scales_z.data());
        for (std::size_t bi = 0; bi < nbr; ++bi) {
          for (std::size_t bj = 0; bj < nbc; ++bj) {
            float m = 0.0f;  // the block amax, by a plain loop
            for (std::size_t r = bi * b.rows; r < std::min(rows, (bi + 1) * b.rows); ++r) {
              for (std::size_t c = bj * b.cols; c < std::min(cols, (bj + 1) * b.cols); ++c) {
                m = std::max(m, std::fabs(x[r * cols + c]));
              }
            }
            const float s = fp8kit::scale_from_amax<F>(m);
            ASSERT_EQ(bits_of(scales[bi * nbc + bj]), bits_of(s)) << bi << "," << bj;
            ASSERT_EQ(bits_of(scales_z[bi * nbc + bj]), bits_of(s));
            for (std::size_t r = bi * b.rows; r < std::min(rows, (bi + 1) * b.rows); ++r) {
              for (std::size_t c = bj * b.cols; c < std::min(cols, (bj + 1) * b.cols); ++c) {
                const std::size_t k = r * cols + c;
                const F e = fp8kit::convert<F>(x[k] / fp8kit::detail::opaque(s),
                                               fp8kit::saturation::finite);
                ASSERT_EQ(q[k].bits(), e.bits()) << fp8kit::simd::isa_name(i) << " " << r << ","
                                                 << c << " block " << b.rows << "x" << b.cols;
                ASSERT_EQ(bits_of(y[k]), product_bits(e, s)) << r << "," << c << " x=" << x[k];
                ASSERT_EQ(bits_of(z[k]), product_bits(e, s))
                    << fp8kit::simd::isa_name(i) << " " << r << "," << c << " x=" << x[k];
              }
            }
          }
        }
      }
    }
  }
}

TYPED_TEST(BlockwiseTyped, Pow2ScalesArePowersOfTwo) {
  using F = TypeParam;
  const std::vector<float> x = random_values(64 * 64, 9, 50.0f);
  std::vector<F> q(x.size());
  std::vector<float> scales(4 * 2);
  fp8kit::quantize_blockwise<F>(x.data(), 64, 64, {16, 32}, q.data(), scales.data(), {0, 1, true});
  for (float s : scales) EXPECT_EQ(bits_of(s) & 0x807FFFFFu, 0u) << s;
  for (const F& c : q) EXPECT_NE(c.bits() & F::traits::magnitude_mask, F::traits::inf_bits);
}

}  // namespace
