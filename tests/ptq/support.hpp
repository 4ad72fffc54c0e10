#pragma once
// Helpers of the PTQ tests: deterministic samplers (the same values on every standard library;
// std::normal_distribution's algorithm is implementation-defined, so it is not used), and
// floating-point checks that survive -ffast-math (CI runs the unit tests under it).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fp8kit/bulk.hpp"

namespace ptq_test {

/// NaN test on the bits (std::isnan may be folded to false under -ffinite-math-only).
inline bool is_nan(double x) {
  std::uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return (b & 0x7FFFFFFFFFFFFFFFu) > 0x7FF0000000000000u;
}

inline bool is_finite(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return (b & 0x7F800000u) != 0x7F800000u;
}

/// fl(x / s), a true division even under -freciprocal-math (what quantize computes).
inline float divide(float x, float s) { return x / fp8kit::detail::opaque(s); }

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and fully specified.
class splitmix64 {
 public:
  explicit splitmix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
  }
  /// Uniform in (0, 1): 53 random bits, offset by half a step so 0 never occurs.
  double uniform() { return (double(next() >> 11) + 0.5) * 0x1.0p-53; }
  /// Standard normal by Box-Muller (one of the pair; simple and deterministic).
  double normal() {
    const double u = uniform();
    const double v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
  /// Student-t with k degrees of freedom: Z / sqrt(chi2_k / k).
  double student_t(int k) {
    double chi2 = 0;
    for (int i = 0; i < k; ++i) {
      const double z = normal();
      chi2 += z * z;
    }
    return normal() / std::sqrt(chi2 / k);
  }

 private:
  std::uint64_t state_;
};

inline std::vector<float> gaussian(std::size_t n, std::uint64_t seed) {
  splitmix64 g(seed);
  std::vector<float> x(n);
  for (auto& v : x) v = static_cast<float>(g.normal());
  return x;
}

}  // namespace ptq_test
