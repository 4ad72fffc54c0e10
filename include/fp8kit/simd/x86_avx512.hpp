#pragma once
// AVX-512 kernels (F + BW + VL + DQ; VBMI for the byte-table decoders), compiled with function
// target attributes so that a build without -march runs them on a CPU that has them.
// xsimd 8.1 has no narrowing 32 -> 8 / 16 bit, no byte permutes and no masked tails; here:
//   encode:  the magic-add encoder of codec.hpp (vrangeps clamp, vaddps with embedded
//            round-to-nearest, vfpclassps for NaN), vpmovdb / vpmovdw to narrow; bfloat16
//            sources widen with vpunpck*wd; masked loads and stores for the tail (no scalar
//            loop), so bytes after the end are never touched;
//   decode:  VBMI: vpermb puts 64 codes in the order the in-lane unpacks need, vpermt2b looks
//            up two 128-entry byte tables (high and low byte of the bf16 or half pattern; every
//            fp8 value is exact in both), vpunpck*bw / vpunpck*wd widen; without VBMI the
//            arithmetic decoder of codec.hpp;
//   fused:   fake_quantize rounds in the float domain (sum - magic is the rounded value);
//   scans:   encode and fake_quantize of the segment kinds interleave a scale_arg::scan
//            (amax_scanner_avx512) with their own vectors; scale_arg::nan_free drops the NaN
//            fix-up.
// Operations beyond stream_threshold (or when the caller asks: scale_arg::stream) use
// non-temporal stores for the 64-byte aligned body (run_range).
// Division and every add that rounds use the *_round_ps forms: GCC and Clang rewrite the plain
// intrinsics under -ffast-math (x / s into x * (1 / s); (a + m) - m into a).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../config.hpp"
#include "../convert.hpp"
#include "../half.hpp"
#include "amax.hpp"
#include "codec.hpp"
#include "cpu.hpp"

#if FP8KIT_X86_DISPATCH
#include <immintrin.h>

// GCC 12.2 warns about the intrinsics' own _mm512_undefined_*() (GCC bug 105593), and at -O0
// about the macro forms of immediate-operand intrinsics passing (__mmask16)-1 to a short.
// (Clang checks this file with every warning on.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#endif

namespace fp8kit::detail::avx512 {

#define FP8KIT_AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define FP8KIT_AVX512_INLINE \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), always_inline)) inline
#define FP8KIT_AVX512VBMI_FN \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi")))
#define FP8KIT_AVX512VBMI_INLINE \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi"), always_inline)) inline

constexpr int rn = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

FP8KIT_AVX512_INLINE __m512i splat(std::uint32_t v) {
  return _mm512_set1_epi32(static_cast<int>(v));
}
FP8KIT_AVX512_INLINE __m512 as_float(__m512i v) { return _mm512_castsi512_ps(v); }
FP8KIT_AVX512_INLINE __m512i as_int(__m512 v) { return _mm512_castps_si512(v); }
FP8KIT_AVX512_INLINE __mmask16 tail_mask16(std::size_t n) {
  return static_cast<__mmask16>((1u << n) - 1u);  // n < 16
}
FP8KIT_AVX512_INLINE __mmask64 tail_mask64(std::size_t n) {
  return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1u;
}

// ---- Scaling applied before encoding / after decoding -------------------------------------

/// Loop-invariant part of a scale_arg.
struct scale_regs {
  __m512 value;  // scale (div, mul_after) or its exact inverse (mul)
  __m512 after;  // the multiplier applied after decoding (fake_quantize, dequantize)
};

FP8KIT_AVX512_INLINE scale_regs make_scale_regs(const scale_arg& s) {
  return {_mm512_set1_ps(s.kind == scale_kind::mul ? s.inverse : s.value), _mm512_set1_ps(s.value)};
}

/// Walks the segment scales of a kind-segments scale_arg 16 lanes at a time, in order.
class segment_cursor {
 public:
  explicit segment_cursor(const scale_arg& s) noexcept
      : scale_(s.each), segment_(s.segment), left_(s.segment - s.first) {}

  /// The scales of the next 16 lanes, of which the first `valid` (1..16) exist. A segment
  /// ending inside the vector hands the remaining lanes to the next one (segment >= 16, so at
  /// most two meet). Never reads a scale beyond the segment of the last valid lane.
  FP8KIT_AVX512_INLINE __m512 next(std::size_t valid) {
    __m512 v = _mm512_set1_ps(*scale_);
    if (left_ > 16) {
      left_ -= 16;
    } else if (left_ < valid) {
      const auto rest = static_cast<__mmask16>(0xFFFFu << left_);
      v = _mm512_mask_mov_ps(v, rest, _mm512_set1_ps(*++scale_));
      left_ = segment_ - (16 - left_);
    } else {
      ++scale_;
      left_ = segment_;
    }
    return v;
  }

 private:
  const float* scale_;
  std::size_t segment_;
  std::size_t left_;  // lanes of the current segment still to come (1..segment)
};

/// The per-lane scales of the 16 lanes at i (kinds each and segments; unused otherwise).
template <scale_kind K>
FP8KIT_AVX512_INLINE __m512 lane_scales(const float* each, segment_cursor& cursor, std::size_t i,
                                        __mmask16 m, std::size_t valid) {
  if constexpr (K == scale_kind::each) {
    // Lanes outside the tail divide 0 by 0: NaN, never stored; SAE raises no flag.
    return _mm512_maskz_loadu_ps(m, each + i);
  } else if constexpr (K == scale_kind::segments || K == scale_kind::inverse_segments) {
    return cursor.next(valid);
  } else {
    (void)each, (void)cursor, (void)i, (void)m, (void)valid;
    return _mm512_setzero_ps();
  }
}

/// x before encoding: divided by (or multiplied by the exact inverse of) its scale.
template <scale_kind K>
FP8KIT_AVX512_INLINE __m512 pre_scale(__m512 x, const scale_regs& r, __m512 lanes) {
  if constexpr (K == scale_kind::div) {
    return _mm512_div_round_ps(x, r.value, rn);
  } else if constexpr (K == scale_kind::mul) {
    return _mm512_mul_round_ps(x, r.value, rn);
  } else if constexpr (K == scale_kind::inverse_segments) {
    return _mm512_mul_round_ps(x, lanes, rn);
  } else if constexpr (K == scale_kind::each || K == scale_kind::segments) {
    return _mm512_div_round_ps(x, lanes, rn);
  } else {
    (void)r, (void)lanes;
    return x;
  }
}

/// x after decoding: times its scale.
template <scale_kind K>
FP8KIT_AVX512_INLINE __m512 post_scale(__m512 x, const scale_regs& r, __m512 lanes) {
  if constexpr (K == scale_kind::none) {
    (void)r, (void)lanes;
    return x;
  } else if constexpr (K == scale_kind::each || K == scale_kind::segments) {
    return _mm512_mul_round_ps(x, lanes, rn);
  } else {
    return _mm512_mul_round_ps(x, r.after, rn);
  }
}

// ---- Encoder: float lanes -> code lanes (int32) ---------------------------------------------

/// |x| clamped to bound (vrangeps: min of magnitudes, sign cleared). NaN lanes give any value:
/// callers overwrite them using nan_mask().
template <class T, saturation S>
FP8KIT_AVX512_INLINE __m512i clamped_magnitude(__m512 x) {
  return as_int(_mm512_range_ps(x, as_float(splat(codec_params<T>::bound(S))), 0x0A));
}
FP8KIT_AVX512_INLINE __mmask16 nan_mask(__m512 x) { return _mm512_fpclass_ps_mask(x, 0x81); }

/// The magic float of codec.hpp for a clamped magnitude.
template <class T>
FP8KIT_AVX512_INLINE __m512 magic_for(__m512i ac) {
  using p = codec_params<T>;
  const __m512i e = _mm512_max_epu32(_mm512_and_si512(ac, splat(0x7F800000u)), splat(p::emin_bits));
  return as_float(_mm512_add_epi32(e, splat(p::magic_offset)));
}

/// Codes of T for 16 floats, in the low 8 (fp8) or 16 bits of each lane; upper bits are junk.
/// NanFree: the caller knows no lane is NaN (scale_arg::nan_free), so the NaN fix-up goes.
template <class T, saturation S, bool NanFree = false>
FP8KIT_AVX512_INLINE __m512i encode16(__m512 x) {
  using p = codec_params<T>;
  __asm__("" : "+v"(x));  // one register: GCC would otherwise reload x for each use
  const __mmask16 neg = _mm512_movepi32_mask(as_int(x));
  __m512i code;
  if constexpr (p::integer_rounding) {
    // bfloat16 shares float's exponent range: round the bits (subnormals included).
    const __m512i a = _mm512_and_si512(as_int(x), splat(0x7FFFFFFFu));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(a, 16), splat(1));
    code = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(a, splat(0x7FFFu)), lsb), 16);
    code = _mm512_min_epu32(code, splat(p::bound(S) >> 16));
  } else {
    const __m512i ac = clamped_magnitude<T, S>(x);
    const __m512i sum = as_int(_mm512_add_round_ps(as_float(ac), magic_for<T>(ac), rn));
    code = _mm512_add_epi32(sum, _mm512_srli_epi32(sum, p::shift));
  }
  if constexpr (!NanFree) code = _mm512_mask_mov_epi32(code, nan_mask(x), splat(p::nan_code));
  __mmask16 signed_lanes = neg;
  if constexpr (p::fnuz) signed_lanes = _mm512_mask_test_epi32_mask(neg, code, splat(p::code_mask));
  return _mm512_mask_or_epi32(code, signed_lanes, code, splat(p::sign_mask));
}

/// fake-quantized value of x (before the multiply by the scale): the float value of the code
/// that encode16 would give, computed without leaving the float domain.
template <class T, saturation S, bool NanFree = false>
FP8KIT_AVX512_INLINE __m512 round16(__m512 x) {
  using p = codec_params<T>;
  static_assert(!p::integer_rounding, "round16: fp8 and half only");
  const __mmask16 nan = NanFree ? __mmask16{0} : nan_mask(x);
  const __m512i ac = clamped_magnitude<T, S>(x);
  const __m512 magic = magic_for<T>(ac);
  const __m512 sum = _mm512_add_round_ps(as_float(ac), magic, rn);
  __m512i v = as_int(_mm512_sub_round_ps(sum, magic, rn));  // exact: the rounded |x|
  __mmask16 special = nan;
  if constexpr (S == saturation::none) {
    special |= _mm512_cmpeq_epi32_mask(v, splat(p::overflow_bits));
  }
  if constexpr (p::fnuz) {
    // No -0; NaN and overflow decode from 0x80 to -NaN.
    const __mmask16 neg = _mm512_mask_test_epi32_mask(_mm512_movepi32_mask(as_int(x)), v, v);
    v = _mm512_mask_or_epi32(v, neg, v, splat(0x80000000u));
    v = _mm512_mask_mov_epi32(v, special, splat(0xFFC00000u));
  } else {
    if constexpr (p::ieee && S == saturation::none) {
      v = _mm512_mask_mov_epi32(v, special, splat(p::float_inf));
      v = _mm512_mask_mov_epi32(v, nan, splat(p::float_nan));
    } else {
      v = _mm512_mask_mov_epi32(v, special, splat(p::float_nan));
    }
    v = _mm512_ternarylogic_epi32(v, as_int(x), splat(0x80000000u), 0xF8);  // v | (x & sign)
  }
  return as_float(v);
}

// ---- Arithmetic decoder: code lanes (int32) -> float ---------------------------------------

template <class T>
FP8KIT_AVX512_INLINE __m512 decode16(__m512i c) {
  using p = codec_params<T>;
  const __m512i mag = _mm512_and_si512(c, splat(p::magnitude_mask));
  __m512i r;
  if constexpr (p::integer_rounding) {
    r = _mm512_slli_epi32(mag, 16);
    r = _mm512_mask_mov_epi32(r, _mm512_cmpgt_epu32_mask(mag, splat(0x7F80u)), splat(p::float_nan));
  } else {
    r = _mm512_add_epi32(_mm512_slli_epi32(mag, p::shift), splat(p::normal_offset));
    const __m512 sub =
        _mm512_mul_round_ps(_mm512_cvtepi32_ps(mag), _mm512_set1_ps(p::subnormal_unit), rn);
    r = _mm512_mask_mov_epi32(r, _mm512_cmplt_epu32_mask(mag, splat(p::min_normal_code)),
                              as_int(sub));
    if constexpr (p::ieee) {
      r = _mm512_mask_mov_epi32(r, _mm512_cmpeq_epi32_mask(mag, splat(p::exponent_mask)),
                                splat(p::float_inf));
      r = _mm512_mask_mov_epi32(r, _mm512_cmpgt_epu32_mask(mag, splat(p::exponent_mask)),
                                splat(p::float_nan));
    } else if constexpr (p::fnuz) {
      r = _mm512_mask_mov_epi32(r, _mm512_cmpeq_epi32_mask(c, splat(p::sign_mask)),
                                splat(p::float_nan));
    } else {
      r = _mm512_mask_mov_epi32(r, _mm512_cmpeq_epi32_mask(mag, splat(p::magnitude_mask)),
                                splat(p::float_nan));
    }
  }
  return as_float(
      _mm512_ternarylogic_epi32(r, _mm512_slli_epi32(c, p::sign_shift), splat(0x80000000u), 0xF8));
}

// ---- Loads and stores ----------------------------------------------------------------------

/// 16 source values as floats (masked lanes read as 0).
template <class Src>
FP8KIT_AVX512_INLINE __m512 load16(const Src* src, __mmask16 m) {
  if constexpr (std::is_same_v<Src, float>) {
    return _mm512_maskz_loadu_ps(m, src);
  } else {
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, src));
    if constexpr (std::is_same_v<typename Src::traits, bfloat16_traits>) {
      return as_float(_mm512_slli_epi32(h, 16));  // exact; NaN payloads do not matter to encode16
    } else {
      return decode16<typename Src::traits>(h);
    }
  }
}

template <class Dst>
FP8KIT_AVX512_INLINE void store_codes16(Dst* dst, __m512i code, __mmask16 m) {
  if constexpr (sizeof(Dst) == 1) {
    _mm512_mask_cvtepi32_storeu_epi8(dst, m, code);
  } else {
    _mm512_mask_cvtepi32_storeu_epi16(dst, m, code);
  }
}
template <class Dst>
FP8KIT_AVX512_INLINE void store_codes16(Dst* dst, __m512i code) {
  if constexpr (sizeof(Dst) == 1) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm512_cvtepi32_epi8(code));
  } else {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm512_cvtepi32_epi16(code));
  }
}

/// src[i..i+16) as floats (lanes from m, `valid` of them), scaled for encoding.
template <scale_kind K, class Src>
FP8KIT_AVX512_INLINE __m512 load_scaled(const Src* src, std::size_t i, __mmask16 m,
                                        std::size_t valid, const scale_regs& r, const float* each,
                                        segment_cursor& cursor) {
  return pre_scale<K>(load16(src + i, m), r, lane_scales<K>(each, cursor, i, m, valid));
}

// ---- Kernels -------------------------------------------------------------------------------

/// Only the segment kinds fuse a scan (the block-wise and MX pipelines); the other kernels are
/// smaller without it.
template <scale_kind K>
using scanner_for = std::conditional_t<is_segment_kind(K), amax_scanner_avx512, no_scanner>;

/// dst[i] = code of T for pre_scale(src[i]); Src is float, bfloat16 or half (K == none then);
/// Dst is the one- or two-byte storage of T. Stream: non-temporal stores of whole 64-code
/// blocks (one-byte codes, dst 64-byte aligned, n a multiple of 64).
template <class T, saturation S, scale_kind K, bool Stream, bool NanFree, class Src, class Dst>
FP8KIT_AVX512_FN void encode_range(const Src* src, Dst* dst, std::size_t n, const scale_arg& s) {
  const scale_regs r = make_scale_regs(s);
  segment_cursor cursor(s);
  amax_park park;
  scanner_for<K> scan(s.scan, park);
  const __mmask16 all = 0xFFFF;
  std::size_t i = 0;
  if constexpr (std::is_same_v<Src, bfloat16> && sizeof(Dst) == 1) {
    // bfloat16 << 16 is the float: vpunpck{l,h}wd with zero widens 32 at a time, in the lane
    // order {0-3, 8-11, 16-19, 24-27} and {4-7, ...}; vpunpck{l,h}dq on the codes undoes it.
    const __m512i zero = _mm512_setzero_si512();
    for (; i + 64 <= n; i += 64) {
      __m128i q[4];
      for (std::size_t h = 0; h < 2; ++h) {
        const __m512i v = _mm512_loadu_si512(src + i + 32 * h);
        const __m128i a =
            _mm512_cvtepi32_epi8(encode16<T, S>(as_float(_mm512_unpacklo_epi16(zero, v))));
        const __m128i b =
            _mm512_cvtepi32_epi8(encode16<T, S>(as_float(_mm512_unpackhi_epi16(zero, v))));
        q[2 * h] = _mm_unpacklo_epi32(a, b);
        q[2 * h + 1] = _mm_unpackhi_epi32(a, b);
      }
      if constexpr (Stream) {
        __m512i z = _mm512_castsi128_si512(q[0]);
        z = _mm512_inserti32x4(z, q[1], 1);
        z = _mm512_inserti32x4(z, q[2], 2);
        z = _mm512_inserti32x4(z, q[3], 3);
        _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), z);
      } else {
        for (std::size_t j = 0; j < 4; ++j) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i + 16 * j), q[j]);
        }
      }
    }
  }
  for (; i + 64 <= n; i += 64) {
    prefetch_ahead(src + i, 64 * sizeof(Src), s.prefetch * sizeof(Src));
    scan.template step<4>();
    const __m512i c0 = encode16<T, S, NanFree>(load_scaled<K>(src, i, all, 16, r, s.each, cursor));
    const __m512i c1 =
        encode16<T, S, NanFree>(load_scaled<K>(src, i + 16, all, 16, r, s.each, cursor));
    const __m512i c2 =
        encode16<T, S, NanFree>(load_scaled<K>(src, i + 32, all, 16, r, s.each, cursor));
    const __m512i c3 =
        encode16<T, S, NanFree>(load_scaled<K>(src, i + 48, all, 16, r, s.each, cursor));
    if constexpr (Stream && sizeof(Dst) == 1) {
      __m512i z = _mm512_castsi128_si512(_mm512_cvtepi32_epi8(c0));
      z = _mm512_inserti32x4(z, _mm512_cvtepi32_epi8(c1), 1);
      z = _mm512_inserti32x4(z, _mm512_cvtepi32_epi8(c2), 2);
      z = _mm512_inserti32x4(z, _mm512_cvtepi32_epi8(c3), 3);
      _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), z);
    } else {
      store_codes16(dst + i, c0);
      store_codes16(dst + i + 16, c1);
      store_codes16(dst + i + 32, c2);
      store_codes16(dst + i + 48, c3);
    }
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? all : tail_mask16(n - i);
    store_codes16(dst + i,
                  encode16<T, S, NanFree>(load_scaled<K>(src, i, m, n - i, r, s.each, cursor)), m);
  }
  scan.finish();
}

/// Runs range(stream, src, dst, n, s). Small outputs: once, with normal stores. Operations of
/// >= stream_threshold bytes read plus written (or s.stream): range<false> on a head that brings
/// dst to a 64-byte boundary, range<true> (non-temporal stores) on whole blocks, range<false> on
/// the rest, then a fence (unless the caller asked for streaming: it fences once, at its end).
/// s.scan goes with the whole blocks.
template <std::size_t Block, class Src, class Dst, class Range>
FP8KIT_AVX512_INLINE void run_range(const Src* src, Dst* dst, std::size_t n, const scale_arg& s,
                                    Range range) {
  if (!s.stream && n * (sizeof(Src) + sizeof(Dst)) < stream_threshold) {
    range(std::false_type{}, src, dst, n, s);
    return;
  }
  const std::size_t misalign = reinterpret_cast<std::uintptr_t>(dst) & 63u;
  const std::size_t head = std::min(n, misalign == 0 ? 0 : (64 - misalign) / sizeof(Dst));
  const std::size_t body = (n - head) / Block * Block;
  scale_arg body_arg = advanced(s, head);
  body_arg.scan = s.scan;
  range(std::false_type{}, src, dst, head, advanced(s, 0));
  range(std::true_type{}, src + head, dst + head, body, body_arg);
  range(std::false_type{}, src + head + body, dst + head + body, n - head - body,
        advanced(s, head + body));
  if (!s.stream) _mm_sfence();
}

template <class T, saturation S, scale_kind K, bool NanFree, class Src, class Dst>
FP8KIT_AVX512_FN void encode(const Src* src, Dst* dst, std::size_t n, const scale_arg& s) {
  if constexpr (sizeof(Dst) == 1) {
    run_range<64>(src, dst, n, s,
                  [](auto stream, const Src* a, Dst* b, std::size_t m, const scale_arg& t) {
                    encode_range<T, S, K, decltype(stream)::value, NanFree>(a, b, m, t);
                  });
  } else {  // two-byte codes are never streamed
    encode_range<T, S, K, false, NanFree>(src, dst, n, s);
  }
}

/// dst[i] = post_scale(float(src[i])) with the arithmetic decoder (src: one- or two-byte codes).
template <class T, scale_kind K, class Src>
FP8KIT_AVX512_FN void decode(const Src* src, float* dst, std::size_t n, const scale_arg& s) {
  const scale_regs r = make_scale_regs(s);
  segment_cursor cursor(s);
  for (std::size_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : tail_mask16(n - i);
    __m512i c;
    if constexpr (sizeof(Src) == 1) {
      c = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, src + i));
    } else {
      c = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, src + i));
    }
    const __m512 lanes = lane_scales<K>(s.each, cursor, i, m, n - i);
    _mm512_mask_storeu_ps(dst + i, m, post_scale<K>(decode16<T>(c), r, lanes));
  }
}

/// y[i] = post_scale(value of T nearest pre_scale(x[i])): fused fake_quantize (x == y allowed).
template <class T, saturation S, scale_kind K, bool Stream, bool NanFree>
FP8KIT_AVX512_FN void fake_quantize_range(const float* x, float* y, std::size_t n,
                                          const scale_arg& s) {
  const scale_regs r = make_scale_regs(s);
  segment_cursor cursor(s);
  amax_park park;
  scanner_for<K> scan(s.scan, park);
  const __mmask16 all = 0xFFFF;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    prefetch_ahead(x + i, 32 * sizeof(float), s.prefetch * sizeof(float));
    scan.template step<2>();
    const __m512 l0 = lane_scales<K>(s.each, cursor, i, all, 16);
    const __m512 l1 = lane_scales<K>(s.each, cursor, i + 16, all, 16);
    const __m512 v0 =
        post_scale<K>(round16<T, S, NanFree>(pre_scale<K>(_mm512_loadu_ps(x + i), r, l0)), r, l0);
    const __m512 v1 = post_scale<K>(
        round16<T, S, NanFree>(pre_scale<K>(_mm512_loadu_ps(x + i + 16), r, l1)), r, l1);
    if constexpr (Stream) {
      _mm512_stream_ps(y + i, v0);
      _mm512_stream_ps(y + i + 16, v1);
    } else {
      _mm512_storeu_ps(y + i, v0);
      _mm512_storeu_ps(y + i + 16, v1);
    }
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? all : tail_mask16(n - i);
    const __m512 l = lane_scales<K>(s.each, cursor, i, m, n - i);
    const __m512 v = round16<T, S, NanFree>(pre_scale<K>(_mm512_maskz_loadu_ps(m, x + i), r, l));
    _mm512_mask_storeu_ps(y + i, m, post_scale<K>(v, r, l));
  }
  scan.finish();
}

template <class T, saturation S, scale_kind K, bool NanFree>
FP8KIT_AVX512_FN void fake_quantize(const float* x, float* y, std::size_t n, const scale_arg& s) {
  run_range<32>(x, y, n, s,
                [](auto stream, const float* a, float* b, std::size_t m, const scale_arg& t) {
                  fake_quantize_range<T, S, K, decltype(stream)::value, NanFree>(a, b, m, t);
                });
}

// ---- VBMI byte-table decoder (fp8 only) ----------------------------------------------------

/// High and low bytes of the 16-bit pattern (bfloat16 or half: Dst; S matters only for inf)
/// of codes 0..127 of F, and the pattern of code 0x80 (fnuz NaN; the tables see only the low 7
/// bits of an index).
template <class F, class Dst, saturation S>
struct byte_tables {
  alignas(64) std::uint8_t hi[128];
  alignas(64) std::uint8_t lo[128];
  std::uint16_t code80;
};

template <class F, class Dst, saturation S>
constexpr byte_tables<F, Dst, S> make_byte_tables() noexcept {
  byte_tables<F, Dst, S> t{};
  for (unsigned c = 0; c < 128; ++c) {
    const auto v = fp8kit::convert<Dst>(F::from_bits(static_cast<std::uint8_t>(c)), S).bits();
    t.hi[c] = static_cast<std::uint8_t>(v >> 8);
    t.lo[c] = static_cast<std::uint8_t>(v & 0xFF);
  }
  t.code80 = fp8kit::convert<Dst>(F::from_bits(0x80), S).bits();
  return t;
}

template <class F, class Dst, saturation S = saturation::none>
inline constexpr byte_tables<F, Dst, S> byte_tables_v = make_byte_tables<F, Dst, S>();

/// Position shuffles applied to 64 codes before the lookups, so that the in-lane vpunpck*
/// steps that follow leave the results in memory order.
/// To 16-bit patterns: byte 16k + j takes code 8k + j (j < 8) or 32 + 8k + (j - 8).
/// To float: byte 16k + j takes code 16 * (j / 4) + 4k + j % 4.
struct shuffles {
  alignas(64) std::uint8_t to16[64];
  alignas(64) std::uint8_t to32[64];
};
constexpr shuffles make_shuffles() noexcept {
  shuffles s{};
  for (unsigned k = 0; k < 4; ++k) {
    for (unsigned j = 0; j < 16; ++j) {
      s.to16[16 * k + j] = static_cast<std::uint8_t>(j < 8 ? 8 * k + j : 32 + 8 * k + (j - 8));
      s.to32[16 * k + j] = static_cast<std::uint8_t>(16 * (j / 4) + 4 * k + j % 4);
    }
  }
  return s;
}
inline constexpr shuffles shuffles_v = make_shuffles();

struct vbmi_regs {
  __m512i hi0, hi1, lo0, lo1, shuffle;
};

/// 64 codes -> the 16-bit patterns, as bytes: (hi, lo), already in the shuffled order.
template <class F, class Dst, saturation S>
FP8KIT_AVX512VBMI_INLINE void lookup64(__m512i codes, const vbmi_regs& r, __m512i& hi,
                                       __m512i& lo) {
  constexpr auto& t = byte_tables_v<F, Dst, S>;
  const __m512i c = _mm512_permutexvar_epi8(r.shuffle, codes);
  hi = _mm512_permutex2var_epi8(r.hi0, c,
                                r.hi1);  // index bit 6 picks the table half; bit 7 is ignored
  lo = _mm512_permutex2var_epi8(r.lo0, c, r.lo1);
  hi = _mm512_ternarylogic_epi32(hi, c, _mm512_set1_epi8(static_cast<char>(0x80)), 0xF8);  // sign
  if constexpr (F::traits::enc == encoding::fnuz) {
    const __mmask64 nan = _mm512_cmpeq_epi8_mask(c, _mm512_set1_epi8(static_cast<char>(0x80)));
    hi = _mm512_mask_mov_epi8(hi, nan, _mm512_set1_epi8(static_cast<char>(t.code80 >> 8)));
    lo = _mm512_mask_mov_epi8(lo, nan, _mm512_set1_epi8(static_cast<char>(t.code80 & 0xFF)));
  }
}

template <class F, class Dst, saturation S>
FP8KIT_AVX512VBMI_INLINE vbmi_regs make_vbmi_regs(const std::uint8_t* shuffle) {
  constexpr auto& t = byte_tables_v<F, Dst, S>;
  return {_mm512_load_si512(t.hi), _mm512_load_si512(t.hi + 64), _mm512_load_si512(t.lo),
          _mm512_load_si512(t.lo + 64), _mm512_load_si512(shuffle)};
}

/// 64 codes -> four vectors of floats in memory order.
template <class F>
FP8KIT_AVX512VBMI_INLINE void decode64(__m512i codes, const vbmi_regs& t, __m512 f[4]) {
  __m512i hi, lo;
  lookup64<F, bfloat16, saturation::none>(codes, t, hi, lo);
  const __m512i zero = _mm512_setzero_si512();
  const __m512i w0 = _mm512_unpacklo_epi8(lo, hi);  // bf16 patterns
  const __m512i w1 = _mm512_unpackhi_epi8(lo, hi);
  f[0] = as_float(_mm512_unpacklo_epi16(zero, w0));  // bf16 << 16 is the float
  f[1] = as_float(_mm512_unpackhi_epi16(zero, w0));
  f[2] = as_float(_mm512_unpacklo_epi16(zero, w1));
  f[3] = as_float(_mm512_unpackhi_epi16(zero, w1));
}

/// fp8 -> float with an optional multiply, 64 codes per step.
template <class F, scale_kind K, bool Stream>
FP8KIT_AVX512VBMI_FN void decode_vbmi_range(const std::uint8_t* src, float* dst, std::size_t n,
                                            const scale_arg& s) {
  const vbmi_regs t = make_vbmi_regs<F, bfloat16, saturation::none>(shuffles_v.to32);
  const scale_regs r = make_scale_regs(s);
  segment_cursor cursor(s);
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m512 f[4];
    decode64<F>(_mm512_loadu_si512(src + i), t, f);
    for (std::size_t j = 0; j < 4; ++j) {
      const __m512 lanes = lane_scales<K>(s.each, cursor, i + 16 * j, 0xFFFF, 16);
      const __m512 v = post_scale<K>(f[j], r, lanes);
      if constexpr (Stream) {
        _mm512_stream_ps(dst + i + 16 * j, v);
      } else {
        _mm512_storeu_ps(dst + i + 16 * j, v);
      }
    }
  }
  if (i < n) {
    const __mmask64 m = tail_mask64(n - i);
    __m512 f[4];
    decode64<F>(_mm512_maskz_loadu_epi8(m, src + i), t, f);
    for (std::size_t j = 0; 16 * j < n - i; ++j) {  // only vectors with lanes to store
      const auto mj = static_cast<__mmask16>(m >> (16 * j));
      const __m512 lanes = lane_scales<K>(s.each, cursor, i + 16 * j, mj, n - i - 16 * j);
      _mm512_mask_storeu_ps(dst + i + 16 * j, mj, post_scale<K>(f[j], r, lanes));
    }
  }
}

template <class F, scale_kind K>
FP8KIT_AVX512VBMI_FN void decode_vbmi(const std::uint8_t* src, float* dst, std::size_t n,
                                      const scale_arg& s) {
  run_range<64>(
      src, dst, n, s,
      [](auto stream, const std::uint8_t* a, float* b, std::size_t m, const scale_arg& t) {
        decode_vbmi_range<F, K, decltype(stream)::value>(a, b, m, t);
      });
}

/// fp8 -> bfloat16 or half (Dst; exact, S decides what inf becomes): 64 codes per step.
template <class F, class Dst, saturation S>
FP8KIT_AVX512VBMI_FN void widen_vbmi(const std::uint8_t* src, std::uint16_t* dst, std::size_t n) {
  const vbmi_regs t = make_vbmi_regs<F, Dst, S>(shuffles_v.to16);
  for (std::size_t i = 0; i < n; i += 64) {
    const __mmask64 m = tail_mask64(n - i);
    __m512i hi, lo;
    lookup64<F, Dst, S>(_mm512_maskz_loadu_epi8(m, src + i), t, hi, lo);
    _mm512_mask_storeu_epi16(dst + i, static_cast<__mmask32>(m), _mm512_unpacklo_epi8(lo, hi));
    _mm512_mask_storeu_epi16(dst + i + 32, static_cast<__mmask32>(m >> 32),
                             _mm512_unpackhi_epi8(lo, hi));
  }
}

#undef FP8KIT_AVX512_FN
#undef FP8KIT_AVX512_INLINE
#undef FP8KIT_AVX512VBMI_FN
#undef FP8KIT_AVX512VBMI_INLINE

}  // namespace fp8kit::detail::avx512

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // FP8KIT_X86_DISPATCH
