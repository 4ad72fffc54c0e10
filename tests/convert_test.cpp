// convert.hpp: float, double, bfloat16, half and fp8 inputs to every alias in both saturation
// modes, against the golden tables and the independent oracle (tests/support/reference.hpp);
// double inputs are rounded once; results do not depend on DAZ/FTZ or the rounding mode.

#include "fp8kit/convert.hpp"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "fp8kit/fp8.hpp"
#include "fp8kit/half.hpp"
#include "support/formats.hpp"
#include "support/reference.hpp"

namespace {

using fp8kit::saturation;
using fp8kit_test::alias_name;
using fp8kit_test::bits_of;
using fp8kit_test::float_from_bits;

constexpr saturation both_modes[] = {saturation::none, saturation::finite};

const char* mode_name(saturation s) { return s == saturation::finite ? "finite" : "none"; }

template <class F>
class Convert : public ::testing::Test {
 protected:
  const fp8kit_test::reference_decoder decoder{alias_name<F>()};
  const fp8kit_test::reference_encoder oracle_none{alias_name<F>(), fp8kit_test::sat::none};
  const fp8kit_test::reference_encoder oracle_finite{alias_name<F>(), fp8kit_test::sat::finite};
  const fp8kit_test::reference_encoder& oracle(saturation s) const {
    return s == saturation::finite ? oracle_finite : oracle_none;
  }
};
TYPED_TEST_SUITE(Convert, fp8kit_test::all_formats, fp8kit_test::format_names);

// The golden data pins the oracle down before the oracle checks the library.
TYPED_TEST(Convert, OracleMatchesTheGoldenEncodeTable) {
  const auto records = fp8kit_test::load_encode_records(alias_name<TypeParam>());
  ASSERT_GE(records.size(), 10000u);
  long failures = 0;
  for (const auto& r : records) {
    for (const auto s : both_modes) {
      const std::uint8_t got = this->oracle(s).encode(float_from_bits(r.input));
      if (got != r.expected(s) && ++failures <= 10) {
        ADD_FAILURE() << "oracle, input 0x" << std::hex << r.input << " " << mode_name(s) << ": 0x"
                      << unsigned(got) << ", golden 0x" << unsigned(r.expected(s));
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

TYPED_TEST(Convert, FloatMatchesTheGoldenEncodeTableInBothModes) {
  using F = TypeParam;
  const auto records = fp8kit_test::load_encode_records(alias_name<F>());
  ASSERT_GE(records.size(), 10000u);
  long failures = 0;
  for (const auto& r : records) {
    const float x = float_from_bits(r.input);
    for (const auto s : both_modes) {
      const std::uint8_t got = fp8kit::convert<F>(x, s).bits();
      if (got != r.expected(s) && ++failures <= 10) {
        ADD_FAILURE() << "input 0x" << std::hex << r.input << " " << mode_name(s) << ": 0x"
                      << unsigned(got) << ", golden 0x" << unsigned(r.expected(s));
      }
    }
    if (F(x).bits() != r.none && ++failures <= 10) {
      ADD_FAILURE() << "constructor, input 0x" << std::hex << r.input;
    }
  }
  EXPECT_EQ(failures, 0);
}

template <class F, class Sixteen>
void expect_all_16bit_inputs_match(const std::string& suffix) {
  const auto table = fp8kit_test::load_from16_table(alias_name<F>(), suffix);
  long failures = 0;
  for (std::uint32_t i = 0; i < 65536; ++i) {
    const Sixteen x = Sixteen::from_bits(static_cast<std::uint16_t>(i));
    for (const auto s : both_modes) {
      const std::uint8_t expected = table[2 * i + (s == saturation::finite ? 1 : 0)];
      const std::uint8_t got = fp8kit::convert<F>(x, s).bits();
      if (got != expected && ++failures <= 10) {
        ADD_FAILURE() << suffix << " input 0x" << std::hex << i << " " << mode_name(s) << ": 0x"
                      << unsigned(got) << ", golden 0x" << unsigned(expected);
      }
    }
  }
  EXPECT_EQ(failures, 0) << suffix;
}

TYPED_TEST(Convert, AllBfloat16InputsMatchTheGoldenTable) {
  expect_all_16bit_inputs_match<TypeParam, fp8kit::bfloat16>("bf16");
}

TYPED_TEST(Convert, AllHalfInputsMatchTheGoldenTable) {
  expect_all_16bit_inputs_match<TypeParam, fp8kit::half>("f16");
}

// Doubles within a float half-ulp of a midpoint between neighbouring codes: through float they
// would become the midpoint itself (a tie, which goes to the even code); rounded directly they
// go to the nearer neighbour. Exactly one side of each midpoint tells the two apart.
TYPED_TEST(Convert, DoublesNearMidpointsAreRoundedOnceNotViaFloat) {
  using F = TypeParam;
  using tr = typename F::traits;
  const auto& golden = this->decoder;
  long failures = 0;
  int midpoints = 0;
  int differs = 0;  // cases where the via-float result is wrong
  for (unsigned c = 0; c <= tr::max_finite_bits; ++c) {
    const double lo = golden.value(static_cast<std::uint8_t>(c));
    // Past max finite: the next value of an unbounded exponent range, at max's spacing.
    const double hi = c < tr::max_finite_bits
                          ? double(golden.value(static_cast<std::uint8_t>(c + 1)))
                          : 2 * lo - double(golden.value(static_cast<std::uint8_t>(c - 1)));
    const double mid = (lo + hi) / 2;
    ++midpoints;
    // Far (2^-30 relative) and nearest (one double ulp) on either side.
    const double offsets[][2] = {{mid + std::ldexp(mid, -30), mid - std::ldexp(mid, -30)},
                                 {std::nextafter(mid, HUGE_VAL), std::nextafter(mid, 0.0)}};
    for (const auto& pair : offsets) {
      for (const double sign : {1.0, -1.0}) {
        const double above = sign * pair[0];
        const double below = sign * pair[1];
        ASSERT_EQ(double(static_cast<float>(above)), sign * mid);  // float cannot tell them apart
        ASSERT_EQ(double(static_cast<float>(below)), sign * mid);
        for (const auto s : both_modes) {
          const auto& oracle = this->oracle(s);
          // Expected: the upper neighbour above the midpoint, the lower one below.
          const std::uint8_t want_above = oracle.encode_double(sign * hi);
          const std::uint8_t want_below = oracle.encode(static_cast<float>(sign * lo));
          const std::uint8_t got_above = fp8kit::convert<F>(above, s).bits();
          const std::uint8_t got_below = fp8kit::convert<F>(below, s).bits();
          const std::uint8_t via_float = fp8kit::convert<F>(static_cast<float>(above), s).bits();
          // Saturation sends both sides of the overflow midpoint to max finite.
          const bool saturated = s == saturation::finite && c == tr::max_finite_bits;
          const bool ok = got_above == want_above && got_below == want_below &&
                          (saturated || (via_float == got_above) != (via_float == got_below));
          if (!ok && ++failures <= 10) {
            ADD_FAILURE() << "midpoint " << sign * mid << ", inputs " << above << " / " << below
                          << " " << mode_name(s) << ": above 0x" << std::hex << unsigned(got_above)
                          << " (want 0x" << unsigned(want_above) << "), below 0x"
                          << unsigned(got_below) << " (want 0x" << unsigned(want_below)
                          << "), via float 0x" << unsigned(via_float);
          }
          if (!saturated) differs += via_float != got_above || via_float != got_below;
        }
        if (F(above).bits() != fp8kit::convert<F>(above).bits() && ++failures <= 10) {
          ADD_FAILURE() << "constructor from double " << above;
        }
      }
    }
  }
  EXPECT_EQ(midpoints, tr::max_finite_bits + 1);
  EXPECT_EQ(failures, 0);
  // Every checked midpoint, both offsets, both signs (none: all; finite: all but overflow).
  EXPECT_EQ(differs, 2 * 2 * (2 * midpoints - 1));
}

TYPED_TEST(Convert, DoublesOutsideFloatRangeAndRandomDoublesMatchTheOracle) {
  using F = TypeParam;
  using tr = typename F::traits;
  const double dmin = std::numeric_limits<double>::denorm_min();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> inputs = {1e300,
                                -1e300,
                                DBL_MAX,
                                -DBL_MAX,
                                1e-300,
                                -1e-300,
                                dmin,
                                -dmin,
                                nan,
                                -nan,
                                HUGE_VAL,
                                -HUGE_VAL,
                                0.0,
                                -0.0,
                                std::ldexp(1.0, 200),
                                -std::ldexp(1.0, -200)};
  // Random doubles, log-uniform over twice the format's range, with random low mantissa bits.
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> exponent(std::log2(tr::min_subnormal) - 4,
                                                  std::log2(tr::max_finite) + 2);
  for (int i = 0; i < 100000; ++i) {
    const double v = std::exp2(exponent(rng));
    inputs.push_back((rng() & 1) != 0 ? -v : v);
  }
  long failures = 0;
  for (const double x : inputs) {
    for (const auto s : both_modes) {
      const std::uint8_t expected = this->oracle(s).encode_double(x);
      const std::uint8_t got = fp8kit::convert<F>(x, s).bits();
      if (got != expected && ++failures <= 10) {
        ADD_FAILURE() << "double " << x << " " << mode_name(s) << ": 0x" << std::hex
                      << unsigned(got) << ", oracle 0x" << unsigned(expected);
      }
    }
  }
  EXPECT_EQ(failures, 0);
  // Spot checks of the rules: out of float's range and double subnormals.
  EXPECT_EQ(fp8kit::convert<F>(1e300, saturation::finite).bits(), tr::max_finite_bits);
  EXPECT_EQ(fp8kit::convert<F>(-1e-300).bits(), tr::has_negative_zero ? 0x80 : 0x00);
  EXPECT_EQ(fp8kit::convert<F>(dmin).bits(), 0x00);
}

// fp8 -> fp8: decode (exact, golden table) then encode through the oracle.
TYPED_TEST(Convert, Fp8ToEveryFp8MatchesDecodeThenEncode) {
  using From = TypeParam;
  const auto& golden = this->decoder;
  fp8kit_test::every_format::for_each([&](auto to) {
    using To = decltype(to);
    const fp8kit_test::reference_decoder to_golden(alias_name<To>());
    long failures = 0;
    for (const auto s : both_modes) {
      const fp8kit_test::reference_encoder oracle(alias_name<To>(), fp8kit_test::to_sat(s));
      for (unsigned c = 0; c < 256; ++c) {
        const auto code = static_cast<std::uint8_t>(c);
        const std::uint8_t got = fp8kit::convert<To>(From::from_bits(code), s).bits();
        const std::uint8_t expected = oracle.encode(golden.value(code));
        // A NaN stays a NaN. Its sign is compared only between formats with signed NaNs.
        const bool signed_nans = From::traits::enc != fp8kit::encoding::fnuz &&
                                 To::traits::enc != fp8kit::encoding::fnuz;
        const bool ok = golden.is_nan(code)
                            ? to_golden.is_nan(got) && (!signed_nans || got == expected)
                            : got == expected;
        if (!ok && ++failures <= 10) {
          ADD_FAILURE() << alias_name<From>() << " 0x" << std::hex << c << " -> "
                        << alias_name<To>() << " " << mode_name(s) << ": 0x" << unsigned(got)
                        << ", expected 0x" << unsigned(expected);
        }
      }
    }
    EXPECT_EQ(failures, 0) << alias_name<From>() << " -> " << alias_name<To>();
  });
}

// fp8 -> float, double, half and bfloat16 is exact (every fp8 value fits in half and bfloat16),
// and converting back gives the code again.
TYPED_TEST(Convert, Fp8WidensExactly) {
  using F = TypeParam;
  for (unsigned c = 0; c < 256; ++c) {
    const F x = F::from_bits(static_cast<std::uint8_t>(c));
    const float v = this->decoder.value(x.bits());
    const auto f = fp8kit::convert<float>(x);
    const auto d = fp8kit::convert<double>(x);
    const auto h = fp8kit::convert<fp8kit::half>(x);
    const auto b = fp8kit::convert<fp8kit::bfloat16>(x);
    if (fp8kit_test::is_nan(v)) {
      EXPECT_TRUE(fp8kit_test::is_nan(f) && fp8kit_test::is_nan(d) && isnan(h) && isnan(b))
          << "code " << c;
      continue;
    }
    EXPECT_EQ(bits_of(f), bits_of(v)) << "code " << c;
    EXPECT_EQ(d, double(v)) << "code " << c;
    EXPECT_EQ(fp8kit_test::sign_bit(d), fp8kit_test::sign_bit(v)) << "code " << c;
    EXPECT_EQ(bits_of(static_cast<float>(h)), bits_of(v)) << "code " << c;
    EXPECT_EQ(bits_of(static_cast<float>(b)), bits_of(v)) << "code " << c;
    EXPECT_EQ(fp8kit::convert<F>(h).bits(), x.bits()) << "code " << c;
    EXPECT_EQ(fp8kit::convert<F>(b).bits(), x.bits()) << "code " << c;
    EXPECT_EQ(fp8kit::convert<F>(d).bits(), x.bits()) << "code " << c;
  }
}

// Every 4099th float bit pattern (4099 is prime: the sample hits every exponent and mantissa
// pattern class), every alias, both modes, against the oracle. Runs in the sanitizer build too.
constexpr std::uint32_t sample_stride = 4099;

template <class F>
std::vector<std::uint8_t> convert_sample(saturation s) {
  std::vector<std::uint8_t> out;
  for (std::uint64_t u = 0; u < (std::uint64_t{1} << 32); u += sample_stride) {
    const float x = float_from_bits(static_cast<std::uint32_t>(u));
    out.push_back(fp8kit::convert<F>(x, s).bits());
    out.push_back(fp8kit::convert<F>(double(x), s).bits());
  }
  return out;
}

TYPED_TEST(Convert, SampledFloatSweepMatchesTheOracle) {
  using F = TypeParam;
  for (const auto s : both_modes) {
    const auto got = convert_sample<F>(s);
    long failures = 0;
    std::size_t i = 0;
    for (std::uint64_t u = 0; u < (std::uint64_t{1} << 32); u += sample_stride, i += 2) {
      const std::uint8_t expected = this->oracle(s).encode(float_from_bits(std::uint32_t(u)));
      if ((got[i] != expected || got[i + 1] != expected) && ++failures <= 10) {
        ADD_FAILURE() << "input 0x" << std::hex << u << " " << mode_name(s) << ": float 0x"
                      << unsigned(got[i]) << ", double 0x" << unsigned(got[i + 1]) << ", oracle 0x"
                      << unsigned(expected);
      }
    }
    EXPECT_EQ(failures, 0) << mode_name(s);
  }
}

TYPED_TEST(Convert, ResultsDoNotDependOnDazFtzOrRoundingMode) {
  using F = TypeParam;
  for (const auto s : both_modes) {
    const auto standard = convert_sample<F>(s);
    for (const auto mode : {fp8kit_test::fp_mode::daz_ftz, fp8kit_test::fp_mode::upward}) {
      std::vector<std::uint8_t> got;
      {
        const fp8kit_test::scoped_fp_mode env(mode);
        if (!env.active()) GTEST_SKIP() << fp8kit_test::fp_mode_name(mode) << " not available";
        got = convert_sample<F>(s);
      }
      EXPECT_TRUE(got == standard) << fp8kit_test::fp_mode_name(mode) << ", " << mode_name(s);
    }
  }
  const fp8kit_test::scoped_fp_mode back(fp8kit_test::fp_mode::standard);
  EXPECT_TRUE(back.active()) << "the environment was restored";
}

}  // namespace
