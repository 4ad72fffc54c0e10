#pragma once
// Format traits: bit layout, bias, special codes and limits of a small binary float format.
// One description serves fp8, bfloat16, half, float and double, so one rounding routine
// (detail/round.hpp) converts between any two of them.

#include <cstdint>
#include <type_traits>

namespace fp8kit {

/// How a format spends its top exponent code and its sign.
/// - `ieee`: exponent all ones is inf (mantissa 0) or NaN (mantissa != 0); signed zeros.
/// - `fn`: finite only; S.1111111 (exponent and mantissa all ones) is NaN; signed zeros.
/// - `fnuz`: finite only, unsigned zero; the negative-zero code (0x80) is the only NaN.
enum class encoding { ieee, fn, fnuz };

/// What happens to values beyond max finite (see convert()).
enum class saturation { none, finite };

namespace detail {

template <int Bits>
using storage_for = std::conditional_t<
    Bits == 8, std::uint8_t,
    std::conditional_t<Bits == 16, std::uint16_t,
                       std::conditional_t<Bits == 32, std::uint32_t, std::uint64_t>>>;

/// 2^e as a double, exact for -1074 <= e <= 1023, usable in constant expressions.
constexpr double pow2(int e) noexcept {
  double r = 1.0;
  for (; e > 0; --e) r *= 2.0;
  for (; e < 0; ++e) r *= 0.5;
  return r;
}

}  // namespace detail

/// The default encoding of an E/M pair: OCP E5M2 is IEEE-like, every other pair is `fn`.
constexpr encoding default_encoding(int e, int m) noexcept {
  return (e == 5 && m == 2) ? encoding::ieee : encoding::fn;
}

/// The default bias: 2^(E-1) for fnuz (one more than IEEE, reusing the -0 code), else 2^(E-1)-1.
constexpr int default_bias(int e, encoding enc) noexcept {
  return enc == encoding::fnuz ? (1 << (e - 1)) : (1 << (e - 1)) - 1;
}

/// Layout and limits of a binary float with a sign bit, E exponent bits, M mantissa bits.
/// Codes are storage bit patterns; `*_bits` constants are positive (sign bit clear).
template <int E, int M, encoding Enc = default_encoding(E, M), int Bias = default_bias(E, Enc)>
struct format_traits {
  static_assert(E >= 1 && M >= 1, "format_traits: need at least one exponent and one mantissa bit");
  static_assert(E + M + 1 == 8 || E + M + 1 == 16 || E + M + 1 == 32 || E + M + 1 == 64,
                "format_traits: 1 + E + M must be 8, 16, 32 or 64 bits");

  using storage = detail::storage_for<1 + E + M>;

  static constexpr int exponent_bits = E;
  static constexpr int mantissa_bits = M;
  static constexpr int total_bits = 1 + E + M;
  static constexpr int bias = Bias;
  static constexpr encoding enc = Enc;

  static constexpr bool has_inf = Enc == encoding::ieee;
  static constexpr bool has_negative_zero = Enc != encoding::fnuz;

  static constexpr storage sign_mask = static_cast<storage>(storage{1} << (E + M));
  static constexpr storage magnitude_mask = static_cast<storage>(sign_mask - 1);
  static constexpr storage mantissa_mask = static_cast<storage>((storage{1} << M) - 1);
  static constexpr storage exponent_mask = static_cast<storage>(magnitude_mask & ~mantissa_mask);
  static constexpr int max_exponent_field = (1 << E) - 1;

  /// Largest finite code, e.g. 0x7E for e4m3fn, 0x7B for e5m2, 0x7F for fnuz formats.
  static constexpr storage max_finite_bits = static_cast<storage>(
      Enc == encoding::ieee ? (exponent_mask - (storage{1} << M)) | mantissa_mask
      : Enc == encoding::fn ? magnitude_mask - 1
                            : magnitude_mask);
  /// Canonical quiet NaN: top mantissa bit under an all-ones exponent (ieee), all ones (fn),
  /// or 0x80 (fnuz).
  static constexpr storage nan_bits =
      static_cast<storage>(Enc == encoding::ieee ? exponent_mask | (storage{1} << (M - 1))
                           : Enc == encoding::fn ? magnitude_mask
                                                 : sign_mask);
  /// +inf for ieee formats; for formats without inf this is the NaN code that overflow gives.
  static constexpr storage inf_bits = Enc == encoding::ieee ? exponent_mask : nan_bits;
  static constexpr storage min_normal_bits = static_cast<storage>(storage{1} << M);
  static constexpr storage min_subnormal_bits = 1;

  /// Unbiased exponents of the smallest normal and of the largest finite value.
  static constexpr int min_exponent = 1 - Bias;
  static constexpr int max_exponent = int(max_finite_bits >> M) - Bias;

  static constexpr double max_finite =
      detail::pow2(max_exponent) *
      (1.0 + double(max_finite_bits & mantissa_mask) * detail::pow2(-M));
  static constexpr double min_normal = detail::pow2(min_exponent);
  static constexpr double min_subnormal = detail::pow2(min_exponent - M);
  /// Distance from 1 to the next larger value (2^-M).
  static constexpr double epsilon = detail::pow2(-M);

  static constexpr bool is_nan(storage code) noexcept {
    if constexpr (Enc == encoding::fnuz) {
      return code == sign_mask;
    } else if constexpr (Enc == encoding::fn) {
      return (code & magnitude_mask) == magnitude_mask;
    } else {
      return (code & exponent_mask) == exponent_mask && (code & mantissa_mask) != 0;
    }
  }
  static constexpr bool is_inf(storage code) noexcept {
    return has_inf && (code & magnitude_mask) == inf_bits;
  }
};

/// Traits of the standard types, for convert() and the rounding core.
using float32_traits = format_traits<8, 23, encoding::ieee>;
using float64_traits = format_traits<11, 52, encoding::ieee>;
using float16_traits = format_traits<5, 10, encoding::ieee>;
using bfloat16_traits = format_traits<8, 7, encoding::ieee>;

}  // namespace fp8kit
