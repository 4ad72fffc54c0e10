#pragma once
// Constants of the branch-free float <-> small-float codecs that every SIMD kernel implements
// (generic xsimd, AVX2, AVX-512). The scalar fp8kit::convert is the reference; these kernels
// must match it bit for bit.
//
// Encode float -> code of format T (fp8, half; bfloat16, which shares float's exponent range,
// rounds the bits instead: (a + 0x7FFF + lsb) >> 16, subnormals included):
//   1. a = |x|, clamped: a = min(a, bound). `finite`: bound = max finite, so +-inf and overflow
//      clamp. `none`: bound = max finite + one ulp, the value that code limit =
//      max_finite_bits + 1 would have: inf (ieee), the NaN S.1111111 (fn) or 0x80 (fnuz).
//   2. Magic: e = max(exponent bits of a, exponent bits of T's min normal). The float with
//      exponent e + (23 - M) has a unit u in the last place equal to T's unit at exponent e
//      (subnormals share the min normal's unit). sum = a + magic rounds once, to nearest even.
//   3. sum = magic + r * u with r = round(a / u) (r = 2^(M+1) when rounding carries into the
//      next binade), and sum's exponent is e's plus 23 - M. So the code,
//      r + ((exponent(e) - exponent(min normal)) << M), equals (sum + (sum >> (23 - M))) minus a
//      constant; the kernels keep only the low 8 (or 16) bits, so the constant is folded into
//      the magic as `magic_code_offset` extra units: an even number, so ties still go to even.
//   4. NaN lanes take nan_code; the sign rides along as bit 7 (fnuz: not on a zero code).
// The add is the only rounding step; a, magic and sum are normal floats (T's subnormals are
// normal in float), so DAZ/FTZ cannot change the result; kernels add with round-to-nearest.
// fake_quantize stays in floats: sum - magic is the rounded |x|, exactly.
//
// Decode code -> float (arithmetic kernels; the AVX-512 VBMI kernel uses byte tables):
//   normal: bits = (mag << (23 - M)) + normal_offset; subnormal: float(mag) * 2^(emin - M)
//   (an exact product of normal floats); then inf / NaN codes and the sign.

#include <cstddef>
#include <cstdint>

#include "../config.hpp"
#include "../format.hpp"

namespace fp8kit::detail {

/// Float bits of a positive double that is exactly a float (constant expressions only).
constexpr std::uint32_t float_bits_of(double v) noexcept {
  int e = 0;
  while (v >= 2.0) {
    v /= 2.0;
    ++e;
  }
  while (v < 1.0) {
    v *= 2.0;
    --e;
  }
  const auto mantissa = static_cast<std::uint32_t>((v - 1.0) * 8388608.0);  // exact by contract
  return (static_cast<std::uint32_t>(e + 127) << 23) | mantissa;
}

template <class T>
struct codec_params {
  static constexpr int m = T::mantissa_bits;
  static constexpr int shift = 23 - m;  // float mantissa bits below T's
  static constexpr int code_bits = T::total_bits;
  static constexpr int sign_shift = 31 - (code_bits - 1);  // float sign bit -> code sign bit
  static constexpr bool integer_rounding = T::exponent_bits == 8;  // bfloat16: float's range
  static constexpr bool fnuz = T::enc == encoding::fnuz;
  static constexpr bool ieee = T::enc == encoding::ieee;

  // Encoder.
  static constexpr std::uint32_t emin_bits = static_cast<std::uint32_t>(127 + T::min_exponent)
                                             << 23;
  static constexpr std::uint32_t code_mask = (std::uint32_t{1} << code_bits) - 1;
  // Units of T added to the magic so that (sum + (sum >> shift)) & code_mask is the code.
  static constexpr std::uint32_t magic_code_offset =
      (0u - (((static_cast<std::uint32_t>(shift) << 23) + emin_bits) >> shift)) & code_mask;
  static constexpr std::uint32_t magic_offset =
      (static_cast<std::uint32_t>(shift) << 23) + magic_code_offset;
  static constexpr std::uint32_t max_finite_bits =
      integer_rounding ? 0x7F7FFFFFu : float_bits_of(T::max_finite);
  static constexpr std::uint32_t overflow_bits =
      integer_rounding ? 0x7F800000u
                       : float_bits_of(T::max_finite + pow2(T::max_exponent - T::mantissa_bits));
  static constexpr std::uint32_t bound(saturation s) noexcept {
    return s == saturation::finite ? max_finite_bits : overflow_bits;
  }
  static constexpr std::uint32_t nan_code = T::nan_bits;  // fnuz: 0x80, sign included

  // Decoder.
  static constexpr std::uint32_t normal_offset = static_cast<std::uint32_t>(127 - T::bias) << 23;
  static constexpr std::uint32_t min_normal_code = std::uint32_t{1} << m;
  static constexpr std::uint32_t magnitude_mask = T::magnitude_mask;
  static constexpr std::uint32_t sign_mask = T::sign_mask;
  static constexpr std::uint32_t exponent_mask = T::exponent_mask;
  static constexpr float subnormal_unit = static_cast<float>(pow2(T::min_exponent - m));
  static constexpr std::uint32_t float_nan = 0x7FC00000u;
  static constexpr std::uint32_t float_inf = 0x7F800000u;

  static_assert(integer_rounding || (T::min_exponent > -126 && T::max_exponent < 127),
                "codec_params: T must sit inside float's normal range (or be bfloat16)");
  static_assert(integer_rounding ||
                    (magic_code_offset % 2 == 0 && magic_code_offset + (2u << m) < (1u << shift)),
                "codec_params: the code offset must be even and leave sum's exponent alone");
};

/// How a kernel scales: before encoding (x / value, x * inverse, x / each[i], x / the scale of
/// i's segment) and after decoding (q * value, q * each[i], q * the segment's scale).
/// fake_quantize does both with the same kind.
/// `segments`: element i (counted from the call's first element) belongs to segment
/// (first + i) / segment, whose scale is each[that]; segment >= 16 (a vector of 16 lanes spans
/// at most two segments). One scale per row of a matrix, or per block of a row.
/// `inverse_segments` (encoding only): as segments, but each[] holds the exact inverses of
/// power-of-two scales (MX), so encoding multiplies: the same bits as dividing.
enum class scale_kind { none, div, mul, each, segments, inverse_segments };

/// Segment scale kinds: only the AVX-512 kernels take them (the others get one call per
/// segment), and only they fuse an amax_scan.
constexpr bool is_segment_kind(scale_kind k) noexcept {
  return k == scale_kind::segments || k == scale_kind::inverse_segments;
}

/// A second stream whose segment amaxes an encode or fake_quantize call accumulates while it
/// converts, so that the block-wise and MX pipelines read the next tile for its amax pass during
/// the current tile's conversion (the AVX-512 kernels of the segment kinds interleave both; other
/// kernels and kinds, and segments that are not a multiple of 16, take a separate amax pass, with
/// the same result):
/// acc[j] = max(acc[j], amax_bits of x[j * segment, min((j + 1) * segment, n))).
struct amax_scan {
  const float* x = nullptr;
  std::size_t n = 0;
  std::size_t segment = 0;  // > 0 when n > 0
  std::uint32_t* acc = nullptr;
};

struct scale_arg {
  scale_kind kind = scale_kind::none;
  float value = 1.0f;           // the (dequantization) scale
  float inverse = 1.0f;         // 1 / value when that is exact (kind == mul before encoding)
  const float* each = nullptr;  // per-element (kind each) or per-segment (kind segments) scales
  std::size_t segment = 0;      // kind segments: elements per segment
  std::size_t first = 0;        // kind segments: elements of segment 0 before this call's start
  bool stream = false;  // non-temporal stores whatever the size; the caller then store_fence()s
  std::size_t prefetch = 0;  // > 0: prefetch the source this many elements ahead (AVX-512)
  amax_scan scan{};          // encode and fake_quantize only
  // Kind segments: the caller knows the source holds no NaN (it has the block amaxes), so the
  // AVX-512 encode and fake_quantize kernels may skip their NaN fix-up: the same bits, fewer ops.
  bool nan_free = false;
};

/// Non-temporal stores pay off only when the data cannot stay in the caches anyway: from this
/// many bytes read plus written (about the L3 size of the machines we target), in one call or
/// in an operation made of many calls (scale_arg::stream).
inline constexpr std::size_t stream_threshold = std::size_t{32} << 20;

/// s for a call starting k elements later (without the scan, which belongs to one call).
inline scale_arg advanced(const scale_arg& s, std::size_t k) noexcept {
  scale_arg t = s;
  t.scan = amax_scan{};
  if (t.kind == scale_kind::each) t.each += k;
  if (t.kind == scale_kind::segments || t.kind == scale_kind::inverse_segments) {
    const std::size_t position = s.first + k;
    t.each += position / s.segment;
    t.first = position % s.segment;
  }
  return t;
}

/// 1 / scale if multiplying by it equals dividing by scale for every float x: scale is a power
/// of two whose reciprocal is a normal float. Otherwise 0.
inline float exact_inverse(float scale) noexcept {
  const std::uint32_t bits = bit_cast<std::uint32_t>(scale);
  const std::uint32_t field = bits >> 23;  // sign is 0 for a checked scale
  if ((bits & 0x7FFFFFu) != 0 || field < 1 || field > 253) return 0.0f;
  return bit_cast<float>((254u - field) << 23);
}

/// Scaling before encoding: divide by `scale`, or multiply by its inverse when that gives the
/// same bits for every input (a power of two with a normal inverse).
inline scale_arg divide_by(float scale) noexcept {
  const float inverse = exact_inverse(scale);
  return {inverse != 0.0f ? scale_kind::mul : scale_kind::div, scale, inverse, nullptr};
}

}  // namespace fp8kit::detail
