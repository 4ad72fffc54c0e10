#pragma once
// Array conversions: convert / quantize / dequantize / fake_quantize. Every result equals the
// scalar conversion applied element by element (SIMD kernels are chosen per CPU; see simd/).

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

#if FP8KIT_HAS_SPAN
#include <span>
#endif

namespace fp8kit {
namespace detail {

template <class T>
inline constexpr bool is_fp8_v = false;
template <int E, int M, encoding Enc, int Bias>
inline constexpr bool is_fp8_v<fp8<E, M, Enc, Bias>> = true;

template <class T>
inline constexpr bool is_16bit_v = std::is_same_v<T, bfloat16> || std::is_same_v<T, half>;

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

// Reference loops: the definitions every kernel must match bit for bit.
template <class To, class From>
void convert_ref(const From* src, To* dst, std::size_t n, saturation s) noexcept {
  for (std::size_t i = 0; i < n; ++i) dst[i] = fp8kit::convert<To>(src[i], s);
}

template <class F>
void quantize_ref(const float* x, F* q, std::size_t n, float scale, saturation s) noexcept {
  for (std::size_t i = 0; i < n; ++i) q[i] = fp8kit::convert<F>(x[i] / opaque(scale), s);
}

template <class F>
void dequantize_ref(const F* q, float* x, std::size_t n, float scale) noexcept {
  for (std::size_t i = 0; i < n; ++i) x[i] = float(q[i]) * scale;
}

template <class F>
void fake_quantize_ref(const float* x, float* y, std::size_t n, float scale,
                       saturation s) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = float(fp8kit::convert<F>(x[i] / opaque(scale), s)) * scale;
  }
}

// Element-wise scales (for per-channel and block-wise callers, which validate the scales):
// q[i] = F(fl(x[i] / scales[i])), x[i] = fl(float(q[i]) * scales[i]).
template <class F>
void quantize_scaled(const float* x, const float* scales, F* q, std::size_t n,
                     saturation s) noexcept {
  default_fp_env env;
  for (std::size_t i = 0; i < n; ++i) q[i] = fp8kit::convert<F>(x[i] / opaque(scales[i]), s);
}

template <class F>
void dequantize_scaled(const F* q, const float* scales, float* x, std::size_t n) noexcept {
  default_fp_env env;
  for (std::size_t i = 0; i < n; ++i) x[i] = float(q[i]) * scales[i];
}

template <class F>
void fake_quantize_scaled(const float* x, const float* scales, float* y, std::size_t n,
                          saturation s) noexcept {
  default_fp_env env;
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = float(fp8kit::convert<F>(x[i] / opaque(scales[i]), s)) * scales[i];
  }
}

}  // namespace detail

/// Converts n floats to F (an fp8 type, bfloat16 or half), rounding to nearest even.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void convert(const float* src, F* dst, std::size_t n, saturation s = saturation::none) {
  detail::default_fp_env env;
  detail::convert_ref(src, dst, n, s);
}

/// Converts n values of F (an fp8 type, bfloat16 or half) to float, exactly.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void convert(const F* src, float* dst, std::size_t n) {
  detail::default_fp_env env;
  detail::convert_ref(src, dst, n, saturation::none);
}

/// Converts n bfloat16 or half values to the fp8 type F (one rounding).
template <class F, class From,
          std::enable_if_t<detail::is_fp8_v<F> && detail::is_16bit_v<From>, int> = 0>
void convert(const From* src, F* dst, std::size_t n, saturation s = saturation::none) {
  detail::convert_ref(src, dst, n, s);
}

/// Converts n values of the fp8 type F to bfloat16 or half (exact for most pairs; rounds
/// to nearest even otherwise).
template <class F, class To,
          std::enable_if_t<detail::is_fp8_v<F> && detail::is_16bit_v<To>, int> = 0>
void convert(const F* src, To* dst, std::size_t n, saturation s = saturation::none) {
  detail::convert_ref(src, dst, n, s);
}

/// q[i] = F(fl(x[i] / scale)): `scale` is the dequantization scale (x ~= q * scale).
/// Throws std::invalid_argument (before writing anything) unless scale is finite and > 0.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void quantize(const float* x, F* q, std::size_t n, float scale,
              saturation s = saturation::finite) {
  detail::check_scale(scale, "quantize");
  detail::default_fp_env env;
  detail::quantize_ref(x, q, n, scale, s);
}

/// x[i] = fl(float(q[i]) * scale).
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void dequantize(const F* q, float* x, std::size_t n, float scale) {
  detail::check_scale(scale, "dequantize");
  detail::default_fp_env env;
  detail::dequantize_ref(q, x, n, scale);
}

/// y[i] = dequantize(quantize(x[i])) in format F; x == y (in place) is allowed.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void fake_quantize(const float* x, float* y, std::size_t n, float scale,
                   saturation s = saturation::finite) {
  detail::check_scale(scale, "fake_quantize");
  detail::default_fp_env env;
  detail::fake_quantize_ref<F>(x, y, n, scale, s);
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
