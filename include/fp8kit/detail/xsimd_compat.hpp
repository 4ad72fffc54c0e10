#pragma once
// What the generic kernels need and Debian's xsimd 8.1.0 lacks or gets wrong:
// - float arithmetic the optimiser must not rewrite: under -ffast-math GCC and Clang turn a
//   vector x / s into x * rcp(s) (even for intrinsics, which GCC implements as plain vector
//   operators) and fold (a + m) - m into a. exact_* emit the instruction with inline asm;
// - narrowing stores of 32-bit lanes to 8 / 16 bits and widening loads (no batch_cast for it);
// - select on int32 batches (fails to compile with g++ 12 for AVX-512BW): blend via floats;
// - reduce_max (added in later xsimd versions).

#include "../config.hpp"

#if FP8KIT_HAS_XSIMD
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <xsimd/xsimd.hpp>

#include "fp_env.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// GCC 12.2 warns about the AVX-512 intrinsics' own _mm512_undefined_*() (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace fp8kit::detail::xsimd_compat {

template <class A>
using float_batch = xsimd::batch<float, A>;
template <class A>
using int_batch = xsimd::batch<std::int32_t, A>;

enum class float_op { add, sub, mul, div };

/// a op b, computed by exactly that instruction (round to nearest in the default environment).
template <float_op Op, class A>
inline float_batch<A> exact(const float_batch<A>& a, const float_batch<A>& b) noexcept {
  using reg = typename float_batch<A>::register_type;
  constexpr std::size_t bytes = sizeof(reg);
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  if constexpr (bytes == 16 || bytes == 32 || bytes == 64) {
    reg x = a, y = b;
#if defined(__AVX__)
    // Three-operand VEX/EVEX form; zmm needs the "v" class (xmm/ymm fit "x").
    if constexpr (bytes == 64) {
      reg r;
      if constexpr (Op == float_op::add) __asm__("vaddps %2, %1, %0" : "=v"(r) : "v"(x), "v"(y));
      if constexpr (Op == float_op::sub) __asm__("vsubps %2, %1, %0" : "=v"(r) : "v"(x), "v"(y));
      if constexpr (Op == float_op::mul) __asm__("vmulps %2, %1, %0" : "=v"(r) : "v"(x), "v"(y));
      if constexpr (Op == float_op::div) __asm__("vdivps %2, %1, %0" : "=v"(r) : "v"(x), "v"(y));
      return r;
    } else {
      reg r;
      if constexpr (Op == float_op::add) __asm__("vaddps %2, %1, %0" : "=x"(r) : "x"(x), "x"(y));
      if constexpr (Op == float_op::sub) __asm__("vsubps %2, %1, %0" : "=x"(r) : "x"(x), "x"(y));
      if constexpr (Op == float_op::mul) __asm__("vmulps %2, %1, %0" : "=x"(r) : "x"(x), "x"(y));
      if constexpr (Op == float_op::div) __asm__("vdivps %2, %1, %0" : "=x"(r) : "x"(x), "x"(y));
      return r;
    }
#else
    static_assert(bytes == 16, "xsimd_compat::exact: wider registers imply __AVX__");
    if constexpr (Op == float_op::add) __asm__("addps %1, %0" : "+x"(x) : "x"(y));
    if constexpr (Op == float_op::sub) __asm__("subps %1, %0" : "+x"(x) : "x"(y));
    if constexpr (Op == float_op::mul) __asm__("mulps %1, %0" : "+x"(x) : "x"(y));
    if constexpr (Op == float_op::div) __asm__("divps %1, %0" : "+x"(x) : "x"(y));
    return x;
#endif
  }
#elif defined(__GNUC__) && defined(__aarch64__)
  if constexpr (bytes == 16) {
    reg x = a, y = b, r;
    if constexpr (Op == float_op::add)
      __asm__("fadd %0.4s, %1.4s, %2.4s" : "=w"(r) : "w"(x), "w"(y));
    if constexpr (Op == float_op::sub)
      __asm__("fsub %0.4s, %1.4s, %2.4s" : "=w"(r) : "w"(x), "w"(y));
    if constexpr (Op == float_op::mul)
      __asm__("fmul %0.4s, %1.4s, %2.4s" : "=w"(r) : "w"(x), "w"(y));
    if constexpr (Op == float_op::div)
      __asm__("fdiv %0.4s, %1.4s, %2.4s" : "=w"(r) : "w"(x), "w"(y));
    return r;
  }
#endif
  // Any other target: lane by lane, each operand hidden from the optimiser.
  constexpr std::size_t n = float_batch<A>::size;
  alignas(64) float xa[n], xb[n];
  a.store_unaligned(xa);
  b.store_unaligned(xb);
  for (std::size_t i = 0; i < n; ++i) {
    const float u = opaque(xa[i]), v = opaque(xb[i]);
    xa[i] = Op == float_op::add   ? u + v
            : Op == float_op::sub ? u - v
            : Op == float_op::mul ? u * v
                                  : u / v;
    xa[i] = opaque(xa[i]);
  }
  return float_batch<A>::load_unaligned(xa);
}

/// cond ? a : b for int32 lanes (through float lanes: xsimd 8.1 + g++ 12 cannot select ints
/// for AVX-512BW).
template <class A>
inline int_batch<A> select(const xsimd::batch_bool<std::int32_t, A>& cond, const int_batch<A>& a,
                           const int_batch<A>& b) noexcept {
  return xsimd::bitwise_cast<int_batch<A>>(xsimd::select(xsimd::bool_cast(cond),
                                                         xsimd::bitwise_cast<float_batch<A>>(a),
                                                         xsimd::bitwise_cast<float_batch<A>>(b)));
}

/// Logical right shift of int32 lanes (xsimd's >> on int32 is arithmetic).
template <int N, class A>
inline int_batch<A> shift_right_logical(const int_batch<A>& v) noexcept {
  using ub = xsimd::batch<std::uint32_t, A>;
  return xsimd::bitwise_cast<int_batch<A>>(xsimd::bitwise_cast<ub>(v) >> N);
}

/// Loads int_batch::size codes (one or two bytes each, zero-extended).
template <class A, class Code>
inline int_batch<A> load_codes(const Code* src) noexcept {
  static_assert(sizeof(Code) == 1 || sizeof(Code) == 2, "load_codes: 8- or 16-bit codes");
  constexpr std::size_t n = int_batch<A>::size;
#if defined(__SSE2__)
  if constexpr (std::is_same_v<A, xsimd::sse2>) {
    const __m128i zero = _mm_setzero_si128();
    if constexpr (sizeof(Code) == 1) {
      std::int32_t w;
      std::memcpy(&w, src, 4);
      const __m128i b = _mm_cvtsi32_si128(w);
      return _mm_unpacklo_epi16(_mm_unpacklo_epi8(b, zero), zero);
    } else {
      return _mm_unpacklo_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(src)), zero);
    }
  }
#endif
  alignas(64) std::int32_t lanes[n];
  for (std::size_t i = 0; i < n; ++i) {
    std::conditional_t<sizeof(Code) == 1, std::uint8_t, std::uint16_t> c;
    std::memcpy(&c, src + i, sizeof c);
    lanes[i] = c;
  }
  return int_batch<A>::load_aligned(lanes);
}

/// Stores the low 8 or 16 bits of each lane (lanes hold exact codes, 0 <= code < 2^16).
template <class A, class Code>
inline void store_codes(Code* dst, const int_batch<A>& v) noexcept {
  static_assert(sizeof(Code) == 1 || sizeof(Code) == 2, "store_codes: 8- or 16-bit codes");
  constexpr std::size_t n = int_batch<A>::size;
#if defined(__SSE2__)
  if constexpr (std::is_same_v<A, xsimd::sse2>) {
    // Codes are < 2^16; packs_epi32 would saturate codes >= 2^15, so subtract and re-add the
    // offset for two-byte codes.
    if constexpr (sizeof(Code) == 1) {
      const __m128i w = _mm_packs_epi32(v, v);
      const int bytes = _mm_cvtsi128_si32(_mm_packus_epi16(w, w));
      std::memcpy(dst, &bytes, 4);
    } else {
      const __m128i bias = _mm_set1_epi32(0x8000);
      const __m128i w =
          _mm_add_epi16(_mm_packs_epi32(_mm_sub_epi32(v, bias), _mm_sub_epi32(v, bias)),
                        _mm_set1_epi16(static_cast<short>(0x8000)));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), w);
    }
    return;
  }
#endif
  alignas(64) std::int32_t lanes[n];
  v.store_aligned(lanes);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c =
        static_cast<std::conditional_t<sizeof(Code) == 1, std::uint8_t, std::uint16_t>>(lanes[i]);
    std::memcpy(dst + i, &c, sizeof c);
  }
}

/// Largest lane (xsimd 8.1 has no reduce_max).
template <class T, class A>
inline T reduce_max(const xsimd::batch<T, A>& v) noexcept {
  constexpr std::size_t n = xsimd::batch<T, A>::size;
  alignas(64) T lanes[n];
  v.store_aligned(lanes);
  T m = lanes[0];
  for (std::size_t i = 1; i < n; ++i) m = lanes[i] > m ? lanes[i] : m;
  return m;
}

}  // namespace fp8kit::detail::xsimd_compat

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // FP8KIT_HAS_XSIMD
