// format.hpp: the traits of every alias against the format table of the golden data's README
// (typed in below: it is the spec), cross-checked with the golden decode tables, plus the
// traits of float, double, half and bfloat16, and constexpr checks.

#include "fp8kit/format.hpp"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "fp8kit/fp8.hpp"
#include "support/formats.hpp"
#include "support/reference.hpp"

namespace {

using fp8kit::encoding;
using fp8kit_test::alias_name;

// One row of the spec table (golden README, "Formats").
struct spec_row {
  const char* alias;
  int exponent_bits;
  int mantissa_bits;
  encoding enc;
  int bias;
  double max_finite;
  std::uint8_t max_finite_code;
  int min_normal_exp2;     // min normal = 2^min_normal_exp2
  int min_subnormal_exp2;  // min subnormal = 2^min_subnormal_exp2
  std::vector<std::uint8_t> inf_codes;
  std::vector<std::pair<std::uint8_t, std::uint8_t>> nan_ranges;  // inclusive
  std::uint8_t canonical_nan;  // DESIGN.md section 1, positive sign
};

const std::vector<spec_row>& spec_table() {
  static const std::vector<spec_row> rows = {
      {"e5m2",
       5,
       2,
       encoding::ieee,
       15,
       57344,
       0x7b,
       -14,
       -16,
       {0x7c, 0xfc},
       {{0x7d, 0x7f}, {0xfd, 0xff}},
       0x7e},
      {"e4m3fn", 4, 3, encoding::fn, 7, 448, 0x7e, -6, -9, {}, {{0x7f, 0x7f}, {0xff, 0xff}}, 0x7f},
      {"e3m4fn", 3, 4, encoding::fn, 3, 30, 0x7e, -2, -6, {}, {{0x7f, 0x7f}, {0xff, 0xff}}, 0x7f},
      {"e4m3fnuz", 4, 3, encoding::fnuz, 8, 240, 0x7f, -7, -10, {}, {{0x80, 0x80}}, 0x80},
      {"e5m2fnuz", 5, 2, encoding::fnuz, 16, 57344, 0x7f, -15, -17, {}, {{0x80, 0x80}}, 0x80},
      {"e4m3b11fnuz", 4, 3, encoding::fnuz, 11, 30, 0x7f, -10, -13, {}, {{0x80, 0x80}}, 0x80},
      {"e4m3",
       4,
       3,
       encoding::ieee,
       7,
       240,
       0x77,
       -6,
       -9,
       {0x78, 0xf8},
       {{0x79, 0x7f}, {0xf9, 0xff}},
       0x7c},
      {"e3m4",
       3,
       4,
       encoding::ieee,
       3,
       15.5,
       0x6f,
       -2,
       -6,
       {0x70, 0xf0},
       {{0x71, 0x7f}, {0xf1, 0xff}},
       0x78},
  };
  return rows;
}

const spec_row& spec_for(const std::string& alias) {
  for (const auto& row : spec_table()) {
    if (alias == row.alias) return row;
  }
  throw std::invalid_argument("no spec row for " + alias);
}

template <class F>
class Format : public ::testing::Test {
 protected:
  using traits = typename F::traits;
  const spec_row& row = spec_for(alias_name<F>());
  const fp8kit_test::reference_decoder decoder{alias_name<F>()};
};
TYPED_TEST_SUITE(Format, fp8kit_test::all_formats, fp8kit_test::format_names);

TYPED_TEST(Format, LayoutAndBiasMatchTheSpecTable) {
  using tr = typename TestFixture::traits;
  EXPECT_EQ(tr::exponent_bits, this->row.exponent_bits);
  EXPECT_EQ(tr::mantissa_bits, this->row.mantissa_bits);
  EXPECT_EQ(tr::total_bits, 8);
  EXPECT_EQ(tr::enc, this->row.enc);
  EXPECT_EQ(tr::bias, this->row.bias);
  EXPECT_EQ(tr::has_inf, !this->row.inf_codes.empty());
  EXPECT_EQ(tr::has_negative_zero, this->row.enc != encoding::fnuz);
  EXPECT_EQ(sizeof(typename tr::storage), 1u);
  EXPECT_EQ(tr::sign_mask, 0x80);
  EXPECT_EQ(tr::magnitude_mask, 0x7f);
  EXPECT_EQ(tr::mantissa_mask, (1 << this->row.mantissa_bits) - 1);
  EXPECT_EQ(tr::exponent_mask, 0x7f & ~((1 << this->row.mantissa_bits) - 1));
  EXPECT_EQ(tr::max_exponent_field, (1 << this->row.exponent_bits) - 1);
}

TYPED_TEST(Format, LimitsMatchTheSpecTable) {
  using tr = typename TestFixture::traits;
  const spec_row& spec = this->row;
  EXPECT_EQ(tr::max_finite, spec.max_finite);
  EXPECT_EQ(tr::max_finite_bits, spec.max_finite_code);
  EXPECT_EQ(tr::min_normal, std::ldexp(1.0, spec.min_normal_exp2));
  EXPECT_EQ(tr::min_normal_bits, 1 << spec.mantissa_bits);
  EXPECT_EQ(tr::min_subnormal, std::ldexp(1.0, spec.min_subnormal_exp2));
  EXPECT_EQ(tr::min_subnormal_bits, 1);
  EXPECT_EQ(tr::min_exponent, spec.min_normal_exp2);
  EXPECT_EQ(tr::max_exponent, int(std::floor(std::log2(spec.max_finite))));
  EXPECT_EQ(tr::epsilon, std::ldexp(1.0, -spec.mantissa_bits));
}

TYPED_TEST(Format, LimitCodesDecodeToTheLimitsInTheGoldenTable) {
  using tr = typename TestFixture::traits;
  const auto& golden = this->decoder;
  EXPECT_EQ(double(golden.value(tr::max_finite_bits)), tr::max_finite);
  EXPECT_EQ(double(golden.value(tr::min_normal_bits)), tr::min_normal);
  EXPECT_EQ(double(golden.value(tr::min_subnormal_bits)), tr::min_subnormal);
  // max finite is the largest finite value of the table, min subnormal the smallest positive.
  for (unsigned c = 0; c < 256; ++c) {
    const float v = golden.value(static_cast<std::uint8_t>(c));
    if (fp8kit_test::is_finite(v)) {
      EXPECT_LE(std::fabs(double(v)), tr::max_finite) << "code " << c;
    }
    if (v != 0.0f && fp8kit_test::is_finite(v)) {
      EXPECT_GE(std::fabs(double(v)), tr::min_subnormal) << "code " << c;
    }
  }
  EXPECT_EQ(double(golden.value(static_cast<std::uint8_t>(tr::min_normal_bits - 1))),
            tr::min_normal - tr::min_subnormal);  // largest subnormal
}

TYPED_TEST(Format, NanAndInfCodesMatchTheSpecTable) {
  using tr = typename TestFixture::traits;
  const spec_row& spec = this->row;
  for (unsigned c = 0; c < 256; ++c) {
    const auto code = static_cast<std::uint8_t>(c);
    bool nan = false;
    for (const auto& range : spec.nan_ranges)
      nan = nan || (code >= range.first && code <= range.second);
    bool inf = false;
    for (const auto i : spec.inf_codes) inf = inf || code == i;
    EXPECT_EQ(tr::is_nan(code), nan) << "code 0x" << std::hex << c;
    EXPECT_EQ(tr::is_inf(code), inf) << "code 0x" << std::hex << c;
    EXPECT_EQ(this->decoder.is_nan(code), nan) << "golden code 0x" << std::hex << c;
    EXPECT_EQ(this->decoder.is_inf(code), inf) << "golden code 0x" << std::hex << c;
  }
  EXPECT_EQ(tr::nan_bits, spec.canonical_nan);
  if (tr::has_inf) {
    EXPECT_EQ(tr::inf_bits, spec.inf_codes.at(0));
  } else {
    EXPECT_EQ(tr::inf_bits, tr::nan_bits);  // documented: the code that overflow gives
  }
}

// Traits of the standard types against <cfloat> and the IEEE 754 binary16 / bfloat16 limits.
TEST(Format, StandardTypeTraitsMatchTheirKnownLimits) {
  using fp8kit::bfloat16_traits;
  using fp8kit::float16_traits;
  using fp8kit::float32_traits;
  using fp8kit::float64_traits;
  EXPECT_EQ(float32_traits::max_finite, double(FLT_MAX));
  EXPECT_EQ(float32_traits::min_normal, double(FLT_MIN));
  EXPECT_EQ(float32_traits::min_subnormal, double(std::numeric_limits<float>::denorm_min()));
  EXPECT_EQ(float32_traits::epsilon, double(FLT_EPSILON));
  EXPECT_EQ(float32_traits::bias, 127);
  EXPECT_EQ(float64_traits::max_finite, DBL_MAX);
  EXPECT_EQ(float64_traits::min_normal, DBL_MIN);
  EXPECT_EQ(float64_traits::min_subnormal, std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(float64_traits::epsilon, DBL_EPSILON);
  EXPECT_EQ(float64_traits::bias, 1023);
  EXPECT_EQ(float16_traits::max_finite, 65504.0);
  EXPECT_EQ(float16_traits::min_normal, std::ldexp(1.0, -14));
  EXPECT_EQ(float16_traits::min_subnormal, std::ldexp(1.0, -24));
  EXPECT_EQ(float16_traits::max_finite_bits, 0x7bff);
  EXPECT_EQ(float16_traits::nan_bits, 0x7e00);
  EXPECT_EQ(float16_traits::inf_bits, 0x7c00);
  EXPECT_EQ(bfloat16_traits::max_finite, std::ldexp(255.0, 120));  // 0x7f7f = 1.9921875 * 2^127
  EXPECT_EQ(bfloat16_traits::min_normal, double(FLT_MIN));
  EXPECT_EQ(bfloat16_traits::min_subnormal, std::ldexp(1.0, -133));
  EXPECT_EQ(bfloat16_traits::nan_bits, 0x7fc0);
  EXPECT_EQ(bfloat16_traits::inf_bits, 0x7f80);
}

TEST(Format, DefaultsFollowTheDesign) {
  EXPECT_EQ(fp8kit::default_encoding(5, 2), encoding::ieee);
  EXPECT_EQ(fp8kit::default_encoding(4, 3), encoding::fn);
  EXPECT_EQ(fp8kit::default_encoding(3, 4), encoding::fn);
  EXPECT_EQ(fp8kit::default_bias(4, encoding::fnuz), 8);
  EXPECT_EQ(fp8kit::default_bias(5, encoding::fnuz), 16);
  EXPECT_EQ(fp8kit::default_bias(4, encoding::fn), 7);
  EXPECT_EQ(fp8kit::default_bias(5, encoding::ieee), 15);
}

// Everything above is usable in constant expressions.
namespace constexpr_checks {
using fp8kit::format_traits;
static_assert(format_traits<4, 3>::enc == encoding::fn, "e4m3 defaults to fn");
static_assert(format_traits<5, 2>::enc == encoding::ieee, "e5m2 defaults to ieee");
static_assert(format_traits<4, 3>::max_finite == 448.0, "e4m3fn max");
static_assert(format_traits<4, 3>::max_finite_bits == 0x7e, "e4m3fn max code");
static_assert(format_traits<5, 2>::max_finite == 57344.0, "e5m2 max");
static_assert(format_traits<4, 3, encoding::fnuz>::bias == 8, "fnuz bias");
static_assert(format_traits<4, 3, encoding::fnuz, 11>::max_finite == 30.0, "e4m3b11fnuz max");
static_assert(format_traits<3, 4, encoding::ieee>::max_finite == 15.5, "e3m4 max");
static_assert(format_traits<4, 3>::min_subnormal == 1.0 / 512, "e4m3fn min subnormal");
static_assert(format_traits<4, 3>::is_nan(0xff) && !format_traits<4, 3>::is_nan(0xfe),
              "e4m3fn NaN");
static_assert(format_traits<5, 2>::is_inf(0xfc) && !format_traits<5, 2>::is_inf(0xfd), "e5m2 -inf");
static_assert(format_traits<4, 3, encoding::fnuz>::is_nan(0x80), "fnuz NaN is 0x80");
// A format that is no alias: E2M5 fn, bias 1, max = 1.9375 * 2^2.
static_assert(format_traits<2, 5>::max_finite == 7.75, "e2m5fn max");
static_assert(format_traits<2, 5>::min_subnormal == 1.0 / 32, "e2m5fn min subnormal");
static_assert(fp8kit::float16_traits::max_finite == 65504.0, "half max");
static_assert(fp8kit::detail::pow2(-1074) == std::numeric_limits<double>::denorm_min(),
              "pow2 reaches double's smallest subnormal");
static_assert(fp8kit::detail::pow2(1023) == std::numeric_limits<double>::max() / (2 - DBL_EPSILON),
              "pow2 reaches double's largest binade");
}  // namespace constexpr_checks

}  // namespace
