#pragma once
// Fake quantization for PTQ and QAT: per tensor, per channel and per block, over any fp8 format
// and the INT8 baseline (the tag ptq::int8), plus the straight-through gradient mask.
// The fp8 paths call the core (bulk.hpp, scaling.hpp); nothing here rounds to fp8 itself.
// Every function checks its arguments itself (null pointers with a nonzero count, rows * cols
// overflow, scales, options) before writing anything, so both paths (fp8 and INT8) throw the
// same std::invalid_argument, naming this function. See docs/bad_input.md.

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../bulk.hpp"
#include "../detail/checks.hpp"
#include "../scaling.hpp"
#include "int8.hpp"

namespace fp8kit::ptq {
namespace detail {

template <class F>
inline constexpr bool is_int8_v = std::is_same_v<F, int8>;

template <class F, class = void>
inline constexpr bool is_float_format_v = false;
template <class F>
inline constexpr bool is_float_format_v<F, std::void_t<decltype(F::traits::max_finite)>> = true;

template <class F>
constexpr void check_format() noexcept {
  static_assert(is_int8_v<F> || is_float_format_v<F>,
                "fp8kit::ptq: F must be an fp8 type, bfloat16, half or fp8kit::ptq::int8");
}

}  // namespace detail

/// Largest finite magnitude of format F: 448 for e4m3fn, 57344 for e5m2, 127 for ptq::int8.
template <class F>
constexpr double max_finite() noexcept {
  detail::check_format<F>();
  if constexpr (detail::is_int8_v<F>) {
    return int8::max_finite;
  } else {
    return F::traits::max_finite;
  }
}

/// The dequantization scale that maps `amax` to the largest finite value of F:
/// scale_from_amax<F>(amax, o) for float formats, int8_scale_from_amax(amax, o) for ptq::int8.
/// Throws std::invalid_argument for a negative or non-finite amax, or bad options.
template <class F>
float scale_for(float amax, scale_options o = {}) {
  detail::check_format<F>();
  fp8kit::detail::check_amax(amax, "ptq::scale_for");
  fp8kit::detail::check_scale_options(o, "ptq::scale_for");
  if constexpr (detail::is_int8_v<F>) {
    return int8_scale_from_amax(amax, o);
  } else {
    return fp8kit::scale_from_amax<F>(amax, o);
  }
}

/// Per-tensor fake quantization through F, saturating: y = dequantize(quantize(x)).
/// Float formats call fp8kit::fake_quantize<F>(x, y, n, scale, saturation::finite) (NaN stays
/// NaN); ptq::int8 calls int8_fake_quantize (NaN gives 0). x == y is allowed.
/// Throws std::invalid_argument (before writing anything) unless scale is finite and > 0, or
/// for a null pointer with n > 0.
template <class F>
void fake_quantize_tensor(const float* x, float* y, std::size_t n, float scale) {
  detail::check_format<F>();
  fp8kit::detail::check_pointer(x, n, "ptq::fake_quantize_tensor", "x");
  fp8kit::detail::check_pointer(y, n, "ptq::fake_quantize_tensor", "y");
  fp8kit::detail::check_scale(scale, "ptq::fake_quantize_tensor");
  if constexpr (detail::is_int8_v<F>) {
    int8_fake_quantize(x, y, n, scale);
  } else {
    fp8kit::fake_quantize<F>(x, y, n, scale, saturation::finite);
  }
}

/// One scale per channel of a row-major rows x cols matrix: scale_for<F>(channel amax, o),
/// where a channel's amax is its largest finite |x| (so a channel with inf or NaN still gets a
/// finite scale, and an all-zero channel gets 1). Float formats call
/// fp8kit::scales_per_channel<F>; ptq::int8 uses amax_per_channel and int8_scale_from_amax.
/// `scales` receives rows (axis rows) or cols (axis cols) values.
/// Throws std::invalid_argument (before writing anything) for bad options, a null pointer or
/// rows * cols overflowing std::size_t.
template <class F>
void channel_scales(const float* x, std::size_t rows, std::size_t cols, channel_axis a,
                    float* scales, scale_options o = {}) {
  detail::check_format<F>();
  constexpr const char* function = "ptq::channel_scales";
  fp8kit::detail::check_channels(function, rows, cols, a, {x, "x"}, {x, "x"}, {scales, "scales"});
  fp8kit::detail::check_scale_options(o, function);
  const std::size_t channels = fp8kit::detail::channel_count(rows, cols, a);
  if constexpr (detail::is_int8_v<F>) {
    amax_per_channel(x, rows, cols, a, scales);
    for (std::size_t k = 0; k < channels; ++k) {
      if (!detail::is_finite_bits(scales[k])) {  // rare: recompute without inf and NaN
        scales[k] =
            a == channel_axis::rows
                ? detail::bits_float(fp8kit::detail::finite_amax_bits(x + k * cols, 1, cols, cols))
                : detail::bits_float(fp8kit::detail::finite_amax_bits(x + k, rows, 1, cols));
      }
      scales[k] = int8_scale_from_amax(scales[k], o);
    }
  } else {
    fp8kit::scales_per_channel<F>(x, rows, cols, a, scales, o);
  }
}

/// Per-channel fake quantization through F, saturating: channel k (row k for axis rows,
/// column k for axis cols) uses scales[k]. Float formats call fp8kit::fake_quantize_per_channel;
/// ptq::int8 rounds as int8_fake_quantize does. x == y is allowed.
/// Throws std::invalid_argument (before writing anything) unless every scale is finite, > 0,
/// for a null pointer or rows * cols overflowing std::size_t.
template <class F>
void fake_quantize_channels(const float* x, std::size_t rows, std::size_t cols, channel_axis a,
                            const float* scales, float* y) {
  detail::check_format<F>();
  constexpr const char* function = "ptq::fake_quantize_channels";
  fp8kit::detail::check_scaled_channels(function, rows, cols, a, {x, "x"}, {y, "y"}, scales);
  if constexpr (detail::is_int8_v<F>) {
    fp8kit::detail::default_fp_env env;
    for (std::size_t r = 0; r < rows && cols != 0; ++r) {
      if (a == channel_axis::rows) {
        int8_fake_quantize(x + r * cols, y + r * cols, cols, scales[r]);
      } else {
        float* row = y + r * cols;
        detail::for_each_quotient(
            x + r * cols, cols, scales, 1, [row, scales](std::size_t c, float v, float t) {
              row[c] = static_cast<float>(detail::int8_code(v, t)) * scales[c];
            });
      }
    }
  } else {
    fp8kit::fake_quantize_per_channel<F>(x, rows, cols, a, scales, y, saturation::finite);
  }
}

/// Block-wise fake quantization through F (DeepSeek-V3 style: {128, 128} weight tiles, {1, 128}
/// activation tiles): every b.rows x b.cols block (edge blocks may be partial) gets
/// scale_for<F>(its largest finite |x|, o), written to `scales` (row-major,
/// block_count(rows, cols, b) values), and is fake-quantized with it, saturating.
/// Float formats call fp8kit::fake_quantize_blockwise. x == y is allowed.
/// Throws std::invalid_argument (before writing anything) for an empty block, bad options, a
/// null pointer or rows * cols overflowing std::size_t.
template <class F>
void fake_quantize_blocks(const float* x, std::size_t rows, std::size_t cols, block_shape b,
                          float* y, float* scales, scale_options o = {}) {
  detail::check_format<F>();
  constexpr const char* function = "ptq::fake_quantize_blocks";
  fp8kit::detail::check_blocks(function, rows, cols, b, {x, "x"}, {y, "y"}, {scales, "scales"});
  fp8kit::detail::check_scale_options(o, function);
  if constexpr (detail::is_int8_v<F>) {
    if (rows == 0 || cols == 0) return;
    const std::size_t block_cols = (cols + b.cols - 1) / b.cols;
    for (std::size_t r0 = 0, i = 0; r0 < rows; r0 += b.rows, ++i) {
      const std::size_t nr = rows - r0 < b.rows ? rows - r0 : b.rows;
      for (std::size_t c0 = 0, j = 0; c0 < cols; c0 += b.cols, ++j) {
        const std::size_t nc = cols - c0 < b.cols ? cols - c0 : b.cols;
        const float scale = int8_scale_from_amax(
            detail::bits_float(fp8kit::detail::finite_amax_bits(x + r0 * cols + c0, nr, nc, cols)),
            o);
        scales[i * block_cols + j] = scale;
        for (std::size_t r = r0; r < r0 + nr; ++r) {
          int8_fake_quantize(x + r * cols + c0, y + r * cols + c0, nc, scale);
        }
      }
    }
  } else {
    fp8kit::fake_quantize_blockwise<F>(x, rows, cols, b, y, scales, o);
  }
}

/// Straight-through estimator of fake_quantize_tensor<F>: grad_x[i] = grad_y[i] where
/// |fl(x[i] / scale)| <= max finite of F (the value was not clipped), 0 elsewhere; NaN x gives 0.
/// The quotient is the one quantize computes (correctly rounded float division).
/// grad_x may alias grad_y. Throws std::invalid_argument (before writing anything) unless scale
/// is finite and > 0, or for a null pointer with n > 0.
/// Example (e4m3fn, scale 1): x = {448, 449, -500}, grad_y = {1, 2, 3} -> grad_x = {1, 0, 0}
template <class F>
void fake_quantize_grad(const float* x, const float* grad_y, float* grad_x, std::size_t n,
                        float scale) {
  detail::check_format<F>();
  constexpr const char* function = "ptq::fake_quantize_grad";
  fp8kit::detail::check_pointer(x, n, function, "x");
  fp8kit::detail::check_pointer(grad_y, n, function, "grad_y");
  fp8kit::detail::check_pointer(grad_x, n, function, "grad_x");
  fp8kit::detail::check_scale(scale, function);
  fp8kit::detail::default_fp_env env;
  // |t| <= limit compared on the bits (t is never NaN for a finite x): no FP compare that
  // -ffast-math could assume away for an infinite quotient.
  const std::uint32_t limit = detail::float_bits(static_cast<float>(max_finite<F>()));  // exact
  detail::for_each_quotient(
      x, n, &scale, 0, [grad_y, grad_x, limit](std::size_t i, float v, float t) {
        const bool pass =
            detail::is_finite_bits(v) && (detail::float_bits(t) & 0x7FFFFFFFu) <= limit;
        grad_x[i] = pass ? grad_y[i] : 0.0f;
      });
}

}  // namespace fp8kit::ptq
