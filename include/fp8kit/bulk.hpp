#pragma once
// Array conversions: convert / quantize / dequantize / fake_quantize. Every result equals the
// scalar conversion applied element by element, bit for bit. The kernels (simd/) are picked per
// CPU at run time: AVX-512, AVX2, or the generic xsimd kernel (SSE2, NEON); FP8KIT_FORCE_SCALAR
// (or simd::force_isa(simd::isa::scalar)) keeps the reference loops. Every function runs its
// kernel in the default floating-point environment (no DAZ/FTZ, round to nearest) and restores
// the caller's. Bad arguments (a null pointer with n > 0, a bad scale, span size mismatch) throw
// std::invalid_argument before anything is written; null with n == 0 is a no-op. NaN and inf
// data never throw: they convert as the scalar conversions do. See docs/bad_input.md.

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "config.hpp"
#include "convert.hpp"
#include "detail/checks.hpp"
#include "detail/fp_env.hpp"
#include "fp8.hpp"
#include "half.hpp"
#include "simd/dispatch.hpp"

#if FP8KIT_HAS_SPAN
#include <span>
#endif

namespace fp8kit {
namespace detail {

inline scale_arg multiply_by(float scale) noexcept {
  return {scale_kind::mul, scale, 0.0f, nullptr};
}

/// Element-wise scales: element i uses scales[i].
inline scale_arg per_element(const float* scales, bool stream = false) noexcept {
  return {scale_kind::each, 1.0f, 0.0f, scales, 0, 0, stream};
}

/// One scale per segment of `segment` (>= 16) elements: element i uses scales[i / segment].
inline scale_arg per_segment(const float* scales, std::size_t segment,
                             bool stream = false) noexcept {
  return {scale_kind::segments, 1.0f, 0.0f, scales, segment, 0, stream};
}

// The bulk operations with any scale_arg, for the scaling layer, which validates its scales and
// sets the FP environment (default_fp_env) once for its many calls:
// q[i] = F(fl(x[i] / scale of i)), x[i] = fl(float(q[i]) * scale of i). Same kernels as below.
template <class F>
void quantize_with(const float* x, F* q, std::size_t n, saturation s, const scale_arg& sc) {
  encode_any(x, q, n, s, sc);
}

template <class F>
void dequantize_with(const F* q, float* x, std::size_t n, const scale_arg& sc) {
  decode_any(q, x, n, sc);
}

template <class F>
void fake_quantize_with(const float* x, float* y, std::size_t n, saturation s,
                        const scale_arg& sc) {
  fake_quantize_any<F>(x, y, n, s, sc);
}

}  // namespace detail

/// Converts n floats to F (an fp8 type, bfloat16 or half), rounding to nearest even.
/// Overflow and NaN as the scalar convert<F>(x, s).
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void convert(const float* src, F* dst, std::size_t n, saturation s = saturation::none) {
  detail::check_pointer(src, n, "convert", "src");
  detail::check_pointer(dst, n, "convert", "dst");
  detail::default_fp_env env;
  detail::encode_any<false>(src, dst, n, s, detail::scale_arg{});
}

/// Converts n values of F (an fp8 type, bfloat16 or half) to float, exactly.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void convert(const F* src, float* dst, std::size_t n) {
  detail::check_pointer(src, n, "convert", "src");
  detail::check_pointer(dst, n, "convert", "dst");
  detail::default_fp_env env;
  detail::decode_any(src, dst, n, detail::scale_arg{});
}

/// Converts n bfloat16 or half values to the fp8 type F (one rounding, from the exact value).
template <class F, class From,
          std::enable_if_t<detail::is_fp8_v<F> && detail::is_16bit_v<From>, int> = 0>
void convert(const From* src, F* dst, std::size_t n, saturation s = saturation::none) {
  detail::check_pointer(src, n, "convert", "src");
  detail::check_pointer(dst, n, "convert", "dst");
  detail::default_fp_env env;
  detail::encode_any<false>(src, dst, n, s, detail::scale_arg{});
}

/// Converts n values of the fp8 type F to bfloat16 or half (exact: every fp8 value fits both;
/// with saturation::finite an fp8 inf becomes To's max finite).
template <class F, class To,
          std::enable_if_t<detail::is_fp8_v<F> && detail::is_16bit_v<To>, int> = 0>
void convert(const F* src, To* dst, std::size_t n, saturation s = saturation::none) {
  detail::check_pointer(src, n, "convert", "src");
  detail::check_pointer(dst, n, "convert", "dst");
  detail::default_fp_env env;
  detail::widen_any(src, dst, n, s);
}

/// q[i] = F(fl(x[i] / scale)): `scale` is the dequantization scale (x ~= q * scale); the division
/// is correctly rounded (a power-of-two scale multiplies by its exact inverse: the same bits).
/// Throws std::invalid_argument (before writing anything) unless scale is finite and > 0.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void quantize(const float* x, F* q, std::size_t n, float scale, saturation s = saturation::finite) {
  detail::check_pointer(x, n, "quantize", "x");
  detail::check_pointer(q, n, "quantize", "q");
  detail::check_scale(scale, "quantize");
  detail::default_fp_env env;
  detail::encode_any<false>(x, q, n, s, detail::divide_by(scale));
}

/// x[i] = fl(float(q[i]) * scale).
/// Throws std::invalid_argument (before writing anything) unless scale is finite and > 0.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void dequantize(const F* q, float* x, std::size_t n, float scale) {
  detail::check_pointer(q, n, "dequantize", "q");
  detail::check_pointer(x, n, "dequantize", "x");
  detail::check_scale(scale, "dequantize");
  detail::default_fp_env env;
  detail::decode_any(q, x, n, detail::multiply_by(scale));
}

/// y[i] = dequantize(quantize(x[i])) in format F; x == y (in place) is allowed.
/// Throws std::invalid_argument (before writing anything) unless scale is finite and > 0.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void fake_quantize(const float* x, float* y, std::size_t n, float scale,
                   saturation s = saturation::finite) {
  detail::check_pointer(x, n, "fake_quantize", "x");
  detail::check_pointer(y, n, "fake_quantize", "y");
  detail::check_scale(scale, "fake_quantize");
  detail::default_fp_env env;
  detail::fake_quantize_any<F, false>(x, y, n, s, detail::divide_by(scale));
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
