#pragma once
// Symmetric INT8 baseline with the same API shape as the fp8 bulk functions, so FP8 and INT8
// can be compared on the same data: q = clamp(rne(fl(x / scale)), -127, 127), x ~= q * scale.
// Argument checks as in bulk.hpp (a null pointer with n > 0 throws; see docs/bad_input.md).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "../bulk.hpp"
#include "../config.hpp"
#include "../convert.hpp"
#include "../detail/checks.hpp"
#include "../scale.hpp"
#include "detail/float_bits.hpp"

#if FP8KIT_HAS_SPAN
#include <span>
#endif

namespace fp8kit::ptq {

/// Format tag for the symmetric INT8 baseline: pass it wherever the ptq layer takes a format F
/// (`calibrator.scale<int8>()`, `mse_amax<int8>()`, `fake_quantize_grad<int8>`, ...).
struct int8 {
  static constexpr double max_finite = 127;  // the grid is {-127, ..., 127} * scale
};

namespace detail {

/// Rounds t to the nearest integer in [-127, 127], ties to even; NaN gives 0. Integer steps
/// only (no float compare, so loops vectorise and the rounding mode does not matter):
/// 1. clamp |t| to 127 on the bits (inf too); NaN becomes 0 through a mask;
/// 2. f = |t| * 2^24 truncated: exact for |t| >= 0.5 (its ulp is >= 2^-24), < 2^23 below, and
///    < 2^31 since |t| <= 127;
/// 3. round f / 2^24 to nearest even: (f + 2^23 - 1 + lsb) >> 24; then restore the sign.
/// Checked against nearbyint for all 2^32 floats.
inline int int8_round(float t) noexcept {
  const std::uint32_t bits = float_bits(t);
  const std::uint32_t mag = bits & 0x7FFFFFFFu;
  std::uint32_t a = mag < 0x42FE0000u ? mag : 0x42FE0000u;   // 0x42FE0000 = 127.0f
  a &= 0u - static_cast<std::uint32_t>(mag <= 0x7F800000u);  // NaN -> +0
  const auto f = static_cast<std::int32_t>(bits_float(a) * 16777216.0f);
  const std::int32_t q = (f + 0x7FFFFF + ((f >> 24) & 1)) >> 24;
  const std::int32_t neg = -static_cast<std::int32_t>(bits >> 31);  // 0 or -1
  return (q ^ neg) - neg;
}

/// The quotient fl(x / scale) as a float, computed as float(double(x) / divisor) where
/// divisor == double(scale): rounding the double quotient to float gives exactly fl(x / scale)
/// (double rounding is innocuous for division since 53 >= 2 * 24 + 2), and the double quotient
/// of two finite floats never overflows, so no FP operation sees an inf (which -ffast-math
/// treats as impossible). A float overflow of the final conversion gives +-inf, handled on bits.
inline float quotient(float x, double divisor) noexcept {
  return static_cast<float>(double(x) / divisor);
}

/// The INT8 code of x for a quotient t = quotient(x, divisor): int8_round(t) for finite x,
/// +-127 for +-inf, 0 for NaN. Decided on x's bits with masks (no select the optimiser could
/// turn into a branch), so loops vectorise and -ffast-math cannot drop the special cases.
inline int int8_code(float x, float t) noexcept {
  const std::uint32_t xb = float_bits(x);
  const std::uint32_t mag = xb & 0x7FFFFFFFu;
  const int inf_code = 127 - 254 * static_cast<int>(xb >> 31);
  const int is_inf = -static_cast<int>(mag == 0x7F800000u);  // all ones or 0
  const int finite = -static_cast<int>(mag < 0x7F800000u);
  return (int8_round(t) & finite) | (inf_code & is_inf);  // NaN: 0
}

/// Calls op(i, x[i], fl(x[i] / scales[i * stride])) for i < n (stride 0: one scale).
/// Vectorisable and exact under any compiler flags: -ffast-math would turn a float division
/// loop into reciprocal approximations (GCC's vec-div RCP + Newton step, or a hoisted
/// 1 / scale), which round differently. So the divisors come from a chunk-sized array of
/// doubles refilled through opaque() for every chunk, which the optimiser cannot see through.
template <class Op>
void for_each_quotient(const float* x, std::size_t n, const float* scales, std::size_t stride,
                       Op op) {
  constexpr std::size_t chunk = 64;
  double divisor[chunk];
  for (std::size_t i0 = 0; i0 < n; i0 += chunk) {
    const std::size_t len = n - i0 < chunk ? n - i0 : chunk;
    for (std::size_t k = 0; k < len; ++k) {
      divisor[k] = fp8kit::detail::opaque(double(scales[(i0 + k) * stride]));
    }
    for (std::size_t k = 0; k < len; ++k) {
      op(i0 + k, x[i0 + k], quotient(x[i0 + k], divisor[k]));
    }
  }
}

}  // namespace detail

/// The INT8 dequantization scale for `amax`: fl(amax / 127), so amax maps to the code 127.
/// amax == 0 (or -0) gives 1. Throws std::invalid_argument for a negative or non-finite amax.
/// The result is finite, > 0 and normal (tiny results are raised to FLT_MIN). Independent of
/// the caller's FP environment.
/// Example: int8_scale_from_amax(254.0f) == 2.0f
inline float int8_scale_from_amax(float amax) {
  fp8kit::detail::check_amax(amax, "ptq::int8_scale_from_amax");
  if ((detail::float_bits(amax) & 0x7FFFFFFFu) == 0) return 1.0f;  // bits: a DAZ-proof test
  fp8kit::detail::default_fp_env env;
  const float scale = amax / fp8kit::detail::opaque(127.0f);
  // Below FLT_MIN (0x00800000) -> FLT_MIN, decided on the bits.
  return detail::float_bits(scale) < 0x00800000u ? std::numeric_limits<float>::min() : scale;
}

/// int8_scale_from_amax with scale_options, mirroring scale_from_amax<F>:
/// amax / (127 * o.backoff) * 2^o.margin computed in double and rounded once to float; with
/// o.pow2 that double is rounded up to a power of two in [2^-126, 2^127]. Otherwise clamped to
/// [FLT_MIN, FLT_MAX]. Default options give exactly int8_scale_from_amax(amax).
/// Throws std::invalid_argument as int8_scale_from_amax does, for a backoff outside (0, 1] or
/// a non-finite margin.
/// Example: int8_scale_from_amax(300.0f, {0, 1, true}) == 4.0f   (300 / 127 = 2.36)
inline float int8_scale_from_amax(float amax, scale_options o) {
  fp8kit::detail::check_scale_options(o, "ptq::int8_scale_from_amax");
  if (o.margin == 0.0f && o.backoff == 1.0f && !o.pow2) return int8_scale_from_amax(amax);
  fp8kit::detail::check_amax(amax, "ptq::int8_scale_from_amax");
  if ((detail::float_bits(amax) & 0x7FFFFFFFu) == 0) return 1.0f;
  fp8kit::detail::default_fp_env env;
  const double margin = o.margin < -400.0f ? -400.0 : o.margin > 400.0f ? 400.0 : double(o.margin);
  const double scale = fp8kit::convert<double>(amax) /  // exact, even for a subnormal amax
                       fp8kit::detail::opaque(127.0 * double(o.backoff)) * std::exp2(margin);
  if (o.pow2) {
    int e = 0;
    const double m = std::frexp(scale, &e);  // scale = m * 2^e, m in [0.5, 1)
    e = m == 0.5 ? e - 1 : e;                // 2^(e-1) < scale <= 2^e
    return std::ldexp(1.0f, e < -126 ? -126 : e > 127 ? 127 : e);
  }
  const double lo = double(std::numeric_limits<float>::min());
  const double hi = double(std::numeric_limits<float>::max());
  return static_cast<float>(scale < lo ? lo : scale > hi ? hi : scale);
}

/// q[i] = clamp(rne(fl(x[i] / scale)), -127, 127): symmetric INT8, round half to even.
/// +-inf gives +-127; NaN gives 0 (INT8 has no NaN; documented choice, so a stray NaN cannot
/// poison an integer kernel). The division is the correctly rounded float division, done in
/// the default FP environment (the caller's rounding mode and DAZ/FTZ do not matter).
/// Throws std::invalid_argument (before writing anything) unless scale is finite and > 0.
/// Example: x = {2.5, 3.5, -2.5, 1000, NaN}, scale 1 -> q = {2, 4, -2, 127, 0}
inline void int8_quantize(const float* x, std::int8_t* q, std::size_t n, float scale) {
  fp8kit::detail::check_pointer(x, n, "ptq::int8_quantize", "x");
  fp8kit::detail::check_pointer(q, n, "ptq::int8_quantize", "q");
  fp8kit::detail::check_scale(scale, "ptq::int8_quantize");
  fp8kit::detail::default_fp_env env;
  detail::for_each_quotient(x, n, &scale, 0, [q](std::size_t i, float v, float t) {
    q[i] = static_cast<std::int8_t>(detail::int8_code(v, t));
  });
}

/// x[i] = fl(q[i] * scale) (one rounding). Throws std::invalid_argument (before writing
/// anything) unless scale is finite and > 0.
inline void int8_dequantize(const std::int8_t* q, float* x, std::size_t n, float scale) {
  fp8kit::detail::check_pointer(q, n, "ptq::int8_dequantize", "q");
  fp8kit::detail::check_pointer(x, n, "ptq::int8_dequantize", "x");
  fp8kit::detail::check_scale(scale, "ptq::int8_dequantize");
  fp8kit::detail::default_fp_env env;
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(q[i]) * scale;
}

/// y[i] = int8_dequantize(int8_quantize(x[i])); so NaN gives 0. x == y (in place) is allowed.
/// Throws std::invalid_argument (before writing anything) unless scale is finite and > 0.
inline void int8_fake_quantize(const float* x, float* y, std::size_t n, float scale) {
  fp8kit::detail::check_pointer(x, n, "ptq::int8_fake_quantize", "x");
  fp8kit::detail::check_pointer(y, n, "ptq::int8_fake_quantize", "y");
  fp8kit::detail::check_scale(scale, "ptq::int8_fake_quantize");
  fp8kit::detail::default_fp_env env;
  detail::for_each_quotient(x, n, &scale, 0, [y, scale](std::size_t i, float v, float t) {
    y[i] = static_cast<float>(detail::int8_code(v, t)) * scale;
  });
}

#if FP8KIT_HAS_SPAN
inline void int8_quantize(std::span<const float> x, std::span<std::int8_t> q, float scale) {
  fp8kit::detail::check_sizes(x.size(), q.size(), "ptq::int8_quantize");
  int8_quantize(x.data(), q.data(), x.size(), scale);
}
inline void int8_dequantize(std::span<const std::int8_t> q, std::span<float> x, float scale) {
  fp8kit::detail::check_sizes(q.size(), x.size(), "ptq::int8_dequantize");
  int8_dequantize(q.data(), x.data(), q.size(), scale);
}
inline void int8_fake_quantize(std::span<const float> x, std::span<float> y, float scale) {
  fp8kit::detail::check_sizes(x.size(), y.size(), "ptq::int8_fake_quantize");
  int8_fake_quantize(x.data(), y.data(), x.size(), scale);
}
#endif

}  // namespace fp8kit::ptq
