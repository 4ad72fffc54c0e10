// half.hpp: bfloat16 and half decode all 65536 codes exactly and round floats to nearest even,
// both checked against computations in this file that share nothing with the library
// (bit shifting for bfloat16, ldexp / nearbyint for half), plus limits, operators, hashing.

#include "fp8kit/half.hpp"

#include <gtest/gtest.h>

#include <cfenv>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <type_traits>
#include <vector>

#include "fp8kit/convert.hpp"
#include "support/formats.hpp"
#include "support/reference.hpp"

namespace {

using fp8kit::bfloat16;
using fp8kit::half;
using fp8kit::saturation;
using fp8kit_test::bits_of;
using fp8kit_test::float_from_bits;

// Independent decoders.
float bf16_value(std::uint16_t c) { return float_from_bits(std::uint32_t{c} << 16); }

// +-inf and NaN from their bits: under -ffast-math the compiler may assume arithmetic never
// produces them (clang folds sign * HUGE_VAL).
double special(bool negative, bool nan) {
  const std::uint64_t bits =
      (negative ? 0x8000000000000000u : 0u) | (nan ? 0x7ff8000000000000u : 0x7ff0000000000000u);
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

double half_value(std::uint16_t c) {
  const int e = (c >> 10) & 0x1f;
  const int m = c & 0x3ff;
  const double sign = (c & 0x8000) != 0 ? -1.0 : 1.0;
  if (e == 31) return special(sign < 0, m != 0);
  if (e == 0) return sign * std::ldexp(m, -24);
  return sign * std::ldexp(1024 + m, e - 25);
}

// Independent encoders (default rounding mode, which the tests do not change).
// bfloat16: round the low 16 bits to nearest, ties to even (an overflow carries into inf).
std::uint16_t bf16_expected(float x, saturation s) {
  const std::uint32_t u = bits_of(x);
  if (fp8kit_test::is_nan(x)) return static_cast<std::uint16_t>((u >> 16) & 0x8000u) | 0x7fc0u;
  const std::uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
  auto r = static_cast<std::uint16_t>(rounded >> 16);
  if (s == saturation::finite && (r & 0x7fffu) == 0x7f80u) r = static_cast<std::uint16_t>(r - 1);
  return r;
}

// half: the value nearest to x on half's grid (quantum 2^(max(e, -14) - 10)), ties to even.
double half_expected_value(float x, saturation s) {
  const double v = x;
  if (fp8kit_test::is_nan(v) || v == 0) return v;
  const double max = 65504;
  const double mag = std::fabs(v);
  const double sign = v < 0 ? -1.0 : 1.0;
  if (fp8kit_test::is_inf(v)) return s == saturation::finite ? sign * max : v;
  const int e = std::ilogb(mag);
  const int quantum = (e < -14 ? -14 : e) - 10;
  const double r = std::nearbyint(std::ldexp(mag, -quantum)) * std::ldexp(1.0, quantum);
  if (r > max) return s == saturation::finite ? sign * max : special(sign < 0, false);
  return sign * r;
}

TEST(Half, TypesAreTwoTriviallyCopyableBytes) {
  static_assert(sizeof(bfloat16) == 2 && sizeof(half) == 2, "two bytes");
  static_assert(std::is_trivially_copyable_v<bfloat16> && std::is_trivially_copyable_v<half>, "");
  static_assert(std::is_standard_layout_v<bfloat16> && std::is_standard_layout_v<half>, "");
  EXPECT_EQ(bfloat16{}.bits(), 0);
  EXPECT_EQ(half{}.bits(), 0);
}

TEST(Half, Bfloat16DecodesAll65536CodesExactly) {
  for (std::uint32_t c = 0; c < 65536; ++c) {
    const auto code = static_cast<std::uint16_t>(c);
    const bfloat16 x = bfloat16::from_bits(code);
    ASSERT_EQ(x.bits(), code);
    const float expected = bf16_value(code);
    const auto got = static_cast<float>(x);
    if (fp8kit_test::is_nan(expected)) {
      ASSERT_TRUE(fp8kit_test::is_nan(got)) << "code " << c;
      ASSERT_TRUE(fp8kit_test::is_nan(double(x))) << "code " << c;
      ASSERT_EQ(fp8kit_test::sign_bit(got), fp8kit_test::sign_bit(expected)) << "code " << c;
      ASSERT_TRUE(isnan(x)) << "code " << c;
    } else {
      ASSERT_EQ(bits_of(got), bits_of(expected)) << "code " << c;
      ASSERT_EQ(bits_of(double(x)), bits_of(double(expected))) << "code " << c;
      ASSERT_EQ(isinf(x), fp8kit_test::is_inf(expected)) << "code " << c;
      ASSERT_EQ(signbit(x), fp8kit_test::sign_bit(expected)) << "code " << c;
    }
  }
}

TEST(Half, HalfDecodesAll65536CodesExactly) {
  for (std::uint32_t c = 0; c < 65536; ++c) {
    const auto code = static_cast<std::uint16_t>(c);
    const half x = half::from_bits(code);
    ASSERT_EQ(x.bits(), code);
    const double expected = half_value(code);
    const double got = x;
    if (fp8kit_test::is_nan(expected)) {
      ASSERT_TRUE(fp8kit_test::is_nan(got)) << "code " << c;
      ASSERT_TRUE(fp8kit_test::is_nan(static_cast<float>(x))) << "code " << c;
      ASSERT_EQ(fp8kit_test::sign_bit(got), (c & 0x8000) != 0) << "code " << c;
      ASSERT_TRUE(isnan(x)) << "code " << c;
    } else {
      ASSERT_EQ(bits_of(got), bits_of(expected)) << "code " << c;  // -0 and inf included
      ASSERT_EQ(bits_of(double(static_cast<float>(x))), bits_of(expected)) << "code " << c;
      ASSERT_EQ(isinf(x), fp8kit_test::is_inf(expected)) << "code " << c;
    }
  }
}

// Inputs: edge cases (ties, overflow thresholds, subnormal boundaries, specials) and a sample
// of float bit patterns.
std::vector<float> encode_inputs() {
  const float specials[] = {0.0f,
                            -0.0f,
                            1.0f,
                            -1.0f,
                            HUGE_VALF,
                            -HUGE_VALF,
                            FLT_MAX,
                            -FLT_MAX,
                            FLT_MIN,
                            -FLT_MIN,
                            std::numeric_limits<float>::denorm_min(),
                            std::nanf(""),
                            -std::nanf(""),
                            65504.0f,
                            65519.99f,
                            65520.0f,
                            65536.0f,
                            1e10f,
                            0.3f,
                            1.0f / 3};
  std::vector<float> in(std::begin(specials), std::end(specials));
  // Every code of both formats, and the floats at and around each midpoint between
  // neighbouring codes (ties and one float ulp either side).
  for (std::uint32_t c = 0; c < 65536; ++c) {
    const float b = bf16_value(static_cast<std::uint16_t>(c));
    const float b_mid = float_from_bits(bits_of(b) + 0x8000u);
    const auto h = static_cast<float>(half_value(static_cast<std::uint16_t>(c)));
    const auto h_next = static_cast<float>(half_value(static_cast<std::uint16_t>(c + 1)));
    const auto h_mid = static_cast<float>((double(h) + double(h_next)) / 2);
    for (const float v : {b, b_mid, h, h_mid}) {
      in.push_back(v);
      in.push_back(std::nextafter(v, HUGE_VALF));
      in.push_back(std::nextafter(v, -HUGE_VALF));
    }
  }
  for (std::uint64_t u = 0; u < (std::uint64_t{1} << 32); u += 4099) {
    in.push_back(float_from_bits(static_cast<std::uint32_t>(u)));
  }
  return in;
}

TEST(Half, Bfloat16RoundsFloatsToNearestEven) {
  long failures = 0;
  for (const float x : encode_inputs()) {
    for (const auto s : {saturation::none, saturation::finite}) {
      const std::uint16_t expected = bf16_expected(x, s);
      const std::uint16_t got = fp8kit::convert<bfloat16>(x, s).bits();
      if (got != expected && ++failures <= 10) {
        ADD_FAILURE() << "float bits 0x" << std::hex << bits_of(x) << " saturation " << int(s)
                      << ": got 0x" << got << ", expected 0x" << expected;
      }
    }
    if (bfloat16(x).bits() != bf16_expected(x, saturation::none) && ++failures <= 10) {
      ADD_FAILURE() << "constructor, float bits 0x" << std::hex << bits_of(x);
    }
  }
  EXPECT_EQ(failures, 0);
  // Ties go to the even code.
  EXPECT_EQ(bfloat16(float_from_bits(0x3f808000u)).bits(), 0x3f80);
  EXPECT_EQ(bfloat16(float_from_bits(0x3f818000u)).bits(), 0x3f82);
  EXPECT_EQ(bfloat16(FLT_MAX).bits(), 0x7f80);  // FLT_MAX rounds up past 0x7f7f: inf
}

TEST(Half, HalfRoundsFloatsToNearestEven) {
  long failures = 0;
  for (const float x : encode_inputs()) {
    for (const auto s : {saturation::none, saturation::finite}) {
      const double expected = half_expected_value(x, s);
      const half got = fp8kit::convert<half>(x, s);
      const bool ok = fp8kit_test::is_nan(expected)
                          ? isnan(got) && signbit(got) == fp8kit_test::sign_bit(expected)
                          : bits_of(double(got)) == bits_of(expected);
      if (!ok && ++failures <= 10) {
        ADD_FAILURE() << "float " << x << " (bits 0x" << std::hex << bits_of(x) << ") saturation "
                      << int(s) << ": got " << double(got) << ", expected " << expected;
      }
    }
    if (half(x).bits() != fp8kit::convert<half>(x).bits() && ++failures <= 10) {
      ADD_FAILURE() << "constructor, float bits 0x" << std::hex << bits_of(x);
    }
  }
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(half(65519.0f).bits(), 0x7bff);  // below the tie at 65520
  EXPECT_EQ(half(65520.0f).bits(), 0x7c00);  // the tie goes up (to even): inf
  EXPECT_EQ(fp8kit::convert<half>(65520.0f, saturation::finite).bits(), 0x7bff);
  EXPECT_EQ(half(std::ldexp(1.0f, -25)).bits(), 0x0000);  // half the min subnormal: tie to 0
  EXPECT_EQ(half(std::ldexp(3.0f, -26)).bits(), 0x0001);
  EXPECT_EQ(half(-std::ldexp(1.0f, -26)).bits(), 0x8000);        // -0 keeps its sign
  EXPECT_EQ(half(1.0f + std::ldexp(1.0f, -11)).bits(), 0x3c00);  // tie to even
  EXPECT_EQ(half(1.0f + 3 * std::ldexp(1.0f, -11)).bits(), 0x3c02);
}

template <class T>
void expect_limits(double max, double min, double denorm_min, double eps, int digits, int digits10,
                   int max_digits10, int min_exp, int max_exp, int min_exp10, int max_exp10) {
  using lim = std::numeric_limits<T>;
  static_assert(lim::is_specialized && lim::is_signed && !lim::is_integer, "kind");
  static_assert(lim::has_infinity && lim::has_quiet_NaN && lim::radix == 2, "ieee specials");
  static_assert(lim::has_denorm == std::denorm_present, "subnormals");
  EXPECT_EQ(double(lim::max()), max);
  EXPECT_EQ(double(lim::lowest()), -max);
  EXPECT_EQ(double(lim::min()), min);
  EXPECT_EQ(double(lim::denorm_min()), denorm_min);
  EXPECT_EQ(double(lim::epsilon()), eps);
  EXPECT_EQ(double(lim::round_error()), 0.5);
  EXPECT_TRUE(fp8kit_test::is_inf(double(lim::infinity())));
  EXPECT_FALSE(fp8kit_test::sign_bit(double(lim::infinity())));
  EXPECT_TRUE(fp8kit_test::is_nan(double(lim::quiet_NaN())));
  EXPECT_TRUE(fp8kit_test::is_nan(double(lim::signaling_NaN())));
  EXPECT_EQ(lim::digits, digits);
  EXPECT_EQ(lim::digits10, digits10);
  EXPECT_EQ(lim::max_digits10, max_digits10);
  EXPECT_EQ(lim::min_exponent, min_exp);
  EXPECT_EQ(lim::max_exponent, max_exp);
  EXPECT_EQ(lim::min_exponent10, min_exp10);
  EXPECT_EQ(lim::max_exponent10, max_exp10);
}

// The values of C++23's std::float16_t / std::bfloat16_t limits.
TEST(Half, NumericLimitsAreThoseOfBinary16AndBfloat16) {
  expect_limits<half>(65504, std::ldexp(1.0, -14), std::ldexp(1.0, -24), std::ldexp(1.0, -10), 11,
                      3, 5, -13, 16, -4, 4);
  expect_limits<bfloat16>(std::ldexp(255.0, 120), double(FLT_MIN), std::ldexp(1.0, -133),
                          std::ldexp(1.0, -7), 8, 2, 4, -125, 128, -37, 38);
}

// Operators: float arithmetic rounded once (float has 24 >= 2 * 11 + 2 bits, so rounding the
// float result again equals rounding the exact result once), on a random sample of pairs.
template <class T>
void expect_operators_match_float(std::uint32_t seed) {
  std::mt19937 rng(seed);
  long failures = 0;
  for (int n = 0; n < 200000; ++n) {
    const T a = T::from_bits(static_cast<std::uint16_t>(rng()));
    const T b = T::from_bits(static_cast<std::uint16_t>(rng()));
    const auto fa = static_cast<float>(a);
    const auto fb = static_cast<float>(b);
    const T results[] = {a + b, a - b, a * b, a / b};
    const float exact[] = {fa + fb, fa - fb, fa * fb, fa / fb};
    for (int k = 0; k < 4; ++k) {
      const T expected = fp8kit::convert<T>(exact[k]);
      const bool ok = isnan(expected) ? isnan(results[k]) : results[k].bits() == expected.bits();
      if (!ok && ++failures <= 10) {
        ADD_FAILURE() << "op " << k << " on 0x" << std::hex << a.bits() << ", 0x" << b.bits();
      }
    }
    if (fp8kit_test::relations(a, b) != fp8kit_test::ieee_relations(fa, fb) && ++failures <= 10) {
      ADD_FAILURE() << "comparisons of 0x" << std::hex << a.bits() << ", 0x" << b.bits();
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST(Half, HalfOperatorsMatchFloatRoundedOnce) { expect_operators_match_float<half>(1); }
TEST(Half, Bfloat16OperatorsMatchFloatRoundedOnce) { expect_operators_match_float<bfloat16>(2); }

TEST(Half, EqualValuesHashEqualAndPrintLikeFloat) {
  EXPECT_EQ(std::hash<half>{}(half::from_bits(0x0000)), std::hash<half>{}(half::from_bits(0x8000)));
  EXPECT_EQ(std::hash<bfloat16>{}(bfloat16::from_bits(0x0000)),
            std::hash<bfloat16>{}(bfloat16::from_bits(0x8000)));
  std::ostringstream os;
  os << half(0.333251953125f) << ' ' << bfloat16(-2.5f) << ' ' << half(1e6f);
  EXPECT_EQ(os.str(), "0.333252 -2.5 inf");
}

#if FP8KIT_HAS_BUILTIN_BIT_CAST
static_assert(half(1.0f).bits() == 0x3c00, "constexpr half");
static_assert(bfloat16(1.0f).bits() == 0x3f80, "constexpr bfloat16");
static_assert(float(half::from_bits(0x0001)) == 1.0f / 16777216, "constexpr decode");
static_assert(fp8kit::convert<half>(70000.0f, saturation::finite).bits() == 0x7bff, "saturate");
#endif

}  // namespace
