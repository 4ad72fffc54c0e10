#pragma once
// Per-channel scaling: one scale per row or per column of a row-major rows x cols matrix. Runs
// the bulk SIMD kernels (detail::quantize_with and friends) with a scale per row segment or per
// element, so it gives the same bits as the scalar conversions.

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "bulk.hpp"
#include "config.hpp"
#include "detail/checks.hpp"
#include "detail/fp_env.hpp"
#include "fp8.hpp"
#include "scale.hpp"
#include "simd/amax.hpp"
#include "simd/cpu.hpp"

namespace fp8kit {

/// The channels of a row-major [rows x cols] matrix: `rows` gives one channel per row
/// (per output channel of a [out x in] weight), `cols` one per column.
enum class channel_axis { rows, cols };

namespace detail {

inline std::size_t channel_count(std::size_t rows, std::size_t cols, channel_axis a) noexcept {
  return a == channel_axis::rows ? rows : cols;
}

/// Checks the sizes and pointers of a per-channel function: x and out hold rows * cols elements,
/// `channels` one value per channel. (check_scaled_channels also checks the values of scales.)
inline void check_channels(const char* function, std::size_t rows, std::size_t cols, channel_axis a,
                           named_arg x, named_arg out, named_arg channels) {
  const std::size_t n = checked_product(rows, cols, function);
  check_pointer(x.p, n, function, x.name);
  check_pointer(out.p, n, function, out.name);
  check_pointer(channels.p, channel_count(rows, cols, a), function, channels.name);
}

/// check_channels for a function that reads one scale per channel, then those scales' values.
inline void check_scaled_channels(const char* function, std::size_t rows, std::size_t cols,
                                  channel_axis a, named_arg x, named_arg out, const float* scales) {
  check_channels(function, rows, cols, a, x, out, {scales, "scales"});
  check_scales(scales, channel_count(rows, cols, a), function);
}

/// Runs op(offset, length, scale_arg) over a rows x cols matrix with one scale per channel:
/// axis rows in one call (one segment per row), axis cols in one call per row (element-wise
/// scales; each call prefetches the next row). Non-temporal stores when the whole operation moves
/// at least stream_threshold bytes
/// (`bytes` per element read plus written), as one call of that size would.
template <class Op>
void for_channels(std::size_t rows, std::size_t cols, channel_axis a, const float* scales,
                  std::size_t bytes, Op op) {
  const std::size_t n = rows * cols;
  const operation_stream stream(n * bytes);
  default_fp_env env;
  if (a == channel_axis::cols) {
    scale_arg each = per_element(scales, stream.on());
    each.prefetch = cols;
    for (std::size_t r = 0; r < rows && cols != 0; ++r) op(r * cols, cols, each);
  } else if (cols >= 16) {  // the segment kernels need segments of >= 16 elements
    op(0, n, per_segment(scales, cols, stream.on()));
  } else {
    for (std::size_t r = 0; r < rows && cols != 0; ++r) op(r * cols, cols, divide_by(scales[r]));
  }
}

}  // namespace detail

/// out[r] = amax(row r) (axis rows, `rows` outputs) or out[c] = max over r of |x[r][c]| (axis
/// cols, `cols` outputs), with amax's NaN rule; an empty channel gives 0. SIMD, bit for bit
/// equal to the scalar loop. Throws std::invalid_argument for a null pointer with a nonzero
/// count or a rows * cols that overflows.
/// Example: x = {1, -4, 3, 2} as 2 x 2 -> rows: {4, 3}; cols: {3, 4}
inline void amax_per_channel(const float* x, std::size_t rows, std::size_t cols, channel_axis a,
                             float* out) {
  detail::check_channels("amax_per_channel", rows, cols, a, {x, "x"}, {x, "x"}, {out, "out"});
  const simd::isa isa = simd::active_isa();
  if (a == channel_axis::rows) {
    const auto kernel = detail::amax_bits_kernel(isa);
    for (std::size_t r = 0; r < rows; ++r) {
      out[r] = detail::bit_cast<float>(kernel(x + r * cols, cols));
    }
    return;
  }
  // Columns: an element-wise max of whole rows into a chunk of accumulators (4 KiB on the
  // stack), so x is read once, in contiguous 4 KiB pieces of each row.
  const auto kernel = detail::amax_accumulate_kernel(isa);
  constexpr std::size_t chunk = 1024;
  std::uint32_t acc[chunk];
  for (std::size_t c0 = 0; c0 < cols; c0 += chunk) {
    const std::size_t len = cols - c0 < chunk ? cols - c0 : chunk;
    for (std::size_t j = 0; j < len; ++j) acc[j] = 0;
    for (std::size_t r = 0; r < rows; ++r) kernel(x + r * cols + c0, acc, len);
    for (std::size_t j = 0; j < len; ++j) out[c0 + j] = detail::bit_cast<float>(acc[j]);
  }
}

/// scales[k] = scale_from_amax<F>(amax of channel k, o) for every channel (rows or cols
/// entries). Non-finite elements do not count: a channel's amax is its largest finite |x|
/// (quantizing then sends +-inf to +-max finite and NaN to NaN), so this never throws for the
/// data; an all-zero channel gets 1. Throws std::invalid_argument for bad options, a null
/// pointer with a nonzero count or a rows * cols that overflows.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void scales_per_channel(const float* x, std::size_t rows, std::size_t cols, channel_axis a,
                        float* scales, scale_options o = {}) {
  detail::check_scale_options(o, "scales_per_channel");
  detail::check_channels("scales_per_channel", rows, cols, a, {x, "x"}, {x, "x"},
                         {scales, "scales"});
  amax_per_channel(x, rows, cols, a, scales);
  detail::default_fp_env env;
  const std::size_t channels = detail::channel_count(rows, cols, a);
  for (std::size_t k = 0; k < channels; ++k) {
    std::uint32_t bits = detail::bit_cast<std::uint32_t>(scales[k]);
    if (bits >= detail::float_inf_bits) {  // rare: recompute without inf and NaN
      bits = a == channel_axis::rows ? detail::finite_amax_bits(x + k * cols, 1, cols, cols)
                                     : detail::finite_amax_bits(x + k, rows, 1, cols);
    }
    scales[k] = detail::scale_from_amax_unchecked<F>(detail::bit_cast<float>(bits), o);
  }
}

/// q[r][c] = F(fl(x[r][c] / scales[k])) with k = r (axis rows) or c (axis cols): quantize<F>
/// with one scale per channel; the same bits as quantize on each channel. One pass over the
/// matrix, non-temporal stores when it is large.
/// Throws std::invalid_argument (before writing anything) unless every scale is finite and > 0,
/// for a null pointer with a nonzero count, or for a rows * cols that overflows.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void quantize_per_channel(const float* x, std::size_t rows, std::size_t cols, channel_axis a,
                          const float* scales, F* q, saturation s = saturation::finite) {
  constexpr const char* function = "quantize_per_channel";
  detail::check_scaled_channels(function, rows, cols, a, {x, "x"}, {q, "q"}, scales);
  detail::for_channels(rows, cols, a, scales, sizeof(float) + sizeof(F),
                       [&](std::size_t at, std::size_t len, const detail::scale_arg& sc) {
                         detail::quantize_with(x + at, q + at, len, s, sc);
                       });
}

/// x[r][c] = fl(float(q[r][c]) * scales[k]), k as in quantize_per_channel. Throws as it does.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void dequantize_per_channel(const F* q, std::size_t rows, std::size_t cols, channel_axis a,
                            const float* scales, float* x) {
  constexpr const char* function = "dequantize_per_channel";
  detail::check_scaled_channels(function, rows, cols, a, {q, "q"}, {x, "x"}, scales);
  detail::for_channels(rows, cols, a, scales, sizeof(float) + sizeof(F),
                       [&](std::size_t at, std::size_t len, const detail::scale_arg& sc) {
                         detail::dequantize_with(q + at, x + at, len, sc);
                       });
}

/// y = dequantize_per_channel(quantize_per_channel(x)); x == y (in place) is allowed.
/// Throws as quantize_per_channel does.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void fake_quantize_per_channel(const float* x, std::size_t rows, std::size_t cols, channel_axis a,
                               const float* scales, float* y, saturation s = saturation::finite) {
  constexpr const char* function = "fake_quantize_per_channel";
  detail::check_scaled_channels(function, rows, cols, a, {x, "x"}, {y, "y"}, scales);
  detail::for_channels(rows, cols, a, scales, 2 * sizeof(float),
                       [&](std::size_t at, std::size_t len, const detail::scale_arg& sc) {
                         detail::fake_quantize_with<F>(x + at, y + at, len, s, sc);
                       });
}

}  // namespace fp8kit
