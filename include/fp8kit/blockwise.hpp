#pragma once
// Block-wise scaling (DeepSeek-style): one scale per b.rows x b.cols block. Quantization is a
// pipeline over tiles (blocks one row high: ~16 Ki floats of the matrix read as one long row;
// taller blocks: a block row): each tile's conversion runs the bulk SIMD kernels with a scale
// per segment of a row and also scans the next tile for its block amaxes (scale_arg::scan), so
// x is read from memory once and the bits equal the scalar conversions'.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "bulk.hpp"
#include "config.hpp"
#include "detail/checks.hpp"
#include "detail/fp_env.hpp"
#include "fp8.hpp"
#include "scale.hpp"
#include "simd/amax.hpp"
#include "simd/block_scales.hpp"
#include "simd/cpu.hpp"

#if FP8KIT_HAS_SPAN
#include <span>
#endif

namespace fp8kit {

// DeepSeek-V3 uses {128, 128} blocks for weights and {1, 128} for activations. Scales are a
// row-major ceil(rows / b.rows) x ceil(cols / b.cols) matrix; edge blocks may be partial.

namespace detail {

inline constexpr std::size_t count_blocks(std::size_t n, std::size_t block) noexcept {
  return n / block + (n % block != 0 ? 1 : 0);
}

}  // namespace detail

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
    // A tile of many rows rereads x from L3 while its scan streams the next tile in: there,
    // prefetching 8 KiB ahead made 128x128 blocks over 64 MiB 7-15 % faster (A/B runs); it
    // slowed tiles of one long row (L2) and a lone block row (no scan) by 2-8 %.
    if (next != nullptr && t.r1 - t.r0 > 1) sc.prefetch = 2048;
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
