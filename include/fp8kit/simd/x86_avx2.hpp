#pragma once
// AVX2 kernels, compiled with a function target attribute so that a build without -march runs
// them on an AVX2 CPU. Same algorithms as codec.hpp describes; blocks of 32 elements (four
// vectors, narrowed with vpackusdw / vpackuswb / vpermd). AVX2 has no byte-masked stores, so a
// tail runs one block through stack buffers (memcpy in and out): bytes after the end are never
// written. Every add or divide that rounds goes through opaque registers, because GCC and Clang
// rewrite the plain intrinsics under -ffast-math (x / s into x * (1 / s); (a + m) - m into a).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../config.hpp"
#include "codec.hpp"
#include "cpu.hpp"

#if FP8KIT_X86_DISPATCH
#include <immintrin.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace fp8kit::detail::avx2 {

#define FP8KIT_AVX2_FN __attribute__((target("avx2,fma")))
#define FP8KIT_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline

FP8KIT_AVX2_INLINE __m256i splat(std::uint32_t v) { return _mm256_set1_epi32(static_cast<int>(v)); }
FP8KIT_AVX2_INLINE __m256 as_float(__m256i v) { return _mm256_castsi256_ps(v); }
FP8KIT_AVX2_INLINE __m256i as_int(__m256 v) { return _mm256_castps_si256(v); }

// Arithmetic the compiler must not reassociate or replace (see the file comment).
FP8KIT_AVX2_INLINE __m256 add_exact(__m256 a, __m256 b) {
  __m256 r;
  __asm__("vaddps %2, %1, %0" : "=x"(r) : "x"(a), "x"(b));
  return r;
}
FP8KIT_AVX2_INLINE __m256 sub_exact(__m256 a, __m256 b) {
  __m256 r;
  __asm__("vsubps %2, %1, %0" : "=x"(r) : "x"(a), "x"(b));
  return r;
}
FP8KIT_AVX2_INLINE __m256 div_exact(__m256 a, __m256 b) {
  __m256 r;
  __asm__("vdivps %2, %1, %0" : "=x"(r) : "x"(a), "x"(b));
  return r;
}
FP8KIT_AVX2_INLINE __m256 mul_exact(__m256 a, __m256 b) {
  __m256 r;
  __asm__("vmulps %2, %1, %0" : "=x"(r) : "x"(a), "x"(b));
  return r;
}

// ---- Scaling -------------------------------------------------------------------------------

struct scale_regs {
  __m256 value;  // scale (div) or its exact inverse (mul)
  __m256 after;  // multiplier after decoding
};

FP8KIT_AVX2_INLINE scale_regs make_scale_regs(const scale_arg& s) {
  return {_mm256_set1_ps(s.kind == scale_kind::mul ? s.inverse : s.value), _mm256_set1_ps(s.value)};
}

template <scale_kind K>
FP8KIT_AVX2_INLINE __m256 pre_scale(__m256 x, const scale_regs& r, const float* each) {
  if constexpr (K == scale_kind::div) {
    return div_exact(x, r.value);
  } else if constexpr (K == scale_kind::mul) {
    return mul_exact(x, r.value);
  } else if constexpr (K == scale_kind::each) {
    return div_exact(x, _mm256_loadu_ps(each));
  } else {
    (void)r, (void)each;
    return x;
  }
}

template <scale_kind K>
FP8KIT_AVX2_INLINE __m256 post_scale(__m256 x, const scale_regs& r, const float* each) {
  if constexpr (K == scale_kind::none) {
    (void)r, (void)each;
    return x;
  } else if constexpr (K == scale_kind::each) {
    return mul_exact(x, _mm256_loadu_ps(each));
  } else {
    return mul_exact(x, r.after);
  }
}

// ---- Encoder / decoder on 8 lanes -----------------------------------------------------------

/// Codes of T for 8 floats (exact codes, upper bits zero).
template <class T, saturation S>
FP8KIT_AVX2_INLINE __m256i encode8(__m256 x) {
  using p = codec_params<T>;
  const __m256i u = as_int(x);
  const __m256i a = _mm256_and_si256(u, splat(0x7FFFFFFFu));
  const __m256i nan = _mm256_cmpgt_epi32(a, splat(p::float_inf));
  __m256i code;
  if constexpr (p::integer_rounding) {
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(a, 16), splat(1));
    code = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(a, splat(0x7FFFu)), lsb), 16);
    code = _mm256_min_epu32(code, splat(p::bound(S) >> 16));
  } else {
    const __m256i ac = _mm256_min_epu32(a, splat(p::bound(S)));
    const __m256i e =
        _mm256_max_epu32(_mm256_and_si256(ac, splat(0x7F800000u)), splat(p::emin_bits));
    const __m256 magic = as_float(_mm256_add_epi32(e, splat(p::magic_offset)));
    const __m256i sum = as_int(add_exact(as_float(ac), magic));
    code = _mm256_and_si256(_mm256_add_epi32(sum, _mm256_srli_epi32(sum, p::shift)),
                            splat(p::code_mask));
  }
  code = _mm256_blendv_epi8(code, splat(p::nan_code), nan);
  __m256i sign =
      _mm256_and_si256(_mm256_srli_epi32(u, 31 - (p::code_bits - 1)), splat(p::sign_mask));
  if constexpr (p::fnuz)
    sign = _mm256_andnot_si256(_mm256_cmpeq_epi32(code, _mm256_setzero_si256()), sign);
  return _mm256_or_si256(code, sign);
}

/// Fake-quantized value of 8 floats (before the multiply by the scale).
template <class T, saturation S>
FP8KIT_AVX2_INLINE __m256 round8(__m256 x) {
  using p = codec_params<T>;
  static_assert(!p::integer_rounding, "round8: fp8 and half only");
  const __m256i u = as_int(x);
  const __m256i a = _mm256_and_si256(u, splat(0x7FFFFFFFu));
  const __m256i nan = _mm256_cmpgt_epi32(a, splat(p::float_inf));
  const __m256i ac = _mm256_min_epu32(a, splat(p::bound(S)));
  const __m256i e = _mm256_max_epu32(_mm256_and_si256(ac, splat(0x7F800000u)), splat(p::emin_bits));
  const __m256 magic = as_float(_mm256_add_epi32(e, splat(p::magic_offset)));
  __m256i v = as_int(sub_exact(add_exact(as_float(ac), magic), magic));  // the rounded |x|
  __m256i special = nan;
  if constexpr (S == saturation::none) {
    special = _mm256_or_si256(special, _mm256_cmpeq_epi32(v, splat(p::overflow_bits)));
  }
  if constexpr (p::fnuz) {
    const __m256i nonzero =
        _mm256_xor_si256(_mm256_cmpeq_epi32(v, _mm256_setzero_si256()), splat(~0u));
    v = _mm256_or_si256(v, _mm256_and_si256(_mm256_and_si256(u, nonzero), splat(0x80000000u)));
    v = _mm256_blendv_epi8(v, splat(0xFFC00000u), special);
  } else {
    if constexpr (p::ieee && S == saturation::none) {
      v = _mm256_blendv_epi8(v, splat(p::float_inf), special);
      v = _mm256_blendv_epi8(v, splat(p::float_nan), nan);
    } else {
      v = _mm256_blendv_epi8(v, splat(p::float_nan), special);
    }
    v = _mm256_or_si256(v, _mm256_and_si256(u, splat(0x80000000u)));
  }
  return as_float(v);
}

/// Floats of 8 codes of T (in the low bits of each lane).
template <class T>
FP8KIT_AVX2_INLINE __m256 decode8(__m256i c) {
  using p = codec_params<T>;
  const __m256i mag = _mm256_and_si256(c, splat(p::magnitude_mask));
  __m256i r;
  if constexpr (p::integer_rounding) {
    r = _mm256_slli_epi32(mag, 16);
    r = _mm256_blendv_epi8(r, splat(p::float_nan), _mm256_cmpgt_epi32(mag, splat(0x7F80u)));
  } else {
    r = _mm256_add_epi32(_mm256_slli_epi32(mag, p::shift), splat(p::normal_offset));
    const __m256 sub = mul_exact(_mm256_cvtepi32_ps(mag), _mm256_set1_ps(p::subnormal_unit));
    r = _mm256_blendv_epi8(r, as_int(sub), _mm256_cmpgt_epi32(splat(p::min_normal_code), mag));
    if constexpr (p::ieee) {
      r = _mm256_blendv_epi8(r, splat(p::float_inf),
                             _mm256_cmpeq_epi32(mag, splat(p::exponent_mask)));
      r = _mm256_blendv_epi8(r, splat(p::float_nan),
                             _mm256_cmpgt_epi32(mag, splat(p::exponent_mask)));
    } else if constexpr (p::fnuz) {
      r = _mm256_blendv_epi8(r, splat(p::float_nan), _mm256_cmpeq_epi32(c, splat(p::sign_mask)));
    } else {
      r = _mm256_blendv_epi8(r, splat(p::float_nan),
                             _mm256_cmpeq_epi32(mag, splat(p::magnitude_mask)));
    }
  }
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(c, splat(p::sign_mask)), p::sign_shift);
  return as_float(_mm256_or_si256(r, sign));
}

// ---- Loads and stores of 32 elements --------------------------------------------------------

template <class Src>
FP8KIT_AVX2_INLINE __m256 load8(const Src* src) {
  if constexpr (std::is_same_v<Src, float>) {
    return _mm256_loadu_ps(src);
  } else {
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
    return decode8<typename Src::traits>(h);
  }
}

template <class Code>
FP8KIT_AVX2_INLINE __m256i load_codes8(const Code* src) {
  if constexpr (sizeof(Code) == 1) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(src)));
  } else {
    return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
  }
}

/// Stores 32 codes (exact, < 2^16) held in four vectors of 8 lanes.
template <class Code>
FP8KIT_AVX2_INLINE void store_codes32(Code* dst, __m256i c0, __m256i c1, __m256i c2, __m256i c3) {
  // vpack* work per 128-bit lane: pack(c0, c1) holds c0[0..3] c1[0..3] | c0[4..7] c1[4..7].
  const __m256i w01 = _mm256_packus_epi32(c0, c1);
  const __m256i w23 = _mm256_packus_epi32(c2, c3);
  if constexpr (sizeof(Code) == 1) {
    // Bytes, in dwords: c0lo c1lo c2lo c3lo | c0hi c1hi c2hi c3hi.
    const __m256i b = _mm256_packus_epi16(w01, w23);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_permutevar8x32_epi32(b, order));
  } else {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_permute4x64_epi64(w01, 0xD8));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 16), _mm256_permute4x64_epi64(w23, 0xD8));
  }
}

// ---- Blocks of 32 and the kernels ------------------------------------------------------------

/// each + k for per-element scales; null (and no pointer arithmetic) otherwise.
template <scale_kind K>
FP8KIT_AVX2_INLINE const float* at(const float* each, std::size_t k) {
  if constexpr (K == scale_kind::each) {
    return each + k;
  } else {
    (void)each, (void)k;
    return nullptr;
  }
}

template <class T, saturation S, scale_kind K, class Src, class Dst>
FP8KIT_AVX2_INLINE void encode_block(const Src* src, Dst* dst, const scale_regs& r,
                                     const float* each) {
  __m256i c[4];
  for (std::size_t j = 0; j < 4; ++j) {
    c[j] = encode8<T, S>(pre_scale<K>(load8(src + 8 * j), r, at<K>(each, 8 * j)));
  }
  store_codes32(dst, c[0], c[1], c[2], c[3]);
}

template <class T, scale_kind K, class Src>
FP8KIT_AVX2_INLINE void decode_block(const Src* src, float* dst, const scale_regs& r,
                                     const float* each) {
  for (std::size_t j = 0; j < 4; ++j) {
    _mm256_storeu_ps(dst + 8 * j,
                     post_scale<K>(decode8<T>(load_codes8(src + 8 * j)), r, at<K>(each, 8 * j)));
  }
}

template <class T, saturation S, scale_kind K>
FP8KIT_AVX2_INLINE void fake_quantize_block(const float* x, float* y, const scale_regs& r,
                                            const float* each) {
  for (std::size_t j = 0; j < 4; ++j) {
    const float* e = at<K>(each, 8 * j);
    _mm256_storeu_ps(
        y + 8 * j,
        post_scale<K>(round8<T, S>(pre_scale<K>(_mm256_loadu_ps(x + 8 * j), r, e)), r, e));
  }
}

/// Zero-padded stack buffers for the last n < 32 elements (and their scales, kind each), so
/// that a kernel's tail neither reads nor writes past the end. Zeroed with vector stores: `= {}`
/// compiled to rep stosq (0-2 ns of the ~15 ns a tail adds to a call; the copies are the rest).
template <scale_kind K, class Src, class Dst>
struct tail_buffers {
  Src in[32];
  Dst out[32];
  alignas(32) float each[32];

  FP8KIT_AVX2_INLINE tail_buffers(const Src* src, std::size_t n, const float* scales) {
    clear(in);
    std::memcpy(in, src, n * sizeof(Src));
    if constexpr (K == scale_kind::each) {
      clear(each);
      std::memcpy(each, scales, n * sizeof(float));
    }
  }
  FP8KIT_AVX2_INLINE const float* scales() const { return at<K>(each, 0); }
  FP8KIT_AVX2_INLINE void store(Dst* dst, std::size_t n) const {
    std::memcpy(dst, out, n * sizeof(Dst));
  }

 private:
  template <class E>
  FP8KIT_AVX2_INLINE static void clear(E (&buf)[32]) {
    static_assert(sizeof(buf) % 32 == 0, "whole 32-byte stores");
    auto* bytes = reinterpret_cast<unsigned char*>(buf);
    for (std::size_t k = 0; k < sizeof(buf); k += 32) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(bytes + k), _mm256_setzero_si256());
    }
  }
};

template <class T, saturation S, scale_kind K, class Src, class Dst>
FP8KIT_AVX2_FN void encode(const Src* src, Dst* dst, std::size_t n, const scale_arg& s) {
  const scale_regs r = make_scale_regs(s);
  const float* each = s.each;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) encode_block<T, S, K>(src + i, dst + i, r, at<K>(each, i));
  if (i < n) {
    tail_buffers<K, Src, Dst> t(src + i, n - i, at<K>(each, i));
    encode_block<T, S, K>(t.in, t.out, r, t.scales());
    t.store(dst + i, n - i);
  }
}

template <class T, scale_kind K, class Src>
FP8KIT_AVX2_FN void decode(const Src* src, float* dst, std::size_t n, const scale_arg& s) {
  const scale_regs r = make_scale_regs(s);
  const float* each = s.each;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) decode_block<T, K>(src + i, dst + i, r, at<K>(each, i));
  if (i < n) {
    tail_buffers<K, Src, float> t(src + i, n - i, at<K>(each, i));
    decode_block<T, K>(t.in, t.out, r, t.scales());
    t.store(dst + i, n - i);
  }
}

template <class T, saturation S, scale_kind K>
FP8KIT_AVX2_FN void fake_quantize(const float* x, float* y, std::size_t n, const scale_arg& s) {
  const scale_regs r = make_scale_regs(s);
  const float* each = s.each;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) fake_quantize_block<T, S, K>(x + i, y + i, r, at<K>(each, i));
  if (i < n) {
    tail_buffers<K, float, float> t(x + i, n - i, at<K>(each, i));
    fake_quantize_block<T, S, K>(t.in, t.out, r, t.scales());
    t.store(y + i, n - i);
  }
}

#undef FP8KIT_AVX2_FN
#undef FP8KIT_AVX2_INLINE

}  // namespace fp8kit::detail::avx2

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // FP8KIT_X86_DISPATCH
