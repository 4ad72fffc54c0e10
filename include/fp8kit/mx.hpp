#pragma once
// MX (OCP Microscaling Formats v1.0): blocks of 32 elements in an fp8 format sharing one
// power-of-two scale stored as e8m0fnu. Elements are converted with saturation.

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <type_traits>

#include "bulk.hpp"
#include "config.hpp"
#include "detail/checks.hpp"
#include "detail/fp_env.hpp"
#include "fp8.hpp"
#include "simd/amax.hpp"
#include "simd/block_scales.hpp"
#include "simd/cpu.hpp"

namespace fp8kit {

/// E8M0 ("float8_e8m0fnu"): an unsigned 8-bit power-of-two scale, 2^(code - 127) for codes
/// 0..254 (2^-127 .. 2^127), 0xFF is NaN; no sign, no zero, no inf. One byte, trivially
/// copyable, so buffers may be reinterpret_cast. Value-initialisation gives code 0 (2^-127).
/// Example: float(e8m0fnu::from_bits(0x7F)) == 1.0f; float(e8m0fnu::from_exponent(-3)) == 0.125f
class e8m0fnu {
 public:
  using storage = std::uint8_t;
  static constexpr storage nan_bits = 0xFF;
  static constexpr int bias = 127;
  static constexpr int min_exponent = -127;  // code 0x00
  static constexpr int max_exponent = 127;   // code 0xFE

  e8m0fnu() = default;

  static constexpr e8m0fnu from_bits(storage code) noexcept {
    e8m0fnu s{};
    s.bits_ = code;
    return s;
  }
  /// 2^e, with e clamped to [-127, 127].
  static constexpr e8m0fnu from_exponent(int e) noexcept {
    e = e < min_exponent ? min_exponent : e > max_exponent ? max_exponent : e;
    return from_bits(static_cast<storage>(e + bias));
  }
  static constexpr e8m0fnu nan() noexcept { return from_bits(nan_bits); }

  constexpr storage bits() const noexcept { return bits_; }
  /// code - 127 (meaningless for NaN).
  constexpr int exponent() const noexcept { return int(bits_) - bias; }

  /// Exact: 2^(code - 127) (code 0 is the float subnormal 2^-127); NaN for 0xFF.
  explicit FP8KIT_CONSTEXPR_BITCAST operator float() const noexcept {
    if (bits_ == nan_bits) return detail::bit_cast<float>(0x7FC00000u);
    if (bits_ == 0) return detail::bit_cast<float>(0x00400000u);
    return detail::bit_cast<float>(std::uint32_t{bits_} << 23);
  }
  /// Exact.
  explicit FP8KIT_CONSTEXPR_BITCAST operator double() const noexcept {
    if (bits_ == nan_bits) return detail::bit_cast<double>(0x7FF8000000000000u);
    return detail::bit_cast<double>(std::uint64_t(bits_ - bias + 1023) << 52);
  }

  friend constexpr bool isnan(e8m0fnu s) noexcept { return s.bits_ == nan_bits; }
  // IEEE-like: NaN compares unequal to everything, itself included.
  friend constexpr bool operator==(e8m0fnu a, e8m0fnu b) noexcept {
    return a.bits_ == b.bits_ && a.bits_ != nan_bits;
  }
  friend constexpr bool operator!=(e8m0fnu a, e8m0fnu b) noexcept { return !(a == b); }
  friend std::ostream& operator<<(std::ostream& os, e8m0fnu s) { return os << float(s); }

 private:
  storage bits_;
};

/// Elements per MX block.
inline constexpr std::size_t mx_block_size = 32;

/// How mx_quantize picks a block's shared exponent from its amax.
/// - `floor`: OCP MX v1.0: floor(log2(amax)) - emax of the element format; values whose
///   magnitude exceeds max finite after scaling saturate (up to 2x headroom is clipped).
/// - `rceil`: ceil(log2(amax / max finite)): the smallest power of two under which nothing
///   saturates (NVIDIA's "RCEIL" recipe), computed exactly.
enum class mx_rounding { floor, rceil };

/// Number of MX scales for n elements: ceil(n / 32).
constexpr std::size_t mx_scale_count(std::size_t n) noexcept {
  return n / mx_block_size + (n % mx_block_size != 0 ? 1 : 0);
}

namespace detail {

/// mx_code's parameters for element format F and rounding r.
template <class F>
constexpr mx_params mx_params_for(mx_rounding r) noexcept {
  using tr = typename F::traits;
  static_assert(tr::max_exponent >= 1, "mx: the element format needs emax >= 1");
  return {tr::max_exponent,
          std::uint32_t(tr::max_finite_bits & tr::mantissa_mask) << (23 - tr::mantissa_bits),
          r == mx_rounding::rceil};
}

// MX runs in chunks of 512 blocks (64 KiB of floats: the second pass reads L2), pipelined: the
// first chunk's block amaxes by the segment kernel; then per chunk its scales (16 blocks per
// step) and one bulk call with an inverse scale per 32-element segment, whose conversion also
// scans the next chunk for its block amaxes. (128-block chunks, 4x the hand-overs from one
// chunk to the next, were 6-10 % slower over 2 and 64 MiB.)
inline constexpr std::size_t mx_chunk = 512 * mx_block_size;

/// Elements of the chunk that starts at i0 (<= n) of n elements.
constexpr std::size_t mx_chunk_length(std::size_t n, std::size_t i0) noexcept {
  return n - i0 < mx_chunk ? n - i0 : mx_chunk;
}

/// Checks the pointers of an MX function: x and q hold n elements, scales mx_scale_count(n).
inline void check_mx(const void* x, const void* q, const e8m0fnu* scales, std::size_t n,
                     const char* function) {
  check_pointer(x, n, function, "x");
  check_pointer(q, n, function, "q");
  check_pointer(scales, mx_scale_count(n), function, "scales");
}

/// Sets the elements of the NaN-scale blocks among the `blocks` blocks (scales s) of a chunk of
/// len elements to `nan`.
template <class T>
void fill_nan_blocks(const e8m0fnu* s, std::size_t blocks, std::size_t len, T nan, T* out) {
  for (std::size_t k = 0; k < blocks; ++k) {
    if (!isnan(s[k])) continue;
    const std::size_t end = len - k * mx_block_size < mx_block_size ? len : (k + 1) * mx_block_size;
    for (std::size_t j = k * mx_block_size; j < end; ++j) out[j] = nan;
  }
}

}  // namespace detail

/// MX quantization: x in blocks of 32 (the last may be shorter), scales[k] = the block's shared
/// power of two (mx_rounding), q = F(fl(x / scale)) saturating to +-max finite. A block holding
/// a NaN or an infinity has no power-of-two scale: it gets scales[k] = NaN (0xFF) and NaN
/// elements (F's canonical NaN code), as in the OCP reference implementation (microxcaling). An
/// all-zero block gets the smallest scale (0x00, 2^-127) and zeros (keeping -0 where F has it).
/// `scales` holds mx_scale_count(n) entries. Bit for bit independent of CPU, FP environment and
/// -ffast-math. Throws std::invalid_argument for a null pointer with n > 0.
/// Example (e4m3fn, floor): x = {1.0, 0.5, 0, ...} -> scale 2^-8 (code 0x77), q[0] = 256 (0x78)
template <class F, std::enable_if_t<detail::is_fp8_v<F>, int> = 0>
void mx_quantize(const float* x, std::size_t n, F* q, e8m0fnu* scales,
                 mx_rounding r = mx_rounding::floor) {
  detail::check_mx(x, q, scales, n, "mx_quantize");
  const detail::operation_stream stream(n * (sizeof(float) + sizeof(F)));
  detail::default_fp_env env;
  constexpr std::size_t chunk_blocks = detail::mx_chunk / mx_block_size;
  const detail::mx_params params = detail::mx_params_for<F>(r);
  const auto select = detail::scale_kernels_for(simd::active_isa()).mx;
  float inverse[chunk_blocks];
  // A pipeline: each chunk's conversion also scans the next chunk for its block amaxes. Only
  // the amaxes a chunk has are zeroed: clearing all 4 KiB of acc slowed a 4096-float call 8 %.
  std::uint32_t acc[2][chunk_blocks];
  const auto clear = [](std::uint32_t* a, std::size_t len) {
    for (std::size_t k = 0; k < mx_scale_count(len); ++k) a[k] = 0;
  };
  if (n != 0) {
    const std::size_t len = detail::mx_chunk_length(n, 0);
    clear(acc[0], len);
    detail::amax_segments_kernel(simd::active_isa())(x, len, mx_block_size, acc[0]);
  }
  for (std::size_t i0 = 0, c = 0; i0 < n; i0 += detail::mx_chunk, c ^= 1) {
    const std::size_t len = detail::mx_chunk_length(n, i0);
    const std::size_t blocks = mx_scale_count(len);
    e8m0fnu* s = scales + i0 / mx_block_size;
    // e8m0fnu is one byte holding its code: write the codes through its object representation.
    static_assert(sizeof(e8m0fnu) == 1 && std::is_trivially_copyable_v<e8m0fnu>);
    const bool has_nan =
        select(acc[c], blocks, params, reinterpret_cast<std::uint8_t*>(s), inverse);
    // x / 2^e as x * 2^-e: the same bits, and cheaper.
    detail::scale_arg sc = detail::per_segment(inverse, mx_block_size, stream.on());
    sc.kind = detail::scale_kind::inverse_segments;
    sc.nan_free = true;  // NaN elements lie in NaN-scale blocks, overwritten below
    const std::size_t next = i0 + len, next_len = detail::mx_chunk_length(n, next);
    clear(acc[c ^ 1], next_len);
    sc.scan = {x + next, next_len, mx_block_size, acc[c ^ 1]};
    detail::quantize_with(x + i0, q + i0, len, saturation::finite, sc);
    if (has_nan) {
      stream.fence();  // the streamed codes land before their overwrite
      detail::fill_nan_blocks(s, blocks, len, F::from_bits(F::traits::nan_bits), q + i0);
    }
  }
}

/// MX dequantization: x = fl(float(q) * 2^(code - 127)) per block of 32 (exact unless it
/// overflows float); a NaN scale (0xFF) gives NaN for its whole block. Throws
/// std::invalid_argument for a null pointer with n > 0.
template <class F, std::enable_if_t<detail::is_fp8_v<F>, int> = 0>
void mx_dequantize(const F* q, std::size_t n, const e8m0fnu* scales, float* x) {
  detail::check_mx(x, q, scales, n, "mx_dequantize");
  const detail::operation_stream stream(n * (sizeof(float) + sizeof(F)));
  detail::default_fp_env env;
  float block_scale[detail::mx_chunk / mx_block_size];
  for (std::size_t i0 = 0; i0 < n; i0 += detail::mx_chunk) {
    const std::size_t len = detail::mx_chunk_length(n, i0);
    const std::size_t blocks = mx_scale_count(len);
    const e8m0fnu* s = scales + i0 / mx_block_size;
    bool has_nan = false;
    for (std::size_t k = 0; k < blocks; ++k) {
      has_nan = has_nan || isnan(s[k]);
      block_scale[k] = isnan(s[k]) ? 1.0f : float(s[k]);
    }
    detail::dequantize_with(q + i0, x + i0, len,
                            detail::per_segment(block_scale, mx_block_size, stream.on()));
    if (has_nan) {
      stream.fence();
      detail::fill_nan_blocks(s, blocks, len, float(e8m0fnu::nan()), x + i0);
    }
  }
}

}  // namespace fp8kit
