// Tests of <fp8kit/mx.hpp>: the e8m0fnu scale type (against the golden decode table) and MX
// quantization (hand-computed bytes, and an independent OCP MX v1.0 reference for every format).

#include "fp8kit/mx.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

#include "fp8kit/convert.hpp"
#include "support/formats.hpp"

namespace {

using fp8kit::e8m0fnu;
using fp8kit::mx_rounding;
using fp8kit_test::bits_of;
using fp8kit_test::float_from_bits;
// -0 from its bits: under -ffast-math (no signed zeros) the literal -0.0f may become +0.
const float minus_zero = float_from_bits(0x80000000u);

// The exact value of a finite float, from its bits (no float arithmetic, so a -ffast-math
// build, which flushes denormals, computes the same).
double exact(float f) {
  const std::uint32_t u = bits_of(f);
  const int e = int((u >> 23) & 0xFFu);
  const std::uint32_t m = u & 0x7FFFFFu;
  const double v =
      e == 0 ? std::ldexp(double(m), -149) : std::ldexp(double(m | 0x800000u), e - 150);
  return (u >> 31) != 0 ? -v : v;
}

struct isa_guard {
  ~isa_guard() { fp8kit::simd::reset_isa(); }
};

std::vector<fp8kit::simd::isa> supported_isas() {
  using fp8kit::simd::isa;
  std::vector<isa> out;
  for (isa i : {isa::scalar, isa::sse2, isa::avx2, isa::avx512, isa::neon}) {
    if (fp8kit::simd::isa_supported(i)) out.push_back(i);
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// e8m0fnu

TEST(E8m0fnu, DecodesEveryCodeLikeTheGoldenTable) {
  const std::vector<std::uint8_t> table = fp8kit_test::read_table("e8m0fnu.decode.bin", 1024);
  for (int code = 0; code < 256; ++code) {
    const std::uint32_t expected = fp8kit_test::load_le32(&table[std::size_t(4 * code)]);
    const e8m0fnu s = e8m0fnu::from_bits(std::uint8_t(code));
    EXPECT_EQ(s.bits(), code);
    if (code == 0xFF) {
      EXPECT_EQ(expected & 0x7FC00000u, 0x7FC00000u);  // the table holds a quiet NaN
      EXPECT_EQ(bits_of(float(s)) & 0x7FC00000u, 0x7FC00000u);
      EXPECT_TRUE(isnan(s));
      continue;
    }
    EXPECT_EQ(bits_of(float(s)), expected) << code;
    EXPECT_EQ(double(s), std::ldexp(1.0, code - 127)) << code;
    EXPECT_EQ(s.exponent(), code - 127);
    EXPECT_FALSE(isnan(s));
  }
}

TEST(E8m0fnu, IsAOneByteTriviallyCopyableType) {
  static_assert(sizeof(e8m0fnu) == 1);
  static_assert(std::is_trivially_copyable_v<e8m0fnu>);
  static_assert(std::is_standard_layout_v<e8m0fnu>);
  static_assert(e8m0fnu::from_bits(0x7F).bits() == 0x7F);
  static_assert(e8m0fnu::from_exponent(-3).bits() == 124);
  static_assert(e8m0fnu::from_exponent(-500).bits() == 0x00);  // clamped
  static_assert(e8m0fnu::from_exponent(500).bits() == 0xFE);   // clamped, never NaN
  static_assert(e8m0fnu::nan().bits() == 0xFF);
#if FP8KIT_HAS_BUILTIN_BIT_CAST
  static_assert(float(e8m0fnu::from_bits(0x7F)) == 1.0f);
  static_assert(float(e8m0fnu::from_exponent(-3)) == 0.125f);
#endif
  EXPECT_EQ(e8m0fnu{}.bits(), 0);
}

TEST(E8m0fnu, ComparesLikeIeeeValues) {
  EXPECT_EQ(e8m0fnu::from_bits(3), e8m0fnu::from_bits(3));
  EXPECT_NE(e8m0fnu::from_bits(3), e8m0fnu::from_bits(4));
  EXPECT_FALSE(e8m0fnu::nan() == e8m0fnu::nan());
  EXPECT_TRUE(e8m0fnu::nan() != e8m0fnu::nan());
  EXPECT_EQ(float(e8m0fnu::from_bits(0x00)), 0x1p-127f);
  EXPECT_EQ(float(e8m0fnu::from_bits(0xFE)), 0x1p127f);
}

// ------------------------------------------------------------------------------------------
// mx_quantize / mx_dequantize: hand-computed bytes

TEST(MxQuantize, HandComputedE4m3fnBlock) {
  std::vector<float> x(32, 0.0f);
  x[0] = 1.0f;
  x[1] = 0.5f;
  x[2] = -0.75f;
  x[3] = 3.0f;
  for (mx_rounding r : {mx_rounding::floor, mx_rounding::rceil}) {
    std::vector<fp8kit::e4m3fn> q(32);
    e8m0fnu scale;
    fp8kit::mx_quantize(x.data(), 32, q.data(), &scale, r);
    // amax 3: floor(log2 3) - 8 = -7; ceil(log2(3 / 448)) = -7 too. Code 127 - 7 = 0x78.
    EXPECT_EQ(scale.bits(), 0x78);
    EXPECT_EQ(q[0].bits(), 0x70);  // 128
    EXPECT_EQ(q[1].bits(), 0x68);  // 64
    EXPECT_EQ(q[2].bits(), 0xEC);  // -96
    EXPECT_EQ(q[3].bits(), 0x7C);  // 384
    for (std::size_t k = 4; k < 32; ++k) EXPECT_EQ(q[k].bits(), 0x00);
    std::vector<float> y(32);
    fp8kit::mx_dequantize(q.data(), 32, &scale, y.data());
    EXPECT_EQ(y, x);
  }
}

TEST(MxQuantize, FloorSaturatesWhereRceilRoundsTheScaleUp) {
  const float x[] = {500.0f, -1.0f, 479.0f};
  fp8kit::e4m3fn q[3];
  e8m0fnu scale;
  fp8kit::mx_quantize(x, 3, q, &scale, mx_rounding::floor);
  EXPECT_EQ(scale.bits(), 0x7F);  // floor(log2 500) - 8 = 0
  EXPECT_EQ(q[0].bits(), 0x7E);   // 500 saturates to 448 (not NaN)
  EXPECT_EQ(q[1].bits(), 0xB8);   // -1
  EXPECT_EQ(q[2].bits(), 0x7E);   // 479 saturates too
  fp8kit::mx_quantize(x, 3, q, &scale, mx_rounding::rceil);
  EXPECT_EQ(scale.bits(), 0x80);  // ceil(log2(500 / 448)) = 1
  EXPECT_EQ(q[0].bits(), 0x78);   // 250 rounds to 256
  EXPECT_EQ(q[1].bits(), 0xB0);   // -0.5
  EXPECT_EQ(q[2].bits(), 0x77);   // 239.5 rounds to 240
}

TEST(MxQuantize, RceilKeepsAnAmaxOfExactlyMaxFiniteTimesAPowerOfTwo) {
  struct row {
    float amax, rceil_scale;
    std::uint8_t rceil_code;
    float floor_scale;
    std::uint8_t floor_code;
  };
  const row rows[] = {
      {448.0f, 1.0f, 0x7E, 1.0f, 0x7E},        // 448 = max finite: no rounding up
      {0.875f, 0x1p-9f, 0x7E, 0x1p-9f, 0x7E},  // 448 * 2^-9
      {449.0f, 2.0f, 0x76, 1.0f, 0x7E},        // just above: rceil 2 (224.5 -> 224)
  };
  for (const row& t : rows) {
    const float x[] = {t.amax, -0.25f * t.amax};
    fp8kit::e4m3fn q[2];
    e8m0fnu scale;
    fp8kit::mx_quantize(x, 2, q, &scale, mx_rounding::rceil);
    EXPECT_EQ(float(scale), t.rceil_scale) << t.amax;
    EXPECT_EQ(q[0].bits(), t.rceil_code) << t.amax;
    fp8kit::mx_quantize(x, 2, q, &scale, mx_rounding::floor);
    EXPECT_EQ(float(scale), t.floor_scale) << t.amax;
    EXPECT_EQ(q[0].bits(), t.floor_code) << t.amax;
  }
}

TEST(MxQuantize, HandComputedE5m2Block) {
  const float x[] = {1.0f, -0.25f};
  fp8kit::e5m2 q[2];
  e8m0fnu scale;
  fp8kit::mx_quantize(x, 2, q, &scale);
  EXPECT_EQ(scale.bits(), 0x70);  // 0 - 15 = -15
  EXPECT_EQ(q[0].bits(), 0x78);   // 2^15
  EXPECT_EQ(q[1].bits(), 0xF0);   // -2^13
}

TEST(MxQuantize, ShortLastBlockAndOneElement) {
  std::vector<float> x(33, 1.0f);
  x[32] = -4.0f;  // the second block holds one element
  std::vector<fp8kit::e4m3fn> q(33);
  e8m0fnu scales[2];
  EXPECT_EQ(fp8kit::mx_scale_count(33), 2u);
  EXPECT_EQ(fp8kit::mx_scale_count(32), 1u);
  EXPECT_EQ(fp8kit::mx_scale_count(0), 0u);
  fp8kit::mx_quantize(x.data(), 33, q.data(), scales);
  EXPECT_EQ(scales[0].bits(), 127 - 8);
  EXPECT_EQ(scales[1].bits(), 127 + 2 - 8);
  EXPECT_EQ(q[0].bits(), 0x78);   // 256
  EXPECT_EQ(q[32].bits(), 0xF8);  // -256
  fp8kit::mx_quantize(x.data() + 32, 1, q.data(), scales);
  EXPECT_EQ(scales[0].bits(), 127 + 2 - 8);
  EXPECT_EQ(q[0].bits(), 0xF8);
}

TEST(MxQuantize, BlockWithNaNOrInfGetsNaNScaleAndNaNElements) {
  std::vector<float> x(96, 2.0f);
  x[40] = float_from_bits(0xFFC00001u);             // NaN in block 1
  x[70] = -std::numeric_limits<float>::infinity();  // inf in block 2
  std::vector<fp8kit::e4m3fn> q(96);
  e8m0fnu scales[3];
  fp8kit::mx_quantize(x.data(), 96, q.data(), scales);
  EXPECT_EQ(scales[0].bits(), 127 + 1 - 8);
  EXPECT_EQ(scales[1].bits(), 0xFF);
  EXPECT_EQ(scales[2].bits(), 0xFF);
  for (std::size_t k = 32; k < 96; ++k) EXPECT_EQ(q[k].bits(), 0x7F) << k;
  std::vector<float> y(96);
  fp8kit::mx_dequantize(q.data(), 96, scales, y.data());
  EXPECT_EQ(y[0], 2.0f);
  for (std::size_t k = 32; k < 96; ++k) EXPECT_EQ(bits_of(y[k]) & 0x7FC00000u, 0x7FC00000u) << k;
}

TEST(MxQuantize, AllZeroBlockGetsTheSmallestScaleAndZeros) {
  std::vector<float> x(32, 0.0f);
  x[5] = minus_zero;
  std::vector<fp8kit::e4m3fn> q(32);
  std::vector<fp8kit::e4m3fnuz> qz(32);
  e8m0fnu scale, scale_z;
  fp8kit::mx_quantize(x.data(), 32, q.data(), &scale);
  fp8kit::mx_quantize(x.data(), 32, qz.data(), &scale_z, mx_rounding::rceil);
  EXPECT_EQ(scale.bits(), 0x00);
  EXPECT_EQ(scale_z.bits(), 0x00);
  for (std::size_t k = 0; k < 32; ++k) {
    EXPECT_EQ(q[k].bits(), k == 5 ? 0x80 : 0x00) << k;  // -0 kept
    EXPECT_EQ(qz[k].bits(), 0x00) << k;                 // fnuz has one zero
  }
  std::vector<float> y(32, 1.0f);
  fp8kit::mx_dequantize(q.data(), 32, &scale, y.data());
  for (std::size_t k = 0; k < 32; ++k) EXPECT_EQ(bits_of(y[k]), k == 5 ? 0x80000000u : 0u);
}

TEST(MxQuantize, TinyAndHugeAmaxClampOrStayExact) {
  struct row {
    std::uint32_t amax_bits;
    mx_rounding r;
    std::uint8_t scale, code;
  };
  const row rows[] = {
      {71362u, mx_rounding::floor, 0x00, 0x09},       // denormal 1e-40: e = -141, clamped
      {0x04800000u, mx_rounding::floor, 0x01, 0x78},  // 2^-118: e = -126; 256
      {0x04000000u, mx_rounding::floor, 0x00, 0x78},  // 2^-119: e = -127; 256
      {0x03800000u, mx_rounding::floor, 0x00, 0x70},  // 2^-120: clamped to -127; 128
      {0x7F7FFFFFu, mx_rounding::floor, 0xF6, 0x7E},  // FLT_MAX: e = 119; saturates
      {0x7F7FFFFFu, mx_rounding::rceil, 0xF7, 0x78},  // FLT_MAX: e = 120; 256
  };
  for (const row& t : rows) {
    const float x[] = {float_from_bits(t.amax_bits)};
    fp8kit::e4m3fn q[1];
    e8m0fnu scale;
    fp8kit::mx_quantize(x, 1, q, &scale, t.r);
    EXPECT_EQ(scale.bits(), t.scale) << std::hex << t.amax_bits;
    EXPECT_EQ(q[0].bits(), t.code) << std::hex << t.amax_bits;
  }
}

// ------------------------------------------------------------------------------------------
// An independent reference: OCP MX v1.0 with exact double arithmetic (ilogb, ldexp).

template <class F>
struct mx_reference {
  std::vector<std::uint8_t> scales, codes;
};

template <class F>
mx_reference<F> reference_mx(const std::vector<float>& x, mx_rounding r) {
  const double max_finite = double(std::numeric_limits<F>::max());
  const int emax = std::ilogb(max_finite);
  mx_reference<F> out;
  for (std::size_t i = 0; i < x.size(); i += 32) {
    const std::size_t len = std::min<std::size_t>(32, x.size() - i);
    std::uint32_t m = 0;
    for (std::size_t j = 0; j < len; ++j) m = std::max(m, bits_of(x[i + j]) & 0x7FFFFFFFu);
    if (m >= 0x7F800000u) {
      out.scales.push_back(0xFF);
      for (std::size_t j = 0; j < len; ++j) out.codes.push_back(F::traits::nan_bits);
      continue;
    }
    int e = -127;
    if (m != 0) {
      const double amax = exact(float_from_bits(m));
      if (r == mx_rounding::floor) {
        e = std::ilogb(amax) - emax;
      } else {
        e = std::ilogb(amax) - emax - 2;  // then the smallest e with amax <= max * 2^e
        while (amax > std::ldexp(max_finite, e)) ++e;
      }
      e = std::max(-127, std::min(127, e));
    }
    out.scales.push_back(std::uint8_t(e + 127));
    for (std::size_t j = 0; j < len; ++j) {
      const double v = std::ldexp(exact(x[i + j]), -e);  // exact in double
      out.codes.push_back(fp8kit::convert<F>(v, fp8kit::saturation::finite).bits());
    }
  }
  return out;
}

// Blocks whose magnitudes span the whole float range (2^-140 .. 2^120), with mixed signs.
std::vector<float> mx_data(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> value(0.0, 1.0);
  std::uniform_int_distribution<int> power(-140, 120);
  std::vector<float> x(n);
  int p = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 32 == 0) p = power(gen);
    x[i] = float(std::ldexp(value(gen), p));
  }
  return x;
}

template <class F>
class MxTyped : public ::testing::Test {};
TYPED_TEST_SUITE(MxTyped, fp8kit_test::all_formats, fp8kit_test::format_names);

TYPED_TEST(MxTyped, MatchesTheOcpReferenceBitForBit) {
  using F = TypeParam;
  isa_guard guard;
  for (fp8kit::simd::isa i : supported_isas()) {
    fp8kit::simd::force_isa(i);
    // The pipeline's edges: one whole chunk, a second chunk of one element, and three chunks,
    // the third one short.
    const std::size_t chunk = fp8kit::detail::mx_chunk;
    for (std::size_t n : {std::size_t{1}, std::size_t{31}, std::size_t{32}, std::size_t{33},
                          std::size_t{100}, chunk, chunk + 1, 2 * chunk + 32 * 300 + 7}) {
      std::vector<float> x = mx_data(n, std::uint32_t(n));
      if (n > 100) {
        x[100] = 0.0f;
        for (std::size_t k = 64; k < 96; ++k) x[k] = k % 2 ? 0.0f : minus_zero;  // a zero block
        x[200] = float_from_bits(0x7FC00000u);                                   // a NaN block
        x[300] = std::numeric_limits<float>::infinity();                         // an inf block
      }
      if (n > 2 * chunk) {  // NaN and inf blocks in the second and third chunks too
        x[chunk + 32 * 200 + 5] = float_from_bits(0xFFC00000u);
        x[2 * chunk + 32 * 290] = -std::numeric_limits<float>::infinity();
      }
      for (mx_rounding r : {mx_rounding::floor, mx_rounding::rceil}) {
        const mx_reference<F> expected = reference_mx<F>(x, r);
        std::vector<F> q(n);
        std::vector<e8m0fnu> scales(fp8kit::mx_scale_count(n));
        fp8kit::mx_quantize<F>(x.data(), n, q.data(), scales.data(), r);
        ASSERT_EQ(scales.size(), expected.scales.size());
        for (std::size_t k = 0; k < scales.size(); ++k) {
          ASSERT_EQ(scales[k].bits(), expected.scales[k])
              << fp8kit::simd::isa_name(i) << " n=" << n << " block " << k;
        }
        for (std::size_t k = 0; k < n; ++k) {
          ASSERT_EQ(q[k].bits(), expected.codes[k]) << "n=" << n << " element " << k;
        }
        // Dequantization is exact: float(q) * 2^e.
        std::vector<float> y(n);
        fp8kit::mx_dequantize<F>(q.data(), n, scales.data(), y.data());
        for (std::size_t k = 0; k < n; ++k) {
          const e8m0fnu s = scales[k / 32];
          if (isnan(s)) {
            ASSERT_EQ(bits_of(y[k]) & 0x7FC00000u, 0x7FC00000u);
          } else if (isnan(q[k])) {
            ASSERT_EQ(bits_of(y[k]) & 0x7F800000u, 0x7F800000u);
          } else {
            ASSERT_EQ(exact(y[k]), std::ldexp(double(q[k]), s.exponent())) << k;
          }
        }
      }
    }
  }
}

// The scale selection (16 blocks per step on AVX-512) against the double reference's rule, for
// amax patterns across every exponent (subnormals, inf and NaN included) and both roundings,
// in runs of 37 blocks so that every kernel also meets a tail.
TYPED_TEST(MxTyped, ScaleSelectionMatchesTheReferenceOnEveryExponent) {
  using F = TypeParam;
  const double max_finite = double(std::numeric_limits<F>::max());
  const int emax = std::ilogb(max_finite);
  std::vector<std::uint32_t> amax;
  for (std::uint32_t u = 0; u < 0x80000000u - 0x7777u; u += 0x7777u) amax.push_back(u);
  const std::uint32_t fm = std::uint32_t(F::traits::max_finite_bits & F::traits::mantissa_mask)
                           << (23 - F::traits::mantissa_bits);
  for (std::uint32_t field = 0; field < 256; ++field) {
    for (std::uint32_t m : {0u, 1u, fm == 0 ? 0u : fm - 1, fm, fm + 1, 0x7FFFFFu}) {
      amax.push_back((field << 23) | m);
    }
  }
  for (const fp8kit::simd::isa i : supported_isas()) {
    const auto select = fp8kit::detail::scale_kernels_for(i).mx;
    for (const mx_rounding r : {mx_rounding::floor, mx_rounding::rceil}) {
      const auto params = fp8kit::detail::mx_params_for<F>(r);
      for (std::size_t k0 = 0; k0 < amax.size(); k0 += 37) {
        const std::size_t blocks = std::min<std::size_t>(37, amax.size() - k0);
        std::uint8_t codes[37];
        float inverses[37];
        bool any_nan = false;
        const bool nan = select(amax.data() + k0, blocks, params, codes, inverses);
        for (std::size_t k = 0; k < blocks; ++k) {
          const std::uint32_t a = amax[k0 + k];
          int want = 0xFF;  // inf or NaN
          if (a < 0x7F800000u) {
            int e = -127;
            if (a != 0) {
              const double v = exact(float_from_bits(a));
              e = std::ilogb(v) - emax;
              if (r == mx_rounding::rceil) {
                e -= 2;
                while (v > std::ldexp(max_finite, e)) ++e;
              }
              e = std::max(-127, std::min(127, e));
            }
            want = e + 127;
          }
          any_nan = any_nan || want == 0xFF;
          const double inverse = want == 0xFF ? 1.0 : std::ldexp(1.0, 127 - want);
          if (codes[k] != want || exact(inverses[k]) != inverse) {
            FAIL() << fp8kit::simd::isa_name(i) << " amax 0x" << std::hex << a << ": code 0x"
                   << int(codes[k]) << " (want 0x" << want << ")";
          }
        }
        ASSERT_EQ(nan, any_nan);
      }
    }
  }
}

TYPED_TEST(MxTyped, RceilNeverSaturatesAndFloorUsesAtMostTwiceMaxFinite) {
  using F = TypeParam;
  const std::vector<float> x = mx_data(32 * 200, 11);
  const double max_finite = double(std::numeric_limits<F>::max());
  std::vector<F> q(x.size());
  std::vector<e8m0fnu> scales(200);
  fp8kit::mx_quantize<F>(x.data(), x.size(), q.data(), scales.data(), mx_rounding::rceil);
  for (std::size_t k = 0; k < x.size(); ++k) {
    ASSERT_LE(std::fabs(exact(x[k])), std::ldexp(max_finite, scales[k / 32].exponent()) * 1.0);
  }
  fp8kit::mx_quantize<F>(x.data(), x.size(), q.data(), scales.data(), mx_rounding::floor);
  for (std::size_t k = 0; k < x.size(); ++k) {
    ASSERT_LT(std::fabs(exact(x[k])), std::ldexp(2 * max_finite, scales[k / 32].exponent()));
  }
}

// Above 32 MiB mx_quantize / mx_dequantize stream their stores: the same bits as the same blocks
// converted in small calls (MX blocks are independent), NaN blocks included.
TEST(MxQuantize, LargeArraysGiveTheSameBitsAsSmallCalls) {
  using F = fp8kit::e4m3fn;
  const std::size_t n = std::size_t{8} << 20,
                    piece = 32 * 1000 + 7;  // 40 MiB; pieces end mid-block
  std::vector<float> x = mx_data(n, 5);
  x[12345] = std::numeric_limits<float>::quiet_NaN();
  x[n - 1] = -std::numeric_limits<float>::infinity();
  std::vector<F> q(n), want_q(n);
  std::vector<e8m0fnu> scales(fp8kit::mx_scale_count(n)), want_scales(scales.size());
  std::vector<float> y(n), want_y(n);
  fp8kit::mx_quantize(x.data(), n, q.data(), scales.data());
  fp8kit::mx_dequantize(q.data(), n, scales.data(), y.data());
  for (std::size_t i = 0; i < n; i += piece - piece % 32) {  // whole blocks per call
    const std::size_t len = std::min(piece, n - i);
    fp8kit::mx_quantize(x.data() + i, len, want_q.data() + i, want_scales.data() + i / 32);
    fp8kit::mx_dequantize(want_q.data() + i, len, want_scales.data() + i / 32, want_y.data() + i);
  }
  EXPECT_TRUE(std::equal(q.begin(), q.end(), want_q.begin(),
                         [](F a, F b) { return a.bits() == b.bits(); }));
  EXPECT_TRUE(std::equal(scales.begin(), scales.end(), want_scales.begin(),
                         [](e8m0fnu a, e8m0fnu b) { return a.bits() == b.bits(); }));
  EXPECT_TRUE(std::equal(y.begin(), y.end(), want_y.begin(),
                         [](float a, float b) { return bits_of(a) == bits_of(b); }));
  EXPECT_TRUE(isnan(scales[12345 / 32]));
  EXPECT_TRUE(isnan(q[12345 / 32 * 32]));  // the whole NaN block
}

}  // namespace
