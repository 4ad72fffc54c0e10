#pragma once
// Argument checks shared by the public functions. Each throws std::invalid_argument with a
// message "fp8kit::<function>: ..." and is called before anything is written, so a bad call
// leaves every output untouched. Float checks look at the bits, so -ffast-math cannot remove
// them and DAZ cannot hide a negative subnormal.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>

#include "../config.hpp"
#include "../simd/block_scales.hpp"
#include "../simd/cpu.hpp"

namespace fp8kit::detail {

inline std::string format_float(float v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", double(v));
  return text;
}

[[noreturn]] inline void throw_invalid(const char* function, const std::string& what) {
  throw std::invalid_argument(std::string("fp8kit::") + function + ": " + what);
}

/// Throws unless `scale` is finite and > 0.
inline void check_scale(float scale, const char* function) {
  const auto bits = bit_cast<std::uint32_t>(scale);
  if (bits == 0 || bits >= 0x7F800000u) {  // +0, or negative (-0 included), inf or NaN
    throw_invalid(function, "scale must be finite and > 0, got " + format_float(scale));
  }
}

/// Throws unless every scales[i] is finite and > 0, naming the first bad one. A SIMD pass
/// first (16 scales per step on AVX-512), so checking costs little next to quantizing.
inline void check_scales(const float* scales, std::size_t n, const char* function) {
  if (scale_kernels_for(simd::active_isa()).valid(scales, n)) return;
  for (std::size_t i = 0; i < n; ++i) {
    if (bit_cast<std::uint32_t>(scales[i]) - 1u >= 0x7F7FFFFFu) {
      throw_invalid(function, "scales[" + std::to_string(i) + "] must be finite and > 0, got " +
                                  format_float(scales[i]));
    }
  }
}

inline void check_sizes(std::size_t a, std::size_t b, const char* function) {
  if (a != b) {
    throw_invalid(function,
                  "size mismatch (" + std::to_string(a) + " vs " + std::to_string(b) + ")");
  }
}

[[noreturn]] inline void throw_null(const char* function, const char* name, std::size_t n) {
  throw_invalid(function, std::string(name) + " is null but " + std::to_string(n) +
                              " elements were requested");
}

/// A pointer argument and its name, for the messages of the checks of the scaling functions.
struct named_arg {
  const void* p;
  const char* name;
};

/// Throws if p is null while it should hold n > 0 elements (null with n == 0 is fine). Small
/// enough to inline, so compilers do not assume it reads *p (GCC would warn for outputs).
inline void check_pointer(const void* p, std::size_t n, const char* function, const char* name) {
  if (p == nullptr && n != 0) throw_null(function, name, n);
}

/// rows * cols, or throws if the product does not fit in std::size_t.
inline std::size_t checked_product(std::size_t rows, std::size_t cols, const char* function) {
  if (cols != 0 && rows > std::numeric_limits<std::size_t>::max() / cols) {
    throw_invalid(function, std::to_string(rows) + " x " + std::to_string(cols) +
                                " elements overflow std::size_t");
  }
  return rows * cols;
}

}  // namespace fp8kit::detail
