#pragma once
// Calibrators: observe batches of a tensor and choose its amax (then a scale for a format).
// - max_calibrator: running max |x|.
// - ema_calibrator: exponential moving average of the per-batch max |x|.
// - histogram_calibrator: histogram of |x|, then percentile, MSE-optimal or entropy (KL) amax.
// - max_calibrator_per_channel: running max |x| per row or per column of matrices.
// Common contract: a batch containing NaN or +-inf, or a null batch with n > 0, throws
// std::invalid_argument and leaves the calibrator unchanged; an empty batch is a no-op; amax() (and
// everything derived from it) throws std::logic_error until at least one element was observed.
// Except for the moving average, results depend only on the multiset of values seen, never on how
// it was batched.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../convert.hpp"
#include "../detail/checks.hpp"
#include "../scaling.hpp"
#include "fake_quant.hpp"
#include "int8.hpp"

namespace fp8kit::ptq {
namespace detail {

/// max |x| of a batch; throws std::invalid_argument (changing nothing) if x is null with n > 0
/// or the batch has a NaN or inf. `function` is the observe, e.g. "ptq::max_calibrator::observe".
inline float checked_amax(const float* x, std::size_t n, const char* function) {
  fp8kit::detail::check_pointer(x, n, function, "x");
  const float a = fp8kit::amax(x, n);  // NaN if any NaN, else inf if any inf
  if (!is_finite_bits(a)) fp8kit::detail::throw_invalid(function, "batch contains NaN or infinity");
  return a;
}

/// max(a, b) for non-negative floats, on the bits (they order like the values): immune to
/// DAZ, whatever the compiler reorders around the FP-environment guard.
inline float max_nonnegative(float a, float b) noexcept {
  return float_bits(a) > float_bits(b) ? a : b;
}

/// x = m * 2^e exactly, with m < 2^24 an integer (finite x; sign ignored).
struct float_parts {
  std::uint64_t m;
  int e;
};

inline float_parts split(float x) noexcept {
  const std::uint32_t b = float_bits(x) & 0x7FFFFFFFu;
  const std::uint32_t biased = b >> 23;
  const std::uint32_t m = b & 0x7FFFFFu;
  if (biased == 0) return {m, -149};  // zero or subnormal
  return {m | 0x800000u, static_cast<int>(biased) - 150};
}

/// The e with 2^(e-1) <= x < 2^e for a finite x > 0 (frexp's exponent), from the bits.
inline int binary_exponent(float x) noexcept {
  const float_parts p = split(x);
  int top = 0;  // index of the highest set bit of p.m
  while ((p.m >> (top + 1)) != 0) ++top;
  return p.e + top + 1;
}

[[noreturn]] inline void throw_no_data(const char* who) {
  throw std::logic_error(std::string("fp8kit::ptq::") + who + ": no data observed yet");
}

}  // namespace detail

/// Running max |x| over every batch observed.
/// Example: observe {1, -3}, then {2} -> amax() == 3, count() == 3,
///          scale<e4m3fn>() == 3 / 448.f
class max_calibrator {
 public:
  max_calibrator() = default;

  /// Adds a batch of n values. Throws std::invalid_argument (state unchanged) if a value is
  /// NaN or infinite, or x is null with n > 0. n == 0 is a no-op (x may then be null).
  void observe(const float* x, std::size_t n) {
    const float a = detail::checked_amax(x, n, "ptq::max_calibrator::observe");
    amax_ = detail::max_nonnegative(a, amax_);
    count_ += n;
  }

  /// Number of elements observed so far.
  std::size_t count() const noexcept { return count_; }

  /// max |x| seen. Throws std::logic_error before any element was observed.
  float amax() const {
    if (count_ == 0) detail::throw_no_data("max_calibrator::amax");
    return amax_;
  }

  /// scale_for<F>(amax(), o): the dequantization scale for format F (fp8 type or ptq::int8).
  template <class F>
  float scale(scale_options o = {}) const {
    return scale_for<F>(amax(), o);
  }

  /// Forgets everything observed.
  void reset() noexcept { *this = max_calibrator(); }

 private:
  float amax_ = 0;
  std::size_t count_ = 0;
};

/// Exponential moving average of the per-batch max |x| (the PyTorch MovingAverage observer):
/// the first non-empty batch sets m = max|batch|, each later one does m += c * (max|batch| - m),
/// in double. Depends on the batching by design. Empty batches do not move the average.
/// Example: c = 0.5, batch maxima 4, 8, 0 -> amax() 4, 6, 3
class ema_calibrator {
 public:
  /// Throws std::invalid_argument unless 0 < c <= 1 (c == 1 keeps the last batch's max).
  explicit ema_calibrator(float c = 0.01f) : c_(c) {
    if (detail::is_nan_bits(c) || !(c > 0.0f && c <= 1.0f)) {
      throw std::invalid_argument("fp8kit::ptq::ema_calibrator: c must be in (0, 1]");
    }
  }

  /// Adds a batch (see max_calibrator::observe).
  void observe(const float* x, std::size_t n) {
    const float a = detail::checked_amax(x, n, "ptq::ema_calibrator::observe");
    if (n == 0) return;
    fp8kit::detail::default_fp_env env;
    // Exact, environment-free float -> double conversions (a DAZ caller cannot flush them).
    const double batch_max = fp8kit::convert<double>(a);
    ema_ = count_ == 0 ? batch_max : ema_ + fp8kit::convert<double>(c_) * (batch_max - ema_);
    count_ += n;
  }

  std::size_t count() const noexcept { return count_; }

  /// The moving average, rounded to float (nearest even). Throws std::logic_error before any data.
  float amax() const {
    if (count_ == 0) detail::throw_no_data("ema_calibrator::amax");
    return fp8kit::convert<float>(ema_);  // integer-only rounding: no FTZ, any rounding mode
  }

  template <class F>
  float scale(scale_options o = {}) const {
    return scale_for<F>(amax(), o);
  }

  /// The averaging constant c.
  float constant() const noexcept { return c_; }

  void reset() noexcept {
    ema_ = 0;
    count_ = 0;
  }

 private:
  float c_;
  double ema_ = 0;
  std::size_t count_ = 0;
};

/// Histogram of |x| with `bins` equal bins over [0, R), where R is the smallest power of two
/// above the largest |x| seen (bin i holds |x| in [i R / bins, (i + 1) R / bins)). When a batch
/// exceeds R, R doubles (as often as needed) and each pair of bins merges into one, so no count
/// is lost. Bin indices are computed exactly, hence the final histogram depends only on the
/// values seen, never on the batching. Counts are 64-bit. Since amax() >= R / 2, the data
/// always spans more than half of the bins.
/// Selection (all capped at amax(), all 0 for all-zero data):
/// - percentile_amax(p): upper edge of the first bin where the cumulative count reaches p%;
/// - mse_amax<F>(): the candidate minimising the histogram's fake-quant MSE through F;
/// - entropy_amax(): TensorRT's KL-divergence threshold for 128 levels (INT8-oriented).
class histogram_calibrator {
 public:
  using counts_type = std::vector<std::uint64_t>;

  /// Throws std::invalid_argument unless 1 <= bins <= 2^24.
  explicit histogram_calibrator(std::size_t bins = 2048) : counts_(check_bins(bins), 0) {}

  /// Adds a batch (see max_calibrator::observe). O(n), no allocation.
  void observe(const float* x, std::size_t n) {
    const float a = detail::checked_amax(x, n, "ptq::histogram_calibrator::observe");
    if (n == 0) return;
    count_ += n;
    max_ = detail::max_nonnegative(a, max_);
    if (detail::float_bits(a) == 0) {  // all zeros: bin 0 whatever the range
      counts_[0] += n;
      return;
    }
    const int e = detail::binary_exponent(a);  // 2^(e-1) <= a < 2^e
    if (!has_range_) {
      exponent_ = e;
      has_range_ = true;
    } else if (e > exponent_) {
      merge(e - exponent_);
      exponent_ = e;
    }
    // Bin of |x| = m 2^p: floor(|x| bins / 2^exponent_) = (m bins) >> (exponent_ - p), in
    // integers (m bins < 2^48; the shift is >= 1 since |x| < 2^exponent_): exact, and immune
    // to the FP environment and -ffast-math.
    const std::uint64_t bins = counts_.size();
    for (std::size_t i = 0; i < n; ++i) {
      const detail::float_parts v = detail::split(x[i]);
      const int shift = exponent_ - v.e;
      ++counts_[shift >= 64 ? 0 : static_cast<std::size_t>((v.m * bins) >> shift)];
    }
  }

  std::size_t count() const noexcept { return static_cast<std::size_t>(count_); }

  /// The exact max |x| seen. Throws std::logic_error before any data.
  float amax() const {
    require_data("amax");
    return max_;
  }

  /// scale_for<F>(amax(), o). (For a clipped scale: scale_for<F>(percentile_amax(p)) etc.)
  template <class F>
  float scale(scale_options o = {}) const {
    return scale_for<F>(amax(), o);
  }

  std::size_t bins() const noexcept { return counts_.size(); }
  /// The bin counts (bins() of them).
  const counts_type& counts() const noexcept { return counts_; }
  /// R / bins (exact when bins is a power of two); 0 while only zeros were seen.
  double bin_width() const noexcept { return edge(1.0); }
  /// R, the upper end of the last bin; 0 while only zeros were seen.
  double range() const noexcept { return has_range_ ? std::ldexp(1.0, exponent_) : 0.0; }

  /// Upper edge of the first bin at which the cumulative count reaches p% of count() (compared
  /// as cum * 100 >= p * count in double), capped at amax(): at least p% of the values seen
  /// are <= the result. percentile_amax(100) == amax().
  /// Throws std::invalid_argument unless 0 < p <= 100; std::logic_error before any data.
  /// Example: 2048 bins, values 0.5, 1, 1.5, ..., 5 (10 values): R = 8,
  ///          percentile_amax(50) == 2.50390625 (upper edge of the bin holding 2.5)
  float percentile_amax(double p) const {
    if (detail::is_nan_bits(p) || !(p > 0.0 && p <= 100.0)) {
      throw std::invalid_argument(
          "fp8kit::ptq::histogram_calibrator::percentile_amax: p must be in (0, 100]");
    }
    require_data("percentile_amax");
    if (detail::float_bits(max_) == 0) return 0.0f;
    const double target = p * double(count_);
    std::uint64_t cum = 0;
    std::size_t i = 0;
    for (; i + 1 < counts_.size(); ++i) {
      cum += counts_[i];
      if (double(cum) * 100.0 >= target) break;
    }
    return capped_edge(i + 1);
  }

  /// The clipping amax minimising the mean squared fake-quant error of the histogram in format
  /// F (an fp8 type or ptq::int8): each bin is represented by its centre (capped at amax()) with
  /// its count, and fake-quantized through F itself (saturating) with scale_for<F>(candidate).
  /// Candidates: the upper edge of every bin up to the last non-empty one, capped at amax()
  /// (so amax() itself is the last). Ties go to the smaller amax.
  /// Throws std::logic_error before any data.
  template <class F>
  float mse_amax() const {
    require_data("mse_amax");
    if (detail::float_bits(max_) == 0) return 0.0f;
    fp8kit::detail::default_fp_env env;  // the error sums: no DAZ on subnormal centres
    std::vector<float> centres;
    std::vector<double> weights;
    collect_centres(centres, weights);
    std::vector<float> approx(centres.size());
    const std::size_t last = last_nonempty();
    float best_amax = max_;
    double best_error = 0;
    for (std::size_t i = 1; i <= last + 1; ++i) {
      const float candidate = capped_edge(i);
      const double error = fake_quant_error<F>(centres, weights, candidate, approx);
      if (i == 1 || error < best_error) {  // strict: ties keep the smaller candidate
        best_error = error;
        best_amax = candidate;
      }
    }
    return best_amax;
  }

  /// The weighted squared error sum_j count_j (c_j - fq(c_j))^2 / count() that mse_amax<F>
  /// minimises, for one clipping value (c_j: the capped bin centres).
  /// Throws std::invalid_argument for a negative or non-finite clip; std::logic_error before any
  /// data.
  template <class F>
  double mse_estimate(float clip) const {
    fp8kit::detail::check_amax(clip, "ptq::histogram_calibrator::mse_estimate");
    require_data("mse_estimate");
    fp8kit::detail::default_fp_env env;
    std::vector<float> centres;
    std::vector<double> weights;
    collect_centres(centres, weights);
    std::vector<float> approx(centres.size());
    return fake_quant_error<F>(centres, weights, clip, approx) / double(count_);
  }

  /// TensorRT's entropy calibration (Migacz, "8-bit Inference with TensorRT", 2017). For each
  /// candidate threshold i (in bins, from min(128, last + 1) to last + 1, last = the last
  /// non-empty bin): the reference P is bins [0, i) with the clipped counts added to bin i - 1;
  /// Q merges those i bins into 128 levels (bin k -> level floor(128 k / i)) and spreads each
  /// level's count evenly over its non-empty bins. Returns the upper edge of bin i - 1 for the
  /// i minimising KL(P || Q) (ties to the smaller; infinite divergences never win), capped at
  /// amax(). Bin 0 is used as is (no ReLU special case). Throws std::logic_error before any data.
  float entropy_amax() const {
    require_data("entropy_amax");
    if (detail::float_bits(max_) == 0) return 0.0f;
    constexpr std::size_t levels = 128;
    const std::size_t end = last_nonempty() + 1;  // candidates i in [first, end]
    const std::size_t first = end < levels ? end : levels;
    std::uint64_t inside = 0;  // sum of bins [0, i)
    for (std::size_t k = 0; k < first; ++k) inside += counts_[k];
    std::vector<double> level_sum(levels);
    std::vector<std::uint64_t> level_nonzero(levels);
    float best_amax = max_;  // i == end always has a finite divergence, so this is replaced
    double best = 0;
    bool found = false;
    for (std::size_t i = first; i <= end; ++i) {
      if (i > first) inside += counts_[i - 1];
      double kl = 0;
      if (!divergence(i, levels, inside, level_sum, level_nonzero, kl)) continue;
      if (!found || kl < best) {  // strict: ties keep the smaller threshold
        found = true;
        best = kl;
        best_amax = capped_edge(i);
      }
    }
    return best_amax;
  }

  /// Forgets everything observed (keeps the number of bins).
  void reset() noexcept {
    for (auto& c : counts_) c = 0;
    count_ = 0;
    max_ = 0;
    exponent_ = 0;
    has_range_ = false;
  }

 private:
  static std::size_t check_bins(std::size_t bins) {
    if (bins == 0 || bins > (std::size_t{1} << 24)) {
      throw std::invalid_argument("fp8kit::ptq::histogram_calibrator: bins must be in [1, 2^24]");
    }
    return bins;
  }

  void require_data(const char* what) const {
    if (count_ == 0) {
      detail::throw_no_data((std::string("histogram_calibrator::") + what).c_str());
    }
  }

  /// R grows by 2^shift: bin i moves to bin i >> shift (the exact floor of i / 2^shift).
  void merge(int shift) noexcept {
    const auto s = static_cast<unsigned>(shift);
    for (std::size_t i = 1; i < counts_.size(); ++i) {
      const std::size_t to = s >= 64 ? 0 : i >> s;
      const std::uint64_t c = counts_[i];
      counts_[i] = 0;
      counts_[to] += c;
    }
  }

  std::size_t last_nonempty() const noexcept {
    std::size_t last = counts_.size() - 1;
    while (last > 0 && counts_[last] == 0) --last;
    return last;
  }

  /// (position / bins) * R: the bin edge at `position` (in bins), one rounding; 0 without range.
  double edge(double position) const noexcept {
    return has_range_ ? std::ldexp(position / double(counts_.size()), exponent_) : 0.0;
  }

  /// min(edge, amax) rounded to float; never above amax (rounding is monotonic). The
  /// conversions are the core's integer-only ones: no DAZ/FTZ, any rounding mode.
  float capped(double position) const noexcept {
    const double e = edge(position);
    return e >= fp8kit::convert<double>(max_) ? max_ : fp8kit::convert<float>(e);
  }

  float capped_edge(std::size_t i) const noexcept { return capped(double(i)); }
  float capped_centre(std::size_t j) const noexcept { return capped(double(j) + 0.5); }

  /// The non-empty bins as (centre capped at amax, count) pairs.
  void collect_centres(std::vector<float>& centres, std::vector<double>& weights) const {
    for (std::size_t j = 0; j < counts_.size(); ++j) {
      if (counts_[j] == 0) continue;
      centres.push_back(capped_centre(j));
      weights.push_back(double(counts_[j]));
    }
  }

  template <class F>
  static double fake_quant_error(const std::vector<float>& centres,
                                 const std::vector<double>& weights, float clip,
                                 std::vector<float>& approx) {
    fake_quantize_tensor<F>(centres.data(), approx.data(), centres.size(), scale_for<F>(clip));
    double error = 0;
    for (std::size_t j = 0; j < centres.size(); ++j) {
      const double d = double(centres[j]) - double(approx[j]);
      error += weights[j] * d * d;
    }
    return error;
  }

  /// kl = KL(P || Q) for threshold i (see entropy_amax). Returns false where the divergence is
  /// infinite (Q has no mass where P has some). No inf sentinel: safe under -ffast-math.
  bool divergence(std::size_t i, std::size_t levels, std::uint64_t inside,
                  std::vector<double>& level_sum, std::vector<std::uint64_t>& level_nonzero,
                  double& kl) const {
    if (inside == 0) return false;
    for (std::size_t l = 0; l < levels; ++l) {
      level_sum[l] = 0;
      level_nonzero[l] = 0;
    }
    for (std::size_t k = 0; k < i; ++k) {
      const std::size_t l = k * levels / i;
      level_sum[l] += double(counts_[k]);
      if (counts_[k] != 0) ++level_nonzero[l];
    }
    const double total_p = double(count_);
    const double total_q = double(inside);
    kl = 0;
    for (std::size_t k = 0; k < i; ++k) {
      double p = double(counts_[k]);
      if (k + 1 == i) p += double(count_ - inside);  // the clipped tail lands in the last bin
      if (p == 0.0) continue;
      if (counts_[k] == 0) return false;
      const std::size_t l = k * levels / i;
      const double q = level_sum[l] / double(level_nonzero[l]);
      const double pn = p / total_p;
      kl += pn * std::log(pn / (q / total_q));
    }
    return true;
  }

  counts_type counts_;
  std::uint64_t count_ = 0;
  float max_ = 0;
  int exponent_ = 0;  // R = 2^exponent_
  bool has_range_ = false;
};

/// Running max |x| per channel of row-major [rows x cols] matrices: one value per row
/// (channel_axis::rows, e.g. the output channels of an [out x in] weight) or per column
/// (channel_axis::cols, e.g. the hidden features of [tokens x hidden] activations).
/// observe(x, n) takes n / (rows * cols) such matrices stored one after another (n must be a
/// multiple of rows * cols); for activations with a varying number of tokens use rows = 1 and
/// axis cols, so any multiple of cols is accepted. Batch rules as for max_calibrator.
/// Example: rows 2, cols 2, axis rows; observe {1, -4, 3, 2} -> amax() == {4, 3}
class max_calibrator_per_channel {
 public:
  /// Throws std::invalid_argument if rows or cols is 0 or rows * cols overflows.
  max_calibrator_per_channel(std::size_t rows, std::size_t cols, channel_axis axis)
      : rows_(rows), cols_(cols), axis_(axis) {
    if (rows == 0 || cols == 0) {
      fp8kit::detail::throw_invalid("ptq::max_calibrator_per_channel", "rows and cols must be > 0");
    }
    fp8kit::detail::checked_product(rows, cols, "ptq::max_calibrator_per_channel");
    amax_.assign(channels(), 0.0f);
    batch_.assign(channels(), 0.0f);
  }

  /// Adds n / (rows * cols) matrices. Throws std::invalid_argument (state unchanged) if n is
  /// not a multiple of rows * cols, x is null with n > 0, or a value is NaN or infinite.
  /// n == 0 is a no-op.
  void observe(const float* x, std::size_t n) {
    constexpr const char* function = "ptq::max_calibrator_per_channel::observe";
    if (n % (rows_ * cols_) != 0) {
      fp8kit::detail::throw_invalid(function, "n must be a multiple of rows * cols");
    }
    detail::checked_amax(x, n, function);
    if (n == 0) return;
    if (axis_ == channel_axis::cols) {  // the stack is one taller matrix with the same columns
      amax_per_channel(x, n / cols_, cols_, axis_, batch_.data());
      merge();
    } else {
      for (std::size_t m = 0; m < n; m += rows_ * cols_) {
        amax_per_channel(x + m, rows_, cols_, axis_, batch_.data());
        merge();
      }
    }
    count_ += n;
  }

  std::size_t count() const noexcept { return count_; }
  /// rows (axis rows) or cols (axis cols).
  std::size_t channels() const noexcept { return axis_ == channel_axis::rows ? rows_ : cols_; }
  channel_axis axis() const noexcept { return axis_; }

  /// max |x| of every channel. Throws std::logic_error before any data.
  const std::vector<float>& amax() const {
    if (count_ == 0) detail::throw_no_data("max_calibrator_per_channel::amax");
    return amax_;
  }

  /// scale_for<F>(amax()[k], o) for every channel k (all-zero channels get 1).
  template <class F>
  std::vector<float> scales(scale_options o = {}) const {
    std::vector<float> s(amax().size());
    for (std::size_t k = 0; k < s.size(); ++k) s[k] = scale_for<F>(amax_[k], o);
    return s;
  }

  void reset() noexcept {
    for (auto& a : amax_) a = 0;
    count_ = 0;
  }

 private:
  void merge() noexcept {
    for (std::size_t k = 0; k < amax_.size(); ++k) {
      amax_[k] = detail::max_nonnegative(batch_[k], amax_[k]);
    }
  }

  std::size_t rows_, cols_;
  channel_axis axis_;
  std::vector<float> amax_;
  std::vector<float> batch_;  // scratch for one batch, so observe does not allocate
  std::size_t count_ = 0;
};

}  // namespace fp8kit::ptq
