// Tests of <fp8kit/delayed_scaling.hpp>: Transformer Engine's delayed-scaling recipe.

#include "fp8kit/delayed_scaling.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "fp8kit/half.hpp"
#include "support/reference.hpp"

namespace {

using fp8kit::amax_algo;
using fp8kit::delayed_scaling;
using fp8kit::e4m3fn;
using fp8kit_test::bits_of;
using fp8kit_test::float_from_bits;
// -0 from its bits: under -ffast-math (no signed zeros) the literal -0.0f may become +0.
const float minus_zero = float_from_bits(0x80000000u);

// fl(a / 448) for the amaxes of the examples, as bits (no division in the test).
constexpr std::uint32_t k1 = 0x3B124925u;  // 1/448
constexpr std::uint32_t k2 = 0x3B924925u;  // 2/448
constexpr std::uint32_t k4 = 0x3C124925u;  // 4/448

std::vector<std::uint32_t> run(delayed_scaling<e4m3fn>& d, const std::vector<float>& amaxes) {
  std::vector<std::uint32_t> out;
  for (float a : amaxes) {
    out.push_back(bits_of(d.update(a)));
    EXPECT_EQ(bits_of(d.scale()), out.back());
  }
  return out;
}

TEST(DelayedScaling, FollowsTheTransformerEngineExample) {
  delayed_scaling<e4m3fn> d(4, amax_algo::max);
  const std::vector<std::uint32_t> expected = {k2, k4, k4, k4, k4, k1, k1};
  EXPECT_EQ(run(d, {2, 4, 1, 1, 1, 1, 1}), expected);
  EXPECT_EQ(d.reduced_amax(), 1.0f);
  EXPECT_EQ(d.skipped(), 0u);
}

TEST(DelayedScaling, MostRecentUsesOnlyTheLatestAmax) {
  delayed_scaling<e4m3fn> d(4, amax_algo::most_recent);
  const std::vector<std::uint32_t> expected = {k2, k4, k1, k1, k2};
  EXPECT_EQ(run(d, {2, 4, 1, 1, 2}), expected);
}

TEST(DelayedScaling, ScaleIsOneBeforeTheFirstAmax) {
  delayed_scaling<e4m3fn> d;
  EXPECT_EQ(d.scale(), 1.0f);
  EXPECT_EQ(d.reduced_amax(), 0.0f);
  EXPECT_EQ(d.history_length(), 1024u);
  EXPECT_EQ(d.algo(), amax_algo::max);
  EXPECT_EQ(d.update(0.0f), 1.0f);  // a layer that did not run
}

TEST(DelayedScaling, ZeroAmaxLeavesHistoryAndScaleUnchanged) {
  delayed_scaling<e4m3fn> d(2);
  // If the zeros were recorded, the 4 would leave the window of 2 before the last update.
  const std::vector<std::uint32_t> expected = {k4, k4, k4, k4};
  EXPECT_EQ(run(d, {4, 0, minus_zero, 1}), expected);
}

TEST(DelayedScaling, NonFiniteAmaxKeepsThePreviousScaleAndIsCounted) {
  delayed_scaling<e4m3fn> d(2);
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<std::uint32_t> expected = {k4, k4, k4, k4, k4};
  EXPECT_EQ(run(d, {4, float_from_bits(0x7FC00000u), inf, -inf, 1}), expected);
  EXPECT_EQ(d.skipped(), 3u);
  EXPECT_EQ(bits_of(d.update(1)), k1);  // the 4 leaves the window now
}

TEST(DelayedScaling, NegativeAmaxThrows) {
  delayed_scaling<e4m3fn> d(4);
  d.update(2);
  EXPECT_THROW(d.update(-1.0f), std::invalid_argument);
  EXPECT_EQ(bits_of(d.scale()), k2);
}

TEST(DelayedScaling, MarginAndPow2) {
  delayed_scaling<e4m3fn> margin(4, amax_algo::max, 1.0f);
  EXPECT_EQ(bits_of(margin.update(2)), k2 + (1u << 23));  // 2/448 * 2^1
  delayed_scaling<e4m3fn> pow2(4, amax_algo::max, fp8kit::scale_options{0, 1, true});
  EXPECT_EQ(pow2.update(2), 0.0078125f);  // 1/224 rounded up to 2^-7
  EXPECT_EQ(pow2.update(448), 1.0f);
  EXPECT_EQ(pow2.options().pow2, true);
}

TEST(DelayedScaling, HistoryLengthOneIsMostRecent) {
  delayed_scaling<e4m3fn> d(1);
  const std::vector<std::uint32_t> expected = {k4, k1, k2};
  EXPECT_EQ(run(d, {4, 1, 2}), expected);
}

TEST(DelayedScaling, DefaultHistoryRemembers1024Steps) {
  delayed_scaling<e4m3fn> d;
  d.update(448);
  for (int step = 1; step < 1024; ++step) ASSERT_EQ(d.update(1), 1.0f) << step;
  EXPECT_EQ(bits_of(d.update(1)), k1);  // step 1024: the 448 is gone
}

TEST(DelayedScaling, RejectsBadConfiguration) {
  EXPECT_THROW(delayed_scaling<e4m3fn>(0), std::invalid_argument);
  EXPECT_THROW(delayed_scaling<e4m3fn>(4, amax_algo::max, float_from_bits(0x7FC00000u)),
               std::invalid_argument);
  EXPECT_THROW(delayed_scaling<e4m3fn>(4, amax_algo::max, fp8kit::scale_options{0, 2, false}),
               std::invalid_argument);
}

TEST(DelayedScaling, ResetForgetsEverything) {
  delayed_scaling<e4m3fn> d(4);
  d.update(448);
  d.update(float_from_bits(0x7FC00000u));
  d.reset();
  EXPECT_EQ(d.scale(), 1.0f);
  EXPECT_EQ(d.skipped(), 0u);
  EXPECT_EQ(bits_of(d.update(1)), k1);
}

TEST(DelayedScaling, WorksForOtherFormats) {
  delayed_scaling<fp8kit::e5m2> d(2);
  EXPECT_EQ(d.update(57344.0f * 4), 4.0f);
  delayed_scaling<fp8kit::bfloat16> b(2);
  EXPECT_GT(b.update(1.0f), 0.0f);
}

}  // namespace
