#include "fp8kit/ptq/calibrate.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "fp8kit/convert.hpp"
#include "ptq/support.hpp"

namespace {

using fp8kit::e3m4fn;
using fp8kit::e4m3fn;
using fp8kit::e5m2;
namespace ptq = fp8kit::ptq;

constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_f = std::numeric_limits<float>::infinity();

// Gaussian data with a few large values, so a histogram has to grow while observing it.
std::vector<float> mixed_data(std::size_t n, std::uint64_t seed) {
  ptq_test::splitmix64 g(seed);
  std::vector<float> x(n);
  for (auto& v : x) {
    const double u = g.uniform();
    v = static_cast<float>(u < 0.001 ? 40.0 * g.normal() : g.normal());
  }
  return x;
}

// Observes x in batches whose sizes come from `seed` (seed 0: one batch).
template <class Calibrator>
void observe_split(Calibrator& c, const std::vector<float>& x, std::uint64_t seed) {
  if (seed == 0) {
    c.observe(x.data(), x.size());
    return;
  }
  ptq_test::splitmix64 g(seed);
  std::size_t i = 0;
  while (i < x.size()) {
    const std::size_t len = std::min<std::size_t>(x.size() - i, g.next() % 3000);
    c.observe(x.data() + i, len);  // len may be 0: an empty batch
    i += len;
  }
}

// ---- max_calibrator ----------------------------------------------------------------------

TEST(MaxCalibrator, KeepsTheRunningMaxAndCount) {
  ptq::max_calibrator c;
  const float a[] = {1, -3};
  const float b[] = {2};
  c.observe(a, 2);
  c.observe(b, 1);
  EXPECT_EQ(c.amax(), 3.0f);
  EXPECT_EQ(c.count(), 3u);
  EXPECT_EQ(c.scale<e4m3fn>(), fp8kit::scale_from_amax<e4m3fn>(3.0f));
  EXPECT_EQ(c.scale<e4m3fn>(), 3.0f / 448.0f);
  EXPECT_EQ(c.scale<ptq::int8>(), 3.0f / 127.0f);
  EXPECT_EQ(c.scale<e5m2>(fp8kit::scale_options{0, 1, true}),
            fp8kit::scale_from_amax<e5m2>(3.0f, fp8kit::scale_options{0, 1, true}));
  c.reset();
  EXPECT_EQ(c.count(), 0u);
  EXPECT_THROW(c.amax(), std::logic_error);
}

TEST(MaxCalibrator, AmaxBeforeDataThrowsLogicError) {
  ptq::max_calibrator c;
  EXPECT_THROW(c.amax(), std::logic_error);
  EXPECT_THROW(c.scale<e4m3fn>(), std::logic_error);
  c.observe(nullptr, 0);  // an empty batch is a no-op
  EXPECT_EQ(c.count(), 0u);
  EXPECT_THROW(c.amax(), std::logic_error);
  const float zeros[] = {0, -0.0f};
  c.observe(zeros, 2);
  EXPECT_EQ(c.amax(), 0.0f);
  EXPECT_EQ(c.scale<e4m3fn>(), 1.0f);
}

TEST(MaxCalibrator, RejectsNaNAndInfinityWithoutChangingState) {
  ptq::max_calibrator c;
  const float good[] = {1, 2};
  c.observe(good, 2);
  for (const float bad : {nan_f, inf_f, -inf_f}) {
    const float batch[] = {100, bad, 5};
    EXPECT_THROW(c.observe(batch, 3), std::invalid_argument);
    EXPECT_EQ(c.amax(), 2.0f);
    EXPECT_EQ(c.count(), 2u);
  }
  ptq::max_calibrator fresh;
  const float only_nan[] = {nan_f};
  EXPECT_THROW(fresh.observe(only_nan, 1), std::invalid_argument);
  EXPECT_EQ(fresh.count(), 0u);
  EXPECT_THROW(fresh.amax(), std::logic_error);
}

TEST(MaxCalibrator, DoesNotDependOnBatching) {
  const std::vector<float> x = mixed_data(20000, 1);
  ptq::max_calibrator whole;
  whole.observe(x.data(), x.size());
  float expected = 0;
  for (const float v : x) expected = std::max(expected, std::fabs(v));
  EXPECT_EQ(whole.amax(), expected);
  for (const std::uint64_t seed : {1u, 2u, 3u}) {
    ptq::max_calibrator split;
    observe_split(split, x, seed);
    EXPECT_EQ(split.amax(), whole.amax());
    EXPECT_EQ(split.count(), x.size());
  }
}

// ---- ema_calibrator ----------------------------------------------------------------------

std::vector<float> ema_sequence(float c, const std::vector<float>& batch_maxima) {
  ptq::ema_calibrator cal(c);
  std::vector<float> out;
  for (const float m : batch_maxima) {
    const float batch[] = {0.5f * m, -m, 0};
    cal.observe(batch, 3);
    out.push_back(cal.amax());
  }
  return out;
}

TEST(EmaCalibrator, FollowsTheMovingAverageOfBatchMaxima) {
  // m1 = max1; m_k = m_{k-1} + c (max_k - m_{k-1}).
  EXPECT_EQ(ema_sequence(0.5f, {4, 8, 0}), (std::vector<float>{4, 6, 3}));
  EXPECT_EQ(ema_sequence(0.25f, {4, 8, 0, 1}), (std::vector<float>{4, 5, 3.75f, 3.0625f}));
  EXPECT_EQ(ema_sequence(1.0f, {4, 8, 2}), (std::vector<float>{4, 8, 2}));
  // Default c = 0.01f (0.00999999977648...): 100 + 0.00999999977648 * 100 = 100.99999998 -> 101.
  ptq::ema_calibrator d;
  EXPECT_EQ(d.constant(), 0.01f);
  const float a[] = {-100};
  const float b[] = {200};
  d.observe(a, 1);
  EXPECT_EQ(d.amax(), 100.0f);
  d.observe(b, 1);
  EXPECT_EQ(d.amax(), 101.0f);
  EXPECT_EQ(d.count(), 2u);
  EXPECT_EQ(d.scale<e4m3fn>(), fp8kit::scale_from_amax<e4m3fn>(101.0f));
}

TEST(EmaCalibrator, EmptyBatchesDoNotMoveTheAverage) {
  ptq::ema_calibrator c(0.5f);
  EXPECT_THROW(c.amax(), std::logic_error);
  c.observe(nullptr, 0);
  EXPECT_THROW(c.amax(), std::logic_error);
  const float a[] = {4};
  c.observe(a, 1);
  c.observe(nullptr, 0);
  EXPECT_EQ(c.amax(), 4.0f);
  EXPECT_EQ(c.count(), 1u);
}

TEST(EmaCalibrator, RejectsBadConstantsAndBadBatches) {
  for (const float c : {0.0f, -0.5f, 1.5f, nan_f, inf_f}) {
    EXPECT_THROW(ptq::ema_calibrator{c}, std::invalid_argument) << c;
  }
  ptq::ema_calibrator c(0.5f);
  const float a[] = {4};
  c.observe(a, 1);
  const float bad[] = {8, inf_f};
  EXPECT_THROW(c.observe(bad, 2), std::invalid_argument);
  EXPECT_EQ(c.amax(), 4.0f);
  EXPECT_EQ(c.count(), 1u);
}

// ---- histogram_calibrator ----------------------------------------------------------------

TEST(HistogramCalibrator, CountsAreSixtyFourBit) {
  static_assert(std::is_same_v<ptq::histogram_calibrator::counts_type::value_type, std::uint64_t>);
  ptq::histogram_calibrator c;
  EXPECT_EQ(c.bins(), 2048u);
  EXPECT_EQ(c.range(), 0.0);
}

TEST(HistogramCalibrator, HandComputedBinsAndGrowthByMerging) {
  ptq::histogram_calibrator c(8);
  const float a[] = {0, 0.5f, -1, 1.5f, 3};  // max 3 -> R = 4, width 0.5
  c.observe(a, 5);
  EXPECT_EQ(c.range(), 4.0);
  EXPECT_EQ(c.bin_width(), 0.5);
  EXPECT_EQ(c.counts(), (std::vector<std::uint64_t>{1, 1, 1, 1, 0, 0, 1, 0}));
  const float b[] = {-5};  // R = 8, width 1: bin i -> i / 2, then 5 -> bin 5
  c.observe(b, 1);
  EXPECT_EQ(c.range(), 8.0);
  EXPECT_EQ(c.counts(), (std::vector<std::uint64_t>{2, 2, 0, 1, 0, 1, 0, 0}));
  const float d[] = {1000, 7.99f};  // R = 1024 (7 doublings at once), width 128
  c.observe(d, 2);
  EXPECT_EQ(c.range(), 1024.0);
  EXPECT_EQ(c.counts(), (std::vector<std::uint64_t>{7, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(c.count(), 8u);
  EXPECT_EQ(c.amax(), 1000.0f);
}

TEST(HistogramCalibrator, ZerosStayInBinZeroUntilARangeExists) {
  ptq::histogram_calibrator c(4);
  const float zeros[] = {0, -0.0f, 0};
  c.observe(zeros, 3);
  EXPECT_EQ(c.amax(), 0.0f);
  EXPECT_EQ(c.range(), 0.0);
  EXPECT_EQ(c.percentile_amax(50), 0.0f);
  EXPECT_EQ(c.mse_amax<e4m3fn>(), 0.0f);
  EXPECT_EQ(c.entropy_amax(), 0.0f);
  EXPECT_EQ(c.scale<e4m3fn>(), 1.0f);
  const float one[] = {1};  // R = 2, width 0.5
  c.observe(one, 1);
  EXPECT_EQ(c.counts(), (std::vector<std::uint64_t>{3, 0, 1, 0}));
}

TEST(HistogramCalibrator, ExtremeMagnitudesAreBinnedExactly) {
  ptq::histogram_calibrator c(16);
  const float tiny[] = {0x1p-149f, 0x1p-140f};  // R = 2^-139
  c.observe(tiny, 2);
  EXPECT_EQ(c.range(), 0x1p-139);
  EXPECT_EQ(c.counts()[0], 1u);                              // 2^-149 * 16 / 2^-139 = 2^-6 -> bin 0
  EXPECT_EQ(c.counts()[8], 1u);                              // 2^-140 * 16 / 2^-139 = 8
  const float huge[] = {std::numeric_limits<float>::max()};  // R = 2^128
  c.observe(huge, 1);
  EXPECT_EQ(c.range(), 0x1p128);
  EXPECT_EQ(c.counts()[0], 2u);
  EXPECT_EQ(c.counts()[15], 1u);
  EXPECT_EQ(c.percentile_amax(100), std::numeric_limits<float>::max());
}

TEST(HistogramCalibrator, RejectsNaNAndInfinityWithoutChangingState) {
  ptq::histogram_calibrator c(64);
  const std::vector<float> x = mixed_data(1000, 4);
  c.observe(x.data(), x.size());
  const auto counts = c.counts();
  const float amax = c.amax();
  const double range = c.range();
  for (const float bad : {nan_f, inf_f, -inf_f}) {
    std::vector<float> batch = {1e6f, 3, bad, 2};  // 1e6 would grow the range
    EXPECT_THROW(c.observe(batch.data(), batch.size()), std::invalid_argument);
    EXPECT_EQ(c.counts(), counts);
    EXPECT_EQ(c.amax(), amax);
    EXPECT_EQ(c.range(), range);
    EXPECT_EQ(c.count(), x.size());
  }
}

TEST(HistogramCalibrator, BeforeDataEverySelectionThrowsLogicError) {
  ptq::histogram_calibrator c;
  c.observe(nullptr, 0);
  EXPECT_THROW(c.amax(), std::logic_error);
  EXPECT_THROW(c.percentile_amax(99), std::logic_error);
  EXPECT_THROW(c.mse_amax<e4m3fn>(), std::logic_error);
  EXPECT_THROW(c.entropy_amax(), std::logic_error);
  EXPECT_THROW(c.scale<e4m3fn>(), std::logic_error);
}

TEST(HistogramCalibrator, RejectsBadBinCountsAndPercentiles) {
  EXPECT_THROW(ptq::histogram_calibrator{0}, std::invalid_argument);
  EXPECT_THROW(ptq::histogram_calibrator{(std::size_t{1} << 24) + 1}, std::invalid_argument);
  ptq::histogram_calibrator c(16);
  const float x[] = {1};
  c.observe(x, 1);
  for (const double p : {0.0, -1.0, 100.5, std::nan("")}) {
    EXPECT_THROW(c.percentile_amax(p), std::invalid_argument) << p;
  }
}

TEST(HistogramCalibrator, HandComputedPercentiles) {
  ptq::histogram_calibrator c;  // 2048 bins; max 5 -> R = 8, width 1/256
  std::vector<float> x;
  for (int i = 1; i <= 10; ++i) x.push_back(0.5f * float(i) * (i % 2 != 0 ? 1.0f : -1.0f));
  c.observe(x.data(), x.size());
  EXPECT_EQ(c.bin_width(), 1.0 / 256);
  EXPECT_EQ(c.percentile_amax(10), 129.0f / 256);      // 0.5 sits in bin 128
  EXPECT_EQ(c.percentile_amax(50), 641.0f / 256);      // 5th value 2.5: bin 640
  EXPECT_EQ(c.percentile_amax(50.001), 769.0f / 256);  // needs the 6th value, 3.0
  EXPECT_EQ(c.percentile_amax(90), 1153.0f / 256);     // 4.5: bin 1152
  EXPECT_EQ(c.percentile_amax(95), 5.0f);              // edge 1281/256 capped at amax 5
  EXPECT_EQ(c.percentile_amax(100), 5.0f);
}

TEST(HistogramCalibrator, PercentileOfAGaussianIsNearTheQuantile) {
  ptq::histogram_calibrator c;
  const std::vector<float> x = ptq_test::gaussian(200000, 21);
  c.observe(x.data(), x.size());
  // |N(0,1)| quantiles: 90% 1.6449, 99% 2.5758. Sampling error (n = 2e5) plus one bin
  // (1/256) stays well below 0.03.
  EXPECT_NEAR(c.percentile_amax(90), 1.6449, 0.03);
  EXPECT_NEAR(c.percentile_amax(99), 2.5758, 0.03);
  // At least p% of the values are <= the result.
  for (const double p : {50.0, 90.0, 99.0, 99.9}) {
    const float a = c.percentile_amax(p);
    const auto below =
        std::count_if(x.begin(), x.end(), [a](float v) { return std::fabs(v) <= a; });
    EXPECT_GE(double(below) * 100, p * double(x.size())) << p;
  }
}

TEST(HistogramCalibrator, DoesNotDependOnBatchingOrOrder) {
  const std::vector<float> x = mixed_data(30000, 9);
  std::vector<float> reversed(x.rbegin(), x.rend());
  ptq::histogram_calibrator whole;
  whole.observe(x.data(), x.size());
  std::uint64_t total = 0;
  for (const auto c : whole.counts()) total += c;
  EXPECT_EQ(total, x.size());
  for (const std::uint64_t seed : {1u, 2u, 3u, 4u}) {
    ptq::histogram_calibrator split;
    observe_split(split, seed % 2 != 0 ? x : reversed, seed);
    EXPECT_EQ(split.counts(), whole.counts());
    EXPECT_EQ(split.range(), whole.range());
    EXPECT_EQ(split.amax(), whole.amax());
    EXPECT_EQ(split.count(), whole.count());
    EXPECT_EQ(split.percentile_amax(99.9), whole.percentile_amax(99.9));
    EXPECT_EQ(split.mse_amax<e4m3fn>(), whole.mse_amax<e4m3fn>());
    EXPECT_EQ(split.entropy_amax(), whole.entropy_amax());
  }
}

// Brute force: the fake-quant error of the histogram for every candidate, with each bin's
// (capped) centre rounded through the scalar reference conversion.
template <class F>
double brute_force_error(const ptq::histogram_calibrator& c, float clip) {
  const float s = ptq::scale_for<F>(clip);
  double error = 0;
  for (std::size_t j = 0; j < c.bins(); ++j) {
    if (c.counts()[j] == 0) continue;
    const float centre =
        static_cast<float>(std::min((double(j) + 0.5) * c.bin_width(), double(c.amax())));
    float q;
    if constexpr (std::is_same_v<F, ptq::int8>) {
      const double r = std::nearbyint(double(ptq_test::divide(centre, s)));
      q = static_cast<float>(std::min(127.0, r)) * s;
    } else {
      q = float(fp8kit::convert<F>(ptq_test::divide(centre, s), fp8kit::saturation::finite)) * s;
    }
    const double d = double(centre) - double(q);
    error += double(c.counts()[j]) * d * d;
  }
  return error;
}

template <class F>
void expect_mse_amax_is_the_best_candidate(const std::vector<float>& x, std::size_t bins) {
  ptq::histogram_calibrator c(bins);
  c.observe(x.data(), x.size());
  std::size_t last = c.bins() - 1;
  while (c.counts()[last] == 0) --last;
  float best = -1;  // no inf sentinels: CI also runs this under -ffast-math
  double best_error = 0;
  for (std::size_t i = 1; i <= last + 1; ++i) {
    const float clip = static_cast<float>(std::min(double(i) * c.bin_width(), double(c.amax())));
    const double e = brute_force_error<F>(c, clip);
    if (best < 0 || e < best_error || (e == best_error && clip < best)) {
      best_error = e;
      best = clip;
    }
  }
  EXPECT_EQ(c.mse_amax<F>(), best);
  EXPECT_NEAR(c.mse_estimate<F>(best), best_error / double(x.size()), 1e-12 * best_error);
  EXPECT_LE(best, c.amax());
}

TEST(HistogramCalibrator, MseAmaxIsOptimalAmongItsCandidates) {
  const std::vector<float> x = mixed_data(20000, 17);
  expect_mse_amax_is_the_best_candidate<e4m3fn>(x, 512);
  expect_mse_amax_is_the_best_candidate<e5m2>(x, 512);
  expect_mse_amax_is_the_best_candidate<e3m4fn>(x, 512);
  expect_mse_amax_is_the_best_candidate<ptq::int8>(x, 512);
  const std::vector<float> g = ptq_test::gaussian(20000, 18);
  expect_mse_amax_is_the_best_candidate<e4m3fn>(g, 2048);
  expect_mse_amax_is_the_best_candidate<ptq::int8>(g, 2048);
}

TEST(HistogramCalibrator, MseAmaxClipsAGaussianForInt8) {
  // INT8's uniform grid trades clipping error for resolution, so its MSE-optimal clip lies
  // below the max of 2e5 N(0,1) samples (about 4.4); the clipped range still keeps the bulk
  // (the optimum of the Gaussian integral is near 3.9 sigma, checked in ptq_test).
  const std::vector<float> g = ptq_test::gaussian(200000, 23);
  ptq::histogram_calibrator c;
  c.observe(g.data(), g.size());
  EXPECT_LT(c.mse_amax<ptq::int8>(), c.amax());
  EXPECT_GT(c.mse_amax<ptq::int8>(), 3.0f);
}

// Straightforward KL(P || Q) for threshold i, written from the TensorRT description with
// explicit P and Q vectors; -1 stands for an infinite divergence.
double reference_kl(const std::vector<std::uint64_t>& h, std::size_t i) {
  std::vector<double> p(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(i));
  for (std::size_t k = i; k < h.size(); ++k) p[i - 1] += double(h[k]);
  std::vector<double> q(i, 0.0);
  const std::size_t levels = 128;
  for (std::size_t l = 0; l < levels; ++l) {
    std::vector<std::size_t> members;
    for (std::size_t k = 0; k < i; ++k) {
      if (k * levels / i == l) members.push_back(k);
    }
    double sum = 0, nonzero = 0;
    for (const auto k : members) {
      sum += double(h[k]);
      nonzero += h[k] != 0 ? 1 : 0;
    }
    for (const auto k : members) q[k] = h[k] != 0 ? sum / nonzero : 0.0;
  }
  double sp = 0, sq = 0;
  for (std::size_t k = 0; k < i; ++k) {
    sp += p[k];
    sq += q[k];
  }
  double kl = 0;
  for (std::size_t k = 0; k < i; ++k) {
    if (p[k] == 0) continue;
    if (q[k] == 0) return -1;
    kl += p[k] / sp * std::log((p[k] / sp) / (q[k] / sq));
  }
  return kl;
}

TEST(HistogramCalibrator, EntropyAmaxMinimisesTheKlDivergence) {
  for (const std::uint64_t seed : {31u, 32u}) {
    const std::vector<float> x = mixed_data(20000, seed);
    ptq::histogram_calibrator c(512);
    c.observe(x.data(), x.size());
    std::size_t last = c.bins() - 1;
    while (c.counts()[last] == 0) --last;
    double best = 0;
    std::size_t best_i = 0;
    for (std::size_t i = std::min<std::size_t>(128, last + 1); i <= last + 1; ++i) {
      const double kl = reference_kl(c.counts(), i);
      if (kl >= 0 && (best_i == 0 || kl < best - 1e-12)) {
        best = kl;
        best_i = i;
      }
    }
    ASSERT_GT(best_i, 0u);
    const float expected =
        static_cast<float>(std::min(double(best_i) * c.bin_width(), double(c.amax())));
    EXPECT_EQ(c.entropy_amax(), expected) << seed;
  }
}

TEST(HistogramCalibrator, EntropyAmaxClipsFarOutliersAndKeepsABoundedRange) {
  // 0.1% of the values at +-50 sigma: the KL threshold ignores them.
  ptq_test::splitmix64 g(41);
  std::vector<float> x(100000);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = i % 1000 == 0 ? (g.uniform() < 0.5 ? -50.0f : 50.0f) : float(g.normal());
  }
  ptq::histogram_calibrator c;
  c.observe(x.data(), x.size());
  EXPECT_LT(c.entropy_amax(), 10.0f);
  EXPECT_GT(c.entropy_amax(), 2.0f);
  // Few bins: the only candidate is the whole range.
  ptq::histogram_calibrator small(64);
  small.observe(x.data(), x.size());
  EXPECT_EQ(small.entropy_amax(), 50.0f);
}

// ---- max_calibrator_per_channel ------------------------------------------------------------

TEST(MaxCalibratorPerChannel, KeepsOneRunningMaxPerRowOrColumn) {
  const float x[] = {1, -4, 3, 2};  // 2 x 2
  ptq::max_calibrator_per_channel rows(2, 2, fp8kit::channel_axis::rows);
  ptq::max_calibrator_per_channel cols(2, 2, fp8kit::channel_axis::cols);
  rows.observe(x, 4);
  cols.observe(x, 4);
  EXPECT_EQ(rows.amax(), (std::vector<float>{4, 3}));
  EXPECT_EQ(cols.amax(), (std::vector<float>{3, 4}));
  const float y[] = {0, 0, -9, 0.5f, /* second matrix */ 5, 0, 0, 0};
  rows.observe(y, 8);
  cols.observe(y, 8);
  EXPECT_EQ(rows.amax(), (std::vector<float>{5, 9}));
  EXPECT_EQ(cols.amax(), (std::vector<float>{9, 4}));
  EXPECT_EQ(rows.count(), 12u);
  EXPECT_EQ(rows.channels(), 2u);
  EXPECT_EQ(rows.scales<e4m3fn>(), (std::vector<float>{5.0f / 448, 9.0f / 448}));
  EXPECT_EQ(cols.scales<ptq::int8>(), (std::vector<float>{9.0f / 127, 4.0f / 127}));
}

TEST(MaxCalibratorPerChannel, ActivationsWithOneRowAcceptAnyNumberOfTokens) {
  ptq::max_calibrator_per_channel c(1, 3, fp8kit::channel_axis::cols);
  const float tokens[] = {1, 2, 3, -4, 0, 0, 0, 0, -7};  // 3 tokens x 3 features
  c.observe(tokens, 9);
  c.observe(tokens, 3);
  EXPECT_EQ(c.amax(), (std::vector<float>{4, 2, 7}));
  EXPECT_THROW(c.observe(tokens, 4), std::invalid_argument);  // not whole tokens
  EXPECT_EQ(c.count(), 12u);
}

TEST(MaxCalibratorPerChannel, MatchesAPerTensorCalibratorOnEachChannel) {
  const std::size_t rows = 7, cols = 33;
  const std::vector<float> x = mixed_data(rows * cols * 3, 51);
  ptq::max_calibrator_per_channel by_row(rows, cols, fp8kit::channel_axis::rows);
  ptq::max_calibrator_per_channel by_col(rows, cols, fp8kit::channel_axis::cols);
  by_row.observe(x.data(), rows * cols);
  by_row.observe(x.data() + rows * cols, 2 * rows * cols);
  by_col.observe(x.data(), x.size());
  for (std::size_t r = 0; r < rows; ++r) {
    ptq::max_calibrator ref;
    for (std::size_t m = 0; m < 3; ++m) ref.observe(x.data() + m * rows * cols + r * cols, cols);
    EXPECT_EQ(by_row.amax()[r], ref.amax()) << r;
  }
  for (std::size_t c = 0; c < cols; ++c) {
    ptq::max_calibrator ref;
    for (std::size_t r = 0; r < 3 * rows; ++r) ref.observe(&x[r * cols + c], 1);
    EXPECT_EQ(by_col.amax()[c], ref.amax()) << c;
  }
}

TEST(MaxCalibratorPerChannel, RejectsBadShapesAndBatchesWithoutChangingState) {
  EXPECT_THROW(ptq::max_calibrator_per_channel(0, 4, fp8kit::channel_axis::rows),
               std::invalid_argument);
  EXPECT_THROW(ptq::max_calibrator_per_channel(4, 0, fp8kit::channel_axis::cols),
               std::invalid_argument);
  ptq::max_calibrator_per_channel c(2, 2, fp8kit::channel_axis::rows);
  EXPECT_THROW(c.amax(), std::logic_error);
  c.observe(nullptr, 0);
  EXPECT_THROW(c.amax(), std::logic_error);
  EXPECT_THROW(c.scales<e4m3fn>(), std::logic_error);
  const float good[] = {1, 2, 3, 4};
  c.observe(good, 4);
  const float bad[] = {100, nan_f, 100, 100};
  EXPECT_THROW(c.observe(bad, 4), std::invalid_argument);
  const float three[] = {100, 100, 100};
  EXPECT_THROW(c.observe(three, 3), std::invalid_argument);
  EXPECT_EQ(c.amax(), (std::vector<float>{2, 4}));
  EXPECT_EQ(c.count(), 4u);
  c.reset();
  EXPECT_THROW(c.amax(), std::logic_error);
}

}  // namespace
