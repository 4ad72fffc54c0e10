#pragma once
// Scales of many channels or blocks at once: checking given scales, and selecting them from
// amax bits: the block-wise default (scale_from_amax with default options: amax / max finite)
// and MX's shared exponents (an e8m0 code, and the inverse scale the quantize kernel multiplies
// by).
// The AVX-512 kernels do 16 scales per step, with the results of the scalar loops.

#include <cstddef>
#include <cstdint>

#include "../config.hpp"
#include "../detail/fp_env.hpp"
#include "amax.hpp"
#include "cpu.hpp"

#if FP8KIT_X86_DISPATCH
#include <immintrin.h>
#endif

// GCC 12 warns about the intrinsics' own _mm512_undefined_*() operands, and at -O0 about the
// macro forms of immediate-operand intrinsics passing (__mmask16)-1 to a short (as in
// x86_avx512.hpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#endif

namespace fp8kit::detail {

// ---- Checking -----------------------------------------------------------------------------

/// Whether every scales[k] is finite and > 0: its bits lie in 1 .. 0x7F7FFFFF (0 wraps around
/// to 0xFFFFFFFF, negatives are >= 2^31). Bits, so -ffast-math and DAZ change nothing.
inline bool scales_valid_scalar(const float* scales, std::size_t n) noexcept {
  std::uint32_t bad = 0;
  for (std::size_t k = 0; k < n; ++k) bad |= bit_cast<std::uint32_t>(scales[k]) - 1u >= 0x7F7FFFFFu;
  return bad == 0;
}

#if FP8KIT_X86_DISPATCH
__attribute__((target("avx512f"))) inline bool scales_valid_avx512(const float* scales,
                                                                   std::size_t n) noexcept {
  // The largest bits - 1 (unsigned), in two accumulators: one compare at the end.
  const __m512i one = _mm512_set1_epi32(1);
  __m512i m0 = _mm512_setzero_si512(), m1 = m0;
  std::size_t k = 0;
  for (; k + 32 <= n; k += 32) {
    m0 = max_epu32_avx512(m0, _mm512_sub_epi32(_mm512_loadu_si512(scales + k), one));
    m1 = max_epu32_avx512(m1, _mm512_sub_epi32(_mm512_loadu_si512(scales + k + 16), one));
  }
  for (; k < n; k += 16) {  // lanes past the end stay 0
    const auto live = static_cast<__mmask16>(n - k >= 16 ? 0xFFFFu : (1u << (n - k)) - 1u);
    const __m512i b = _mm512_maskz_loadu_epi32(live, scales + k);
    m0 = max_epu32_avx512(m0, _mm512_maskz_sub_epi32(live, b, one));
  }
  return _mm512_cmpge_epu32_mask(max_epu32_avx512(m0, m1), _mm512_set1_epi32(0x7F7FFFFF)) == 0;
}
#endif

// ---- Block-wise, default options ------------------------------------------------------------

/// scale_from_amax with the default options for amax bits `bits` (finite, sign clear): one
/// float division (max finite is a float, and the correctly rounded float quotient equals the
/// double quotient rounded to float: 53 >= 2 * 24 + 2), clamped up to FLT_MIN; 0 gives 1.
/// Needs the default FP environment (a subnormal amax must not be flushed).
inline float plain_scale(std::uint32_t bits, float max_finite) noexcept {
  if (bits == 0) return 1.0f;
  const float lo = bit_cast<float>(0x00800000u);               // FLT_MIN
  const float s = bit_cast<float>(bits) / opaque(max_finite);  // opaque: no reciprocal
  return s < lo ? lo : s;  // subnormal or 0: clamp; the quotient cannot overflow
}

/// out[k] = plain_scale(acc[k], max_finite) for the finite entries of acc; entries >= inf get
/// some value, for the caller to replace.
inline void plain_scales_scalar(const std::uint32_t* acc, std::size_t n, float max_finite,
                                float* out) noexcept {
  for (std::size_t k = 0; k < n; ++k) out[k] = plain_scale(acc[k], max_finite);
}

#if FP8KIT_X86_DISPATCH
__attribute__((target("avx512f"))) inline void plain_scales_avx512(const std::uint32_t* acc,
                                                                   std::size_t n, float max_finite,
                                                                   float* out) noexcept {
  constexpr int rn = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m512 divisor = _mm512_set1_ps(max_finite);
  const __m512 lo = _mm512_castsi512_ps(_mm512_set1_epi32(0x00800000));
  for (std::size_t k = 0; k < n; k += 16) {
    const auto live = static_cast<__mmask16>(n - k >= 16 ? 0xFFFFu : (1u << (n - k)) - 1u);
    const __m512i a = _mm512_maskz_loadu_epi32(live, acc + k);
    __m512 s = _mm512_div_round_ps(_mm512_castsi512_ps(a), divisor, rn);
    s = _mm512_mask_mov_ps(s, _mm512_cmp_ps_mask(s, lo, _CMP_LT_OQ), lo);
    s = _mm512_mask_mov_ps(s, _mm512_cmpeq_epi32_mask(a, _mm512_setzero_si512()),
                           _mm512_set1_ps(1.0f));
    _mm512_mask_storeu_ps(out + k, live, s);
  }
}
#endif

// ---- MX --------------------------------------------------------------------------------------

/// What the scale selection needs of the element format and the rounding mode.
struct mx_params {
  int emax;                    // the element format's largest exponent
  std::uint32_t max_fraction;  // its max finite's significand bits, aligned to float's 23
  bool rceil;                  // mx_rounding::rceil
};

inline constexpr std::uint8_t mx_nan_code = 0xFF;

/// The e8m0 code of a block with amax bits `a` (sign clear): 0xFF (NaN) for inf or NaN;
/// floor: floor(log2(amax)) - emax (OCP MX v1.0); rceil: ceil(log2(amax / max finite)), which
/// is one more exactly when amax's significand exceeds max finite's. Clamped to [-127, 127];
/// an all-zero or subnormal amax gives the smallest scale (code 0).
constexpr std::uint8_t mx_code(std::uint32_t a, const mx_params& p) noexcept {
  if (a >= 0x7F800000u) return mx_nan_code;
  if (a < 0x00800000u) return 0;  // floor(log2(amax)) <= -127: below every clamp
  int e = int(a >> 23) - 127 - p.emax;
  if (p.rceil && (a & 0x7FFFFFu) > p.max_fraction) ++e;
  e = e < -127 ? -127 : e > 127 ? 127 : e;
  return static_cast<std::uint8_t>(e + 127);
}

/// The exact inverse of the scale a code stands for, which quantizing multiplies by (the same
/// bits as dividing by the scale): 2^(127 - code) (code 254 gives the subnormal 2^-127), and 1
/// for NaN (its block's elements are overwritten).
constexpr std::uint32_t mx_inverse_bits(std::uint8_t code) noexcept {
  return code == mx_nan_code ? 0x3F800000u
         : code == 254       ? 0x00400000u
                             : std::uint32_t{254u - code} << 23;
}

/// codes[k] = mx_code(acc[k]) and inverses[k] = the float of mx_inverse_bits(codes[k]) for
/// k < blocks; returns whether any code is NaN.
inline bool mx_scales_scalar(const std::uint32_t* acc, std::size_t blocks, const mx_params& p,
                             std::uint8_t* codes, float* inverses) noexcept {
  bool nan = false;
  for (std::size_t k = 0; k < blocks; ++k) {
    codes[k] = mx_code(acc[k], p);
    inverses[k] = bit_cast<float>(mx_inverse_bits(codes[k]));
    nan = nan || codes[k] == mx_nan_code;
  }
  return nan;
}

#if FP8KIT_X86_DISPATCH
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline bool mx_scales_avx512(
    const std::uint32_t* acc, std::size_t blocks, const mx_params& p, std::uint8_t* codes,
    float* inverses) noexcept {
  const __m512i max_fraction = _mm512_set1_epi32(static_cast<int>(p.max_fraction));
  const __m512i bias = _mm512_set1_epi32(-p.emax);  // code = exponent field - emax, clamped
  // maskz forms: g++ 12 warns about the plain ones' undefined operand.
  const __mmask16 all = 0xFFFF;
  __mmask16 any_nan = 0;
  for (std::size_t k = 0; k < blocks; k += 16) {
    const auto live =
        static_cast<__mmask16>(blocks - k >= 16 ? 0xFFFFu : (1u << (blocks - k)) - 1u);
    const __m512i a = _mm512_maskz_loadu_epi32(live, acc + k);
    __m512i c = _mm512_add_epi32(_mm512_maskz_srli_epi32(all, a, 23), bias);
    if (p.rceil) {
      const __mmask16 up =
          _mm512_cmpgt_epu32_mask(_mm512_and_si512(a, _mm512_set1_epi32(0x7FFFFF)), max_fraction);
      c = _mm512_mask_add_epi32(c, up, c, _mm512_set1_epi32(1));
    }
    c = _mm512_maskz_min_epi32(all, _mm512_maskz_max_epi32(all, c, _mm512_setzero_si512()),
                               _mm512_set1_epi32(254));
    // A subnormal or zero amax has exponent field 0, so c <= 1 - emax <= 0 already clamped to 0.
    const __mmask16 nan = _mm512_cmpge_epu32_mask(a, _mm512_set1_epi32(0x7F800000));
    any_nan |= static_cast<__mmask16>(nan & live);
    c = _mm512_mask_mov_epi32(c, nan, _mm512_set1_epi32(mx_nan_code));
    const __m512i c254 = _mm512_set1_epi32(254);
    __m512i s = _mm512_maskz_slli_epi32(all, _mm512_sub_epi32(c254, c), 23);
    s = _mm512_mask_mov_epi32(s, _mm512_cmpeq_epi32_mask(c, c254), _mm512_set1_epi32(0x00400000));
    s = _mm512_mask_mov_epi32(s, nan, _mm512_set1_epi32(0x3F800000));
    _mm512_mask_cvtepi32_storeu_epi8(codes + k, live, c);
    _mm512_mask_storeu_epi32(inverses + k, live, s);
  }
  return any_nan != 0;
}
#endif

// ---- Selection ------------------------------------------------------------------------------

/// The scale kernels of one instruction set.
struct scale_kernels {
  bool (*valid)(const float*, std::size_t) noexcept;
  void (*plain)(const std::uint32_t*, std::size_t, float, float*) noexcept;
  bool (*mx)(const std::uint32_t*, std::size_t, const mx_params&, std::uint8_t*, float*) noexcept;
};

/// The AVX-512 kernels for `which` == avx512, else the scalar loops.
inline scale_kernels scale_kernels_for(simd::isa which) noexcept {
#if FP8KIT_X86_DISPATCH
  if (which == simd::isa::avx512) {
    return {&scales_valid_avx512, &plain_scales_avx512, &mx_scales_avx512};
  }
#endif
  static_cast<void>(which);
  return {&scales_valid_scalar, &plain_scales_scalar, &mx_scales_scalar};
}

}  // namespace fp8kit::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
