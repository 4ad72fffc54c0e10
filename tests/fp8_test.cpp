// fp8.hpp: every alias decodes like the golden table; the operators over all 256 x 256 pairs
// equal float arithmetic rounded once; classification, numeric_limits, hash, printing,
// constexpr use, and the properties round trip, monotonicity and odd symmetry.

#include "fp8kit/fp8.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>

#include "fp8kit/convert.hpp"
#include "support/formats.hpp"
#include "support/reference.hpp"

namespace {

using fp8kit::saturation;
using fp8kit_test::alias_name;

std::uint32_t bits_of(float f) { return fp8kit_test::bits_of(f); }

template <class F>
class Fp8 : public ::testing::Test {
 protected:
  using traits = typename F::traits;
  static constexpr bool fnuz = traits::enc == fp8kit::encoding::fnuz;
  const fp8kit_test::reference_decoder golden{alias_name<F>()};

  static F code(unsigned c) { return F::from_bits(static_cast<std::uint8_t>(c)); }
  // The golden value of code c (exact; NaN codes give a quiet NaN).
  float value(unsigned c) const { return golden.value(static_cast<std::uint8_t>(c)); }
};
TYPED_TEST_SUITE(Fp8, fp8kit_test::all_formats, fp8kit_test::format_names);

// Type requirements of DESIGN.md section 1.
TYPED_TEST(Fp8, IsOneTriviallyCopyableStandardLayoutByte) {
  using F = TypeParam;
  static_assert(sizeof(F) == 1, "one byte");
  static_assert(std::is_trivially_copyable_v<F>, "trivially copyable");
  static_assert(std::is_standard_layout_v<F>, "standard layout");
  static_assert(std::is_trivially_default_constructible_v<F>, "fp8() = default");
  static_assert(!std::is_convertible_v<float, F> && !std::is_convertible_v<double, F>,
                "construction from float/double is explicit");
  static_assert(std::is_convertible_v<F, double>, "operator double is implicit");
  EXPECT_EQ(F{}.bits(), 0);  // value-initialisation is +0
  EXPECT_EQ(double(F{}), 0.0);
}

TYPED_TEST(Fp8, DecodesEveryCodeLikeTheGoldenTable) {
  using F = TypeParam;
  for (unsigned c = 0; c < 256; ++c) {
    const F x = this->code(c);
    const float expected = this->value(c);
    const auto as_float = static_cast<float>(x);
    const double as_double = x;
    if (fp8kit_test::is_nan(expected)) {
      EXPECT_TRUE(fp8kit_test::is_nan(as_float)) << "code " << c;
      EXPECT_TRUE(fp8kit_test::is_nan(as_double)) << "code " << c;
      if (!this->fnuz) {  // ieee and fn NaNs keep the code's sign (fnuz has no signed NaN)
        EXPECT_EQ(fp8kit_test::sign_bit(as_float), fp8kit_test::sign_bit(expected)) << "code " << c;
        EXPECT_EQ(fp8kit_test::sign_bit(as_double), fp8kit_test::sign_bit(expected))
            << "code " << c;
      }
    } else {
      EXPECT_EQ(bits_of(as_float), bits_of(expected)) << "code " << c;  // -0 included
      EXPECT_EQ(fp8kit_test::bits_of(as_double), fp8kit_test::bits_of(double(expected)))
          << "code " << c;
    }
  }
}

TYPED_TEST(Fp8, FromBitsAcceptsEveryByteAndBitsRoundTrips) {
  using F = TypeParam;
  for (unsigned c = 0; c < 256; ++c) {
    const auto byte = static_cast<std::uint8_t>(c);
    const F x = F::from_bits(byte);
    EXPECT_EQ(x.bits(), byte);
    std::uint8_t raw = 0;
    std::memcpy(&raw, &x, 1);  // the object representation is the code
    EXPECT_EQ(raw, byte);
  }
}

// Expected result of an arithmetic operator: float arithmetic, rounded once to F.
template <class F, class Op>
void expect_operator_matches_float(const fp8kit_test::reference_decoder& golden, Op op,
                                   const char* name, F (*lib)(F, F), F& (*compound)(F&, F)) {
  long failures = 0;
  for (unsigned i = 0; i < 256; ++i) {
    for (unsigned j = 0; j < 256; ++j) {
      const F a = F::from_bits(static_cast<std::uint8_t>(i));
      const F b = F::from_bits(static_cast<std::uint8_t>(j));
      const float fa = golden.value(a.bits());
      const float fb = golden.value(b.bits());
      const F expected = fp8kit::convert<F>(op(fa, fb));
      const F got = lib(a, b);
      F acc = a;
      compound(acc, b);
      const bool ok = isnan(expected) ? (isnan(got) && isnan(acc))
                                      : (got.bits() == expected.bits() && acc.bits() == got.bits());
      if (!ok && ++failures <= 10) {
        ADD_FAILURE() << alias_name<F>() << ": 0x" << std::hex << i << ' ' << name << " 0x" << j
                      << " gave 0x" << unsigned(got.bits()) << " (compound 0x"
                      << unsigned(acc.bits()) << "), expected 0x" << unsigned(expected.bits());
      }
    }
  }
  EXPECT_EQ(failures, 0) << name;
}

TYPED_TEST(Fp8, ArithmeticEqualsFloatArithmeticRoundedOnceForAllPairs) {
  using F = TypeParam;
  expect_operator_matches_float<F>(
      this->golden, std::plus<float>(), "+", [](F a, F b) { return a + b; },
      [](F& a, F b) -> F& { return a += b; });
  expect_operator_matches_float<F>(
      this->golden, std::minus<float>(), "-", [](F a, F b) { return a - b; },
      [](F& a, F b) -> F& { return a -= b; });
  expect_operator_matches_float<F>(
      this->golden, std::multiplies<float>(), "*", [](F a, F b) { return a * b; },
      [](F& a, F b) -> F& { return a *= b; });
  expect_operator_matches_float<F>(
      this->golden, std::divides<float>(), "/", [](F a, F b) { return a / b; },
      [](F& a, F b) -> F& { return a /= b; });
}

TYPED_TEST(Fp8, ComparisonsFollowIeeeOnFloatsForAllPairs) {
  long failures = 0;
  for (unsigned i = 0; i < 256; ++i) {
    for (unsigned j = 0; j < 256; ++j) {
      const unsigned got = fp8kit_test::relations(this->code(i), this->code(j));
      const unsigned expected = fp8kit_test::ieee_relations(this->value(i), this->value(j));
      if (got != expected && ++failures <= 10) {
        ADD_FAILURE() << "comparisons of 0x" << std::hex << i << " and 0x" << j << " ("
                      << this->value(i) << ", " << this->value(j) << "): got mask 0x" << got
                      << ", float gives 0x" << expected << " (bits ==, !=, <, <=, >, >=)";
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

TYPED_TEST(Fp8, UnaryMinusAndPlusMatchFloat) {
  using F = TypeParam;
  for (unsigned c = 0; c < 256; ++c) {
    const F x = this->code(c);
    const F expected = fp8kit::convert<F>(-this->value(c));
    if (isnan(expected)) {
      EXPECT_TRUE(isnan(-x)) << "code " << c;
    } else {
      EXPECT_EQ((-x).bits(), expected.bits()) << "code " << c;
    }
    EXPECT_EQ((+x).bits(), x.bits()) << "code " << c;
  }
}

TYPED_TEST(Fp8, ClassificationAndAbsMatchFloat) {
  using F = TypeParam;
  for (unsigned c = 0; c < 256; ++c) {
    const F x = this->code(c);
    const float v = this->value(c);
    EXPECT_EQ(isnan(x), fp8kit_test::is_nan(v)) << "code " << c;
    EXPECT_EQ(isinf(x), fp8kit_test::is_inf(v)) << "code " << c;
    EXPECT_EQ(isfinite(x), fp8kit_test::is_finite(v)) << "code " << c;
    // The golden table gives fnuz's only NaN a positive sign: it has no signed NaN.
    EXPECT_EQ(signbit(x), fp8kit_test::sign_bit(v)) << "code " << c;
    const F a = abs(x);
    if (fp8kit_test::is_nan(v)) {
      EXPECT_TRUE(isnan(a)) << "code " << c;
    } else {
      EXPECT_EQ(a.bits(), fp8kit::convert<F>(std::fabs(v)).bits()) << "code " << c;
      EXPECT_FALSE(signbit(a)) << "code " << c;
    }
  }
}

TYPED_TEST(Fp8, NumericLimitsMatchTheTraits) {
  using F = TypeParam;
  using tr = typename TestFixture::traits;
  using lim = std::numeric_limits<F>;
  static_assert(lim::is_specialized && lim::is_signed && !lim::is_integer && !lim::is_exact,
                "kind");
  static_assert(lim::radix == 2 && lim::is_bounded && !lim::is_modulo && !lim::is_iec559, "kind");
  static_assert(lim::has_denorm == std::denorm_present, "subnormals are kept");
  static_assert(lim::round_style == std::round_to_nearest, "RNE");
  static_assert(lim::has_quiet_NaN, "every alias has a NaN");
  EXPECT_EQ(lim::has_infinity, tr::has_inf);
  EXPECT_EQ(lim::digits, tr::mantissa_bits + 1);
  EXPECT_EQ(lim::digits10, int(std::floor((lim::digits - 1) * std::log10(2.0))));
  EXPECT_EQ(lim::max_digits10, int(std::ceil(1 + lim::digits * std::log10(2.0))));
  EXPECT_EQ(lim::max().bits(), tr::max_finite_bits);
  EXPECT_EQ(double(lim::max()), tr::max_finite);
  EXPECT_EQ(double(lim::lowest()), -tr::max_finite);
  EXPECT_EQ(double(lim::min()), tr::min_normal);
  EXPECT_EQ(double(lim::denorm_min()), tr::min_subnormal);
  EXPECT_EQ(double(lim::epsilon()), tr::epsilon);
  // epsilon is the distance from 1 to the next value.
  const F one(1.0f);
  EXPECT_EQ(double(F::from_bits(static_cast<std::uint8_t>(one.bits() + 1))) - 1.0, tr::epsilon);
  EXPECT_EQ(double(lim::round_error()), 0.5);
  EXPECT_TRUE(isnan(lim::quiet_NaN()));
  EXPECT_EQ(lim::quiet_NaN().bits(), tr::nan_bits);
  EXPECT_TRUE(isnan(lim::signaling_NaN()));
  if (tr::has_inf) {
    EXPECT_TRUE(isinf(lim::infinity()));
    EXPECT_TRUE(fp8kit_test::is_inf(double(lim::infinity())));
    EXPECT_FALSE(fp8kit_test::sign_bit(double(lim::infinity())));
  }
  // C conventions: min() == 2^(min_exponent - 1), 2^(max_exponent - 1) <= max() < 2^max_exponent.
  EXPECT_EQ(double(lim::min()), std::ldexp(1.0, lim::min_exponent - 1));
  EXPECT_LE(std::ldexp(1.0, lim::max_exponent - 1), double(lim::max()));
  EXPECT_LT(double(lim::max()), std::ldexp(1.0, lim::max_exponent));
  // min_exponent10: the smallest n with 10^n normal; max_exponent10: the largest finite 10^n.
  EXPECT_GE(std::pow(10.0, lim::min_exponent10), tr::min_normal);
  EXPECT_LT(std::pow(10.0, lim::min_exponent10 - 1), tr::min_normal);
  EXPECT_LE(std::pow(10.0, lim::max_exponent10), tr::max_finite);
  EXPECT_GT(std::pow(10.0, lim::max_exponent10 + 1), tr::max_finite);
}

TYPED_TEST(Fp8, EqualValuesHashEqual) {
  using F = TypeParam;
  const std::hash<F> h;
  if (!this->fnuz) {
    EXPECT_EQ(h(this->code(0x00)), h(this->code(0x80)));  // +0 == -0
  }
  for (unsigned i = 0; i < 256; ++i) {
    for (unsigned j = 0; j < 256; ++j) {
      if (this->code(i) == this->code(j)) {
        EXPECT_EQ(h(this->code(i)), h(this->code(j))) << std::hex << i << ' ' << j;
      }
    }
  }
}

TYPED_TEST(Fp8, PrintsLikeFloat) {
  for (unsigned c = 0; c < 256; ++c) {
    const TypeParam x = this->code(c);
    std::ostringstream got;
    std::ostringstream expected;
    got << x;
    // NaN: as the library's float NaN (fnuz's unsigned NaN may print as "-nan").
    expected << (isnan(x) ? static_cast<float>(x) : this->value(c));
    EXPECT_EQ(got.str(), expected.str()) << "code " << c;
  }
  std::ostringstream os;
  os << TypeParam(0.3125f) << ' ' << TypeParam(-1.5f);
  EXPECT_EQ(os.str(), "0.3125 -1.5");
}

// Properties.
TYPED_TEST(Fp8, EveryCodeRoundTripsThroughFloatAndDouble) {
  using F = TypeParam;
  for (unsigned c = 0; c < 256; ++c) {
    const F x = this->code(c);
    if (isnan(x)) {
      EXPECT_TRUE(isnan(F(static_cast<float>(x))));
      continue;
    }
    EXPECT_EQ(F(static_cast<float>(x)).bits(), x.bits()) << "code " << c;
    EXPECT_EQ(F(static_cast<double>(x)).bits(), x.bits()) << "code " << c;
    if (!isinf(x)) {  // finite saturation turns inf into max finite
      EXPECT_EQ(fp8kit::convert<F>(static_cast<float>(x), saturation::finite).bits(), x.bits())
          << "code " << c;
    }
  }
}

TYPED_TEST(Fp8, DecodingAndEncodingAreMonotonic) {
  using F = TypeParam;
  using tr = typename TestFixture::traits;
  // Positive codes 0 .. max finite decode to strictly increasing values.
  for (unsigned c = 0; c < tr::max_finite_bits; ++c) {
    EXPECT_LT(double(this->code(c)), double(this->code(c + 1))) << "code " << c;
  }
  // Encoding increasing floats (every 1021st, -inf .. +inf) gives non-decreasing values.
  // NaN results (overflow without inf) only occur at the ends and are skipped.
  for (const auto s : {saturation::none, saturation::finite}) {
    std::int64_t previous = std::numeric_limits<std::int64_t>::min();
    auto check = [&](std::uint32_t u) {
      const F x = fp8kit::convert<F>(fp8kit_test::float_from_bits(u), s);
      if (isnan(x)) return;
      const std::int64_t now = fp8kit_test::order_key(double(this->value(x.bits())));
      EXPECT_GE(now, previous) << "input bits " << std::hex << u;
      previous = now;
    };
    for (std::uint32_t u = 0xFF800000u; u > 0x80000000u; u -= 1021) check(u);
    for (std::uint32_t u = 0; u < 0x7F800000u; u += 1021) check(u);
    check(0x7F800000u);
  }
}

TYPED_TEST(Fp8, EncodingAndDecodingAreOddSymmetric) {
  using F = TypeParam;
  using tr = typename TestFixture::traits;
  for (unsigned c = 1; c <= tr::max_finite_bits; ++c) {
    EXPECT_EQ(double(this->code(c | 0x80u)), -double(this->code(c))) << "code " << c;
  }
  // Every 9973rd float: convert(-x) == -convert(x) in both modes.
  for (std::uint64_t u = 0; u < (std::uint64_t{1} << 31); u += 9973) {
    const float x = fp8kit_test::float_from_bits(static_cast<std::uint32_t>(u));
    for (const auto s : {saturation::none, saturation::finite}) {
      const F pos = fp8kit::convert<F>(x, s);
      const F neg = fp8kit::convert<F>(-x, s);
      if (isnan(pos)) {
        EXPECT_TRUE(isnan(neg)) << "input bits " << u;
      } else {
        ASSERT_EQ(neg.bits(), (-pos).bits()) << "input bits " << u;
      }
    }
  }
}

// Constant expressions (DESIGN.md: conversions are constexpr, tested with static_assert).
#if FP8KIT_HAS_BUILTIN_BIT_CAST
namespace constexpr_checks {
using fp8kit::e4m3fn;
using fp8kit::e5m2;
static_assert(fp8kit::convert<e4m3fn>(500.0f, saturation::finite).bits() == 0x7E, "448");
static_assert(fp8kit::convert<e4m3fn>(500.0f).bits() == 0x7F, "NaN");
static_assert(fp8kit::convert<e4m3fn>(464.0f).bits() == 0x7E, "464 ties down to 448");
static_assert(fp8kit::convert<e5m2>(61440.0f).bits() == 0x7C, "61440 ties up to inf");
static_assert(e4m3fn(0.3f).bits() == 0x2A, "0.3 -> 0.3125");
static_assert(e4m3fn(0.3).bits() == 0x2A, "double too");
static_assert(float(e4m3fn::from_bits(0x7E)) == 448.0f, "decode");
static_assert(double(fp8kit::e4m3b11fnuz::from_bits(0x01)) == 1.0 / 8192, "decode subnormal");
static_assert((e4m3fn(1.5f) + e4m3fn(2.0f)).bits() == e4m3fn(3.5f).bits(), "+");
static_assert((e4m3fn(3.0f) / e4m3fn(2.0f)).bits() == e4m3fn(1.5f).bits(), "/");
static_assert(e4m3fn::from_bits(0x00) == e4m3fn::from_bits(0x80), "-0 == +0");
static_assert(!(e4m3fn::from_bits(0x7F) == e4m3fn::from_bits(0x7F)), "NaN != NaN");
static_assert(e4m3fn(1.0f) < e4m3fn(2.0f) && isnan(e4m3fn::from_bits(0xFF)), "order, NaN");
static_assert((-e4m3fn(1.0f)).bits() == 0xB8, "unary minus");
static_assert(std::numeric_limits<e4m3fn>::max().bits() == 0x7E, "limits");
static_assert(std::numeric_limits<e5m2>::infinity().bits() == 0x7C, "limits");
static_assert(double(std::numeric_limits<e4m3fn>::epsilon()) == 0.125, "limits");
}  // namespace constexpr_checks
#endif

}  // namespace
