#include "fp8kit/ptq/fake_quant.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "ptq/support.hpp"
#include "support/formats.hpp"

namespace {

using fp8kit::e3m4fn;
using fp8kit::e4m3fn;
using fp8kit::e5m2;
using fp8kit::saturation;
namespace ptq = fp8kit::ptq;

constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_f = std::numeric_limits<float>::infinity();

bool same_bits(float a, float b) {
  std::uint32_t ua, ub;
  std::memcpy(&ua, &a, sizeof a);
  std::memcpy(&ub, &b, sizeof b);
  return ua == ub;
}

TEST(FakeQuant, MaxFiniteOfEachFormat) {
  static_assert(ptq::max_finite<e4m3fn>() == 448);
  static_assert(ptq::max_finite<e5m2>() == 57344);
  static_assert(ptq::max_finite<e3m4fn>() == 30);
  static_assert(ptq::max_finite<fp8kit::e4m3fnuz>() == 240);
  static_assert(ptq::max_finite<ptq::int8>() == 127);
  EXPECT_EQ(ptq::max_finite<fp8kit::e3m4>(), 15.5);
}

TEST(FakeQuant, ScaleForUsesTheFormatsOwnRule) {
  for (const float a : {0.0f, 1.0f, 4.87f, 1e-30f, 3e30f}) {
    EXPECT_EQ(ptq::scale_for<e4m3fn>(a), fp8kit::scale_from_amax<e4m3fn>(a));
    EXPECT_EQ(ptq::scale_for<e5m2>(a), fp8kit::scale_from_amax<e5m2>(a));
    EXPECT_EQ(ptq::scale_for<ptq::int8>(a), ptq::int8_scale_from_amax(a));
  }
  const fp8kit::scale_options o{1, 0.5f, true};
  EXPECT_EQ(ptq::scale_for<e3m4fn>(3.0f, o), fp8kit::scale_from_amax<e3m4fn>(3.0f, o));
  EXPECT_EQ(ptq::scale_for<ptq::int8>(3.0f, o), ptq::int8_scale_from_amax(3.0f, o));
  EXPECT_THROW(ptq::scale_for<e4m3fn>(-1.0f), std::invalid_argument);
  EXPECT_THROW(ptq::scale_for<ptq::int8>(nan_f), std::invalid_argument);
}

template <class F>
class FakeQuantPerFormat : public ::testing::Test {};
TYPED_TEST_SUITE(FakeQuantPerFormat, fp8kit_test::all_formats, fp8kit_test::format_names);

TYPED_TEST(FakeQuantPerFormat, TensorFakeQuantIsTheCoreSaturatingOne) {
  using F = TypeParam;
  std::vector<float> x = ptq_test::gaussian(1000, 11);
  x.push_back(nan_f);
  x.push_back(inf_f);
  x.push_back(-1e30f);
  const float s = ptq::scale_for<F>(2.5f);
  std::vector<float> expected(x.size()), y(x.size());
  fp8kit::fake_quantize<F>(x.data(), expected.data(), x.size(), s, saturation::finite);
  ptq::fake_quantize_tensor<F>(x.data(), y.data(), x.size(), s);
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_TRUE(same_bits(y[i], expected[i])) << i;
}

TYPED_TEST(FakeQuantPerFormat, GradientPassesExactlyWhereTheQuotientIsWithinRange) {
  using F = TypeParam;
  const double limit = F::traits::max_finite;
  ptq_test::splitmix64 g(5);
  const float s = 0.37f;
  std::vector<float> x;
  x.reserve(4008);
  for (int i = 0; i < 4000; ++i) x.push_back(float(limit * s * (2.5 * g.uniform() - 1.25)));
  // The boundary itself and its neighbours, computed through the float quotient.
  const float edge = static_cast<float>(limit * double(s));
  for (const float e : {edge, -edge}) {
    x.push_back(e);
    x.push_back(std::nextafter(e, 0.0f));
    x.push_back(std::nextafter(e, e > 0 ? inf_f : -inf_f));
  }
  x.push_back(nan_f);
  x.push_back(inf_f);
  std::vector<float> gy(x.size()), gx(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) gy[i] = float(i + 1);
  ptq::fake_quantize_grad<F>(x.data(), gy.data(), gx.data(), x.size(), s);
  std::size_t passed = 0, blocked = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    // fl(x / s), as quantize computes it; compared on the bits (also under -ffast-math).
    const float t = ptq_test::divide(x[i], s);
    std::uint32_t t_bits, limit_bits;
    const float limit_f = static_cast<float>(limit);
    std::memcpy(&t_bits, &t, sizeof t);
    std::memcpy(&limit_bits, &limit_f, sizeof limit_f);
    const bool inside = ptq_test::is_finite(x[i]) && (t_bits & 0x7FFFFFFFu) <= limit_bits;
    EXPECT_EQ(gx[i], inside ? gy[i] : 0.0f) << "x=" << x[i];
    (inside ? passed : blocked) += 1;
  }
  EXPECT_GT(passed, 1000u);
  EXPECT_GT(blocked, 500u);  // 20% of the random values lie outside
}

TEST(FakeQuant, GradientExampleAndInt8Boundary) {
  const float x[] = {448, 449, -500, -448, nan_f, inf_f};
  const float gy[] = {1, 2, 3, 4, 5, 6};
  float gx[6];
  ptq::fake_quantize_grad<e4m3fn>(x, gy, gx, 6, 1.0f);
  const float expected[] = {1, 0, 0, 4, 0, 0};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(gx[i], expected[i]) << i;

  const float xi[] = {63.5f, 63.50001f, -63.5f, -64.0f, 10.0f};
  const float gyi[] = {1, 2, 3, 4, 5};
  float gxi[5];
  ptq::fake_quantize_grad<ptq::int8>(xi, gyi, gxi, 5, 0.5f);  // limit 127 * 0.5 = 63.5
  const float expected_i[] = {1, 0, 3, 0, 5};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(gxi[i], expected_i[i]) << i;
}

TEST(FakeQuant, GradientMayWorkInPlaceAndRejectsBadScales) {
  const float x[] = {1, 1000, -2};
  float g[] = {7, 8, 9};
  ptq::fake_quantize_grad<e4m3fn>(x, g, g, 3, 1.0f);
  EXPECT_EQ(g[0], 7.0f);
  EXPECT_EQ(g[1], 0.0f);
  EXPECT_EQ(g[2], 9.0f);
  float out[3] = {42, 42, 42};
  for (const float s : {0.0f, -1.0f, nan_f, inf_f}) {
    EXPECT_THROW(ptq::fake_quantize_grad<e4m3fn>(x, g, out, 3, s), std::invalid_argument);
    EXPECT_EQ(out[0], 42.0f);
  }
}

TEST(FakeQuant, Int8TensorFakeQuantIsTheInt8Baseline) {
  const std::vector<float> x = ptq_test::gaussian(777, 2);
  std::vector<float> expected(x.size()), y(x.size());
  ptq::int8_fake_quantize(x.data(), expected.data(), x.size(), 0.02f);
  ptq::fake_quantize_tensor<ptq::int8>(x.data(), y.data(), x.size(), 0.02f);
  EXPECT_EQ(y, expected);
}

TEST(FakeQuant, ChannelScalesFollowEachChannelsFiniteAmax) {
  const float x[] = {1, -4, inf_f, 2, 0, 0};  // 3 x 2
  float rows_e4m3[3], cols_int8[2], rows_int8[3];
  ptq::channel_scales<e4m3fn>(x, 3, 2, fp8kit::channel_axis::rows, rows_e4m3);
  EXPECT_EQ(rows_e4m3[0], 4.0f / 448);
  EXPECT_EQ(rows_e4m3[1], 2.0f / 448);  // inf skipped
  EXPECT_EQ(rows_e4m3[2], 1.0f);        // all-zero channel
  ptq::channel_scales<ptq::int8>(x, 3, 2, fp8kit::channel_axis::rows, rows_int8);
  EXPECT_EQ(rows_int8[0], 4.0f / 127);
  EXPECT_EQ(rows_int8[1], 2.0f / 127);
  EXPECT_EQ(rows_int8[2], 1.0f);
  ptq::channel_scales<ptq::int8>(x, 3, 2, fp8kit::channel_axis::cols, cols_int8);
  EXPECT_EQ(cols_int8[0], 1.0f / 127);
  EXPECT_EQ(cols_int8[1], 4.0f / 127);
  ptq::channel_scales<ptq::int8>(x, 3, 2, fp8kit::channel_axis::cols, cols_int8,
                                 fp8kit::scale_options{0, 1, true});
  EXPECT_EQ(cols_int8[1], 0.0625f);  // 4 / 127 = 0.0315 > 2^-5 -> 2^-4
  EXPECT_THROW(ptq::channel_scales<ptq::int8>(x, 3, 2, fp8kit::channel_axis::cols, cols_int8,
                                              fp8kit::scale_options{0, 2, false}),
               std::invalid_argument);
}

template <class F>
void expect_channels_match_per_tensor(fp8kit::channel_axis a) {
  const std::size_t rows = 5, cols = 37;
  const std::vector<float> x = ptq_test::gaussian(rows * cols, 61);
  const std::size_t channels = a == fp8kit::channel_axis::rows ? rows : cols;
  std::vector<float> scales(channels), y(x.size());
  ptq::channel_scales<F>(x.data(), rows, cols, a, scales.data());
  ptq::fake_quantize_channels<F>(x.data(), rows, cols, a, scales.data(), y.data());
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const std::size_t i = r * cols + c;
      const float s = scales[a == fp8kit::channel_axis::rows ? r : c];
      float expected;
      ptq::fake_quantize_tensor<F>(&x[i], &expected, 1, s);
      ASSERT_TRUE(same_bits(y[i], expected)) << r << "," << c;
    }
  }
  std::vector<float> in_place = x;
  ptq::fake_quantize_channels<F>(in_place.data(), rows, cols, a, scales.data(), in_place.data());
  EXPECT_EQ(in_place, y);
  scales[channels - 1] = 0;
  std::vector<float> untouched(x.size(), 42.0f);
  EXPECT_THROW(
      ptq::fake_quantize_channels<F>(x.data(), rows, cols, a, scales.data(), untouched.data()),
      std::invalid_argument);
  EXPECT_EQ(untouched, std::vector<float>(x.size(), 42.0f));
}

TEST(FakeQuant, ChannelFakeQuantIsPerTensorFakeQuantOnEachChannel) {
  for (const auto a : {fp8kit::channel_axis::rows, fp8kit::channel_axis::cols}) {
    expect_channels_match_per_tensor<e4m3fn>(a);
    expect_channels_match_per_tensor<e5m2>(a);
    expect_channels_match_per_tensor<ptq::int8>(a);
  }
}

template <class F>
void expect_blocks_match_per_tensor(fp8kit::block_shape b) {
  const std::size_t rows = 7, cols = 10;
  std::vector<float> x = ptq_test::gaussian(rows * cols, 71);
  for (std::size_t c = 0; c < cols; ++c) x[2 * cols + c] = 0;  // zero rows make zero blocks
  x[5] = inf_f;
  const std::size_t count = fp8kit::block_count(rows, cols, b);
  std::vector<float> scales(count), y(x.size());
  ptq::fake_quantize_blocks<F>(x.data(), rows, cols, b, y.data(), scales.data());
  const std::size_t block_cols = (cols + b.cols - 1) / b.cols;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const std::size_t bi = (r / b.rows) * block_cols + c / b.cols;
      float block_amax = 0;  // largest finite |x| of the block, by brute force
      for (std::size_t rr = (r / b.rows) * b.rows; rr < std::min(rows, (r / b.rows + 1) * b.rows);
           ++rr) {
        for (std::size_t cc = (c / b.cols) * b.cols; cc < std::min(cols, (c / b.cols + 1) * b.cols);
             ++cc) {
          const float v = std::fabs(x[rr * cols + cc]);
          if (ptq_test::is_finite(v)) block_amax = std::max(block_amax, v);
        }
      }
      ASSERT_EQ(scales[bi], ptq::scale_for<F>(block_amax)) << r << "," << c;
      float expected;
      ptq::fake_quantize_tensor<F>(&x[r * cols + c], &expected, 1, scales[bi]);
      ASSERT_TRUE(same_bits(y[r * cols + c], expected)) << r << "," << c;
    }
  }
  std::vector<float> in_place = x, scales2(count);
  ptq::fake_quantize_blocks<F>(in_place.data(), rows, cols, b, in_place.data(), scales2.data());
  EXPECT_EQ(in_place, y);
  EXPECT_EQ(scales2, scales);
}

TEST(FakeQuant, BlockFakeQuantUsesOneScalePerBlockIncludingPartialOnes) {
  for (const fp8kit::block_shape b : {fp8kit::block_shape{3, 4}, fp8kit::block_shape{1, 128},
                                      fp8kit::block_shape{128, 128}, fp8kit::block_shape{2, 1}}) {
    expect_blocks_match_per_tensor<e4m3fn>(b);
    expect_blocks_match_per_tensor<e3m4fn>(b);
    expect_blocks_match_per_tensor<ptq::int8>(b);
  }
  float x[4] = {1, 2, 3, 4}, y[4], s[4];
  EXPECT_THROW(ptq::fake_quantize_blocks<ptq::int8>(x, 2, 2, fp8kit::block_shape{0, 1}, y, s),
               std::invalid_argument);
  EXPECT_THROW(ptq::fake_quantize_blocks<e4m3fn>(x, 2, 2, fp8kit::block_shape{1, 0}, y, s),
               std::invalid_argument);
}

}  // namespace
