#pragma once
// The member set shared by fp8, bfloat16 and half: a code of some format_traits, exact
// conversions, arithmetic that rounds once, IEEE comparisons, numeric_limits, hash, printing.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <ostream>
#include <type_traits>

#include "../config.hpp"
#include "../format.hpp"
#include "round.hpp"

namespace fp8kit::detail {

struct minifloat_tag {};

/// CRTP base: `Derived` is the public type, `Traits` its format_traits.
template <class Derived, class Traits>
class minifloat : public minifloat_tag {
 public:
  using traits = Traits;
  using storage = typename Traits::storage;

  minifloat() = default;  // trivial; value-initialisation gives +0
  /// Rounds to nearest, ties to even; overflow gives inf (or NaN where there is no inf).
  explicit FP8KIT_CONSTEXPR_BITCAST minifloat(float x) noexcept
      : bits_(
            recode<Traits, float32_traits>(detail::bit_cast<std::uint32_t>(x), saturation::none)) {}
  /// Rounds the double directly (never through float).
  explicit FP8KIT_CONSTEXPR_BITCAST minifloat(double x) noexcept
      : bits_(
            recode<Traits, float64_traits>(detail::bit_cast<std::uint64_t>(x), saturation::none)) {}

  static constexpr Derived from_bits(storage code) noexcept {
    Derived d{};
    d.bits_ = code;
    return d;
  }
  constexpr storage bits() const noexcept { return bits_; }

  /// Exact.
  explicit FP8KIT_CONSTEXPR_BITCAST operator float() const noexcept {
    return detail::bit_cast<float>(recode<float32_traits, Traits>(bits_, saturation::none));
  }
  /// Exact.
  FP8KIT_CONSTEXPR_BITCAST operator double() const noexcept {
    return detail::bit_cast<double>(recode<float64_traits, Traits>(bits_, saturation::none));
  }

  // Arithmetic computes in double and rounds once. For +, - and * of these formats the double
  // result is exact; for / double is precise enough (> 2p + 2 bits) that rounding twice equals
  // rounding once. So results equal float arithmetic rounded once, in any FP environment. A NaN
  // operand gives NaN before any floating-point operation: -ffast-math lets the compiler assume
  // there is none, and it folds a NaN it can see (fnuz NaN * 0 became 0).
  friend FP8KIT_CONSTEXPR_BITCAST Derived operator+(Derived a, Derived b) noexcept {
    return is_unordered(a, b) ? nan() : Derived(double(a) + double(b));
  }
  friend FP8KIT_CONSTEXPR_BITCAST Derived operator-(Derived a, Derived b) noexcept {
    return is_unordered(a, b) ? nan() : Derived(double(a) - double(b));
  }
  friend FP8KIT_CONSTEXPR_BITCAST Derived operator*(Derived a, Derived b) noexcept {
    return is_unordered(a, b) ? nan() : Derived(double(a) * double(b));
  }
  friend FP8KIT_CONSTEXPR_BITCAST Derived operator/(Derived a, Derived b) noexcept {
    return is_unordered(a, b) ? nan() : Derived(double(a) / double(b));
  }
  friend FP8KIT_CONSTEXPR_BITCAST Derived& operator+=(Derived& a, Derived b) noexcept {
    return a = a + b;
  }
  friend FP8KIT_CONSTEXPR_BITCAST Derived& operator-=(Derived& a, Derived b) noexcept {
    return a = a - b;
  }
  friend FP8KIT_CONSTEXPR_BITCAST Derived& operator*=(Derived& a, Derived b) noexcept {
    return a = a * b;
  }
  friend FP8KIT_CONSTEXPR_BITCAST Derived& operator/=(Derived& a, Derived b) noexcept {
    return a = a / b;
  }

  friend constexpr Derived operator+(Derived a) noexcept { return a; }
  /// Flips the sign; fnuz zero and NaN have no sign and stay as they are.
  friend constexpr Derived operator-(Derived a) noexcept {
    if (Traits::enc == encoding::fnuz && (a.bits_ & Traits::magnitude_mask) == 0) return a;
    return from_bits(static_cast<storage>(a.bits_ ^ Traits::sign_mask));
  }

  // Comparisons on codes (immune to -ffast-math): NaN is unordered, -0 == +0.
  friend constexpr bool operator==(Derived a, Derived b) noexcept {
    return !is_unordered(a, b) && key(a) == key(b);
  }
  friend constexpr bool operator!=(Derived a, Derived b) noexcept { return !(a == b); }
  friend constexpr bool operator<(Derived a, Derived b) noexcept {
    return !is_unordered(a, b) && key(a) < key(b);
  }
  friend constexpr bool operator>(Derived a, Derived b) noexcept { return b < a; }
  friend constexpr bool operator<=(Derived a, Derived b) noexcept {
    return !is_unordered(a, b) && key(a) <= key(b);
  }
  friend constexpr bool operator>=(Derived a, Derived b) noexcept { return b <= a; }

  friend constexpr bool isnan(Derived a) noexcept { return Traits::is_nan(a.bits_); }
  friend constexpr bool isinf(Derived a) noexcept { return Traits::is_inf(a.bits_); }
  friend constexpr bool isfinite(Derived a) noexcept {
    return !Traits::is_nan(a.bits_) && !Traits::is_inf(a.bits_);
  }
  /// True for negative values (and -0, -inf, negative NaNs); fnuz's NaN (0x80) has no sign.
  friend constexpr bool signbit(Derived a) noexcept {
    return (a.bits_ & Traits::sign_mask) != 0 &&
           !(Traits::enc == encoding::fnuz && a.bits_ == Traits::sign_mask);
  }
  friend constexpr Derived abs(Derived a) noexcept {
    if (Traits::is_nan(a.bits_)) return a;
    return from_bits(static_cast<storage>(a.bits_ & Traits::magnitude_mask));
  }

  friend std::ostream& operator<<(std::ostream& os, Derived a) { return os << float(a); }

 private:
  static constexpr Derived nan() noexcept { return from_bits(Traits::nan_bits); }
  static constexpr bool is_unordered(Derived a, Derived b) noexcept {
    return Traits::is_nan(a.bits_) || Traits::is_nan(b.bits_);
  }
  // Sign-magnitude code -> integer that orders like the value (both zeros map to 0).
  static constexpr std::int64_t key(Derived a) noexcept {
    const auto magnitude = static_cast<std::int64_t>(a.bits_ & Traits::magnitude_mask);
    return (a.bits_ & Traits::sign_mask) != 0 ? -magnitude : magnitude;
  }

  storage bits_;
};

template <class T>
inline constexpr bool is_minifloat_v = std::is_base_of_v<minifloat_tag, T>;

/// std::numeric_limits for a minifloat type T.
template <class T>
struct minifloat_limits {
 private:
  using tr = typename T::traits;
  using st = typename T::storage;
  static constexpr int floor_log10(double x) noexcept {  // for x in normal double range
    int k = 0;
    double p = 1.0;
    while (p * 10.0 <= x) p *= 10.0, ++k;
    while (p > x) p /= 10.0, --k;
    return k;
  }

 public:
  static constexpr bool is_specialized = true;
  static constexpr bool is_signed = true;
  static constexpr bool is_integer = false;
  static constexpr bool is_exact = false;
  static constexpr bool has_infinity = tr::has_inf;
  static constexpr bool has_quiet_NaN = true;
  // An ieee mantissa with its top bit clear under an all-ones exponent is a signaling NaN.
  static constexpr bool has_signaling_NaN = tr::has_inf && tr::mantissa_bits >= 2;
  static constexpr std::float_denorm_style has_denorm = std::denorm_present;
  static constexpr bool has_denorm_loss = false;
  static constexpr std::float_round_style round_style = std::round_to_nearest;
  static constexpr bool is_iec559 = false;
  static constexpr bool is_bounded = true;
  static constexpr bool is_modulo = false;
  static constexpr int digits = tr::mantissa_bits + 1;
  static constexpr int digits10 = (digits - 1) * 30103 / 100000;    // floor((digits-1) log10 2)
  static constexpr int max_digits10 = 2 + digits * 30103 / 100000;  // ceil(1 + digits log10 2)
  static constexpr int radix = 2;
  static constexpr int min_exponent = tr::min_exponent + 1;  // C convention: 2^(min_exponent-1)
  static constexpr int max_exponent = tr::max_exponent + 1;
  static constexpr int min_exponent10 = -floor_log10(1.0 / tr::min_normal);
  static constexpr int max_exponent10 = floor_log10(tr::max_finite);
  static constexpr bool traps = false;
  static constexpr bool tinyness_before = false;

  static constexpr T min() noexcept { return T::from_bits(tr::min_normal_bits); }
  static constexpr T lowest() noexcept {
    return T::from_bits(static_cast<st>(tr::sign_mask | tr::max_finite_bits));
  }
  static constexpr T max() noexcept { return T::from_bits(tr::max_finite_bits); }
  static FP8KIT_CONSTEXPR_BITCAST T epsilon() noexcept { return T(tr::epsilon); }  // 2^-M
  static FP8KIT_CONSTEXPR_BITCAST T round_error() noexcept { return T(0.5); }
  static constexpr T infinity() noexcept {
    return T::from_bits(tr::has_inf ? tr::inf_bits : st{0});
  }
  static constexpr T quiet_NaN() noexcept { return T::from_bits(tr::nan_bits); }
  static constexpr T signaling_NaN() noexcept {
    return T::from_bits(has_signaling_NaN ? static_cast<st>(tr::exponent_mask | 1) : tr::nan_bits);
  }
  static constexpr T denorm_min() noexcept { return T::from_bits(tr::min_subnormal_bits); }
};

/// std::hash for a minifloat type: equal values hash equal (both zeros alike).
template <class T>
struct minifloat_hash {
  std::size_t operator()(T x) const noexcept {
    const auto code = (x.bits() & T::traits::magnitude_mask) == 0 ? 0 : x.bits();
    return std::hash<typename T::storage>{}(static_cast<typename T::storage>(code));
  }
};

}  // namespace fp8kit::detail
