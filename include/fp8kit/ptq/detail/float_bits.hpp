#pragma once
// Float classification on the bits, for the ptq layer: unlike std::isnan / std::isfinite these
// cannot be folded away by -ffast-math (-ffinite-math-only), which CI builds with.

#include <cstdint>
#include <cstring>

namespace fp8kit::ptq::detail {

inline std::uint32_t float_bits(float x) noexcept {
  std::uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

inline float bits_float(std::uint32_t b) noexcept {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

inline std::uint64_t double_bits(double x) noexcept {
  std::uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

inline bool is_finite_bits(float x) noexcept {
  return (float_bits(x) & 0x7F800000u) != 0x7F800000u;
}

inline bool is_nan_bits(float x) noexcept { return (float_bits(x) & 0x7FFFFFFFu) > 0x7F800000u; }

inline bool is_nan_bits(double x) noexcept {
  return (double_bits(x) & 0x7FFFFFFFFFFFFFFFu) > 0x7FF0000000000000u;
}

}  // namespace fp8kit::ptq::detail
