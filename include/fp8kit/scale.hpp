#pragma once
// amax and scale selection: the largest magnitude of some floats, and the dequantization scale
// (x ~= q * scale) that maps it to a format's largest finite value.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "config.hpp"
#include "detail/checks.hpp"
#include "detail/fp_env.hpp"
#include "fp8.hpp"
#include "simd/amax.hpp"
#include "simd/block_scales.hpp"

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

}  // namespace fp8kit
