#pragma once
// Array conversions: convert / quantize / dequantize / fake_quantize. Every result equals the
// scalar conversion applied element by element, bit for bit. The kernels (simd/) are picked per
// CPU at run time: AVX-512, AVX2, or the generic xsimd kernel (SSE2, NEON); FP8KIT_FORCE_SCALAR
// (or simd::force_isa(simd::isa::scalar)) keeps the reference loops. Every function runs its
// kernel in the default floating-point environment (no DAZ/FTZ, round to nearest) and restores
// the caller's.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "config.hpp"
#include "convert.hpp"
#include "detail/fp_env.hpp"
#include "fp8.hpp"
#include "half.hpp"
#include "simd/dispatch.hpp"

#if FP8KIT_HAS_SPAN
#include <span>
#endif

namespace fp8kit {
namespace detail {

/// Throws std::invalid_argument unless `scale` is finite and > 0 (checked on the bits, so
/// -ffast-math cannot remove the check).
inline void check_scale(float scale, const char* function) {
  const auto bits = detail::bit_cast<std::uint32_t>(scale);
  const bool positive_finite = bits != 0 && bits < 0x7F800000u;
  if (!positive_finite) {
    char value[32];
    std::snprintf(value, sizeof value, "%.9g", double(scale));
    throw std::invalid_argument(std::string("fp8kit::") + function +
                                ": scale must be finite and > 0, got " + value);
  }
}

inline void check_sizes(std::size_t a, std::size_t b, const char* function) {
  if (a != b) {
    throw std::invalid_argument(std::string("fp8kit::") + function + ": size mismatch (" +
                                std::to_string(a) + " vs " + std::to_string(b) + ")");
  }
}

/// Scaling before encoding: divide by `scale`, or multiply by its inverse when that gives the
/// same bits for every input (a power of two with a normal inverse).
inline scale_arg divide_by(float scale) noexcept {
  const float inverse = exact_inverse(scale);
  return {inverse != 0.0f ? scale_kind::mul : scale_kind::div, scale, inverse, nullptr};
}

inline scale_arg multiply_by(float scale) noexcept {
  return {scale_kind::mul, scale, 0.0f, nullptr};
}

inline scale_arg per_element(const float* scales) noexcept {
  return {scale_kind::each, 1.0f, 0.0f, scales};
}

// Element-wise scales (for per-channel and block-wise callers, which validate the scales):
// q[i] = F(fl(x[i] / scales[i])), x[i] = fl(float(q[i]) * scales[i]). Same kernels as below.
template <class F>
void quantize_scaled(const float* x, const float* scales, F* q, std::size_t n, saturation s) {
  default_fp_env env;
  encode_any(x, q, n, s, per_element(scales));
}

template <class F>
void dequantize_scaled(const F* q, const float* scales, float* x, std::size_t n) {
  default_fp_env env;
  decode_any(q, x, n, per_element(scales));
}

template <class F>
void fake_quantize_scaled(const float* x, const float* scales, float* y, std::size_t n,
                          saturation s) {
  default_fp_env env;
  fake_quantize_any<F>(x, y, n, s, per_element(scales));
}

}  // namespace detail

/// Converts n floats to F (an fp8 type, bfloat16 or half), rounding to nearest even.
/// Overflow and NaN as the scalar convert<F>(x, s).
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void convert(const float* src, F* dst, std::size_t n, saturation s = saturation::none) {
  detail::default_fp_env env;
  detail::encode_any(src, dst, n, s, detail::scale_arg{});
}

/// Converts n values of F (an fp8 type, bfloat16 or half) to float, exactly.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void convert(const F* src, float* dst, std::size_t n) {
  detail::default_fp_env env;
  detail::decode_any(src, dst, n, detail::scale_arg{});
}

/// Converts n bfloat16 or half values to the fp8 type F (one rounding, from the exact value).
template <class F, class From,
          std::enable_if_t<detail::is_fp8_v<F> && detail::is_16bit_v<From>, int> = 0>
void convert(const From* src, F* dst, std::size_t n, saturation s = saturation::none) {
  detail::default_fp_env env;
  detail::encode_any(src, dst, n, s, detail::scale_arg{});
}

/// Converts n values of the fp8 type F to bfloat16 or half (exact: every fp8 value fits both;
/// with saturation::finite an fp8 inf becomes To's max finite).
template <class F, class To,
          std::enable_if_t<detail::is_fp8_v<F> && detail::is_16bit_v<To>, int> = 0>
void convert(const F* src, To* dst, std::size_t n, saturation s = saturation::none) {
  detail::default_fp_env env;
  detail::widen_any(src, dst, n, s);
}

/// q[i] = F(fl(x[i] / scale)): `scale` is the dequantization scale (x ~= q * scale); the division
/// is correctly rounded (a power-of-two scale multiplies by its exact inverse: the same bits).
/// Throws std::invalid_argument (before writing anything) unless scale is finite and > 0.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void quantize(const float* x, F* q, std::size_t n, float scale, saturation s = saturation::finite) {
  detail::check_scale(scale, "quantize");
  detail::default_fp_env env;
  detail::encode_any(x, q, n, s, detail::divide_by(scale));
}

/// x[i] = fl(float(q[i]) * scale).
/// Throws std::invalid_argument (before writing anything) unless scale is finite and > 0.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void dequantize(const F* q, float* x, std::size_t n, float scale) {
  detail::check_scale(scale, "dequantize");
  detail::default_fp_env env;
  detail::decode_any(q, x, n, detail::multiply_by(scale));
}

/// y[i] = dequantize(quantize(x[i])) in format F; x == y (in place) is allowed.
/// Throws std::invalid_argument (before writing anything) unless scale is finite and > 0.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void fake_quantize(const float* x, float* y, std::size_t n, float scale,
                   saturation s = saturation::finite) {
  detail::check_scale(scale, "fake_quantize");
  detail::default_fp_env env;
  detail::fake_quantize_any<F>(x, y, n, s, detail::divide_by(scale));
}

#if FP8KIT_HAS_SPAN
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void convert(std::span<const float> src, std::span<F> dst, saturation s = saturation::none) {
  detail::check_sizes(src.size(), dst.size(), "convert");
  convert(src.data(), dst.data(), src.size(), s);
}
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void convert(std::span<const F> src, std::span<float> dst) {
  detail::check_sizes(src.size(), dst.size(), "convert");
  convert(src.data(), dst.data(), src.size());
}
template <class F, class From,
          std::enable_if_t<detail::is_fp8_v<F> && detail::is_16bit_v<From>, int> = 0>
void convert(std::span<const From> src, std::span<F> dst, saturation s = saturation::none) {
  detail::check_sizes(src.size(), dst.size(), "convert");
  convert(src.data(), dst.data(), src.size(), s);
}
template <class F, class To,
          std::enable_if_t<detail::is_fp8_v<F> && detail::is_16bit_v<To>, int> = 0>
void convert(std::span<const F> src, std::span<To> dst, saturation s = saturation::none) {
  detail::check_sizes(src.size(), dst.size(), "convert");
  convert(src.data(), dst.data(), src.size(), s);
}
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void quantize(std::span<const float> x, std::span<F> q, float scale,
              saturation s = saturation::finite) {
  detail::check_sizes(x.size(), q.size(), "quantize");
  quantize(x.data(), q.data(), x.size(), scale, s);
}
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void dequantize(std::span<const F> q, std::span<float> x, float scale) {
  detail::check_sizes(q.size(), x.size(), "dequantize");
  dequantize(q.data(), x.data(), q.size(), scale);
}
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void fake_quantize(std::span<const float> x, std::span<float> y, float scale,
                   saturation s = saturation::finite) {
  detail::check_sizes(x.size(), y.size(), "fake_quantize");
  fake_quantize<F>(x.data(), y.data(), x.size(), scale, s);
}
#endif

}  // namespace fp8kit
