#pragma once
// convert<To>(x, saturation): one correctly rounded conversion between any two of float,
// double, bfloat16, half and the fp8 types.

#include <cstdint>
#include <type_traits>

#include "config.hpp"
#include "detail/round.hpp"
#include "format.hpp"
#include "fp8.hpp"
#include "half.hpp"

namespace fp8kit {
namespace detail {

template <class T, class = void>
struct codec;  // traits of T, and T <-> its code

template <>
struct codec<float> {
  using traits = float32_traits;
  static FP8KIT_CONSTEXPR_BITCAST std::uint32_t encode(float x) noexcept {
    return detail::bit_cast<std::uint32_t>(x);
  }
  static FP8KIT_CONSTEXPR_BITCAST float decode(std::uint32_t c) noexcept {
    return detail::bit_cast<float>(c);
  }
};

template <>
struct codec<double> {
  using traits = float64_traits;
  static FP8KIT_CONSTEXPR_BITCAST std::uint64_t encode(double x) noexcept {
    return detail::bit_cast<std::uint64_t>(x);
  }
  static FP8KIT_CONSTEXPR_BITCAST double decode(std::uint64_t c) noexcept {
    return detail::bit_cast<double>(c);
  }
};

template <class T>
struct codec<T, std::enable_if_t<is_minifloat_v<T>>> {
  using traits = typename T::traits;
  static constexpr typename T::storage encode(T x) noexcept { return x.bits(); }
  static constexpr T decode(typename T::storage c) noexcept { return T::from_bits(c); }
};

}  // namespace detail

/// Rounds `x` to the nearest value of type To (ties to even) in one step, from the exact value.
/// Overflow: `finite` gives +-max finite (inf too); `none` gives inf where To has one, NaN
/// otherwise. NaN in gives To's canonical quiet NaN with x's sign (fnuz: 0x80). Subnormals are
/// kept. Integer-only arithmetic: no dependence on the rounding mode, DAZ/FTZ or -ffast-math.
/// Example: convert<e4m3fn>(500.0f, saturation::finite).bits() == 0x7E   (448)
///          convert<e4m3fn>(0.3f).bits() == 0x2A                          (0.3125)
template <class To, class From>
FP8KIT_CONSTEXPR_BITCAST To convert(From x, saturation s = saturation::none) noexcept {
  using to = detail::codec<To>;
  using from = detail::codec<From>;
  return to::decode(detail::recode<typename to::traits, typename from::traits>(from::encode(x), s));
}

}  // namespace fp8kit
