#pragma once
// Error metrics between a reference tensor and its (fake-)quantized approximation.
// Every sum is accumulated in double, element by element in index order (deterministic), in
// the default FP environment (subnormal inputs are never flushed, whatever the caller's MXCSR).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "../bulk.hpp"
#include "../config.hpp"
#include "../detail/checks.hpp"
#include "detail/float_bits.hpp"

#if FP8KIT_HAS_SPAN
#include <span>
#endif

namespace fp8kit::ptq {
namespace detail {

/// 1 if x is NaN or +-inf, on the bits (safe under -ffast-math).
inline std::uint32_t non_finite(float x) noexcept {
  return static_cast<std::uint32_t>((float_bits(x) & 0x7F800000u) == 0x7F800000u);
}

struct error_sums {
  double signal = 0;  // sum ref^2
  double noise = 0;   // sum (ref - approx)^2
  double dot = 0;     // sum ref * approx
  double approx = 0;  // sum approx^2
  bool finite = true;
};

inline error_sums sum_errors(const float* ref, const float* approx, std::size_t n) noexcept {
  fp8kit::detail::default_fp_env env;  // no DAZ: subnormal inputs count as themselves
  error_sums s;
  std::uint32_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    bad |= non_finite(ref[i]) | non_finite(approx[i]);
    const double r = ref[i];
    const double a = approx[i];
    const double d = r - a;
    s.signal += r * r;
    s.noise += d * d;
    s.dot += r * a;
    s.approx += a * a;
  }
  s.finite = bad == 0;
  return s;
}

inline double nan() noexcept { return std::numeric_limits<double>::quiet_NaN(); }

/// Throws std::invalid_argument if ref or approx is null while n > 0.
inline void check_arrays(const float* ref, const float* approx, std::size_t n,
                         const char* function) {
  fp8kit::detail::check_pointer(ref, n, function, "ref");
  fp8kit::detail::check_pointer(approx, n, function, "approx");
}

}  // namespace detail

// Every metric returns NaN if either array holds a NaN or an infinity (checked on the bits, so
// also under -ffast-math): errors of non-finite data are undefined. A null ref or approx with
// n > 0 throws std::invalid_argument (null with n == 0 is an empty array).

/// Signal-to-quantization-noise ratio in dB: 10 log10(sum ref^2 / sum (ref - approx)^2).
/// Identical arrays (zero noise) give +inf; a zero reference (including n == 0) gives NaN
/// whatever the approximation.
/// Example: ref = {3, 4}, approx = {3, 3} -> 10 log10(25) = 13.9794 dB
inline double sqnr_db(const float* ref, const float* approx, std::size_t n) {
  detail::check_arrays(ref, approx, n, "ptq::sqnr_db");
  const detail::error_sums s = detail::sum_errors(ref, approx, n);
  if (!s.finite || s.signal == 0.0) return detail::nan();
  if (s.noise == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(s.signal / s.noise);
}

/// Mean squared error: sum (ref - approx)^2 / n; NaN for n == 0.
/// Example: ref = {3, 4}, approx = {3, 3} -> 0.5
inline double mse(const float* ref, const float* approx, std::size_t n) {
  detail::check_arrays(ref, approx, n, "ptq::mse");
  const detail::error_sums s = detail::sum_errors(ref, approx, n);
  if (!s.finite || n == 0) return detail::nan();
  return s.noise / double(n);
}

/// Cosine similarity sum(ref * approx) / (|ref| |approx|), clamped to [-1, 1] (rounding could
/// otherwise step past 1 for identical arrays). NaN if either norm is 0 (or n == 0).
/// Example: ref = {3, 4}, approx = {3, 3} -> 21 / (5 * sqrt(18)) = 0.989949
inline double cosine_similarity(const float* ref, const float* approx, std::size_t n) {
  detail::check_arrays(ref, approx, n, "ptq::cosine_similarity");
  const detail::error_sums s = detail::sum_errors(ref, approx, n);
  if (!s.finite || s.signal == 0.0 || s.approx == 0.0) return detail::nan();
  const double c = s.dot / (std::sqrt(s.signal) * std::sqrt(s.approx));
  return c > 1.0 ? 1.0 : c < -1.0 ? -1.0 : c;
}

/// max |ref - approx|, each difference computed in double; 0 for n == 0.
/// Example: ref = {3, 4}, approx = {3, 3} -> 1
inline double max_abs_error(const float* ref, const float* approx, std::size_t n) {
  detail::check_arrays(ref, approx, n, "ptq::max_abs_error");
  fp8kit::detail::default_fp_env env;
  std::uint32_t bad = 0;
  double m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    bad |= detail::non_finite(ref[i]) | detail::non_finite(approx[i]);
    const double d = std::fabs(double(ref[i]) - double(approx[i]));
    m = d > m ? d : m;
  }
  return bad != 0 ? detail::nan() : m;
}

#if FP8KIT_HAS_SPAN
inline double sqnr_db(std::span<const float> ref, std::span<const float> approx) {
  fp8kit::detail::check_sizes(ref.size(), approx.size(), "ptq::sqnr_db");
  return sqnr_db(ref.data(), approx.data(), ref.size());
}
inline double mse(std::span<const float> ref, std::span<const float> approx) {
  fp8kit::detail::check_sizes(ref.size(), approx.size(), "ptq::mse");
  return mse(ref.data(), approx.data(), ref.size());
}
inline double cosine_similarity(std::span<const float> ref, std::span<const float> approx) {
  fp8kit::detail::check_sizes(ref.size(), approx.size(), "ptq::cosine_similarity");
  return cosine_similarity(ref.data(), approx.data(), ref.size());
}
inline double max_abs_error(std::span<const float> ref, std::span<const float> approx) {
  fp8kit::detail::check_sizes(ref.size(), approx.size(), "ptq::max_abs_error");
  return max_abs_error(ref.data(), approx.data(), ref.size());
}
#endif

}  // namespace fp8kit::ptq
