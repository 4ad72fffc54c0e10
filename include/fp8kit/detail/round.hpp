#pragma once
// The one rounding routine: any format_traits value -> exact (sign, significand, exponent)
// -> any other format_traits code, round to nearest, ties to even, with integer arithmetic only,
// so results never depend on the rounding mode, DAZ/FTZ or -ffast-math.

#include <cstdint>
#include <type_traits>

#include "../format.hpp"

namespace fp8kit::detail {

enum class value_kind : std::uint8_t { zero, finite, inf, nan };

/// An exactly represented value: (-1)^negative * significand * 2^exponent.
struct unpacked {
  value_kind kind;
  bool negative;
  std::uint64_t significand;  // nonzero for finite values
  int exponent;
};

constexpr int bit_width(std::uint64_t x) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  return x == 0 ? 0 : 64 - __builtin_clzll(x);
#else
  int n = 0;
  for (; x != 0; x >>= 1) ++n;
  return n;
#endif
}

/// Splits a code of format T into its exact value.
template <class T>
constexpr unpacked unpack(typename T::storage code) noexcept {
  const bool negative = (code & T::sign_mask) != 0;
  if (T::is_nan(code)) return {value_kind::nan, negative, 0, 0};
  if (T::is_inf(code)) return {value_kind::inf, negative, 0, 0};
  const auto magnitude = static_cast<std::uint64_t>(code & T::magnitude_mask);
  if (magnitude == 0) return {value_kind::zero, negative, 0, 0};
  const auto field = static_cast<int>(magnitude >> T::mantissa_bits);
  const std::uint64_t mantissa = magnitude & T::mantissa_mask;
  if (field == 0)
    return {value_kind::finite, negative, mantissa, T::min_exponent - T::mantissa_bits};
  return {value_kind::finite, negative, mantissa | (std::uint64_t{1} << T::mantissa_bits),
          field - T::bias - T::mantissa_bits};
}

/// The code that overflow produces: +-max finite when saturating, else inf or the NaN.
template <class T>
constexpr typename T::storage overflow_code(bool negative, saturation s) noexcept {
  using st = typename T::storage;
  const st sign = negative ? T::sign_mask : st{0};
  if (s == saturation::finite) return static_cast<st>(sign | T::max_finite_bits);
  if (T::has_inf) return static_cast<st>(sign | T::inf_bits);
  return T::enc == encoding::fnuz ? T::sign_mask : static_cast<st>(sign | T::nan_bits);
}

template <class T>
constexpr typename T::storage nan_code(bool negative) noexcept {
  using st = typename T::storage;
  if (T::enc == encoding::fnuz) return T::sign_mask;
  return static_cast<st>((negative ? T::sign_mask : st{0}) | T::nan_bits);
}

template <class T>
constexpr typename T::storage zero_code(bool negative) noexcept {
  using st = typename T::storage;
  return (negative && T::has_negative_zero) ? T::sign_mask : st{0};
}

/// Rounds an exact value to the nearest code of format T (ties to the even code).
/// The value is first rounded with T's precision and an unbounded exponent range; a result
/// above max finite then overflows (so e4m3fn's 464 ties down to 448, and 465 becomes NaN).
template <class T>
constexpr typename T::storage pack(const unpacked& v, saturation s) noexcept {
  using st = typename T::storage;
  constexpr int m = T::mantissa_bits;
  switch (v.kind) {
    case value_kind::nan: return nan_code<T>(v.negative);
    case value_kind::inf: return overflow_code<T>(v.negative, s);
    case value_kind::zero: return zero_code<T>(v.negative);
    case value_kind::finite: break;
  }
  // value = significand * 2^exponent lies in [2^e, 2^(e+1)).
  const int e = bit_width(v.significand) - 1 + v.exponent;
  // Quantum (unit in the last place) of T at that magnitude; subnormals share min_exponent's.
  const int quantum = (e < T::min_exponent ? T::min_exponent : e) - m;
  const int drop = quantum - v.exponent;  // low significand bits that do not fit
  std::uint64_t r = 0;                    // value / 2^quantum, rounded
  if (drop <= 0) {
    r = v.significand << -drop;  // exact; r < 2^(m+1), so no bits are lost
  } else if (drop < 64) {
    r = v.significand >> drop;
    const std::uint64_t rest = v.significand & ((std::uint64_t{1} << drop) - 1);
    const std::uint64_t half = std::uint64_t{1} << (drop - 1);
    if (rest > half || (rest == half && (r & 1) != 0)) ++r;
  } else if (drop == 64) {
    r = v.significand > (std::uint64_t{1} << 63) ? 1 : 0;  // r is 0 (even): a tie goes down
  }  // drop > 64: below half the smallest quantum, rounds to zero
  if (r == 0) return zero_code<T>(v.negative);
  int q = quantum;
  if ((r >> (m + 1)) != 0) {  // rounding carried into the next binade
    r >>= 1;
    ++q;
  }
  // Normal: r = 1.mantissa * 2^m. Subnormal: r < 2^m at the minimum quantum, field 0.
  const int field = (r >> m) != 0 ? q + m + T::bias : 0;
  if (field > T::max_exponent_field) return overflow_code<T>(v.negative, s);
  const auto magnitude =
      (static_cast<std::uint64_t>(field) << m) | (r & ((std::uint64_t{1} << m) - 1));
  if (magnitude > T::max_finite_bits) return overflow_code<T>(v.negative, s);
  return static_cast<st>((v.negative ? T::sign_mask : st{0}) | static_cast<st>(magnitude));
}

/// True when every normal of To is a normal of the IEEE format From, with mantissa bits to
/// spare (float or double to fp8, half or bfloat16; half to most fp8): narrow() applies.
template <class To, class From>
inline constexpr bool narrows = (From::enc == encoding::ieee) &&
                                (From::mantissa_bits > To::mantissa_bits) &&
                                (From::bias + To::min_exponent >= 1) &&
                                (From::bias + To::max_exponent + 1 <= From::max_exponent_field);

/// pack(unpack<From>(code)) for narrows<To, From>, on the code itself: a normal result rounds
/// the code's low bits away (a carry moves into the exponent, as it should) and rebiases it, a
/// subnormal one shifts the significand. Same results; 3-7x faster than the general route.
template <class To, class From>
constexpr typename To::storage narrow(typename From::storage code, saturation s) noexcept {
  using wide = std::conditional_t<(sizeof(code) > 4), std::uint64_t, std::uint32_t>;
  using st = typename To::storage;
  constexpr int m = To::mantissa_bits;
  constexpr int shift = From::mantissa_bits - m;  // bits a normal result drops
  constexpr wide implicit_one = wide{1} << From::mantissa_bits;
  // Magnitudes (as From codes) of To's smallest normal and of 2^(To's max exponent + 1).
  constexpr wide to_min_normal = wide(From::bias + To::min_exponent) << From::mantissa_bits;
  constexpr wide too_large = wide(From::bias + To::max_exponent + 1) << From::mantissa_bits;
  const bool negative = (code & From::sign_mask) != 0;
  const wide a = code & From::magnitude_mask;
  wide magnitude = 0;
  if (a >= too_large) {
    if (a > From::exponent_mask) return nan_code<To>(negative);
    return overflow_code<To>(negative, s);  // inf, or at least 2^(max exponent + 1)
  } else if (a >= to_min_normal) {
    const wide half_minus_one = (wide{1} << (shift - 1)) - 1;
    const wide rounded = (a + half_minus_one + ((a >> shift) & 1)) >> shift;
    magnitude = rounded - (wide(From::bias - To::bias) << m);
    if (magnitude > To::max_finite_bits) return overflow_code<To>(negative, s);
  } else {
    // value = significand * 2^(field - From's bias and mantissa bits), field 1 for subnormals;
    // To's quantum is 2^(To::min_exponent - m). drop > shift here.
    const int field = static_cast<int>(a >> From::mantissa_bits);
    const wide significand = (a & From::mantissa_mask) | (field != 0 ? implicit_one : 0);
    const int drop =
        (To::min_exponent - m) - ((field != 0 ? field : 1) - From::bias - From::mantissa_bits);
    if (drop <= From::mantissa_bits + 1) {  // else below half the smallest quantum
      const wide rest = significand & ((wide{1} << drop) - 1);
      const wide half = wide{1} << (drop - 1);
      magnitude = significand >> drop;
      // Rounding up may reach 1 << m: To's smallest normal, the right code.
      if (rest > half || (rest == half && (magnitude & 1) != 0)) ++magnitude;
    }
  }
  if (magnitude == 0) return zero_code<To>(negative);
  return static_cast<st>((negative ? To::sign_mask : st{0}) | static_cast<st>(magnitude));
}

/// True when every value of From is a normal of the IEEE format To (fp8 to bfloat16, float or
/// double; e4m3fn to half, not e5m2; half to float): the conversion is exact and widen() applies.
template <class To, class From>
inline constexpr bool widens = (To::enc == encoding::ieee) &&
                               (To::mantissa_bits >= From::mantissa_bits) &&
                               (To::min_exponent <= From::min_exponent - From::mantissa_bits) &&
                               (From::max_exponent <= To::max_exponent);

/// pack(unpack<From>(code)) for widens<To, From>: a normal moves its fields into place and
/// rebiases; a subnormal is normalised (its leading one becomes the implicit bit).
template <class To, class From>
constexpr typename To::storage widen(typename From::storage code, saturation s) noexcept {
  using wide = std::conditional_t<(sizeof(typename To::storage) > 4), std::uint64_t, std::uint32_t>;
  using st = typename To::storage;
  constexpr int m = To::mantissa_bits;
  constexpr int shift = m - From::mantissa_bits;
  const bool negative = (code & From::sign_mask) != 0;
  if (From::is_nan(code)) return nan_code<To>(negative);
  if (From::is_inf(code)) return overflow_code<To>(negative, s);
  const wide a = code & From::magnitude_mask;
  if (a == 0) return zero_code<To>(negative);
  wide magnitude = 0;
  if (a >= From::min_normal_bits) {
    magnitude = (a << shift) + (wide(To::bias - From::bias) << m);
  } else {  // a * 2^(From::min_exponent - From's mantissa bits), leading one at bit p
    const int p = bit_width(a) - 1;
    const int field = From::min_exponent - From::mantissa_bits + p + To::bias;
    magnitude = (a << (m - p)) + (wide(field - 1) << m);  // the leading one adds the last 1
  }
  return static_cast<st>((negative ? To::sign_mask : st{0}) | static_cast<st>(magnitude));
}

/// Converts a code of format From to the nearest code of format To.
template <class To, class From>
constexpr typename To::storage recode(typename From::storage code, saturation s) noexcept {
  if constexpr (narrows<To, From>) {
    return narrow<To, From>(code, s);
  } else if constexpr (widens<To, From>) {
    return widen<To, From>(code, s);
  } else {
    return pack<To>(unpack<From>(code), s);
  }
}

}  // namespace fp8kit::detail
