#pragma once
// Generic kernels, written once on xsimd::batch<T, Arch>: the baseline SSE2 kernel of x86-64
// builds, the NEON kernel of ARM builds, and whatever -march gives xsimd (AVX2, AVX-512).
// Same algorithms as codec.hpp describes, one vector of lanes per step; the tail runs one
// vector through stack buffers (no masked stores in xsimd 8.1), so bytes after the end are
// never written. Rounding arithmetic goes through xsimd_compat::exact (immune to -ffast-math).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../config.hpp"
#include "../detail/xsimd_compat.hpp"
#include "codec.hpp"

#if FP8KIT_HAS_XSIMD

// GCC 12.2 warns about the AVX-512 intrinsics' own _mm512_undefined_*() (GCC bug 105593) when
// xsimd's AVX-512 batches are inlined here (-march builds).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace fp8kit::detail::generic {

using xsimd_compat::float_op;

template <class A>
struct lanes {
  using fb = xsimd::batch<float, A>;
  using ib = xsimd::batch<std::int32_t, A>;
  static constexpr std::size_t size = fb::size;

  static fb as_float(const ib& v) noexcept { return xsimd::bitwise_cast<fb>(v); }
  static ib as_int(const fb& v) noexcept { return xsimd::bitwise_cast<ib>(v); }
  static ib splat(std::uint32_t v) noexcept { return ib(static_cast<std::int32_t>(v)); }
};

/// Codes of T for the lanes of x (exact codes).
template <class T, saturation S, class A>
inline xsimd::batch<std::int32_t, A> encode(const xsimd::batch<float, A>& x) noexcept {
  using p = codec_params<T>;
  using l = lanes<A>;
  using ib = typename l::ib;
  const ib u = l::as_int(x);
  const ib a = u & l::splat(0x7FFFFFFFu);
  const auto nan = a > l::splat(p::float_inf);  // magnitudes compare as signed ints
  ib code;
  if constexpr (p::integer_rounding) {
    const ib lsb = (a >> 16) & l::splat(1);
    code = xsimd::min((a + l::splat(0x7FFFu) + lsb) >> 16, l::splat(p::bound(S) >> 16));
  } else {
    const ib ac = xsimd::min(a, l::splat(p::bound(S)));
    const ib e = xsimd::max(ac & l::splat(0x7F800000u), l::splat(p::emin_bits));
    const ib sum = l::as_int(xsimd_compat::exact<float_op::add>(
        l::as_float(ac), l::as_float(e + l::splat(p::magic_offset))));
    code = (sum + (sum >> p::shift)) & l::splat(p::code_mask);
  }
  code = xsimd_compat::select(nan, l::splat(p::nan_code), code);
  ib sign = xsimd_compat::shift_right_logical<p::sign_shift>(u) & l::splat(p::sign_mask);
  if constexpr (p::fnuz) sign = xsimd_compat::select(code == l::splat(0), l::splat(0), sign);
  return code | sign;
}

/// The float value of encode<T, S>(x) (fp8 and half), computed in the float domain.
template <class T, saturation S, class A>
inline xsimd::batch<float, A> round(const xsimd::batch<float, A>& x) noexcept {
  using p = codec_params<T>;
  static_assert(!p::integer_rounding, "generic::round: fp8 and half only");
  using l = lanes<A>;
  using ib = typename l::ib;
  const ib u = l::as_int(x);
  const ib a = u & l::splat(0x7FFFFFFFu);
  const auto nan = a > l::splat(p::float_inf);
  const ib ac = xsimd::min(a, l::splat(p::bound(S)));
  const ib e = xsimd::max(ac & l::splat(0x7F800000u), l::splat(p::emin_bits));
  const auto magic = l::as_float(e + l::splat(p::magic_offset));
  const auto sum = xsimd_compat::exact<float_op::add>(l::as_float(ac), magic);
  ib v = l::as_int(xsimd_compat::exact<float_op::sub>(sum, magic));  // the rounded |x|, exact
  const ib sign = u & l::splat(0x80000000u);
  auto special = nan;
  if constexpr (S == saturation::none) special = special || (v == l::splat(p::overflow_bits));
  if constexpr (p::fnuz) {
    v = v | xsimd_compat::select(v == l::splat(0), l::splat(0), sign);  // no -0
    v = xsimd_compat::select(special, l::splat(0xFFC00000u), v);        // decode of 0x80
  } else {
    if constexpr (p::ieee && S == saturation::none) {
      v = xsimd_compat::select(special, l::splat(p::float_inf), v);
    }
    v = xsimd_compat::select(p::ieee ? nan : special, l::splat(p::float_nan), v) | sign;
  }
  return l::as_float(v);
}

/// Floats of the codes of T in the lanes of c.
template <class T, class A>
inline xsimd::batch<float, A> decode(const xsimd::batch<std::int32_t, A>& c) noexcept {
  using p = codec_params<T>;
  using l = lanes<A>;
  using ib = typename l::ib;
  const ib mag = c & l::splat(p::magnitude_mask);
  ib r;
  if constexpr (p::integer_rounding) {
    r = xsimd_compat::select(mag > l::splat(0x7F80u), l::splat(p::float_nan), mag << 16);
  } else {
    const ib normal = (mag << p::shift) + l::splat(p::normal_offset);
    const auto sub =
        xsimd_compat::exact<float_op::mul>(xsimd::to_float(mag), typename l::fb(p::subnormal_unit));
    r = xsimd_compat::select(mag < l::splat(p::min_normal_code), l::as_int(sub), normal);
    if constexpr (p::ieee) {
      r = xsimd_compat::select(mag == l::splat(p::exponent_mask), l::splat(p::float_inf), r);
      r = xsimd_compat::select(mag > l::splat(p::exponent_mask), l::splat(p::float_nan), r);
    } else if constexpr (p::fnuz) {
      r = xsimd_compat::select(c == l::splat(p::sign_mask), l::splat(p::float_nan), r);
    } else {
      r = xsimd_compat::select(mag == l::splat(p::magnitude_mask), l::splat(p::float_nan), r);
    }
  }
  return l::as_float(r | ((c & l::splat(p::sign_mask)) << p::sign_shift));
}

// ---- Scaling -------------------------------------------------------------------------------

template <scale_kind K, class A>
inline xsimd::batch<float, A> pre_scale(const xsimd::batch<float, A>& x, const scale_arg& s,
                                        const float* each) noexcept {
  using fb = xsimd::batch<float, A>;
  if constexpr (K == scale_kind::div) {
    return xsimd_compat::exact<float_op::div>(x, fb(s.value));
  } else if constexpr (K == scale_kind::mul) {
    return xsimd_compat::exact<float_op::mul>(x, fb(s.inverse));
  } else if constexpr (K == scale_kind::each) {
    return xsimd_compat::exact<float_op::div>(x, fb::load_unaligned(each));
  } else {
    (void)s, (void)each;
    return x;
  }
}

template <scale_kind K, class A>
inline xsimd::batch<float, A> post_scale(const xsimd::batch<float, A>& x, const scale_arg& s,
                                         const float* each) noexcept {
  using fb = xsimd::batch<float, A>;
  if constexpr (K == scale_kind::none) {
    (void)s, (void)each;
    return x;
  } else if constexpr (K == scale_kind::each) {
    return xsimd_compat::exact<float_op::mul>(x, fb::load_unaligned(each));
  } else {
    return xsimd_compat::exact<float_op::mul>(x, fb(s.value));
  }
}

template <scale_kind K>
inline const float* at(const float* each, std::size_t k) noexcept {
  if constexpr (K == scale_kind::each) {
    return each + k;
  } else {
    (void)each, (void)k;
    return nullptr;
  }
}

/// One vector of source values as floats (float, bfloat16 or half).
template <class A, class Src>
inline xsimd::batch<float, A> load(const Src* src) noexcept {
  if constexpr (std::is_same_v<Src, float>) {
    return xsimd::batch<float, A>::load_unaligned(src);
  } else {
    return decode<typename Src::traits, A>(xsimd_compat::load_codes<A>(src));
  }
}

// ---- Kernels -------------------------------------------------------------------------------

/// Runs step(in, out, each) over n elements, one vector at a time; the tail goes through
/// zero-filled stack buffers.
template <std::size_t N, class In, class Out, scale_kind K, class Step>
inline void for_each_vector(const In* in, Out* out, std::size_t n, const float* each, Step step) {
  std::size_t i = 0;
  for (; i + N <= n; i += N) step(in + i, out + i, at<K>(each, i));
  if (i < n) {
    In in_buf[N] = {};
    Out out_buf[N];
    alignas(64) float each_buf[N] = {};
    std::memcpy(in_buf, in + i, (n - i) * sizeof(In));
    if constexpr (K == scale_kind::each) std::memcpy(each_buf, each + i, (n - i) * sizeof(float));
    step(in_buf, out_buf, at<K>(each_buf, 0));
    std::memcpy(out + i, out_buf, (n - i) * sizeof(Out));
  }
}

/// dst[i] = code of T for pre_scale(src[i]).
template <class A, class T, saturation S, scale_kind K, class Src, class Dst>
void encode_kernel(const Src* src, Dst* dst, std::size_t n, const scale_arg& s) {
  constexpr std::size_t lanes_n = lanes<A>::size;
  for_each_vector<lanes_n, Src, Dst, K>(
      src, dst, n, s.each, [&s](const Src* in, Dst* out, const float* each) {
        xsimd_compat::store_codes<A>(out, encode<T, S, A>(pre_scale<K, A>(load<A>(in), s, each)));
      });
}

/// dst[i] = post_scale(float(src[i])) for codes of T.
template <class A, class T, scale_kind K, class Src>
void decode_kernel(const Src* src, float* dst, std::size_t n, const scale_arg& s) {
  constexpr std::size_t lanes_n = lanes<A>::size;
  for_each_vector<lanes_n, Src, float, K>(
      src, dst, n, s.each, [&s](const Src* in, float* out, const float* each) {
        post_scale<K, A>(decode<T, A>(xsimd_compat::load_codes<A>(in)), s, each)
            .store_unaligned(out);
      });
}

/// y[i] = post_scale(round(pre_scale(x[i]))); x == y allowed.
template <class A, class T, saturation S, scale_kind K>
void fake_quantize_kernel(const float* x, float* y, std::size_t n, const scale_arg& s) {
  constexpr std::size_t lanes_n = lanes<A>::size;
  for_each_vector<lanes_n, float, float, K>(
      x, y, n, s.each, [&s](const float* in, float* out, const float* each) {
        const auto v = xsimd::batch<float, A>::load_unaligned(in);
        post_scale<K, A>(round<T, S, A>(pre_scale<K, A>(v, s, each)), s, each).store_unaligned(out);
      });
}

}  // namespace fp8kit::detail::generic

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // FP8KIT_HAS_XSIMD
