#pragma once
// Scaling: amax and scale selection. Scales are dequantization scales (x ~= q * scale).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "bulk.hpp"
#include "config.hpp"
#include "fp8.hpp"

namespace fp8kit {

/// max |x[i]|; NaN if any element is NaN; 0 for n == 0.
inline float amax(const float* x, std::size_t n) noexcept {
  std::uint32_t m = 0;  // on bits: |x| orders like its bit pattern, and NaN sorts above inf
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t a = detail::bit_cast<std::uint32_t>(x[i]) & 0x7FFFFFFFu;
    m = a > m ? a : m;
  }
  return detail::bit_cast<float>(m);
}

struct scale_options {
  float margin = 0;      // scale is multiplied by 2^margin
  float backoff = 1;     // fraction of max finite that amax maps to, in (0, 1]
  bool pow2 = false;     // round the scale up to a power of two
};

/// amax / (max finite of F * o.backoff) * 2^o.margin; with o.pow2, rounded up to a power of two.
/// amax == 0 gives 1. Throws std::invalid_argument for a negative or non-finite amax or a
/// backoff outside (0, 1]. The result is finite, > 0 and normal.
template <class F>
float scale_from_amax(float amax, scale_options o = {}) {
  const auto bits = detail::bit_cast<std::uint32_t>(amax);
  if ((bits & 0x7F800000u) == 0x7F800000u || (bits >> 31) != 0 && (bits & 0x7FFFFFFFu) != 0) {
    throw std::invalid_argument("fp8kit::scale_from_amax: amax must be finite and >= 0");
  }
  if (!(o.backoff > 0.0f && o.backoff <= 1.0f)) {
    throw std::invalid_argument("fp8kit::scale_from_amax: backoff must be in (0, 1]");
  }
  if ((bits & 0x7FFFFFFFu) == 0) return 1.0f;
  const double max_finite = F::traits::max_finite * double(o.backoff);
  double scale = double(amax) / max_finite * std::exp2(double(o.margin));
  if (o.pow2) scale = std::exp2(std::ceil(std::log2(scale)));
  const double lo = double(std::numeric_limits<float>::min());
  const double hi = double(std::numeric_limits<float>::max());
  scale = scale < lo ? lo : scale > hi ? hi : scale;
  return static_cast<float>(scale);
}

}  // namespace fp8kit
