#pragma once
// Scaling: amax, scale selection, per-channel and block-wise (DeepSeek-style) scales and
// quantization. Scales are dequantization scales (x ~= q * scale). MX (an E8M0 scale per 32
// elements) is in mx.hpp, Transformer Engine's delayed scaling in delayed_scaling.hpp.
//
// Per-channel and block-wise quantization run the bulk SIMD kernels (detail::quantize_with and
// friends) with a scale per segment of a row (a row, or a block's part of it), per element (per
// column), or per call, so they give the same bits as the scalar conversions. Block-wise
// quantization is a pipeline over tiles (blocks one row high: ~16 Ki floats of the matrix read
// as one long row; taller blocks: a block row): each tile's conversion also scans the next tile
// for its block amaxes (scale_arg::scan), so x is read from memory once.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "bulk.hpp"
#include "config.hpp"
#include "detail/checks.hpp"
#include "detail/fp_env.hpp"
#include "fp8.hpp"
#include "simd/amax.hpp"
#include "simd/block_scales.hpp"
#include "simd/cpu.hpp"

#if FP8KIT_HAS_SPAN
#include <span>
#endif

namespace fp8kit {

/// max |x[i]| over n floats. NaN if any element is NaN (a positive NaN: the one with the
/// largest payload); +inf if any is +-inf and none is NaN; 0 for n == 0. Subnormals count
/// (never flushed); -0 counts as 0. SIMD (AVX-512 / AVX2 / xsimd, chosen at run time), bit
/// for bit equal to the scalar loop, in any FP environment and under -ffast-math.
/// Example: x = {-3, 2, 0.5} -> amax(x, 3) == 3
/// Throws std::invalid_argument if x is null and n > 0.
inline float amax(const float* x, std::size_t n) {
  detail::check_pointer(x, n, "amax", "x");
  return detail::bit_cast<float>(detail::amax_bits(x, n));
}

#if FP8KIT_HAS_SPAN
inline float amax(std::span<const float> x) { return amax(x.data(), x.size()); }
#endif

/// How scale_from_amax maps an amax to a scale.
struct scale_options {
  float margin = 0;   // the scale is multiplied by 2^margin (Transformer Engine's margin)
  float backoff = 1;  // amax maps to backoff * max finite; in (0, 1]
  bool pow2 = false;  // round the scale up to a power of two
};

namespace detail {

inline constexpr std::uint32_t float_inf_bits = 0x7F800000u;

/// Throws std::invalid_argument unless o.backoff is in (0, 1] and o.margin is finite
/// (checked on the bits, so -ffast-math cannot remove the checks).
inline void check_scale_options(const scale_options& o, const char* function) {
  const auto backoff = bit_cast<std::uint32_t>(o.backoff);
  if (backoff == 0 || backoff > bit_cast<std::uint32_t>(1.0f)) {  // also -x, NaN
    throw std::invalid_argument(std::string("fp8kit::") + function +
                                ": backoff must be in (0, 1], got " + format_float(o.backoff));
  }
  if ((bit_cast<std::uint32_t>(o.margin) & float_abs_mask) >= float_inf_bits) {
    throw std::invalid_argument(std::string("fp8kit::") + function +
                                ": margin must be finite, got " + format_float(o.margin));
  }
}

/// Throws std::invalid_argument unless amax is finite and >= 0 (-0 is allowed).
inline void check_amax(float amax, const char* function) {
  const auto bits = bit_cast<std::uint32_t>(amax);
  if ((bits & float_abs_mask) >= float_inf_bits || bits > 0x80000000u) {
    throw std::invalid_argument(std::string("fp8kit::") + function +
                                ": amax must be finite and >= 0, got " + format_float(amax));
  }
}

/// 2^e as a double, for -1022 <= e <= 1023 (from the bits: exact, no libm call).
inline double pow2_double(int e) noexcept {
  return bit_cast<double>(static_cast<std::uint64_t>(e + 1023) << 52);
}

/// scale_from_amax for a checked amax (finite, >= 0) and checked options. Needs the default FP
/// environment (see default_fp_env): a subnormal amax must not be flushed. Cheap enough to run
/// once per block: no libm call unless the margin is fractional.
template <class F>
float scale_from_amax_unchecked(float amax, const scale_options& o) noexcept {
  const std::uint32_t bits = bit_cast<std::uint32_t>(amax) & float_abs_mask;
  if (o.margin == 0.0f && o.backoff == 1.0f && !o.pow2) {
    return plain_scale(bits, float(F::traits::max_finite));
  }
  if (bits == 0) return 1.0f;
  const double a = double(bit_cast<float>(bits));  // a normal double, even for a subnormal amax
  // Exact: max finite has at most 5 significant bits and backoff 24, so the product has <= 29.
  const double d = double(F::traits::max_finite) * double(o.backoff);
  // amax / d lies in [2^-277, 2^125] for every format (bfloat16 included), so margins beyond
  // +-400 only saturate the clamps below; the clamp keeps every double finite and normal.
  const double m = o.margin < -400.0f ? -400.0 : o.margin > 400.0f ? 400.0 : double(o.margin);
  const int whole = static_cast<int>(m);
  const bool integral = double(whole) == m;
  constexpr std::uint64_t fraction = (std::uint64_t{1} << 52) - 1;
  if (o.pow2) {
    int e = 0;
    if (integral) {
      // Exact, on the bits: with a = (1 + fa) 2^ea and d = (1 + fd) 2^ed, a / d is in
      // (2^(ea-ed-1), 2^(ea-ed)] when fa <= fd, else in (2^(ea-ed), 2^(ea-ed+1)).
      const auto ab = bit_cast<std::uint64_t>(a), db = bit_cast<std::uint64_t>(d);
      e = int(ab >> 52) - int(db >> 52) + ((ab & fraction) > (db & fraction) ? 1 : 0) + whole;
    } else {  // a fractional margin is only as exact as std::exp2
      const auto sb = bit_cast<std::uint64_t>(a / opaque(d) * std::exp2(m));
      e = int(sb >> 52) - 1023 + ((sb & fraction) != 0 ? 1 : 0);
    }
    e = e < -126 ? -126 : e > 127 ? 127 : e;  // normal powers of two only
    return bit_cast<float>(static_cast<std::uint32_t>(e + 127) << 23);
  }
  double s = a / opaque(d);  // opaque: no reciprocal under -ffast-math
  if (!integral) {
    s *= std::exp2(m);
  } else if (whole != 0) {
    s *= pow2_double(whole);  // exact
  }
  const double lo = double(std::numeric_limits<float>::min());
  const double hi = double(std::numeric_limits<float>::max());
  s = s < lo ? lo : s > hi ? hi : s;
  return static_cast<float>(s);
}

/// Largest |x| over the finite elements of a rows x len block (row stride `stride`) as bits.
inline std::uint32_t finite_amax_bits(const float* x, std::size_t rows, std::size_t len,
                                      std::size_t stride) noexcept {
  std::uint32_t m = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < len; ++c) {
      const std::uint32_t a = abs_bits(x + r * stride + c);
      m = a < float_inf_bits && a > m ? a : m;
    }
  }
  return m;
}

inline constexpr std::size_t count_blocks(std::size_t n, std::size_t block) noexcept {
  return n / block + (n % block != 0 ? 1 : 0);
}

}  // namespace detail

/// The dequantization scale that maps `amax` to the largest finite value of F (any fp8 type,
/// bfloat16 or half): amax / (max finite of F * o.backoff) * 2^o.margin, rounded once to float
/// (correctly rounded for backoff 1 and an integral margin; otherwise from a double). With
/// o.pow2 the exact quotient is rounded up to a power of two, so amax / scale never exceeds
/// backoff * max finite (exact for integral margins; no log2 involved).
/// amax == 0 (or -0) gives 1. The result is always finite, > 0 and normal: it is clamped to
/// [FLT_MIN, FLT_MAX] ([2^-126, 2^127] with pow2). Throws std::invalid_argument for a negative
/// or non-finite amax, a backoff outside (0, 1] or a non-finite margin. Independent of the FP
/// environment (runs in round-to-nearest without DAZ/FTZ) and of -ffast-math.
/// Example: scale_from_amax<e4m3fn>(896.0f) == 2.0f;
///          scale_from_amax<e4m3fn>(449.0f, {0, 1, true}) == 2.0f;  margin 1 doubles a scale
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
float scale_from_amax(float amax, scale_options o = {}) {
  detail::check_amax(amax, "scale_from_amax");
  detail::check_scale_options(o, "scale_from_amax");
  detail::default_fp_env env;
  return detail::scale_from_amax_unchecked<F>(amax, o);
}

// ---------------------------------------------------------------------------------------------
// Per-channel: one scale per row or per column of a row-major rows x cols matrix.

/// The channels of a row-major [rows x cols] matrix: `rows` gives one channel per row
/// (per output channel of a [out x in] weight), `cols` one per column.
enum class channel_axis { rows, cols };

namespace detail {

inline std::size_t channel_count(std::size_t rows, std::size_t cols, channel_axis a) noexcept {
  return a == channel_axis::rows ? rows : cols;
}

/// A pointer argument and its name, for the messages of the checks below.
struct named_arg {
  const void* p;
  const char* name;
};

/// Checks the sizes and pointers of a per-channel function: x and out hold rows * cols elements,
/// `channels` one value per channel. (Callers that read scales check their values too.)
inline void check_channels(const char* function, std::size_t rows, std::size_t cols, channel_axis a,
                           named_arg x, named_arg out, named_arg channels) {
  const std::size_t n = checked_product(rows, cols, function);
  check_pointer(x.p, n, function, x.name);
  check_pointer(out.p, n, function, out.name);
  check_pointer(channels.p, channel_count(rows, cols, a), function, channels.name);
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
  detail::check_channels(function, rows, cols, a, {x, "x"}, {q, "q"}, {scales, "scales"});
  detail::check_scales(scales, detail::channel_count(rows, cols, a), function);
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
  detail::check_channels(function, rows, cols, a, {q, "q"}, {x, "x"}, {scales, "scales"});
  detail::check_scales(scales, detail::channel_count(rows, cols, a), function);
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
  detail::check_channels(function, rows, cols, a, {x, "x"}, {y, "y"}, {scales, "scales"});
  detail::check_scales(scales, detail::channel_count(rows, cols, a), function);
  detail::for_channels(rows, cols, a, scales, 2 * sizeof(float),
                       [&](std::size_t at, std::size_t len, const detail::scale_arg& sc) {
                         detail::fake_quantize_with<F>(x + at, y + at, len, s, sc);
                       });
}

// ---------------------------------------------------------------------------------------------
// Block-wise: one scale per b.rows x b.cols tile (DeepSeek-V3: {128, 128} for weights, {1, 128}
// for activations). Scales are a row-major ceil(rows / b.rows) x ceil(cols / b.cols) matrix;
// edge blocks may be partial.

/// The shape of one block (both > 0).
struct block_shape {
  std::size_t rows, cols;
};

/// Number of scales for a rows x cols matrix in blocks of b: ceil(rows/b.rows) * ceil(cols/b.cols).
/// Throws std::invalid_argument for an empty block shape.
inline std::size_t block_count(std::size_t rows, std::size_t cols, block_shape b) {
  if (b.rows == 0 || b.cols == 0) {
    throw std::invalid_argument("fp8kit::block_count: block_shape must be at least 1 x 1");
  }
  detail::checked_product(rows, cols, "block_count");
  return detail::count_blocks(rows, b.rows) * detail::count_blocks(cols, b.cols);
}

namespace detail {

inline void check_block(block_shape b, const char* function) {
  if (b.rows == 0 || b.cols == 0) {
    throw std::invalid_argument(std::string("fp8kit::") + function +
                                ": block_shape must be at least 1 x 1");
  }
}

/// A piece of a block row: rows [r0, r1) (one block high), columns [c0, c1) (whole blocks, the
/// last maybe partial), of a matrix with `cols` columns in blocks `bc` columns wide.
struct tile {
  std::size_t r0, r1, c0, c1, cols, bc;
  std::size_t width() const noexcept { return c1 - c0; }
  std::size_t blocks() const noexcept { return count_blocks(c1 - c0, bc); }
};

/// Most blocks in one tile (the pipeline keeps two tiles' amaxes on the stack).
inline constexpr std::size_t max_tile_blocks = 256;

/// Columns per tile: whole blocks, about 512 Ki floats per tile (a block row of 128 x 4096), or
/// 16 Ki floats for blocks one row high (so that the pipeline's second pass over a tile reads
/// from L1 or L2), at most max_tile_blocks blocks; whole rows when they fit.
inline std::size_t tile_width(std::size_t cols, block_shape b) noexcept {
  const std::size_t floats = b.rows == 1 ? std::size_t{16} << 10 : std::size_t{512} << 10;
  std::size_t blocks = floats / b.rows / b.cols;
  blocks = blocks > max_tile_blocks ? max_tile_blocks : blocks;
  const std::size_t width = (blocks == 0 ? 1 : blocks) * b.cols;
  return width < cols ? width : cols;
}

/// Blocks one row high on rows that hold whole blocks are the same blocks, with the same scale
/// layout, on one long row: fewer, longer calls.
inline void as_one_row(std::size_t& rows, std::size_t& cols, block_shape b) noexcept {
  if (b.rows == 1 && cols % b.cols == 0) {
    cols *= rows;
    rows = 1;
  }
}

/// Block amaxes (bits, amax's NaN rule) of the tile into acc (t.blocks() entries): one
/// segment-kernel call per row, so x is read contiguously.
inline void tile_amax(const float* x, const tile& t, amax_segments_fn kernel,
                      std::uint32_t* acc) noexcept {
  for (std::size_t j = 0; j < t.blocks(); ++j) acc[j] = 0;
  for (std::size_t r = t.r0; r < t.r1; ++r) kernel(x + r * t.cols + t.c0, t.width(), t.bc, acc);
}

/// Scales of the tile's blocks from their amaxes; a block with inf or NaN takes its largest
/// finite |x|. Returns whether the tile is free of NaN. Needs the default FP environment.
template <class F>
bool tile_scales(const float* x, const tile& t, const scale_options& o, const std::uint32_t* acc,
                 float* scales) noexcept {
  const bool plain = o.margin == 0.0f && o.backoff == 1.0f && !o.pow2;
  constexpr float max_finite = float(F::traits::max_finite);
  // The default options: every block at once (16 per step), the rest through the general path.
  if (plain) scale_kernels_for(simd::active_isa()).plain(acc, t.blocks(), max_finite, scales);
  bool nan_free = true;
  for (std::size_t j = 0, c = t.c0; j < t.blocks(); ++j, c += t.bc) {
    std::uint32_t bits = acc[j];
    if (bits >= float_inf_bits) {  // rare: recompute without inf and NaN
      nan_free = nan_free && bits == float_inf_bits;
      const std::size_t len = t.c1 - c < t.bc ? t.c1 - c : t.bc;
      bits = finite_amax_bits(x + t.r0 * t.cols + c, t.r1 - t.r0, len, t.cols);
      if (plain) scales[j] = plain_scale(bits, max_finite);
    }
    if (!plain) scales[j] = scale_from_amax_unchecked<F>(bit_cast<float>(bits), o);
  }
  return nan_free;
}

/// Runs op(offset, length, scale_arg) over a tile whose block scales are `scales`: one call
/// when the tile is a single block spanning whole rows, else one call per row with one scale
/// per segment of bc columns. Blocks narrower than the segment kernels' 16 columns get their
/// scales expanded to element-wise scales instead, per chunk of 1024 columns (4 KiB on the
/// stack). All give the same bits. `stream` goes to every scale_arg, `nan_free` (the tile holds
/// no NaN) to the segment calls. When `next` is set, the block amaxes of that tile (of x) are
/// accumulated into next_acc on the way: row k of `next` rides along row k of this tile as the
/// scan of its call.
template <class Op>
void apply_tile(const float* x, const tile& t, const float* scales, bool stream, bool nan_free,
                const tile* next, std::uint32_t* next_acc, Op op) {
  const auto run = [&](std::size_t at, std::size_t len, scale_arg sc, const amax_scan& scan) {
    sc.stream = stream;
    sc.scan = scan;
    op(at, len, sc);
  };
  std::size_t scanned = 0;  // rows of `next` done
  const auto next_rows = [&](std::size_t rows) {
    amax_scan scan{};
    if (next == nullptr || scanned == next->r1 - next->r0) return scan;
    scan.x = x + (next->r0 + scanned) * next->cols + next->c0;
    scan.acc = next_acc;
    if (next->blocks() == 1 && next->width() == next->cols) {  // one block of whole rows:
      const std::size_t left = next->r1 - next->r0 - scanned;  // contiguous, one segment
      const std::size_t k = rows < left ? rows : left;
      scan.n = scan.segment = k * next->cols;
      scanned += k;
    } else {
      scan.n = next->width();
      scan.segment = next->bc;
      scanned += 1;
    }
    return scan;
  };
  if (t.blocks() == 1 && t.width() == t.cols) {
    // One segment: the segment kinds fuse the scan (a shorter call divides and scans apart).
    const std::size_t len = (t.r1 - t.r0) * t.cols;
    scale_arg sc = len >= 16 ? per_segment(scales, len) : divide_by(scales[0]);
    sc.nan_free = nan_free;
    run(t.r0 * t.cols, len, sc, next_rows(t.r1 - t.r0));
  } else if (t.bc >= 16) {
    scale_arg sc = per_segment(scales, t.bc);
    sc.nan_free = nan_free;
    for (std::size_t r = t.r0; r < t.r1; ++r) run(r * t.cols + t.c0, t.width(), sc, next_rows(1));
  } else {
    // bc < 1024, so a chunk of `step` (a multiple of bc) columns starts at a block boundary.
    const std::size_t step = 1024 / t.bc * t.bc;
    const fill_segments_fn fill = fill_segments_kernel(simd::active_isa());
    float expanded[1024];
    for (std::size_t c = t.c0; c < t.c1; c += step) {
      const std::size_t len = t.c1 - c < step ? t.c1 - c : step;
      fill(scales + (c - t.c0) / t.bc, len, t.bc, expanded);
      for (std::size_t r = t.r0; r < t.r1; ++r) {
        run(r * t.cols + c, len, per_element(expanded), amax_scan{});
      }
    }
  }
  if (next == nullptr) return;
  const amax_segments_fn kernel = amax_segments_kernel(simd::active_isa());
  for (amax_scan scan = next_rows(1); scan.n != 0; scan = next_rows(1)) {
    kernel(scan.x, scan.n, scan.segment, scan.acc);  // rows no call of this tile took
  }
}

/// Checks the arguments of a block-wise function: the block shape, sizes and pointers (x and
/// out hold rows * cols elements, `blocks` one value per block).
inline void check_blocks(const char* function, std::size_t rows, std::size_t cols, block_shape b,
                         named_arg x, named_arg out, named_arg blocks) {
  check_block(b, function);
  const std::size_t n = checked_product(rows, cols, function);
  check_pointer(x.p, n, function, x.name);
  check_pointer(out.p, n, function, out.name);
  check_pointer(blocks.p, n == 0 ? 0 : count_blocks(rows, b.rows) * count_blocks(cols, b.cols),
                function, blocks.name);
}

/// Calls f(tile, its scales) for every tile of the matrix, block row by block row (Scale: float
/// or const float).
template <class Scale, class Fn>
void for_each_tile(std::size_t rows, std::size_t cols, block_shape b, std::size_t width,
                   Scale* scales, Fn f) {
  const std::size_t nbc = count_blocks(cols, b.cols);
  for (std::size_t r0 = 0; r0 < rows; r0 += b.rows) {
    const std::size_t r1 = rows - r0 < b.rows ? rows : r0 + b.rows;
    for (std::size_t c0 = 0; c0 < cols; c0 += width) {
      const tile t{r0, r1, c0, cols - c0 < width ? cols : c0 + width, cols, b.cols};
      f(t, scales + (r0 / b.rows) * nbc + c0 / b.cols);
    }
  }
}

/// Shared driver of scales_blockwise / quantize_blockwise / fake_quantize_blockwise, a pipeline
/// over the tiles in order: the first tile's block amaxes, then per tile its scales (written to
/// `scales`) and op(tile, its scales, whether it is NaN-free, the next tile or null, next_acc),
/// which must accumulate the next tile's block amaxes into next_acc (zeroed) while it works on
/// this tile (which is in cache: it was read for its amaxes one tile earlier). The caller checks
/// arguments.
template <class F, class Op>
void blockwise(const float* x, std::size_t rows, std::size_t cols, block_shape b, float* scales,
               const scale_options& o, Op op) {
  if (rows == 0 || cols == 0) return;
  as_one_row(rows, cols, b);
  const std::size_t width = tile_width(cols, b);
  const std::size_t per_tile = count_blocks(width, b.cols);
  std::uint32_t acc[2 * max_tile_blocks];
  std::uint32_t* current = acc;
  std::uint32_t* next = acc + per_tile;
  default_fp_env env;
  tile pending{};
  float* pending_scales = nullptr;
  const auto finish = [&](const tile* following) {
    const bool nan_free = tile_scales<F>(x, pending, o, current, pending_scales);
    for (std::size_t j = 0; j < per_tile; ++j) next[j] = 0;
    op(pending, static_cast<const float*>(pending_scales), nan_free, following, next);
    std::swap(current, next);
  };
  for_each_tile(rows, cols, b, width, scales, [&](const tile& t, float* tile_scales_out) {
    if (pending_scales == nullptr) {
      tile_amax(x, t, amax_segments_kernel(simd::active_isa()), current);
    } else {
      finish(&t);
    }
    pending = t;
    pending_scales = tile_scales_out;
  });
  finish(nullptr);
}

/// blockwise, then op(offset, length, scale_arg) over every tile with its new scales, streaming
/// as one operation of `bytes` (read plus written) per element.
template <class F, class Op>
void blockwise_apply(const float* x, std::size_t rows, std::size_t cols, block_shape b,
                     float* scales, const scale_options& o, std::size_t bytes, Op op) {
  const operation_stream stream(rows * cols * bytes);
  blockwise<F>(x, rows, cols, b, scales, o,
               [&](const tile& t, const float* tile_scales, bool nan_free, const tile* next,
                   std::uint32_t* acc) {
                 apply_tile(x, t, tile_scales, stream.on(), nan_free, next, acc, op);
               });
}

}  // namespace detail

/// out = the amax of every block (amax's NaN rule), a row-major
/// ceil(rows / b.rows) x ceil(cols / b.cols) matrix. Throws std::invalid_argument for an empty
/// block shape, a null pointer with a nonzero count or a rows * cols that overflows.
inline void amax_blockwise(const float* x, std::size_t rows, std::size_t cols, block_shape b,
                           float* out) {
  detail::check_blocks("amax_blockwise", rows, cols, b, {x, "x"}, {x, "x"}, {out, "out"});
  if (rows == 0 || cols == 0) return;
  std::vector<std::uint32_t> acc(detail::count_blocks(cols, b.cols));
  const detail::amax_segments_fn kernel = detail::amax_segments_kernel(simd::active_isa());
  detail::for_each_tile(rows, cols, b, cols, out, [&](const detail::tile& t, float* amaxes) {
    detail::tile_amax(x, t, kernel, acc.data());
    for (std::size_t j = 0; j < t.blocks(); ++j) amaxes[j] = detail::bit_cast<float>(acc[j]);
  });
}

/// scales = scale_from_amax<F>(block amax, o) for every block (layout as amax_blockwise). As in
/// scales_per_channel, a block's amax is its largest finite |x|; an all-zero block gets 1.
/// Throws std::invalid_argument for an empty block shape, bad options, a null pointer with a
/// nonzero count or a rows * cols that overflows.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void scales_blockwise(const float* x, std::size_t rows, std::size_t cols, block_shape b,
                      float* scales, scale_options o = {}) {
  detail::check_blocks("scales_blockwise", rows, cols, b, {x, "x"}, {x, "x"}, {scales, "scales"});
  detail::check_scale_options(o, "scales_blockwise");
  const detail::amax_segments_fn kernel = detail::amax_segments_kernel(simd::active_isa());
  detail::blockwise<F>(
      x, rows, cols, b, scales, o,
      [&](const detail::tile&, const float*, bool, const detail::tile* next, std::uint32_t* acc) {
        if (next != nullptr) detail::tile_amax(x, *next, kernel, acc);
      });
}

/// Block-wise quantization: scales as scales_blockwise<F> (written to `scales`), then
/// q = F(fl(x / scale of its block)), saturating (so +-inf gives +-max finite, NaN gives NaN).
/// An all-zero block gets scale 1 and exact zeros. The 128 x 128 scheme gives the same scales
/// (and codes) for a matrix and its transpose, transposed. Throws std::invalid_argument (before
/// writing anything) as scales_blockwise does. Bits as the bulk quantize<F>.
/// Example (e4m3fn, b = {1, 2}): x = {896, 1, 0, 0} as 1 x 4 -> scales {2, 1}, q = {448, 0.5, 0, 0}
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void quantize_blockwise(const float* x, std::size_t rows, std::size_t cols, block_shape b, F* q,
                        float* scales, scale_options o = {}) {
  detail::check_blocks("quantize_blockwise", rows, cols, b, {x, "x"}, {q, "q"}, {scales, "scales"});
  detail::check_scale_options(o, "quantize_blockwise");
  detail::blockwise_apply<F>(x, rows, cols, b, scales, o, sizeof(float) + sizeof(F),
                             [&](std::size_t at, std::size_t len, const detail::scale_arg& sc) {
                               detail::quantize_with(x + at, q + at, len, saturation::finite, sc);
                             });
}

/// y = dequantize_blockwise(quantize_blockwise(x)), scales written as in quantize_blockwise.
/// x == y (in place) is allowed. Throws as quantize_blockwise does.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void fake_quantize_blockwise(const float* x, std::size_t rows, std::size_t cols, block_shape b,
                             float* y, float* scales, scale_options o = {}) {
  detail::check_blocks("fake_quantize_blockwise", rows, cols, b, {x, "x"}, {y, "y"},
                       {scales, "scales"});
  detail::check_scale_options(o, "fake_quantize_blockwise");
  detail::blockwise_apply<F>(x, rows, cols, b, scales, o, 2 * sizeof(float),
                             [&](std::size_t at, std::size_t len, const detail::scale_arg& sc) {
                               detail::fake_quantize_with<F>(x + at, y + at, len,
                                                             saturation::finite, sc);
                             });
}

/// x = fl(float(q) * scale of its block), scales laid out as in quantize_blockwise.
/// Throws std::invalid_argument (before writing anything) for an empty block shape, a null
/// pointer with a nonzero count, a rows * cols that overflows, or unless every scale is finite
/// and > 0.
template <class F, std::enable_if_t<detail::is_minifloat_v<F>, int> = 0>
void dequantize_blockwise(const F* q, std::size_t rows, std::size_t cols, block_shape b,
                          const float* scales, float* x) {
  detail::check_blocks("dequantize_blockwise", rows, cols, b, {q, "q"}, {x, "x"},
                       {scales, "scales"});
  if (rows == 0 || cols == 0) return;
  detail::check_scales(scales, block_count(rows, cols, b), "dequantize_blockwise");
  const detail::operation_stream stream(rows * cols * (sizeof(float) + sizeof(F)));
  detail::default_fp_env env;
  detail::as_one_row(rows, cols, b);
  detail::for_each_tile(
      rows, cols, b, cols, scales, [&](const detail::tile& t, const float* tile_scales) {
        detail::apply_tile(nullptr, t, tile_scales, stream.on(), false, nullptr, nullptr,
                           [&](std::size_t at, std::size_t len, const detail::scale_arg& sc) {
                             detail::dequantize_with(q + at, x + at, len, sc);
                           });
      });
}

}  // namespace fp8kit
