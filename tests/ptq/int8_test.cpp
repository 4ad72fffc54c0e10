#include "fp8kit/ptq/int8.hpp"

#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "ptq/support.hpp"

namespace {

using fp8kit::scale_options;
using fp8kit::ptq::int8_dequantize;
using fp8kit::ptq::int8_fake_quantize;
using fp8kit::ptq::int8_quantize;
using fp8kit::ptq::int8_scale_from_amax;

constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_f = std::numeric_limits<float>::infinity();

// Independent reference: the quotient rounded by the FPU (default environment), then
// std::nearbyint (ties to even in round-to-nearest), then the clamp.
std::int8_t reference_q(float x, float scale) {
  if (ptq_test::is_nan(x)) return 0;
  const float t = ptq_test::divide(x, scale);
  const double r = std::nearbyint(double(t));
  return static_cast<std::int8_t>(r > 127 ? 127 : r < -127 ? -127 : r);
}

TEST(Int8, ScaleIsAmaxOver127) {
  EXPECT_EQ(int8_scale_from_amax(254.0f), 2.0f);
  EXPECT_EQ(int8_scale_from_amax(1.0f), ptq_test::divide(1.0f, 127.0f));
  EXPECT_EQ(int8_scale_from_amax(4.5f), ptq_test::divide(4.5f, 127.0f));
  EXPECT_EQ(int8_scale_from_amax(0.0f), 1.0f);
  EXPECT_EQ(int8_scale_from_amax(-0.0f), 1.0f);
  // Tiny amax: raised to the smallest normal float, never 0.
  EXPECT_EQ(int8_scale_from_amax(1e-44f), std::numeric_limits<float>::min());
  EXPECT_EQ(int8_scale_from_amax(std::numeric_limits<float>::max()),
            ptq_test::divide(std::numeric_limits<float>::max(), 127.0f));
}

TEST(Int8, ScaleRejectsNegativeAndNonFiniteAmax) {
  for (const float a : {-1.0f, -1e-40f, nan_f, inf_f, -inf_f}) {
    EXPECT_THROW(int8_scale_from_amax(a), std::invalid_argument) << a;
    EXPECT_THROW(int8_scale_from_amax(a, scale_options{}), std::invalid_argument) << a;
  }
  EXPECT_THROW(int8_scale_from_amax(1.0f, scale_options{0, 0.0f, false}), std::invalid_argument);
  EXPECT_THROW(int8_scale_from_amax(1.0f, scale_options{0, 1.5f, false}), std::invalid_argument);
}

TEST(Int8, ScaleOptionsMirrorTheFp8Ones) {
  EXPECT_EQ(int8_scale_from_amax(3.0f, scale_options{}), int8_scale_from_amax(3.0f));
  EXPECT_EQ(int8_scale_from_amax(127.0f, scale_options{0, 0.5f, false}), 2.0f);
  EXPECT_EQ(int8_scale_from_amax(127.0f, scale_options{1, 1, false}), 2.0f);
  EXPECT_EQ(int8_scale_from_amax(127.0f, scale_options{-2, 1, false}), 0.25f);
  // pow2 rounds up (exact powers stay): 254/127 = 2 -> 2; 300/127 = 2.36 -> 4; 100/127 -> 1.
  EXPECT_EQ(int8_scale_from_amax(254.0f, scale_options{0, 1, true}), 2.0f);
  EXPECT_EQ(int8_scale_from_amax(300.0f, scale_options{0, 1, true}), 4.0f);
  EXPECT_EQ(int8_scale_from_amax(100.0f, scale_options{0, 1, true}), 1.0f);
  EXPECT_EQ(int8_scale_from_amax(0.0f, scale_options{3, 0.5f, true}), 1.0f);
}

TEST(Int8, QuantizeRoundsHalfToEven) {
  const float x[] = {0.5f, 1.5f, 2.5f, 3.5f, -0.5f, -1.5f, -2.5f, 126.5f, -126.5f, 0.49999997f};
  const std::int8_t expected[] = {0, 2, 2, 4, 0, -2, -2, 126, -126, 0};
  std::int8_t q[10];
  int8_quantize(x, q, 10, 1.0f);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(q[i], expected[i]) << x[i];
}

TEST(Int8, QuantizeClampsAndMapsNaNToZero) {
  const float x[] = {127.4f, 127.5f, 1000, inf_f, -inf_f, nan_f, -nan_f, -0.0f, -127.6f};
  const std::int8_t expected[] = {127, 127, 127, 127, -127, 0, 0, 0, -127};
  std::int8_t q[9];
  int8_quantize(x, q, 9, 1.0f);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(q[i], expected[i]) << i;
}

TEST(Int8, QuantizeRoundsTheFloatQuotientNotTheExactOne) {
  // Find x, s where x / s is just above k + 0.5 exactly but fl(x / s) is the tie k + 0.5 with
  // k even: q = rne(fl(x / s)) must give k, where rounding the exact quotient would give k + 1.
  bool found = false;
  for (int i = 1; i < 100000 && !found; ++i) {
    const float s = static_cast<float>(1.0 + i * 0.000123456789);  // full mantissas
    const double exact = 2.5 * double(s);                          // exact in double
    float x = static_cast<float>(exact);
    if (double(x) <= exact) x = std::nextafter(x, inf_f);  // the first float above 2.5 s
    if (ptq_test::divide(x, s) == 2.5f && double(x) / double(s) > 2.5) {
      found = true;
      std::int8_t q;
      int8_quantize(&x, &q, 1, s);
      EXPECT_EQ(q, 2) << "x=" << x << " s=" << s;
    }
  }
  EXPECT_TRUE(found);
}

TEST(Int8, QuantizeDividesRatherThanMultiplyingByAReciprocal) {
  // Inputs whose quotient fl(x / s) is exactly a tie k + 0.5 while fl(x * fl(1 / s)) is not:
  // a kernel that multiplied by a reciprocal (what -freciprocal-math would make of a plain
  // division loop) rounds them differently. Long arrays, so the vectorised loop is covered.
  for (const float s : {0.0371f, 0.3f, 1.7f / 127.0f, 123.456f}) {
    const float inv = ptq_test::divide(1.0f, s);
    std::vector<float> x;
    std::vector<std::int8_t> expected;
    for (int k = -127; k < 127; ++k) {
      const float tie = float(k) + 0.5f;
      float v = static_cast<float>(double(tie) * double(s));
      for (int j = 0; j < 8; ++j) v = std::nextafter(v, -inf_f);
      for (int j = 0; j < 16; ++j, v = std::nextafter(v, inf_f)) {
        if (ptq_test::divide(v, s) == tie && v * inv != tie) {
          x.push_back(v);
          expected.push_back(static_cast<std::int8_t>(k % 2 == 0 ? k : k + 1));
        }
      }
    }
    ASSERT_GT(x.size(), 20u) << s;
    std::vector<std::int8_t> q(x.size());
    std::vector<float> y(x.size());
    int8_quantize(x.data(), q.data(), x.size(), s);
    int8_fake_quantize(x.data(), y.data(), x.size(), s);
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(q[i], expected[i]) << "x=" << x[i] << " s=" << s;
      ASSERT_EQ(y[i], float(expected[i]) * s) << "x=" << x[i] << " s=" << s;
    }
  }
}

TEST(Int8, QuantizeMatchesAnIndependentReference) {
  ptq_test::splitmix64 g(7);
  std::vector<float> x(20000);
  for (auto& v : x) v = static_cast<float>(g.normal() * std::exp2(8 * g.uniform() - 4));
  std::vector<std::int8_t> q(x.size());
  for (const float s : {1.0f, 0.01f, 0.0371f, 3.0f, 1e-30f}) {
    int8_quantize(x.data(), q.data(), x.size(), s);
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(q[i], reference_q(x[i], s)) << "x=" << x[i] << " s=" << s;
    }
  }
}

TEST(Int8, QuantizeMatchesNearbyintOnEveryFloatNearTheGrid) {
  // Every float with |x| in [2^-2, 2^8) (both signs, scale 1): the whole rounding range,
  // including every tie, plus the clamp region up to 256. 2 * 10 binades * 2^23 values.
  const std::size_t chunk = std::size_t{1} << 22;
  std::vector<float> x(chunk);
  std::vector<std::int8_t> q(chunk);
  std::size_t mismatches = 0;
  for (std::uint32_t sign : {0u, 0x80000000u}) {
    for (std::uint32_t b = 0x3E800000u; b < 0x43800000u; b += std::uint32_t(chunk)) {
      for (std::size_t i = 0; i < chunk; ++i) {
        const std::uint32_t bits = sign | (b + std::uint32_t(i));
        std::memcpy(&x[i], &bits, sizeof bits);
      }
      int8_quantize(x.data(), q.data(), chunk, 1.0f);
      for (std::size_t i = 0; i < chunk; ++i) {
        const double r = std::nearbyint(double(x[i]));
        const auto expected = static_cast<std::int8_t>(r > 127 ? 127 : r < -127 ? -127 : r);
        if (q[i] != expected && ++mismatches < 5) ADD_FAILURE() << x[i] << " -> " << int(q[i]);
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

TEST(Int8, ResultsDoNotDependOnTheRoundingMode) {
  const float x[] = {0.3f, 2.5f, -2.5f, 1.0f / 3.0f, 100.7f, -55.5f};
  std::int8_t q_default[6], q_up[6];
  float y_default[6], y_up[6];
  int8_quantize(x, q_default, 6, 0.1f);
  int8_fake_quantize(x, y_default, 6, 0.1f);
  const int saved = std::fegetround();
  for (const int mode : {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO}) {
    std::fesetround(mode);
    int8_quantize(x, q_up, 6, 0.1f);
    int8_fake_quantize(x, y_up, 6, 0.1f);
    std::fesetround(saved);
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(q_up[i], q_default[i]) << mode << " " << x[i];
      EXPECT_EQ(y_up[i], y_default[i]) << mode << " " << x[i];
    }
  }
}

TEST(Int8, DequantizeMultipliesByTheScale) {
  std::vector<std::int8_t> q;
  for (int v = -128; v <= 127; ++v) q.push_back(static_cast<std::int8_t>(v));
  std::vector<float> x(q.size());
  int8_dequantize(q.data(), x.data(), q.size(), 0.1f);
  for (std::size_t i = 0; i < q.size(); ++i) EXPECT_EQ(x[i], float(q[i]) * 0.1f);
}

TEST(Int8, FakeQuantizeIsDequantizeOfQuantizeAndWorksInPlace) {
  const std::vector<float> x = ptq_test::gaussian(4099, 3);
  const float s = int8_scale_from_amax(3.0f);
  std::vector<std::int8_t> q(x.size());
  std::vector<float> expected(x.size()), y(x.size());
  int8_quantize(x.data(), q.data(), x.size(), s);
  int8_dequantize(q.data(), expected.data(), x.size(), s);
  int8_fake_quantize(x.data(), y.data(), x.size(), s);
  EXPECT_EQ(y, expected);
  std::vector<float> in_place = x;
  int8_fake_quantize(in_place.data(), in_place.data(), in_place.size(), s);
  EXPECT_EQ(in_place, expected);
  const float special[] = {nan_f, inf_f, -inf_f};
  float out[3];
  int8_fake_quantize(special, out, 3, 0.5f);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 63.5f);
  EXPECT_EQ(out[2], -63.5f);
}

TEST(Int8, BadScaleThrowsBeforeWriting) {
  const float x[] = {1, 2};
  const std::int8_t q_in[] = {1, 2};
  for (const float s : {0.0f, -1.0f, nan_f, inf_f, -0.0f}) {
    std::int8_t q[2] = {42, 42};
    float y[2] = {42, 42};
    EXPECT_THROW(int8_quantize(x, q, 2, s), std::invalid_argument);
    EXPECT_THROW(int8_dequantize(q_in, y, 2, s), std::invalid_argument);
    EXPECT_THROW(int8_fake_quantize(x, y, 2, s), std::invalid_argument);
    EXPECT_EQ(q[0], 42);
    EXPECT_EQ(y[0], 42.0f);
  }
}

#if FP8KIT_HAS_SPAN
TEST(Int8, SpanOverloadsCheckSizes) {
  std::vector<float> x = {1, 2, 3}, y(3), short_y(2);
  std::vector<std::int8_t> q(3);
  int8_quantize(std::span<const float>(x), std::span<std::int8_t>(q), 1.0f);
  EXPECT_EQ(q[2], 3);
  int8_dequantize(std::span<const std::int8_t>(q), std::span<float>(y), 2.0f);
  EXPECT_EQ(y[2], 6.0f);
  EXPECT_THROW(int8_fake_quantize(std::span<const float>(x), std::span<float>(short_y), 1.0f),
               std::invalid_argument);
}
#endif

}  // namespace
