#pragma once
// bfloat16 and half: 2-byte storage types with the same member set as fp8 (RNE from float).

#include <cstdint>
#include <functional>
#include <limits>

#include "detail/minifloat.hpp"
#include "format.hpp"

namespace fp8kit {

/// Brain float: float's 8-bit exponent, 7 mantissa bits. Rounds to nearest even from float.
class bfloat16 : public detail::minifloat<bfloat16, bfloat16_traits> {
 public:
  using minifloat::minifloat;
};

/// IEEE 754 binary16: 5-bit exponent, 10 mantissa bits. Rounds to nearest even from float.
class half : public detail::minifloat<half, float16_traits> {
 public:
  using minifloat::minifloat;
};

}  // namespace fp8kit

namespace std {
template <>
class numeric_limits<fp8kit::bfloat16> : public fp8kit::detail::minifloat_limits<fp8kit::bfloat16> {
};
template <>
class numeric_limits<fp8kit::half> : public fp8kit::detail::minifloat_limits<fp8kit::half> {};
template <>
struct hash<fp8kit::bfloat16> : fp8kit::detail::minifloat_hash<fp8kit::bfloat16> {};
template <>
struct hash<fp8kit::half> : fp8kit::detail::minifloat_hash<fp8kit::half> {};
}  // namespace std
