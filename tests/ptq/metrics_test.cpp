#include "fp8kit/ptq/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "ptq/support.hpp"

namespace {

using fp8kit::ptq::cosine_similarity;
using fp8kit::ptq::max_abs_error;
using fp8kit::ptq::mse;
using fp8kit::ptq::sqnr_db;

constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_f = std::numeric_limits<float>::infinity();

TEST(Metrics, ThreeFourAgainstThreeThreeGivesTheHandComputedValues) {
  const float ref[] = {3, 4};
  const float approx[] = {3, 3};
  // signal 9 + 16 = 25, noise 0 + 1 = 1, dot 21, |ref| 5, |approx| sqrt(18).
  EXPECT_DOUBLE_EQ(sqnr_db(ref, approx, 2), 10.0 * std::log10(25.0));
  EXPECT_NEAR(sqnr_db(ref, approx, 2), 13.9794, 5e-5);
  EXPECT_DOUBLE_EQ(mse(ref, approx, 2), 0.5);
  EXPECT_DOUBLE_EQ(cosine_similarity(ref, approx, 2), 21.0 / (5.0 * std::sqrt(18.0)));
  EXPECT_NEAR(cosine_similarity(ref, approx, 2), 0.989949, 5e-7);
  EXPECT_DOUBLE_EQ(max_abs_error(ref, approx, 2), 1.0);
}

TEST(Metrics, IdenticalArraysGiveInfiniteSqnrAndNoError) {
  const float x[] = {1.5f, -2.25f, 1e-30f, 3e30f};
  EXPECT_EQ(sqnr_db(x, x, 4), std::numeric_limits<double>::infinity());
  EXPECT_EQ(mse(x, x, 4), 0.0);
  EXPECT_EQ(max_abs_error(x, x, 4), 0.0);
  EXPECT_DOUBLE_EQ(cosine_similarity(x, x, 4), 1.0);
}

TEST(Metrics, ZeroReferenceGivesNaNSqnr) {
  const float zero[] = {0, -0.0f, 0};
  const float other[] = {1, 0, 2};
  EXPECT_TRUE(ptq_test::is_nan(sqnr_db(zero, other, 3)));
  EXPECT_TRUE(ptq_test::is_nan(sqnr_db(zero, zero, 3)));
  EXPECT_TRUE(ptq_test::is_nan(sqnr_db(zero, zero, 0)));
  EXPECT_TRUE(ptq_test::is_nan(cosine_similarity(zero, other, 3)));
  EXPECT_TRUE(ptq_test::is_nan(cosine_similarity(other, zero, 3)));
  EXPECT_DOUBLE_EQ(mse(zero, other, 3), 5.0 / 3.0);
}

TEST(Metrics, EmptyInputsHaveDocumentedValues) {
  const float x[] = {1};
  EXPECT_TRUE(ptq_test::is_nan(mse(x, x, 0)));
  EXPECT_TRUE(ptq_test::is_nan(cosine_similarity(x, x, 0)));
  EXPECT_EQ(max_abs_error(x, x, 0), 0.0);
}

TEST(Metrics, NaNOrInfinityAnywhereGivesNaN) {
  const float ref[] = {1, 2, 3};
  for (const float bad_value : {nan_f, inf_f, -inf_f}) {
    for (int at = 0; at < 3; ++at) {  // also after the largest error
      float bad[] = {1, 100, 3};
      bad[at] = bad_value;
      for (const auto* a : {ref, static_cast<const float*>(bad)}) {
        const auto* b = a == ref ? static_cast<const float*>(bad) : ref;
        EXPECT_TRUE(ptq_test::is_nan(sqnr_db(a, b, 3))) << bad_value << " at " << at;
        EXPECT_TRUE(ptq_test::is_nan(mse(a, b, 3)));
        EXPECT_TRUE(ptq_test::is_nan(cosine_similarity(a, b, 3)));
        EXPECT_TRUE(ptq_test::is_nan(max_abs_error(a, b, 3)));
      }
    }
  }
  const float both_inf[] = {inf_f};
  EXPECT_TRUE(ptq_test::is_nan(max_abs_error(both_inf, both_inf, 1)));
  EXPECT_TRUE(ptq_test::is_nan(sqnr_db(both_inf, both_inf, 1)));
}

TEST(Metrics, SumsAccumulateInDouble) {
  // 1e20^2 overflows float; in double the signal is 1e40 + 1 and the noise 1: 400 dB.
  const float ref[] = {1e20f, 1};
  const float approx[] = {1e20f, 0};
  EXPECT_NEAR(sqnr_db(ref, approx, 2), 10.0 * std::log10(double(1e20f) * double(1e20f) + 1), 1e-9);
  EXPECT_DOUBLE_EQ(mse(ref, approx, 2), 0.5);
  EXPECT_DOUBLE_EQ(cosine_similarity(ref, approx, 2),
                   double(1e20f) * double(1e20f) /
                       (std::sqrt(double(1e20f) * double(1e20f) + 1) * double(1e20f)));
  // Noise 1 + 2^-24 + 2^-24: in float each 2^-24 would be a tie that rounds back to 1.
  const float ones[] = {1, 1, 1};
  const float near[] = {0, 1 - 0x1p-12f, 1 - 0x1p-12f};
  EXPECT_DOUBLE_EQ(mse(ones, near, 3), (1 + 0x1p-23) / 3);
  EXPECT_DOUBLE_EQ(sqnr_db(ones, near, 3), 10.0 * std::log10(3 / (1 + 0x1p-23)));
}

TEST(Metrics, CosineOfOppositeAndOrthogonalVectors) {
  const float a[] = {1, 2, -3};
  const float neg[] = {-2, -4, 6};
  const float orth[] = {2, -1, 0};
  EXPECT_DOUBLE_EQ(cosine_similarity(a, neg, 3), -1.0);
  EXPECT_DOUBLE_EQ(cosine_similarity(a, orth, 3), 0.0);
}

TEST(Metrics, MaxAbsErrorIsTheLargestDifference) {
  const float ref[] = {1, -5, 2.5f, 0};
  const float approx[] = {1.25f, -4, 2.5f, -0.5f};
  EXPECT_EQ(max_abs_error(ref, approx, 4), 1.0);
  // Computed in double: the difference of two far-apart floats is not rounded to float.
  const float big[] = {16777216.0f};
  const float tiny[] = {-1.0f};
  EXPECT_EQ(max_abs_error(big, tiny, 1), 16777217.0);
}

#if FP8KIT_HAS_SPAN
TEST(Metrics, SpanOverloadsCheckSizes) {
  const std::vector<float> ref = {3, 4}, approx = {3, 3}, shorter = {3};
  EXPECT_DOUBLE_EQ(fp8kit::ptq::mse(std::span<const float>(ref), std::span<const float>(approx)),
                   0.5);
  EXPECT_DOUBLE_EQ(
      fp8kit::ptq::sqnr_db(std::span<const float>(ref), std::span<const float>(approx)),
      sqnr_db(ref.data(), approx.data(), 2));
  EXPECT_THROW(fp8kit::ptq::mse(std::span<const float>(ref), std::span<const float>(shorter)),
               std::invalid_argument);
  EXPECT_THROW(
      fp8kit::ptq::max_abs_error(std::span<const float>(ref), std::span<const float>(shorter)),
      std::invalid_argument);
}
#endif

}  // namespace
